//! Zero downtime, measured: real sshd hosts each serving its `current`
//! release over HTTP, a real `HAProxy` in front (Debian's `haproxy`, admin
//! socket in a temp dir, one server per host, `option httpchk`), and a
//! bounded load generator counting every response through it. Every switch
//! "restarts" the app (`after_switch` removes the page and its health file
//! for 1 s), so a host that still gets requests while it switches fails
//! some. Drained by the `haproxy` drain provider over the admin socket
//! (`set server app/<host> state drain`, then wait until the server's
//! sessions and queue are 0; every answer checked).
//!
//! Asserts 0 failed requests during a drained rolling deploy, an automatic
//! rollback of a bad canary and `ferry rollback`; more than 0 during the
//! same deploy undrained and during `ferry rollback --now`. Prints the
//! figures (requests, failures, wall time).

mod load;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::support::fleet::{AppServer, Fleet};
use crate::support::host::{currents, wait_until};
use crate::support::project::Project;

use load::{Counts, Load};

/// Hosts in the fleet: 6, or `ZERO_DOWNTIME_HOSTS` (to measure 12).
fn hosts() -> usize {
    std::env::var("ZERO_DOWNTIME_HOSTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6)
}
const PORT: u16 = 18280;
/// The balancer's frontend, on the fleet's own 127.A.B.0/24 range.
const FRONT_HOST: u8 = 250;
const FRONT_PORT: u16 = 18281;

/// A release: its page, and (healthy) the health file the checks read;
/// `after_switch` makes both appear 1 s after the switch (the restart).
fn release(project: &Project, id: &str, healthy: bool) -> PathBuf {
    let page = format!("release {id}\n");
    let mut files: Vec<(&str, &[u8])> = vec![("page.html", page.as_bytes())];
    if healthy {
        files.push(("health.in", b"ok\n"));
    }
    project.tarball(id, &files)
}

/// `drained`: drain and undrain over the admin socket at `sock`.
fn playbook(sock: &Path, drained: bool) -> String {
    playbook_for(sock, drained, "app")
}

/// The playbook, draining servers of `backend` with the `haproxy` drain
/// provider over the admin socket (every answer checked; the undrain is
/// implied, after health).
fn playbook_for(sock: &Path, drained: bool, backend: &str) -> String {
    let stages = if drained {
        format!(
            "drain:\n  provider: haproxy\n  socket: '{}'\n  backend: {backend}\n  server: '{{{{ host.name }}}}'\n  timeout: 20s\n  interval: 100ms\n",
            yaml_single(&sock.display().to_string()),
        )
    } else {
        String::new()
    };
    format!(
        "{stages}after_switch:\n  - name: restart\n    run: 'cd {{{{ release_path }}}} && rm -f index.html health && sleep 1 && cp page.html index.html && {{ test ! -e health.in || cp health.in health; }}'\n\
         health:\n  - name: http\n    http: {{ url: 'http://{{{{ host.address }}}}:{PORT}/health', body: ok }}\n    retries: 10\n    interval: 200ms\n    timeout: 2s\n"
    )
}

/// Inside a YAML single-quoted scalar, `'` is written `''`.
fn yaml_single(s: &str) -> String {
    s.replace('\'', "''")
}

/// `haproxy -db` (the foreground), killed on drop.
struct Haproxy {
    child: Child,
    sock: PathBuf,
    front: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    fn start(fleet: &Fleet) -> Haproxy {
        let dir = tempfile::Builder::new()
            .prefix("ferry-lb-")
            .tempdir()
            .unwrap();
        let sock = dir.path().join("admin.sock");
        let first = &fleet.hosts()[0].address;
        let range = first.rsplit_once('.').unwrap().0;
        let front: SocketAddr = format!("{range}.{FRONT_HOST}:{FRONT_PORT}")
            .parse()
            .unwrap();
        let mut cfg = format!(
            "global\n  stats socket {} level admin\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 20s\n  timeout server 20s\n  timeout http-keep-alive 20s\n\
             frontend fe\n  bind {front}\n  default_backend app\n\
             backend app\n  option httpchk GET /health\n  http-check expect status 200\n  default-server inter 200ms fall 2 rise 1\n",
            sock.display()
        );
        for h in fleet.hosts() {
            let _ = writeln!(cfg, "  server {} {}:{PORT} check", h.name, h.address);
        }
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        let child = crate::support::host::start_haproxy(&path);
        Haproxy {
            child,
            sock,
            front,
            _dir: dir,
        }
    }

    /// `show stat` lines of backend `app`'s servers: (name, status).
    fn servers(&self) -> Vec<(String, String)> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo 'show stat' | socat stdio UNIX-CONNECT:{}",
                self.sock.display()
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f.len() > 17 && f[0] == "app" && f[1] != "BACKEND")
                    .then(|| (f[1].to_string(), f[17].to_string()))
            })
            .collect()
    }

    /// Until every server is UP (bounded).
    fn wait_all_up(&self) {
        wait_until(
            Duration::from_secs(30),
            "haproxy servers never all UP",
            || {
                let s = self.servers();
                s.len() == hosts() && s.iter().all(|(_, st)| st == "UP")
            },
        );
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `what` under load (after every server is UP); the counts.
fn under_load(lb: &Haproxy, label: &str, what: impl FnOnce()) -> (Counts, Vec<String>) {
    lb.wait_all_up();
    let load = Load::start(lb.front, 4, 2, 2);
    what();
    let (counts, wall, seen) = load.finish();
    eprintln!(
        "zero-downtime: {label}: {} requests, {} failed, {:.1} s",
        counts.requests,
        counts.failed,
        wall.as_secs_f64()
    );
    (counts, seen)
}

#[test]
fn draining_drops_no_request_and_no_draining_does() {
    let fleet = Fleet::start(hosts());
    let n = hosts();
    let project = Project::new(&fleet, "rollout: { canary: 1, batch: 2 }\n");
    let _apps: Vec<AppServer> = fleet.start_apps(PORT);
    let lb = Haproxy::start(&fleet);
    let drained = playbook(&lb.sock, true);
    project.write("playbooks/deploy.yml", &drained);
    let (r1, r2, r3) = (
        release(&project, "r1", true),
        release(&project, "r2", true),
        release(&project, "r3", false),
    );
    project.deploy(&r1, "r1").run();
    let all_on = |id: &str| {
        let c = currents(&fleet);
        assert!(c.iter().all(|c| *c == format!("releases/{id}")), "{c:?}");
    };

    let (deploy, seen) = under_load(&lb, "drained rolling deploy", || {
        project
            .deploy(&r2, "r2")
            .stderr_has(format!("r2: done {n}  skipped 0  failed 0  unreachable 0"))
            .run();
    });
    all_on("r2");
    assert_eq!(deploy.failed, 0, "{seen:?}");

    let (canary, seen) = under_load(&lb, "bad canary, rolled back", || {
        project
            .deploy(&r3, "r3")
            .code(1)
            .stderr_has("h1: FAILED, current: r2")
            .stderr_has("h2: not started")
            .stderr_has(format!("h{n}: not started"))
            .run();
    });
    all_on("r2");
    assert_eq!(canary.failed, 0, "{seen:?}");

    let (rollback, seen) = under_load(&lb, "ferry rollback", || {
        project
            .rollback()
            .stderr_has(format!(
                "rollback: done {n}  skipped 0  failed 0  unreachable 0"
            ))
            .run();
    });
    all_on("r1");
    assert_eq!(rollback.failed, 0, "{seen:?}");

    project.deploy(&r2, "r2").run();
    let (now, _) = under_load(&lb, "ferry rollback --now", || {
        project.rollback().arg("--now").run();
    });
    all_on("r1");
    assert!(now.failed > 0, "--now drops requests: {now:?}");

    project.write("playbooks/deploy.yml", &playbook(&lb.sock, false));
    let (undrained, _) = under_load(&lb, "undrained rolling deploy", || {
        project.deploy(&r2, "r2").run();
    });
    all_on("r2");
    assert!(
        undrained.failed > 0,
        "the same deploy undrained must drop requests (else this test cannot fail): {undrained:?}"
    );
}

#[test]
fn a_typo_in_the_drain_fails_the_host_before_its_switch() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let _apps: Vec<AppServer> = fleet.start_apps(PORT);
    let lb = Haproxy::start(&fleet);
    project.write("playbooks/deploy.yml", &playbook(&lb.sock, true));
    project.deploy(release(&project, "r1", true), "r1").run();
    project.write(
        "playbooks/deploy.yml",
        &playbook_for(&lb.sock, true, "apps"),
    );
    project
        .deploy(release(&project, "r2", true), "r2")
        .code(1)
        .stderr_has("no backend `apps`")
        .run();
    assert_eq!(currents(&fleet), ["releases/r1"]);
}
