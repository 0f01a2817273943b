//! Client authentication: encrypted identity files and ssh-agent.

use std::process::Command;

use crate::support::fleet::Fleet;
use crate::support::host::SshAgent;
use crate::support::project::Project;

fn encrypted_copy(fleet: &Fleet, project: &Project, passphrase: &str) -> std::path::PathBuf {
    let key = project.path().join("id_encrypted");
    std::fs::copy(fleet.client_key(), &key).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-q", "-p", "-N", passphrase, "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    key
}

#[test]
fn an_encrypted_key_takes_its_passphrase_from_the_environment() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let key = encrypted_copy(&fleet, &project, "correct horse");
    let inventory = fleet.inventory_yaml("").replace(
        &fleet.client_key().display().to_string(),
        &key.display().to_string(),
    );
    project.write("inventories/test.yml", &inventory);
    // No terminal and no passphrase: a clear error, no prompt.
    project
        .run_cmd("true")
        .code(1)
        .stderr_has("the key is encrypted: set FERRY_KEY_PASSPHRASE")
        .run();
    project
        .run_cmd("true")
        .env("FERRY_KEY_PASSPHRASE", "correct horse")
        .run();
}

#[test]
fn the_ssh_agent_is_tried_first() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let agent = SshAgent::start(project.path());
    let socket = agent.socket();
    agent.add(&fleet.client_key());
    // The only identity file is missing: success can only come from the agent.
    let inventory = fleet.inventory_yaml("").replace(
        &fleet.client_key().display().to_string(),
        "/nonexistent/id_ed25519",
    );
    project.write("inventories/test.yml", &inventory);
    project
        .run_cmd("true")
        .code(1)
        .stderr_has("authentication as")
        .run();
    project.run_cmd("true").env("SSH_AUTH_SOCK", socket).run();
}

/// `ssh-keygen -lf`'s `SHA256:...` for a key file.
fn fingerprint(key: &std::path::Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

fn new_key(project: &Project, name: &str) -> std::path::PathBuf {
    let key = project.path().join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    key
}

#[test]
fn a_missing_or_broken_identity_file_is_named_with_what_to_do() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let broken = project.write("not-a-key", "hello\n");
    // Paths without quotes or backslashes: the inventory quotes them as is.
    let inventory = fleet.inventory_yaml("").replace(
        &format!("\"{}\"", fleet.client_key().display()),
        &format!("/nonexistent/id_ed25519, \"{}\"", broken.display()),
    );
    project.write("inventories/test.yml", &inventory);
    project
        .run_cmd("true")
        .code(1)
        .stderr_has("ssh-agent: not running (SSH_AUTH_SOCK is not set)")
        .stderr_has("identity files tried: none")
        .stderr_has("/nonexistent/id_ed25519: no such file")
        .stderr_has(format!("{}: ", broken.display()))
        .stderr_has("No key could be offered: name a usable key")
        .stderr_lacks("authorized_keys")
        .stderr_lacks("tried no key")
        .run();
}

#[test]
fn a_refused_login_lists_the_agents_keys_and_the_files_tried_by_fingerprint() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let agent = SshAgent::start(project.path());
    let socket = agent.socket();
    let in_agent = new_key(&project, "agent-key");
    let in_file = new_key(&project, "file-key");
    agent.add(&in_agent);
    let inventory = fleet.inventory_yaml("").replace(
        &fleet.client_key().display().to_string(),
        &in_file.display().to_string(),
    );
    project.write("inventories/test.yml", &inventory);
    project
        .run_cmd("true")
        .env("SSH_AUTH_SOCK", socket)
        .code(1)
        .stderr_has(format!(
            "ssh-agent keys: {} ssh-ed25519 agent-key",
            fingerprint(&in_agent)
        ))
        .stderr_has(format!(
            "identity files tried: {} ({} ssh-ed25519)",
            in_file.display(),
            fingerprint(&in_file)
        ))
        .stderr_has(format!(
            "add one of them to ~{}/.ssh/authorized_keys",
            fleet.user()
        ))
        .run();
}
