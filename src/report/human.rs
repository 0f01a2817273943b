//! The terminal's text for an [`Event`]: pure, so the words a person reads
//! are tested by table without a run. The [`super::Reporter`] prints these
//! lines through the [`super::Printer`] (masked, control characters
//! escaped, host lines also in the host's log).

use crate::events::Event;
use crate::machine::Stage;
use crate::release::ReleaseId;

/// One line for the terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HumanLine {
    /// A line about the whole run.
    Run(String),
    /// A line about one host: `[host] text`, and in the host's log.
    Host { host: String, text: String },
}

/// What a line needs beyond its event: the run's artifact and release, as
/// its `run_started` told them (a receive step names them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub artifact: Option<String>,
    pub release: Option<ReleaseId>,
}

impl Seen {
    /// Remember what later lines name.
    pub fn note(&mut self, event: &Event) {
        if let Event::RunStarted {
            artifact, release, ..
        } = event
        {
            self.artifact = Some(artifact.clone());
            self.release = Some(release.clone());
        }
    }
}

/// The terminal lines for `event`, in order; most events print none (the
/// journal and `--output json` carry them).
pub fn human(event: &Event, seen: &Seen) -> Vec<HumanLine> {
    let run = |text: String| vec![HumanLine::Run(text)];
    match event {
        Event::RunStarted {
            run_id,
            env,
            release,
            sha256,
            artifact,
            hosts,
            ..
        } => run(format!(
            "deploying {artifact} (sha256 {}) as release {release} to {} hosts of {env} (run {run_id})",
            sha256.as_str().get(..12).unwrap_or(sha256.as_str()),
            hosts.len(),
        )),
        Event::Plan {
            release, skipped, ..
        } => skipped
            .iter()
            .map(|h| HumanLine::Host {
                host: h.clone(),
                text: format!("already on {release} (same sha256, healthy): skipped"),
            })
            .collect(),
        Event::StagingStarted { hosts } => {
            let release = seen.release.as_ref().map_or("the release", ReleaseId::as_str);
            run(format!("staging {release} on {} host(s)", hosts.len()))
        }
        Event::BatchStarted {
            batch,
            canary,
            hosts,
        } => {
            let label = if *canary { " (canary)" } else { "" };
            run(format!("batch {batch}{label}: {}", hosts.join(", ")))
        }
        Event::Stopped { reason, roll_back } => {
            let mut lines = run(format!("rollout stopped: {reason}"));
            if !roll_back.is_empty() {
                lines.push(HumanLine::Run(format!(
                    "rolling back {} host(s): {}",
                    roll_back.len(),
                    roll_back.join(", ")
                )));
            }
            lines
        }
        Event::Paused { duration_ms } => run(format!(
            "pause {:?} before the next batch",
            std::time::Duration::from_millis(*duration_ms)
        )),
        _ => host_line(event, seen).into_iter().collect(),
    }
}

/// `n noun`, the noun plural unless `n` is 1: "1 host", "3 hosts",
/// "2 batches".
#[must_use]
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if noun.ends_with("ch") || noun.ends_with('s') {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
    }
}

/// "pause 30s", or "no pause" for zero.
#[must_use]
pub fn pause(pause: std::time::Duration) -> String {
    if pause.is_zero() {
        "no pause".into()
    } else {
        format!("pause {pause:?}")
    }
}

/// The line of an event about one host, if it prints one.
fn host_line(event: &Event, seen: &Seen) -> Option<HumanLine> {
    let (host, text) = match event {
        Event::Reused { host, release, .. } => (
            host,
            format!("{release} is already current (same sha256) but not known healthy: reused"),
        ),
        Event::StepStarted {
            host,
            step: Stage::Receive,
            ..
        } => {
            let (artifact, release) = (seen.artifact.as_ref()?, seen.release.as_ref()?);
            (host, format!("receiving {artifact} as {release}"))
        }
        Event::Switched { host, release, .. } => (host, format!("current -> {release}")),
        Event::RolledBack {
            host,
            release,
            failed,
            ..
        } => {
            let why = match failed {
                Some(failed) => format!("back: {failed} failed on this host"),
                None => "rolled back".to_string(),
            };
            (host, format!("current -> {release} ({why})"))
        }
        Event::LockLost { host, reason } => (host, format!("lost the lock: {reason}")),
        Event::ProbeRetry {
            host,
            kind,
            probe,
            attempt,
            attempts,
            retry_in_ms,
            reason,
        } => {
            let what = match kind {
                crate::events::ProbeKind::WaitFor => "wait_for",
                crate::events::ProbeKind::Health => "health",
                crate::events::ProbeKind::Drain => "drain",
            };
            (
                host,
                format!(
                    "{what} `{probe}`: attempt {attempt} of {attempts} not yet ({}); again in {:?}",
                    first_line(reason),
                    std::time::Duration::from_millis(*retry_in_ms)
                ),
            )
        }
        // Listed, so a new event decides whether it prints.
        Event::RunStarted { .. }
        | Event::RollbackStarted { .. }
        | Event::TasksStarted { .. }
        | Event::Plan { .. }
        | Event::StagingStarted { .. }
        | Event::StagingFinished
        | Event::BatchStarted { .. }
        | Event::StepStarted { .. }
        | Event::StepFinished { .. }
        | Event::Healthy { .. }
        | Event::Unhealthy { .. }
        | Event::Stopped { .. }
        | Event::BatchFinished { .. }
        | Event::Paused { .. }
        // Said by the lock with the lease it found (a warning line).
        | Event::LockTakenOver { .. }
        | Event::SshTrips { .. }
        | Event::HostResult { .. }
        | Event::RunFinished { .. } => return None,
    };
    Some(HumanLine::Host {
        host: host.clone(),
        text,
    })
}

/// A probe's reason on one line (a command's stderr may have many).
fn first_line(reason: &str) -> &str {
    reason
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Sha256;
    use crate::events::{Counts, HostOutcome};

    fn id(s: &str) -> ReleaseId {
        ReleaseId::parse(s).unwrap()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn counts_are_singular_for_one() {
        for (n, noun, text) in [
            (0, "host", "0 hosts"),
            (1, "host", "1 host"),
            (1, "batch", "1 batch"),
            (2, "batch", "2 batches"),
            (1, "attempt", "1 attempt"),
            (3, "attempt", "3 attempts"),
        ] {
            assert_eq!(count(n, noun), text);
        }
        assert_eq!(pause(std::time::Duration::ZERO), "no pause");
        assert_eq!(pause(std::time::Duration::from_secs(30)), "pause 30s");
    }

    fn run(text: &str) -> HumanLine {
        HumanLine::Run(text.into())
    }

    fn on(host: &str, text: &str) -> HumanLine {
        HumanLine::Host {
            host: host.into(),
            text: text.into(),
        }
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a table: one row per event, not logic
    fn every_event_prints_what_the_terminal_shows() {
        let seen = Seen {
            artifact: Some("shop.tar.gz".into()),
            release: Some(id("r2")),
        };
        let h1 = || "h1".to_string();
        let table: Vec<(Event, Vec<HumanLine>)> = vec![
            (
                Event::RunStarted {
                    run_id: "run-1".into(),
                    command: names(&["ferry"]),
                    user: "ci".into(),
                    controller: "build1".into(),
                    env: "production".into(),
                    release: id("r2"),
                    sha256: Sha256::parse(&"ab".repeat(32)).unwrap(),
                    artifact: "shop.tar.gz".into(),
                    source_env: None,
                    source_run: None,
                    hotfix: false,
                    hosts: names(&["h1", "h2"]),
                },
                vec![run("deploying shop.tar.gz (sha256 abababababab) as release r2 to 2 hosts of production (run run-1)")],
            ),
            (
                Event::Plan {
                    release: id("r2"),
                    batches: vec![names(&["h1"])],
                    max_failures: 0,
                    skipped: names(&["h2", "h3"]),
                },
                vec![
                    on("h2", "already on r2 (same sha256, healthy): skipped"),
                    on("h3", "already on r2 (same sha256, healthy): skipped"),
                ],
            ),
            (
                Event::StagingStarted {
                    hosts: names(&["h1", "h2", "h3"]),
                },
                vec![run("staging r2 on 3 host(s)")],
            ),
            (Event::StagingFinished, vec![]),
            (
                Event::BatchStarted {
                    batch: 1,
                    canary: true,
                    hosts: names(&["h1"]),
                },
                vec![run("batch 1 (canary): h1")],
            ),
            (
                Event::BatchStarted {
                    batch: 2,
                    canary: false,
                    hosts: names(&["h2", "h3"]),
                },
                vec![run("batch 2: h2, h3")],
            ),
            (
                Event::StepStarted {
                    host: h1(),
                    batch: 1,
                    step: Stage::Receive,
                    release: None,
                },
                vec![on("h1", "receiving shop.tar.gz as r2")],
            ),
            (
                Event::StepStarted {
                    host: h1(),
                    batch: 1,
                    step: Stage::Drain,
                    release: None,
                },
                vec![],
            ),
            (
                Event::StepFinished {
                    host: h1(),
                    batch: 1,
                    step: Stage::Receive,
                    ok: true,
                    commands: vec![],
                    output: vec![],
                },
                vec![],
            ),
            (
                Event::Switched {
                    host: h1(),
                    batch: 1,
                    release: id("r2"),
                },
                vec![on("h1", "current -> r2")],
            ),
            (
                Event::RolledBack {
                    host: h1(),
                    batch: 0,
                    release: id("r1"),
                    failed: None,
                },
                vec![on("h1", "current -> r1 (rolled back)")],
            ),
            (
                Event::RolledBack {
                    host: h1(),
                    batch: 0,
                    release: id("r2"),
                    failed: Some(id("r1")),
                },
                vec![on("h1", "current -> r2 (back: r1 failed on this host)")],
            ),
            (
                Event::Healthy {
                    host: h1(),
                    batch: 1,
                    release: id("r2"),
                },
                vec![],
            ),
            (
                Event::Stopped {
                    reason: "batch 1: h1 failed".into(),
                    roll_back: vec![],
                },
                vec![run("rollout stopped: batch 1: h1 failed")],
            ),
            (
                Event::Stopped {
                    reason: "batch 2: h3 failed".into(),
                    roll_back: names(&["h1", "h2"]),
                },
                vec![
                    run("rollout stopped: batch 2: h3 failed"),
                    run("rolling back 2 host(s): h1, h2"),
                ],
            ),
            (Event::BatchFinished { batch: 1 }, vec![]),
            (
                Event::Paused {
                    duration_ms: 30_000,
                },
                vec![run("pause 30s before the next batch")],
            ),
            (
                Event::Paused { duration_ms: 1_500 },
                vec![run("pause 1.5s before the next batch")],
            ),
            (
                Event::Reused {
                    host: h1(),
                    batch: 1,
                    release: id("r2"),
                },
                vec![on(
                    "h1",
                    "r2 is already current (same sha256) but not known healthy: reused",
                )],
            ),
            (
                Event::LockLost {
                    host: h1(),
                    reason: "its renewal failed: reset".into(),
                },
                vec![on("h1", "lost the lock: its renewal failed: reset")],
            ),
            (
                Event::ProbeRetry {
                    host: h1(),
                    kind: crate::events::ProbeKind::Health,
                    probe: "http".into(),
                    attempt: 2,
                    attempts: 3,
                    retry_in_ms: 200,
                    reason: "\nHTTP status 503, expected 200\nmore".into(),
                },
                vec![on(
                    "h1",
                    "health `http`: attempt 2 of 3 not yet (HTTP status 503, expected 200); again in 200ms",
                )],
            ),
            (
                Event::HostResult {
                    host: h1(),
                    outcome: HostOutcome::Deployed,
                    current: Some("r2".into()),
                    reason: None,
                },
                vec![],
            ),
            (
                Event::RunFinished {
                    stopped: None,
                    interrupted: false,
                    counts: Counts::new(),
                    duration_ms: 1,
                },
                vec![],
            ),
        ];
        for (event, lines) in table {
            assert_eq!(human(&event, &seen), lines, "{event:?}");
        }
    }

    #[test]
    fn a_receive_before_the_run_is_known_prints_nothing() {
        let event = Event::StepStarted {
            host: "h1".into(),
            batch: 0,
            step: Stage::Receive,
            release: None,
        };
        assert_eq!(human(&event, &Seen::default()), vec![]);
        let mut seen = Seen::default();
        seen.note(&Event::RunStarted {
            run_id: "run-1".into(),
            command: vec![],
            user: "ci".into(),
            controller: "c".into(),
            env: "e".into(),
            release: id("r2"),
            sha256: Sha256::parse(&"ab".repeat(32)).unwrap(),
            artifact: "a.tgz".into(),
            source_env: None,
            source_run: None,
            hotfix: false,
            hosts: vec![],
        });
        assert_eq!(
            human(&event, &seen),
            vec![on("h1", "receiving a.tgz as r2")]
        );
    }
}
