//! `ssh_config` (issue 13, item 1): hosts known only by an alias, refused
//! keywords and `Match` criteria named by file and line, and `ferry check
//! --ssh` showing where each setting came from.

use crate::support::fleet::Fleet;
use crate::support::host::{current, SshAgent};
use crate::support::project::Project;

/// An inventory whose only host is `web1` at `address: web-alias`, with no
/// user, port, key or `known_hosts` of its own: all of it must come from
/// `ssh_config` in the project.
fn alias_project(fleet: &Fleet, ssh_config: &str) -> Project {
    let project = Project::empty();
    project.write("ssh_config", ssh_config);
    project.write(
        "inventories/test.yml",
        &format!(
            "ssh:\n  config: ssh_config\n  connect_timeout: 5s\n\
             hosts:\n  web1: {{ address: web-alias, vars: {{ deploy_to: '{}' }} }}\n",
            fleet.hosts()[0].deploy_to
        ),
    );
    project
}

fn alias_config(fleet: &Fleet) -> String {
    let h = &fleet.hosts()[0];
    format!(
        "# the fleet's only host, by alias\n\
         Host web-alias\n\
         \x20 HostName {}\n\
         \x20 User {}\n\
         \x20 Port {}\n\
         \x20 IdentityFile {}\n\
         \x20 UserKnownHostsFile \"{}\"\n\
         \x20 IdentitiesOnly yes\n\
         \x20 ForwardAgent yes\n",
        h.address,
        fleet.user(),
        h.port,
        fleet.client_key().display(),
        fleet.known_hosts().display(),
    )
}

#[test]
fn a_host_known_only_by_an_ssh_config_alias_runs_a_command_and_deploys() {
    let fleet = Fleet::start(1);
    let project = alias_project(&fleet, &alias_config(&fleet));
    project
        .run_cmd("echo reached as $(id -un)")
        .stdout_has(format!("web1 | reached as {}", fleet.user()))
        .run();
    let r1 = project.release_tarball("r1");
    project
        .deploy(&r1, "r1")
        .stderr_has("release r1: done 1  skipped 0  failed 0  unreachable 0")
        .run();
    assert_eq!(current(&fleet, 0), "releases/r1");
}

#[test]
fn an_unsupported_keyword_is_an_error_naming_file_and_line() {
    let fleet = Fleet::start(1);
    let config = format!("{}  ProxyCommand nc %h %p\n", alias_config(&fleet));
    let project = alias_project(&fleet, &config);
    project
        .run_cmd("true")
        .failure()
        .stderr_has("ssh_config:10: `ProxyCommand nc %h %p` applies to `web-alias` but ferry does not support it")
        .run();
    // An unknown keyword too, even where it would not apply (as ssh).
    let project = alias_project(
        &fleet,
        &format!("Host elsewhere\n  Colour blue\n{}", alias_config(&fleet)),
    );
    project
        .run_cmd("true")
        .failure()
        .stderr_has("ssh_config:2: unknown keyword `Colour`")
        .run();
}

#[test]
fn a_match_exec_is_an_error_naming_file_and_line() {
    let fleet = Fleet::start(1);
    let config = format!(
        "{}Match exec \"test -e /tmp\"\n  User other\n",
        alias_config(&fleet)
    );
    let project = alias_project(&fleet, &config);
    project
        .run_cmd("true")
        .failure()
        .stderr_has("ssh_config:10: `Match exec` is not supported by ferry")
        .run();
}

#[test]
fn check_ssh_shows_each_setting_and_where_it_came_from() {
    let fleet = Fleet::start(1);
    let config = format!("{}Host *\n  ServerAliveInterval 7\n", alias_config(&fleet));
    let project = alias_project(&fleet, &config);
    let h = &fleet.hosts()[0];
    project
        .ferry(["check", "test", "--ssh"])
        .stdout_has(format!("web1 ({}@{}:{}), looked up in ssh_config as `web-alias`", fleet.user(), h.address, h.port))
        .stdout_has(format!("  address          {:<40} from ssh_config:3", h.address))
        .stdout_has(format!("  port             {:<40} from ssh_config:5", h.port))
        .stdout_has("  identities_only  yes                                      from ssh_config:8")
        .stdout_has("  connect_timeout  5s                                       from inventories/test.yml ssh:")
        .stdout_has("  keepalive        7s                                       from ssh_config:11")
        .stdout_has("  host_key_policy  strict                                   from default")
        .stdout_has("  ignored          ForwardAgent                             at ssh_config:9")
        .run();
    // The host entry wins over everything; JSON says the same.
    project.write(
        "inventories/test.yml",
        "ssh:\n  config: ssh_config\nhosts:\n  web1: { address: web-alias, port: 2200 }\n",
    );
    let out = project
        .ferry(["check", "test", "--ssh", "--output", "json"])
        .run();
    let report = out.json();
    let port = &report["hosts"][0]["settings"]["port"];
    assert_eq!(port["value"], "2200", "{report}");
    assert_eq!(port["from"], "inventory host entry", "{report}");
    assert_eq!(
        report["hosts"][0]["settings"]["user"]["from"], "ssh_config:4",
        "{report}"
    );
}

#[test]
fn a_missing_ssh_config_named_by_the_inventory_is_an_error() {
    let project = Project::empty();
    project.write(
        "inventories/test.yml",
        "ssh:\n  config: [nope/config]\nhosts:\n  web1: {}\n",
    );
    project
        .ferry(["check", "test", "--ssh"])
        .failure()
        .stderr_has("inventories/test.yml: ssh.config names nope/config, which does not exist")
        .run();
}

#[test]
fn identities_only_keeps_the_agent_out() {
    let fleet = Fleet::start(1);
    let project = Project::empty();
    let agent = SshAgent::start(project.path());
    agent.add(&fleet.client_key());
    let socket = agent.socket();
    // The agent holds the only key that works; the identity file is missing.
    let with_agent = alias_config(&fleet).replace(
        &fleet.client_key().display().to_string(),
        "/nonexistent/id_ed25519",
    );
    let project = alias_project(&fleet, &with_agent.replace("  IdentitiesOnly yes\n", ""));
    project.run_cmd("true").env("SSH_AUTH_SOCK", socket).run();
    let project = alias_project(&fleet, &with_agent);
    project
        .run_cmd("true")
        .env("SSH_AUTH_SOCK", socket)
        .code(1)
        .stderr_has("ssh-agent: not used (IdentitiesOnly); identity files tried: none")
        .run();
}

#[test]
fn strict_host_key_checking_accept_new_from_ssh_config_records_the_key_in_its_file() {
    let fleet = Fleet::start(1);
    let h = &fleet.hosts()[0];
    let project = alias_project(&fleet, "");
    let known = project.write("fresh_known_hosts", "");
    let config = alias_config(&fleet).replace(
        &fleet.known_hosts().display().to_string(),
        &known.display().to_string(),
    );
    // Strict by default: the fresh file does not know the host.
    project.write("ssh_config", &config);
    project
        .run_cmd("true")
        .code(1)
        .stderr_has("is unknown")
        .run();
    project.write(
        "ssh_config",
        &format!("{config}  StrictHostKeyChecking accept-new\n"),
    );
    project.run_cmd("true").run();
    let recorded = std::fs::read_to_string(&known).unwrap();
    let key = h.host_key_line.split_whitespace().nth(1).unwrap();
    assert!(
        recorded.contains(&format!("[{}]:{}", h.address, h.port)) && recorded.contains(key),
        "{recorded}"
    );
    // `no` is refused unless the inventory allows it.
    project.write(
        "ssh_config",
        &format!("{config}  StrictHostKeyChecking no\n"),
    );
    project
        .run_cmd("true")
        .failure()
        .stderr_has("ssh_config:10: `StrictHostKeyChecking no` applies to `web-alias`")
        .run();
}
