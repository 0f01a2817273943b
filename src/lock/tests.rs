//! Leases, answers and the lost-lock mapping.

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

pub(super) fn info(reason: &str) -> LockInfo {
    LockInfo {
        holder: "ci@runner".into(),
        run_id: "run1".into(),
        since: "t".into(),
        reason: reason.into(),
        lease_until: None,
    }
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
fn a_fenced_switch_says_it_lost_the_lock() {
    let mut failure = TaskFailure::plain("h1", "switch", "exit code 75");
    failure.exit = Some(ExitKind::Code(script::LOST_LOCK_EXIT));
    failure.stderr_tail =
        "lost the lock: its lease expired (lease_until 5, host clock 9); not changed".into();
    assert!(lost_lock(failure)
        .reason
        .starts_with("lost the lock: its lease expired"));
}
