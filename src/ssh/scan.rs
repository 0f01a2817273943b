//! Fetching a host's key for `ferry known-hosts`: a key exchange only. The
//! key is recorded and refused, so the connection ends before any
//! authentication: nothing is sent that could identify the controller.

use std::sync::{Arc, Mutex};

use russh::client;
use russh::keys::{HashAlg, PublicKeyOrCertificate};

use super::known_hosts::HostKey;
use super::{connect_error, Connector, SshError, Target};

/// The key a host presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedKey {
    pub key: HostKey,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

struct KeyCatcher {
    seen: Arc<Mutex<Option<Result<ScannedKey, String>>>>,
}

impl client::Handler for KeyCatcher {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let seen = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key
                .to_openssh()
                .ok()
                .and_then(|line| HostKey::from_openssh(&line))
                .map(|host_key| ScannedKey {
                    key: host_key,
                    fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
                })
                .ok_or_else(|| "unreadable host key".to_string()),
            PublicKeyOrCertificate::Certificate(_) => {
                Err("the host presents a certificate, which ferry does not check".into())
            }
        };
        *self.seen.lock().expect("scan lock") = Some(seen);
        // Refused on purpose: the key is all this connection was for.
        Ok(false)
    }
}

impl Connector {
    /// The host's key, from a key exchange within the connect timeout.
    pub async fn scan(&self, target: &Target) -> Result<ScannedKey, SshError> {
        let seen = Arc::new(Mutex::new(None));
        let handler = KeyCatcher { seen: seen.clone() };
        let addr = (target.address.as_str(), target.port);
        let timeout = target.ssh.connect_timeout.unwrap_or(self.connect_timeout);
        let exchange = async {
            let handle = if target.ssh.jumps.is_empty() {
                client::connect(self.config.clone(), addr, handler).await
            } else {
                // Behind bastions: through them, like a connect.
                let tunnel = self.tunnel_to(target, timeout).await?;
                client::connect_stream(self.config.clone(), tunnel, handler).await
            };
            handle.map_err(|e| connect_error(target, e))
        };
        let attempt = tokio::time::timeout(timeout, exchange).await;
        let result = seen.lock().expect("scan lock").take();
        match (result, attempt) {
            (Some(Ok(key)), _) => Ok(key),
            (Some(Err(reason)), _) => Err(SshError::Connect {
                address: target.display(),
                reason,
            }),
            (None, Err(_)) => Err(SshError::ConnectTimeout {
                address: target.display(),
                after: timeout,
            }),
            (None, Ok(Err(err))) => Err(err),
            (None, Ok(Ok(_))) => Err(SshError::Connect {
                address: target.display(),
                reason: "the host showed no key".into(),
            }),
        }
    }
}
