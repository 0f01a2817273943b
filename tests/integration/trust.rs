//! Correctness on the failure paths of releases (issue 10, items 8-11):
//! `current` never points at a replaced release, rollback never lands on a
//! release known to be bad, flags do what they say, history survives torn
//! writes, and Ctrl-C in the last batch exits 130.

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::releases::{current, deploy, history_text, next_second, on_host, page, release_tarball};
use crate::support::fleet::Fleet;
use crate::support::project::Project;

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

/// Host `i`'s `kind` events of `release`; unreadable (torn) lines are skipped
/// as ferry skips them.
fn events_of(fleet: &Fleet, i: usize, kind: &str, release: &str) -> Vec<serde_json::Value> {
    history_text(fleet, i)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == kind && e["release"] == release)
        .collect()
}

#[test]
fn redeploying_the_live_release_without_its_health_record_reuses_it_in_place() {
    let fleet = Fleet::start(1);
    let project = project_with_playbook(&fleet);
    let (r1, r2) = (
        release_tarball(&project, "r1"),
        release_tarball(&project, "r2"),
    );
    deploy(&project, &r1, "r1", &[]).expect_code(0);
    deploy(&project, &r2, "r2", &[]).expect_code(0);
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
            let (mut samples, mut bad) = (0usize, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                samples += 1;
                match std::fs::read_to_string(&page_file) {
                    Ok(text) if text == page("r2") => {}
                    other => bad.push(format!("{other:?}")),
                }
            }
            (samples, bad)
        })
    };
    let again = deploy(&project, &r2, "r2", &[]);
    stop.store(true, Ordering::Relaxed);
    let (samples, bad) = sampler.join().unwrap();
    again
        .expect_code(0)
        .stderr_has("r2 is already current (same sha256) but not known healthy: reused")
        .stderr_has("release r2: done 1");
    assert!(
        !again.stderr.contains("receiving"),
        "the live release must not be received again:\n{}",
        again.stderr
    );
    assert!(
        bad.is_empty(),
        "{} of {samples} samples bad: {:?}",
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
        deploy(&project, &release_tarball(&project, id), id, &[]).expect_code(0);
    }
    // r1 no longer works on this host (say its config went stale).
    std::fs::write(on_host(&fleet, 0, "releases/r1/BROKEN"), "").unwrap();
    next_second();
    project
        .ferry(&["rollback", "test"])
        .expect_code(1)
        .stderr_has("r1 is marked bad here; back on r2")
        .stderr_has("current: r2");
    assert_eq!(current(&fleet, 0), "releases/r2");
    let r1_health = events_of(&fleet, 0, "health", "r1");
    assert_eq!(r1_health.last().unwrap()["outcome"], "failed");

    // A fix-forward deploy, then the emergency button again: r2, never r1.
    deploy(&project, &release_tarball(&project, "r3"), "r3", &[]).expect_code(0);
    next_second();
    project
        .ferry(&["rollback", "test"])
        .expect_code(0)
        .stderr_has("rolled back to r2 from r3");
    assert_eq!(current(&fleet, 0), "releases/r2");
}

#[test]
fn a_failing_after_switch_is_recorded_as_a_failure_with_its_reason() {
    let fleet = Fleet::start(1);
    let project = project_with_playbook(&fleet);
    deploy(&project, &release_tarball(&project, "r1"), "r1", &[]).expect_code(0);
    let r2 = project.tarball(
        "r2",
        &[("index.html", page("r2").as_bytes()), ("NOSTART", b"")],
    );
    deploy(&project, &r2, "r2", &[])
        .expect_code(1)
        .stderr_has("current: r1");
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
    deploy(&project, &release_tarball(&project, "r1"), "r1", &[]).expect_code(0);
    let r2 = project.tarball(
        "r2",
        &[("index.html", page("r2").as_bytes()), ("BROKEN", b"")],
    );
    for flags in [&["--rollback", "none"][..], &["--no-rollback"][..]] {
        deploy(&project, &r2, "r2", flags)
            .expect_code(3)
            .stderr_has("left on r2 (--rollback none)")
            .stderr_has("still on the failed release");
        assert_eq!(current(&fleet, 0), "releases/r2", "{flags:?}");
        // Back to r1 by hand for the second form.
        project.ferry(&["rollback", "test", "--to", "r1"]);
    }
}

#[test]
fn stop_after_canary_stops_after_one_batch_even_when_a_host_already_runs_the_release() {
    let fleet = Fleet::start(3);
    let project = project_with_playbook(&fleet);
    let r1 = release_tarball(&project, "r1");
    deploy(&project, &r1, "r1", &["-l", "h1"]).expect_code(0);
    deploy(&project, &r1, "r1", &["--stop-after-canary"])
        .expect_code(5)
        .stderr_has("batch 1 (canary): h2")
        .stderr_has("not started");
    assert_eq!(current(&fleet, 1), "releases/r1");
    assert!(
        std::fs::symlink_metadata(on_host(&fleet, 2, "current")).is_err(),
        "h3 must not be deployed after the canary"
    );
    // Without the flag the same deploy goes on from there.
    deploy(&project, &r1, "r1", &[])
        .expect_code(0)
        .stderr_has("done 1  skipped 2");
}

#[test]
fn canary_zero_on_the_command_line_overrides_the_inventory() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "rollout: { canary: 1, batch: 2 }\n");
    let r1 = release_tarball(&project, "r1");
    let plan = deploy(&project, &r1, "r1", &["--plan", "--canary", "0"]);
    plan.expect_code(0).stdout_has("batch 1: h1, h2");
    assert!(!plan.stdout.contains("(canary)"), "{}", plan.stdout);
    deploy(&project, &r1, "r1", &["--plan"])
        .expect_code(0)
        .stdout_has("batch 1 (canary): h1");
}

#[test]
fn an_empty_host_pattern_is_an_error_never_every_host() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    for pattern in ["", ",", " , "] {
        project
            .ferry(&[
                "run",
                "test",
                "--cmd",
                "touch /srv/touched",
                "--limit",
                pattern,
            ])
            .expect_code(2)
            .stderr_has("empty host pattern");
    }
    for i in 0..2 {
        assert!(!fleet.on_host(i, "/srv/touched").exists());
    }
}

#[test]
fn a_torn_history_line_neither_glues_onto_nor_loses_the_next_event() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    deploy(&project, &release_tarball(&project, "r1"), "r1", &[]).expect_code(0);
    // A disk-full append cut this event short: no newline at the end.
    let file = on_host(&fleet, 0, ".ferry/history.jsonl");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(r#"{"at":"2026-11-30T00:00:00Z","event":"failed","release":"r2","#);
    std::fs::write(&file, text).unwrap();
    next_second();
    deploy(&project, &release_tarball(&project, "r2"), "r2", &[]).expect_code(0);
    let switched = events_of(&fleet, 0, "switched", "r2");
    assert_eq!(switched.len(), 1, "{}", history_text(&fleet, 0));
    project
        .ferry(&["history", "test"])
        .expect_code(0)
        .stdout_has("switched");
    // The next rollback still knows r2 was switched to, and goes to r1.
    project
        .ferry(&["rollback", "test"])
        .expect_code(0)
        .stderr_has("rolled back to r1 from r2");
}

#[test]
fn ctrl_c_in_the_last_batch_finishes_the_host_and_exits_130() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let deploy_to = fleet.hosts()[0].deploy_to.clone();
    project.write(
        "playbooks/deploy.yml",
        &format!(
            "before_switch:\n  - {{ name: slow, run: 'touch {deploy_to}/started; sleep 2' }}\n"
        ),
    );
    let r1 = release_tarball(&project, "r1");
    let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "deploy",
            "test",
            "--artifact",
            r1.to_str().unwrap(),
            "--release",
            "r1",
        ])
        .current_dir(project.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = fleet.on_host(0, &format!("{deploy_to}/started"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() {
        assert!(Instant::now() < deadline, "before_switch never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..2 {
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("still finishing the hosts in flight"),
        "{stderr}"
    );
    // The host in flight finished its steps: switched, not left half-way.
    assert_eq!(current(&fleet, 0), "releases/r1");
}
