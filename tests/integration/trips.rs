//! Round trips per host: a deploy sends each host three commands (lock and
//! read; receive, switch and the health check's first attempt; then the
//! health line, the prune and the unlock together), counted by the run's
//! `ssh_trips` events, and the folded scripts keep what the separate ones
//! did.

use serde_json::Value;

use crate::support::fleet::Fleet;
use crate::support::host::{current, history, names_in, on_host, set};
use crate::support::project::Project;

const PLAYBOOK: &str = "\
keep_releases: 1
health:
  - name: page
    command: 'test -f {{ deploy_to }}/current/index.html && test ! -e {{ deploy_to }}/broken'
    retries: 0
";

/// The journal of the newest run in the project.
fn journal(project: &Project) -> Vec<Value> {
    project.newest_journal()
}

/// Each host's (`execs`, `round_trips`) from the newest run's journal.
fn trips(project: &Project) -> Vec<(String, u64, u64)> {
    journal(project)
        .iter()
        .filter(|e| e["event"] == "ssh_trips")
        .map(|e| {
            (
                e["host"].as_str().unwrap().to_string(),
                e["execs"].as_u64().unwrap(),
                e["round_trips"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn kinds(fleet: &Fleet, i: usize) -> Vec<(String, String, String)> {
    history(fleet, i)
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["release"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ev(kind: &str, release: &str, outcome: &str) -> (String, String, String) {
    (kind.into(), release.into(), outcome.into())
}

#[test]
fn a_deploy_sends_each_host_three_commands_and_the_last_one_records_prunes_and_unlocks() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    project.write("playbooks/deploy.yml", PLAYBOOK);
    let mut artifact = None;
    for id in ["r1", "r2", "r3"] {
        let made = project.release_tarball(id);
        project.deploy(&made, id).run();
        artifact = Some(made);
    }
    // Lock + state; receive + switch + the health check's first attempt;
    // then the health line + prune + unlock: three commands (seven before
    // issue 16), and every channel but the first opened while the command
    // before it ran.
    let counted = trips(&project);
    assert_eq!(counted.len(), 2, "{counted:?}");
    // A run past a lease renewal (every 20 s: a very slow machine) sends
    // one more command per renewal.
    let took = journal(&project)
        .iter()
        .find(|e| e["event"] == "run_finished")
        .and_then(|e| e["duration_ms"].as_u64())
        .unwrap();
    let renewals = took / 20_000;
    for (host, execs, round_trips) in &counted {
        assert!((3..=3 + renewals).contains(execs), "{host}: {counted:?}");
        assert!(*round_trips <= 4 + renewals, "{host}: {counted:?}");
    }
    for i in 0..2 {
        assert_eq!(current(&fleet, i), "releases/r3");
        // keep 1: r1 pruned (r2 is the previous release, always kept).
        assert_eq!(names_in(&fleet, i, "releases"), set(&["r2", "r3"]));
        let events = kinds(&fleet, i);
        assert_eq!(
            events[events.len() - 2..],
            [ev("switched", "r3", "ok"), ev("health", "r3", "ok")],
            "{events:?}"
        );
        assert!(!on_host(&fleet, i, ".ferry/lock").exists());
    }
    // The health line counts: the same deploy again skips every host.
    project
        .deploy(artifact.unwrap(), "r3")
        .stderr_has("skipped 2")
        .run();
}

#[test]
fn a_done_host_put_back_by_a_stopped_rollout_has_its_health_line_before_the_rollback() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "rollout: { max_failures: 0 }\n");
    project.write("playbooks/deploy.yml", PLAYBOOK);
    let r1 = project.release_tarball("r1");
    project.deploy(&r1, "r1").run();
    // h2's health check fails on r2: the rollout stops and puts h1 back.
    std::fs::write(on_host(&fleet, 1, "broken"), "").unwrap();
    let r2 = project.release_tarball("r2");
    project.deploy(&r2, "r2").code(1).run();
    assert_eq!(current(&fleet, 0), "releases/r1");
    assert_eq!(current(&fleet, 1), "releases/r1");
    let events = kinds(&fleet, 0);
    assert_eq!(
        events[events.len() - 4..],
        [
            ev("switched", "r2", "ok"),
            ev("health", "r2", "ok"),
            ev("rolled_back", "r1", "ok"),
            ev("health", "r1", "ok"),
        ],
        "{events:?}"
    );
    for i in 0..2 {
        assert!(!on_host(&fleet, i, ".ferry/lock").exists());
    }
}

#[test]
fn a_host_whose_undrain_fails_after_its_health_check_writes_the_health_line_before_going_back() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    project.write(
        "playbooks/deploy.yml",
        &format!(
            "{PLAYBOOK}undrain:\n  - name: back in\n    run: 'test ! -e {{{{ deploy_to }}}}/stuck'\n"
        ),
    );
    let r1 = project.release_tarball("r1");
    project.deploy(&r1, "r1").run();
    // r2 passes its health check, then its undrain fails: back to r1. The
    // health line waits for no later script: it lands before the rollback.
    std::fs::write(on_host(&fleet, 0, "stuck"), "").unwrap();
    let r2 = project.release_tarball("r2");
    project.deploy(&r2, "r2").code(1).run();
    assert_eq!(current(&fleet, 0), "releases/r1");
    let events = kinds(&fleet, 0);
    let from_r2: Vec<_> = events
        .iter()
        .skip_while(|e| **e != ev("switched", "r2", "ok"))
        .take(3)
        .cloned()
        .collect();
    assert_eq!(
        from_r2,
        [
            ev("switched", "r2", "ok"),
            ev("health", "r2", "ok"),
            ev("rolled_back", "r1", "ok"),
        ],
        "{events:?}"
    );
    assert!(!on_host(&fleet, 0, ".ferry/lock").exists());
}

/// The switch that goes with the receive's script is still fenced by the
/// run's lock: here the host's clock jumps an hour ahead after the lock was
/// taken (its second `date +%s`), so the lease has run out by the switch.
/// The received release stays, `current` does not move, the failure is the
/// switch's as if sent alone, and the switch was not sent on its own (3
/// commands: lock + state, receive + switch, the unlock; nothing is written
/// on a host whose lock is lost).
#[test]
fn a_switch_sent_with_the_receive_is_still_fenced_by_the_lock() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    project.write("playbooks/deploy.yml", PLAYBOOK);
    let r1 = project.release_tarball("r1");
    project.deploy(&r1, "r1").run();
    crate::support::host::shell_ok(
        &fleet,
        0,
        "set -e; mkdir -p /srv/.clock; cp /usr/bin/date /srv/.clock/date; : > /srv/.clock/calls; \
         printf '%s\\n' '#!/bin/sh' \
         'if [ \"$*\" = +%s ]; then echo call >> /srv/.clock/calls; \
          if [ \"$(wc -l < /srv/.clock/calls)\" -gt 1 ]; then echo $(( $(/srv/.clock/date +%s) + 3600 )); exit 0; fi; fi' \
         'exec /srv/.clock/date \"$@\"' > /srv/.clock/shim; chmod 755 /srv/.clock/shim; \
         mount --bind /srv/.clock/shim /usr/bin/date",
    );
    let r2 = project.release_tarball("r2");
    let out = project
        .deploy(&r2, "r2")
        .code(1)
        .stderr_has("task `switch` failed on h1: lost the lock: its lease expired")
        .run();
    assert_eq!(current(&fleet, 0), "releases/r1", "{}", out.stderr);
    assert_eq!(names_in(&fleet, 0, "releases"), set(&["r1", "r2"]));
    let switch = journal(&project)
        .into_iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "switch")
        .unwrap_or_else(|| panic!("no switch step in the journal\n{}", out.stderr));
    assert_eq!(switch["ok"], false, "{switch}");
    let counted = trips(&project);
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert_eq!(counted[0].1, 3, "{counted:?}\n{}", out.stderr);
}
