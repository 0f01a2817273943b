//! What a deploy or rollback tells at its end: one line per host, the
//! summary, and the exit status they mean. Pure; the caller prints.

use std::time::Duration;

use crate::deploy::{HostResult, Outcome};
use crate::exit::ExitStatus;
use crate::machine::End;

/// The lines to print and the exit status.
pub(super) struct Summary {
    pub lines: Vec<String>,
    pub status: ExitStatus,
}

/// The per-host lines and the summary of a deploy or rollback, and the exit
/// status they mean. A host whose pipeline ended stranded is still on a
/// release that failed there: the fleet is on mixed releases (exit 3).
pub(super) fn summarize(results: &[HostResult], what: &str, elapsed: Duration) -> Summary {
    let mut lines = Vec::with_capacity(results.len() + 2);
    let (mut done, mut skipped, mut failed, mut unreachable, mut stranded) = (0, 0, 0, 0, 0);
    let (mut not_started, mut put_back) = (0, 0);
    // In `ferry rollback` going back is the work done; in a deploy, a host
    // put back after a stopped rollout is not deployed.
    let rollback = what.starts_with("rollback");
    for r in results {
        let line = match &r.outcome {
            Outcome::Deployed {
                release,
                previous,
                pruned,
            } => {
                done += 1;
                let was = previous
                    .as_ref()
                    .map(|p| format!(" (was {p})"))
                    .unwrap_or_default();
                let pruned = if pruned.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; pruned {}",
                        pruned
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                format!("deployed {release}{was}{pruned}")
            }
            Outcome::RolledBack { to, from } => {
                if rollback {
                    done += 1;
                } else {
                    put_back += 1;
                }
                let from = from
                    .as_ref()
                    .map(|f| format!(" from {f}"))
                    .unwrap_or_default();
                format!("rolled back to {to}{from}")
            }
            Outcome::Skipped { release } => {
                skipped += 1;
                format!("skipped: already on {release}")
            }
            Outcome::Failed {
                failure,
                current,
                end,
            } => {
                failed += 1;
                let on = current
                    .as_ref()
                    .map_or("nothing".to_string(), ToString::to_string);
                if *end == End::Stranded {
                    stranded += 1;
                }
                format!(
                    "FAILED, current: {on}\n    {}",
                    failure.to_string().replace('\n', "\n    ")
                )
            }
            Outcome::NotStarted => {
                not_started += 1;
                "not started".to_string()
            }
            Outcome::Unreachable(reason) => {
                unreachable += 1;
                format!("UNREACHABLE: {reason}")
            }
        };
        lines.push(format!("  {}: {line}", r.host));
    }
    let put_back = if put_back > 0 {
        format!("  rolled back {put_back}")
    } else {
        String::new()
    };
    lines.push(format!(
        "{what}: done {done}{put_back}  skipped {skipped}  failed {failed}  unreachable {unreachable}  not started {not_started}  ({} in {:.2}s)",
        crate::report::human::count(results.len(), "host"),
        elapsed.as_secs_f64()
    ));
    let status = if stranded > 0 {
        lines.push(format!(
            "{stranded} host(s) are still on the failed release: the fleet is on mixed releases"
        ));
        ExitStatus::RollbackFailed
    } else if failed + unreachable > 0 {
        ExitStatus::Failed
    } else {
        ExitStatus::Success
    };
    Summary { lines, status }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::TaskFailure;
    use crate::release::ReleaseId;

    fn id(s: &str) -> ReleaseId {
        ReleaseId::parse(s).unwrap()
    }

    fn failed(current: &str, end: End) -> Outcome {
        Outcome::Failed {
            failure: TaskFailure::plain("h", "health", "unhealthy"),
            current: Some(id(current)),
            end,
        }
    }

    /// The README's exit-code table, case by case: the outcomes of a run →
    /// its exit status.
    #[test]
    fn the_exit_status_of_every_mix_of_outcomes() {
        let deployed = Outcome::Deployed {
            release: id("r2"),
            previous: Some(id("r1")),
            pruned: Vec::new(),
        };
        let cases: Vec<(&str, Vec<Outcome>, ExitStatus)> = vec![
            (
                "every host deployed",
                vec![deployed.clone()],
                ExitStatus::Success,
            ),
            (
                "skipped and rolled back hosts alone fail nothing",
                vec![
                    Outcome::Skipped { release: id("r2") },
                    Outcome::RolledBack {
                        to: id("r1"),
                        from: Some(id("r2")),
                    },
                ],
                ExitStatus::Success,
            ),
            (
                "a failed host back on its release",
                vec![deployed.clone(), failed("r1", End::Restored)],
                ExitStatus::Failed,
            ),
            (
                "a host that failed before its switch",
                vec![failed("r1", End::FailedBeforeSwitch)],
                ExitStatus::Failed,
            ),
            (
                "an unreachable host",
                vec![deployed.clone(), Outcome::Unreachable("timeout".into())],
                ExitStatus::Failed,
            ),
            (
                "a failed host left on the new release: mixed",
                vec![failed("r1", End::Restored), failed("r2", End::Stranded)],
                ExitStatus::RollbackFailed,
            ),
            (
                "hosts not started alone fail nothing",
                vec![deployed, Outcome::NotStarted],
                ExitStatus::Success,
            ),
        ];
        for (what, outcomes, status) in cases {
            let results: Vec<HostResult> = outcomes
                .into_iter()
                .enumerate()
                .map(|(i, outcome)| HostResult {
                    host: format!("h{i}"),
                    outcome,
                })
                .collect();
            let summary = summarize(&results, "release r2", Duration::from_millis(1500));
            assert_eq!(summary.status, status, "{what}");
            assert!(
                summary.lines[results.len()].starts_with("release r2: done "),
                "{what}: {:?}",
                summary.lines
            );
        }
    }

    /// Hosts put back after a stopped rollout are not counted as done in
    /// a deploy's summary; in `ferry rollback`, going back is done.
    #[test]
    fn rolled_back_hosts_are_done_only_in_a_rollback() {
        let back = || HostResult {
            host: "h1".into(),
            outcome: Outcome::RolledBack {
                to: id("r1"),
                from: Some(id("r2")),
            },
        };
        let failed = HostResult {
            host: "h2".into(),
            outcome: Outcome::Unreachable("timeout".into()),
        };
        let results = [back(), failed];
        let deploy = summarize(&results, "release r2", Duration::from_millis(1500));
        assert_eq!(
            deploy.lines[2],
            "release r2: done 0  rolled back 1  skipped 0  failed 0  unreachable 1  not started 0  (2 hosts in 1.50s)"
        );
        let rollback = summarize(&[back()], "rollback", Duration::from_millis(1500));
        assert_eq!(
            rollback.lines[1],
            "rollback: done 1  skipped 0  failed 0  unreachable 0  not started 0  (1 host in 1.50s)"
        );
    }

    #[test]
    fn each_host_gets_one_line_saying_where_it_is() {
        let results = [
            HostResult {
                host: "h1".into(),
                outcome: Outcome::Deployed {
                    release: id("r2"),
                    previous: Some(id("r1")),
                    pruned: vec![id("r0")],
                },
            },
            HostResult {
                host: "h2".into(),
                outcome: failed("r2", End::Stranded),
            },
        ];
        let summary = summarize(&results, "release r2", Duration::from_millis(1500));
        assert_eq!(
            summary.lines,
            [
                "  h1: deployed r2 (was r1); pruned r0",
                "  h2: FAILED, current: r2\n    task `health` failed on h: unhealthy",
                "release r2: done 1  skipped 0  failed 1  unreachable 0  not started 0  (2 hosts in 1.50s)",
                "1 host(s) are still on the failed release: the fleet is on mixed releases",
            ]
        );
    }
}
