//! Drain providers against a real `HAProxy` (Debian's `haproxy`) on loopback,
//! in front of the fleet's apps, its admin sockets in a temp dir.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use crate::support::fleet::{AppServer, Fleet, HeldConnection};
use crate::support::host::{currents, on_host, wait_until};
use crate::support::project::Project;

const PORT: u16 = 18090;

/// A `HAProxy` process with a unix admin socket and a TCP one, killed on drop.
struct Haproxy {
    child: Child,
    dir: tempfile::TempDir,
    tcp: String,
    /// The frontend (TCP mode: a held connection is a session on a server).
    frontend: std::net::SocketAddr,
}

impl Haproxy {
    fn start(apps: &[AppServer]) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let ip = apps[0].addr().ip();
        let tcp = format!("{ip}:{}", PORT + 2);
        let mut servers = String::new();
        for (i, app) in apps.iter().enumerate() {
            let _ = writeln!(
                servers,
                "  server h{} {} check inter 200ms fall 2 rise 1",
                i + 1,
                app.addr()
            );
        }
        let cfg = format!(
            "global\n  stats socket {sock} mode 666 level admin\n  stats socket ipv4@{tcp} level admin\n\
             defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n\
             frontend web\n  bind {ip}:{front}\n  default_backend app\n\
             backend app\n{servers}",
            sock = dir.path().join("admin.sock").display(),
            front = PORT + 1,
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        let child = crate::support::host::start_haproxy(&path);
        let frontend = std::net::SocketAddr::new(ip, PORT + 1);
        let h = Haproxy {
            child,
            dir,
            tcp,
            frontend,
        };
        wait_until(Duration::from_secs(10), "haproxy's admin socket", || {
            UnixStream::connect(h.socket()).is_ok()
        });
        h
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }

    fn ask(&self, command: &str) -> String {
        let mut s = UnixStream::connect(self.socket()).unwrap();
        writeln!(s, "{command}").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// The `status` column of `show stat` for a server of backend `app`.
    fn status(&self, server: &str) -> String {
        let stat = self.ask("show stat");
        let line = stat
            .lines()
            .find(|l| l.starts_with(&format!("app,{server},")))
            .unwrap_or_else(|| panic!("no {server} in {stat}"));
        line.split(',').nth(17).unwrap().to_string()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HEALTH: &str = "\
health:
  - name: http
    http: { url: 'http://{{ host.address }}:18090/health', body: ok }
    retries: 2
    interval: 200ms
    timeout: 2s
";

struct Rig {
    fleet: Fleet,
    project: Project,
    apps: Vec<AppServer>,
    lb: Haproxy,
    r2: PathBuf,
}

/// Hosts on r1 behind `HAProxy`; `drain` gives the playbook's drain field.
fn rig(hosts: usize, drain: &dyn Fn(&Haproxy) -> String) -> Rig {
    let fleet = Fleet::start(hosts);
    let project = Project::new(&fleet, "");
    let apps = fleet.start_apps(PORT);
    let lb = Haproxy::start(&apps);
    let files = |id: &str| {
        let page = format!("release {id}\n");
        project.tarball(id, &[("index.html", page.as_bytes()), ("health", b"ok\n")])
    };
    let (r1, r2) = (files("r1"), files("r2"));
    project.write("playbooks/deploy.yml", HEALTH);
    project.deploy(&r1, "r1").run();
    project.write(
        "playbooks/deploy.yml",
        &format!(
            "{}\nafter_switch:\n{}{HEALTH}",
            drain(&lb),
            record_state(&lb)
        ),
    );
    Rig {
        fleet,
        project,
        apps,
        lb,
        r2,
    }
}

/// An `after_switch` task recording what each `HAProxy` says about the host
/// while it is switched and not yet undrained.
fn record_state(lb: &Haproxy) -> String {
    format!(
        "  - name: lb state\n    run: \"for to in UNIX-CONNECT:{} TCP:{}; do echo 'show stat' | socat stdio $to | grep '^app,{{{{ host.name }}}},' | cut -d, -f18; done > {{{{ deploy_to }}}}/lb-seen\"\n",
        lb.socket().display(),
        lb.tcp
    )
}

fn haproxy_drain(lb: &Haproxy, server: &str) -> String {
    format!(
        "drain:\n  provider: haproxy\n  sockets: ['{}', '{}']\n  backend: app\n  server: '{server}'\n  timeout: 10s\n",
        lb.socket().display(),
        lb.tcp
    )
}

#[test]
fn haproxy_provider_drains_each_host_on_every_socket_and_puts_it_back() {
    let rig = rig(2, &|lb| haproxy_drain(lb, "{{ host.name }}"));
    rig.project
        .deploy(&rig.r2, "r2")
        .arg("--plan")
        .stdout_has(format!(
            "  [drain] haproxy  set server app/h2 state drain on {}, {}, wait for 0 sessions and queue (at most 10s, then fail)\n",
            rig.lb.socket().display(),
            rig.lb.tcp
        ))
        .stdout_has("  [undrain] haproxy  set server app/h1 state ready on ")
        .run();
    assert_eq!(rig.lb.status("h1"), "UP", "a plan touches nothing");
    rig.project.deploy(&rig.r2, "r2").run();
    assert_eq!(currents(&rig.fleet), ["releases/r2", "releases/r2"]);
    for (i, name) in ["h1", "h2"].iter().enumerate() {
        let seen = std::fs::read_to_string(on_host(&rig.fleet, i, "lb-seen")).unwrap();
        assert_eq!(seen, "DRAIN\nDRAIN\n", "{name} while switched");
        // Back in: admin state ready (the health check decides UP/DOWN).
        let now = rig.lb.status(name);
        assert!(
            !now.contains("DRAIN") && !now.contains("MAINT"),
            "{name}: {now}"
        );
    }
}

/// `ferry rollback` drains through the provider too (its default, in
/// batches); `--now` does not.
#[test]
fn a_rollback_drains_through_the_provider_unless_now() {
    let rig = rig(2, &|lb| haproxy_drain(lb, "{{ host.name }}"));
    rig.project.deploy(&rig.r2, "r2").run();
    for i in 0..2 {
        std::fs::remove_file(on_host(&rig.fleet, i, "lb-seen")).unwrap();
    }
    rig.project.rollback().run();
    assert_eq!(currents(&rig.fleet), ["releases/r1", "releases/r1"]);
    for (i, name) in ["h1", "h2"].iter().enumerate() {
        let seen = std::fs::read_to_string(on_host(&rig.fleet, i, "lb-seen")).unwrap();
        assert_eq!(seen, "DRAIN\nDRAIN\n", "{name} while rolled back");
        let now = rig.lb.status(name);
        assert!(
            !now.contains("DRAIN") && !now.contains("MAINT"),
            "{name}: {now}"
        );
    }
    rig.project.rollback().args(["--to", "r2", "--now"]).run();
    assert_eq!(currents(&rig.fleet), ["releases/r2", "releases/r2"]);
    for (i, name) in ["h1", "h2"].iter().enumerate() {
        let seen = std::fs::read_to_string(on_host(&rig.fleet, i, "lb-seen")).unwrap();
        assert!(
            !seen.contains("DRAIN"),
            "{name} was drained by --now: {seen}"
        );
    }
}

#[test]
fn an_unknown_haproxy_server_fails_the_host_before_its_switch() {
    let rig = rig(1, &|lb| haproxy_drain(lb, "{{ host.name }}x"));
    rig.project
        .deploy(&rig.r2, "r2")
        .failure()
        .stderr_has("no server `h1x` in backend `app`")
        .run();
    assert_eq!(currents(&rig.fleet), ["releases/r1"]);
    assert!(!on_host(&rig.fleet, 0, "lb-seen").exists());
    // A template cannot smuggle a second runtime command (`;` separates them).
    let playbook = rig.project.path().join("playbooks/deploy.yml");
    let text = std::fs::read_to_string(&playbook).unwrap().replace(
        "{{ host.name }}x",
        "{{ host.name }}; set server app/h1 state maint",
    );
    std::fs::write(&playbook, text).unwrap();
    rig.project
        .deploy(&rig.r2, "r2")
        .failure()
        .stderr_has("is not a HAProxy name")
        .run();
    assert_eq!(rig.lb.status("h1"), "UP");
    assert_eq!(currents(&rig.fleet), ["releases/r1"]);
}

#[test]
fn a_missing_haproxy_socket_fails_and_creates_nothing() {
    let rig = rig(1, &|lb| {
        format!(
            "drain: {{ provider: haproxy, socket: '{}', backend: app }}\n",
            lb.dir.path().join("gone.sock").display()
        )
    });
    rig.project
        .deploy(&rig.r2, "r2")
        .failure()
        .stderr_has("gone.sock: cannot connect")
        .run();
    assert_eq!(currents(&rig.fleet), ["releases/r1"]);
    assert!(!rig.lb.dir.path().join("gone.sock").exists());
}

#[test]
fn health_file_provider_removes_the_file_until_the_host_is_healthy() {
    let rig = rig(1, &|_| {
        "drain: { provider: health_file, path: '{{ deploy_to }}/healthy', grace: 200ms, port: 18090, timeout: 10s }\n".into()
    });
    let healthy = on_host(&rig.fleet, 0, "healthy");
    std::fs::write(&healthy, "").unwrap();
    let playbook = rig.project.path().join("playbooks/deploy.yml");
    let text = std::fs::read_to_string(&playbook).unwrap().replace(
        "  - name: lb state\n",
        "  - name: file state\n    run: \"test -e {{ deploy_to }}/healthy && echo present > {{ deploy_to }}/file-seen || echo absent > {{ deploy_to }}/file-seen\"\n  - name: lb state\n",
    );
    std::fs::write(&playbook, text).unwrap();
    rig.project.deploy(&rig.r2, "r2").run();
    assert_eq!(
        std::fs::read_to_string(on_host(&rig.fleet, 0, "file-seen")).unwrap(),
        "absent\n"
    );
    assert!(healthy.exists(), "recreated after health");
}

#[test]
fn haproxy_drain_waits_for_open_sessions_and_fails_at_its_timeout_then_undrains() {
    let rig = rig(1, &|lb| {
        format!(
            "drain: {{ provider: haproxy, socket: '{}', backend: app, timeout: 2s, interval: 100ms }}\n",
            lb.socket().display()
        )
    });
    let held = HeldConnection::open(rig.lb.frontend);
    wait_until(
        Duration::from_secs(10),
        &format!("the held session on h1: {}", rig.lb.ask("show stat")),
        || {
            rig.lb
                .ask("show stat")
                .lines()
                .any(|l| l.starts_with("app,h1,") && l.split(',').nth(4) == Some("1"))
        },
    );
    rig.project
        .deploy(&rig.r2, "r2")
        .failure()
        .stderr_has(
            "[h1] drain `show stat`: attempt 1 of 21 not yet (1 sessions left); again in 100ms\n",
        )
        .stderr_has("1 sessions still open after 2s")
        .run();
    assert_eq!(currents(&rig.fleet), ["releases/r1"]);
    assert_eq!(rig.lb.status("h1"), "UP", "put back after the failed drain");
    // A maximum drain time: the deploy goes on, and says so.
    let playbook = rig.project.path().join("playbooks/deploy.yml");
    let text = std::fs::read_to_string(&playbook)
        .unwrap()
        .replace("timeout: 2s,", "timeout: 1s, on_timeout: continue,");
    std::fs::write(&playbook, text).unwrap();
    rig.project
        .deploy(&rig.r2, "r2")
        .stderr_has("1 sessions still open after 1s; going on (on_timeout: continue)")
        .run();
    held.close();
    assert_eq!(currents(&rig.fleet), ["releases/r2"]);
    assert_eq!(rig.lb.status("h1"), "UP");
}

#[test]
fn haproxy_via_a_host_drains_through_socat_there() {
    let rig = rig(2, &|lb| {
        format!("{}  via: h2\n", haproxy_drain(lb, "{{ host.name }}"))
    });
    rig.project.deploy(&rig.r2, "r2").run();
    assert_eq!(currents(&rig.fleet), ["releases/r2", "releases/r2"]);
    for (i, name) in ["h1", "h2"].iter().enumerate() {
        let seen = std::fs::read_to_string(on_host(&rig.fleet, i, "lb-seen")).unwrap();
        assert_eq!(seen, "DRAIN\nDRAIN\n", "{name} while switched");
        assert_eq!(rig.lb.status(name), "UP", "{name} back in");
    }
}

#[test]
fn haproxy_via_a_host_checks_every_answer() {
    let rig = rig(1, &|lb| format!("{}  via: h1\n", haproxy_drain(lb, "nope")));
    rig.project
        .deploy(&rig.r2, "r2")
        .failure()
        .stderr_has("no server `nope` in backend `app`")
        .run();
    let gone = rig.lb.dir.path().join("gone.sock");
    rig.project.write(
        "playbooks/deploy.yml",
        &format!(
            "drain: {{ provider: haproxy, socket: '{}', backend: app, via: h1 }}\n{HEALTH}",
            gone.display()
        ),
    );
    rig.project
        .deploy(&rig.r2, "r2")
        .failure()
        .stderr_has("gone.sock via h1")
        .run();
    assert_eq!(currents(&rig.fleet), ["releases/r1"]);
    assert!(!gone.exists());
}

#[test]
fn health_file_drain_waits_for_established_connections_and_puts_the_file_back() {
    let rig = rig(1, &|_| {
        "drain: { provider: health_file, path: '{{ deploy_to }}/healthy', port: 18090, timeout: 1s, interval: 100ms }\n".into()
    });
    let healthy = on_host(&rig.fleet, 0, "healthy");
    std::fs::write(&healthy, "").unwrap();
    let held = HeldConnection::open(rig.apps[0].addr());
    rig.project
        .deploy(&rig.r2, "r2")
        .failure()
        .stderr_has("sessions still open after 1s")
        .run();
    held.close();
    assert_eq!(currents(&rig.fleet), ["releases/r1"]);
    assert!(
        healthy.exists(),
        "the undrain is attempted after a failed drain"
    );
}
