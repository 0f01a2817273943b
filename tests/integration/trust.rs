//! Correctness on the failure paths of releases (issue 10, items 8-11):
//! `current` never points at a replaced release, rollback never lands on a
//! release known to be bad, flags do what they say, history survives torn
//! writes, and Ctrl-C in the last batch exits 130.

use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::fleet::Fleet;
use crate::support::host::{
    current, events_of, history_text, next_second, on_host, wait_until, FrozenTree, SetOnDrop,
};
use crate::support::project::{page, Project};

/// A release is healthy on a host unless its folder holds a `BROKEN` file;
/// its app does not start when the folder holds `NOSTART`.
const PLAYBOOK: &str = "after_switch:\n\
  - { name: restart, run: 'test ! -f {{ release_path }}/NOSTART || { echo app does not start >&2; exit 3; }' }\n\
health:\n\
  - { name: up, command: 'test ! -f {{ deploy_to }}/current/BROKEN', retries: 1, interval: 100ms }\n";

fn project_with_playbook(fleet: &Fleet) -> Project {
    let project = Project::new(fleet, "");
    project.write("playbooks/deploy.yml", PLAYBOOK);
    project
}

#[test]
fn redeploying_the_live_release_without_its_health_record_reuses_it_in_place() {
    let fleet = Fleet::start(1);
    let project = project_with_playbook(&fleet);
    let (r1, r2) = (project.release_tarball("r1"), project.release_tarball("r2"));
    project.deploy(&r1, "r1").run();
    project.deploy(&r2, "r2").run();
    // The controller died between the switch and the health check: the
    // history ends with the switch to r2.
    let text = history_text(&fleet, 0);
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !(l.contains("\"event\":\"health\"") && l.contains("\"release\":\"r2\"")))
        .collect();
    std::fs::write(
        on_host(&fleet, 0, ".ferry/history.jsonl"),
        kept.join("\n") + "\n",
    )
    .unwrap();
    let live = on_host(&fleet, 0, "releases/r2");
    let inode = std::fs::metadata(&live).unwrap().ino();

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, page_file) = (stop.clone(), on_host(&fleet, 0, "current/index.html"));
        std::thread::spawn(move || {
            let (mut taken, mut bad) = (0usize, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                taken += 1;
                match std::fs::read_to_string(&page_file) {
                    Ok(text) if text == page("r2") => {}
                    other => bad.push(format!("{other:?}")),
                }
            }
            (taken, bad)
        })
    };
    {
        // The sampler stops however the run ends.
        let _stop = SetOnDrop(stop);
        project
            .deploy(&r2, "r2")
            .stderr_has("r2 is already current (same sha256) but not known healthy: reused")
            .stderr_has("release r2: done 1")
            // The live release must not be received again.
            .stderr_lacks("receiving")
            .run();
    }
    let (taken, bad) = sampler.join().unwrap();
    assert!(
        bad.is_empty(),
        "{} of {taken} samples bad: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
    assert_eq!(
        std::fs::metadata(&live).unwrap().ino(),
        inode,
        "releases/r2 was replaced under `current`"
    );
    assert_eq!(current(&fleet, 0), "releases/r2");
    let health = events_of(&fleet, 0, "health", "r2");
    assert_eq!(health.len(), 1, "{health:?}");
    assert_eq!(health[0]["outcome"], "ok");
    // Recorded against what it really came from: r1, not r2 itself.
    let switches = events_of(&fleet, 0, "switched", "r2");
    assert_eq!(switches.last().unwrap()["previous"], "r1");
}

#[test]
fn a_rollback_target_that_fails_its_health_check_is_left_and_never_chosen_again() {
    let fleet = Fleet::start(1);
    let project = project_with_playbook(&fleet);
    for id in ["r1", "r2"] {
        project.deploy(project.release_tarball(id), id).run();
    }
    // r1 no longer works on this host (say its config went stale).
    std::fs::write(on_host(&fleet, 0, "releases/r1/BROKEN"), "").unwrap();
    next_second();
    project
        .rollback()
        .code(1)
        .stderr_has("r1 is marked bad here; back on r2")
        .stderr_has("current: r2")
        .run();
    assert_eq!(current(&fleet, 0), "releases/r2");
    let r1_health = events_of(&fleet, 0, "health", "r1");
    assert_eq!(r1_health.last().unwrap()["outcome"], "failed");

    // A fix-forward deploy, then the emergency button again: r2, never r1.
    project.deploy(project.release_tarball("r3"), "r3").run();
    next_second();
    project
        .rollback()
        .stderr_has("rolled back to r2 from r3")
        .run();
    assert_eq!(current(&fleet, 0), "releases/r2");
}

#[test]
fn a_failing_after_switch_is_recorded_as_a_failure_with_its_reason() {
    let fleet = Fleet::start(1);
    let project = project_with_playbook(&fleet);
    project.deploy(project.release_tarball("r1"), "r1").run();
    let r2 = project.tarball(
        "r2",
        &[("index.html", page("r2").as_bytes()), ("NOSTART", b"")],
    );
    project
        .deploy(&r2, "r2")
        .code(1)
        .stderr_has("current: r1")
        .run();
    assert_eq!(current(&fleet, 0), "releases/r1");
    let failed = events_of(&fleet, 0, "failed", "r2");
    assert_eq!(failed.len(), 1, "{}", history_text(&fleet, 0));
    let detail = failed[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("after_switch failed") && detail.contains("exit status 3"),
        "{detail}"
    );
}

#[test]
fn rollback_none_leaves_a_failed_host_on_the_new_release_and_exits_3() {
    let fleet = Fleet::start(1);
    let project = project_with_playbook(&fleet);
    project.deploy(project.release_tarball("r1"), "r1").run();
    let r2 = project.tarball(
        "r2",
        &[("index.html", page("r2").as_bytes()), ("BROKEN", b"")],
    );
    for flags in [&["--rollback", "none"][..], &["--no-rollback"][..]] {
        project
            .deploy(&r2, "r2")
            .args(flags)
            .code(3)
            .stderr_has("left on r2 (--rollback none)")
            .stderr_has("still on the failed release")
            .run();
        assert_eq!(current(&fleet, 0), "releases/r2", "{flags:?}");
        // Back to r1 by hand for the second form.
        project.rollback().args(["--to", "r1"]).run();
    }
}

/// A first deploy stops on h2's failure; h1, already switched, has nothing
/// to go back to: it stays on r1, and the report says why (exit 3: the
/// fleet is mixed).
#[test]
fn a_stopped_first_deploy_names_the_hosts_with_nothing_to_go_back_to() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "rollout: { batch: 1 }\n");
    project.write(
        "playbooks/deploy.yml",
        "after_switch:\n  - { name: start, run: 'exit 3', when: \"host.name == 'h2'\" }\n",
    );
    project
        .deploy(project.release_tarball("r1"), "r1")
        .code(3)
        .stderr_has("rollout stopped: 1 host(s) failed")
        .stderr_has("no previous release to go back to; left on r1")
        .stderr_lacks("no step reported why")
        .run();
    assert_eq!(current(&fleet, 0), "releases/r1");
}

#[test]
fn stop_after_canary_stops_after_one_batch_even_when_a_host_already_runs_the_release() {
    let fleet = Fleet::start(3);
    let project = project_with_playbook(&fleet);
    let r1 = project.release_tarball("r1");
    project.deploy(&r1, "r1").args(["-l", "h1"]).run();
    project
        .deploy(&r1, "r1")
        .args(["--stop-after-canary"])
        .code(5)
        .stderr_has("batch 1 (canary): h2")
        .stderr_has("not started")
        .run();
    assert_eq!(current(&fleet, 1), "releases/r1");
    assert!(
        std::fs::symlink_metadata(on_host(&fleet, 2, "current")).is_err(),
        "h3 must not be deployed after the canary"
    );
    // Without the flag the same deploy goes on from there.
    project
        .deploy(&r1, "r1")
        .stderr_has("done 1  skipped 2")
        .run();
}

#[test]
fn canary_zero_on_the_command_line_overrides_the_inventory() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "rollout: { canary: 1, batch: 2 }\n");
    let r1 = project.release_tarball("r1");
    project
        .deploy(&r1, "r1")
        .args(["--plan", "--canary", "0"])
        .stdout_has("batch 1: h1, h2")
        .stdout_lacks("(canary)")
        .run();
    project
        .deploy(&r1, "r1")
        .args(["--plan"])
        .stdout_has("batch 1 (canary): h1")
        .run();
}

#[test]
fn an_empty_host_pattern_is_an_error_never_every_host() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    for pattern in ["", ",", " , "] {
        project
            .run_cmd("touch /srv/touched")
            .args(["--limit", pattern])
            .code(2)
            .stderr(format!(
                "error: empty host pattern `{pattern}`: name hosts or groups (`web1,db`), or `all` for every host\n"
            ))
            .run();
    }
    for i in 0..2 {
        assert!(!fleet.on_host(i, "/srv/touched").exists());
    }
}

#[test]
fn a_torn_history_line_neither_glues_onto_nor_loses_the_next_event() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    project.deploy(project.release_tarball("r1"), "r1").run();
    // A disk-full append cut this event short: no newline at the end.
    let file = on_host(&fleet, 0, ".ferry/history.jsonl");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(r#"{"at":"2026-11-30T00:00:00Z","event":"failed","release":"r2","#);
    std::fs::write(&file, text).unwrap();
    next_second();
    project.deploy(project.release_tarball("r2"), "r2").run();
    let switched = events_of(&fleet, 0, "switched", "r2");
    assert_eq!(switched.len(), 1, "{}", history_text(&fleet, 0));
    project.history().stdout_has("switched").run();
    // The next rollback still knows r2 was switched to, and goes to r1.
    project
        .rollback()
        .stderr_has("rolled back to r1 from r2")
        .run();
}

/// A project whose `before_switch` marks `started` on the host, then takes
/// 2 s: time to interrupt a run in the middle of a host's pipeline.
fn slow_project(fleet: &Fleet) -> (Project, std::path::PathBuf) {
    let project = Project::new(fleet, "");
    project.write(
        "playbooks/deploy.yml",
        "before_switch:\n  - { name: slow, run: 'touch {{ deploy_to }}/started; sleep 2' }\n",
    );
    let r1 = project.release_tarball("r1");
    (project, r1)
}

fn wait_started(fleet: &Fleet, i: usize) {
    let started = on_host(fleet, i, "started");
    wait_until(
        Duration::from_secs(30),
        "before_switch never started",
        || started.exists(),
    );
}

#[test]
fn ctrl_c_in_the_last_batch_finishes_the_host_and_exits_130() {
    let fleet = Fleet::start(1);
    let (project, r1) = slow_project(&fleet);
    let ferry = project
        .deploy(&r1, "r1")
        .code(130)
        .stderr_has("still finishing the hosts in flight")
        .spawn();
    wait_started(&fleet, 0);
    for _ in 0..2 {
        ferry.signal("-INT");
        std::thread::sleep(Duration::from_millis(200));
    }
    ferry.finish();
    // The host in flight finished its steps: switched, not left half-way.
    assert_eq!(current(&fleet, 0), "releases/r1");
}

#[test]
fn after_ctrl_c_hosts_queued_behind_forks_never_start() {
    let fleet = Fleet::start(3);
    let (project, r1) = slow_project(&fleet);
    // One batch of three hosts, one at a time: h2 and h3 wait for a slot.
    let ferry = project
        .deploy(&r1, "r1")
        .args(&["--forks", "1"])
        .code(130)
        .stderr_has("  h1: deployed r1")
        .stderr_has("  h2: not started")
        .stderr_has("  h3: not started")
        .spawn();
    wait_started(&fleet, 0);
    ferry.signal("-INT");
    ferry.finish();
    assert_eq!(current(&fleet, 0), "releases/r1");
    for i in [1, 2] {
        assert!(
            !on_host(&fleet, i, "started").exists(),
            "host {} started after Ctrl-C",
            i + 1
        );
    }
}

/// A host that cannot be reached is a failure like any other: with the
/// default `max_failures: 0` nothing starts; `--skip-unreachable` deploys
/// the others and says the fleet is mixed.
#[test]
fn an_unreachable_host_counts_as_a_failure_unless_skipped() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "rollout: { batch: 1 }\n");
    let r1 = project.release_tarball("r1");
    fleet.stop_host(2);
    project
        .deploy(&r1, "r1")
        .code(1)
        .stderr_has(
            "rollout stopped: 1 host(s) failed before batch 1, more than max_failures 0 (h3)",
        )
        .stderr_has("  h1: not started")
        .run();
    for i in 0..2 {
        assert!(
            std::fs::symlink_metadata(on_host(&fleet, i, "current")).is_err(),
            "h{} was deployed",
            i + 1
        );
    }
    project
        .deploy(&r1, "r1")
        .args(["--skip-unreachable"])
        .code(1)
        .stderr_has("skipping 1 host(s) that cannot be reached (--skip-unreachable): h3; the fleet will be mixed")
        .stderr_has("  h1: deployed r1")
        .run();
    assert_eq!(current(&fleet, 0), "releases/r1");
    assert_eq!(current(&fleet, 1), "releases/r1");
}

/// A host that stops answering in the middle of its pipeline is given up
/// after three unanswered keepalives (1 s each here), not after minutes:
/// it fails alone, and the run ends within that bound.
#[test]
fn a_host_frozen_mid_run_is_given_up_after_its_keepalives() {
    let fleet = Fleet::start(1);
    let (project, r1) = slow_project(&fleet);
    let inventory = project.read("inventories/test.yml");
    project.write(
        "inventories/test.yml",
        &inventory.replace("ssh:\n", "ssh:\n  keepalive: 1s\n"),
    );
    let run = project
        .deploy(&r1, "r1")
        .code(1)
        .stderr_has("h1: FAILED")
        .stderr_lacks("SSH: Disconnected")
        .stderr_lacks("Channel send error")
        .spawn();
    wait_started(&fleet, 0);
    let frozen_at = Instant::now();
    let frozen = FrozenTree::new(fleet.hosts()[0].pid);
    let stderr = run.finish().stderr;
    let given_up_after = frozen_at.elapsed();
    drop(frozen);
    // A bound from the documented timeouts (3 keepalives of 1 s, plus the
    // 15 s bound on a lease renewal), not a benchmark.
    assert!(
        given_up_after < Duration::from_secs(30),
        "given up after {given_up_after:?}\n{stderr}"
    );
    assert!(
        std::fs::symlink_metadata(on_host(&fleet, 0, "current")).is_err(),
        "{stderr}"
    );
}
