//! Client authentication: ssh-agent first, then identity files. Keys are read
//! (and decrypted, which costs ~200 ms each) once per run and shared by all hosts.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use russh::client::Handle;
use russh::keys::agent::client::AgentClient;
use russh::keys::{load_secret_key, PrivateKey, PrivateKeyWithHashAlg};
use tokio::sync::OnceCell;

use super::{ClientHandler, SshError};

/// sshd's `MaxAuthTries` defaults to 6; leave room for the identity files.
const MAX_AGENT_KEYS: usize = 3;

pub(super) struct KeyRing {
    files: Vec<PathBuf>,
    passphrase_env: String,
    loaded: OnceCell<LoadedKeys>,
}

struct LoadedKeys {
    keys: Vec<(PathBuf, Arc<PrivateKey>)>,
    /// Why configured files could not be used, shown when auth fails.
    problems: Vec<String>,
}

impl KeyRing {
    pub(super) fn new(files: Vec<PathBuf>, passphrase_env: String) -> KeyRing {
        KeyRing {
            files,
            passphrase_env,
            loaded: OnceCell::new(),
        }
    }

    async fn keys(&self) -> &LoadedKeys {
        self.loaded
            .get_or_init(|| async {
                let files = self.files.clone();
                let env = self.passphrase_env.clone();
                tokio::task::spawn_blocking(move || load_keys(&files, &env))
                    .await
                    .unwrap_or_else(|e| LoadedKeys {
                        keys: Vec::new(),
                        problems: vec![format!("key loading panicked: {e}")],
                    })
            })
            .await
    }

    pub(super) async fn authenticate(
        &self,
        handle: &mut Handle<ClientHandler>,
        user: &str,
    ) -> Result<(), SshError> {
        let rsa_hash = handle.best_supported_rsa_hash().await?.flatten();
        let mut tried = Vec::new();
        if let Ok(mut agent) = AgentClient::connect_env().await {
            let identities = agent.request_identities().await.unwrap_or_default();
            for id in identities.iter().take(MAX_AGENT_KEYS) {
                let key = id.public_key().into_owned();
                let result = handle
                    .authenticate_publickey_with(user, key, rsa_hash, &mut agent)
                    .await;
                // After a success, never call authenticate again: it hangs.
                if matches!(result, Ok(ref r) if r.success()) {
                    return Ok(());
                }
                tried.push("an ssh-agent key".to_string());
            }
        }
        let loaded = self.keys().await;
        for (file, key) in &loaded.keys {
            let with_hash = PrivateKeyWithHashAlg::new(key.clone(), rsa_hash);
            if handle
                .authenticate_publickey(user, with_hash)
                .await?
                .success()
            {
                return Ok(());
            }
            tried.push(file.display().to_string());
        }
        Err(SshError::AuthFailed {
            user: user.into(),
            tried: if tried.is_empty() {
                "no key".into()
            } else {
                tried.join(", ")
            },
            problems: loaded.problems.join("; "),
        })
    }
}

fn load_keys(files: &[PathBuf], passphrase_env: &str) -> LoadedKeys {
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    for file in files.iter().filter(|f| f.exists()) {
        match load_key(file, passphrase_env) {
            Ok(key) => keys.push((file.clone(), Arc::new(key))),
            Err(problem) => problems.push(format!("{}: {problem}", file.display())),
        }
    }
    LoadedKeys { keys, problems }
}

fn load_key(file: &std::path::Path, passphrase_env: &str) -> Result<PrivateKey, String> {
    match load_secret_key(file, None) {
        Err(russh::keys::Error::KeyIsEncrypted) => {
            let passphrase = passphrase(file, passphrase_env)?;
            load_secret_key(file, Some(&passphrase))
                .map_err(|e| format!("cannot decrypt (wrong passphrase?): {e}"))
        }
        other => other.map_err(|e| e.to_string()),
    }
}

fn passphrase(file: &std::path::Path, env: &str) -> Result<String, String> {
    if let Ok(p) = std::env::var(env) {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("Passphrase for {}: ", file.display()))
            .map_err(|e| format!("cannot read passphrase: {e}"));
    }
    Err(format!(
        "the key is encrypted: set {env} (no terminal to ask on)"
    ))
}
