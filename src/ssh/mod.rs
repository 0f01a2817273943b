//! The only module that talks SSH. One authenticated connection per host
//! ([`Session`]), reused for every command of the run through channels.
//!
//! Pitfalls handled here (see the russh probe notes): connect and auth are
//! wrapped in an outer timeout (a silent peer hangs russh forever),
//! keepalive is always on, DH group exchange is dropped (pure-Rust 8192-bit
//! groups cost ~0.8 s of CPU per handshake), and host keys are checked by our
//! own `known_hosts` reader.

mod auth;
mod exec;
mod jump;
pub mod known_hosts;
mod options;
mod scan;
mod trips;
mod upload;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client;
use russh::keys::{HashAlg, PublicKeyOrCertificate};

pub(crate) use exec::LineBuffer;
pub use exec::{ExecOutput, ExitKind, Keep, Stream, KEEP_BYTES};
pub use scan::ScannedKey;
pub use trips::Trips;
pub use upload::UploadSource;

use crate::config::{HostKeyPolicy, HostSsh, SshSettings};
use auth::KeyRing;
use known_hosts::{HostKey, KnownHosts, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("no SSH answer from {address} within {after:?} (connect timeout)")]
    ConnectTimeout { address: String, after: Duration },
    #[error(
        "host key of {address} is unknown: {fingerprint} is in no known_hosts file ({file}); \
         verify it and add it (`ferry known-hosts ENV --update` shows it and asks), or set \
         `ssh.host_key_policy: accept-new` to trust new hosts on first use"
    )]
    UnknownHostKey {
        address: String,
        fingerprint: String,
        file: String,
    },
    #[error(
        "HOST KEY CHANGED for {address}: it now presents {fingerprint}, which does not match \
         {file}:{line}. Someone may be intercepting the connection, or the host was rebuilt. \
         Refusing to connect; if the change is expected (check the new key with the host's \
         administrator), record it with `ferry known-hosts ENV --update`"
    )]
    HostKeyChanged {
        address: String,
        fingerprint: String,
        file: String,
        line: usize,
    },
    #[error("host key {fingerprint} of {address} is REVOKED ({file}:{line}); refusing to connect")]
    HostKeyRevoked {
        address: String,
        fingerprint: String,
        file: String,
        line: usize,
    },
    #[error("cannot record the new host key of {address} in {file}: {reason}")]
    LearnHostKey {
        address: String,
        file: String,
        reason: String,
    },
    /// `detail`: the keys tried (agent and files, with fingerprints), the
    /// identity files that could not be used, and what to do.
    #[error("authentication as `{user}` failed: {detail}")]
    AuthFailed { user: String, detail: String },
    /// A `ProxyJump` hop could not be reached or refused us.
    #[error("via bastion {bastion}: {reason}")]
    ViaBastion {
        bastion: String,
        reason: String,
        unreachable: bool,
    },
    #[error("command timed out after {after:?}")]
    Timeout { after: Duration },
    #[error("upload failed: {0}")]
    Upload(String),
    #[error(
        "the connection was lost: the host stopped answering (no reply to keepalives) or closed it"
    )]
    Lost,
    #[error("SSH: {0}")]
    Protocol(russh::Error),
}

impl From<russh::Error> for SshError {
    /// russh's words for a dead connection ("Disconnected", "Channel send
    /// error") become ferry's.
    fn from(err: russh::Error) -> SshError {
        match err {
            russh::Error::Disconnect
            | russh::Error::SendError
            | russh::Error::HUP
            | russh::Error::KeepaliveTimeout => SshError::Lost,
            other => SshError::Protocol(other),
        }
    }
}

impl SshError {
    /// Host-key problems are never retried: retrying an attack is no help.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            SshError::Connect { .. }
                | SshError::ConnectTimeout { .. }
                | SshError::ViaBastion {
                    unreachable: true,
                    ..
                }
        )
    }
}

/// Where and as whom to connect, and the host's own settings (keys,
/// `known_hosts`, timeouts, `ProxyJump` hops) over the inventory's.
#[derive(Clone, Debug)]
pub struct Target {
    pub address: String,
    pub port: u16,
    pub user: String,
    pub ssh: HostSsh,
}

impl Target {
    fn display(&self) -> String {
        format!("{}:{}", self.address, self.port)
    }
}

/// Shared by every connection of a run: config, host keys, client keys.
pub struct Connector {
    config: Arc<client::Config>,
    known_hosts: Arc<KnownHosts>,
    policy: HostKeyPolicy,
    keys: KeyRing,
    connect_timeout: Duration,
    bastions: jump::Bastions,
    /// Per-host configs and `known_hosts` sets (a host's own `ssh` settings).
    shared: options::Shared,
}

impl Connector {
    pub fn new(settings: &SshSettings) -> std::io::Result<Connector> {
        Ok(Connector {
            config: Arc::new(client_config(settings)),
            known_hosts: Arc::new(KnownHosts::load(&settings.known_hosts)?),
            policy: settings.host_key_policy,
            keys: KeyRing::new(
                settings.identity_files.clone(),
                settings.passphrase_env.clone(),
            ),
            connect_timeout: settings.connect_timeout,
            bastions: jump::Bastions::new(settings.bastion_channels),
            shared: options::Shared::new(settings),
        })
    }

    /// Connect, verify the host key, authenticate: all within the connect timeout.
    pub async fn connect(&self, target: &Target) -> Result<Session, SshError> {
        if !target.ssh.jumps.is_empty() {
            return self.connect_via(target).await;
        }
        let opts = self.host_options(&target.ssh, &target.display())?;
        let attempt = async {
            let addr = (target.address.as_str(), target.port);
            let socket = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| connect_error(target, russh::Error::IO(e)))?;
            let _ = socket.set_nodelay(true);
            self.handshake(target, socket).await
        };
        let handle = tokio::time::timeout(opts.connect_timeout, attempt)
            .await
            .map_err(|_| SshError::ConnectTimeout {
                address: target.display(),
                after: opts.connect_timeout,
            })??;
        Ok(Session::new(Arc::new(handle)))
    }

    /// SSH over `stream`: host key checked against `target`'s address and
    /// port, then login as `target.user`.
    pub(super) async fn handshake<S>(
        &self,
        target: &Target,
        stream: S,
    ) -> Result<client::Handle<ClientHandler>, SshError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        // Each hop and the host with its own settings (keys, known_hosts,
        // policy, keepalive), as a direct connection would.
        let opts = self.host_options(&target.ssh, &target.display())?;
        let refusal = Arc::new(Mutex::new(None));
        let handler = ClientHandler {
            target: target.clone(),
            known_hosts: opts.known_hosts.clone(),
            policy: opts.policy,
            refusal: refusal.clone(),
        };
        let mut handle = match client::connect_stream(opts.config.clone(), stream, handler).await {
            Ok(handle) => handle,
            Err(err) => {
                let refused = refusal.lock().expect("refusal lock").take();
                return Err(refused.unwrap_or_else(|| connect_error(target, err)));
            }
        };
        let offer = auth::Offer {
            files: &target.ssh.identity_files,
            identities_only: target.ssh.identities_only,
        };
        self.keys
            .authenticate(&mut handle, &target.user, &offer)
            .await?;
        Ok(handle)
    }
}

fn connect_error(target: &Target, err: russh::Error) -> SshError {
    let mut reason = match err {
        russh::Error::IO(io) => io.to_string(),
        other => other.to_string(),
    };
    // The resolver's words say nothing of where the name came from.
    if reason.contains("lookup address information") {
        reason = format!(
            "`{}` is not a name this machine resolves ({reason}): give the host an \
             `address:` in the inventory, or a `HostName` in ssh_config \
             (`ferry check ENV --ssh` shows where each setting came from)",
            target.address
        );
    }
    SshError::Connect {
        address: target.display(),
        reason,
    }
}

fn client_config(settings: &SshSettings) -> client::Config {
    let mut preferred = russh::Preferred::default();
    preferred.kex = preferred
        .kex
        .iter()
        .filter(|k| **k != russh::kex::DH_GEX_SHA1 && **k != russh::kex::DH_GEX_SHA256)
        .copied()
        .collect::<Vec<_>>()
        .into();
    if aes_in_hardware() {
        preferred.cipher = prefer_first(&preferred.cipher, &russh::cipher::AES_256_GCM).into();
    }
    client::Config {
        preferred,
        keepalive_interval: Some(settings.keepalive),
        keepalive_max: options::KEEPALIVE_COUNT,
        // Never an inactivity timeout: it drops quiet long commands.
        inactivity_timeout: None,
        nodelay: true,
        ..Default::default()
    }
}

/// With AES instructions, AES-GCM costs both ends (our encryption and the
/// host's sshd decryption of every artifact byte) less CPU than russh's
/// default ChaCha20-Poly1305; without them `ChaCha20` stays first.
fn aes_in_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("aes")
        && std::arch::is_x86_feature_detected!("pclmulqdq");
    #[cfg(target_arch = "aarch64")]
    return std::arch::is_aarch64_feature_detected!("aes");
    #[allow(unreachable_code)]
    false
}

fn prefer_first<T: Clone + PartialEq>(list: &[T], first: &T) -> Vec<T> {
    let mut out = vec![first.clone()];
    out.extend(list.iter().filter(|x| *x != first).cloned());
    out
}

/// One authenticated connection to one host.
#[derive(Clone)]
pub struct Session {
    handle: Arc<client::Handle<ClientHandler>>,
    /// Round trips counted, and the channel opened ahead.
    ahead: trips::Ahead,
}

impl Session {
    fn new(handle: Arc<client::Handle<ClientHandler>>) -> Session {
        Session {
            ahead: trips::Ahead::start(&handle),
            handle,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    pub async fn close(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

pub(crate) struct ClientHandler {
    target: Target,
    known_hosts: Arc<KnownHosts>,
    policy: HostKeyPolicy,
    /// Why the host key was refused; russh itself only reports "unknown key".
    refusal: Arc<Mutex<Option<SshError>>>,
}

impl ClientHandler {
    fn verify(&self, key: &russh::keys::PublicKey) -> Result<(), SshError> {
        let openssh = key.to_openssh().map_err(|e| SshError::Connect {
            address: self.target.display(),
            reason: format!("unreadable host key: {e}"),
        })?;
        let host_key = HostKey::from_openssh(&openssh).ok_or_else(|| SshError::Connect {
            address: self.target.display(),
            reason: "unreadable host key".into(),
        })?;
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let address = self.target.display();
        let primary = self
            .known_hosts
            .primary_file()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        match self
            .known_hosts
            .check(&self.target.address, self.target.port, &host_key)
        {
            Verdict::Trusted => Ok(()),
            Verdict::Changed { file, line } => Err(SshError::HostKeyChanged {
                address,
                fingerprint,
                file: file.display().to_string(),
                line,
            }),
            Verdict::Revoked { file, line } => Err(SshError::HostKeyRevoked {
                address,
                fingerprint,
                file: file.display().to_string(),
                line,
            }),
            Verdict::Unknown if self.policy == HostKeyPolicy::AcceptNew => self
                .known_hosts
                .learn(&self.target.address, self.target.port, &host_key)
                .map_err(|e| SshError::LearnHostKey {
                    address,
                    file: primary,
                    reason: e.to_string(),
                }),
            Verdict::Unknown => Err(SshError::UnknownHostKey {
                address,
                fingerprint,
                file: primary,
            }),
        }
    }
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            *self.refusal.lock().expect("refusal lock") = Some(SshError::Connect {
                address: self.target.display(),
                reason: "host certificates are not supported".into(),
            });
            return Ok(false);
        };
        match self.verify(key) {
            Ok(()) => Ok(true),
            Err(refusal) => {
                *self.refusal.lock().expect("refusal lock") = Some(refusal);
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SshError;

    /// A dead connection is said in ferry's words, whichever way russh
    /// noticed it; other protocol errors keep russh's.
    #[test]
    fn a_dead_connection_is_said_in_ferrys_words() {
        for err in [
            russh::Error::Disconnect,
            russh::Error::SendError,
            russh::Error::HUP,
            russh::Error::KeepaliveTimeout,
        ] {
            let said = SshError::from(err).to_string();
            assert!(said.starts_with("the connection was lost: "), "{said}");
        }
        let other = SshError::from(russh::Error::NoAuthMethod).to_string();
        assert_eq!(other, "SSH: No authentication method");
    }

    /// A name nothing resolves says where names come from.
    #[test]
    fn an_unresolved_name_says_where_to_give_an_address() {
        let target = super::Target {
            address: "web-a".into(),
            port: 22,
            user: "u".into(),
            ssh: crate::config::HostSsh::default(),
        };
        let io = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        let said = super::connect_error(&target, russh::Error::IO(io)).to_string();
        assert_eq!(
            said,
            "cannot connect to web-a:22: `web-a` is not a name this machine resolves \
             (failed to lookup address information: Name or service not known): give the host \
             an `address:` in the inventory, or a `HostName` in ssh_config (`ferry check ENV \
             --ssh` shows where each setting came from)"
        );
    }
}
