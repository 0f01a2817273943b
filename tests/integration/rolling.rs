//! Rolling deploys against real sshd, each host serving its `current`
//! release over HTTP, so a release's health is real.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::support::fleet::{AppServer, Fleet, HeldConnection};
use crate::support::host::{current, currents, on_host, wait_until};
use crate::support::project::Project;

const PORT: u16 = 18080;

/// Health: the app answers /health with "ok", and no `broken` marker exists.
const PLAYBOOK: &str = "\
health:
  - name: http
    http: { url: 'http://{{ host.address }}:18080/health', body: ok }
    retries: 2
    interval: 200ms
    timeout: 2s
  - name: marker
    command: 'test ! -e {{ deploy_to }}/broken'
    retries: 0
";

struct Rig {
    fleet: Fleet,
    project: Project,
    /// One app per host, served for the rig's life.
    apps: Vec<AppServer>,
}

fn rig(hosts: usize, rollout: &str, playbook: &str) -> Rig {
    let fleet = Fleet::start(hosts);
    let project = Project::new(&fleet, rollout);
    project.write("playbooks/deploy.yml", playbook);
    let apps = fleet.start_apps(PORT);
    Rig {
        fleet,
        project,
        apps,
    }
}

/// A rig whose hosts all run a healthy r1, and a healthy r2 to deploy next.
fn rig_on_r1(hosts: usize, rollout: &str, playbook: &str) -> (Rig, PathBuf) {
    let rig = rig(hosts, rollout, playbook);
    let r1 = release(&rig.project, "r1", true);
    let r2 = release(&rig.project, "r2", true);
    rig.project.deploy(&r1, "r1").run();
    (rig, r2)
}

fn assert_all_on(rig: &Rig, release: &str) {
    let currents = currents(&rig.fleet);
    assert!(
        currents.iter().all(|c| *c == format!("releases/{release}")),
        "{currents:?}"
    );
}

/// A release tarball; `healthy` ones carry the `health` file the check reads.
fn release(project: &Project, id: &str, healthy: bool) -> PathBuf {
    let page = format!("release {id}\n");
    let mut files: Vec<(&str, &[u8])> = vec![("index.html", page.as_bytes())];
    if healthy {
        files.push(("health", b"ok\n"));
    }
    project.tarball(id, &files)
}

/// The journal of the newest run in the project.
fn journal(project: &Project) -> Vec<Value> {
    project.newest_journal()
}

fn events<'a>(journal: &'a [Value], event: &str) -> Vec<&'a Value> {
    journal.iter().filter(|e| e["event"] == event).collect()
}

fn at(e: &Value) -> u64 {
    e["at_ms"].as_u64().unwrap()
}

#[test]
fn a_good_release_rolls_through_canary_and_batches_in_order() {
    let (rig, r2) = rig_on_r1(5, "rollout: { canary: 1, batch: 2 }\n", PLAYBOOK);
    rig.project
        .deploy(&r2, "r2")
        .stderr_has("batch 1 (canary): h1")
        .stderr_has("batch 2: h2, h3")
        .stderr_has("batch 3: h4, h5")
        .stderr_has("release r2: done 5")
        .run();
    assert_all_on(&rig, "r2");
    let j = journal(&rig.project);
    let batch_of = |e: &Value| e["batch"].as_u64().unwrap();
    for k in 1..3u64 {
        let last_healthy = events(&j, "healthy")
            .into_iter()
            .filter(|e| batch_of(e) == k)
            .map(at)
            .max()
            .unwrap();
        let first_switch = events(&j, "switched")
            .into_iter()
            .filter(|e| batch_of(e) == k + 1)
            .map(at)
            .min()
            .unwrap();
        assert!(
            last_healthy <= first_switch,
            "batch {} switched before batch {k} was healthy",
            k + 1
        );
    }
    assert_eq!(events(&j, "healthy").len(), 5);
}

#[test]
fn a_rolling_deploy_stages_every_host_before_the_first_switch() {
    let (rig, r2) = rig_on_r1(4, "rollout: { canary: 1, batch: 50% }\n", PLAYBOOK);
    rig.project
        .deploy(&r2, "r2")
        .stderr_has("staging r2 on 4 host(s)")
        .run();
    let j = journal(&rig.project);
    let received: Vec<&Value> = events(&j, "step_finished")
        .into_iter()
        .filter(|e| e["step"] == "receive")
        .collect();
    assert_eq!(received.len(), 4, "{received:?}");
    assert!(received.iter().all(|e| e["batch"] == 0 && e["ok"] == true));
    let last_received = received.iter().map(|e| at(e)).max().unwrap();
    let first_switch = events(&j, "switched").into_iter().map(at).min().unwrap();
    assert!(
        last_received <= first_switch,
        "a host switched before all were staged"
    );
    assert_all_on(&rig, "r2");
}

/// A host whose staging failed is known to fail before batch 1: it counts
/// then, so with `max_failures: 0` nothing is switched at all (issue 12).
#[test]
fn a_host_that_fails_staging_stops_the_rollout_before_batch_1() {
    let (rig, r2) = rig_on_r1(5, "rollout: { canary: 1, batch: 2 }\n", PLAYBOOK);
    rig.project
        .deploy(&r2, "r2")
        .env("FERRY_TEST_CORRUPT_UPLOAD", "h3")
        .code(1)
        .stderr_has("checksum mismatch")
        .stderr_has("h3: FAILED, current: r1")
        .stderr_has(
            "rollout stopped: 1 host(s) failed before batch 1, more than max_failures 0 (h3)",
        )
        .stderr_has("h1: not started")
        .stderr_has("h4: not started")
        .run();
    assert_all_on(&rig, "r1");
    let j = journal(&rig.project);
    assert!(events(&j, "switched").is_empty());
    // With one failure allowed, h3 still fails (in its batch, once) and the
    // others are deployed.
    rig.project
        .deploy(&r2, "r2")
        .args(["--max-failures", "1"])
        .env("FERRY_TEST_CORRUPT_UPLOAD", "h3")
        .code(1)
        .stderr_has("h3: FAILED, current: r1")
        .stderr_has("h4: deployed r2")
        .run();
}

#[test]
fn a_bad_release_stops_at_the_canary_which_goes_back_healthy() {
    let rig = rig(4, "rollout: { canary: 1, batch: 50% }\n", PLAYBOOK);
    let r1 = release(&rig.project, "r1", true);
    let bad = release(&rig.project, "bad", false);
    rig.project.deploy(&r1, "r1").run();
    rig.project
        .deploy(&bad, "bad")
        .code(1)
        .stderr_has(
            "rollout stopped: 1 host(s) failed, more than max_failures 0 (batch 1, the canary: h1)",
        )
        .stderr_has("h1: FAILED, current: r1")
        .stderr_has("health check failed after 3 attempts")
        .stderr_has("h2: not started")
        .run();
    assert_all_on(&rig, "r1");
    let j = journal(&rig.project);
    // The canary came back and passed its health check on r1.
    let back = events(&j, "healthy");
    assert!(
        back.iter()
            .any(|e| e["host"] == "h1" && e["release"] == "r1"),
        "{back:?}"
    );
    assert!(events(&j, "switched").iter().all(|e| e["host"] == "h1"));
}

#[test]
fn a_failure_in_the_second_batch_rolls_back_batches_one_and_two() {
    let (rig, r2) = rig_on_r1(5, "rollout: { canary: 1, batch: 2 }\n", PLAYBOOK);
    // h3 (batch 2) fails its marker check on any release.
    std::fs::write(on_host(&rig.fleet, 2, "broken"), "").unwrap();
    rig.project
        .deploy(&r2, "r2")
        .code(1)
        .stderr_has("rolling back 2 host(s): h1, h2")
        .stderr_has("h4: not started")
        .stderr_has("h5: not started")
        .run();
    assert_all_on(&rig, "r1");
    let j = journal(&rig.project);
    assert!(events(&j, "batch_started").iter().all(|e| e["batch"] != 3));
}

#[test]
fn max_failures_one_tolerates_a_failing_host_and_completes_the_rest() {
    let (rig, r2) = rig_on_r1(4, "rollout: { batch: 2, max_failures: 1 }\n", PLAYBOOK);
    std::fs::write(on_host(&rig.fleet, 1, "broken"), "").unwrap();
    rig.project
        .deploy(&r2, "r2")
        .code(1)
        .stderr_has("h2: FAILED, current: r1")
        .stderr_has("release r2: done 3  skipped 0  failed 1")
        .run();
    assert_eq!(
        currents(&rig.fleet),
        ["releases/r2", "releases/r1", "releases/r2", "releases/r2"]
    );
}

/// The drain condition: no established connection to this host's app.
fn drain_playbook(max_drain: &str, on_timeout: &str) -> String {
    format!(
        "drain:\n  - name: sessions gone\n    wait_for:\n      command: \"! ss -Htn state established src {{{{ host.address }}}}:{PORT} | grep -q .\"\n      timeout: {max_drain}\n      interval: 200ms\n      on_timeout: {on_timeout}\n{PLAYBOOK}"
    )
}

#[test]
fn draining_waits_for_held_sessions_before_the_switch() {
    let (rig, r2) = rig_on_r1(1, "", &drain_playbook("30s", "fail"));
    let held = HeldConnection::open(rig.apps[0].addr());
    let released_at = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let at = u64::try_from(at).expect("milliseconds since 1970 fit in u64");
        held.close();
        at
    });
    rig.project.deploy(&r2, "r2").run();
    let released = released_at.join().unwrap();
    let j = journal(&rig.project);
    let switched = at(events(&j, "switched")[0]);
    assert!(
        switched >= released,
        "switched at {switched}, session released at {released}"
    );
}

#[test]
fn a_maximum_drain_time_lets_the_deploy_go_on() {
    let (rig, r2) = rig_on_r1(1, "", &drain_playbook("2s", "continue"));
    let _held = HeldConnection::open(rig.apps[0].addr());
    rig.project
        .deploy(&r2, "r2")
        .stderr_has("going on (on_timeout: continue)")
        .run();
    assert_eq!(current(&rig.fleet, 0), "releases/r2");
}

#[test]
fn a_delegated_drain_task_runs_on_the_delegate_with_the_drained_hosts_vars() {
    let playbook = format!(
        "drain:\n  - name: lb disable\n    run: echo \"disable {{{{ host.name }}}} {{{{ lb_tag }}}}\" >> {{{{ deploy_to }}}}-lb.log\n    delegate_to: h1\n{PLAYBOOK}"
    );
    let rig = rig(3, "vars: { lb_tag: x }\n", &playbook);
    let r1 = release(&rig.project, "r1", true);
    rig.project
        .deploy(&r1, "r1")
        .args(["--limit", "h2,h3"])
        .stderr_has("`lb disable` delegated to h1")
        .run();
    // Written on h1 (the delegate), about h2 and h3.
    let h1 = &rig.fleet.hosts()[0];
    let lb = rig.fleet.on_host(0, &format!("{}-lb.log", h1.deploy_to));
    let text = std::fs::read_to_string(&lb).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["disable h2 x", "disable h3 x"]);
    for i in 1..3 {
        let h = &rig.fleet.hosts()[i];
        assert!(!rig
            .fleet
            .on_host(i, &format!("{}-lb.log", h.deploy_to))
            .exists());
    }
}

#[test]
fn a_deploy_false_load_balancer_is_reached_by_delegate_to_but_never_deployed() {
    let playbook = format!(
        "drain:\n  - name: lb disable\n    run: echo \"disable {{{{ host.name }}}}\" >> {{{{ deploy_to }}}}-lb.log\n    delegate_to: h1\n{PLAYBOOK}"
    );
    let rig = rig(
        3,
        "groups:\n  lb: { hosts: [h1], deploy: false }\n",
        &playbook,
    );
    let r1 = release(&rig.project, "r1", true);
    // No --limit: h1 is not a target, and a pattern naming it says so.
    rig.project.deploy(&r1, "r1").run();
    rig.project
        .deploy(&r1, "r1")
        .args(["--limit", "all"])
        .stderr_has("warning: skipping h1 (`deploy: false` in the inventory)")
        .run();
    rig.project
        .deploy(&r1, "r1")
        .args(["--limit", "lb"])
        .code(2)
        .stderr_has("pattern `lb` selects only hosts marked `deploy: false` (h1)")
        .run();
    let h1 = &rig.fleet.hosts()[0];
    assert!(
        !on_host(&rig.fleet, 0, "current").exists(),
        "h1 was deployed"
    );
    assert!(
        !on_host(&rig.fleet, 0, "releases").exists(),
        "h1 was touched"
    );
    assert_eq!(current(&rig.fleet, 1), "releases/r1");
    assert_eq!(current(&rig.fleet, 2), "releases/r1");
    // The delegate still ran the drain for the two targets (the second
    // deploy of r1 had nothing to do).
    let lb = rig.fleet.on_host(0, &format!("{}-lb.log", h1.deploy_to));
    let text = std::fs::read_to_string(&lb).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["disable h2", "disable h3"]);
    // Status never looks at it either; `ferry run` still reaches it.
    let status = rig.project.status().run();
    let out = &status.stdout;
    assert!(out.contains("h2") && !out.contains("h1"), "{out}");
    rig.project
        .ferry(["run", "test", "--cmd", "echo on the lb", "--limit", "lb"])
        .stdout_has("h1 | on the lb")
        .run();
}

#[test]
fn a_health_retry_is_an_event_and_a_terminal_line() {
    // Fails its first attempt on each host, passes the second.
    let playbook = "health:\n  - name: warm\n    command: 'test -e {{ deploy_to }}/warm || { touch {{ deploy_to }}/warm; echo cold >&2; exit 1; }'\n    retries: 2\n    interval: 100ms\n";
    let rig = rig(2, "", playbook);
    let r1 = release(&rig.project, "r1", true);
    rig.project
        .deploy(&r1, "r1")
        .stderr_has("health `warm`: attempt 1 of 3 not yet (cold); again in 100ms")
        .run();
    let j = journal(&rig.project);
    let retries = events(&j, "probe_retry");
    assert_eq!(retries.len(), 2, "{retries:?}");
    for e in retries {
        assert_eq!(e["kind"], "health");
        assert_eq!(e["probe"], "warm");
        assert_eq!(
            (e["attempt"].as_u64(), e["attempts"].as_u64()),
            (Some(1), Some(3))
        );
        assert_eq!(e["reason"], "cold");
    }
    assert_all_on(&rig, "r1");
}

#[test]
fn sigterm_during_batch_two_then_a_second_deploy_finishes_the_fleet() {
    let slow = format!("before_switch:\n  - {{ name: build, run: 'sleep 1' }}\n{PLAYBOOK}");
    let (rig, r2) = rig_on_r1(5, "rollout: { canary: 1, batch: 2 }\n", &slow);
    // Only the interrupted run's journal may be read below.
    std::fs::remove_dir_all(rig.project.path().join(".ferry/runs")).unwrap();
    let ferry = rig.project.deploy(&r2, "r2").code(130).spawn();
    wait_until(Duration::from_secs(30), "batch 2 never started", || {
        std::panic::catch_unwind(|| journal(&rig.project))
            .is_ok_and(|j| events(&j, "batch_started").iter().any(|e| e["batch"] == 2))
    });
    ferry.signal("-TERM");
    ferry.finish();
    let after_interrupt = currents(&rig.fleet);
    // Batch 3 never started; batches 1 and 2 finished safely on r2.
    assert_eq!(
        after_interrupt,
        [
            "releases/r2",
            "releases/r2",
            "releases/r2",
            "releases/r1",
            "releases/r1"
        ]
    );
    rig.project.deploy(&r2, "r2").stderr_has("skipped 3").run();
    assert_all_on(&rig, "r2");
}

#[test]
fn plan_shows_batches_without_connecting() {
    let project = Project::empty();
    project.write(
        "inventories/test.yml",
        "rollout: { canary: 1, batch: 25% }\nvars: { deploy_to: /srv/app }\nhosts:\n\
         \x20 a1: { address: 127.0.0.1, port: 1 }\n  a2: { address: 127.0.0.1, port: 1 }\n\
         \x20 a3: { address: 127.0.0.1, port: 1 }\n  a4: { address: 127.0.0.1, port: 1 }\n  a5: { address: 127.0.0.1, port: 1 }\n",
    );
    project.write(
        "playbooks/deploy.yml",
        "after_switch:\n  - { name: restart, run: 'systemctl restart app-{{ release_id }}' }\n",
    );
    project.write("a.tar.gz", "not really a tarball");
    project
        .deploy("a.tar.gz", "r9")
        .arg("--plan")
        .stdout_has("release r9: 5 hosts in 3 batches")
        .stdout_has("staging: every host receives r9 before batch 1 switches")
        .stdout_has("batch 1 (canary): a1")
        .stdout_has("batch 2: a2, a3")
        .stdout_has("batch 3: a4, a5")
        .stdout_has("[after_switch] run      restart: systemctl restart app-r9")
        .run();
}

#[test]
fn plan_of_one_host_says_host_batch_and_no_pause_in_the_singular() {
    let project = Project::empty();
    project.write(
        "inventories/test.yml",
        "vars: { deploy_to: /srv/app }\nhosts:\n  a1: { address: 127.0.0.1, port: 1 }\n",
    );
    project.write(
        "playbooks/deploy.yml",
        "after_switch:\n  - { name: restart, run: 'true' }\n",
    );
    project.write("a.tar.gz", "not really a tarball");
    project
        .deploy("a.tar.gz", "r9")
        .arg("--plan")
        .stdout_has("release r9: 1 host in 1 batch; max failures 0; no pause\n")
        .run();
}
