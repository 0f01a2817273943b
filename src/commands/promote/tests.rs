//! Promote's gate by table: every problem of the source is named at once.

use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::config::Inventory;
use crate::executor::TaskFailure;
use crate::release::{EventOutcome, HistoryEvent, ReleaseMeta};

fn id(s: &str) -> ReleaseId {
    ReleaseId::parse(s).unwrap()
}

/// What a source host is like in a case.
#[derive(Clone, Copy)]
enum On {
    /// On the release, its last health check after the switch passed.
    Healthy(&'static str),
    /// On the release, its last health check failed.
    Unhealthy(&'static str),
    Unreachable,
    /// Its state could not be read.
    Unread,
    /// Nothing deployed.
    Empty,
}

fn state(on: On) -> Result<HostState, HostStatus> {
    let event = |kind, release: &str, ok| HistoryEvent {
        at: "2026-11-23T10:00:00Z".into(),
        event: kind,
        release: id(release),
        previous: None,
        sha256: None,
        by: "ci".into(),
        run_id: "run-1".into(),
        env: "staging".into(),
        outcome: if ok {
            EventOutcome::Ok
        } else {
            EventOutcome::Failed
        },
        detail: String::new(),
        source_env: None,
        source_run: None,
    };
    let (release, ok) = match on {
        On::Healthy(r) => (r, true),
        On::Unhealthy(r) => (r, false),
        On::Unreachable => return Err(HostStatus::Unreachable("connection refused".into())),
        On::Unread => {
            let failure = TaskFailure::plain("h", "inspect", "permission denied");
            return Err(HostStatus::Failed(Box::new(failure)));
        }
        On::Empty => return Ok(HostState::default()),
    };
    Ok(HostState {
        current: Some(id(release)),
        current_meta: Some(ReleaseMeta {
            id: id(release),
            artifact: format!("{release}.tar.gz"),
            sha256: Sha256::parse(&release.as_bytes()[1].to_string().repeat(32)).unwrap(),
            deployed_by: "ci".into(),
            deployed_at: "2026-11-23T10:00:00Z".into(),
            controller: "build1".into(),
            ferry_version: "0".into(),
            env: "staging".into(),
            run_id: "run-1".into(),
            source_env: None,
            source_run: None,
        }),
        on_disk: [id(release)].into_iter().collect(),
        history: vec![
            event(EventKind::Switched, release, true),
            event(EventKind::Health, release, ok),
        ],
    })
}

/// The gate's answer for hosts h1.. as `hosts` say: the refusal's text, or
/// `promote <release> from <host>`.
fn gate(hosts: &[On]) -> String {
    let names: Vec<String> = (1..=hosts.len()).map(|i| format!("h{i}: {{}}")).collect();
    let text = format!(
        "hosts:\n  {}\nvars: {{ deploy_to: /srv/app }}\n",
        names.join("\n  ")
    );
    let inventory = Inventory::load_from_str(Path::new("inventories/staging.yml"), &text).unwrap();
    let states: Vec<(Host, Result<HostState, HostStatus>)> = hosts
        .iter()
        .enumerate()
        .map(|(i, on)| {
            (
                inventory.host(&format!("h{}", i + 1)).unwrap().clone(),
                state(*on),
            )
        })
        .collect();
    let dirs: HashMap<String, String> = states
        .iter()
        .map(|(h, _)| (h.name.clone(), "/srv/app".to_string()))
        .collect();
    match uniform_and_healthy("staging", &states, &dirs) {
        Ok(source) => format!("promote {} from {}", source.release, source.host.name),
        Err(refusal) => refusal.to_string(),
    }
}

#[test]
fn every_problem_of_the_source_is_named_at_once() {
    let r1 = "r1";
    let cases: Vec<(&str, Vec<On>, &str)> = vec![
        (
            "uniform and healthy",
            vec![On::Healthy(r1), On::Healthy(r1)],
            "promote r1 from h1",
        ),
        (
            "mixed only",
            vec![On::Healthy("r2"), On::Healthy(r1), On::Healthy(r1)],
            "staging is mixed: most hosts run r1, but h1 on r2 (sha256 505050505050)",
        ),
        (
            "unhealthy only",
            vec![On::Healthy(r1), On::Unhealthy(r1)],
            "r1 is not healthy in staging: h2 (last health check failed)",
        ),
        (
            "unreachable only",
            vec![On::Healthy(r1), On::Unreachable],
            "staging has unreachable hosts: h2 (connection refused)",
        ),
        (
            "mixed, unhealthy, unreachable and empty: all four",
            vec![
                On::Unhealthy(r1),
                On::Healthy(r1),
                On::Healthy("r2"),
                On::Unreachable,
                On::Empty,
            ],
            "staging cannot be promoted (4 problems):\n  \
             staging is mixed: most hosts run r1, but h3 on r2 (sha256 505050505050)\n  \
             r1 is not healthy in staging: h1 (last health check failed)\n  \
             staging has unreachable hosts: h4 (connection refused)\n  \
             staging cannot be read whole: h5: no release",
        ),
        (
            "a host whose state could not be read",
            vec![On::Unread, On::Healthy(r1)],
            "staging cannot be read whole: h1: permission denied",
        ),
        (
            "nothing answers",
            vec![On::Unreachable],
            "staging has unreachable hosts: h1 (connection refused)",
        ),
    ];
    for (what, hosts, want) in cases {
        assert_eq!(gate(&hosts), want, "{what}");
    }
}
