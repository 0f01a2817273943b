//! Deploy locks on the hosts: exit 4 for a second run, released on every
//! path, stale leases, manual freezes, the emergency --force-unlock.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::fleet::Fleet;
use crate::support::host::{current, history, history_text, lock_dir, on_host, signal, wait_until};
use crate::support::project::Project;

/// What `ferry unlock test` without --force says first when it leaves the
/// lock of every host.
const UNLOCKED_NONE: &str = "unlocked 0 host(s) of test\n\
    left locked (a run's lock needs --force, and only once its lease has expired):\n";

#[test]
fn a_second_deploy_finds_the_lock_and_exits_4_naming_the_first() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    project.write(
        "playbooks/deploy.yml",
        "before_switch:\n  - { name: slow, run: 'sleep 3' }\n",
    );
    let (r1, r2) = (project.release_tarball("r1"), project.release_tarball("r2"));
    let first = project
        .deploy(&r1, "r1")
        .env("FERRY_DEPLOYER", "alice")
        .spawn();
    wait_until(
        Duration::from_secs(20),
        "the first deploy never took the lock",
        || lock_dir(&fleet, 0).exists() && lock_dir(&fleet, 1).exists(),
    );
    project
        .deploy(&r2, "r2")
        .code(4)
        .stderr_has("environment `test` is locked by alice@")
        .stderr_has("reason: deploy r1")
        .run();
    first.finish();
    assert!(!lock_dir(&fleet, 0).exists() && !lock_dir(&fleet, 1).exists());
    project.deploy(&r2, "r2").run();
}

#[test]
fn a_failed_deploy_releases_its_lock() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    project.write(
        "playbooks/deploy.yml",
        "before_switch:\n  - { name: broken build, run: 'exit 7' }\n",
    );
    let r1 = project.release_tarball("r1");
    project.deploy(&r1, "r1").code(1).run();
    assert!(!lock_dir(&fleet, 0).exists() && !lock_dir(&fleet, 1).exists());
}

/// What a killed controller leaves behind: its run's lock, the lease long
/// expired by the host's clock.
const GONE_HOLDER: &str = r#"{"holder":"ci@gone","run_id":"old-run","since":"2026-01-01T00:00:00Z","reason":"deploy r0","lease_until":1}"#;

/// Issue 12, item 1 (was: a stale lock needs `unlock --force`): a lease
/// expired by the host's clock is no longer an escalation; the next deploy
/// takes the lock over, records whose it was in the host's history and on
/// stderr, and goes on. `unlock` still leaves such a lock without --force.
#[test]
fn an_expired_lease_is_taken_over_and_recorded() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let (r1, r2) = (project.release_tarball("r1"), project.release_tarball("r2"));
    project.deploy(&r1, "r1").run();
    std::fs::create_dir_all(lock_dir(&fleet, 0)).unwrap();
    std::fs::write(
        lock_dir(&fleet, 0).join("info.json"),
        format!("{GONE_HOLDER}\n"),
    )
    .unwrap();
    project
        .unlock()
        .code(4)
        .stderr(format!(
            "{UNLOCKED_NONE}  h1: held by ci@gone (run old-run), its lease has expired: needs --force\n"
        ))
        .run();
    let taken_over = "took over the lock of ci@gone (run old-run) since 2026-01-01T00:00:00Z, \
                      reason: deploy r0: its lease had expired (lease_until 1, host clock ";
    let out = project
        .deploy(&r2, "r2")
        .env("FERRY_DEPLOYER", "alice")
        .stderr_has(format!("[h1] warning: {taken_over}"))
        .stderr_lacks("[h2] warning")
        .run();
    assert_eq!(current(&fleet, 0), "releases/r2");
    assert_eq!(current(&fleet, 1), "releases/r2");
    assert!(!lock_dir(&fleet, 0).exists() && !lock_dir(&fleet, 1).exists());
    // In h1's history, before the switch: against the release it was on.
    let h1 = history(&fleet, 0);
    let at = h1
        .iter()
        .position(|e| e["event"] == "lock_taken_over")
        .unwrap_or_else(|| panic!("no takeover in {h1:?}"));
    let event = &h1[at];
    assert_eq!(event["release"], "r1", "{event}");
    assert_eq!(event["by"], "alice", "{event}");
    assert!(
        event["detail"].as_str().unwrap().starts_with(taken_over),
        "{event}"
    );
    assert_eq!(h1[at + 1]["event"], "switched", "{h1:?}");
    assert_eq!(h1[at + 1]["run_id"], event["run_id"], "{h1:?}");
    assert!(
        !history_text(&fleet, 1).contains("lock_taken_over"),
        "{}",
        out.stderr
    );
    // `ferry history` shows it; rollback is not fooled by it.
    project
        .history()
        .stdout_has("lock_taken_over r1")
        .stdout_has("run old-run")
        .run();
    // `unlock --force` still clears an expired lease by hand.
    std::fs::create_dir_all(lock_dir(&fleet, 1)).unwrap();
    std::fs::write(lock_dir(&fleet, 1).join("info.json"), GONE_HOLDER).unwrap();
    project.unlock().args(["--force"]).run();
    assert!(!lock_dir(&fleet, 1).exists());
    project.rollback().run();
    assert_eq!(current(&fleet, 0), "releases/r1");
}

/// A live lease is never taken over; nor is a manual lock (no lease), even
/// one set long ago: exit 4, the host untouched.
#[test]
fn a_live_lease_or_a_manual_lock_is_never_taken_over() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let (r1, r2) = (project.release_tarball("r1"), project.release_tarball("r2"));
    project.deploy(&r1, "r1").run();
    let before = history_text(&fleet, 0);
    let manual = r#"{"holder":"ops@desk","run_id":"freeze-run","since":"2026-01-01T00:00:00Z","reason":"freeze","lease_until":null}"#;
    std::fs::create_dir_all(lock_dir(&fleet, 0)).unwrap();
    for (info, says) in [
        (OTHER_HOLDER, "locked by bob@elsewhere (run other-run)"),
        (manual, "locked by ops@desk (run freeze-run)"),
    ] {
        std::fs::write(lock_dir(&fleet, 0).join("info.json"), format!("{info}\n")).unwrap();
        project
            .deploy(&r2, "r2")
            .code(4)
            .stderr_has(says)
            .stderr_lacks("took over")
            .stderr_lacks("lease has expired")
            .run();
        project.rollback().code(4).stderr_lacks("took over").run();
        assert_eq!(current(&fleet, 0), "releases/r1");
        assert_eq!(info_json(&fleet, 0), format!("{info}\n"));
        assert_eq!(history_text(&fleet, 0), before);
    }
}

#[test]
fn a_manual_freeze_stops_deploys_until_unlocked_and_rollback_can_force_it() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let (r1, r2) = (project.release_tarball("r1"), project.release_tarball("r2"));
    project.deploy(&r1, "r1").run();
    project.deploy(&r2, "r2").run();
    project.lock("freeze for launch").run();
    project
        .deploy(&r1, "r1b")
        .code(4)
        .stderr_has("reason: freeze for launch")
        .run();
    project.rollback().code(4).run();
    project
        .rollback()
        .args(["--force-unlock"])
        .stderr_has("breaking the lock of")
        .run();
    let history = history_text(&fleet, 0);
    assert!(
        history.lines().last().unwrap().contains("--force-unlock"),
        "{history}"
    );
    assert!(!lock_dir(&fleet, 0).exists());
}

pub(crate) fn info_json(fleet: &Fleet, i: usize) -> String {
    std::fs::read_to_string(lock_dir(fleet, i).join("info.json")).unwrap()
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
    let (r1, r2) = (project.release_tarball("r1"), project.release_tarball("r2"));
    project.deploy(&r1, "r1").run();
    project.lock("freeze, ask @@taken-care-of team").run();
    let freeze = info_json(&fleet, 0);
    project
        .deploy(&r2, "r2")
        .code(4)
        .stderr_has("reason: freeze, ask @@taken-care-of team")
        .run();
    assert_eq!(current(&fleet, 0), "releases/r1");
    assert_eq!(info_json(&fleet, 0), freeze);
}

/// Finding 2: a host that does not answer while the lock is taken, and
/// answers a moment later, is not deployed in that run (its freeze holds).
#[test]
fn a_host_frozen_while_the_lock_is_taken_is_not_deployed() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let (r1, r2) = (project.release_tarball("r1"), project.release_tarball("r2"));
    project.deploy(&r1, "r1").run();
    project
        .lock("freeze: DB migration on h2")
        .args(["-l", "h2"])
        .run();
    let freeze = info_json(&fleet, 1);
    let frozen = Frozen::new(&fleet, 1);
    // h2 would count as a failure and stop the rollout: deploy h1 anyway.
    let mut deploy = project
        .deploy(&r2, "r2")
        .args(["--skip-unreachable"])
        .code(1)
        .stderr_has("not locked, not changed")
        .spawn();
    // h2 answers again as soon as ferry has given up on it.
    deploy.stderr_until(|line| line.contains("[h2]") && line.contains("UNREACHABLE"));
    drop(frozen);
    let stderr = deploy.finish().stderr;
    assert_eq!(current(&fleet, 0), "releases/r2", "{stderr}");
    assert_eq!(current(&fleet, 1), "releases/r1", "{stderr}");
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
        .lock("freeze")
        .code(1)
        .stderr_has("locked test (1 of 2 hosts)")
        .stderr_has("NOT locked (1 host(s)):\n  h2: unreachable")
        .run();
    assert!(info_json(&fleet, 0).contains("\"reason\":\"freeze\""));
}

/// The info.json of a lock another run holds, its lease far off.
pub(crate) const OTHER_HOLDER: &str = r#"{"holder":"bob@elsewhere","run_id":"other-run","since":"2026-01-01T00:00:00Z","reason":"deploy rB","lease_until":99999999999}"#;

/// A `before_switch` step that holds host h1's deploy until the test opens
/// the gate (or `tenths` tenths of a second pass).
pub(crate) struct Gate {
    waiting: PathBuf,
    go: PathBuf,
}

impl Gate {
    pub(crate) fn install(fleet: &Fleet, project: &Project, tenths: u32) -> Gate {
        project.write(
            "playbooks/deploy.yml",
            &format!(
                "before_switch:\n  - name: wait\n    run: 'touch {{{{ deploy_to }}}}/waiting; i=0; \
                 while [ ! -e {{{{ deploy_to }}}}/go ] && [ $i -lt {tenths} ]; do sleep 0.1; i=$((i+1)); done'\n"
            ),
        );
        Gate {
            waiting: on_host(fleet, 0, "waiting"),
            go: on_host(fleet, 0, "go"),
        }
    }

    /// Wait until the deploy stands at the gate.
    pub(crate) fn reached(&self) {
        wait_until(
            Duration::from_secs(30),
            "before_switch never started",
            || self.waiting.exists(),
        );
    }

    pub(crate) fn open(&self) {
        std::fs::write(&self.go, "").unwrap();
    }
}

/// Finding 6: a run whose lock was removed and taken by another run while
/// it worked does not switch that host, and says so.
#[test]
fn a_run_that_lost_its_lock_does_not_switch() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let (r1, r2) = (project.release_tarball("r1"), project.release_tarball("r2"));
    project.deploy(&r1, "r1").run();
    // before_switch waits (up to 60 s) for the test to take the lock away.
    let gate = Gate::install(&fleet, &project, 600);
    let first = project
        .deploy(&r2, "r2")
        .code(1)
        .stderr_has("lost the lock: it is now held by run other-run")
        .spawn();
    gate.reached();
    // What `unlock --force` and another deploy do meanwhile.
    std::fs::remove_dir_all(lock_dir(&fleet, 0)).unwrap();
    std::fs::create_dir(lock_dir(&fleet, 0)).unwrap();
    std::fs::write(
        lock_dir(&fleet, 0).join("info.json"),
        format!("{OTHER_HOLDER}\n"),
    )
    .unwrap();
    gate.open();
    let stderr = first.finish().stderr;
    assert_eq!(current(&fleet, 0), "releases/r1", "{stderr}");
    assert_eq!(info_json(&fleet, 0), format!("{OTHER_HOLDER}\n"));
}

/// Finding 8: a lock whose info.json is empty is reported as such and
/// removed by `unlock --force`.
#[test]
fn an_empty_lock_info_is_named_and_removed_by_unlock_force() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    std::fs::create_dir_all(lock_dir(&fleet, 0)).unwrap();
    std::fs::write(lock_dir(&fleet, 0).join("info.json"), "").unwrap();
    project
        .deploy(&r1, "r1")
        .code(4)
        .stderr_lines(
            "error: environment `test` is locked by a holder ferry cannot name: its info.json is unreadable (empty); \
             `ferry unlock --force` removes it on h1\n",
        )
        .stderr_lacks("run ?")
        .run();
    project
        .unlock()
        .code(4)
        .stderr(format!(
            "{UNLOCKED_NONE}  h1: locked by a holder ferry cannot name: its info.json is unreadable (empty); \
             `ferry unlock --force` removes it\n"
        ))
        .run();
    assert!(lock_dir(&fleet, 0).exists());
    project
        .unlock()
        .args(["--force"])
        .stderr_has("h1: removing a lock held by a holder ferry cannot name")
        .stderr_has("unlocked 1 host(s)")
        .run();
    assert!(!lock_dir(&fleet, 0).exists());
    project.deploy(&r1, "r1").run();
}

/// Issue 12, item 1: a run that ends while it cannot release a host's lock
/// (the host went down mid-run) names that host; the lock it leaves has a
/// lease, so the next run takes it over.
#[test]
fn a_run_that_cannot_release_a_lock_names_the_host() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    let gate = Gate::install(&fleet, &project, 600);
    let run = project
        .deploy(&r1, "r1")
        .code(1)
        .stderr_has("could not release the lock on 1 host(s)")
        .spawn();
    gate.reached();
    fleet.stop_host(0);
    let stderr = run.finish().stderr;
    let named = stderr
        .split("could not release the lock on 1 host(s)")
        .nth(1)
        .unwrap_or_default();
    assert!(named.contains("\n  h1: "), "{stderr}");
    assert!(lock_dir(&fleet, 0).exists(), "{stderr}");
}
