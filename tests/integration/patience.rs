//! One timeout, in parallel (issue 12, item 3): a host that does not answer
//! costs one connect timeout per run, paid alongside the others, is reported
//! once, and never holds up `ferry rollback` on the hosts that answer.

use std::time::Duration;

use crate::support::fleet::Fleet;
use crate::support::host::{current, lock_dir, signal, wait_until, FrozenTree};
use crate::support::project::Project;

/// A fleet of four on r2 (r1 before it) whose connect timeout is long
/// enough that waiting for it could not be missed: 30 s.
fn fleet_on_r2() -> (Fleet, Project) {
    let fleet = Fleet::start(4);
    let project = Project::new(&fleet, "");
    let inventory = project.read("inventories/test.yml");
    project.write(
        "inventories/test.yml",
        &inventory.replace("connect_timeout: 5s", "connect_timeout: 30s"),
    );
    for id in ["r1", "r2"] {
        let artifact = project.release_tarball(id);
        project.deploy(&artifact, id).run();
    }
    (fleet, project)
}

/// The listener of a host's sshd stopped: connections are accepted by the
/// kernel and never answered, as with a frozen host. Resumed when dropped.
struct Frozen(u32);

impl Frozen {
    fn new(fleet: &Fleet, i: usize) -> Frozen {
        let pid = fleet.hosts()[i].pid;
        signal(pid, "-STOP");
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

fn on_r1(fleet: &Fleet, hosts: std::ops::Range<usize>) -> bool {
    hosts
        .into_iter()
        .all(|i| current(fleet, i) == "releases/r1")
}

#[test]
fn rollback_switches_the_hosts_that_answer_while_a_frozen_one_is_still_connecting() {
    let (fleet, project) = fleet_on_r2();
    let frozen = Frozen::new(&fleet, 3);
    let mut run = project.rollback().code(1).spawn();
    // The three hosts that answer are back on r1 while the run still waits
    // for h4's connection (its 30 s connect timeout has not run out).
    wait_until(Duration::from_secs(25), "h1-h3 rolled back", || {
        on_r1(&fleet, 0..3)
    });
    assert!(run.is_running(), "the rollback ended before h4's timeout");
    let stderr = run.finish().stderr;
    drop(frozen);
    assert_eq!(current(&fleet, 3), "releases/r2", "{stderr}");
    assert_reported_once(&stderr, "h4");
}

/// One event line when the host is found unreachable, one line in the
/// summary, nothing more.
#[track_caller]
fn assert_reported_once(stderr: &str, host: &str) {
    let count = |needle: &str| stderr.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count(&format!("[{host}] UNREACHABLE")), 1, "{stderr}");
    assert_eq!(count(&format!("  {host}: UNREACHABLE")), 1, "{stderr}");
    assert_eq!(count(host), 2, "{host} named twice in all:\n{stderr}");
}

#[test]
fn a_host_that_answers_late_joins_the_rollback() {
    let (fleet, project) = fleet_on_r2();
    let frozen = Frozen::new(&fleet, 3);
    let run = project.rollback().spawn();
    wait_until(Duration::from_secs(25), "h1-h3 rolled back", || {
        on_r1(&fleet, 0..3)
    });
    // h4 answers again before its connect timeout: it is locked and rolled
    // back too, and the run succeeds.
    drop(frozen);
    let stderr = run.finish().stderr;
    assert!(on_r1(&fleet, 0..4), "{stderr}");
}

/// A late host that another live run holds by the time it answers fails
/// alone, unchanged, and its holder's lock stays; the hosts that answered in
/// time are rolled back.
#[test]
fn a_late_host_held_by_another_run_fails_alone_unchanged() {
    let (fleet, project) = fleet_on_r2();
    let holder = r#"{"holder":"bob@elsewhere","run_id":"other-run","since":"2026-01-01T00:00:00Z","reason":"deploy rB","lease_until":99999999999}"#;
    let lock = lock_dir(&fleet, 3);
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("info.json"), format!("{holder}\n")).unwrap();
    let frozen = Frozen::new(&fleet, 3);
    let run = project
        .rollback()
        .code(1)
        .stderr_has("  h4: FAILED")
        .stderr_has("bob@elsewhere (run other-run)")
        .spawn();
    wait_until(Duration::from_secs(25), "h1-h3 rolled back", || {
        on_r1(&fleet, 0..3)
    });
    drop(frozen);
    let stderr = run.finish().stderr;
    assert_eq!(current(&fleet, 3), "releases/r2", "{stderr}");
    assert_eq!(
        std::fs::read_to_string(lock.join("info.json")).unwrap(),
        format!("{holder}\n")
    );
}

#[test]
fn a_deploy_pays_one_connect_timeout_for_a_frozen_host_and_reports_it_once() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "");
    let inventory = project.read("inventories/test.yml");
    project.write(
        "inventories/test.yml",
        &inventory.replace("connect_timeout: 5s", "connect_timeout: 2s"),
    );
    let r1 = project.release_tarball("r1");
    let frozen = Frozen::new(&fleet, 2);
    let out = project
        .deploy(&r1, "r1")
        .code(1)
        .stderr_has("more than max_failures 0 (h3)")
        .run();
    drop(frozen);
    // Named a third time in the line that stops the rollout.
    assert_eq!(
        out.stderr.matches("[h3] UNREACHABLE").count(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("  h3: UNREACHABLE").count(),
        1,
        "{}",
        out.stderr
    );
}

/// TCP connections the controller opened to host `i`'s sshd that are still
/// there (a frozen sshd never accepts them, so none goes away).
fn connections_to(fleet: &Fleet, i: usize) -> usize {
    let h = &fleet.hosts()[i];
    let out = std::process::Command::new("ss")
        .args(["-Htn", "src", &format!("{}:{}", h.address, h.port)])
        .output()
        .expect("ss");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn a_frozen_host_is_connected_to_once_per_run_even_when_locks_are_broken_first() {
    let (fleet, project) = fleet_on_r2();
    let inventory = project.read("inventories/test.yml");
    project.write(
        "inventories/test.yml",
        &inventory.replace("connect_timeout: 30s", "connect_timeout: 2s"),
    );
    let frozen = Frozen::new(&fleet, 3);
    assert_eq!(connections_to(&fleet, 3), 0);
    let stderr = project
        .rollback()
        .args(["--force-unlock"])
        .code(1)
        .run()
        .stderr;
    let opened = connections_to(&fleet, 3);
    drop(frozen);
    assert_eq!(opened, 1, "{stderr}");
    assert_reported_once(&stderr, "h4");
    assert!(on_r1(&fleet, 0..3), "{stderr}");
}

/// A host that stops answering between its steps (after staging, while an
/// earlier batch runs) is given one short try when its batch comes: 2 s,
/// not its 30 s connect timeout, and it is said why.
#[test]
fn a_host_lost_between_its_steps_gets_one_short_try_not_a_connect_timeout() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "rollout: { batch: 1 }\n");
    let inventory = project.read("inventories/test.yml");
    project.write(
        "inventories/test.yml",
        &inventory.replace(
            "connect_timeout: 5s",
            "connect_timeout: 30s\n  keepalive: 1s",
        ),
    );
    project.write(
        "playbooks/deploy.yml",
        "before_switch:\n  - name: slow first batch\n    run: \"{% if host.name == 'h1' %}touch {{ deploy_to }}/in-batch; sleep 8{% endif %}\"\n",
    );
    let r1 = project.release_tarball("r1");
    let run = project
        .deploy(&r1, "r1")
        .args(["--max-failures", "1"])
        .code(1)
        .stderr_has(
            "[h3] UNREACHABLE: its connection was lost during the run and it did not answer again within 2 s",
        )
        .spawn();
    let marker = crate::support::host::on_host(&fleet, 0, "in-batch");
    wait_until(Duration::from_secs(30), "h1's batch never started", || {
        marker.exists()
    });
    let frozen = FrozenTree::new(fleet.hosts()[2].pid);
    let stderr = run.finish().stderr;
    drop(frozen);
    assert_eq!(current(&fleet, 0), "releases/r1", "{stderr}");
    assert_eq!(current(&fleet, 1), "releases/r1", "{stderr}");
    assert!(!stderr.contains("within 30s (connect timeout)"), "{stderr}");
}
