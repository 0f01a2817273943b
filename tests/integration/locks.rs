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
