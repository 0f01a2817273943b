//! The record every changing run leaves (issue 15): `deploy`, `promote`,
//! `rollback` and `run` open the same journal and host logs under
//! `<log dir>/<run id>/`, honour `--output json`, and notify the same
//! webhook, from the one [`AuditSettings`] their shared flags make.

use crate::deploy::{HostResult, Outcome, RunInfo};
use crate::events::HostOutcome;
use crate::failure::Failure;
use crate::journal::Journal;
use crate::notify::Notification;
use crate::release::ReleaseId;
use crate::report::{CaseResult, HostEnd, Reporter};
use crate::settings::{AuditSettings, OutputFormat};

/// Open the run's journal (a journal that cannot be written is a warning,
/// never a failure), switch stdout to events with `--output json`, and aim
/// the notifications at `--notify`, else the inventory's `notify`.
pub(super) fn open(
    reporter: &mut Reporter,
    audit: &AuditSettings,
    run: &RunInfo,
    inventory_notify: Option<&String>,
) {
    let (journal, problem) = Journal::create(&audit.log_dir, &run.run_id);
    if let Some(problem) = problem {
        reporter.printer().note(&format!("warning: {problem}"));
    }
    reporter.open(journal, audit.output == OutputFormat::Json);
    reporter.notify_to(audit.notify.clone().or_else(|| inventory_notify.cloned()));
}

/// The `started` notification of a run.
pub(super) async fn notify_started(
    reporter: &Reporter,
    command: &'static str,
    run: &RunInfo,
    release: Option<&ReleaseId>,
    text: &str,
) {
    reporter
        .notify(
            text,
            &Notification::Started {
                command,
                env: run.env.clone(),
                release: release.cloned(),
                run_id: run.run_id.clone(),
                by: run.deployer.clone(),
            },
        )
        .await;
}

/// The log folder, once the run has ended, and with `--report run.html`
/// the run's timeline from its now complete journal.
pub(super) fn report_dir(reporter: &Reporter, audit: &AuditSettings) -> Result<(), Failure> {
    if let Some(dir) = reporter.dir() {
        reporter
            .printer()
            .note(&format!("run log: {}", dir.display()));
    }
    match &audit.timeline {
        Some(page) => super::report::timeline(reporter.dir(), page, reporter.printer()),
        None => Ok(()),
    }
}

fn outcome_fields(outcome: &Outcome) -> (HostOutcome, Option<String>, Option<String>) {
    match outcome {
        Outcome::Deployed { release, .. } => {
            (HostOutcome::Deployed, Some(release.to_string()), None)
        }
        Outcome::Skipped { release } => (HostOutcome::Skipped, Some(release.to_string()), None),
        Outcome::RolledBack { to, .. } => (HostOutcome::RolledBack, Some(to.to_string()), None),
        Outcome::Failed {
            failure, current, ..
        } => (
            HostOutcome::Failed,
            current.as_ref().map(ToString::to_string),
            Some(failure.to_string()),
        ),
        Outcome::Unreachable(reason) => (HostOutcome::Unreachable, None, Some(reason.clone())),
        Outcome::NotStarted => (HostOutcome::NotStarted, None, None),
    }
}

/// How a host of a deploy or rollback ended, for its `host_result` event
/// and `JUnit` case. In a `ferry rollback` going back is the work done; in
/// a deploy, a host put back after a stopped rollout did not deploy.
pub(super) fn host_end(r: &HostResult, rollback: bool) -> HostEnd {
    let (outcome, current, reason) = outcome_fields(&r.outcome);
    HostEnd {
        host: r.host.clone(),
        outcome,
        current,
        reason,
        result: case_result(&r.outcome, rollback),
    }
}

/// A host's `JUnit` case: a host the rollout never started is skipped.
fn case_result(outcome: &Outcome, rollback: bool) -> CaseResult {
    let failed = |step: &str, message: String, details: String| CaseResult::Failed {
        step: step.into(),
        message,
        details,
    };
    match outcome {
        Outcome::Failed { failure, .. } => {
            failed(&failure.task, failure.reason.clone(), failure.to_string())
        }
        Outcome::Unreachable(reason) => failed("connect", reason.clone(), reason.clone()),
        Outcome::RolledBack { .. } if rollback => CaseResult::Passed,
        Outcome::RolledBack { to, .. } => failed(
            "rollout",
            format!("rolled back to {to}: the rollout stopped"),
            String::new(),
        ),
        Outcome::NotStarted => CaseResult::Skipped {
            message: "not started: the rollout stopped".into(),
        },
        Outcome::Deployed { .. } | Outcome::Skipped { .. } => CaseResult::Passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::TaskFailure;
    use crate::machine::End;

    /// Each outcome → its `JUnit` case, in a deploy and in a rollback.
    #[test]
    fn every_outcome_has_its_junit_case() {
        let id = |s: &str| ReleaseId::parse(s).unwrap();
        let failure = TaskFailure::plain("h", "health", "unhealthy");
        let cases: Vec<(Outcome, bool, &str)> = vec![
            (
                Outcome::Deployed {
                    release: id("r2"),
                    previous: None,
                    pruned: Vec::new(),
                },
                false,
                "passed",
            ),
            (Outcome::Skipped { release: id("r2") }, false, "passed"),
            (Outcome::NotStarted, false, "skipped"),
            (Outcome::NotStarted, true, "skipped"),
            (
                Outcome::RolledBack {
                    to: id("r1"),
                    from: None,
                },
                false,
                "failed",
            ),
            (
                Outcome::RolledBack {
                    to: id("r1"),
                    from: None,
                },
                true,
                "passed",
            ),
            (Outcome::Unreachable("timeout".into()), true, "failed"),
            (
                Outcome::Failed {
                    failure,
                    current: None,
                    end: End::Restored,
                },
                false,
                "failed",
            ),
        ];
        for (outcome, rollback, want) in cases {
            let got = match case_result(&outcome, rollback) {
                CaseResult::Passed => "passed",
                CaseResult::Failed { .. } => "failed",
                CaseResult::Skipped { .. } => "skipped",
            };
            assert_eq!(got, want, "{outcome:?} (rollback: {rollback})");
        }
    }
}
