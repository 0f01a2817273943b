//! Release ids, bad releases, previous, prune and rollback targets, by example.

use super::*;

fn id(s: &str) -> ReleaseId {
    ReleaseId::parse(s).unwrap()
}

fn event(kind: EventKind, release: &str, previous: Option<&str>, outcome: &str) -> HistoryEvent {
    HistoryEvent {
        at: "2026-11-23T10:00:00Z".into(),
        event: kind,
        release: id(release),
        previous: previous.map(id),
        sha256: None,
        by: "ci".into(),
        run_id: "run".into(),
        env: "test".into(),
        outcome: if outcome == "ok" {
            EventOutcome::Ok
        } else {
            EventOutcome::Failed
        },
        detail: String::new(),
        source_env: None,
        source_run: None,
    }
}

fn state(current: &str, disk: &[&str], history: Vec<HistoryEvent>) -> HostState {
    HostState {
        current: Some(id(current)),
        current_meta: None,
        on_disk: disk.iter().map(|s| id(s)).collect(),
        history,
    }
}

#[test]
fn ids_are_validated_before_they_become_paths() {
    assert!(ReleaseId::parse("r42").is_ok());
    assert!(ReleaseId::parse("shop-1.4_rc1").is_ok());
    for bad in [
        "",
        ".",
        "..",
        "a/b",
        "../etc",
        "a b",
        "x;rm",
        &"a".repeat(65),
    ] {
        assert!(ReleaseId::parse(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(
        ReleaseId::derive("shop 1.4.tar.gz", "3fa2c1d9aaaa")
            .unwrap()
            .as_str(),
        "shop-1.4-3fa2c1d9"
    );
}

#[test]
fn previous_follows_the_history_not_names() {
    use EventKind::*;
    let s = state(
        "b",
        &["a", "b", "z"],
        vec![
            event(Switched, "z", None, "ok"),
            event(Switched, "a", Some("z"), "ok"),
            event(Switched, "b", Some("a"), "ok"),
        ],
    );
    assert_eq!(s.previous(), Some(id("a")));
    assert_eq!(rollback_target(&s, None), Ok(id("a")));
    assert_eq!(rollback_target(&s, Some(&id("z"))), Ok(id("z")));
    assert_eq!(
        rollback_target(&s, Some(&id("q"))),
        Err(RollbackError::Missing(id("q")))
    );
}

#[test]
fn a_rolled_back_release_is_bad_and_skipped() {
    use EventKind::*;
    let s = state(
        "a",
        &["z", "a", "b", "c"],
        vec![
            event(Switched, "z", None, "ok"),
            event(Switched, "a", Some("z"), "ok"),
            event(Switched, "b", Some("a"), "ok"),
            event(RolledBack, "a", Some("b"), "ok"),
            event(Failed, "c", Some("a"), "failed"),
        ],
    );
    assert_eq!(s.bad(), [id("b"), id("c")].into_iter().collect());
    assert_eq!(s.previous(), Some(id("z")));
}

/// Each way a release becomes bad on a host, and what clears it.
#[test]
fn bad_releases_by_table() {
    use EventKind::*;
    let base = || {
        vec![
            event(Switched, "a", None, "ok"),
            event(Switched, "b", Some("a"), "ok"),
        ]
    };
    let cases: Vec<(&str, Vec<HistoryEvent>, &[&str])> = vec![
        ("nothing happened", vec![], &[]),
        (
            "deploy failed",
            vec![event(Failed, "c", Some("b"), "failed")],
            &["c"],
        ),
        (
            "health failed",
            vec![event(Health, "b", None, "failed")],
            &["b"],
        ),
        (
            "health failed, then passed",
            vec![
                event(Health, "b", None, "failed"),
                event(Health, "b", None, "ok"),
            ],
            &[],
        ),
        (
            "rolled back from",
            vec![event(RolledBack, "a", Some("b"), "ok")],
            &["b"],
        ),
        (
            "rollback target failed its health check, host went back",
            vec![
                event(RolledBack, "a", Some("b"), "ok"),
                event(Health, "a", None, "failed"),
                event(RolledBack, "b", Some("a"), "ok"),
            ],
            &["a"],
        ),
        (
            "a fix-forward deploy does not clear an older bad release",
            vec![
                event(Health, "a", None, "failed"),
                event(Switched, "c", Some("b"), "ok"),
            ],
            &["a"],
        ),
        (
            "deployed again: a fresh attempt",
            vec![
                event(Failed, "c", Some("b"), "failed"),
                event(Switched, "c", Some("b"), "ok"),
            ],
            &[],
        ),
    ];
    for (what, more, want) in cases {
        let mut history = base();
        history.extend(more);
        let s = state("b", &["a", "b", "c"], history);
        let want: BTreeSet<ReleaseId> = want.iter().map(|r| id(r)).collect();
        assert_eq!(s.bad(), want, "{what}");
    }
}

/// The issue's scenario: a rollback to `a` failed its health check and
/// the host went back to `b`; a fix-forward `c` is deployed; the next
/// rollback must go to `b`, never to the failed `a`.
#[test]
fn rollback_never_lands_on_a_release_that_failed_its_health_check() {
    use EventKind::*;
    let s = state(
        "c",
        &["a", "b", "c"],
        vec![
            event(Switched, "a", None, "ok"),
            event(Switched, "b", Some("a"), "ok"),
            event(RolledBack, "a", Some("b"), "ok"),
            event(Health, "a", None, "failed"),
            event(RolledBack, "b", Some("a"), "ok"),
            event(Switched, "c", Some("b"), "ok"),
        ],
    );
    assert_eq!(rollback_target(&s, None), Ok(id("b")));
    let s = state(
        "b",
        &["a", "b"],
        vec![
            event(Switched, "a", None, "ok"),
            event(Switched, "b", Some("a"), "ok"),
            event(RolledBack, "a", Some("b"), "ok"),
            event(Health, "a", None, "failed"),
            event(RolledBack, "b", Some("a"), "ok"),
        ],
    );
    assert_eq!(
        rollback_target(&s, None),
        Err(RollbackError::NoPrevious {
            current: Some(id("b"))
        })
    );
}

#[test]
fn no_previous_is_an_error() {
    let s = state(
        "a",
        &["a"],
        vec![event(EventKind::Switched, "a", None, "ok")],
    );
    assert_eq!(
        rollback_target(&s, None),
        Err(RollbackError::NoPrevious {
            current: Some(id("a"))
        })
    );
}

#[test]
fn prune_keeps_newest_and_protects_current_previous_and_good() {
    use EventKind::*;
    let names = ["r1", "r2", "r3", "r4", "r5", "r6", "r7"];
    let mut history = vec![
        event(Switched, "r1", None, "ok"),
        event(Health, "r1", None, "ok"),
    ];
    for w in names.windows(2) {
        history.push(event(Switched, w[1], Some(w[0]), "ok"));
    }
    let s = state("r7", &names, history);
    // r1 is the last release that passed a health check: kept.
    assert_eq!(s.prune(3), vec![id("r2"), id("r3"), id("r4"), id("r5")]);
}

#[test]
fn prune_takes_bad_releases_first() {
    use EventKind::*;
    let s = state(
        "r3",
        &["r1", "r2", "r3", "rx"],
        vec![
            event(Switched, "r1", None, "ok"),
            event(Switched, "r2", Some("r1"), "ok"),
            event(Switched, "r3", Some("r2"), "ok"),
            event(Failed, "rx", Some("r3"), "failed"),
        ],
    );
    assert_eq!(s.prune(3), vec![id("rx")]);
}

/// A lock taken over says nothing about any release: not bad, not good,
/// not a switch, not an age (issue 12).
#[test]
fn a_lock_takeover_is_ignored_by_every_decision() {
    use EventKind::*;
    let history = vec![
        event(Switched, "r1", None, "ok"),
        event(Switched, "r2", Some("r1"), "ok"),
        event(Failed, "r3", Some("r2"), "failed"),
        event(Switched, "r4", Some("r2"), "ok"),
    ];
    let plain = state("r4", &["r0", "r1", "r2", "r3", "r4"], history.clone());
    for taken_over in [
        event(LockTakenOver, "r3", None, "ok"),
        event(LockTakenOver, "r0", None, "failed"),
        event(LockTakenOver, "r1", None, "ok"),
    ] {
        let mut with = plain.clone();
        with.history.insert(0, taken_over.clone());
        with.history.push(taken_over);
        assert_eq!(with.bad(), plain.bad());
        assert_eq!(with.previous(), plain.previous());
        assert_eq!(with.last_good(), plain.last_good());
        assert_eq!(with.prune(2), plain.prune(2));
    }
    // Nor the age of a release: the oldest still goes first.
    let names = ["ra", "rb", "r4", "r5"];
    let mut history: Vec<HistoryEvent> = names
        .iter()
        .map(|r| event(Switched, r, None, "ok"))
        .collect();
    history.insert(0, event(LockTakenOver, "rb", None, "ok"));
    assert_eq!(state("r5", &names, history).prune(3), vec![id("ra")]);
    assert_eq!(
        serde_json::to_value(LockTakenOver).unwrap(),
        "lock_taken_over"
    );
}

/// The history's outcome field keeps its on-disk text; a value ferry
/// never writes reads as failed, so it cannot make a release good.
#[test]
fn history_outcomes_are_ok_or_failed_on_disk() {
    let line = |outcome: &str| {
        format!(
            r#"{{"at":"t","event":"health","release":"r1","by":"ci","run_id":"x","env":"e","outcome":"{outcome}"}}"#
        )
    };
    for (text, outcome) in [("ok", EventOutcome::Ok), ("failed", EventOutcome::Failed)] {
        let event: HistoryEvent = serde_json::from_str(&line(text)).unwrap();
        assert_eq!(event.outcome, outcome);
        assert_eq!(serde_json::to_string(&event).unwrap(), line(text));
        assert_eq!(outcome.to_string(), text);
    }
    let odd: HistoryEvent = serde_json::from_str(&line("maybe")).unwrap();
    assert_eq!(odd.outcome, EventOutcome::Failed);
    let s = state("r0", &["r0", "r1"], vec![odd]);
    assert!(s.bad().contains(&id("r1")));
}

/// Metadata with a bad sha256 is unreadable (the host has "no release"
/// for promote); a history event keeps everything but the bad field.
#[test]
fn a_bad_sha256_from_a_host_is_never_kept() {
    let meta = r#"{"id":"r1","artifact":"a.tar","sha256":"/../x","deployed_by":"ci","deployed_at":"t","controller":"c","ferry_version":"0","env":"e","run_id":"x"}"#;
    assert!(serde_json::from_str::<ReleaseMeta>(meta).is_err());
    let event = r#"{"at":"t","event":"failed","release":"r1","sha256":"abc","by":"ci","run_id":"x","env":"e","outcome":"failed"}"#;
    let event: HistoryEvent = serde_json::from_str(event).unwrap();
    assert_eq!(event.sha256, None);
    let good = format!(
        r#"{{"at":"t","event":"failed","release":"r1","sha256":"{}","by":"ci","run_id":"x","env":"e","outcome":"failed"}}"#,
        "0".repeat(64)
    );
    let event: HistoryEvent = serde_json::from_str(&good).unwrap();
    assert_eq!(event.sha256.as_deref(), Some("0".repeat(64).as_str()));
}

#[test]
fn current_health_is_the_newest_result_since_the_last_switch() {
    use EventKind::{Health, RolledBack, Switched};
    let ok = Some(EventOutcome::Ok);
    let failed = Some(EventOutcome::Failed);
    // (history, current_health of r2)
    let table: Vec<(Vec<HistoryEvent>, Option<EventOutcome>)> = vec![
        (vec![event(Switched, "r2", None, "ok")], None),
        (
            vec![
                event(Switched, "r2", None, "ok"),
                event(Health, "r2", None, "ok"),
            ],
            ok,
        ),
        // A later verify that failed wins over the deploy's pass, and back.
        (
            vec![
                event(Switched, "r2", None, "ok"),
                event(Health, "r2", None, "ok"),
                event(Health, "r2", None, "failed"),
            ],
            failed,
        ),
        (
            vec![
                event(Switched, "r2", None, "ok"),
                event(Health, "r2", None, "failed"),
                event(Health, "r2", None, "ok"),
            ],
            ok,
        ),
        // Results from before r2 last became current, or of another release, do not count.
        (
            vec![
                event(Switched, "r2", None, "ok"),
                event(Health, "r2", None, "ok"),
                event(Switched, "r1", Some("r2"), "ok"),
                event(Health, "r1", None, "ok"),
                event(RolledBack, "r2", Some("r1"), "ok"),
            ],
            None,
        ),
    ];
    for (history, want) in table {
        let s = state("r2", &["r1", "r2"], history.clone());
        assert_eq!(s.current_health(), want, "{history:?}");
    }
}

/// The time `status` shows as SWITCHED: the switch or rollback that landed
/// on `current` last, by table (a failed deploy after it, a health check,
/// or a switch to another release do not move it).
#[test]
fn the_last_switch_is_the_one_that_landed_on_current() {
    let at = |mut e: HistoryEvent, at: &str| {
        e.at = at.into();
        e
    };
    let cases: Vec<(&str, &str, Vec<HistoryEvent>, Option<&str>)> = vec![
        ("no history", "r1", vec![], None),
        (
            "one deploy",
            "r1",
            vec![at(event(EventKind::Switched, "r1", None, "ok"), "t1")],
            Some("t1"),
        ),
        (
            "a rollback back to r1",
            "r1",
            vec![
                at(event(EventKind::Switched, "r1", None, "ok"), "t1"),
                at(event(EventKind::Switched, "r2", Some("r1"), "ok"), "t2"),
                at(event(EventKind::RolledBack, "r1", Some("r2"), "ok"), "t3"),
            ],
            Some("t3"),
        ),
        (
            "a failed deploy and a health check after it",
            "r1",
            vec![
                at(event(EventKind::Switched, "r1", None, "ok"), "t1"),
                at(event(EventKind::Failed, "r2", Some("r1"), "failed"), "t2"),
                at(event(EventKind::Health, "r1", None, "ok"), "t3"),
            ],
            Some("t1"),
        ),
        (
            "a switch that failed",
            "r1",
            vec![
                at(event(EventKind::Switched, "r1", None, "ok"), "t1"),
                at(event(EventKind::Switched, "r1", None, "failed"), "t2"),
            ],
            Some("t1"),
        ),
    ];
    for (what, current, history, want) in cases {
        let s = state(current, &["r1", "r2"], history);
        assert_eq!(s.last_switch().map(|e| e.at.as_str()), want, "{what}");
    }
}
