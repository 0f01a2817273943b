//! Hosts that send too much or odd data: ferry stays bounded, reads its own
//! status lines whatever follows them, and a crashed host task is a failed
//! host.

use std::io::Write as _;
use std::path::PathBuf;

use crate::support::fleet::Fleet;
use crate::support::project::Project;

fn tarball(project: &Project, id: &str) -> PathBuf {
    project.tarball(id, &[("index.html", format!("{id}\n").as_bytes())])
}

fn deploy_to(fleet: &Fleet, i: usize, rel: &str) -> PathBuf {
    fleet.on_host(i, &format!("{}/{rel}", fleet.hosts()[i].deploy_to))
}

#[test]
fn a_large_history_neither_hides_the_current_release_nor_leaks_the_lock() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let r1 = tarball(&project, "r1");
    let r2 = tarball(&project, "r2");
    let deploy = |path: &PathBuf, id: &str| {
        project.ferry(&[
            "deploy",
            "test",
            "--artifact",
            path.to_str().unwrap(),
            "--release",
            id,
        ])
    };
    deploy(&r1, "r1").expect_code(0);
    // 600 lines of 600 bytes and one of 300,000: more than the 256 KiB of
    // output that used to be kept, so ferry's own lines were pushed out.
    let mut history = std::fs::OpenOptions::new()
        .append(true)
        .open(deploy_to(&fleet, 1, ".ferry/history.jsonl"))
        .unwrap();
    for _ in 0..600 {
        writeln!(history, "{}", "x".repeat(599)).unwrap();
    }
    writeln!(history, "{}", "y".repeat(300_000)).unwrap();
    drop(history);
    let status = project.ferry(&["status", "test", "--output", "json"]);
    status.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(status.stdout.trim()).unwrap();
    for h in json["hosts"].as_array().unwrap() {
        assert_eq!(h["current"], "r1", "{h}");
    }
    deploy(&r2, "r2")
        .expect_code(0)
        .stderr_has("release r2: done 2");
    for i in 0..2 {
        assert_eq!(
            std::fs::read_link(deploy_to(&fleet, i, "current")).unwrap(),
            PathBuf::from("releases/r2")
        );
        assert!(
            !deploy_to(&fleet, i, ".ferry/lock").exists(),
            "h{} still locked",
            i + 1
        );
    }
}

#[test]
fn a_host_task_that_panics_is_a_failed_host() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let panic_h2 = [("FERRY_TEST_PANIC_HOST", "h2")];
    let run = project.ferry_env(&["run", "test", "--cmd", "true"], &panic_h2);
    run.stderr_has("ok: 1  failed: 1  unreachable: 0")
        .stderr_has("internal error: the host's task crashed");
    assert_ne!(run.code, 0, "{}", run.stderr);
    // In a deploy it used to vanish from the summary, with exit 0, after
    // its switch.
    project.write(
        "playbooks/deploy.yml",
        "after_switch:\n  - { name: restart, run: 'true' }\n",
    );
    let r1 = tarball(&project, "r1");
    let deploy = project.ferry_env(
        &[
            "deploy",
            "test",
            "--artifact",
            r1.to_str().unwrap(),
            "--release",
            "r1",
        ],
        &panic_h2,
    );
    deploy.stderr_has("rollout stopped: 1 host(s) failed, more than max_failures 0 (batch 1: h2)");
    assert_ne!(deploy.code, 0, "{}", deploy.stderr);
}
