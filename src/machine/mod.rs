//! DECIDE, per host: a deploy's (or a rollback's) pipeline as plain data.
//! The host is in a [`Phase`]; after each step the pure [`Machine::next`]
//! says what to do next ([`Action`]); the async pipeline only carries the
//! actions out. Every failure point and where it leads is in one table,
//! unit-tested below, and `ferry deploy`, a stopped batch's rollback and
//! `ferry rollback` all go back through the same switch-back path.

/// One step of a host's pipeline; serialised as its [`Stage::label`]
/// (`step` in the events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Receive,
    BeforeSwitch,
    Drain,
    Switch,
    AfterSwitch,
    Health,
    Undrain,
    Prune,
}

impl Stage {
    /// The label in journals and messages.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Receive => "receive",
            Stage::BeforeSwitch => "before_switch",
            Stage::Drain => "drain",
            Stage::Switch => "switch",
            Stage::AfterSwitch => "after_switch",
            Stage::Health => "health",
            Stage::Undrain => "undrain",
            Stage::Prune => "prune",
        }
    }
}

/// Which release a step is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toward {
    /// The release this run brings (a rollback's target).
    New,
    /// The release the host had (a deploy's previous, a rollback's origin).
    Back,
}

/// How a host's pipeline ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Switched, healthy and back in the load balancer.
    Done,
    /// Failed before its switch: `current` never moved.
    FailedBeforeSwitch,
    /// Failed after its switch and is back on the release it had.
    Restored,
    /// Failed after its switch and is still on the new release: going back
    /// failed, there was nothing to go back to, or `--rollback none` said so.
    Stranded,
    /// Never started: the run was interrupted or stopped before this host.
    NotStarted,
}

impl End {
    pub fn failed(self) -> bool {
        !matches!(self, End::Done)
    }
}

/// What the pipeline does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Run(Stage, Toward),
    /// Append a `failed` event for the new release to the host's history
    /// (a failed health check records itself).
    RecordFailure,
    Finish(End),
}

/// What the last action came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepResult {
    Ok,
    Failed,
    /// The switch found the run's lock gone or taken over: nothing more may
    /// change on this host.
    LostLock,
    /// The run was interrupted before this host started.
    Interrupted,
}

/// What a host's pipeline includes; fixed when its job is prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Four independent yes/no facts, each read by one rule of `next`; enums
// would name the same two values twice.
#[allow(clippy::struct_excessive_bools)]
pub struct Policy {
    /// Upload and unpack the release (not when staged or already live).
    pub receive: bool,
    /// Run `before_switch` (a deploy; a rollback has none).
    pub before_switch: bool,
    /// A release to go back to exists on the host.
    pub can_go_back: bool,
    /// Go back after a failure past the switch (not with `--rollback none`).
    pub roll_back: bool,
}

/// Where the host is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    New,
    Received,
    BeforeSwitchDone,
    Drained,
    Switched,
    AfterSwitchDone,
    Healthy,
    Undrained,
    /// Failed before the switch; `drained` while the host is still out of
    /// the load balancer, `recorded` once the failure is in its history.
    FailingBeforeSwitch {
        drained: bool,
        recorded: bool,
    },
    /// Failed after the switch; the failure is being recorded.
    RecordingAfterSwitch,
    /// A host that was done is being put back (a stopped rollout): it is
    /// drained first, whatever the drain says.
    Reverting,
    SwitchedBack,
    BackStarted,
    BackChecked,
    Ended(End),
}

/// A host's pipeline: its policy and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Machine {
    pub policy: Policy,
    pub phase: Phase,
    /// The stage whose failure sent the host back, if any.
    pub failed_at: Option<Stage>,
}

impl Machine {
    pub fn new(policy: Policy) -> Machine {
        Machine {
            policy,
            phase: Phase::New,
            failed_at: None,
        }
    }

    /// A host that finished on the new release, to be put back on the one
    /// it had because the rollout stopped.
    pub fn revert(policy: Policy) -> Machine {
        Machine {
            policy,
            phase: Phase::Reverting,
            failed_at: None,
        }
    }

    /// The first action.
    pub fn start(&mut self, interrupted: bool) -> Action {
        if self.phase == Phase::Reverting {
            return if self.policy.can_go_back {
                Action::Run(Stage::Drain, Toward::Back)
            } else {
                self.finish(End::Stranded)
            };
        }
        if interrupted {
            return self.finish(End::NotStarted);
        }
        self.forward_from(Phase::New)
    }

    /// Feed the result of the action just carried out; get the next one.
    pub fn next(&mut self, result: StepResult) -> Action {
        use Phase as P;
        use StepResult as R;
        let ok = result == R::Ok;
        match (self.phase, result) {
            (P::Ended(end), _) => Action::Finish(end),
            (P::New, _) if !ok => self.fail_before_switch(Stage::Receive, false),
            (P::Received, _) if !ok => self.fail_before_switch(Stage::BeforeSwitch, false),
            (P::BeforeSwitchDone, _) if !ok => self.fail_before_switch(Stage::Drain, true),
            // The host belongs to another run now: touch nothing more on it
            // (no undrain, no history line marking the release bad).
            (P::Drained, R::LostLock) => {
                self.failed_at = Some(Stage::Switch);
                self.finish(End::FailedBeforeSwitch)
            }
            (P::Drained, _) if !ok => self.fail_before_switch(Stage::Switch, true),
            (P::Switched, _) if !ok => {
                self.failed_at = Some(Stage::AfterSwitch);
                self.phase = P::RecordingAfterSwitch;
                Action::RecordFailure
            }
            (P::AfterSwitchDone, _) if !ok => self.fail_after_switch(Stage::Health),
            (P::Healthy, _) if !ok => self.fail_after_switch(Stage::Undrain),
            (P::New | P::Received | P::BeforeSwitchDone | P::Drained, _) => {
                let at = self.phase;
                self.forward_after(at)
            }
            (P::Switched, _) => self.go(P::AfterSwitchDone, Stage::Health, Toward::New),
            (P::AfterSwitchDone, _) => self.go(P::Healthy, Stage::Undrain, Toward::New),
            (P::Healthy, _) => self.go(P::Undrained, Stage::Prune, Toward::New),
            // A failed prune is only a warning: the host is done.
            (P::Undrained, _) => self.finish(End::Done),
            (P::RecordingAfterSwitch, _) => self.go_back(),
            // A drain that fails before going back is only a warning.
            (P::Reverting, _) => self.go(P::SwitchedBack, Stage::Switch, Toward::Back),
            (P::FailingBeforeSwitch { drained, recorded }, _) => {
                if drained {
                    self.phase = P::FailingBeforeSwitch {
                        drained: false,
                        recorded,
                    };
                    Action::Run(Stage::Undrain, Toward::Back)
                } else if !recorded {
                    self.phase = P::FailingBeforeSwitch {
                        drained: false,
                        recorded: true,
                    };
                    Action::RecordFailure
                } else {
                    self.finish(End::FailedBeforeSwitch)
                }
            }
            (P::SwitchedBack, _) if !ok => self.finish(End::Stranded),
            (P::SwitchedBack, _) => self.go(P::BackStarted, Stage::AfterSwitch, Toward::Back),
            // Once `current` is back, later trouble does not stop the way
            // back: the host ends on the release it had either way.
            (P::BackStarted, _) => self.go(P::BackChecked, Stage::Health, Toward::Back),
            (P::BackChecked, _) => {
                self.phase = P::Ended(End::Restored);
                Action::Run(Stage::Undrain, Toward::Back)
            }
        }
    }

    /// The end, once [`Action::Finish`] was returned.
    pub fn end(&self) -> Option<End> {
        match self.phase {
            Phase::Ended(end) => Some(end),
            _ => None,
        }
    }

    fn go(&mut self, phase: Phase, stage: Stage, toward: Toward) -> Action {
        self.phase = phase;
        Action::Run(stage, toward)
    }

    fn finish(&mut self, end: End) -> Action {
        self.phase = Phase::Ended(end);
        Action::Finish(end)
    }

    /// The next forward step from `at`, skipping what the policy leaves out.
    fn forward_from(&mut self, at: Phase) -> Action {
        match at {
            Phase::New if self.policy.receive => self.go(Phase::New, Stage::Receive, Toward::New),
            Phase::New => self.forward_from(Phase::Received),
            Phase::Received if self.policy.before_switch => {
                self.go(Phase::Received, Stage::BeforeSwitch, Toward::New)
            }
            Phase::Received => self.forward_from(Phase::BeforeSwitchDone),
            Phase::BeforeSwitchDone => self.go(at, Stage::Drain, Toward::New),
            _ => self.go(Phase::Drained, Stage::Switch, Toward::New),
        }
    }

    /// The step after the one run in `at` succeeded.
    fn forward_after(&mut self, at: Phase) -> Action {
        match at {
            Phase::New => self.forward_from(Phase::Received),
            Phase::Received => self.forward_from(Phase::BeforeSwitchDone),
            Phase::BeforeSwitchDone => self.forward_from(Phase::Drained),
            _ => self.go(Phase::Switched, Stage::AfterSwitch, Toward::New),
        }
    }

    fn fail_before_switch(&mut self, stage: Stage, drained: bool) -> Action {
        self.failed_at = Some(stage);
        self.phase = Phase::FailingBeforeSwitch {
            drained,
            recorded: false,
        };
        self.next(StepResult::Ok)
    }

    fn fail_after_switch(&mut self, stage: Stage) -> Action {
        self.failed_at = Some(stage);
        self.go_back()
    }

    fn go_back(&mut self) -> Action {
        if self.policy.roll_back && self.policy.can_go_back {
            self.go(Phase::SwitchedBack, Stage::Switch, Toward::Back)
        } else {
            self.finish(End::Stranded)
        }
    }
}

#[cfg(test)]
mod tests;
