//! Environment locks: a deploy, promote or rollback holds
//! `<deploy_to>/.ferry/lock` on every target host before it changes anything.
//! A run's lock carries a lease renewed while it lives, so a lock left by a
//! killed controller is recognisably stale; a manual lock (`ferry lock`) has
//! none and stays until `ferry unlock`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::Host;
use crate::deploy::Context;
use crate::executor::{HostStatus, TaskFailure};
use crate::ssh::ExitKind;
use crate::steps::lock as script;

/// How long a lease lasts without renewal (on the host's clock).
pub const LEASE: Duration = Duration::from_secs(script::LEASE_SECS);

/// How long one host may take to answer a renewal: a frozen host must not
/// hold up the renewal of the others past their lease.
const RENEW_TIMEOUT: Duration = Duration::from_secs(script::LEASE_SECS / 4);

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

/// A host's text, cut short and with control characters escaped.
fn shown(text: &str) -> String {
    if text.is_empty() {
        return "empty".into();
    }
    let cut: String = text.chars().take(120).collect();
    format!("{cut:?}")
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

/// Renewals of one host's lease.
#[derive(Clone, Debug, Default)]
struct Renewals {
    renewed: u32,
    failed: u32,
    /// Why this run no longer counts on its lock there.
    lost: Option<String>,
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

/// The first marker line of an answer and what follows it. Lines before it
/// (a login shell that prints) are skipped; whatever follows is data.
fn marker(out: &str) -> Option<(&str, &str)> {
    let mut rest = out;
    loop {
        let (line, after) = match rest.split_once('\n') {
            Some((line, after)) => (line, after),
            None => (rest, ""),
        };
        let line = line.trim_end_matches('\r');
        if line.starts_with("@@") {
            return Some((line, after));
        }
        if after.is_empty() {
            return None;
        }
        rest = after;
    }
}

/// An answer of [`script::acquire`] or [`script::show`].
#[derive(Debug)]
enum Answer {
    /// Taken by `run_id`; the output of `then` when it succeeded.
    Taken(Option<String>),
    Held(Holder),
    Free,
    Unrecognised,
}

fn parse_answer(out: &str, run_id: &str) -> Answer {
    let Some((line, rest)) = marker(out) else {
        return Answer::Unrecognised;
    };
    if line.strip_prefix(script::MARK_TAKEN) == Some(run_id) {
        let body = rest.trim_end_matches('\n');
        let (body, last) = body.rsplit_once('\n').unwrap_or(("", body));
        let ok = last.strip_prefix(script::MARK_THEN) == Some("0");
        return Answer::Taken(ok.then(|| body.to_string()));
    }
    if line == script::MARK_FREE {
        return Answer::Free;
    }
    let Some(fields) = line.strip_prefix(script::MARK_HELD) else {
        return Answer::Unrecognised;
    };
    let mut fields = fields.split(' ');
    let host_now = fields.next().and_then(|n| n.parse().ok());
    let sum = fields.collect::<Vec<_>>().join(" ");
    let raw = rest.lines().next().unwrap_or("");
    let info = serde_json::from_str::<LockInfo>(raw).map_err(|_| raw.to_string());
    Answer::Held(Holder {
        info,
        host_now,
        sum,
    })
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
    let (locked, reads) = loop {
        match try_acquire(ctx, hosts, dirs, &info, hold, then).await {
            Ok(taken) => break taken,
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
        Hold::Leased => tokio::spawn(renew_forever(
            ctx.clone(),
            locked.clone(),
            dirs.clone(),
            info.run_id.clone(),
            leased_prefix(&info),
            renewals.clone(),
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

/// Renew the lease on every host still held, each within [`RENEW_TIMEOUT`].
/// A host whose renewal fails, or finds the lock not ours, is lost: it is
/// not renewed again, and its lease runs out on its own clock, which the
/// switch's fence checks.
async fn renew_forever(
    ctx: Arc<Context>,
    hosts: Vec<Host>,
    dirs: HashMap<String, String>,
    run_id: String,
    prefix: String,
    renewals: Arc<Mutex<HashMap<String, Renewals>>>,
) {
    loop {
        tokio::time::sleep(LEASE / 3).await;
        let held: Vec<Host> = {
            let renewals = renewals.lock().expect("renewals lock");
            hosts
                .iter()
                .filter(|h| renewals.get(&h.name).is_none_or(|r| r.lost.is_none()))
                .cloned()
                .collect()
        };
        let scripts: Arc<HashMap<String, String>> = Arc::new(
            held.iter()
                .map(|h| {
                    let s = script::renew(&dirs[&h.name], &run_id, &prefix);
                    (h.name.clone(), s)
                })
                .collect(),
        );
        let answers = ctx
            .executor
            .each_host(
                held,
                ctx.forks,
                |_| true,
                move |exec, host, session| {
                    let scripts = scripts.clone();
                    async move {
                        let session = session.expect("each_host connects");
                        let renew = exec.script(
                            &host.name,
                            &session,
                            "renew lock",
                            scripts[&host.name].clone(),
                            None,
                        );
                        tokio::time::timeout(RENEW_TIMEOUT, renew).await
                    }
                },
            )
            .await;
        for (host, answer) in answers {
            let lost = match answer {
                Ok(Ok(Ok(out))) => renewal_lost(&out),
                Ok(Ok(Err(failure))) => Some(format!("its renewal failed: {}", failure.reason)),
                Ok(Err(_)) => Some(format!(
                    "its renewal got no answer within {RENEW_TIMEOUT:?}"
                )),
                Err(status) => Some(format!("its renewal failed: {}", status_reason(&status))),
            };
            let mut renewals = renewals.lock().expect("renewals lock");
            let entry = renewals.entry(host.name.clone()).or_default();
            match lost {
                None => entry.renewed += 1,
                Some(why) => {
                    entry.failed += 1;
                    ctx.executor
                        .printer()
                        .host_event(&host.name, &format!("lost the lock: {why}"));
                    ctx.journal.record(
                        "lock_lost",
                        serde_json::json!({ "host": host.name, "reason": why }),
                    );
                    entry.lost = Some(why);
                }
            }
        }
    }
}

/// `None` when renewed; why the lock is lost otherwise.
fn renewal_lost(out: &str) -> Option<String> {
    match marker(out) {
        Some((line, _)) if line.starts_with(script::MARK_RENEWED) => None,
        Some((line, rest)) if line == script::MARK_LOST => {
            let raw = rest.lines().next().unwrap_or("");
            Some(match serde_json::from_str::<LockInfo>(raw) {
                Ok(info) => format!("it is now held by {}", info.describe()),
                Err(_) if raw.is_empty() => "it was removed".into(),
                Err(_) => format!("its info is now {}", shown(raw)),
            })
        }
        _ => Some(format!(
            "unrecognised answer to its renewal: {}",
            shown(out)
        )),
    }
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
    let mut taken = Vec::new();
    // Taken or not, ours to give back if we cannot tell.
    let mut give_back = Vec::new();
    let mut reads = HashMap::new();
    let mut held: Vec<(String, Holder)> = Vec::new();
    for (host, result) in on_hosts(ctx, hosts, scripts).await {
        let read = match result.map(|out| (parse_answer(&out, &info.run_id), out)) {
            Ok((Answer::Taken(out), _)) => {
                taken.push(host.clone());
                Read::Locked(out)
            }
            Ok((Answer::Held(holder), _)) => {
                held.push((host.name.clone(), holder));
                continue;
            }
            Ok((Answer::Free | Answer::Unrecognised, out)) => {
                give_back.push(host.clone());
                let why = format!("unrecognised answer while taking the lock: {}", shown(&out));
                Read::NotLocked(HostStatus::Failed(Box::new(TaskFailure::plain(
                    &host.name, "lock", &why,
                ))))
            }
            Err(status) => Read::NotLocked(status),
        };
        reads.insert(host.name.clone(), read);
    }
    if held.is_empty() {
        release_on(ctx, &give_back, dirs, &info.run_id).await;
        return Ok((taken, reads));
    }
    // All or nothing: give back what was taken.
    taken.extend(give_back);
    release_on(ctx, &taken, dirs, &info.run_id).await;
    Err(LockError::Held {
        env: ctx.inventory.env_name.clone(),
        info: held[0].1.describe(),
        hosts: held
            .iter()
            .map(|(h, _)| h.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        stale: held.iter().all(|(_, h)| h.is_stale()),
    })
}

async fn release_on(ctx: &Context, hosts: &[Host], dirs: &HashMap<String, String>, run_id: &str) {
    if hosts.is_empty() {
        return;
    }
    let scripts = hosts
        .iter()
        .map(|h| (h.name.clone(), script::release(&dirs[&h.name], run_id)))
        .collect();
    on_hosts(ctx, hosts, scripts).await;
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

    /// Hosts whose lock this run lost (renewal failed or found another
    /// holder), with why and how many renewals failed there.
    pub fn lost(&self) -> Vec<(String, String)> {
        let renewals = self.renewals.lock().expect("renewals lock");
        let mut lost: Vec<(String, String)> = renewals
            .iter()
            .filter_map(|(host, r)| {
                r.lost.as_ref().map(|why| {
                    (
                        host.clone(),
                        format!("{why} ({} renewal(s) ok before)", r.renewed),
                    )
                })
            })
            .collect();
        lost.sort();
        lost
    }

    /// What a later read of the hosts' states may ask: the hosts still held
    /// (under the lock), never the others.
    pub fn reads(&self) -> HashMap<String, Read> {
        let lost = self.lost();
        let mut reads: HashMap<String, Read> = self
            .not_locked
            .iter()
            .map(|(h, status)| (h.clone(), Read::NotLocked(status.clone())))
            .collect();
        for host in &self.locked {
            let read = match lost.iter().find(|(h, _)| h == &host.name) {
                Some((_, why)) => Read::NotLocked(HostStatus::Failed(Box::new(
                    TaskFailure::plain(&host.name, "lock", &format!("lost the lock: {why}")),
                ))),
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
    /// Returns the hosts where the lock was lost during the run.
    pub async fn release(self, ctx: &Context) -> Vec<(String, String)> {
        self.renewer.abort();
        let lost = self.lost();
        release_on(ctx, &self.locked, &self.dirs, &self.run_id).await;
        lost
    }
}

/// What [`inspect`] found on a host.
#[derive(Clone, Debug)]
pub enum Found {
    Free,
    Held(Holder),
    /// Could not tell: unreachable, failed, or an answer ferry does not know.
    Unknown(String),
}

/// The locks found on the hosts.
pub async fn inspect(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
) -> Vec<(String, Found)> {
    let scripts = hosts
        .iter()
        .map(|h| (h.name.clone(), script::show(&dirs[&h.name])))
        .collect();
    on_hosts(ctx, hosts, scripts)
        .await
        .into_iter()
        .map(|(h, r)| {
            let found = match r {
                Err(status) => Found::Unknown(status_reason(&status)),
                // No run id is `@@taken` by a show.
                Ok(out) => match parse_answer(&out, "") {
                    Answer::Free => Found::Free,
                    Answer::Held(holder) => Found::Held(holder),
                    _ => Found::Unknown(format!("unrecognised answer: {}", shown(&out))),
                },
            };
            (h.name, found)
        })
        .collect()
}

/// What [`remove`] did on a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removed {
    Removed,
    /// The lock changed since it was inspected: left alone.
    Changed,
    /// No lock any more.
    Gone,
    Failed(String),
}

/// Remove the locks inspected (host → checksum of the info seen), whoever
/// holds them, but only where the lock is still the one inspected.
pub async fn remove(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    sums: &HashMap<String, String>,
) -> Vec<(String, Removed)> {
    let hosts: Vec<Host> = hosts
        .iter()
        .filter(|h| sums.contains_key(&h.name))
        .cloned()
        .collect();
    let scripts = hosts
        .iter()
        .map(|h| {
            let s = script::remove_if(&dirs[&h.name], &sums[&h.name]);
            (h.name.clone(), s)
        })
        .collect();
    on_hosts(ctx, &hosts, scripts)
        .await
        .into_iter()
        .map(|(h, r)| {
            let removed = match r {
                Err(status) => Removed::Failed(status_reason(&status)),
                Ok(out) => match marker(&out).map(|(line, _)| line) {
                    Some(script::MARK_REMOVED) => Removed::Removed,
                    Some(script::MARK_CHANGED) => Removed::Changed,
                    Some(script::MARK_GONE) => Removed::Gone,
                    _ => Removed::Failed(format!("unrecognised answer: {}", shown(&out))),
                },
            };
            (h.name, removed)
        })
        .collect()
}

/// A switch refused by its fence ([`script::fence`]) becomes "lost the lock".
pub fn lost_lock(mut failure: TaskFailure) -> TaskFailure {
    if failure.exit == Some(ExitKind::Code(script::LOST_LOCK_EXIT)) {
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
mod tests {
    use super::*;

    #[test]
    fn a_lease_goes_stale_a_manual_lock_never() {
        let mut info = LockInfo {
            holder: "ci@runner".into(),
            run_id: "r".into(),
            since: "t".into(),
            reason: String::new(),
            lease_until: Some(100),
        };
        assert!(!info.is_stale(99));
        assert!(info.is_stale(101));
        info.lease_until = None;
        assert!(!info.is_stale(u64::MAX));
    }

    fn info(reason: &str) -> LockInfo {
        LockInfo {
            holder: "ci@runner".into(),
            run_id: "run1".into(),
            since: "t".into(),
            reason: reason.into(),
            lease_until: None,
        }
    }

    #[test]
    fn a_reason_with_marker_text_stays_data() {
        let freeze = info_json(&info("freeze, ask @@taken-care-of team\n@@taken run2"));
        let out = format!("@@held 100 123 45\n{freeze}\n");
        let Answer::Held(holder) = parse_answer(&out, "run2") else {
            panic!("held expected")
        };
        assert_eq!(
            holder.info.unwrap().reason,
            "freeze, ask @@taken-care-of team\n@@taken run2"
        );
        assert_eq!(
            (holder.host_now, holder.sum.as_str()),
            (Some(100), "123 45")
        );
        // `@@taken` counts only as the whole marker line with this run's id.
        assert!(matches!(
            parse_answer("@@taken-care-of\n", "run2"),
            Answer::Unrecognised
        ));
        assert!(matches!(
            parse_answer("@@taken run1\n", "run2"),
            Answer::Unrecognised
        ));
        assert!(matches!(
            parse_answer("x @@taken run2\n", "run2"),
            Answer::Unrecognised
        ));
    }

    #[test]
    fn the_state_read_with_the_lock_follows_the_marker() {
        // A login shell's noise before the marker is skipped.
        let out = "welcome\n@@taken run1\n@@current releases/r1\n@@then 0\n";
        let Answer::Taken(Some(state)) = parse_answer(out, "run1") else {
            panic!("taken expected")
        };
        assert_eq!(state, "@@current releases/r1");
        // A failed `then` is not state, even when it printed a status line.
        let out = "@@taken run1\n@@then 0\n\n@@then 1\n";
        assert!(matches!(parse_answer(out, "run1"), Answer::Taken(None)));
        assert!(matches!(
            parse_answer("@@taken run1\n", "run1"),
            Answer::Taken(None)
        ));
    }

    #[test]
    fn unreadable_info_is_reported_as_such() {
        let Answer::Held(holder) = parse_answer("@@held 100 4294967295 0\n\n", "r") else {
            panic!("held expected")
        };
        assert!(holder.info.is_err());
        assert!(!holder.is_stale());
        let said = holder.describe();
        assert!(said.contains("info.json is unreadable (empty)"), "{said}");
        assert!(!said.contains("run ?"), "{said}");
    }

    #[test]
    fn a_lease_is_judged_by_the_hosts_clock() {
        let mut leased = info("deploy r1");
        leased.lease_until = Some(1_000);
        let held = |now| Holder {
            info: Ok(leased.clone()),
            host_now: Some(now),
            sum: String::new(),
        };
        assert!(!held(999).is_stale());
        assert!(held(1_001).is_stale());
    }

    #[test]
    fn the_host_completes_a_runs_info() {
        let prefix = leased_prefix(&info("r"));
        assert!(prefix.ends_with(",\"lease_until\":"), "{prefix}");
        let json = format!("{prefix}1234}}");
        assert_eq!(
            serde_json::from_str::<LockInfo>(&json).unwrap().lease_until,
            Some(1234)
        );
    }

    #[test]
    fn renewals_and_fences_say_why_the_lock_is_lost() {
        assert_eq!(renewal_lost("@@renewed 99\n"), None);
        assert_eq!(renewal_lost("@@lost\n\n").unwrap(), "it was removed");
        let other = info_json(&LockInfo {
            run_id: "run2".into(),
            ..info("deploy r9")
        });
        let why = renewal_lost(&format!("@@lost\n{other}\n")).unwrap();
        assert!(why.contains("now held by ci@runner (run run2)"), "{why}");
        let mut failure = TaskFailure::plain("h1", "switch", "exit code 75");
        failure.exit = Some(ExitKind::Code(script::LOST_LOCK_EXIT));
        failure.stderr_tail =
            "lost the lock: its lease expired (lease_until 5, host clock 9); not changed".into();
        assert!(lost_lock(failure)
            .reason
            .starts_with("lost the lock: its lease expired"));
    }
}
