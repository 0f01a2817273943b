//! A done host's last script: the history line of its passed health check
//! and the prune, in one round trip, and in the final batch sent with the
//! lock's release (`LockGuard::release_after`) instead of on their own.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::release::{EventKind, ReleaseId};
use crate::steps::release as script;

use super::{Kind, Pipeline};

/// What a host's pipeline left for its last script: the history lines of
/// a passed health check and the releases to delete (`steps::release::tail`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tail {
    pub deploy_to: String,
    pub lines: Vec<String>,
    pub doomed: Vec<ReleaseId>,
}

impl Tail {
    pub(crate) fn script(&self) -> String {
        script::tail(&self.deploy_to, &self.lines, &self.doomed)
    }
}

/// Every done host's [`Tail`], by host name, until the run sends them.
pub(crate) type Tails = Mutex<HashMap<String, Tail>>;

impl Pipeline<'_> {
    /// Delete old releases, with the `pending` history lines; a failure is
    /// only a warning. Returns the releases deleted (or to be deleted by the
    /// run's lock release).
    pub(super) async fn prune(&self, pending: Vec<String>) -> Vec<ReleaseId> {
        let Kind::Deploy(d) = self.kind else {
            self.send_tail(pending, Vec::new(), false).await;
            return Vec::new();
        };
        let job = self.job;
        let mut after = job.state.clone();
        after.current = Some(d.release.clone());
        after.on_disk.insert(d.release.clone());
        after.history.push(self.kind.run().event(
            EventKind::Switched,
            &d.release,
            job.back.as_ref().map(|s| &s.release),
        ));
        let doomed = after.prune(d.keep);
        if self.send_tail(pending, doomed.clone(), true).await {
            doomed
        } else {
            Vec::new()
        }
    }

    /// History lines and a prune in one script: now, or, when it `may_wait`
    /// (a done host's end: nothing of this run writes its history after),
    /// left for the run's lock release ([`Pipeline::tails`]). Lines flushed
    /// before a step that writes history (a switch back) never wait: they
    /// must land first. Whether the prune went (or is left to go); what
    /// failed is a warning, as each was on its own.
    pub(super) async fn send_tail(
        &self,
        lines: Vec<String>,
        doomed: Vec<ReleaseId>,
        may_wait: bool,
    ) -> bool {
        if lines.is_empty() && doomed.is_empty() {
            return true;
        }
        let tail = Tail {
            deploy_to: self.job.deploy_to.clone(),
            lines,
            doomed,
        };
        if let Some(tails) = self.tails.filter(|_| may_wait) {
            let mut tails = tails.lock().expect("tails lock");
            let kept = tails.entry(self.name().to_string()).or_default();
            kept.deploy_to = tail.deploy_to;
            kept.lines.extend(tail.lines);
            kept.doomed.extend(tail.doomed);
            return true;
        }
        let out = self
            .exec
            .script(
                self.name(),
                self.session,
                "record and prune",
                tail.script(),
                None,
            )
            .await;
        let (unrecorded, unpruned) = match &out {
            Ok(out) => (
                out.lines().any(|l| l == script::MARK_UNRECORDED),
                out.lines().any(|l| l == script::MARK_UNPRUNED),
            ),
            Err(_) => (true, true),
        };
        let why = |what: &str| match &out {
            Ok(_) => format!("{what} (see the host)"),
            Err(failure) => failure.reason.clone(),
        };
        if unrecorded && !tail.lines.is_empty() {
            self.warn(&format!(
                "could not record the `health` event in the host's history: {}",
                why("the history could not be written")
            ));
        }
        if unpruned && !tail.doomed.is_empty() {
            self.warn(&format!("pruning failed: {}", why("rm failed")));
            return false;
        }
        true
    }
}
