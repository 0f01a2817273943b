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
use russh::keys::{load_secret_key, HashAlg, PrivateKey, PrivateKeyWithHashAlg};
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
        // Asked only for an RSA key: it waits for the server's EXT_INFO (up
        // to a second from a server that sends none), a wait no other key needs.
        let mut rsa: Option<RsaHash> = None;
        let mut report = Report::default();
        let agent = if offer.identities_only {
            report.agent = AgentState::LeftOut;
            None
        } else {
            match AgentClient::connect_env().await {
                Err(e) => {
                    report.agent = AgentState::Unusable(agent_problem(&e));
                    None
                }
                Ok(agent) => Some(agent),
            }
        };
        if let Some(mut agent) = agent {
            let identities = agent.request_identities().await.unwrap_or_default();
            report.agent = AgentState::Keys(
                identities
                    .iter()
                    .map(|id| describe_key(&id.public_key(), id.comment()))
                    .collect(),
            );
            for id in identities.iter().take(MAX_AGENT_KEYS) {
                let key = id.public_key().into_owned();
                let rsa_hash = rsa_hash(handle, &mut rsa, &key).await?;
                let result = handle
                    .authenticate_publickey_with(user, key, rsa_hash, &mut agent)
                    .await;
                // After a success, never call authenticate again: it hangs.
                if matches!(result, Ok(ref r) if r.success()) {
                    return Ok(());
                }
                report.agent_tried += 1;
            }
        }
        let files = if offer.files.is_empty() {
            &self.files
        } else {
            offer.files
        };
        for file in files {
            let key = match self.key(file).await {
                Ok(key) => key,
                Err(problem) => {
                    report
                        .problems
                        .push(format!("{}: {problem}", file.display()));
                    continue;
                }
            };
            let rsa_hash = rsa_hash(handle, &mut rsa, key.public_key()).await?;
            let with_hash = PrivateKeyWithHashAlg::new(key.clone(), rsa_hash);
            if handle
                .authenticate_publickey(user, with_hash)
                .await?
                .success()
            {
                return Ok(());
            }
            report.files_tried.push(format!(
                "{} ({})",
                file.display(),
                describe_key(key.public_key(), "")
            ));
        }
        Err(SshError::AuthFailed {
            user: user.into(),
            detail: report.message(user),
        })
    }
}

/// What was tried and why it did not do: the body of an auth failure.
#[derive(Debug, Default)]
struct Report {
    agent: AgentState,
    /// How many of the agent's keys were offered.
    agent_tried: usize,
    /// Identity files offered, with their fingerprints.
    files_tried: Vec<String>,
    /// Identity files that could not be used: missing, unreadable, encrypted.
    problems: Vec<String>,
}

#[derive(Debug, Default)]
enum AgentState {
    #[default]
    NotAsked,
    /// Not used: `IdentitiesOnly yes`.
    LeftOut,
    /// No agent, or one that did not answer: why.
    Unusable(String),
    /// The agent's keys (fingerprint, type, comment).
    Keys(Vec<String>),
}

impl Report {
    fn message(&self, user: &str) -> String {
        let mut parts = Vec::new();
        match &self.agent {
            AgentState::NotAsked => {}
            AgentState::LeftOut => parts.push("ssh-agent: not used (IdentitiesOnly)".into()),
            AgentState::Unusable(why) => parts.push(format!("ssh-agent: {why}")),
            AgentState::Keys(keys) if keys.is_empty() => {
                parts.push("ssh-agent: holds no keys".into());
            }
            AgentState::Keys(keys) => {
                let skipped = keys.len().saturating_sub(self.agent_tried);
                let note = if skipped > 0 {
                    format!(
                        " (the first {} tried, to stay under sshd's MaxAuthTries)",
                        self.agent_tried
                    )
                } else {
                    String::new()
                };
                parts.push(format!("ssh-agent keys{note}: {}", keys.join(", ")));
            }
        }
        parts.push(if self.files_tried.is_empty() {
            "identity files tried: none".into()
        } else {
            format!("identity files tried: {}", self.files_tried.join(", "))
        });
        if !self.problems.is_empty() {
            parts.push(format!(
                "identity files not usable: {}",
                self.problems.join("; ")
            ));
        }
        if self.files_tried.is_empty() && self.agent_tried == 0 {
            return format!(
                "{}. No key could be offered: name a usable key in the inventory's \
                 `ssh.identity_files` (or ssh_config's `IdentityFile`), or load one with `ssh-add`",
                parts.join("; ")
            );
        }
        format!(
            "{}. The host accepted none of these keys for `{user}`: add one of them to \
             ~{user}/.ssh/authorized_keys on the host, or name the right key in the \
             inventory's `ssh.identity_files` (or load it with `ssh-add`)",
            parts.join("; ")
        )
    }
}

/// The RSA signature hash to use with `key` (`None` for any other key),
/// asked of the server once per connection.
async fn rsa_hash(
    handle: &Handle<ClientHandler>,
    asked: &mut Option<RsaHash>,
    key: &russh::keys::PublicKey,
) -> Result<Option<HashAlg>, SshError> {
    if !matches!(key.algorithm(), russh::keys::Algorithm::Rsa { .. }) {
        return Ok(None);
    }
    if let Some(RsaHash(hash)) = asked {
        return Ok(*hash);
    }
    let hash = handle.best_supported_rsa_hash().await?.flatten();
    *asked = Some(RsaHash(hash));
    Ok(hash)
}

/// The server's answer for RSA signatures, once asked: a hash, or none.
#[derive(Clone, Copy)]
struct RsaHash(Option<HashAlg>);

fn describe_key(key: &russh::keys::PublicKey, comment: &str) -> String {
    let fingerprint = key.fingerprint(HashAlg::Sha256);
    let algorithm = key.algorithm();
    if comment.is_empty() {
        format!("{fingerprint} {}", algorithm.as_str())
    } else {
        format!("{fingerprint} {} {comment}", algorithm.as_str())
    }
}

fn agent_problem(err: &russh::keys::Error) -> String {
    match std::env::var_os("SSH_AUTH_SOCK") {
        None => "not running (SSH_AUTH_SOCK is not set)".into(),
        Some(sock) => format!(
            "cannot reach it at {} ({err})",
            std::path::Path::new(&sock).display()
        ),
    }
}

fn load_key(file: &std::path::Path, passphrase_env: &str) -> Result<PrivateKey, String> {
    // Named when auth fails: "no such file" is the usual cause of "no key
    // tried" (a typo, a key on another machine).
    match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("no such file".into()),
        Err(e) => return Err(e.to_string()),
        Ok(_) => {}
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_every_key_and_file_and_says_what_to_do() {
        let report = Report {
            agent: AgentState::Keys(vec![
                "SHA256:aaa ssh-ed25519 me@laptop".into(),
                "SHA256:bbb ssh-rsa".into(),
            ]),
            agent_tried: 1,
            files_tried: vec!["/k/id_ed25519 (SHA256:ccc ssh-ed25519)".into()],
            problems: vec!["/k/id_rsa: no such file".into()],
        };
        assert_eq!(
            report.message("deploy"),
            "ssh-agent keys (the first 1 tried, to stay under sshd's MaxAuthTries): \
             SHA256:aaa ssh-ed25519 me@laptop, SHA256:bbb ssh-rsa; \
             identity files tried: /k/id_ed25519 (SHA256:ccc ssh-ed25519); \
             identity files not usable: /k/id_rsa: no such file. \
             The host accepted none of these keys for `deploy`: add one of them to \
             ~deploy/.ssh/authorized_keys on the host, or name the right key in the \
             inventory's `ssh.identity_files` (or load it with `ssh-add`)"
        );
        let nothing = Report {
            agent: AgentState::Unusable("not running (SSH_AUTH_SOCK is not set)".into()),
            ..Report::default()
        };
        // Nothing offered: no advice about authorized_keys.
        assert_eq!(
            nothing.message("u"),
            "ssh-agent: not running (SSH_AUTH_SOCK is not set); identity files tried: none. \
             No key could be offered: name a usable key in the inventory's \
             `ssh.identity_files` (or ssh_config's `IdentityFile`), or load one with `ssh-add`"
        );
    }
}
