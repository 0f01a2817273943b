//! `ferry status` for audit (issue 15): the locks on each host (holder,
//! reason, lease) and when each host last switched, a rollback included.

use crate::support::fleet::Fleet;
use crate::support::host::{history, lock_dir, next_second};
use crate::support::project::Project;

/// A run's lock whose lease runs far ahead, and one whose lease expired.
const LIVE: &str = r#"{"holder":"bob@elsewhere","run_id":"other-run","since":"2026-01-01T00:00:00Z","reason":"deploy rB","lease_until":4102444800}"#;
const GONE: &str = r#"{"holder":"ci@gone","run_id":"old-run","since":"2026-01-01T00:00:00Z","reason":"deploy r0","lease_until":1}"#;

#[test]
fn status_shows_each_lock_with_its_holder_reason_and_lease() {
    let fleet = Fleet::start(4);
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    project.deploy(&r1, "r1").run();
    for (i, info) in [(0, LIVE), (1, GONE)] {
        std::fs::create_dir_all(lock_dir(&fleet, i)).unwrap();
        std::fs::write(lock_dir(&fleet, i).join("info.json"), format!("{info}\n")).unwrap();
    }
    project.lock("audit freeze").args(["--limit", "h3"]).run();
    let human = project
        .status()
        .stdout_has(
            "locked on h1: bob@elsewhere (run other-run) since 2026-01-01T00:00:00Z, \
             reason: deploy rB; lease until 2100-01-01T00:00:00Z\n",
        )
        .stdout_has(
            "locked on h2: ci@gone (run old-run) since 2026-01-01T00:00:00Z, \
             reason: deploy r0; lease expired at 1970-01-01T00:00:01Z (the holder is gone)\n",
        )
        .stdout_has(", reason: audit freeze; manual: until `ferry unlock`\n")
        .run();
    assert!(!human.stdout.contains("locked on h4"), "{}", human.stdout);
    let json = project.status().args(["--output", "json"]).run().json();
    let lock = |i: usize| json["hosts"][i]["lock"].clone();
    assert_eq!(lock(0)["holder"], "bob@elsewhere");
    assert_eq!(lock(0)["reason"], "deploy rB");
    assert_eq!(lock(0)["lease_until"], "2100-01-01T00:00:00Z");
    assert_eq!(lock(0)["stale"], false);
    assert_eq!(lock(1)["stale"], true);
    assert_eq!(lock(2)["reason"], "audit freeze");
    assert!(lock(2)["lease_until"].is_null(), "{json}");
    assert!(lock(3).is_null(), "{json}");
}

/// SWITCHED is the time of the switch that put `current` where it is: after
/// a rollback, the rollback's. PREVIOUS after a rollback is what Capistrano
/// shows (it deletes the release rolled back from): the release before the
/// one now current, never the bad one rolled back from.
#[test]
fn status_shows_when_each_host_last_switched_a_rollback_included() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    for id in ["r1", "r2", "r3"] {
        let tarball = project.release_tarball(id);
        project.deploy(&tarball, id).run();
    }
    // r2's own switch and the rollback to it get distinct stamps.
    next_second();
    project.rollback().run();
    let json = project.status().args(["--output", "json"]).run().json();
    for i in 0..2 {
        let back = history(&fleet, i)
            .into_iter()
            .rfind(|e| e["event"] == "rolled_back")
            .expect("a rollback in the history");
        let host = &json["hosts"][i];
        assert_eq!(host["current"], "r2", "{host}");
        assert_eq!(host["previous"], "r1", "{host}");
        assert_eq!(host["switched_at"], back["at"], "{host}");
    }
    let at = json["hosts"][0]["switched_at"]
        .as_str()
        .unwrap()
        .to_string();
    project
        .status()
        .stdout_has(format!(
            "r2                           r1                           -        {at}"
        ))
        .run();
}

#[test]
fn status_colours_the_health_column_when_asked() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    project.write(
        "playbooks/deploy.yml",
        "health:\n  - { name: up, command: 'true' }\n",
    );
    let r1 = project.release_tarball("r1");
    project.deploy(&r1, "r1").run();
    let coloured = project.status().args(["--color", "always"]).run().stdout;
    assert!(coloured.contains("\u{1b}[32mok\u{1b}[0m"), "{coloured:?}");
}
