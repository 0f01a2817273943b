//! Client authentication: ssh-agent first (unless `IdentitiesOnly`), then
//! identity files: the host's own, else the inventory's. Each key file is
//! read (and decrypted, which costs ~200 ms) once per run and shared by all
//! hosts that name it.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use russh::client::Handle;
use russh::keys::agent::client::AgentClient;
use russh::keys::{load_secret_key, PrivateKey, PrivateKeyWithHashAlg};
use tokio::sync::OnceCell;

use super::{ClientHandler, SshError};

/// sshd's `MaxAuthTries` defaults to 6; leave room for the identity files.
const MAX_AGENT_KEYS: usize = 3;

pub(super) struct KeyRing {
    /// The inventory's identity files: for hosts without their own.
    files: Vec<PathBuf>,
    passphrase_env: String,
    /// Each file read (and decrypted) once per run, whichever hosts name
    /// it; the cell makes concurrent first uses wait for one load.
    loaded: Mutex<HashMap<PathBuf, Arc<OnceCell<Loaded>>>>,
}

/// One identity file: its key, or why it cannot be used.
type Loaded = Result<Arc<PrivateKey>, String>;

/// Which keys one connection offers: a host's own settings.
pub(super) struct Offer<'a> {
    /// The host's own identity files; empty: the inventory's.
    pub(super) files: &'a [PathBuf],
    /// No ssh-agent keys, only the files (`IdentitiesOnly yes`).
    pub(super) identities_only: bool,
}

impl KeyRing {
    pub(super) fn new(files: Vec<PathBuf>, passphrase_env: String) -> KeyRing {
        KeyRing {
            files,
            passphrase_env,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    async fn key(&self, file: &Path) -> Loaded {
        let cell = self
            .loaded
            .lock()
            .expect("key cache lock")
            .entry(file.to_path_buf())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            let path = file.to_path_buf();
            let env = self.passphrase_env.clone();
            tokio::task::spawn_blocking(move || load_key(&path, &env).map(Arc::new))
                .await
                .unwrap_or_else(|e| Err(format!("key loading panicked: {e}")))
        })
        .await
        .clone()
    }

    pub(super) async fn authenticate(
        &self,
        handle: &mut Handle<ClientHandler>,
        user: &str,
        offer: &Offer<'_>,
    ) -> Result<(), SshError> {
        let rsa_hash = handle.best_supported_rsa_hash().await?.flatten();
        let mut tried = Vec::new();
        let agent = if offer.identities_only {
            None
        } else {
            AgentClient::connect_env().await.ok()
        };
        if let Some(mut agent) = agent {
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
        let files = if offer.files.is_empty() {
            &self.files
        } else {
            offer.files
        };
        let mut problems = Vec::new();
        for file in files.iter().filter(|f| f.exists()) {
            let key = match self.key(file).await {
                Ok(key) => key,
                Err(problem) => {
                    problems.push(format!("{}: {problem}", file.display()));
                    continue;
                }
            };
            let with_hash = PrivateKeyWithHashAlg::new(key, rsa_hash);
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
            problems: problems.join("; "),
        })
    }
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
