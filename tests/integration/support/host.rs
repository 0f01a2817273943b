//! What a test reads and does on a fleet host from the controller: paths
//! under `deploy_to`, where `current` points, the history file, the lock,
//! shell commands in the host's namespace; and waiting for things to happen.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::fleet::Fleet;

/// Host `i`'s `deploy_to/rel`, as the controller sees it.
pub(crate) fn on_host(fleet: &Fleet, i: usize, rel: &str) -> PathBuf {
    let deploy_to = &fleet.hosts()[i].deploy_to;
    fleet.on_host(i, &format!("{deploy_to}/{rel}"))
}

/// Where host `i`'s `current` points ("releases/r1").
#[track_caller]
pub(crate) fn current(fleet: &Fleet, i: usize) -> String {
    let link = on_host(fleet, i, "current");
    std::fs::read_link(&link)
        .unwrap_or_else(|e| panic!("readlink {}: {e}", link.display()))
        .to_string_lossy()
        .into_owned()
}

/// Where every host's `current` points, in host order.
pub(crate) fn currents(fleet: &Fleet) -> Vec<String> {
    (0..fleet.hosts().len())
        .map(|i| current(fleet, i))
        .collect()
}

/// Names in host `i`'s `deploy_to/rel` folder (hidden ones included).
pub(crate) fn names_in(fleet: &Fleet, i: usize, rel: &str) -> BTreeSet<String> {
    let dir = on_host(fleet, i, rel);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

pub(crate) fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(ToString::to_string).collect()
}

/// Host `i`'s `.ferry/history.jsonl` as text ("" when there is none).
pub(crate) fn history_text(fleet: &Fleet, i: usize) -> String {
    std::fs::read_to_string(on_host(fleet, i, ".ferry/history.jsonl")).unwrap_or_default()
}

/// Host `i`'s history, oldest first, one JSON object per line; a line that
/// is not JSON fails the test.
pub(crate) fn history(fleet: &Fleet, i: usize) -> Vec<serde_json::Value> {
    history_text(fleet, i)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("history line {l:?}: {e}")))
        .collect()
}

/// Host `i`'s `kind` events of `release`; unreadable (torn) lines are skipped
/// as ferry skips them.
pub(crate) fn events_of(
    fleet: &Fleet,
    i: usize,
    kind: &str,
    release: &str,
) -> Vec<serde_json::Value> {
    history_text(fleet, i)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == kind && e["release"] == release)
        .collect()
}

/// Host `i`'s `.ferry/lock` folder.
pub(crate) fn lock_dir(fleet: &Fleet, i: usize) -> PathBuf {
    on_host(fleet, i, ".ferry/lock")
}

/// Run `cmd` in host `i`'s namespace; it must succeed; returns its stdout.
#[track_caller]
pub(crate) fn shell_ok(fleet: &Fleet, i: usize, cmd: &str) -> String {
    let out = fleet.exec_in_host(i, cmd);
    assert!(
        out.status.success(),
        "on host {i}: `{cmd}` failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// `kill SIG PID` (e.g. "-STOP"); it must succeed.
pub(crate) fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

/// Poll `cond` every 20 ms until it holds; fail with `what` after `limit`.
/// (A wait for a state, never a timed assertion.)
#[track_caller]
pub(crate) fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until the wall clock is in a new second: history stamps have
/// one-second resolution, so events in different runs get distinct stamps.
pub(crate) fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(Duration::from_nanos(
        1_000_000_000 - u64::from(now.subsec_nanos()) + 20_000_000,
    ));
}

/// Sets its flag when dropped: stops a watcher thread however a test ends.
pub(crate) struct SetOnDrop(pub std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Every process of a host's sshd (the listener, its sessions and what
/// they run), stopped with SIGSTOP until dropped: a host frozen mid-run.
pub(crate) struct FrozenTree(Vec<u32>);

impl FrozenTree {
    pub(crate) fn new(root: u32) -> FrozenTree {
        let mut pids = vec![root];
        let mut i = 0;
        while i < pids.len() {
            let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", pids[i]))
                .unwrap_or_default();
            pids.extend(
                children
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
            i += 1;
        }
        for pid in &pids {
            let _ = Command::new("kill")
                .args(["-STOP", &pid.to_string()])
                .status();
        }
        FrozenTree(pids)
    }

    /// SIGKILL every frozen process (a stopped process dies at once): the
    /// host's sshd is killed at exactly the point where it was frozen.
    /// (Used by the faults target only.)
    #[allow(dead_code)]
    pub(crate) fn kill(mut self) {
        for pid in std::mem::take(&mut self.0) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

impl Drop for FrozenTree {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
    }
}

/// A private ssh-agent for one test (`ssh-agent -D -a SOCKET`), killed when
/// dropped, also on panic.
pub(crate) struct SshAgent {
    child: std::process::Child,
    socket: std::path::PathBuf,
}

impl SshAgent {
    /// Start one listening on `dir/agent.sock`.
    pub(crate) fn start(dir: &Path) -> SshAgent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .spawn()
            .expect("start ssh-agent");
        let agent = SshAgent { child, socket };
        wait_until(Duration::from_secs(5), "ssh-agent never listened", || {
            agent.socket.exists()
        });
        agent
    }

    /// `ssh-add KEY`; it must succeed.
    pub(crate) fn add(&self, key: &Path) {
        let added = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .output()
            .expect("ssh-add");
        assert!(added.status.success(), "{added:?}");
    }

    /// The value for `SSH_AUTH_SOCK`.
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's `HAProxy` in the foreground (`-db`) on the config file `cfg`,
/// quiet; the caller stops it (by pid, when its test ends).
pub(crate) fn start_haproxy(cfg: &Path) -> std::process::Child {
    Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("haproxy installed (apt-get install haproxy)")
}
