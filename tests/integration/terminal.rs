//! The terminal (issue 15, item 6) and https from the controller (item 7):
//! colour only where a person reads, progress bars only on a terminal, and
//! a TLS health check trusted through `FERRY_CA_FILE`. A terminal is a real
//! pseudo-terminal (util-linux `script`).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::ferry::Ferry;
use crate::support::fleet::Fleet;
use crate::support::project::Project;

/// Whether `text` holds an SGR escape (a colour or weight): ESC [ digits m.
/// A progress bar's cursor moves and line clears are not colour.
fn has_sgr(text: &str) -> bool {
    text.split('\u{1b}').skip(1).any(|rest| {
        rest.strip_prefix('[').is_some_and(|params| {
            let end = params
                .find(|c: char| !(c.is_ascii_digit() || c == ';'))
                .unwrap_or(params.len());
            params[end..].starts_with('m')
        })
    })
}

#[test]
fn the_sgr_test_tells_colour_from_cursor_moves() {
    assert!(has_sgr("\u{1b}[1m\u{1b}[31mFAILED\u{1b}[0m"));
    assert!(!has_sgr("\u{1b}[2K\r\u{1b}[1A plain"));
    assert!(!has_sgr("no escapes at all"));
}

/// A project on two hosts where the command fails on h2 only.
const FAILS_ON_H2: &str = "test {{ host.name }} != h2";

/// A terminal that can show colour.
fn term(run: Ferry<'_>) -> Ferry<'_> {
    run.env("TERM", "xterm-256color")
}

#[test]
fn colour_on_a_terminal_never_with_no_color_never_or_a_pipe() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");

    // auto on a terminal: FAILED in bold red, and the run's bar.
    let tty = term(project.run_cmd(FAILS_ON_H2)).code(1).run_in_pty();
    assert!(
        tty.stdout.contains("\u{1b}[1m\u{1b}[31mFAILED\u{1b}[0m"),
        "{:?}",
        tty.stdout
    );
    assert!(
        tty.stdout.contains("0/2 hosts  running"),
        "{:?}",
        tty.stdout
    );
    // NO_COLOR (set, non-empty), --color never, FERRY_COLOR=never, TERM=dumb.
    for run in [
        term(project.run_cmd(FAILS_ON_H2)).env("NO_COLOR", "1"),
        term(project.run_cmd(FAILS_ON_H2)).args(["--color", "never"]),
        term(project.run_cmd(FAILS_ON_H2)).env("FERRY_COLOR", "never"),
        project.run_cmd(FAILS_ON_H2).env("TERM", "dumb"),
    ] {
        let out = run.code(1).run_in_pty();
        assert!(out.stdout.contains("FAILED"), "{:?}", out.stdout);
        assert!(!has_sgr(&out.stdout), "{:?}", out.stdout);
    }
    // An empty NO_COLOR is unset (no-color.org).
    let empty = term(project.run_cmd(FAILS_ON_H2))
        .env("NO_COLOR", "")
        .code(1)
        .run_in_pty();
    assert!(has_sgr(&empty.stdout), "{:?}", empty.stdout);

    // A pipe: no escape at all, no bar, unless --color always asks.
    let piped = term(project.run_cmd(FAILS_ON_H2)).code(1).run();
    assert!(!piped.stderr.contains('\u{1b}'), "{}", piped.stderr);
    assert!(!piped.stderr.contains("hosts  running"), "{}", piped.stderr);
    for run in [
        term(project.run_cmd(FAILS_ON_H2)).args(["--color", "always"]),
        project.run_cmd(FAILS_ON_H2).env("FERRY_COLOR", "always"),
        // --color always is the person's own word: it beats NO_COLOR.
        project
            .run_cmd(FAILS_ON_H2)
            .args(["--color", "always"])
            .env("NO_COLOR", "1"),
    ] {
        let out = run.code(1).run();
        assert!(has_sgr(&out.stderr), "{}", out.stderr);
        // Host output is the host's text: never styled.
        assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
    }
}

#[test]
fn json_journal_and_junit_never_carry_colour() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    let out = project
        .deploy(&r1, "r1")
        .args([
            "--color",
            "always",
            "--output",
            "json",
            "--report",
            "junit.xml",
        ])
        .run();
    assert!(has_sgr(&out.stderr), "{}", out.stderr);
    assert!(out.stdout.contains("\"run_finished\""), "{}", out.stdout);
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
    assert!(!project.read("junit.xml").contains('\u{1b}'));
    let mut files = 0;
    for run in std::fs::read_dir(project.path().join(".ferry/runs")).unwrap() {
        for file in std::fs::read_dir(run.unwrap().path()).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            assert!(!text.contains('\u{1b}'), "{text}");
            files += 1;
        }
    }
    // The journal and both hosts' logs.
    assert!(files >= 3, "{files}");
}

#[test]
fn progress_bars_for_staging_run_and_rollback_on_a_terminal_only() {
    let fleet = Fleet::start(2);
    // Two batches: the release is staged on every host first.
    let project = Project::new(&fleet, "rollout: { batch: 1 }\n");
    let (r1, r2) = (project.release_tarball("r1"), project.release_tarball("r2"));
    let tty = project.deploy(&r1, "r1").run_in_pty();
    assert!(
        tty.stdout.contains("0/2 hosts  staging"),
        "{:?}",
        tty.stdout
    );
    // Host lines are whole lines, not torn by the bar.
    assert!(
        tty.stdout.contains("[h1] current -> r1\r\n"),
        "{:?}",
        tty.stdout
    );
    let piped = project.deploy(&r2, "r2").run();
    assert!(!piped.stderr.contains("hosts  staging"), "{}", piped.stderr);
    assert!(!piped.stderr.contains('\u{1b}'), "{}", piped.stderr);

    let tty = project.rollback().run_in_pty();
    assert!(
        tty.stdout.contains("0/2 hosts  rolling back"),
        "{:?}",
        tty.stdout
    );
    assert!(tty.stdout.contains("to r1 from r2\r\n"), "{:?}", tty.stdout);
    let tty = project.run_cmd("true").run_in_pty();
    assert!(
        tty.stdout.contains("0/2 hosts  running"),
        "{:?}",
        tty.stdout
    );
    let piped = project.run_cmd("true").run();
    assert!(!piped.stderr.contains("hosts  running"), "{}", piped.stderr);
}

/// A test CA and a certificate for 127.0.0.1 it signed, in `dir`
/// (Debian's openssl): returns ca.pem.
fn test_ca(dir: &Path) -> PathBuf {
    let openssl = |args: &[&str]| {
        let made = Command::new("openssl")
            .args(["req", "-x509", "-nodes", "-days", "2", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian package openssl)");
        assert!(made.status.success(), "{made:?}");
    };
    openssl(&[
        "-subj",
        "/CN=ferry test CA",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
    ]);
    dir.join("ca.pem")
}

/// `openssl s_server -WWW` on 127.0.0.1 serving the files of `dir` over
/// TLS with `dir`'s cert.pem; killed when dropped.
struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    fn start(dir: &Path) -> TlsServer {
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0", "-WWW"])
            .args(["-cert", "cert.pem", "-key", "key.pem"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // "ACCEPT 127.0.0.1:PORT" once it listens.
        let port = lines
            .find_map(|l| {
                l.unwrap()
                    .strip_prefix("ACCEPT 127.0.0.1:")
                    .map(|p| p.parse().unwrap())
            })
            .expect("s_server says where it listens");
        // It goes on talking about each connection: read it all, so it
        // never writes to a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        TlsServer { child, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_https_health_check_is_verified_against_ferry_ca_file() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let tls = project.path().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let ca = test_ca(&tls);
    std::fs::write(tls.join("health"), "ok\n").unwrap();
    let server = TlsServer::start(&tls);
    project.write(
        "playbooks/deploy.yml",
        &format!(
            "health:\n  - name: tls\n    http: {{ url: 'https://127.0.0.1:{}/health', body: ok }}\n    retries: 0\n    timeout: 5s\n",
            server.port
        ),
    );
    let r1 = project.release_tarball("r1");
    project
        .deploy(&r1, "r1")
        .env("FERRY_CA_FILE", &ca)
        .stderr_has("deployed r1")
        .run();
    // Never unverified: without the CA the same endpoint is refused.
    let r2 = project.release_tarball("r2");
    project
        .deploy(&r2, "r2")
        .failure()
        .stderr_has(format!("https://127.0.0.1:{}/health: ", server.port))
        .stderr_has("certificate")
        .run();
    // A CA file that cannot be used is named.
    project
        .deploy(&r2, "r2")
        .env("FERRY_CA_FILE", tls.join("nope.pem"))
        .failure()
        .stderr_has(format!(
            "{} (FERRY_CA_FILE): ",
            tls.join("nope.pem").display()
        ))
        .run();
}
