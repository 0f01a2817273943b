//! The schema snapshot: one line per variant, compared whole with
//! `schema.snap.jsonl`. On a deliberate change, paste the printed text.

use super::*;

fn id(s: &str) -> ReleaseId {
    ReleaseId::parse(s).unwrap()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

/// One instance of every variant, in the order a run emits them.
#[allow(clippy::too_many_lines)] // one instance of every variant: a list, not logic
fn every_event() -> Vec<Event> {
    let host = || "web1".to_string();
    vec![
        Event::RunStarted {
            run_id: "20261201T010000Z-1a2b3".into(),
            command: names(&["ferry", "deploy", "production", "shop.tar.gz"]),
            user: "ci".into(),
            controller: "build1".into(),
            env: "production".into(),
            release: id("r1"),
            sha256: Sha256::parse(&"ab".repeat(32)).unwrap(),
            artifact: "shop.tar.gz".into(),
            source_env: Some("staging".into()),
            source_run: Some("20261130T120000Z-0c0c0".into()),
            hotfix: false,
            hosts: names(&["web1", "web2"]),
        },
        Event::RollbackStarted {
            run_id: "20261201T010000Z-1a2b3".into(),
            command: names(&["ferry", "rollback", "production"]),
            user: "ci".into(),
            controller: "build1".into(),
            env: "production".into(),
            to: Some(id("r0")),
            now: false,
            hosts: names(&["web1", "web2"]),
        },
        Event::TasksStarted {
            run_id: "20261201T010000Z-1a2b3".into(),
            command: names(&["ferry", "run", "production", "restart"]),
            user: "ci".into(),
            controller: "build1".into(),
            env: "production".into(),
            playbook: Some("playbooks/site.yml".into()),
            tasks: names(&["restart"]),
            hosts: names(&["web1", "web2"]),
        },
        Event::Plan {
            release: id("r1"),
            batches: vec![names(&["web1"]), names(&["web2"])],
            max_failures: 0,
            skipped: names(&["web3"]),
        },
        Event::StagingStarted {
            hosts: names(&["web1", "web2"]),
        },
        Event::StagingFinished,
        Event::BatchStarted {
            batch: 1,
            canary: true,
            hosts: names(&["web1"]),
        },
        Event::Reused {
            host: host(),
            batch: 1,
            release: id("r1"),
        },
        Event::StepStarted {
            host: host(),
            batch: 1,
            step: Stage::BeforeSwitch,
            release: None,
        },
        Event::StepFinished {
            host: host(),
            batch: 1,
            step: Stage::BeforeSwitch,
            ok: true,
            commands: names(&["migrate: ./bin/migrate"]),
            output: names(&["task `migrate`", "| 3 migrations applied"]),
        },
        Event::Switched {
            host: host(),
            batch: 1,
            release: id("r1"),
        },
        Event::StepStarted {
            host: host(),
            batch: 1,
            step: Stage::Health,
            release: Some(id("r1")),
        },
        Event::Healthy {
            host: host(),
            batch: 1,
            release: id("r1"),
        },
        Event::Unhealthy {
            host: host(),
            batch: 1,
            release: id("r1"),
        },
        Event::RolledBack {
            host: host(),
            batch: 1,
            release: id("r0"),
            failed: None,
        },
        Event::ProbeRetry {
            host: host(),
            kind: super::ProbeKind::WaitFor,
            probe: "drained".into(),
            attempt: 2,
            attempts: 61,
            retry_in_ms: 1000,
            reason: "exit status 1".into(),
        },
        Event::LockLost {
            host: host(),
            reason: "its renewal failed: connection reset".into(),
        },
        Event::LockTakenOver {
            host: host(),
            holder: "ci@gone".into(),
            run_id: "old-run".into(),
            since: "2026-01-01T00:00:00Z".into(),
        },
        Event::BatchFinished { batch: 1 },
        Event::SshTrips {
            host: host(),
            round_trips: 5,
            execs: 5,
        },
        Event::Paused {
            duration_ms: 30_000,
        },
        Event::Stopped {
            reason: "batch 1: web1 failed".into(),
            roll_back: names(&["web1"]),
        },
        Event::HostResult {
            host: host(),
            outcome: HostOutcome::Failed,
            current: Some("r0".into()),
            reason: Some("health: check `http` failed".into()),
        },
        Event::HostResult {
            host: "web2".into(),
            outcome: HostOutcome::NotStarted,
            current: None,
            reason: None,
        },
        Event::RunFinished {
            stopped: Some("batch 1: web1 failed".into()),
            interrupted: false,
            counts: Counts::from([
                (HostOutcome::Failed, 1),
                (HostOutcome::NotStarted, 1),
                (HostOutcome::Ok, 1),
            ]),
            duration_ms: 1234,
        },
    ]
}

/// Which variant: a new variant fails to compile here until it is added,
/// and then [`every_variant_is_in_the_snapshot`] until it has an instance.
fn variant(event: &Event) -> usize {
    match event {
        Event::RunStarted { .. } => 0,
        Event::Plan { .. } => 1,
        Event::StagingStarted { .. } => 2,
        Event::StagingFinished => 3,
        Event::BatchStarted { .. } => 4,
        Event::StepStarted { .. } => 5,
        Event::StepFinished { .. } => 6,
        Event::Switched { .. } => 7,
        Event::RolledBack { .. } => 8,
        Event::Healthy { .. } => 9,
        Event::Unhealthy { .. } => 10,
        Event::Stopped { .. } => 11,
        Event::BatchFinished { .. } => 12,
        Event::HostResult { .. } => 13,
        Event::RunFinished { .. } => 14,
        Event::LockLost { .. } => 15,
        Event::Reused { .. } => 16,
        Event::Paused { .. } => 17,
        Event::LockTakenOver { .. } => 18,
        Event::ProbeRetry { .. } => 19,
        Event::RollbackStarted { .. } => 20,
        Event::TasksStarted { .. } => 21,
        Event::SshTrips { .. } => 22,
    }
}

#[test]
fn every_variant_is_in_the_snapshot() {
    let mut seen: Vec<usize> = every_event().iter().map(variant).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, (0..=22).collect::<Vec<_>>());
}

#[test]
fn the_published_schema_is_pinned() {
    let text: String = every_event()
        .iter()
        .map(|e| e.line(1_764_550_800_000).to_string() + "\n")
        .collect();
    let expected = include_str!("schema.snap.jsonl");
    assert!(
        text == expected,
        "the ferry.events/1 schema changed; if on purpose, schema.snap.jsonl is now:\n{text}"
    );
}

#[test]
fn stages_are_named_by_their_labels() {
    let all = [
        Stage::Receive,
        Stage::BeforeSwitch,
        Stage::Drain,
        Stage::Switch,
        Stage::AfterSwitch,
        Stage::Health,
        Stage::Undrain,
        Stage::Prune,
    ];
    for stage in all {
        assert_eq!(serde_json::to_value(stage).unwrap(), stage.label());
    }
}
