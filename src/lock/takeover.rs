//! Taking over the lock of a run that is gone: its lease has expired by the
//! host's clock, so nothing renews it and no switch of its passes the fence
//! any more. The next run takes it over on the host, compare-and-swap on
//! the checksum it inspected ([`script::take_over`]), records it in the
//! host's history and in the run's output and journal, and goes on. A live
//! lease, a manual lock (no lease) or an unreadable info is never taken.

use std::collections::HashMap;

use super::round::Round;
use super::{on_hosts, script, Holder, LockInfo};
use crate::config::Host;
use crate::context::Context;
use crate::events::Event;
use crate::release::{EventKind, EventOutcome, HistoryEvent, ReleaseId};

/// A run's lock whose lease has expired by its host's clock.
pub(super) fn expired(holder: &Holder) -> bool {
    holder.info.as_ref().is_ok_and(|i| i.lease_until.is_some()) && holder.is_stale()
}

/// Why the lock is taken over, for the history's detail and the warning.
fn detail(holder: &Holder) -> String {
    let until = holder
        .info
        .as_ref()
        .ok()
        .and_then(|i| i.lease_until)
        .map_or_else(|| "none".into(), |u| u.to_string());
    let clock = holder
        .host_now
        .map_or_else(|| "unknown".into(), |n| n.to_string());
    format!(
        "took over the lock of {}: its lease had expired (lease_until {until}, host clock {clock}), that run is gone",
        holder.describe()
    )
}

/// The takeover's history line, cut where the host puts the release that
/// `current` points at: (JSON up to it, JSON after it).
fn history_parts(ctx: &Context, ours: &LockInfo, holder: &Holder) -> (String, String) {
    let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let by = ours
        .holder
        .rsplit_once('@')
        .map_or(ours.holder.as_str(), |(user, _)| user);
    let event = HistoryEvent {
        at,
        event: EventKind::LockTakenOver,
        release: ReleaseId::parse("x").expect("a valid id"),
        previous: None,
        sha256: None,
        by: by.to_string(),
        run_id: ours.run_id.clone(),
        env: ctx.inventory.env_name.clone(),
        outcome: EventOutcome::Ok,
        detail: detail(holder),
        source_env: None,
        source_run: None,
    };
    cut_at_release(&event)
}

/// `event` as JSON, without the value of its `release`.
fn cut_at_release(event: &HistoryEvent) -> (String, String) {
    let json = serde_json::to_string(event).expect("plain data");
    let field = format!("\"release\":\"{}\"", event.release);
    // A `"` inside a JSON string is escaped: the first `"release":"<id>"`
    // is the field itself.
    let (pre, post) = json.split_once(&field).expect("the release field");
    (format!("{pre}\"release\":\""), format!("\"{post}"))
}

/// Take over the expired leases in `stale` (every other holder found), and
/// sort the answers into `round`: taken over, or held still (changed since
/// it was inspected), or not locked.
pub(super) async fn take_over(
    ctx: &Context,
    round: &mut Round,
    stale: Vec<(Host, Holder)>,
    dirs: &HashMap<String, String>,
    ours: &LockInfo,
    written: script::Info<'_>,
    then: &HashMap<String, String>,
) {
    let hosts: Vec<Host> = stale.iter().map(|(h, _)| h.clone()).collect();
    let holders: HashMap<String, Holder> = stale
        .into_iter()
        .map(|(h, holder)| (h.name, holder))
        .collect();
    let scripts = hosts
        .iter()
        .map(|h| {
            let holder = &holders[&h.name];
            let (pre, post) = history_parts(ctx, ours, holder);
            let then = then.get(&h.name).map(String::as_str);
            let s = script::take_over(
                &dirs[&h.name],
                &ours.run_id,
                written,
                &holder.sum,
                (&pre, &post),
                then,
            );
            (h.name.clone(), s)
        })
        .collect();
    for (host, result) in on_hosts(ctx, &hosts, scripts).await {
        if round.add(&host, result, &ours.run_id) {
            announce(ctx, &host.name, &holders[&host.name]);
        }
    }
}

/// Say so: a warning line naming the host, the old holder and its run, and
/// the journal's `lock_taken_over`.
fn announce(ctx: &Context, host: &str, holder: &Holder) {
    ctx.executor
        .printer()
        .host_event(host, &format!("warning: {}", detail(holder)));
    if let Ok(info) = &holder.info {
        ctx.reporter.emit(&Event::LockTakenOver {
            host: host.to_string(),
            holder: info.holder.clone(),
            run_id: info.run_id.clone(),
            since: info.since.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(lease_until: Option<u64>, host_now: u64) -> Holder {
        Holder {
            info: Ok(LockInfo {
                holder: "ci@gone".into(),
                run_id: "old-run".into(),
                since: "t0".into(),
                reason: "deploy r0".into(),
                lease_until,
            }),
            host_now: Some(host_now),
            sum: "1 2".into(),
        }
    }

    #[test]
    fn the_host_puts_the_release_into_the_history_line() {
        let event = HistoryEvent {
            at: "t1".into(),
            event: EventKind::LockTakenOver,
            release: ReleaseId::parse("x").unwrap(),
            previous: None,
            sha256: None,
            by: "alice".into(),
            run_id: "run2".into(),
            env: "test".into(),
            outcome: EventOutcome::Ok,
            detail: "reason: \"release\":\"x\"".into(),
            source_env: None,
            source_run: None,
        };
        let (pre, post) = cut_at_release(&event);
        assert_eq!(pre, r#"{"at":"t1","event":"lock_taken_over","release":""#);
        let line = format!("{pre}r7{post}");
        let read: HistoryEvent = serde_json::from_str(&line).unwrap();
        assert_eq!(read.release.as_str(), "r7");
        assert_eq!(read.detail, event.detail);
    }

    #[test]
    fn only_an_expired_lease_is_taken_over() {
        assert!(expired(&holder(Some(5), 9)));
        assert!(!expired(&holder(Some(9), 5)));
        assert!(!expired(&holder(None, 9)));
        let unreadable = Holder {
            info: Err(String::new()),
            host_now: Some(9),
            sum: "- -".into(),
        };
        assert!(!expired(&unreadable));
        assert_eq!(
            detail(&holder(Some(5), 9)),
            "took over the lock of ci@gone (run old-run) since t0, reason: deploy r0: \
             its lease had expired (lease_until 5, host clock 9), that run is gone"
        );
    }
}
