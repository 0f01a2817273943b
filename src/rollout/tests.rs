//! Batches, failures allowed, whom to put back, and the run-level
//! decisions of the driver, by example.

use super::*;
use crate::config::values::{parse_amount, Span};

fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("h{i}")).collect()
}

fn sizes(p: &Plan) -> Vec<usize> {
    p.batches.iter().map(|b| b.hosts.len()).collect()
}

fn settings(batch: Option<BatchSpec>, canary: Option<u32>, max: Option<&str>) -> RolloutSettings {
    RolloutSettings {
        batch,
        canary,
        max_failures: max.map(|m| parse_amount(m).unwrap()),
        pause: Some(Span(Duration::from_secs(2))),
        timeout: None,
        require_health: None,
    }
}

#[test]
fn canary_then_percent_batches_in_order() {
    let s = settings(Some(BatchSpec::Fixed(Amount::Percent(25.0))), Some(1), None);
    let p = plan(&names(10), 10, &s, true);
    assert_eq!(sizes(&p), [1, 3, 3, 3]);
    assert!(p.batches[0].canary && !p.batches[1].canary);
    assert_eq!(p.batches[1].hosts, ["h2", "h3", "h4"]);
    assert_eq!(p.pause, Duration::from_secs(2));
}

#[test]
fn a_ramp_repeats_its_last_step() {
    let ramp = BatchSpec::Ramp(vec![
        Amount::Count(1),
        Amount::Percent(10.0),
        Amount::Percent(50.0),
    ]);
    let p = plan(&names(20), 20, &settings(Some(ramp), None, None), true);
    assert_eq!(sizes(&p), [1, 2, 10, 7]);
}

#[test]
fn no_batch_setting_means_all_at_once_and_resume_skips_the_canary() {
    assert_eq!(
        sizes(&plan(&names(5), 5, &settings(None, None, None), true)),
        [5]
    );
    let s = settings(Some(BatchSpec::Fixed(Amount::Count(2))), Some(1), None);
    assert_eq!(sizes(&plan(&names(4), 5, &s, false)), [2, 2]);
}

#[test]
fn canary_zero_means_no_canary_batch() {
    let s = settings(Some(BatchSpec::Fixed(Amount::Count(2))), Some(0), None);
    let p = plan(&names(4), 4, &s, true);
    assert_eq!(sizes(&p), [2, 2]);
    assert!(p.batches.iter().all(|b| !b.canary));
}

#[test]
fn max_failures_percent_rounds_down() {
    assert_eq!(
        plan(&names(5), 5, &settings(None, None, Some("10%")), true).max_failures,
        0
    );
    assert_eq!(
        plan(&names(20), 20, &settings(None, None, Some("10%")), true).max_failures,
        2
    );
    assert_eq!(
        plan(&names(3), 3, &settings(None, None, Some("1")), true).max_failures,
        1
    );
}

#[test]
fn a_failure_over_the_limit_stops_and_rolls_back_every_switched_host() {
    let p = plan(
        &names(6),
        6,
        &settings(Some(BatchSpec::Fixed(Amount::Count(2))), Some(1), None),
        true,
    );
    let mut r = Rollout::new(p.max_failures);
    let done = |h: &str| (h.to_string(), End::Done);
    assert_eq!(
        r.on_batch(&p.batches[0], &[done("h1")], RollbackScope::All),
        Decision::Continue
    );
    let ends = [done("h2"), ("h3".to_string(), End::Restored)];
    match r.on_batch(&p.batches[1], &ends, RollbackScope::All) {
        Decision::Stop { roll_back, reason } => {
            assert_eq!(roll_back, ["h1", "h2"]);
            assert!(reason.contains("batch 2: h3"), "{reason}");
        }
        Decision::Continue => panic!("the rollout went on; it should stop"),
    }
}

#[test]
fn failures_within_max_go_on_and_scope_limits_rollback() {
    let mut r = Rollout::new(1);
    let b = Batch {
        number: 1,
        hosts: names(2),
        canary: true,
    };
    let ends = [
        ("h1".to_string(), End::Done),
        ("h2".to_string(), End::FailedBeforeSwitch),
    ];
    assert_eq!(
        r.on_batch(&b, &ends, RollbackScope::All),
        Decision::Continue
    );
    let ends = [("h3".to_string(), End::Restored)];
    match r.on_batch(&b, &ends, RollbackScope::Failed) {
        Decision::Stop { roll_back, .. } => assert!(roll_back.is_empty()),
        Decision::Continue => panic!("the rollout went on; it should stop"),
    }
}

/// The driver's decisions through whole runs, by table: each row is the
/// plan's settings, the run's events, and what the driver says at each step.
#[test]
fn the_driver_decides_every_step_of_a_run() {
    // 4 hosts: a canary of 1, then batches of 2 → [1, 2, 1].
    let plan = || {
        let mut p = plan(
            &names(4),
            4,
            &settings(Some(BatchSpec::Fixed(Amount::Count(2))), Some(1), None),
            true,
        );
        p.pause = Duration::ZERO;
        p
    };
    let ok = |hosts: &[&str]| -> Vec<(String, End)> {
        hosts.iter().map(|h| (h.to_string(), End::Done)).collect()
    };
    // A plain run: every batch, then done; nobody left out.
    let mut d = Driver::new(plan(), RollbackScope::All, false);
    assert_eq!(d.start(&[], false), Next::Batch(0));
    assert_eq!(d.batch_done(&ok(&["h1"]), false), Next::Batch(1));
    assert_eq!(d.batch_done(&ok(&["h2", "h3"]), false), Next::Batch(2));
    assert_eq!(d.batch_done(&ok(&["h4"]), false), Next::Done);
    assert!(d.not_started().is_empty());

    // The canary gate: stop after the first healthy batch.
    let mut d = Driver::new(plan(), RollbackScope::All, true);
    assert_eq!(d.start(&[], false), Next::Batch(0));
    assert_eq!(d.batch_done(&ok(&["h1"]), false), Next::PausedAfterCanary);
    assert_eq!(d.not_started(), ["h2", "h3", "h4"]);

    // A pause between batches, interrupted during it.
    let mut p = plan();
    p.pause = Duration::from_secs(30);
    let mut d = Driver::new(p, RollbackScope::All, false);
    assert_eq!(d.start(&[], false), Next::Batch(0));
    assert_eq!(
        d.batch_done(&ok(&["h1"]), false),
        Next::Pause(Duration::from_secs(30))
    );
    assert_eq!(d.paused(true), Next::Interrupted);
    assert_eq!(d.not_started(), ["h2", "h3", "h4"]);

    // Interrupted during a batch: that batch finishes, no new one starts.
    let mut d = Driver::new(plan(), RollbackScope::All, false);
    d.start(&[], false);
    assert_eq!(d.batch_done(&ok(&["h1"]), true), Next::Interrupted);
    // ... but an interrupt in the last batch is simply the end.
    let mut d = Driver::new(plan(), RollbackScope::All, false);
    d.start(&[], false);
    d.batch_done(&ok(&["h1"]), false);
    d.batch_done(&ok(&["h2", "h3"]), false);
    assert_eq!(d.batch_done(&ok(&["h4"]), true), Next::Done);

    // A failure over max_failures: stop, put back everyone switched, and
    // the hosts never started are named; a host that never started is not
    // a failure.
    let mut d = Driver::new(plan(), RollbackScope::All, false);
    d.start(&[], false);
    d.batch_done(&ok(&["h1"]), false);
    let ends = [
        ("h2".to_string(), End::Restored),
        ("h3".to_string(), End::NotStarted),
    ];
    match d.batch_done(&ends, false) {
        Next::Stop { reason, roll_back } => {
            assert_eq!(roll_back, ["h1"]);
            assert!(reason.ends_with("(batch 2: h2)"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.not_started(), ["h4"]);

    // Interrupted before the first batch: nothing starts.
    let mut d = Driver::new(plan(), RollbackScope::All, false);
    assert_eq!(d.start(&[], true), Next::Interrupted);
    assert_eq!(d.not_started(), ["h1", "h2", "h3", "h4"]);
}

/// Hosts that failed before batch 1 count like any failure, once each.
#[test]
fn failures_before_batch_1_count_once() {
    let p = plan(
        &names(3),
        4,
        &settings(Some(BatchSpec::Fixed(Amount::Count(1))), None, None),
        true,
    );
    let mut d = Driver::new(p.clone(), RollbackScope::All, false);
    match d.start(&["h4".to_string()], false) {
        Next::Stop { reason, roll_back } => {
            assert!(roll_back.is_empty());
            assert!(reason.contains("failed before batch 1"), "{reason}");
            assert!(reason.contains("(h4)"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.not_started(), ["h1", "h2", "h3"]);
    // With one failure allowed, a host that failed staging and fails
    // again in its batch is still one failure.
    let mut p = p;
    p.max_failures = 1;
    p.pause = Duration::ZERO;
    let mut d = Driver::new(p, RollbackScope::All, false);
    assert_eq!(d.start(&["h1".to_string()], false), Next::Batch(0));
    let ends = [("h1".to_string(), End::FailedBeforeSwitch)];
    assert_eq!(d.batch_done(&ends, false), Next::Batch(1));
}

/// `ferry rollback`'s batches, by table: (what, hosts here, selected,
/// batch, --now) → batch sizes. Never a canary; percents of the selection
/// (a late wave keeps the size of the whole rollback's batches).
#[test]
fn rollback_batches_by_table() {
    type Case<'a> = (
        &'a str,
        usize,
        usize,
        Option<&'a BatchSpec>,
        bool,
        Vec<usize>,
    );
    let two = BatchSpec::Fixed(Amount::Count(2));
    let quarter = BatchSpec::Fixed(Amount::Percent(25.0));
    let ramp = BatchSpec::Ramp(vec![Amount::Count(1), Amount::Count(3)]);
    let cases: Vec<Case> = vec![
        ("batch 2 of 5", 5, 5, Some(&two), false, vec![2, 2, 1]),
        ("--now: all at once", 5, 5, Some(&two), true, vec![5]),
        ("no batch size: one batch", 4, 4, None, false, vec![4]),
        ("25% of 8", 8, 8, Some(&quarter), false, vec![2, 2, 2, 2]),
        (
            "a late wave of 3 of 8: 25% of 8",
            3,
            8,
            Some(&quarter),
            false,
            vec![2, 1],
        ),
        ("a ramp", 6, 6, Some(&ramp), false, vec![1, 3, 2]),
        ("no host", 0, 4, Some(&two), false, vec![]),
    ];
    for (what, here, total, batch, now, want) in cases {
        let got = rollback_batches(&names(here), total, batch, now);
        let got_sizes: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(got_sizes, want, "{what}");
        assert_eq!(
            got.concat(),
            names(here),
            "{what}: every host once, in order"
        );
    }
}
