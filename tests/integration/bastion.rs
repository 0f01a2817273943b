//! `ProxyJump` bastions: hosts behind one share one bastion login, every
//! hop's host key is checked, and a bastion that cannot be reached makes
//! each host behind it unreachable once, named by the bastion.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::support::fleet::{Fleet, FleetOptions, TestHost};
use crate::support::host::FrozenTree;
use crate::support::project::Project;

/// Forwarding on (the default, said anyway) and sshd's debug log, where
/// each direct-tcpip request shows as `target ADDRESS port PORT`: the proof
/// that a host was reached through the bastion, not directly.
fn bastion_fleet(n: usize) -> Fleet {
    Fleet::start_with(
        n,
        &FleetOptions {
            sshd_extra_config: "AllowTcpForwarding yes\nMatch all\n  LogLevel DEBUG1\n".into(),
            ..FleetOptions::default()
        },
    )
}

fn hop(fleet: &Fleet, h: &TestHost) -> String {
    format!("{}@{}:{}", fleet.user(), h.address, h.port)
}

/// The fleet's inventory without the hosts in `skip` (the bastions), every
/// host behind `proxy_jump`.
fn inventory_behind(fleet: &Fleet, proxy_jump: &str, skip: &[&str], timeout: &str) -> String {
    fleet
        .inventory_yaml("")
        .replace(
            "  connect_timeout: 5s\n",
            &format!("  connect_timeout: {timeout}\n  proxy_jump: \"{proxy_jump}\"\n"),
        )
        .lines()
        .filter(|l| !skip.iter().any(|s| l.starts_with(&format!("  {s}: {{"))))
        .fold(String::new(), |mut s, l| {
            let _ = writeln!(s, "{l}");
            s
        })
}

/// A project whose inventory puts every host but h1 behind h1 (connect
/// timeout 10 s), `ssh_extra` added to its `ssh:` block.
fn behind_h1(fleet: &Fleet, ssh_extra: &str) -> Project {
    let project = Project::empty();
    let inventory = inventory_behind(fleet, &hop(fleet, &fleet.hosts()[0]), &["h1"], "10s")
        .replace("ssh:\n", &format!("ssh:\n{ssh_extra}"));
    project.write("inventories/test.yml", &inventory);
    project
}

fn logins(h: &TestHost) -> usize {
    h.log_text().matches("Accepted publickey").count()
}

fn tunnels_to(bastion: &TestHost, h: &TestHost) -> usize {
    bastion
        .log_text()
        .matches(&format!("target {} port {}", h.address, h.port))
        .count()
}

fn current(fleet: &Fleet, i: usize) -> String {
    let h = &fleet.hosts()[i];
    let link = fleet.on_host(i, &format!("{}/current", h.deploy_to));
    std::fs::read_link(&link).map_or_else(|e| format!("{e}"), |t| t.display().to_string())
}

#[test]
fn twenty_hosts_behind_one_bastion_deploy_over_one_bastion_login() {
    let fleet = bastion_fleet(21);
    let hosts = fleet.hosts();
    let bastion = &hosts[0];
    let project = behind_h1(&fleet, "");
    let r1 = project.release_tarball("r1");
    project
        .deploy(&r1, "r1")
        .stderr_has("release r1: done 20  skipped 0  failed 0  unreachable 0")
        .run();
    for (i, h) in hosts.iter().enumerate().skip(1) {
        assert_eq!(current(&fleet, i), "releases/r1", "{}", h.name);
        assert_eq!(tunnels_to(bastion, h), 1, "{} through the bastion", h.name);
        assert_eq!(logins(h), 1, "{}: one session for the run", h.name);
    }
    assert_eq!(logins(bastion), 1, "{}", bastion.log_text());
}

#[test]
fn past_the_channel_cap_more_bastion_logins_are_made_and_every_host_is_reached() {
    let fleet = bastion_fleet(13);
    let hosts = fleet.hosts();
    let bastion = &hosts[0];
    let project = behind_h1(&fleet, "  bastion_channels: 5\n");
    project
        .run_cmd("true")
        .stderr_has("ok: 12  failed: 0  unreachable: 0")
        .run();
    // 12 hosts, 5 to a connection, opened one at a time: 3 logins.
    assert_eq!(logins(bastion), 3, "{}", bastion.log_text());
    for h in &hosts[1..] {
        assert_eq!(tunnels_to(bastion, h), 1, "{}", h.name);
    }
}

#[test]
fn a_two_hop_chain_runs_a_command_and_deploys() {
    let fleet = bastion_fleet(4);
    let hosts = fleet.hosts();
    let (outer, inner) = (&hosts[0], &hosts[1]);
    let chain = format!("{}, {}", hop(&fleet, outer), hop(&fleet, inner));
    let project = Project::empty();
    project.write(
        "inventories/test.yml",
        &inventory_behind(&fleet, &chain, &["h1", "h2"], "10s"),
    );
    project
        .run_cmd("echo hello")
        .stderr_has("ok: 2  failed: 0  unreachable: 0")
        .stdout_has("h3 | hello")
        .stdout_has("h4 | hello")
        .run();
    let r1 = project.release_tarball("r1");
    project
        .deploy(&r1, "r1")
        .stderr_has("release r1: done 2  skipped 0  failed 0  unreachable 0")
        .run();
    for (i, h) in hosts.iter().enumerate().skip(2) {
        assert_eq!(current(&fleet, i), "releases/r1");
        // Reached from the inner hop, which only the outer one reaches.
        assert_eq!(tunnels_to(inner, h), 2, "one per run");
        assert_eq!(tunnels_to(outer, h), 0);
    }
    assert_eq!(tunnels_to(outer, inner), 2, "one per run");
    assert_eq!((logins(outer), logins(inner)), (2, 2), "one per run each");
}

#[test]
fn a_bastion_with_a_wrong_host_key_is_refused_by_name() {
    let fleet = bastion_fleet(3);
    let hosts = fleet.hosts();
    let bastion = &hosts[0];
    // The bastion's entry holds h2's key: what a man in the middle looks like.
    let mut known = String::new();
    for (i, h) in hosts.iter().enumerate() {
        let key = if i == 0 {
            &hosts[1].host_key_line
        } else {
            &h.host_key_line
        };
        let _ = writeln!(known, "[{}]:{} {key}", h.address, h.port);
    }
    std::fs::write(fleet.known_hosts(), known).unwrap();
    let project = behind_h1(&fleet, "");
    project
        .run_cmd("true")
        .code(1)
        .stderr_has("ok: 0  failed: 2  unreachable: 0")
        .stderr_has(format!(
            "via bastion {}: HOST KEY CHANGED for {}:{}",
            hop(&fleet, bastion),
            bastion.address,
            bastion.port
        ))
        .run();
    assert_eq!(
        logins(bastion),
        0,
        "no login to a bastion that failed its key"
    );
    assert_eq!(logins(&hosts[1]) + logins(&hosts[2]), 0);

    // Behind a good bastion, each host's key is checked under its own
    // address: h3's entry holds h2's key.
    let mut known = String::new();
    for (i, h) in hosts.iter().enumerate() {
        let key = if i == 2 {
            &hosts[1].host_key_line
        } else {
            &h.host_key_line
        };
        let _ = writeln!(known, "[{}]:{} {key}", h.address, h.port);
    }
    std::fs::write(fleet.known_hosts(), known).unwrap();
    project
        .run_cmd("true")
        .code(1)
        .stderr_has("ok: 1  failed: 1  unreachable: 0")
        .stderr_has(format!(
            "[h3] FAILED: task `connect` failed on h3: HOST KEY CHANGED for {}:{}",
            hosts[2].address, hosts[2].port
        ))
        .stderr_lacks("via bastion")
        .run();
    assert_eq!(logins(&hosts[2]), 0);
}

#[test]
fn a_host_down_behind_a_good_bastion_is_unreachable_alone() {
    let fleet = bastion_fleet(3);
    let hosts = fleet.hosts();
    let bastion = &hosts[0];
    fleet.stop_host(2);
    let project = behind_h1(&fleet, "");
    project
        .run_cmd("true")
        .code(1)
        .stderr_has("ok: 1  failed: 0  unreachable: 1")
        .stderr_has(format!(
            "[h3] UNREACHABLE: via bastion {}: cannot connect to {}:{} through it: the bastion refused the tunnel",
            hop(&fleet, bastion),
            hosts[2].address,
            hosts[2].port
        ))
        .run();
    assert_eq!(logins(bastion), 1);
}

#[test]
fn an_unreachable_bastion_makes_every_host_behind_it_unreachable_once() {
    let fleet = Fleet::start(4);
    // A bastion that accepts TCP and never speaks; it counts connections.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let user = fleet.user();
    let dead = format!("{user}@127.0.0.1:{port}");
    // h4 is reached directly and deploys; h1-h3 sit behind the dead bastion.
    let inventory = inventory_behind(&fleet, &dead, &[], "2s").replace(
        &format!("  h4: {{ address: {}", fleet.hosts()[3].address),
        &format!(
            "  h4: {{ proxy_jump: none, address: {}",
            fleet.hosts()[3].address
        ),
    );
    assert!(inventory.contains("proxy_jump: none"), "{inventory}");
    let project = Project::empty();
    project.write("inventories/test.yml", &inventory);
    let r1 = project.release_tarball("r1");
    let started = Instant::now();
    let out = project
        .deploy(&r1, "r1")
        .args(["--max-failures", "3"])
        .code(1)
        .stderr_has("unreachable 3")
        .run();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the run must not hang"
    );
    for h in &fleet.hosts()[..3] {
        let line = format!(
            "{}: UNREACHABLE: via bastion {dead}: no SSH answer from 127.0.0.1:{port} within 2s",
            h.name
        );
        assert_eq!(
            out.stderr.matches(&line).count(),
            1,
            "{line}\n{}",
            out.stderr
        );
        let event = format!("[{}] UNREACHABLE", h.name);
        assert_eq!(
            out.stderr.matches(&event).count(),
            1,
            "{event}\n{}",
            out.stderr
        );
    }
    assert_eq!(current(&fleet, 3), "releases/r1", "{}", out.stderr);
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one try for the run");

    // Not allowed that many failures, the run stops before switching any host.
    let r2 = project.release_tarball("r2");
    project
        .deploy(&r2, "r2")
        .code(1)
        .stderr_has("more than max_failures 0")
        .run();
    assert_eq!(current(&fleet, 3), "releases/r1");
}

#[test]
fn known_hosts_scan_fetches_the_keys_of_hosts_behind_a_bastion_through_it() {
    let fleet = bastion_fleet(3);
    let hosts = fleet.hosts();
    let bastion = &hosts[0];
    let project = behind_h1(&fleet, "");
    let scan = project.ferry(["known-hosts", "test", "--scan"]);
    hosts[1..]
        .iter()
        .fold(scan, |scan, h| {
            let key = h.host_key_line.split(' ').nth(1).unwrap();
            let sha = Sha256::digest(STANDARD.decode(key).unwrap());
            scan.stdout_has(format!(
                "{}  {}:{}  SHA256:{}  match",
                h.name,
                h.address,
                h.port,
                STANDARD_NO_PAD.encode(sha)
            ))
        })
        .run();
    for h in &hosts[1..] {
        assert_eq!(tunnels_to(bastion, h), 1, "{}: through the bastion", h.name);
        assert_eq!(logins(h), 0, "{}: a key exchange only", h.name);
    }
}

/// A bastion that stops answering mid-run (its sshd frozen) takes the
/// hosts behind it down within the keepalives (1 s × 3 here), never a hang
/// until their commands end.
#[test]
fn a_bastion_frozen_mid_run_fails_its_hosts_within_the_keepalives() {
    let fleet = bastion_fleet(3);
    let hosts = fleet.hosts();
    let bastion = &hosts[0];
    let project = behind_h1(&fleet, "  keepalive: 1s\n");
    let mut run = project
        .run_cmd("sleep 120")
        .code(1)
        .stderr_has("ok: 0  failed: 2  unreachable: 0")
        .stderr_has("h2: task `cmd` failed on h2: no exit status (connection lost?)")
        .spawn();
    let mut started = 0;
    assert!(run.stderr_until(|line| {
        started += usize::from(line.contains("task `cmd`"));
        started == 2
    }));
    // Both commands asked for; let them reach the hosts.
    std::thread::sleep(Duration::from_secs(1));
    let frozen_at = Instant::now();
    let frozen = FrozenTree::new(bastion.pid);
    let stderr = run.finish().stderr;
    let given_up_after = frozen_at.elapsed();
    drop(frozen);
    // A bound from the documented timeouts (3 keepalives of 1 s), far
    // below the commands' 120 s.
    assert!(
        given_up_after < Duration::from_secs(60),
        "given up after {given_up_after:?}\n{stderr}"
    );
}

/// The bastion and the hosts behind it known only from `ssh_config`
/// (`Host web-*` with `ProxyJump jump-alias`, the bastion an alias with its
/// own `HostName`, `Port`, `User`, `IdentityFile` and `known_hosts` file): the hosts
/// are reached through the bastion, over one login, and deploy.
#[test]
fn hosts_behind_a_bastion_named_in_ssh_config_deploy_through_it() {
    let fleet = bastion_fleet(4);
    let hosts = fleet.hosts();
    let bastion = &hosts[0];
    let mut config = format!(
        "Host jump-alias\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile \"{}\"\n",
        bastion.address,
        bastion.port,
        fleet.user(),
        fleet.client_key().display(),
        fleet.known_hosts().display(),
    );
    let mut inventory = "ssh:\n  config: ssh_config\n  connect_timeout: 10s\nhosts:\n".to_string();
    for (i, h) in hosts.iter().enumerate().skip(1) {
        let _ = write!(
            config,
            "Host web-{i}\n  HostName {}\n  Port {}\n",
            h.address, h.port
        );
        let _ = writeln!(
            inventory,
            "  {}: {{ address: web-{i}, vars: {{ deploy_to: '{}' }} }}",
            h.name, h.deploy_to
        );
    }
    let _ = write!(
        config,
        "Host web-*\n  ProxyJump jump-alias\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile \"{}\"\n",
        fleet.user(),
        fleet.client_key().display(),
        fleet.known_hosts().display(),
    );
    let project = Project::empty();
    project.write("ssh_config", &config);
    project.write("inventories/test.yml", &inventory);
    let via = format!("{}@{}:{}", fleet.user(), bastion.address, bastion.port);
    let check = project.ferry(["check", "test", "--ssh"]).run().stdout;
    let jump_lines: Vec<&str> = check.lines().filter(|l| l.contains("proxy_jump")).collect();
    assert_eq!(jump_lines.len(), 3, "{check}");
    assert!(
        jump_lines
            .iter()
            .all(|l| l.contains(&via) && l.contains("from ssh_config:")),
        "{check}"
    );
    let r1 = project.release_tarball("r1");
    project
        .deploy(&r1, "r1")
        .stderr_has("release r1: done 3  skipped 0  failed 0  unreachable 0")
        .run();
    for (i, h) in hosts.iter().enumerate().skip(1) {
        assert_eq!(current(&fleet, i), "releases/r1");
        assert!(
            tunnels_to(bastion, h) >= 1,
            "{} not reached through the bastion",
            h.name
        );
    }
    assert_eq!(logins(bastion), 1, "{}", bastion.log_text());
}
