//! Faults of one host: its sshd killed (mid-batch, mid-upload), frozen
//! (before and during a deploy), its disk full while a release is extracted.

use std::time::{Duration, Instant};

use crate::invariant::Invariant;
use crate::lab::{assert_within, events, shown, Lab, Run, GIVE_UP, SLACK};
use crate::state::{check_final, snapshot, Reported};
use crate::support::host::wait_until;

/// Every host stops in `before_switch` for a second; the batch a host is
/// in is known from the marker it leaves.
const SLOW_BEFORE_SWITCH: &str = "before_switch:\n  - { name: slow, run: 'touch {{ deploy_to }}/in-batch-{{ release_id }}; sleep 1' }\n";

/// A host's sshd (with its sessions) is killed while its batch runs: the
/// host fails alone (within `max_failures: 1`), stays on its release, the
/// rollout goes on, and the report says which host and where it is.
#[test]
fn sshd_killed_mid_batch() {
    let lab = Lab::start(10, "", SLOW_BEFORE_SWITCH);
    let (r1, r2) = (lab.release("r1", 0), lab.release("r2", 0));
    let invariant = Invariant::start(&lab);
    lab.deploy(&r1, "r1").ferry.run();
    let before = snapshot(&lab);
    let started = Instant::now();
    let Run { ferry, dir } = lab.deploy(&r2, "r2");
    let run = ferry
        .args(["--batch", "2", "--max-failures", "1"])
        .code(1)
        .spawn();
    let victim = 5;
    let marker = lab.path(victim, "in-batch-r2");
    wait_until(Duration::from_secs(60), "h6's batch never started", || {
        marker.exists()
    });
    lab.kill_sshd(victim);
    let out = run.finish();
    let took = started.elapsed();
    let events = Run::journal(&dir);
    let reported = Reported::of(&events, &out.stderr);
    assert_eq!(reported.outcome("h6"), "failed", "{}", shown(&out));
    assert_eq!(reported.with("deployed").len(), 9, "{}", shown(&out));
    check_final(&lab, &reported, &before, Some("r2"), &[victim]);
    invariant.assert_held(50);
    // Five batches of one second each, the dead host's connection given up.
    assert_within(
        "sshd killed mid-batch",
        took,
        Duration::from_secs(5) + GIVE_UP + SLACK,
    );
    let _ = events;
}
