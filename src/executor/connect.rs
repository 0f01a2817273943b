//! Opening every host's session at once, before a run's first round: an
//! unreachable host costs one connect timeout, paid alongside the others,
//! never in series, and later rounds find its failure in the cache.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::Executor;
use crate::config::Host;

/// Handshakes in flight at once: far above any `--forks` in use, and far
/// below the controller's file-descriptor limit.
const CONNECTS: usize = 256;

/// Hosts still connecting when [`Executor::connect_all`] stopped waiting.
pub struct Connecting {
    hosts: Vec<Host>,
    pending: JoinSet<usize>,
    /// By host index: its connection opened or failed.
    settled: Vec<bool>,
    /// By host index: given to the caller already.
    handed: Vec<bool>,
}

impl Executor {
    /// Open a session to every host at once and wait until each one is open
    /// or has failed (its failure reported, once) or, with `patience`, until
    /// that long has passed. Returns the hosts settled by then, in their
    /// order, and the others, still connecting.
    pub async fn connect_all(
        self: &Arc<Self>,
        hosts: &[Host],
        patience: Option<Duration>,
    ) -> (Vec<Host>, Connecting) {
        let slots = Arc::new(Semaphore::new(CONNECTS));
        let mut pending = JoinSet::new();
        for (index, host) in hosts.iter().enumerate() {
            let (this, host, slots) = (self.clone(), host.clone(), slots.clone());
            pending.spawn(async move {
                let _slot = slots.acquire_owned().await.expect("semaphore never closes");
                // Opened or failed, the outcome is kept for the run's rounds.
                let _ = this.connect(&host).await;
                index
            });
        }
        let mut connecting = Connecting {
            hosts: hosts.to_vec(),
            pending,
            settled: vec![false; hosts.len()],
            handed: vec![false; hosts.len()],
        };
        let waited = connecting.settle();
        match patience {
            Some(limit) => {
                let _ = tokio::time::timeout(limit, waited).await;
            }
            None => waited.await,
        }
        let settled = connecting.take_settled();
        (settled, connecting)
    }
}

impl Connecting {
    async fn settle(&mut self) {
        while let Some(joined) = self.pending.join_next().await {
            if let Ok(index) = joined {
                self.settled[index] = true;
            }
        }
    }

    /// The settled hosts not handed out yet, in their order.
    fn take_settled(&mut self) -> Vec<Host> {
        let mut taken = Vec::new();
        for (i, host) in self.hosts.iter().enumerate() {
            if self.settled[i] && !self.handed[i] {
                self.handed[i] = true;
                taken.push(host.clone());
            }
        }
        taken
    }

    /// Wait for the rest; returns them, in their order.
    pub async fn rest(mut self) -> Vec<Host> {
        self.settle().await;
        self.take_settled()
    }
}
