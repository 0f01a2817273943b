//! Releasing a run's lock: where this run still holds it, after the host's
//! last history lines and prune when a deploy has them, and what that found
//! (where it could not be done; where the lock was still this run's).

use std::collections::{HashMap, HashSet};

use super::{on_hosts, script, status_reason};
use crate::config::Host;
use crate::context::Context;

/// Release where `run_id` holds the lock; the hosts where that could not be
/// done, and why.
pub(super) async fn release_on(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    run_id: &str,
) -> Vec<(String, String)> {
    release_after_on(ctx, hosts, dirs, run_id, &HashMap::new())
        .await
        .kept
}

/// What a release found on the hosts it was sent to.
#[derive(Default)]
pub(super) struct Releases {
    /// Hosts where it could not be done, and why.
    pub(super) kept: Vec<(String, String)>,
    /// Hosts where it removed this run's lock.
    pub(super) ours: HashSet<String>,
}

/// [`release_on`], each host's script of `tails` (its last history lines
/// and prune) first in the same round trip; what of a tail failed is said
/// as a warning, and never keeps the lock.
pub(super) async fn release_after_on(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    run_id: &str,
    tails: &HashMap<String, String>,
) -> Releases {
    if hosts.is_empty() {
        return Releases::default();
    }
    let scripts = hosts
        .iter()
        .map(|h| {
            let tail = tails.get(&h.name).map_or("", String::as_str);
            let s = script::release_after(tail, &dirs[&h.name], run_id);
            (h.name.clone(), s)
        })
        .collect();
    let mut released = Releases::default();
    for (host, result) in on_hosts(ctx, hosts, scripts).await {
        let tailed = tails.contains_key(&host.name);
        if let Some(what) = tailed
            .then(|| tail_trouble(result.as_deref().ok()))
            .flatten()
        {
            ctx.reporter
                .printer()
                .host_event(&host.name, &format!("warning: {what}"));
        }
        match result {
            Ok(out) if out.lines().last() == Some(script::MARK_RELEASED) => {
                released.ours.insert(host.name);
            }
            Ok(_) => {}
            Err(status) => released.kept.push((host.name, status_reason(&status))),
        }
    }
    released.kept.sort();
    released
}

/// What of a tail script (`steps::release::tail`) failed, from its output
/// (`None`: the script itself did not run).
pub fn tail_trouble(out: Option<&str>) -> Option<String> {
    use crate::steps::release::{MARK_UNPRUNED, MARK_UNRECORDED};
    let Some(out) = out else {
        return Some("the health check's history line and the prune were not sent".into());
    };
    let said = |mark: &str| out.lines().any(|l| l == mark);
    match (said(MARK_UNRECORDED), said(MARK_UNPRUNED)) {
        (false, false) => None,
        (true, false) => Some("could not record the `health` event in the host's history".into()),
        (false, true) => Some("pruning failed".into()),
        (true, true) => Some("could not record the `health` event, and pruning failed".into()),
    }
}

/// What a run's lock left at its end.
#[derive(Clone, Debug, Default)]
pub struct Released {
    /// Hosts where the lock was lost during the run (another holder), or
    /// left unconfirmed to its end, and why.
    pub lost: Vec<(String, String)>,
    /// Hosts where the lock could not be released, and why: held until its
    /// lease runs out there, then the next run takes it over.
    pub kept: Vec<(String, String)>,
}

impl Released {
    /// Add what another lock of the same run left.
    pub fn extend(&mut self, other: Released) {
        self.lost.extend(other.lost);
        self.kept.extend(other.kept);
    }
}
