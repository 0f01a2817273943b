//! Faults of the controller: ferry killed (`SIGKILL`) or stopped (`SIGTERM`) in the middle of
//! a batch.

use std::time::{Duration, Instant};

use crate::host_faults::SLOW_BEFORE_SWITCH;
use crate::invariant::Invariant;
use crate::lab::{assert_within, events, shown, Lab, Run, Watchdog, HANG, SLACK};
use crate::state::{check_final, snapshot, Reported};
use crate::support::host::wait_until;

/// How long a run's lease lasts on the host's clock (README, Locks).
const LEASE_SECS: u64 = 60;

/// Wait until the hosts `hosts` are all in their batch (in `before_switch`).
fn wait_in_batch(lab: &Lab, hosts: std::ops::Range<usize>, release: &str) {
    let markers: Vec<_> = hosts
        .map(|i| lab.path(i, &format!("in-batch-{release}")))
        .collect();
    wait_until(Duration::from_secs(60), "batch 2 never started", || {
        markers.iter().all(|m| m.exists())
    });
}

/// The controller gets `SIGKILL` in batch 2 of 4: every host keeps the
/// run's lock. A re-run at once is refused (exit 4: a live lease is never
/// taken); once the lease has expired by the hosts' clocks (moved 61 s
/// ahead) the same deploy takes the locks over, records it, and converges
/// with no manual step.
#[test]
fn controller_sigkilled_mid_batch_then_rerun_converges() {
    let lab = Lab::start(10, "", SLOW_BEFORE_SWITCH);
    let (r1, r2) = (lab.release("r1", 0), lab.release("r2", 0));
    let invariant = Invariant::start(&lab);
    lab.deploy(&r1, "r1").ferry.run();
    let Run { ferry, dir } = lab.deploy(&r2, "r2");
    // Killed by a signal: no exit code.
    let run = ferry.args(["--batch", "3"]).code(-1).spawn();
    wait_in_batch(&lab, 3..6, "r2");
    run.signal("-KILL");
    run.finish();
    let locked = (0..lab.hosts())
        .filter(|&i| lab.path(i, ".ferry/lock").exists())
        .count();
    assert_eq!(locked, 10, "a killed run leaves its lock on every host");

    // The killed run's journal got as far as its start: its run id.
    let killed = Run::journal(&dir);
    let killed_run = events(&killed, "run_started")[0]["run_id"]
        .as_str()
        .expect("run_id")
        .to_string();
    let refused = lab
        .deploy(&r2, "r2")
        .ferry
        .code(4)
        .stderr_has("is locked by ")
        .stderr_has(format!("(run {killed_run})"))
        .run();
    drop(refused);

    for i in 0..lab.hosts() {
        lab.advance_clock(i, LEASE_SECS + 1);
    }
    let before = snapshot(&lab);
    let started = Instant::now();
    let Run { ferry, dir } = lab.deploy(&r2, "r2");
    let out = ferry
        .args(["--batch", "3"])
        .stderr_has("took over the lock")
        .run();
    let took = started.elapsed();
    let journal = Run::journal(&dir);
    let reported = Reported::of(&journal, &out.stderr);
    assert_eq!(
        events(&journal, "lock_taken_over").len(),
        10,
        "{}",
        shown(&out)
    );
    assert_eq!(
        reported.with("skipped").len() + reported.with("deployed").len(),
        10,
        "{}",
        shown(&out)
    );
    check_final(&lab, &reported, &before, Some("r2"), &[]);
    assert_eq!(snapshot(&lab), vec![Some("r2".to_string()); 10]);
    // At most 4 batches of one second of real work.
    assert_within(
        "the re-run after a SIGKILLed controller",
        took,
        Duration::from_secs(4) + SLACK,
    );
    invariant.assert_held(50);
}

/// The controller gets `SIGTERM` in batch 2 of 4 (README: no new host
/// starts; hosts in flight finish their steps; exit 130; the lock is
/// released): batches 1 and 2 end on the new release, batches 3 and 4 are
/// not started and untouched, no host keeps a lock, and a re-run resumes.
#[test]
fn controller_sigtermed_mid_batch() {
    let lab = Lab::start(10, "", SLOW_BEFORE_SWITCH);
    let (r1, r2) = (lab.release("r1", 0), lab.release("r2", 0));
    let invariant = Invariant::start(&lab);
    lab.deploy(&r1, "r1").ferry.run();
    let before = snapshot(&lab);
    let Run { ferry, dir } = lab.deploy(&r2, "r2");
    let run = ferry.args(["--batch", "3"]).code(130).spawn();
    wait_in_batch(&lab, 3..6, "r2");
    let signalled = Instant::now();
    let dog = Watchdog::new(run.pid(), HANG);
    run.signal("-TERM");
    let out = run.finish();
    drop(dog);
    let took = signalled.elapsed();
    let reported = Reported::of(&Run::journal(&dir), &out.stderr);
    let names = |r: std::ops::Range<usize>| -> Vec<String> {
        let mut v: Vec<String> = r.map(|i| format!("h{}", i + 1)).collect();
        v.sort();
        v
    };
    assert_eq!(reported.with("deployed"), names(0..6), "{}", shown(&out));
    assert_eq!(
        reported.with("not_started"),
        names(6..10),
        "{}",
        shown(&out)
    );
    check_final(&lab, &reported, &before, Some("r2"), &[]);
    assert!(reported.kept_locks.is_empty(), "{}", shown(&out));
    // The hosts in flight had under a second of `before_switch` left.
    assert_within(
        "SIGTERM to the end of the run",
        took,
        Duration::from_secs(1) + SLACK,
    );

    let before = snapshot(&lab);
    let (out, reported, _) = lab.deploy(&r2, "r2").go(|f| f.args(["--batch", "3"]));
    assert_eq!(reported.with("skipped"), names(0..6), "{}", shown(&out));
    check_final(&lab, &reported, &before, Some("r2"), &[]);
    invariant.assert_held(50);
}
