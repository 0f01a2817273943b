//! `ferry rollback` drains: batches of the rollout's size, each drained,
//! switched, checked and undrained before the next; `--now` is every host at
//! once without drain or undrain. The drain and undrain stages write to one
//! log every host shares (the fleet's folder), so the order is the run's.

use std::path::PathBuf;

use crate::support::fleet::Fleet;
use crate::support::host::{current, currents, on_host};
use crate::support::project::Project;

/// Drain and undrain log `<what> <host>`; health fails where
/// `<deploy_to>/broken-<release>` exists.
fn playbook(log: &str) -> String {
    format!(
        "drain:\n  - {{ name: lb off, run: 'echo drain {{{{ host.name }}}} >> {log}' }}\n\
         undrain:\n  - {{ name: lb on, run: 'echo undrain {{{{ host.name }}}} >> {log}' }}\n\
         health:\n  - name: marker\n    command: 'test ! -e {{{{ deploy_to }}}}/broken-{{{{ release_id }}}}'\n    retries: 0\n"
    )
}

struct Rig {
    fleet: Fleet,
    project: Project,
    log: PathBuf,
}

/// `hosts` hosts with batch 2, on r2 after r1; the log emptied.
fn rig_on_r2(hosts: usize) -> Rig {
    let fleet = Fleet::start(hosts);
    let project = Project::new(&fleet, "rollout: { batch: 2 }\n");
    let log = fleet.dir().join("lb.log");
    project.write("playbooks/deploy.yml", &playbook(&log.to_string_lossy()));
    for id in ["r1", "r2"] {
        let tar = project.release_tarball(id);
        project.deploy(&tar, id).run();
    }
    std::fs::write(&log, "").unwrap();
    Rig {
        fleet,
        project,
        log,
    }
}

fn log_lines(rig: &Rig) -> Vec<String> {
    std::fs::read_to_string(&rig.log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The log's lines in groups of `size`, each group sorted.
fn groups(lines: &[String], size: usize) -> Vec<Vec<String>> {
    lines
        .chunks(size)
        .map(|c| {
            let mut c = c.to_vec();
            c.sort();
            c
        })
        .collect()
}

fn words(s: &str) -> Vec<String> {
    s.split(',').map(str::to_string).collect()
}

#[test]
fn a_rollback_drains_in_batches_one_batch_out_at_a_time() {
    let rig = rig_on_r2(4);
    rig.project
        .rollback()
        .stderr_has("batch 1: h1, h2")
        .stderr_has("batch 2: h3, h4")
        .stderr_lacks("--now")
        .run();
    assert!(currents(&rig.fleet).iter().all(|c| c == "releases/r1"));
    // Batch 2 drains only once batch 1 is undrained.
    assert_eq!(
        groups(&log_lines(&rig), 4),
        [
            words("drain h1,drain h2,undrain h1,undrain h2"),
            words("drain h3,drain h4,undrain h3,undrain h4"),
        ],
        "{:?}",
        log_lines(&rig)
    );
}

#[test]
fn rollback_now_goes_at_once_without_draining_and_says_so() {
    let rig = rig_on_r2(3);
    rig.project
        .rollback()
        .arg("--now")
        .stderr_has("rollback --now: every host at once, without drain or undrain")
        .stderr_lacks("batch 1")
        .run();
    assert!(currents(&rig.fleet).iter().all(|c| c == "releases/r1"));
    assert_eq!(log_lines(&rig), Vec::<String>::new());
}

#[test]
fn a_host_whose_rollback_fails_goes_back_and_later_batches_go_on() {
    let rig = rig_on_r2(4);
    std::fs::write(on_host(&rig.fleet, 0, "broken-r1"), "").unwrap();
    rig.project
        .rollback()
        .code(1)
        .stderr_has("batch 2: h3, h4")
        .run();
    // h1 went back to r2 by its own pipeline; the others rolled back.
    assert_eq!(current(&rig.fleet, 0), "releases/r2");
    for i in 1..4 {
        assert_eq!(current(&rig.fleet, i), "releases/r1", "h{}", i + 1);
    }
    // Every drained host was undrained, h1 too.
    let lines = log_lines(&rig);
    for h in ["h1", "h2", "h3", "h4"] {
        let drained = lines.iter().filter(|l| **l == format!("drain {h}")).count();
        let undrained = lines
            .iter()
            .filter(|l| **l == format!("undrain {h}"))
            .count();
        assert_eq!((drained, undrained), (1, 1), "{h}: {lines:?}");
    }
}

/// SIGTERM during a drained rollback: the batch in flight finishes and is
/// undrained, no new batch starts (those hosts stay on their release, in
/// the balancer), exit 130.
#[test]
fn a_signal_during_a_drained_rollback_finishes_the_batch_in_flight_and_starts_no_other() {
    let rig = rig_on_r2(4);
    let log = rig.log.to_string_lossy().to_string();
    // Batch 1's hosts wait after their switch, so the signal lands mid-batch.
    rig.project.write(
        "playbooks/deploy.yml",
        &format!(
            "{}after_switch:\n  - {{ name: slow, run: 'touch {{{{ deploy_to }}}}/switched; sleep 2' }}\n",
            playbook(&log)
        ),
    );
    let run = rig
        .project
        .rollback()
        .code(130)
        .stderr_has("interrupted: no new batch was started")
        .spawn();
    crate::support::host::wait_until(
        std::time::Duration::from_secs(30),
        "batch 1 never switched",
        || on_host(&rig.fleet, 0, "switched").exists(),
    );
    run.signal("-TERM");
    let stderr = run.finish().stderr;
    assert_eq!(
        currents(&rig.fleet),
        ["releases/r1", "releases/r1", "releases/r2", "releases/r2"],
        "{stderr}"
    );
    // Batch 1 drained and undrained; batch 2 never touched.
    assert_eq!(
        groups(&log_lines(&rig), 2),
        [words("drain h1,drain h2"), words("undrain h1,undrain h2")],
        "{stderr}"
    );
}
