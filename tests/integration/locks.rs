//! Deploy locks on the hosts: exit 4 for a second run, released on every
//! path, stale leases, manual freezes, the emergency --force-unlock.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::fleet::Fleet;
use crate::support::project::Project;

fn tarball(project: &Project, id: &str) -> std::path::PathBuf {
    project.tarball(
        id,
        &[(
            "index.html",
            format!(
                "{id}
"
            )
            .as_bytes(),
        )],
    )
}

fn lock_dir(fleet: &Fleet, i: usize) -> PathBuf {
    fleet.on_host(i, &format!("{}/.ferry/lock", fleet.hosts()[i].deploy_to))
}

fn deploy_args<'a>(artifact: &'a str, id: &'a str) -> Vec<&'a str> {
    vec!["deploy", "test", "--artifact", artifact, "--release", id]
}

#[test]
fn a_second_deploy_finds_the_lock_and_exits_4_naming_the_first() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    project.write(
        "playbooks/deploy.yml",
        "before_switch:\n  - { name: slow, run: 'sleep 3' }\n",
    );
    let (r1, r2) = (tarball(&project, "r1"), tarball(&project, "r2"));
    let mut first = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(deploy_args(r1.to_str().unwrap(), "r1"))
        .current_dir(project.path())
        .env_remove("SSH_AUTH_SOCK")
        .env("FERRY_DEPLOYER", "alice")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(lock_dir(&fleet, 0).exists() && lock_dir(&fleet, 1).exists()) {
        assert!(
            Instant::now() < deadline,
            "the first deploy never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    project
        .ferry(&deploy_args(r2.to_str().unwrap(), "r2"))
        .expect_code(4)
        .stderr_has("environment `test` is locked by alice@")
        .stderr_has("reason: deploy r1");
    assert!(first.wait().unwrap().success());
    assert!(!lock_dir(&fleet, 0).exists() && !lock_dir(&fleet, 1).exists());
    project
        .ferry(&deploy_args(r2.to_str().unwrap(), "r2"))
        .expect_code(0);
}

#[test]
fn a_failed_deploy_releases_its_lock() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    project.write(
        "playbooks/deploy.yml",
        "before_switch:\n  - { name: broken build, run: 'exit 7' }\n",
    );
    let r1 = tarball(&project, "r1");
    project
        .ferry(&deploy_args(r1.to_str().unwrap(), "r1"))
        .expect_code(1);
    assert!(!lock_dir(&fleet, 0).exists() && !lock_dir(&fleet, 1).exists());
}

#[test]
fn a_stale_lock_needs_unlock_force() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let r1 = tarball(&project, "r1");
    // What a killed controller leaves behind: a lease long expired.
    std::fs::create_dir_all(lock_dir(&fleet, 0)).unwrap();
    std::fs::write(
        lock_dir(&fleet, 0).join("info.json"),
        r#"{"holder":"ci@gone","run_id":"old-run","since":"2026-01-01T00:00:00Z","reason":"deploy r0","lease_until":1}"#,
    )
    .unwrap();
    project
        .ferry(&deploy_args(r1.to_str().unwrap(), "r1"))
        .expect_code(4)
        .stderr_has("locked by ci@gone (run old-run)")
        .stderr_has("its lease has expired");
    project
        .ferry(&["unlock", "test"])
        .expect_code(4)
        .stderr_has("needs --force");
    project.ferry(&["unlock", "test", "--force"]).expect_code(0);
    assert!(!lock_dir(&fleet, 0).exists());
    project
        .ferry(&deploy_args(r1.to_str().unwrap(), "r1"))
        .expect_code(0);
}

#[test]
fn a_manual_freeze_stops_deploys_until_unlocked_and_rollback_can_force_it() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let (r1, r2) = (tarball(&project, "r1"), tarball(&project, "r2"));
    project
        .ferry(&deploy_args(r1.to_str().unwrap(), "r1"))
        .expect_code(0);
    project
        .ferry(&deploy_args(r2.to_str().unwrap(), "r2"))
        .expect_code(0);
    project
        .ferry(&["lock", "test", "--reason", "freeze for launch"])
        .expect_code(0);
    project
        .ferry(&deploy_args(r1.to_str().unwrap(), "r1b"))
        .expect_code(4)
        .stderr_has("reason: freeze for launch");
    project.ferry(&["rollback", "test"]).expect_code(4);
    project
        .ferry(&["rollback", "test", "--force-unlock"])
        .expect_code(0)
        .stderr_has("breaking the lock of");
    let history = std::fs::read_to_string(fleet.on_host(
        0,
        &format!("{}/.ferry/history.jsonl", fleet.hosts()[0].deploy_to),
    ))
    .unwrap();
    assert!(
        history.lines().last().unwrap().contains("--force-unlock"),
        "{history}"
    );
    assert!(!lock_dir(&fleet, 0).exists());
}

fn current(fleet: &Fleet, i: usize) -> PathBuf {
    std::fs::read_link(fleet.on_host(i, &format!("{}/current", fleet.hosts()[i].deploy_to)))
        .unwrap()
}

fn info_json(fleet: &Fleet, i: usize) -> String {
    std::fs::read_to_string(lock_dir(fleet, i).join("info.json")).unwrap()
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

/// A host's sshd listener stopped (SIGSTOP) until dropped: connections are
/// accepted by the kernel but never answered, like a network blip.
struct Frozen(u32);

impl Frozen {
    fn new(fleet: &Fleet, i: usize) -> Frozen {
        signal(fleet.hosts()[i].pid, "-STOP");
        Frozen(fleet.hosts()[i].pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

/// Finding 3: a freeze whose reason contains the old marker text is a
/// freeze like any other; the holder's info is never read as host state.
#[test]
fn a_freeze_reason_with_marker_text_still_stops_a_deploy() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let (r1, r2) = (tarball(&project, "r1"), tarball(&project, "r2"));
    project
        .ferry(&deploy_args(r1.to_str().unwrap(), "r1"))
        .expect_code(0);
    project
        .ferry(&[
            "lock",
            "test",
            "--reason",
            "freeze, ask @@taken-care-of team",
        ])
        .expect_code(0);
    let freeze = info_json(&fleet, 0);
    project
        .ferry(&deploy_args(r2.to_str().unwrap(), "r2"))
        .expect_code(4)
        .stderr_has("reason: freeze, ask @@taken-care-of team");
    assert_eq!(current(&fleet, 0), PathBuf::from("releases/r1"));
    assert_eq!(info_json(&fleet, 0), freeze);
}

/// Finding 2: a host that does not answer while the lock is taken, and
/// answers a moment later, is not deployed in that run (its freeze holds).
#[test]
fn a_host_frozen_while_the_lock_is_taken_is_not_deployed() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let (r1, r2) = (tarball(&project, "r1"), tarball(&project, "r2"));
    project
        .ferry(&deploy_args(r1.to_str().unwrap(), "r1"))
        .expect_code(0);
    project
        .ferry(&[
            "lock",
            "test",
            "-l",
            "h2",
            "--reason",
            "freeze: DB migration on h2",
        ])
        .expect_code(0);
    let freeze = info_json(&fleet, 1);
    let frozen = Frozen::new(&fleet, 1);
    let mut deploy = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(deploy_args(r2.to_str().unwrap(), "r2"))
        .current_dir(project.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // h2 answers again as soon as ferry has given up on it.
    let mut stderr = String::new();
    let mut lines = std::io::BufReader::new(deploy.stderr.take().unwrap());
    let mut frozen = Some(frozen);
    loop {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut lines, &mut line).unwrap() == 0 {
            break;
        }
        if line.contains("[h2]") && line.contains("UNREACHABLE") {
            frozen.take();
        }
        stderr.push_str(&line);
    }
    drop(frozen);
    let code = deploy.wait().unwrap().code();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not locked, not changed"), "{stderr}");
    assert_eq!(current(&fleet, 0), PathBuf::from("releases/r2"), "{stderr}");
    assert_eq!(current(&fleet, 1), PathBuf::from("releases/r1"), "{stderr}");
    assert_eq!(info_json(&fleet, 1), freeze);
}

/// `ferry lock` that cannot lock every host says which and exits 1; the
/// hosts it locked stay locked (a partial freeze beats none).
#[test]
fn lock_with_a_host_down_exits_1_naming_it() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    fleet.stop_host(1);
    project
        .ferry(&["lock", "test", "--reason", "freeze"])
        .expect_code(1)
        .stderr_has("locked test (1 of 2 hosts)")
        .stderr_has("NOT locked (1 host(s)):\n  h2: unreachable");
    assert!(info_json(&fleet, 0).contains("\"reason\":\"freeze\""));
}

/// Finding 6: a run whose lock was removed and taken by another run while
/// it worked does not switch that host, and says so.
#[test]
fn a_run_that_lost_its_lock_does_not_switch() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let (r1, r2) = (tarball(&project, "r1"), tarball(&project, "r2"));
    project
        .ferry(&deploy_args(r1.to_str().unwrap(), "r1"))
        .expect_code(0);
    // before_switch waits (up to 60 s) for the test to take the lock away.
    project.write(
        "playbooks/deploy.yml",
        "before_switch:\n  - name: wait\n    run: 'touch {{ deploy_to }}/waiting; i=0; \
         while [ ! -e {{ deploy_to }}/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done'\n",
    );
    let deploy_to = &fleet.hosts()[0].deploy_to;
    let waiting = fleet.on_host(0, &format!("{deploy_to}/waiting"));
    let go = fleet.on_host(0, &format!("{deploy_to}/go"));
    let first = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(deploy_args(r2.to_str().unwrap(), "r2"))
        .current_dir(project.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !waiting.exists() {
        assert!(Instant::now() < deadline, "before_switch never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // What `unlock --force` and another deploy do meanwhile.
    let other = r#"{"holder":"bob@elsewhere","run_id":"other-run","since":"2026-01-01T00:00:00Z","reason":"deploy rB","lease_until":99999999999}"#;
    std::fs::remove_dir_all(lock_dir(&fleet, 0)).unwrap();
    std::fs::create_dir(lock_dir(&fleet, 0)).unwrap();
    std::fs::write(lock_dir(&fleet, 0).join("info.json"), format!("{other}\n")).unwrap();
    std::fs::write(&go, "").unwrap();
    let out = first.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("lost the lock: it is now held by run other-run"),
        "{stderr}"
    );
    assert_eq!(current(&fleet, 0), PathBuf::from("releases/r1"), "{stderr}");
    assert_eq!(info_json(&fleet, 0), format!("{other}\n"));
}

/// Finding 8: a lock whose info.json is empty is reported as such and
/// removed by `unlock --force`.
#[test]
fn an_empty_lock_info_is_named_and_removed_by_unlock_force() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let r1 = tarball(&project, "r1");
    std::fs::create_dir_all(lock_dir(&fleet, 0)).unwrap();
    std::fs::write(lock_dir(&fleet, 0).join("info.json"), "").unwrap();
    let refused = project.ferry(&deploy_args(r1.to_str().unwrap(), "r1"));
    refused
        .expect_code(4)
        .stderr_has("its info.json is unreadable (empty)");
    assert!(!refused.stderr.contains("run ?"), "{}", refused.stderr);
    project
        .ferry(&["unlock", "test"])
        .expect_code(4)
        .stderr_has("info.json is unreadable");
    assert!(lock_dir(&fleet, 0).exists());
    project
        .ferry(&["unlock", "test", "--force"])
        .expect_code(0)
        .stderr_has("h1: removing a lock held by a holder ferry cannot name")
        .stderr_has("unlocked 1 host(s)");
    assert!(!lock_dir(&fleet, 0).exists());
    project
        .ferry(&deploy_args(r1.to_str().unwrap(), "r1"))
        .expect_code(0);
}

/// Finding 6: the lease renewal (every 20 s) notices that the lock is no
/// longer this run's, says so, and the run exits non-zero.
#[test]
fn a_renewal_that_finds_another_holder_marks_the_lock_lost() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let r1 = tarball(&project, "r1");
    project.write(
        "playbooks/deploy.yml",
        "before_switch:\n  - name: wait\n    run: 'touch {{ deploy_to }}/waiting; i=0; \
         while [ ! -e {{ deploy_to }}/go ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done'\n",
    );
    let deploy_to = &fleet.hosts()[0].deploy_to;
    let waiting = fleet.on_host(0, &format!("{deploy_to}/waiting"));
    let go = fleet.on_host(0, &format!("{deploy_to}/go"));
    let mut run = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(deploy_args(r1.to_str().unwrap(), "r1"))
        .current_dir(project.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !waiting.exists() {
        assert!(Instant::now() < deadline, "before_switch never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let other = r#"{"holder":"bob@elsewhere","run_id":"other-run","since":"2026-01-01T00:00:00Z","reason":"deploy rB","lease_until":99999999999}"#;
    std::fs::write(lock_dir(&fleet, 0).join("info.json"), format!("{other}\n")).unwrap();
    // The next renewal finds it; then the run may go on (to its fence).
    let mut lines = std::io::BufReader::new(run.stderr.take().unwrap());
    let mut stderr = String::new();
    loop {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut lines, &mut line).unwrap() == 0 {
            break;
        }
        if line.contains("[h1] lost the lock: it is now held by bob@elsewhere (run other-run)") {
            std::fs::write(&go, "").unwrap();
        }
        stderr.push_str(&line);
    }
    let code = run.wait().unwrap().code();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("this run lost its lock on 1 host(s)"),
        "{stderr}"
    );
    assert!(!fleet.on_host(0, &format!("{deploy_to}/current")).exists());
}
