//! Round trips of one connection: counted, and cut where the protocol
//! allows. Opening a session channel costs a round trip (`CHANNEL_OPEN`, then
//! wait for its confirmation) before the exec request can be sent on it;
//! opening the next channel while the current command runs takes that wait
//! off every later command. An open session channel costs sshd no process
//! (it forks at the exec), and one spare keeps a connection far below
//! sshd's `MaxSessions` (10).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use russh::client::{self, Handle, Msg};
use russh::Channel;

use super::{ClientHandler, Session, SshError};

type Opening = tokio::task::JoinHandle<Result<Channel<Msg>, russh::Error>>;

/// What one connection asked of its host after login.
#[derive(Default)]
pub(super) struct Counts {
    /// Requests whose answer was waited for: an exec until its exit, an
    /// SFTP session, a channel open that was not opened ahead.
    waits: AtomicU32,
    /// Commands run (exec requests).
    execs: AtomicU32,
    /// Channel opens waited for (none opened ahead, or not yet confirmed).
    opens_waited: AtomicU32,
}

/// A connection's counts, as reported (see [`Session::trips`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trips {
    /// Round trips waited for after login: every exec's answer plus every
    /// channel open that had to be waited for.
    pub round_trips: u32,
    /// Commands (exec requests) sent.
    pub execs: u32,
    /// Channel opens waited for.
    pub opens_waited: u32,
}

/// The per-connection state: counts and the spare channel.
#[derive(Clone, Default)]
pub(super) struct Ahead {
    counts: Arc<Counts>,
    spare: Arc<Mutex<Option<Opening>>>,
}

impl Ahead {
    /// Start opening the spare channel now (right after login: the first
    /// command's open overlaps with the other hosts' logins).
    pub(super) fn start(handle: &Arc<Handle<ClientHandler>>) -> Ahead {
        let ahead = Ahead::default();
        ahead.prefetch(handle);
        ahead
    }

    fn prefetch(&self, handle: &Arc<Handle<ClientHandler>>) {
        if handle.is_closed() {
            return;
        }
        let mut spare = self.spare.lock().expect("spare lock");
        if spare.is_none() {
            let handle = handle.clone();
            *spare = Some(tokio::spawn(
                async move { handle.channel_open_session().await },
            ));
        }
    }
}

impl Session {
    /// A session channel: the spare opened ahead when there is one (a
    /// spare that failed to open is replaced by a plain open, which then
    /// says why), and the next spare starts opening.
    pub(super) async fn channel(&self) -> Result<Channel<client::Msg>, SshError> {
        let spare = self.ahead.spare.lock().expect("spare lock").take();
        let counts = &self.ahead.counts;
        let taken = match spare {
            Some(opening) => {
                if !opening.is_finished() {
                    counts.opens_waited.fetch_add(1, Ordering::Relaxed);
                    counts.waits.fetch_add(1, Ordering::Relaxed);
                }
                opening.await.ok().and_then(Result::ok)
            }
            None => None,
        };
        let channel = if let Some(channel) = taken {
            channel
        } else {
            counts.opens_waited.fetch_add(1, Ordering::Relaxed);
            counts.waits.fetch_add(1, Ordering::Relaxed);
            self.handle.channel_open_session().await?
        };
        self.ahead.prefetch(&self.handle);
        Ok(channel)
    }

    /// One exec request sent; its answer is waited for.
    pub(super) fn count_exec(&self) {
        let counts = &self.ahead.counts;
        counts.execs.fetch_add(1, Ordering::Relaxed);
        counts.waits.fetch_add(1, Ordering::Relaxed);
    }

    /// One more request whose answer is waited for (an SFTP session's).
    pub(super) fn count_wait(&self) {
        self.ahead.counts.waits.fetch_add(1, Ordering::Relaxed);
    }

    /// What this connection asked of its host so far.
    pub fn trips(&self) -> Trips {
        let counts = &self.ahead.counts;
        Trips {
            round_trips: counts.waits.load(Ordering::Relaxed),
            execs: counts.execs.load(Ordering::Relaxed),
            opens_waited: counts.opens_waited.load(Ordering::Relaxed),
        }
    }
}
