//! sudo and become on real sshd, logged in as a non-root user.
//!
//! The fleet's sshds run as root, each in its own mount namespace with a
//! private /srv; /etc and /home are the machine's. So the test users are
//! machine-wide: `ferry-nopw` may run anything through sudo without a
//! password, `ferry-pw` must give its password. They are created once
//! (idempotently, under a lock, so parallel tests and test binaries agree)
//! and left in place for the next run, like the sshd they log in to; the
//! sudoers rules live in one file under /etc/sudoers.d, checked with
//! `visudo -c` before it is renamed into place.

use std::path::Path;
use std::process::Command;

use crate::support::fleet::{Fleet, FleetOptions};
use crate::support::host::on_host;
use crate::support::project::Project;

const NOPW: &str = "ferry-nopw";
const PW: &str = "ferry-pw";
/// `ferry-pw`'s login password, the one sudo asks for.
const PASSWORD: &str = "sudo-test-8c1f-pass";

/// Where the test users' `authorized_keys` lives: readable by them (the
/// fleet's own folder is root's).
const KEYS_DIR: &str = "/tmp/ferry-sudo-test-keys";

fn ensure_users() {
    let script = format!(
        "set -e\n\
         for u in {NOPW} {PW}; do id -u $u >/dev/null 2>&1 || useradd -m -s /bin/sh $u; done\n\
         echo '{PW}:{PASSWORD}' | chpasswd\n\
         usermod -p '*' {NOPW}\n\
         printf '%s\\n' 'Defaults:{NOPW},{PW} lecture=never' \
           '{NOPW} ALL=(ALL:ALL) NOPASSWD: ALL' '{PW} ALL=(ALL:ALL) ALL' > /etc/sudoers.d/.ferry-test.new\n\
         chmod 0440 /etc/sudoers.d/.ferry-test.new\n\
         visudo -cqf /etc/sudoers.d/.ferry-test.new\n\
         mv -f /etc/sudoers.d/.ferry-test.new /etc/sudoers.d/ferry-test\n\
         mkdir -p {KEYS_DIR} && chmod 0755 {KEYS_DIR}\n"
    );
    // The script (it holds the password) goes on stdin, not in an argv
    // that another test's `ps` sample would see; `echo` is a builtin.
    let mut child = Command::new("flock")
        .args(["/tmp/ferry-sudo-test.lock", "sh", "-s"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("flock");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "test user setup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fleet whose hosts let the test users log in with the fleet's key, and
/// a project logged in as `user`.
fn fleet_as(user: &str, hosts: usize) -> Option<(Fleet, Project)> {
    if !nix_is_root() {
        eprintln!("skipped: sudo tests need root (test users, sudoers)");
        return None;
    }
    ensure_users();
    let keys = tempfile::Builder::new()
        .prefix("keys-")
        .tempdir_in(KEYS_DIR)
        .expect("keys dir");
    let authorized = keys.path().join("authorized_keys");
    let fleet = Fleet::start_with(
        hosts,
        &FleetOptions {
            sshd_extra_config: format!(
                "Match User {NOPW},{PW}\n  AuthorizedKeysFile {}\n",
                authorized.display()
            ),
            ..FleetOptions::default()
        },
    );
    std::fs::set_permissions(
        keys.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::copy(fleet.dir().join("id_ed25519.pub"), &authorized).unwrap();
    // The folder is read at each login: keep it as long as the fleet.
    std::mem::forget(keys);
    let inventory = fleet.inventory_yaml("").replace(
        &format!("  user: {}\n", fleet.user()),
        &format!("  user: {user}\n"),
    );
    let project = Project::new(&fleet, "");
    project.write("inventories/test.yml", &inventory);
    Some((fleet, project))
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

#[test]
fn sudo_without_a_password_runs_as_root_or_the_become_user_and_installs_files_for_their_owner() {
    let Some((fleet, project)) = fleet_as(NOPW, 1) else {
        return;
    };
    project.write("playbooks/files/app.env", "A=1\n");
    project.write(
        "playbooks/site.yml",
        "tasks:\n\
         \x20 - { name: login, run: id -un }\n\
         \x20 - { name: as root, run: 'echo root is $(id -un)', sudo: true }\n\
         \x20 - { name: as nobody, run: 'echo become is $(id -un)', become_user: nobody }\n\
         \x20 - { name: dir, run: 'mkdir -p {{ deploy_to }}', sudo: true }\n\
         \x20 - name: env file\n    sudo: true\n\
         \x20   upload: { src: files/app.env, dest: '{{ deploy_to }}/app.env', mode: '0640', owner: nobody, group: nogroup }\n\
         \x20 - name: as daemon\n    become_user: daemon\n\
         \x20   template: { src: files/app.env, dest: '{{ deploy_to }}/daemon.env' }\n\
         \x20 - name: stdin\n    sudo: true\n    become_password: \"{{ env('SUDO_PASS') }}\"\n\
         \x20   run: 'echo stdin has $(wc -c) bytes'\n",
    );
    project
        .ferry(["run", "test"])
        .env("SUDO_PASS", PASSWORD)
        .stdout_has(format!("h1 | {NOPW}"))
        .stdout_has("h1 | root is root")
        .stdout_has("h1 | become is nobody")
        // sudo needed no password: it stayed unread, and the task's stdin
        // is empty, not the password.
        .stdout_has("h1 | stdin has 0 bytes")
        .stderr_has("ok: 1  failed: 0")
        .run();
    let owner = |rel: &str| {
        let path = on_host(&fleet, 0, rel);
        let out = Command::new("stat")
            .args(["-c", "%U:%G %a"])
            .arg(&path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(owner("app.env"), "nobody:nogroup 640");
    assert!(
        owner("daemon.env").starts_with("daemon:root "),
        "{}",
        owner("daemon.env")
    );
}

#[test]
fn sudo_that_needs_a_password_fails_at_once_with_what_to_do() {
    let Some((_fleet, project)) = fleet_as(PW, 1) else {
        return;
    };
    project.write(
        "playbooks/site.yml",
        // The timeout bounds the run should sudo wait for a password.
        "tasks:\n  - { name: root, run: id -un, sudo: true, timeout: 60s }\n",
    );
    project
        .ferry(["run", "test"])
        .code(1)
        .stderr_has("sudo needs a password on h1: sudo: a password is required")
        .stderr_has("become_password")
        .stderr_lacks("timed out")
        .run();
    project.write(
        "playbooks/site.yml",
        "tasks:\n  - { name: root, run: id -un, sudo: true, timeout: 60s, become_password: not-the-password }\n",
    );
    project
        .ferry(["run", "test"])
        .code(1)
        .stderr_has("sudo refused the password on h1: sudo: ")
        .stderr_lacks("not-the-password")
        .run();
}

#[test]
fn become_password_goes_on_stdin_and_into_no_process_list_or_file() {
    let Some((fleet, project)) = fleet_as(PW, 1) else {
        return;
    };
    project.write(
        "playbooks/site.yml",
        "become_password: \"{{ env('SUDO_PASS') }}\"\n\
         tasks:\n\
         \x20 - { name: slow, run: 'echo as $(id -un); sleep 3; echo done', become_user: nobody }\n\
         \x20 - { name: root, run: 'echo as $(id -un)', sudo: true }\n",
    );
    // Sample every process's arguments while the tasks run on the host.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ps_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let out = Command::new("ps").args(["-eo", "args"]).output().unwrap();
                samples.push(String::from_utf8_lossy(&out.stdout).into_owned());
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            samples
        })
    };
    let out = project
        .ferry(["run", "test"])
        .env("SUDO_PASS", PASSWORD)
        .stdout_has("h1 | as nobody")
        .stdout_has("h1 | as root")
        .stderr_has("ok: 1  failed: 0")
        .run();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let samples = ps_thread.join().unwrap();
    assert!(
        samples
            .iter()
            .any(|s| s.contains("sudo -S -p '' -u nobody")),
        "no sample caught the task running"
    );
    for sample in &samples {
        assert!(!sample.contains(PASSWORD), "password in ps:\n{sample}");
    }
    assert!(!out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD));
    for dir in [project.path(), fleet.dir(), &on_host(&fleet, 0, "")] {
        assert_eq!(files_holding(dir, PASSWORD), Vec::<String>::new());
    }
}

/// Files under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if kind.is_file() {
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn become_password_in_a_deploy_is_in_no_journal_log_history_or_event() {
    let Some((fleet, project)) = fleet_as(PW, 1) else {
        return;
    };
    // ferry's own release steps run as the login user: deploy_to is its.
    let deploy_to = on_host(&fleet, 0, "");
    std::fs::create_dir_all(&deploy_to).unwrap();
    let chown = Command::new("chown")
        .arg(format!("{PW}:{PW}"))
        .arg(&deploy_to)
        .status()
        .unwrap();
    assert!(chown.success());
    project.write(
        "playbooks/deploy.yml",
        "become_password: \"{{ env('SUDO_PASS') }}\"\n\
         after_switch:\n\
         \x20 - { name: restart, run: 'echo restarted as $(id -un)', sudo: true }\n",
    );
    let artifact = project.release_tarball("r1");
    project
        .deploy(&artifact, "r1")
        .args(["--output", "json", "--report", "junit.xml"])
        .env("SUDO_PASS", PASSWORD)
        .stderr_has("h1 | restarted as root")
        .stdout_lacks(PASSWORD)
        .stderr_lacks(PASSWORD)
        .run();
    // The sinks searched below were written: the host's run log (which
    // records the task), the run's journal, the host's history, the JUnit
    // report.
    let logged = files_holding(&project.path().join(".ferry/runs"), "restarted as root");
    assert!(logged.iter().any(|f| f.ends_with("h1.log")), "{logged:?}");
    let run_dir = std::path::Path::new(&logged[0]).parent().unwrap();
    assert!(run_dir.join("journal.jsonl").exists());
    assert!(deploy_to.join(".ferry/history.jsonl").exists());
    assert!(project.path().join("junit.xml").exists());
    for dir in [project.path(), fleet.dir(), &deploy_to] {
        assert_eq!(files_holding(dir, PASSWORD), Vec::<String>::new());
    }
}
