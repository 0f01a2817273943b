//! Environment locks: a deploy, promote or rollback holds
//! `<deploy_to>/.ferry/lock` on every target host before it changes anything,
//! and changes no host it did not lock. A run's lock carries a lease on the
//! host's clock, renewed while it lives, so a lock left by a killed
//! controller is recognisably stale (the next run takes it over, see
//! `takeover`), and every switch checks on the host that
//! the run still holds it (`steps::lock::fence`). A manual lock (`ferry
//! lock`) has none and stays until `ferry unlock`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::Host;
use crate::context::Context;
use crate::executor::{HostStatus, TaskFailure};
use crate::ssh::ExitKind;
use crate::steps::lock as script;

mod answer;
mod lease;
mod manage;
mod release;
mod round;
mod takeover;

pub use manage::{inspect, remove, Found, Removed};
pub use release::{tail_trouble, Released};

use answer::shown;
use lease::Renewals;
use release::{release_after_on, release_on};
use round::Round;

/// How long a lease lasts without renewal (on the host's clock).
pub const LEASE: Duration = Duration::from_secs(script::LEASE_SECS);

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockInfo {
    pub holder: String,
    pub run_id: String,
    pub since: String,
    pub reason: String,
    /// Unix seconds on the host's clock; `None` for a manual lock, which
    /// never goes stale.
    #[serde(default)]
    pub lease_until: Option<u64>,
}

impl LockInfo {
    pub fn is_stale(&self, now: u64) -> bool {
        self.lease_until.is_some_and(|until| until < now)
    }

    fn describe(&self) -> String {
        let reason = if self.reason.is_empty() {
            String::new()
        } else {
            format!(", reason: {}", self.reason)
        };
        format!(
            "{} (run {}) since {}{reason}",
            self.holder, self.run_id, self.since
        )
    }
}

/// Whether a lock is a run's, with a lease the host's clock judges, or a
/// manual one (`ferry lock`) that stays until `ferry unlock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    Manual,
    Leased,
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A lock's holder as its host reported it.
#[derive(Clone, Debug)]
pub struct Holder {
    /// `Err(line)` when info.json is empty or not ferry's JSON.
    pub info: Result<LockInfo, String>,
    /// The host's clock when it answered, which judges the lease.
    pub host_now: Option<u64>,
    /// Checksum of info.json: a removal only removes this very lock.
    pub sum: String,
}

impl Holder {
    pub fn is_stale(&self) -> bool {
        let now = self.host_now.unwrap_or_else(unix_now);
        self.info.as_ref().is_ok_and(|i| i.is_stale(now))
    }

    pub fn describe(&self) -> String {
        match &self.info {
            Ok(info) => info.describe(),
            Err(line) => format!(
                "a holder ferry cannot name: its info.json is unreadable ({}); `ferry unlock --force` removes it",
                shown(line)
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("environment `{env}` is locked by {info} on {hosts}{}", if *.stale { "; its lease has expired: the holder is gone (`ferry unlock --force` clears it)" } else { "" })]
    Held {
        env: String,
        info: String,
        hosts: String,
        stale: bool,
    },
}

/// What a run's lock left for one host.
#[derive(Clone, Debug)]
pub enum Read {
    /// Locked by this run; the output of `then`, read under the lock
    /// (`None`: none, or it failed: ask again, under the lock).
    Locked(Option<String>),
    /// Not locked by this run, which therefore never changes it.
    NotLocked(HostStatus),
}

/// A held lock; renews its lease until released. Holds only the hosts it
/// locked: the others are reported, never changed.
pub struct LockGuard {
    run_id: String,
    locked: Vec<Host>,
    dirs: HashMap<String, String>,
    not_locked: Vec<(String, HostStatus)>,
    renewals: Arc<Mutex<HashMap<String, Renewals>>>,
    renewer: tokio::task::JoinHandle<()>,
}

fn info_json(info: &LockInfo) -> String {
    serde_json::to_string(info).expect("plain data")
}

/// A run's info up to `"lease_until":`: the host appends its own clock's
/// `now + LEASE`. serde writes the fields in order, `lease_until` last.
fn leased_prefix(info: &LockInfo) -> String {
    let json = info_json(&LockInfo {
        lease_until: None,
        ..info.clone()
    });
    json.strip_suffix("null}")
        .expect("lease_until is the last field")
        .to_string()
}

async fn on_hosts(
    ctx: &Context,
    hosts: &[Host],
    scripts: HashMap<String, String>,
) -> Vec<(Host, Result<String, HostStatus>)> {
    ctx.executor
        .script_each(hosts, ctx.forks, "lock", scripts)
        .await
}

fn status_reason(status: &HostStatus) -> String {
    match status {
        HostStatus::Unreachable(reason) => reason.clone(),
        HostStatus::Failed(f) => f.reason.clone(),
        HostStatus::Ok => String::new(),
    }
}

/// Take the lock on every host, waiting up to `wait` for another holder.
pub async fn acquire(
    ctx: &Arc<Context>,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    info: LockInfo,
    hold: Hold,
    wait: Option<Duration>,
) -> Result<LockGuard, LockError> {
    acquire_then(ctx, hosts, dirs, info, hold, wait, &HashMap::new())
        .await
        .map(|(guard, _)| guard)
}

/// [`acquire`], running each host's script of `then` in the same round trip
/// once its lock is taken; returns what each host left (see [`Read`]).
/// Held anywhere: nothing is kept (all or nothing). A host that could not be
/// reached, or not locked for another reason, is left out of the lock: the
/// guard never holds it and the run must not change it.
pub async fn acquire_then(
    ctx: &Arc<Context>,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    info: LockInfo,
    hold: Hold,
    wait: Option<Duration>,
    then: &HashMap<String, String>,
) -> Result<(LockGuard, HashMap<String, Read>), LockError> {
    let deadline = tokio::time::Instant::now() + wait.unwrap_or_default();
    let (locked, reads, taken_at) = loop {
        // The leases count from before the scripts that take them were sent.
        let sent = std::time::Instant::now();
        match try_acquire(ctx, hosts, dirs, &info, hold, then).await {
            Ok((locked, reads)) => break (locked, reads, sent),
            Err(LockError::Held { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let not_locked = hosts
        .iter()
        .filter_map(|h| match reads.get(&h.name) {
            Some(Read::NotLocked(status)) => Some((h.name.clone(), status.clone())),
            _ => None,
        })
        .collect();
    let renewals = Arc::new(Mutex::new(HashMap::new()));
    let renewer = match hold {
        Hold::Manual => tokio::spawn(async {}),
        Hold::Leased => tokio::spawn(lease::renew_forever(
            ctx.clone(),
            locked.clone(),
            dirs.clone(),
            info.run_id.clone(),
            leased_prefix(&info),
            renewals.clone(),
            taken_at,
        )),
    };
    let guard = LockGuard {
        run_id: info.run_id,
        locked,
        dirs: dirs.clone(),
        not_locked,
        renewals,
        renewer,
    };
    Ok((guard, reads))
}

async fn try_acquire(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    info: &LockInfo,
    hold: Hold,
    then: &HashMap<String, String>,
) -> Result<(Vec<Host>, HashMap<String, Read>), LockError> {
    let (manual, prefix) = (info_json(info), leased_prefix(info));
    let written = match hold {
        Hold::Manual => script::Info::Manual(&manual),
        Hold::Leased => script::Info::Leased(&prefix),
    };
    let scripts = hosts
        .iter()
        .map(|h| {
            let then = then.get(&h.name).map(String::as_str);
            let s = script::acquire(&dirs[&h.name], &info.run_id, written, then);
            (h.name.clone(), s)
        })
        .collect();
    let mut round = Round::default();
    for (host, result) in on_hosts(ctx, hosts, scripts).await {
        round.add(&host, result, &info.run_id);
    }
    // Every other holder a run that is gone: take their locks over. A live
    // lease anywhere: nothing is taken over, nothing kept.
    let others = &round.others;
    if hold == Hold::Leased
        && !others.is_empty()
        && others.iter().all(|(_, h)| takeover::expired(h))
    {
        let stale = std::mem::take(&mut round.others);
        takeover::take_over(ctx, &mut round, stale, dirs, info, written, then).await;
    }
    let Round {
        mut taken,
        give_back,
        reads,
        others,
    } = round;
    if others.is_empty() {
        release_on(ctx, &give_back, dirs, &info.run_id).await;
        return Ok((taken, reads));
    }
    // All or nothing: give back what was taken.
    taken.extend(give_back);
    release_on(ctx, &taken, dirs, &info.run_id).await;
    // Name a live holder first: that is the one to wait for.
    let named = others
        .iter()
        .find(|(_, h)| !h.is_stale())
        .unwrap_or(&others[0]);
    Err(LockError::Held {
        env: ctx.inventory.env_name.clone(),
        info: named.1.describe(),
        hosts: others
            .iter()
            .map(|(h, _)| h.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        stale: others.iter().all(|(_, h)| h.is_stale()),
    })
}

impl LockGuard {
    /// The hosts that were not locked, and why: never changed by this run.
    pub fn not_locked(&self) -> &[(String, HostStatus)] {
        &self.not_locked
    }

    /// The hosts locked by this run.
    pub fn locked(&self) -> &[Host] {
        &self.locked
    }

    /// Hosts whose lock this run lost (a renewal found another holder) or
    /// cannot count on (renewals unanswered past the lease), with why and
    /// how many renewals failed there.
    pub fn lost(&self) -> Vec<(String, String)> {
        self.lost_but(&HashSet::new())
    }

    /// [`LockGuard::lost`], but an unconfirmed lock on a host in
    /// `confirmed` (found still this run's since) counts as kept.
    fn lost_but(&self, confirmed: &HashSet<String>) -> Vec<(String, String)> {
        let renewals = self.renewals.lock().expect("renewals lock");
        let mut lost: Vec<(String, String)> = renewals
            .iter()
            .filter_map(|(host, r)| {
                let why = match (&r.lost, &r.unsure) {
                    (Some(why), _) => why.clone(),
                    (None, Some(why)) if !confirmed.contains(host) => {
                        format!("{why}; it could not be confirmed since")
                    }
                    _ => return None,
                };
                Some((
                    host.clone(),
                    format!("{why} ({} renewal(s) ok, {} failed)", r.renewed, r.failed),
                ))
            })
            .collect();
        lost.sort();
        lost
    }

    /// What a later read of the hosts' states may ask: the hosts still held
    /// (under the lock), never the others.
    pub fn reads(&self) -> HashMap<String, Read> {
        let lost: HashMap<String, String> = self.lost().into_iter().collect();
        let mut reads: HashMap<String, Read> = self
            .not_locked
            .iter()
            .map(|(h, status)| (h.clone(), Read::NotLocked(status.clone())))
            .collect();
        for host in &self.locked {
            let read = match lost.get(&host.name) {
                Some(why) => Read::NotLocked(HostStatus::Failed(Box::new(TaskFailure::plain(
                    &host.name,
                    "lock",
                    &format!("lost the lock: {why}"),
                )))),
                None => Read::Locked(None),
            };
            reads.insert(host.name.clone(), read);
        }
        reads
    }

    /// Leave the lock in place with no lease (a manual lock).
    pub fn keep(self) {
        self.renewer.abort();
    }

    /// Stop renewing and remove the lock where this run still holds it.
    /// Returns the hosts where the lock was lost during the run, and those
    /// where it could not be released.
    pub async fn release(self, ctx: &Context) -> Released {
        self.release_after(ctx, &HashMap::new()).await
    }

    /// [`LockGuard::release`], each host's script of `tails` first, in the
    /// same round trip (a deploy's last history lines and prune).
    pub async fn release_after(self, ctx: &Context, tails: &HashMap<String, String>) -> Released {
        self.renewer.abort();
        // A host whose connection was lost mid-run is given a short try only
        // (the executor's): a frozen one costs 2 s here, and its lease ends
        // the lock.
        let released = release_after_on(ctx, &self.locked, &self.dirs, &self.run_id, tails).await;
        // An unconfirmed lock found still this run's at its release was
        // never taken by another run (a take-over rewrites the holder).
        let lost = self.lost_but(&released.ours);
        Released {
            lost,
            kept: released.kept,
        }
    }
}

/// The switch was refused by its fence: the run no longer holds the lock.
pub fn is_lost(failure: &TaskFailure) -> bool {
    failure.exit == Some(ExitKind::Code(script::LOST_LOCK_EXIT))
}

/// A switch refused by its fence ([`script::fence`]) becomes "lost the lock".
pub fn lost_lock(mut failure: TaskFailure) -> TaskFailure {
    if is_lost(&failure) {
        let said = failure
            .stderr_tail
            .lines()
            .rev()
            .find(|l| l.starts_with("lost the lock"))
            .map(str::to_string);
        failure.reason = said.unwrap_or_else(|| "lost the lock: not changed".into());
    }
    failure
}

#[cfg(test)]
mod tests;
