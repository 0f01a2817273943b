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

/// `ssh-keygen -lf`'s `SHA256:...` of a public key line.
fn fingerprint_of(line: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key.pub");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

/// Give host `i` a new host key, the way a rebuilt host gets one: a new key
/// file, and sshd re-reads its keys on SIGHUP (it re-executes itself, same
/// pid). Returns the new public key line once the host serves it.
fn rotate_host_key(fleet: &Fleet, i: usize) -> String {
    let h = &fleet.hosts()[i];
    let key = h.root.parent().unwrap().join("ssh_host_ed25519_key");
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(key.with_extension("pub"));
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let new = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let new: String = new.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    crate::support::host::signal(h.pid, "-HUP");
    crate::support::host::wait_until(
        std::time::Duration::from_secs(20),
        "the host to serve its new key",
        || {
            std::process::Command::new("ssh-keyscan")
                .args(["-t", "ed25519", "-p", &h.port.to_string(), &h.address])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&new))
        },
    );
    new
}

#[test]
fn a_rotated_host_key_is_refused_until_known_hosts_update_records_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let fleet = Fleet::start(3);
    let hosts = fleet.hosts();
    let kh = fleet.known_hosts();
    let mut text = String::from("# recorded by hand\n");
    for h in hosts {
        let _ = writeln!(text, "[{}]:{} {}", h.address, h.port, h.host_key_line);
    }
    std::fs::write(&kh, &text).unwrap();
    std::fs::set_permissions(&kh, std::fs::Permissions::from_mode(0o640)).unwrap();
    let old = fingerprint_of(&hosts[1].host_key_line);
    let new_line = rotate_host_key(&fleet, 1);
    let new = fingerprint_of(&new_line);
    let h2 = format!("{}:{}", hosts[1].address, hosts[1].port);
    let project = Project::new(&fleet, "");
    project
        .run_cmd("true")
        .code(1)
        .stderr_has(format!("HOST KEY CHANGED for {h2}"))
        .stderr_has("record it with `ferry known-hosts ENV --update`")
        .run();
    project
        .ferry(["known-hosts", "test", "--scan"])
        .code(1)
        .stdout_has(format!(
            "h1  {}:{}  {}  match",
            hosts[0].address,
            hosts[0].port,
            fingerprint_of(&hosts[0].host_key_line)
        ))
        .stdout_has(format!(
            "h2  {h2}  {new}  CHANGED ({}:3: was {old})",
            kh.display()
        ))
        .run();
    // Not a terminal, no --yes: no question, no change.
    project
        .ferry(["known-hosts", "test", "--update"])
        .code(2)
        .stderr_has("pass --yes")
        .run();
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), text);
    project
        .ferry(["known-hosts", "test", "--update", "--yes"])
        .stderr_has(format!("h2: {old} -> {new} ({})", kh.display()))
        .stderr_has(format!("updated {}: 1 replaced, 0 added", kh.display()))
        .run();
    let want = text.replace(&hosts[1].host_key_line, &new_line);
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), want);
    let mode = std::fs::metadata(&kh).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    project
        .run_cmd("true")
        .stderr_has("ok: 3  failed: 0  unreachable: 0")
        .run();
    project
        .ferry(["known-hosts", "test"])
        .stdout_has(format!("h2  {h2}  {new}  match"))
        .run();
}

#[test]
fn known_hosts_update_adds_unknown_hosts_and_reports_unreachable_ones() {
    let fleet = Fleet::start(3);
    let hosts = fleet.hosts();
    let kh = fleet.known_hosts();
    std::fs::write(&kh, "# empty\n").unwrap();
    fleet.stop_host(2);
    let project = Project::new(&fleet, "");
    project
        .ferry(["known-hosts", "test", "--scan"])
        .code(1)
        .stdout_has(format!(
            "h1  {}:{}  {}  unknown (in no known_hosts file)",
            hosts[0].address,
            hosts[0].port,
            fingerprint_of(&hosts[0].host_key_line)
        ))
        .stdout_has(format!(
            "h3  {}:{}  unreachable: ",
            hosts[2].address, hosts[2].port
        ))
        .run();
    project
        .ferry(["known-hosts", "test", "--update", "--yes"])
        .code(1)
        .stderr_has(format!(
            "h2: add {} ({})",
            fingerprint_of(&hosts[1].host_key_line),
            kh.display()
        ))
        .stderr_has(format!("updated {}: 0 replaced, 2 added", kh.display()))
        .run();
    let mut want = String::from("# empty\n");
    for h in &hosts[..2] {
        let _ = writeln!(want, "[{}]:{} {}", h.address, h.port, h.host_key_line);
    }
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), want);
    project
        .run_cmd("true")
        .args(["-l", "h1,h2"])
        .stderr_has("ok: 2  failed: 0")
        .run();
}
