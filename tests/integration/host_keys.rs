//! Host keys: strict `known_hosts` checking, accept-new, changed keys.

use std::fmt::Write as _;

use crate::support::fleet::Fleet;
use crate::support::project::Project;

#[test]
fn a_changed_host_key_is_refused_and_the_other_hosts_go_on() {
    let fleet = Fleet::start(3);
    let hosts = fleet.hosts();
    // h2's entry holds h1's key: exactly what a man in the middle looks like.
    let mut known = String::new();
    for (i, h) in hosts.iter().enumerate() {
        let key = if i == 1 {
            &hosts[0].host_key_line
        } else {
            &h.host_key_line
        };
        let _ = writeln!(known, "[{}]:{} {key}", h.address, h.port);
    }
    std::fs::write(fleet.known_hosts(), known).unwrap();
    let project = Project::new(&fleet, "");
    project
        .run_cmd("true")
        .code(1)
        .stderr_has("ok: 2  failed: 1  unreachable: 0")
        .stderr_has(format!(
            "HOST KEY CHANGED for {}:{}",
            hosts[1].address, hosts[1].port
        ))
        .stderr_has(format!("{}:2", fleet.known_hosts().display()))
        .run();
}

#[test]
fn an_unknown_host_is_refused_unless_accept_new_which_records_it() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let empty = project.write("known_hosts", "");
    let inventory = fleet.inventory_yaml("").replace(
        &fleet.known_hosts().display().to_string(),
        &empty.display().to_string(),
    );
    project.write("inventories/test.yml", &inventory);
    project
        .run_cmd("true")
        .code(1)
        .stderr_has("is unknown")
        .stderr_has("accept-new")
        .run();
    assert_eq!(
        project.read("known_hosts"),
        "",
        "strict mode must not write keys"
    );

    project.write(
        "inventories/test.yml",
        &inventory.replace("host_key_policy: strict", "host_key_policy: accept-new"),
    );
    project.run_cmd("true").run();
    let learned = project.read("known_hosts");
    for h in fleet.hosts() {
        assert!(
            learned.contains(&format!("[{}]:{} {}", h.address, h.port, h.host_key_line)),
            "{learned}"
        );
    }
    // Learned keys are now trusted strictly.
    project.write("inventories/test.yml", &inventory);
    project.run_cmd("true").run();
}

#[test]
fn hashed_and_wildcard_entries_are_understood() {
    let fleet = Fleet::start(2);
    let hosts = fleet.hosts();
    let text = format!(
        "[{}]:{} {}\n[127.*]:{},!192.0.2.1 {}\n",
        hosts[0].address,
        hosts[0].port,
        hosts[0].host_key_line,
        hosts[1].port,
        hosts[1].host_key_line
    );
    std::fs::write(fleet.known_hosts(), text).unwrap();
    let hashed = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(fleet.known_hosts())
        .output()
        .unwrap();
    assert!(hashed.status.success());
    let project = Project::new(&fleet, "");
    project.run_cmd("true").run();
}
