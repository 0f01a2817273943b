//! EXECUTE one host's pipeline: the async half of [`crate::machine`]. The
//! machine decides every step; this only carries each one out over the
//! host's session, emits its events, and turns the end into an [`Outcome`].
//! A deploy, a stopped rollout's way back and `ferry rollback` all run here.

use crate::events::Event;
use crate::executor::{Executor, HostStatus, TaskFailure};
use crate::machine::{Action, End, Machine, Policy, Stage, StepResult, Toward};
use crate::probe::HealthCheck;
use crate::release::{EventKind, EventOutcome, HistoryEvent, ReleaseId};
use crate::render::Step;
use crate::secrets::Secrets;
use crate::ssh::Session;
use crate::steps::release as script;

mod drain;
mod receive;
mod shown;
mod switch;
mod tail;

pub(crate) use tail::Tails;

use super::jobs::{HostJob, Side};
use super::outcome::{outcome, Ended, RunKind};
use super::{Context, Deployment, Outcome, RunInfo};

/// What the run does to a host.
#[derive(Clone, Copy)]
pub(super) enum Kind<'a> {
    /// Ship the deployment's release.
    Deploy(&'a Deployment),
    /// A deployed host goes back to its previous release (a stopped rollout).
    Revert(&'a Deployment),
    /// `ferry rollback`: to an older release already on the host.
    Rollback(&'a RunInfo),
}

impl Kind<'_> {
    fn run(&self) -> &RunInfo {
        match self {
            Kind::Deploy(d) | Kind::Revert(d) => &d.run,
            Kind::Rollback(run) => run,
        }
    }
}

/// Received before the host's batch (staging): `Some(None)` when the
/// release is in place, `Some(Some(failure))` when staging failed.
pub(super) type StagedResult<'a> = Option<&'a Option<TaskFailure>>;

/// One host's pipeline in one run.
pub(super) struct Pipeline<'a> {
    pub exec: &'a Executor,
    pub ctx: &'a Context,
    pub session: &'a Session,
    pub job: &'a HostJob,
    pub kind: Kind<'a>,
    /// The batch, for its events (0: staging or outside batches).
    pub batch: usize,
    /// Where a done host's last history lines and prune go: into the run's
    /// lock release (the final batch: one round trip for all three), or,
    /// when `None`, one script of their own at the pipeline's end.
    pub tails: Option<&'a Tails>,
}

/// What happened on the way: the first failure (the cause) and the trouble
/// met after it.
#[derive(Default)]
pub(super) struct Trail {
    failure: Option<TaskFailure>,
    trouble: Vec<String>,
    pruned: Vec<ReleaseId>,
    /// History lines not written yet: a passed health check's, sent with
    /// the prune (and the unlock) in one script unless something else
    /// must reach the history first.
    pending: Vec<String>,
    /// Steps sent ahead in an earlier step's script.
    ahead: switch::Ahead,
}

impl Pipeline<'_> {
    fn name(&self) -> &str {
        &self.job.host.name
    }

    /// The machine's policy for this host.
    pub(super) fn policy(&self, staged: StagedResult, roll_back: bool) -> Policy {
        let deploy = matches!(self.kind, Kind::Deploy(_));
        Policy {
            receive: deploy && !self.job.live && !matches!(staged, Some(None)),
            before_switch: deploy,
            can_go_back: self.job.back.is_some(),
            roll_back,
        }
    }

    /// Carry out the machine's actions until it ends.
    pub(super) async fn run(
        &self,
        mut machine: Machine,
        staged: StagedResult<'_>,
        stop: bool,
    ) -> Outcome {
        let mut trail = Trail::default();
        let mut action = machine.start(stop);
        if let (Kind::Deploy(d), true, Action::Run(..)) = (self.kind, self.job.live, action) {
            self.ctx.reporter.emit(&Event::Reused {
                host: self.name().into(),
                batch: self.batch,
                release: d.release.clone(),
            });
        }
        loop {
            // Anything but the way to a done host's end writes history or
            // may: the pending lines go first, in their order.
            let on_the_way = matches!(
                action,
                Action::Run(Stage::Undrain | Stage::Prune, Toward::New) | Action::Finish(End::Done)
            );
            if !on_the_way && !trail.pending.is_empty() {
                let lines = std::mem::take(&mut trail.pending);
                self.send_tail(lines, Vec::new(), false).await;
            }
            let result = match action {
                Action::Finish(end) => {
                    if !trail.pending.is_empty() {
                        let lines = std::mem::take(&mut trail.pending);
                        self.send_tail(lines, Vec::new(), false).await;
                    }
                    return self.outcome(end, machine, trail);
                }
                Action::RecordFailure => {
                    self.record_failure(&machine, trail.failure.as_ref()).await;
                    StepResult::Ok
                }
                Action::Run(stage, toward) => match self
                    .step(stage, toward, staged, &mut trail)
                    .await
                {
                    Ok(()) => StepResult::Ok,
                    Err(failure) => {
                        let lost = crate::lock::is_lost(&failure);
                        if machine.phase == crate::machine::Phase::Reverting {
                            self.warn(&format!("drain before rollback failed: {}", failure.reason));
                        } else if trail.failure.is_none() {
                            trail.failure = Some(failure);
                        } else {
                            trail.trouble.push(format!(
                                "{} failed: {}",
                                failure.task,
                                failure.brief()
                            ));
                        }
                        if lost {
                            StepResult::LostLock
                        } else {
                            StepResult::Failed
                        }
                    }
                },
            };
            action = machine.next(result);
        }
    }

    fn side(&self, toward: Toward) -> Option<&Side> {
        match toward {
            Toward::New => Some(&self.job.new),
            Toward::Back => self.job.back.as_ref(),
        }
    }

    async fn step(
        &self,
        stage: Stage,
        toward: Toward,
        staged: StagedResult<'_>,
        trail: &mut Trail,
    ) -> Result<(), TaskFailure> {
        let job = self.job;
        let no_side =
            || TaskFailure::plain(self.name(), "roll back", "no previous release on this host");
        match stage {
            Stage::Receive => match staged {
                Some(Some(failure)) => Err(failure.clone()),
                _ => self.receive(Some(trail)).await,
            },
            Stage::BeforeSwitch => self.stage(stage, &job.before).await,
            Stage::Drain => match &job.drainer {
                Some(drainer) => self.provider(stage, drainer, true).await,
                None => self.stage(stage, &job.drain).await,
            },
            Stage::Undrain => match &job.drainer {
                Some(drainer) => self.provider(stage, drainer, false).await,
                None => self.stage(stage, &job.undrain).await,
            },
            Stage::AfterSwitch => {
                self.stage(stage, &self.side(toward).ok_or_else(no_side)?.after)
                    .await
            }
            Stage::Health => {
                let side = self.side(toward).ok_or_else(no_side)?;
                let forward = toward == Toward::New && matches!(self.kind, Kind::Deploy(_));
                let pending = forward.then_some(&mut trail.pending);
                let first = trail.ahead.check.take();
                let health = self
                    .health(&side.release, &side.health, pending, first)
                    .await;
                if !side.health.is_empty() {
                    self.step_finished(stage, health.is_ok(), shown::checks(&side.health));
                }
                health
            }
            // Emitted here, around the switch: the run's timeline shows it
            // (a switch to an older release is a rollback).
            Stage::Switch => {
                let to = self.side(toward).map(|s| &s.release);
                self.step_started(stage, to);
                let switched = self.switch(toward, trail).await;
                let what = shown::switch(&job.deploy_to, to);
                self.step_finished(stage, switched.is_ok(), what);
                switched
            }
            Stage::Prune => {
                let lines = std::mem::take(&mut trail.pending);
                trail.pruned = self.prune(lines).await;
                Ok(())
            }
        }
    }

    /// A stage of this host started; `release` only for health and switch.
    fn step_started(&self, step: Stage, release: Option<&ReleaseId>) {
        // The step's `output` starts here.
        drop(self.exec.printer().take_tail(self.name()));
        self.ctx.reporter.emit(&Event::StepStarted {
            host: self.name().into(),
            batch: self.batch,
            step,
            release: release.cloned(),
        });
    }

    fn step_finished(&self, step: Stage, ok: bool, commands: Vec<String>) {
        self.ctx.reporter.emit(&Event::StepFinished {
            host: self.name().into(),
            batch: self.batch,
            step,
            ok,
            commands,
            output: self.exec.printer().take_tail(self.name()),
        });
    }

    fn warn(&self, message: &str) {
        self.exec
            .printer()
            .host_event(self.name(), &format!("warning: {message}"));
    }

    /// Run a task list; emitted as a step.
    async fn stage(&self, stage: Stage, steps: &[Step]) -> Result<(), TaskFailure> {
        if steps.is_empty() {
            return Ok(());
        }
        self.step_started(stage, None);
        let failure = run_stage(self.exec, self.name(), self.session, steps).await;
        self.step_finished(stage, failure.is_none(), shown::tasks(steps));
        failure.map_or(Ok(()), Err)
    }

    async fn script(&self, label: &str, script: String) -> Result<String, TaskFailure> {
        self.exec
            .script(self.name(), self.session, label, script, None)
            .await
            .map_err(crate::lock::lost_lock)
    }

    /// Run the health checks of `release` (now current) and record the
    /// result: promote, resume and rollback read it. A pass is left in
    /// `pending` when given (written with the host's last script).
    async fn health(
        &self,
        release: &ReleaseId,
        checks: &[HealthCheck],
        pending: Option<&mut Vec<String>>,
        first: Option<Result<(), String>>,
    ) -> Result<(), TaskFailure> {
        if checks.is_empty() {
            return Ok(());
        }
        self.step_started(Stage::Health, Some(release));
        let result = self
            .exec
            .health(self.name(), self.session, checks, first)
            .await;
        let mut event = self.kind.run().event(EventKind::Health, release, None);
        if let Err(f) = &result {
            event.outcome = EventOutcome::Failed;
            event.detail = health_detail(self.exec.printer().secrets(), &f.reason, checks);
        }
        match (result.is_ok(), pending) {
            (true, Some(pending)) => {
                pending.push(masked_line(self.exec.printer().secrets(), &event));
            }
            _ => self.record(&event).await,
        }
        let (host, batch, release) = (self.name().into(), self.batch, release.clone());
        self.ctx.reporter.emit(&if result.is_ok() {
            Event::Healthy {
                host,
                batch,
                release,
            }
        } else {
            Event::Unhealthy {
                host,
                batch,
                release,
            }
        });
        result
    }

    /// `ferry verify`: only the health checks of the job's release, recorded.
    pub(super) async fn verify(&self) -> Result<(), TaskFailure> {
        self.health(&self.job.new.release, &self.job.new.health, None, None)
            .await
    }

    /// A failure of the new release on this host, with its reason: it is
    /// bad here for every later rollback.
    async fn record_failure(&self, machine: &Machine, failure: Option<&TaskFailure>) {
        let job = self.job;
        let back = job.back.as_ref().map(|s| &s.release);
        let mut event = self
            .kind
            .run()
            .event(EventKind::Failed, &job.new.release, back);
        event.outcome = EventOutcome::Failed;
        let reason = failure.map_or("", |f| f.reason.as_str());
        let detail = match machine.failed_at {
            Some(Stage::AfterSwitch) => format!("after_switch failed: {reason}"),
            _ => reason.to_string(),
        };
        // Masked before it is cut: a cut secret would no longer match.
        event.detail = self
            .exec
            .printer()
            .secrets()
            .mask(&detail)
            .chars()
            .take(500)
            .collect();
        self.record(&event).await;
    }

    /// Append `event` to the host's history, secrets masked; a failed append
    /// (disk full) is said, never silent: later runs decide from it.
    async fn record(&self, event: &HistoryEvent) {
        let line = masked_line(self.exec.printer().secrets(), event);
        let record = script::record(&self.job.deploy_to, &line);
        if let Err(failure) = self
            .exec
            .script(self.name(), self.session, "record", record, None)
            .await
        {
            // The event's name as the history file writes it (`failed`).
            let kind = serde_json::to_value(event.event)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            self.warn(&format!(
                "could not record the `{kind}` event of {} in the host's history: {}",
                event.release, failure.reason
            ));
        }
    }

    /// The machine's end as the report's outcome.
    fn outcome(&self, end: End, machine: Machine, trail: Trail) -> Outcome {
        let job = self.job;
        let kind = match self.kind {
            Kind::Deploy(_) => RunKind::Deploy,
            Kind::Revert(_) => RunKind::Revert,
            Kind::Rollback(_) => RunKind::Rollback,
        };
        let (outcome, warning) = outcome(Ended {
            host: self.name().to_string(),
            end,
            kind,
            new: job.new.release.clone(),
            back: job.back.as_ref().map(|s| s.release.clone()),
            current: job.state.current.clone(),
            roll_back: machine.policy.roll_back,
            failure: trail.failure,
            trouble: trail.trouble,
            pruned: trail.pruned,
        });
        if let Some(warning) = warning {
            self.warn(&warning);
        }
        outcome
    }
}

async fn run_stage(
    exec: &Executor,
    name: &str,
    session: &Session,
    steps: &[Step],
) -> Option<TaskFailure> {
    match exec.run_steps(name, Some(session), steps).await.status {
        HostStatus::Failed(failure) => Some(*failure),
        _ => None,
    }
}

/// A history line with secrets masked before serialising: the host's
/// history outlives the run, and a later `ferry history` cannot know them.
fn masked_line(secrets: &Secrets, event: &HistoryEvent) -> String {
    let value = serde_json::to_value(event).expect("plain data serializes");
    secrets.mask_json(&value).to_string()
}

/// A failed health check for the host's history: the check's name, not its
/// rendered probe (a command or URL may carry a secret of a var); masked
/// before it is cut, as a cut secret would no longer match.
fn health_detail(secrets: &Secrets, reason: &str, checks: &[HealthCheck]) -> String {
    let detail = checks.iter().fold(reason.to_string(), |text, c| {
        text.replace(&c.probe.describe(), &format!("check `{}`", c.name))
    });
    secrets.mask(&detail).chars().take(300).collect()
}
