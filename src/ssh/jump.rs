//! `ProxyJump`: hosts behind bastions, reached through direct-tcpip channels.
//!
//! Every chain prefix (`[b1]`, `[b1, b2]`, ...) has a pool of authenticated
//! connections to its last hop, opened on first use and kept for the run:
//! 100 hosts behind one bastion make one bastion login, not 100. Each
//! connection carries at most `ssh.bastion_channels` tunnels at once (64,
//! [`crate::config::BASTION_CHANNELS`]);
//! past that a second one is opened. Logins to one hop are made one at a
//! time under the pool's lock, so hosts starting together never race into
//! several. A hop that cannot be reached is remembered for the run: every
//! host behind it fails at once with the bastion's error, after one connect
//! timeout at most.
//!
//! Each hop's host key is checked like a direct connection's, against its
//! own address and port; hop N is reached through hop N-1. The whole
//! connect (hops and host) stays within the host's connect timeout.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::ChannelStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{connect_error, ClientHandler, Connector, Session, SshError, Target};
use crate::config::Jump;

/// The bastion connections of a run, by chain prefix.
pub(super) struct Bastions {
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    /// `ssh.bastion_channels`.
    channels: usize,
}

impl Bastions {
    /// `channels`: the inventory's `ssh.bastion_channels`.
    pub(super) fn new(channels: usize) -> Bastions {
        Bastions {
            pools: Mutex::default(),
            channels: channels.max(1),
        }
    }
}

#[derive(Default)]
struct Pool {
    links: tokio::sync::Mutex<Vec<Arc<Link>>>,
    /// Why this hop could not be reached: said at once to every later host.
    failed: Mutex<Option<Failure>>,
}

/// One authenticated connection to a hop.
struct Link {
    handle: Handle<ClientHandler>,
    slots: Arc<Semaphore>,
}

/// A link and one slot on it: boxed, as a hop's link is made through the
/// link to the hop before it.
type LinkFuture<'a> = Pin<
    Box<
        dyn std::future::Future<Output = Result<(Arc<Link>, OwnedSemaphorePermit), Failure>>
            + Send
            + 'a,
    >,
>;

#[derive(Clone)]
struct Failure {
    bastion: String,
    reason: String,
    unreachable: bool,
}

impl From<Failure> for SshError {
    fn from(f: Failure) -> SshError {
        SshError::ViaBastion {
            bastion: f.bastion,
            reason: f.reason,
            unreachable: f.unreachable,
        }
    }
}

/// When a host's whole connect (hops and host) must be done, and the
/// connect timeout that set it (for messages).
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    after: Duration,
}

impl Deadline {
    fn new(after: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + after,
            after,
        }
    }
}

impl Connector {
    /// Connect to a host through its `ProxyJump` hops.
    pub(super) async fn connect_via(&self, target: &Target) -> Result<Session, SshError> {
        let timeout = target.ssh.connect_timeout.unwrap_or(self.connect_timeout);
        let deadline = Deadline::new(timeout);
        let tunnel = self
            .tunnel(&target.ssh.jumps, target, deadline)
            .await
            .map_err(SshError::from)?;
        let handle = tokio::time::timeout_at(deadline.at, self.handshake(target, tunnel))
            .await
            .map_err(|_| SshError::ConnectTimeout {
                address: target.display(),
                after: timeout,
            })??;
        Ok(Session::new(Arc::new(handle)))
    }

    /// A tunnel to `target` through its hops, within `timeout` (`ferry
    /// known-hosts` fetches keys through it).
    pub(super) async fn tunnel_to(
        &self,
        target: &Target,
        timeout: Duration,
    ) -> Result<Tunnel, SshError> {
        self.tunnel(&target.ssh.jumps, target, Deadline::new(timeout))
            .await
            .map_err(SshError::from)
    }

    /// A channel through the last of `hops` to `to`, holding a slot of the
    /// connection it runs on.
    async fn tunnel(
        &self,
        hops: &[Jump],
        to: &Target,
        deadline: Deadline,
    ) -> Result<Tunnel, Failure> {
        let (link, slot) = self.link(hops, deadline).await?;
        let hop = hops.last().expect("a tunnel has a hop");
        let open = link.handle.channel_open_direct_tcpip(
            to.address.as_str(),
            u32::from(to.port),
            "127.0.0.1",
            0,
        );
        let failure = |reason: String| Failure {
            bastion: hop_name(hop),
            reason,
            unreachable: true,
        };
        let channel = match tokio::time::timeout_at(deadline.at, open).await {
            Ok(Ok(channel)) => channel,
            Ok(Err(err)) => {
                return Err(failure(format!(
                    "cannot connect to {} through it: {}",
                    to.display(),
                    channel_error(&err)
                )))
            }
            Err(_) => {
                return Err(failure(format!(
                    "no tunnel to {} within {:?} (connect timeout)",
                    to.display(),
                    deadline.after
                )))
            }
        };
        Ok(Tunnel {
            stream: channel.into_stream(),
            _slot: slot,
            _link: link,
        })
    }

    /// A connection to the last of `hops` with a free slot: an open one, or
    /// a new one made now (one login at a time per hop).
    fn link<'a>(&'a self, hops: &'a [Jump], deadline: Deadline) -> LinkFuture<'a> {
        Box::pin(async move {
            let hop = hops.last().expect("a link has a hop");
            let pool = self.bastions.pool(hops);
            let timed_out = || Failure {
                bastion: hop_name(hop),
                reason: format!(
                    "no SSH answer from {}:{} within {:?} (connect timeout)",
                    hop.address, hop.port, deadline.after
                ),
                unreachable: true,
            };
            let mut links = tokio::time::timeout_at(deadline.at, pool.links.lock())
                .await
                .map_err(|_| timed_out())?;
            if let Some(failure) = pool.failed() {
                return Err(failure);
            }
            links.retain(|l| !l.handle.is_closed());
            for link in links.iter() {
                if let Ok(slot) = link.slots.clone().try_acquire_owned() {
                    return Ok((link.clone(), slot));
                }
            }
            let started = Instant::now();
            let handle =
                match tokio::time::timeout_at(deadline.at, self.open_link(hops, deadline)).await {
                    Ok(Ok(handle)) => handle,
                    Ok(Err(failure)) => return Err(pool.fail(failure)),
                    // Given most of a connect timeout, the hop counts as
                    // unreachable for the run; a host that queued behind others
                    // for most of its own gives up alone.
                    Err(_) if started.elapsed() * 2 >= deadline.after => {
                        return Err(pool.fail(timed_out()))
                    }
                    Err(_) => return Err(timed_out()),
                };
            let link = Arc::new(Link {
                handle,
                slots: Arc::new(Semaphore::new(self.bastions.channels)),
            });
            let slot = link
                .slots
                .clone()
                .try_acquire_owned()
                .expect("a new link has free slots");
            links.push(link.clone());
            Ok((link, slot))
        })
    }

    /// Log in to the last of `hops`: straight for the first, through the
    /// one before for the others.
    async fn open_link(
        &self,
        hops: &[Jump],
        deadline: Deadline,
    ) -> Result<Handle<ClientHandler>, Failure> {
        let (hop, before) = hops.split_last().expect("a link has a hop");
        let target = Target {
            address: hop.address.clone(),
            port: hop.port,
            user: hop.user.clone(),
            ssh: hop.ssh.clone(),
        };
        let hop_failure = |err: SshError| Failure {
            bastion: hop_name(hop),
            unreachable: err.is_unreachable(),
            reason: err.to_string(),
        };
        let handshake = if before.is_empty() {
            let addr = (hop.address.as_str(), hop.port);
            let socket = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| hop_failure(connect_error(&target, russh::Error::IO(e))))?;
            let _ = socket.set_nodelay(self.config.nodelay);
            self.handshake(&target, socket).await
        } else {
            let tunnel = self.tunnel(before, &target, deadline).await?;
            self.handshake(&target, tunnel).await
        };
        handshake.map_err(hop_failure)
    }
}

impl Bastions {
    fn pool(&self, hops: &[Jump]) -> Arc<Pool> {
        let key = hops
            .iter()
            .map(|h| format!("{}@{}:{}", h.user, h.address, h.port))
            .collect::<Vec<_>>()
            .join(",");
        self.pools
            .lock()
            .expect("bastions lock")
            .entry(key)
            .or_default()
            .clone()
    }
}

impl Pool {
    fn failed(&self) -> Option<Failure> {
        self.failed.lock().expect("pool lock").clone()
    }

    fn fail(&self, failure: Failure) -> Failure {
        *self.failed.lock().expect("pool lock") = Some(failure.clone());
        failure
    }
}

fn hop_name(hop: &Jump) -> String {
    format!("{}@{}:{}", hop.user, hop.address, hop.port)
}

fn channel_error(err: &russh::Error) -> String {
    match err {
        russh::Error::ChannelOpenFailure(why) => {
            format!(
                "the bastion refused the tunnel ({why:?}: is the host up, is forwarding allowed?)"
            )
        }
        other => other.to_string(),
    }
}

/// A direct-tcpip channel as the byte stream an SSH connection runs on. It
/// holds its slot on the bastion connection (and that connection) until
/// the connection inside it ends.
pub(super) struct Tunnel {
    stream: ChannelStream<client::Msg>,
    _slot: OwnedSemaphorePermit,
    _link: Arc<Link>,
}

impl AsyncRead for Tunnel {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tunnel {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
