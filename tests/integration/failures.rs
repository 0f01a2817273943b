//! Hosts that cannot be reached or commands that hang: each fails alone,
//! named, within its timeout.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::fleet::Fleet;
use crate::support::project::Project;

#[test]
fn a_refused_connection_marks_only_that_host_unreachable() {
    let fleet = Fleet::start(3);
    fleet.stop_host(2);
    let project = Project::new(&fleet, "");
    project
        .run_cmd("true")
        .code(1)
        .stderr_has("ok: 2  failed: 0  unreachable: 1")
        .stderr_has("h3: cannot connect to")
        .stderr_has("Connection refused")
        .run();
}

#[test]
fn a_silent_peer_times_out_at_the_connect_timeout() {
    let fleet = Fleet::start(1);
    // Accepts TCP (the kernel completes the handshake) and never speaks.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let inventory = fleet
        .inventory_yaml("")
        .replace("connect_timeout: 5s", "connect_timeout: 2s")
        .replace(
            "hosts:\n",
            &format!("hosts:\n  quiet: {{ address: 127.0.0.1, port: {port} }}\n"),
        );
    let project = Project::empty();
    project.write("inventories/test.yml", &inventory);
    let started = Instant::now();
    project
        .run_cmd("true")
        .code(1)
        .stderr_has("ok: 1  failed: 0  unreachable: 1")
        .stderr_has(format!(
            "quiet: no SSH answer from 127.0.0.1:{port} within 2s"
        ))
        .run();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the run must not hang"
    );
    drop(silent);
}

#[test]
fn a_hanging_command_is_killed_on_the_host_at_its_timeout() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    // A number no other test uses, to find the process in the shared pid table.
    let marker = format!("{}", 4000 + std::process::id() % 1000);
    let cmd = format!("sleep {marker}1; echo finished");
    project
        .run_cmd(&cmd)
        .args(["--timeout", "2s"])
        .code(1)
        .stderr_has("ok: 0  failed: 2")
        .stderr_has("timed out after 2s (killed on the host)")
        .run();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = std::process::Command::new("pgrep")
            .args(["-f", &format!("sleep {marker}1")])
            .output()
            .unwrap();
        if !left.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "remote sleep still running: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
