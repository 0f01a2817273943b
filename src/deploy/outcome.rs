//! DECIDE how a host's pipeline is reported: the machine's end, with what
//! failed on the way, becomes the one [`Outcome`] every report reads. Pure.

use crate::executor::TaskFailure;
use crate::machine::End;
use crate::release::ReleaseId;

use super::{failed_before, Outcome};

/// Which kind of run the pipeline was part of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RunKind {
    Deploy,
    /// A stopped rollout putting a done host back.
    Revert,
    /// `ferry rollback`.
    Rollback,
}

/// Everything known when a host's pipeline ended.
pub(super) struct Ended {
    pub host: String,
    pub end: End,
    pub kind: RunKind,
    /// Where the run took the host.
    pub new: ReleaseId,
    /// Where a failure takes it back to.
    pub back: Option<ReleaseId>,
    /// `current` before the run.
    pub current: Option<ReleaseId>,
    /// Failures past the switch go back (not `--rollback none`).
    pub roll_back: bool,
    /// The first failure: the cause.
    pub failure: Option<TaskFailure>,
    /// What failed after the cause.
    pub trouble: Vec<String>,
    pub pruned: Vec<ReleaseId>,
}

/// The host's outcome, and a warning to show when the way back met trouble.
pub(super) fn outcome(e: Ended) -> (Outcome, Option<String>) {
    let trouble = (!e.trouble.is_empty()).then(|| e.trouble.join("; "));
    // Only a way back that never started has no failure of its own: a host
    // with nothing to go back to.
    let mut failure = e.failure.unwrap_or_else(|| {
        TaskFailure::plain(&e.host, "roll back", "no previous release to go back to")
    });
    let (new, back) = (e.new, e.back);
    let again = |back: &Option<ReleaseId>, t: &str| {
        let on = back.as_ref().map_or(String::new(), ToString::to_string);
        format!("on {on} again, but {t}")
    };
    match (e.end, e.kind) {
        (End::NotStarted, _) => (Outcome::NotStarted, None),
        (End::Done, RunKind::Deploy) => (
            Outcome::Deployed {
                release: new,
                previous: back,
                pruned: e.pruned,
            },
            None,
        ),
        (End::Done, _) => (
            Outcome::RolledBack {
                to: new,
                from: back,
            },
            None,
        ),
        (End::FailedBeforeSwitch, _) => {
            if let Some(t) = trouble {
                failure.reason = format!("{}; then {t}", failure.reason);
            }
            (failed_before(failure, e.current), None)
        }
        (End::Restored, RunKind::Revert) => {
            let warning = trouble.map(|t| again(&back, &t));
            let to = back.unwrap_or_else(|| new.clone());
            (
                Outcome::RolledBack {
                    to,
                    from: Some(new),
                },
                warning,
            )
        }
        (End::Restored, kind) => {
            let marked = if kind == RunKind::Rollback {
                format!("; {new} is marked bad here")
            } else {
                String::new()
            };
            let on = back.as_ref().map_or(String::new(), ToString::to_string);
            failure.reason = format!("{}{marked}; back on {on}", failure.reason);
            let warning = trouble.map(|t| {
                failure.reason = format!("{}, but: {t}", failure.reason);
                again(&back, &t)
            });
            let outcome = Outcome::Failed {
                failure,
                current: back,
                end: e.end,
            };
            (outcome, warning)
        }
        (End::Stranded, kind) => {
            if kind == RunKind::Revert {
                // Putting a done host back: the failed switch back is the
                // cause, or there was nothing to go back to.
                if back.is_none() {
                    failure.reason = format!("{}; left on {new}", failure.reason);
                }
            } else {
                let why = if !e.roll_back {
                    format!("left on {new} (--rollback none)")
                } else if back.is_none() {
                    "no previous release to go back to".to_string()
                } else {
                    format!(
                        "putting the previous release back failed too: {}",
                        trouble.unwrap_or_default()
                    )
                };
                failure.reason = format!("{}; {why}", failure.reason);
            }
            let outcome = Outcome::Failed {
                failure,
                current: Some(new),
                end: e.end,
            };
            (outcome, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ReleaseId {
        ReleaseId::parse(s).unwrap()
    }

    fn ended(end: End, kind: RunKind, failed: bool, trouble: &[&str]) -> Ended {
        Ended {
            host: "h1".into(),
            end,
            kind,
            new: id("r2"),
            back: Some(id("r1")),
            current: Some(id("r1")),
            roll_back: true,
            failure: failed.then(|| TaskFailure::plain("h1", "health", "unhealthy")),
            trouble: trouble.iter().map(ToString::to_string).collect(),
            pruned: Vec::new(),
        }
    }

    /// (end, kind) → (the outcome's kind, where the host is, its reason).
    #[test]
    #[allow(clippy::too_many_lines)] // a table: one row per end, not logic
    fn each_end_is_reported_by_table() {
        use RunKind::{Deploy, Revert, Rollback};
        let cases: Vec<(Ended, &str, Option<&str>, &str)> = vec![
            (
                ended(End::Done, Deploy, false, &[]),
                "deployed",
                Some("r2"),
                "",
            ),
            (
                ended(End::Done, Rollback, false, &[]),
                "rolled_back",
                Some("r2"),
                "",
            ),
            (
                ended(End::NotStarted, Deploy, false, &[]),
                "not_started",
                None,
                "",
            ),
            (
                ended(
                    End::FailedBeforeSwitch,
                    Deploy,
                    true,
                    &["undrain failed: x"],
                ),
                "failed",
                Some("r1"),
                "unhealthy; then undrain failed: x",
            ),
            (
                ended(End::Restored, Deploy, true, &[]),
                "failed",
                Some("r1"),
                "unhealthy; back on r1",
            ),
            (
                ended(End::Restored, Rollback, true, &[]),
                "failed",
                Some("r1"),
                "unhealthy; r2 is marked bad here; back on r1",
            ),
            (
                ended(End::Restored, Deploy, true, &["health failed: down"]),
                "failed",
                Some("r1"),
                "unhealthy; back on r1, but: health failed: down",
            ),
            (
                ended(End::Restored, Revert, false, &[]),
                "rolled_back",
                Some("r1"),
                "",
            ),
            (
                Ended {
                    back: None,
                    ..ended(End::Stranded, Revert, false, &[])
                },
                "failed",
                Some("r2"),
                "no previous release to go back to; left on r2",
            ),
            (
                ended(End::Stranded, Deploy, true, &["switch failed: gone"]),
                "failed",
                Some("r2"),
                "unhealthy; putting the previous release back failed too: switch failed: gone",
            ),
            (
                Ended {
                    roll_back: false,
                    ..ended(End::Stranded, Deploy, true, &[])
                },
                "failed",
                Some("r2"),
                "unhealthy; left on r2 (--rollback none)",
            ),
        ];
        for (e, kind, on, reason) in cases {
            let what = format!("{:?} {:?}", e.end, e.kind);
            let (outcome, _) = outcome(e);
            let (got_kind, got_on, got_reason) = match &outcome {
                Outcome::Deployed { release, .. } => {
                    ("deployed", Some(release.to_string()), String::new())
                }
                Outcome::RolledBack { to, .. } => {
                    ("rolled_back", Some(to.to_string()), String::new())
                }
                Outcome::NotStarted => ("not_started", None, String::new()),
                Outcome::Failed {
                    failure, current, ..
                } => (
                    "failed",
                    current.as_ref().map(ToString::to_string),
                    failure.reason.clone(),
                ),
                other => panic!("{what}: {other:?}"),
            };
            assert_eq!(got_kind, kind, "{what}");
            assert_eq!(got_on.as_deref(), on, "{what}");
            assert_eq!(got_reason, reason, "{what}");
            assert_eq!(
                outcome.end() == End::Stranded,
                on == Some("r2") && kind == "failed",
                "{what}"
            );
        }
    }
}
