//! Self-test of the sshd test fleet harness (tests/support/fleet.rs), using
//! the OpenSSH client only (independent of ferry's own SSH code).

use crate::support::fleet::Fleet;
use std::path::Path;
use std::process::Command;

fn ssh(fleet: &Fleet, i: usize, remote_cmd: &str) -> std::process::Output {
    let h = &fleet.hosts()[i];
    Command::new("ssh")
        .arg("-F")
        .arg("/dev/null")
        .arg("-i")
        .arg(fleet.client_key())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            fleet.known_hosts().display()
        ))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=5",
            "-p",
        ])
        .arg(h.port.to_string())
        .arg(format!("{}@{}", fleet.user(), h.address))
        .arg(remote_cmd)
        .output()
        .expect("run ssh")
}

#[test]
fn fleet_selftest() {
    let fleet = Fleet::start(3);
    assert_eq!(fleet.hosts().len(), 3);
    let pids: Vec<u32> = fleet.hosts().iter().map(|h| h.pid).collect();

    // Inventory shape.
    let inv = fleet.inventory_yaml("vars:\n  x: 1\n");
    assert!(inv.starts_with("ssh:\n  user: "), "{inv}");
    assert!(inv.contains("  host_key_policy: strict\n"), "{inv}");
    assert!(
        inv.contains(&format!(
            "  h1: {{ address: {}, port: 2222,",
            fleet.hosts()[0].address
        )),
        "{inv}"
    );
    assert!(inv.ends_with("vars:\n  x: 1\n"), "{inv}");

    for (i, h) in fleet.hosts().iter().enumerate() {
        // Write under the host's deploy_to parent, as the host sees it.
        let probe = Path::new(&h.deploy_to).parent().unwrap().join("app-probe");
        let out = ssh(
            &fleet,
            i,
            &format!(
                "echo {} > {} && echo $HOME && ls -A ~",
                h.name,
                probe.display()
            ),
        );
        assert!(
            out.status.success(),
            "ssh to {} failed: {}\nsshd log:\n{}",
            h.name,
            String::from_utf8_lossy(&out.stderr),
            h.log_text()
        );
        let on_controller = fleet.on_host(i, &probe.to_string_lossy());
        assert_eq!(
            std::fs::read_to_string(&on_controller).unwrap(),
            format!("{}\n", h.name)
        );
        assert!(
            on_controller.starts_with(&h.root),
            "{}",
            on_controller.display()
        );
        if fleet.is_isolated() {
            // Clean home: /root is the per-host empty dir (no .bashrc).
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(stdout, "/root\n", "home not clean: {stdout:?}");
            // Each host has its own /srv.
            let out = fleet.exec_in_host(i, "cat /srv/app-probe");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                format!("{}\n", h.name)
            );
        }
    }

    // stop_host makes one host unreachable, the others stay up.
    fleet.stop_host(2);
    assert!(!ssh(&fleet, 2, "true").status.success());
    assert!(ssh(&fleet, 1, "true").status.success());

    drop(fleet);
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "sshd pid {pid} still exists after drop"
        );
    }
}

/// More hosts than one /24 holds (254): the fleet takes the next /24s,
/// and ferry reaches every host of both.
#[test]
fn a_fleet_beyond_one_slash_24_answers_ferry() {
    let n = 300;
    let fleet = Fleet::start(n);
    let third_octets: std::collections::BTreeSet<&str> = fleet
        .hosts()
        .iter()
        .map(|h| h.address.rsplit('.').nth(1).unwrap())
        .collect();
    assert_eq!(third_octets.len(), 2, "{third_octets:?}");
    let addresses: std::collections::HashSet<&str> =
        fleet.hosts().iter().map(|h| h.address.as_str()).collect();
    assert_eq!(addresses.len(), n, "every host has its own address");
    assert!(fleet.hosts().iter().all(|h| !h.address.ends_with(".0")));
    let project = crate::support::project::Project::new(&fleet, "");
    // 300 handshakes on a shared 2-core machine: room for a busy moment.
    project.write(
        "inventories/test.yml",
        &fleet
            .inventory_yaml("")
            .replace("connect_timeout: 5s", "connect_timeout: 60s"),
    );
    project
        .ferry([
            "run",
            "test",
            "--cmd",
            "set -- $SSH_CONNECTION; echo at $3",
            "-f",
            "50",
        ])
        .stderr_has(format!("ok: {n}  failed: 0  unreachable: 0"))
        .stdout_has(format!("h300 | at {}", fleet.hosts()[n - 1].address))
        .stdout_has(format!("h1 | at {}", fleet.hosts()[0].address))
        .run();
}
