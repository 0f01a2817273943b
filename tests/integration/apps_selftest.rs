//! Self-test of the per-host HTTP apps of the test fleet harness
//! (`Fleet::start_apps`, `AppServer`, `HeldConnection` in tests/support/fleet.rs).

use crate::support::fleet::{AppServer, Fleet, HeldConnection};
use crate::support::host::{on_host, wait_until};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

const APP_PORT: u16 = 8080;

/// Raw HTTP/1.0 GET: (status, headers, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect app");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: app\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let raw = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("response head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head:?}"));
    (status, head.to_string(), body.to_string())
}

/// Wait (up to 5 s) for a state of the app servers.
#[track_caller]
fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_until(
        Duration::from_secs(5),
        &format!("timed out waiting for {what}"),
        cond,
    );
}

/// Point `<deploy_to>/current` at `target` the way ferry does (atomic rename).
fn switch_current(fleet: &Fleet, i: usize, target: &str) {
    let tmp = on_host(fleet, i, ".current.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, on_host(fleet, i, "current")).unwrap();
}

fn write_release(fleet: &Fleet, i: usize, release: &str, files: &[(&str, &str)]) {
    let dir = on_host(fleet, i, &format!("releases/{release}"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in files {
        std::fs::write(dir.join(name), body).unwrap();
    }
}

fn ss_available() -> bool {
    ["/usr/bin/ss", "/bin/ss", "/usr/sbin/ss", "/sbin/ss"]
        .iter()
        .any(|p| Path::new(p).is_file())
}

/// Established server-side connections of host `i`'s app, as the drain
/// condition in the rolling-deploy tests sees them (run as the host sees the world).
fn ss_established(fleet: &Fleet, i: usize, app: &AppServer) -> String {
    let cmd = format!(
        "ss -Htn state established '( sport = :{} )' src {}",
        app.addr().port(),
        app.addr().ip()
    );
    let out = fleet.exec_in_host(i, &cmd);
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn apps_selftest() {
    let fleet = Fleet::start(2);
    let apps = fleet.start_apps(APP_PORT);
    assert_eq!(apps.len(), 2);
    for (i, h) in fleet.hosts().iter().enumerate() {
        assert_eq!(
            apps[i].addr(),
            format!("{}:{APP_PORT}", h.address).parse().unwrap()
        );
        assert_eq!(apps[i].open_connections(), 0);
    }

    // No `current` yet: 404.
    let (status, head, _) = get(apps[0].addr(), "/");
    assert_eq!(status, 404, "{head}");
    assert!(head.contains("Connection: close"), "{head}");

    for (i, h) in fleet.hosts().iter().enumerate() {
        write_release(
            &fleet,
            i,
            "r1",
            &[
                ("index.html", &format!("r1 on {}\n", h.name)),
                ("health", "ok r1\n"),
            ],
        );
        write_release(
            &fleet,
            i,
            "r2",
            &[("index.html", &format!("r2 on {}\n", h.name))],
        );
        // Dangling `current`: 404.
        switch_current(&fleet, i, "releases/missing");
        assert_eq!(get(apps[i].addr(), "/").0, 404);
        switch_current(&fleet, i, "releases/r1");
    }

    for (i, h) in fleet.hosts().iter().enumerate() {
        let (status, head, body) = get(apps[i].addr(), "/");
        assert_eq!(status, 200, "{head}");
        assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
        assert!(head.contains("Connection: close"), "{head}");
        assert_eq!(body, format!("r1 on {}\n", h.name));
        assert_eq!(get(apps[i].addr(), "/index.html").2, body);
        assert_eq!(
            get(apps[i].addr(), "/health"),
            get(apps[i].addr(), "/health?x=1")
        );
        assert_eq!(get(apps[i].addr(), "/health").2, "ok r1\n");
        assert_eq!(get(apps[i].addr(), "/nope").0, 404);
        assert_eq!(get(apps[i].addr(), "/../r2/index.html").0, 404);
    }

    // Switch host 0 to r2 (relative link) and host 1 to r2 (absolute link as
    // the host sees it): the new release is served at once, health is gone.
    switch_current(&fleet, 0, "releases/r2");
    let h1_deploy_to = fleet.hosts()[1].deploy_to.clone();
    switch_current(&fleet, 1, &format!("{h1_deploy_to}/releases/r2"));
    for (i, h) in fleet.hosts().iter().enumerate() {
        let (status, _, body) = get(apps[i].addr(), "/");
        assert_eq!(status, 200);
        assert_eq!(body, format!("r2 on {}\n", h.name));
        assert_eq!(get(apps[i].addr(), "/health").0, 404);
    }

    // A held connection is counted, does not block other clients, and is
    // seen by `ss` (the drain condition); closing it counts it down.
    let connection = HeldConnection::open(apps[0].addr());
    wait_for("open_connections == 1", || apps[0].open_connections() == 1);
    assert_eq!(get(apps[0].addr(), "/").0, 200);
    assert_eq!(apps[1].open_connections(), 0);
    if ss_available() {
        let out = ss_established(&fleet, 0, &apps[0]);
        assert!(
            out.contains(&connection.local_addr().to_string()),
            "ss does not show the held connection {}: {out:?}",
            connection.local_addr()
        );
        assert_eq!(out.lines().count(), 1, "{out:?}");
        assert_eq!(ss_established(&fleet, 1, &apps[1]), "");
    } else {
        eprintln!("apps_selftest: `ss` not found (Debian package iproute2), skipping ss checks");
    }
    // Still open a bit later (no idle timeout).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(apps[0].open_connections(), 1);
    connection.close();
    wait_for("open_connections == 0", || apps[0].open_connections() == 0);
    if ss_available() {
        wait_for("ss shows no connection", || {
            ss_established(&fleet, 0, &apps[0]).is_empty()
        });
    }

    // Dropping the servers (even with a held connection) frees the ports.
    let _held = HeldConnection::open(apps[1].addr());
    wait_for("open_connections == 1", || apps[1].open_connections() == 1);
    let addrs: Vec<SocketAddr> = apps.iter().map(AppServer::addr).collect();
    let t = Instant::now();
    drop(apps);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    for a in addrs {
        TcpListener::bind(a).unwrap_or_else(|e| panic!("{a} not free after drop: {e}"));
    }
}
