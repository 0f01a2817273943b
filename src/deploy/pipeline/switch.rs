//! SWITCH `current`, and the steps that go with it in the same round trip
//! (`steps::fold`): a deploy's receive with nothing between it and the
//! switch (no `before_switch` task, no drain) carries the switch in its
//! script, and a switch with no `after_switch` task carries the first attempt
//! of its first health check when that runs on the host. The machine still
//! walks every step; a step sent ahead only hands over its result.

use crate::events::Event;
use crate::executor::TaskFailure;
use crate::machine::{Stage, Toward};
use crate::probe::{HealthCheck, Probe};
use crate::release::{EventKind, ReleaseId};
use crate::ssh::ExitKind;
use crate::steps::{fold, release as script, TIMEOUT_EXIT};

use super::{masked_line, receive, shown, Kind, Pipeline, Trail};

/// Results of steps sent ahead in an earlier step's script.
#[derive(Default)]
pub(super) struct Ahead {
    /// The switch to the new release, sent with the receive.
    pub switch: Option<Result<(), TaskFailure>>,
    /// The first attempt of the first health check, sent with the switch:
    /// `Err(why)` when it did not pass.
    pub check: Option<Result<(), String>>,
}

/// A switch as sent: its label, its script alone, and the whole script
/// with the health check's attempt after it.
struct Sent<'a> {
    label: &'static str,
    alone: String,
    script: String,
    check: Option<&'a HealthCheck>,
    to: &'a ReleaseId,
}

impl Pipeline<'_> {
    /// Upload, verify and unpack the release into `releases/<id>`; emitted.
    /// With `trail` (not while staging) the switch goes with it when nothing
    /// stands between them; its result waits in `trail.ahead`.
    pub(in crate::deploy) async fn receive(
        &self,
        trail: Option<&mut Trail>,
    ) -> Result<(), TaskFailure> {
        let (Kind::Deploy(d) | Kind::Revert(d)) = self.kind else {
            return Ok(());
        };
        // Its line names the run's artifact and release: `receiving a as r`.
        self.step_started(Stage::Receive, None);
        let then = match trail {
            Some(trail) if self.switch_goes_with_receive() => {
                self.switch_sent(Toward::New).map(|sent| (sent, trail))
            }
            _ => None,
        };
        let script = then.as_ref().map(|(sent, _)| sent.script.as_str());
        let sent = receive::artifact(
            self.exec,
            self.name(),
            self.session,
            &self.job.deploy_to,
            d,
            script,
        )
        .await;
        let received = match (sent, then) {
            (sent, None) => sent.map(|_| ()),
            (Ok(out), Some((switch, trail))) => {
                trail.ahead.switch = Some(Ok(()));
                trail.ahead.check = switch.check.and_then(|c| first_attempt(&out, c));
                Ok(())
            }
            (Err(failure), Some((switch, trail))) => {
                match fold::after_received(&failure.stderr_tail) {
                    // Received; the switch failed: its failure as if sent alone.
                    Some(said) => {
                        let failure = TaskFailure {
                            task: switch.label.into(),
                            command: switch.alone,
                            stderr_tail: said.to_string(),
                            ..failure
                        };
                        trail.ahead.switch = Some(Err(crate::lock::lost_lock(failure)));
                        Ok(())
                    }
                    None => Err(failure),
                }
            }
        };
        let what = shown::receive(&d.artifact.name, &d.release);
        self.step_finished(Stage::Receive, received.is_ok(), what);
        received
    }

    /// A deploy whose switch follows its receive with nothing between.
    fn switch_goes_with_receive(&self) -> bool {
        let job = self.job;
        matches!(self.kind, Kind::Deploy(_))
            && job.before.is_empty()
            && job.drain.is_empty()
            && job.drainer.is_none()
    }

    /// The health check whose first attempt goes with the switch toward
    /// `toward`: the first, when it is a command on the host and no
    /// `after_switch` task comes between.
    fn check_with_switch(&self, toward: Toward) -> Option<&HealthCheck> {
        let side = self.side(toward)?;
        let check = side.health.first()?;
        (side.after.is_empty() && matches!(check.probe, Probe::Command(_))).then_some(check)
    }

    /// Point `current` at the new release or back; fenced by the run's lock.
    pub(super) async fn switch(
        &self,
        toward: Toward,
        trail: &mut Trail,
    ) -> Result<(), TaskFailure> {
        let ahead = (toward == Toward::New)
            .then(|| trail.ahead.switch.take())
            .flatten();
        let to = if let Some(result) = ahead {
            result?;
            &self.job.new.release
        } else {
            let sent = self
                .switch_sent(toward)
                .ok_or_else(|| self.nothing_to_go_back_to())?;
            let out = self.script(sent.label, sent.script).await?;
            trail.ahead.check = sent.check.and_then(|c| first_attempt(&out, c));
            sent.to
        };
        self.switched(toward, to);
        Ok(())
    }

    fn nothing_to_go_back_to(&self) -> TaskFailure {
        TaskFailure::plain(self.name(), "roll back", "no previous release on this host")
    }

    /// The switch toward `toward` as it is sent; `None` toward a previous
    /// release the host does not have.
    fn switch_sent(&self, toward: Toward) -> Option<Sent<'_>> {
        let job = self.job;
        let run = self.kind.run();
        let (new, back) = (&job.new.release, job.back.as_ref().map(|s| &s.release));
        let (event, to) = match (toward, self.kind) {
            (Toward::New, Kind::Deploy(d)) => {
                let mut e = run.event(EventKind::Switched, new, back);
                e.sha256 = Some(d.artifact.sha256.clone());
                e.source_env.clone_from(&d.source_env);
                e.source_run.clone_from(&d.source_run);
                (e, new)
            }
            (Toward::New, _) => (run.event(EventKind::RolledBack, new, back), new),
            (Toward::Back, _) => (run.event(EventKind::RolledBack, back?, Some(new)), back?),
        };
        let line = masked_line(self.exec.printer().secrets(), &event);
        let label = if toward == Toward::Back {
            "switch back"
        } else {
            "switch"
        };
        let alone = script::switch(&job.deploy_to, to, &run.run_id, &line);
        let check = self.check_with_switch(toward);
        let script = match check {
            Some(check) => {
                let attempt = crate::probe::host_command(&check.probe, check.timeout);
                fold::then_check(&alone, &attempt.to_shell())
            }
            None => alone.clone(),
        };
        Some(Sent {
            label,
            alone,
            script,
            check,
            to,
        })
    }

    /// Say that `current` now points at `to`.
    fn switched(&self, toward: Toward, to: &ReleaseId) {
        let deploying = matches!(self.kind, Kind::Deploy(_)) && toward == Toward::New;
        let (host, batch, release) = (self.name().into(), self.batch, to.clone());
        self.ctx.reporter.emit(&if deploying {
            Event::Switched {
                host,
                batch,
                release,
            }
        } else {
            let failed = match (toward, self.kind) {
                (Toward::Back, Kind::Rollback(_)) => Some(self.job.new.release.clone()),
                _ => None,
            };
            Event::RolledBack {
                host,
                batch,
                release,
                failed,
            }
        });
    }
}

/// The first attempt of `check` from the output of the script that carried
/// it, as the health step would have judged it alone; `None` when its end is
/// not in the output (it is then made on its own).
fn first_attempt(out: &str, check: &HealthCheck) -> Option<Result<(), String>> {
    let (code, said) = fold::check_result(out)?;
    Some(match code {
        0 => Ok(()),
        _ if !said.trim().is_empty() => Err(said.to_string()),
        c if c == TIMEOUT_EXIT || c == 128 + 9 => Err(format!(
            "timed out after {:?} (killed on the host)",
            check.timeout
        )),
        c => Err(ExitKind::Code(c).to_string()),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_carried_attempt_is_judged_as_if_made_alone() {
        let check = HealthCheck {
            name: "page".into(),
            probe: Probe::Command("test -f x".into()),
            retries: 2,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        };
        let table: [(&str, Option<Result<(), String>>); 5] = [
            ("@@check-output\n@@check 0\n", Some(Ok(()))),
            (
                "@@check-output\nno page\n@@check 1\n",
                Some(Err("no page\n".into())),
            ),
            (
                "@@check-output\n@@check 1\n",
                Some(Err("exit status 1".into())),
            ),
            (
                "@@check-output\n@@check 124\n",
                Some(Err("timed out after 5s (killed on the host)".into())),
            ),
            ("@@check-output\n", None),
        ];
        for (out, judged) in table {
            assert_eq!(first_attempt(out, &check), judged, "{out:?}");
        }
    }
}
