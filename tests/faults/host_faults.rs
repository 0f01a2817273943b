//! Faults of one host: its sshd killed (mid-batch, mid-upload), frozen
//! (before and during a deploy), its disk full while a release is extracted.

use std::time::{Duration, Instant};

use crate::invariant::Invariant;
use crate::lab::{
    assert_within, events, shown, Lab, Run, Watchdog, CONNECT_TIMEOUT, GIVE_UP, HANG,
    RENEWAL_BOUND, SLACK,
};
use crate::state::{check_final, snapshot, Reported};
use crate::support::host::{shell_ok, wait_until};

/// Every host stops in `before_switch` for a second; the batch a host is
/// in is known from the marker it leaves.
pub(crate) const SLOW_BEFORE_SWITCH: &str = "before_switch:\n  - { name: slow, run: 'touch {{ deploy_to }}/in-batch-{{ release_id }}; sleep 1' }\n";

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
    let dog = Watchdog::new(run.pid(), HANG);
    lab.kill_sshd(victim);
    let out = run.finish();
    drop(dog);
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

/// Host `i`'s leftovers of killed uploads: `.ferry/artifacts/.*.partial`.
fn partials(lab: &Lab, i: usize) -> Vec<String> {
    std::fs::read_dir(lab.path(i, ".ferry/artifacts"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".partial"))
                .collect()
        })
        .unwrap_or_default()
}

/// A host's SSH connection is killed while the artifact streams in (the
/// `.partial` file is there): the host fails alone, nothing half-made is
/// ever named by `current`, and the same deploy run again converges and
/// removes the killed upload's `.partial`.
#[test]
fn sshd_killed_mid_upload() {
    let lab = Lab::start(10, "", "");
    let r1 = lab.release("r1", 0);
    // Big enough that streaming, checking and extracting it takes far
    // longer than the few milliseconds between seeing `.partial` and the kill.
    let r2 = lab.release("r2", 24 << 20);
    let invariant = Invariant::start(&lab);
    lab.deploy(&r1, "r1").ferry.run();
    let before = snapshot(&lab);
    let victim = 3;
    let started = Instant::now();
    let Run { ferry, dir } = lab.deploy(&r2, "r2");
    let run = ferry.args(["--max-failures", "1"]).code(1).spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while partials(&lab, victim).is_empty() {
        assert!(Instant::now() < deadline, "h4's upload never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let dog = Watchdog::new(run.pid(), HANG);
    let frozen = lab.freeze_sessions(victim);
    // Let the controller use up the SSH window that the frozen host will
    // never adjust (2 MiB: milliseconds on loopback), so that the kill finds
    // it waiting for window space: ferry used to wait there forever.
    std::thread::sleep(Duration::from_millis(500));
    for tree in frozen {
        tree.kill();
    }
    let out = run.finish();
    drop(dog);
    let took = started.elapsed();
    let reported = Reported::of(&Run::journal(&dir), &out.stderr);
    assert_eq!(reported.outcome("h4"), "failed", "{}", shown(&out));
    assert_eq!(reported.with("deployed").len(), 9, "{}", shown(&out));
    check_final(&lab, &reported, &before, Some("r2"), &[]);
    assert_eq!(
        partials(&lab, victim).len(),
        1,
        "the killed upload's leftover"
    );
    let partial = lab.path(
        victim,
        &format!(".ferry/artifacts/{}", partials(&lab, victim)[0]),
    );
    eprintln!(
        "killed with {} of {} bytes streamed",
        std::fs::metadata(&partial).map_or(0, |m| m.len()),
        std::fs::metadata(&r2).map_or(0, |m| m.len())
    );
    // Plus the transfer: 10 hosts receive 24 MiB each from one controller.
    assert_within(
        "sshd killed mid-upload",
        took,
        GIVE_UP + SLACK + Duration::from_secs(20),
    );

    // The same deploy again: h4 gets r2, the others are skipped, and the
    // leftover (older than this run's lock) is gone.
    let before = snapshot(&lab);
    let (out, reported, _) = lab.deploy(&r2, "r2").go(|f| f);
    assert_eq!(reported.outcome("h4"), "deployed", "{}", shown(&out));
    check_final(&lab, &reported, &before, Some("r2"), &[]);
    assert_eq!(partials(&lab, victim), Vec::<String>::new());
    invariant.assert_held(50);
}

/// A host frozen (SIGSTOP) before the deploy cannot be reached: it counts
/// towards `max_failures` (default 0), so the rollout does not start and
/// nothing is switched; it costs one connect timeout for the whole run.
/// `--skip-unreachable` then deploys the others, and says the fleet is mixed.
#[test]
fn host_frozen_before_deploy() {
    let lab = Lab::start(10, "", "");
    let (r1, r2) = (lab.release("r1", 0), lab.release("r2", 0));
    let invariant = Invariant::start(&lab);
    lab.deploy(&r1, "r1").ferry.run();
    let victim = 2;
    let frozen = lab.freeze(victim);
    let before = snapshot(&lab);
    let (out, reported, took) = lab.deploy(&r2, "r2").go(|f| f.code(1));
    assert_eq!(reported.outcome("h3"), "unreachable", "{}", shown(&out));
    assert_eq!(
        reported.with("deployed"),
        Vec::<String>::new(),
        "{}",
        shown(&out)
    );
    assert_eq!(snapshot(&lab), before, "nothing is switched");
    check_final(&lab, &reported, &before, Some("r2"), &[victim]);
    assert_within(
        "deploy, 1 of 10 hosts frozen before it",
        took,
        CONNECT_TIMEOUT + SLACK,
    );

    let (out, reported, _) = lab.deploy(&r2, "r2").go(|f| {
        f.arg("--skip-unreachable")
            .code(1)
            .stderr_has("the fleet will be mixed")
    });
    assert_eq!(reported.outcome("h3"), "unreachable", "{}", shown(&out));
    assert_eq!(reported.with("deployed").len(), 9, "{}", shown(&out));
    check_final(&lab, &reported, &before, Some("r2"), &[victim]);
    drop(frozen);
    invariant.assert_held(50);
}

/// A host frozen in the middle of its pipeline (in `before_switch`) is
/// given up after its keepalives, fails alone (`max_failures: 1`), stays
/// on its release; the others are deployed.
#[test]
fn host_frozen_during_deploy() {
    let lab = Lab::start(10, "", SLOW_BEFORE_SWITCH);
    let (r1, r2) = (lab.release("r1", 0), lab.release("r2", 0));
    let invariant = Invariant::start(&lab);
    lab.deploy(&r1, "r1").ferry.run();
    let before = snapshot(&lab);
    let victim = 7;
    let Run { ferry, dir } = lab.deploy(&r2, "r2");
    let run = ferry
        .args(["--batch", "5", "--max-failures", "1"])
        .code(1)
        .spawn();
    let marker = lab.path(victim, "in-batch-r2");
    wait_until(Duration::from_secs(60), "h8's batch never started", || {
        marker.exists()
    });
    let frozen_at = Instant::now();
    let frozen_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let dog = Watchdog::new(run.pid(), HANG);
    let frozen = lab.freeze(victim);
    let out = run.finish();
    drop(dog);
    let took = frozen_at.elapsed();
    let journal = Run::journal(&dir);
    let reported = Reported::of(&journal, &out.stderr);
    // When ferry gave the host up: its step's failure in the journal.
    let given_up = events(&journal, "step_finished")
        .into_iter()
        .find(|e| e["host"] == "h8" && e["ok"] == false)
        .and_then(|e| e["at_ms"].as_u64())
        .map_or_else(
            || panic!("no failed step of h8 in the journal\n{}", shown(&out)),
            |at| Duration::from_millis(at.saturating_sub(u64::try_from(frozen_at_ms).unwrap())),
        );
    assert_within(
        "a host frozen mid-deploy, freeze to given up",
        given_up,
        GIVE_UP + Duration::from_secs(5),
    );
    assert_eq!(reported.outcome("h8"), "failed", "{}", shown(&out));
    assert_eq!(reported.with("deployed").len(), 9, "{}", shown(&out));
    check_final(&lab, &reported, &before, Some("r2"), &[victim]);
    // Given up, the host is asked again to release its lock only for a
    // moment (2 s, not a whole connect timeout); its lease ends the lock.
    assert!(
        reported.kept_locks.contains(&"h8".to_string()),
        "{}",
        shown(&out)
    );
    assert!(
        out.stderr.contains(
            "h8: its connection was lost during the run and it did not answer again within 2 s"
        ),
        "{}",
        shown(&out)
    );
    drop(frozen);
    // Three keepalives, plus room for a lease renewal under way when the
    // host freezes.
    assert_within(
        "a host frozen mid-deploy, freeze to the end of the run",
        took,
        GIVE_UP + RENEWAL_BOUND + SLACK,
    );
    invariant.assert_held(50);
}

/// A host whose disk fills up while the release is extracted (a 1 MiB
/// tmpfs over its `releases/`, in its namespace only; the release carries
/// 4 MiB): its staging fails and nothing of it is left, and it counts
/// before batch 1: with `max_failures: 0` nothing is switched anywhere;
/// with `--max-failures 1` the others are deployed and it stays on its release.
#[test]
fn disk_full_during_extraction() {
    let lab = Lab::start(10, "", "");
    let victim = 6;
    shell_ok(
        &lab.fleet,
        victim,
        "mkdir -p /srv/app/releases && mount -t tmpfs -o size=1m tmpfs /srv/app/releases",
    );
    let (r1, r2) = (lab.release("r1", 0), lab.release("r2", 4 << 20));
    let invariant = Invariant::start(&lab);
    lab.deploy(&r1, "r1").ferry.run();
    let before = snapshot(&lab);
    let (out, reported, took) = lab.deploy(&r2, "r2").go(|f| {
        f.args(["--batch", "3"])
            .code(1)
            .stderr_has("task `receive artifact` failed on h7")
            .stderr_has("failed before batch 1")
    });
    assert_eq!(reported.outcome("h7"), "failed", "{}", shown(&out));
    assert_eq!(
        reported.with("deployed"),
        Vec::<String>::new(),
        "{}",
        shown(&out)
    );
    assert_eq!(snapshot(&lab), before, "nothing is switched");
    check_final(&lab, &reported, &before, Some("r2"), &[]);
    assert_eq!(releases(&lab, victim), ["r1"], "nothing half-made is left");
    assert_within("disk full during extraction", took, SLACK);

    let (out, reported, _) = lab
        .deploy(&r2, "r2")
        .go(|f| f.args(["--batch", "3", "--max-failures", "1"]).code(1));
    assert_eq!(reported.outcome("h7"), "failed", "{}", shown(&out));
    assert_eq!(reported.with("deployed").len(), 9, "{}", shown(&out));
    check_final(&lab, &reported, &before, Some("r2"), &[]);
    assert_eq!(releases(&lab, victim), ["r1"], "nothing half-made is left");
    invariant.assert_held(50);
}

/// Everything in host `i`'s `releases/` (hidden temporary folders too).
fn releases(lab: &Lab, i: usize) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(lab.path(i, "releases"))
        .expect("releases/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lost+found")
        .collect();
    names.sort();
    names
}
