//! Every failure point of a host's pipeline, by table.

use super::*;
use Action::{Finish, RecordFailure, Run};
use Stage::*;
use Toward::{Back, New};

const DEPLOY: Policy = Policy {
    receive: true,
    before_switch: true,
    can_go_back: true,
    roll_back: true,
};

/// An action and the result it gets.
type Failing = (Action, StepResult);

/// Run a machine to its end; the actions in `failing` get their result,
/// every other action succeeds. Returns every action taken.
fn drive(policy: Policy, interrupted: bool, failing: &[Failing]) -> Vec<Action> {
    run(Machine::new(policy), interrupted, failing)
}

fn run(mut m: Machine, interrupted: bool, failing: &[Failing]) -> Vec<Action> {
    let mut actions = vec![m.start(interrupted)];
    while let Some(&last) = actions.last() {
        if let Finish(_) = last {
            break;
        }
        let result = failing
            .iter()
            .find(|(a, _)| *a == last)
            .map_or(StepResult::Ok, |(_, r)| *r);
        actions.push(m.next(result));
        assert!(actions.len() < 40, "no end: {actions:?}");
    }
    actions
}

#[test]
// One table, one row per failure point: read best whole, not split.
#[allow(clippy::too_many_lines)]
fn every_failure_point_by_table() {
    use StepResult::{Failed, LostLock};
    let forward = [
        Run(Receive, New),
        Run(BeforeSwitch, New),
        Run(Drain, New),
        Run(Switch, New),
        Run(AfterSwitch, New),
        Run(Health, New),
        Run(Undrain, New),
        Run(Prune, New),
    ];
    let back = [
        Run(Switch, Back),
        Run(AfterSwitch, Back),
        Run(Health, Back),
        Run(Undrain, Back),
        Finish(End::Restored),
    ];
    let early_end = [
        Run(Undrain, Back),
        RecordFailure,
        Finish(End::FailedBeforeSwitch),
    ];
    let no_rollback = Policy {
        roll_back: false,
        ..DEPLOY
    };
    let nothing_before = Policy {
        can_go_back: false,
        ..DEPLOY
    };
    let no_receive = Policy {
        receive: false,
        ..DEPLOY
    };
    let rollback = Policy {
        receive: false,
        before_switch: false,
        ..DEPLOY
    };
    let cases: Vec<(&str, Policy, Vec<Failing>, Vec<Action>)> = vec![
        (
            "all well",
            DEPLOY,
            vec![],
            [&forward[..], &[Finish(End::Done)]].concat(),
        ),
        (
            "receive fails: recorded, nothing else",
            DEPLOY,
            vec![(Run(Receive, New), Failed)],
            vec![
                Run(Receive, New),
                RecordFailure,
                Finish(End::FailedBeforeSwitch),
            ],
        ),
        (
            "before_switch fails",
            DEPLOY,
            vec![(Run(BeforeSwitch, New), Failed)],
            [
                &forward[..2],
                &[RecordFailure, Finish(End::FailedBeforeSwitch)],
            ]
            .concat(),
        ),
        (
            "drain fails: put back in the balancer",
            DEPLOY,
            vec![(Run(Drain, New), Failed)],
            [&forward[..3], &early_end[..]].concat(),
        ),
        (
            "switch fails",
            DEPLOY,
            vec![(Run(Switch, New), Failed)],
            [&forward[..4], &early_end[..]].concat(),
        ),
        (
            "lost lock at the switch: current never moved, nothing more touched",
            DEPLOY,
            vec![(Run(Switch, New), LostLock)],
            [&forward[..4], &[Finish(End::FailedBeforeSwitch)]].concat(),
        ),
        (
            "after_switch fails: recorded, then back",
            DEPLOY,
            vec![(Run(AfterSwitch, New), Failed)],
            [&forward[..5], &[RecordFailure], &back[..]].concat(),
        ),
        (
            "health fails: back",
            DEPLOY,
            vec![(Run(Health, New), Failed)],
            [&forward[..6], &back[..]].concat(),
        ),
        (
            "undrain fails: back",
            DEPLOY,
            vec![(Run(Undrain, New), Failed)],
            [&forward[..7], &back[..]].concat(),
        ),
        (
            "prune fails: done all the same",
            DEPLOY,
            vec![(Run(Prune, New), Failed)],
            [&forward[..], &[Finish(End::Done)]].concat(),
        ),
        (
            "health fails and the switch back fails: stranded",
            DEPLOY,
            vec![(Run(Health, New), Failed), (Run(Switch, Back), Failed)],
            [&forward[..6], &[Run(Switch, Back), Finish(End::Stranded)]].concat(),
        ),
        (
            "the previous release fails its health check too: restored all the same",
            DEPLOY,
            vec![(Run(Health, New), Failed), (Run(Health, Back), Failed)],
            [&forward[..6], &back[..]].concat(),
        ),
        (
            "--rollback none: left on the new release",
            no_rollback,
            vec![(Run(Health, New), Failed)],
            [&forward[..6], &[Finish(End::Stranded)]].concat(),
        ),
        (
            "nothing to go back to",
            nothing_before,
            vec![(Run(Health, New), Failed)],
            [&forward[..6], &[Finish(End::Stranded)]].concat(),
        ),
        (
            "staged or live: no receive",
            no_receive,
            vec![],
            [&forward[1..], &[Finish(End::Done)]].concat(),
        ),
        (
            "a rollback whose target fails its health check goes back",
            rollback,
            vec![(Run(Health, New), Failed)],
            [&forward[2..6], &back[..]].concat(),
        ),
    ];
    for (what, policy, failing, want) in cases {
        assert_eq!(drive(policy, false, &failing), want, "{what}");
    }
}

#[test]
fn a_stopped_rollout_puts_a_done_host_back_drained() {
    let drive_revert = |policy, failing: &[Failing]| run(Machine::revert(policy), false, failing);
    let back = [
        Run(Drain, Back),
        Run(Switch, Back),
        Run(AfterSwitch, Back),
        Run(Health, Back),
        Run(Undrain, Back),
        Finish(End::Restored),
    ];
    assert_eq!(drive_revert(DEPLOY, &[]), back);
    assert_eq!(
        drive_revert(DEPLOY, &[(Run(Drain, Back), StepResult::Failed)]),
        back,
        "a failed drain is a warning"
    );
    assert_eq!(
        drive_revert(DEPLOY, &[(Run(Switch, Back), StepResult::Failed)]),
        [Run(Drain, Back), Run(Switch, Back), Finish(End::Stranded)]
    );
    let nothing_before = Policy {
        can_go_back: false,
        ..DEPLOY
    };
    assert_eq!(drive_revert(nothing_before, &[]), [Finish(End::Stranded)]);
}

#[test]
fn an_interrupt_before_the_host_starts_leaves_it_untouched() {
    assert_eq!(drive(DEPLOY, true, &[]), [Finish(End::NotStarted)]);
}

#[test]
fn the_failed_stage_is_remembered_for_the_report() {
    let mut m = Machine::new(DEPLOY);
    let mut action = m.start(false);
    while !matches!(action, Finish(_)) {
        let result = if action == Run(Health, New) {
            StepResult::Failed
        } else {
            StepResult::Ok
        };
        action = m.next(result);
    }
    assert_eq!(m.failed_at, Some(Health));
    assert_eq!(m.end(), Some(End::Restored));
}
