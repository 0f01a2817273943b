//! The lab every scenario runs in: a fleet with short, documented SSH
//! timeouts, releases with a known file set (so a half-extracted release is
//! recognisable), ferry runs whose events are kept, and the faults
//! themselves (kill, freeze, fill a disk, move a host's clock).

use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::state::Reported;
use crate::support::ferry::{Ferry, Output};
use crate::support::fleet::{Fleet, FleetOptions};
use crate::support::host::{shell_ok, FrozenTree};
use crate::support::project::{Project, ENV};

/// The scenario inventories' `ssh.connect_timeout` (README, Inventory).
/// Every test host's sshd shares the machine's CPUs: on 2 cores, with a
/// CPU hog beside it, 50 handshakes at once take 4.4 s and 20 take 1.4 s
/// (a 2 s timeout made 20 of 50 reachable hosts "unreachable"), so 5 s.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Their `ssh.keepalive`: a host that stops answering is given up after
/// three unanswered keepalives (README, Inventory).
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(1);
/// How long a host that stops answering costs: the first keepalive goes
/// out after one quiet interval, then three go unanswered (measured: 4 s).
pub(crate) const GIVE_UP: Duration = Duration::from_secs(4);
/// Room for a lease renewal under way when a host freezes (renewals run on
/// their own and no longer hold up a run's end; kept as margin).
pub(crate) const RENEWAL_BOUND: Duration = Duration::from_secs(15);
/// Slack for everything that is not a timeout (starting ferry, the real
/// work of a small deploy, a slow CI machine shared by parallel tests).
/// Generous on purpose: the bounds are bounds, not benchmarks.
pub(crate) const SLACK: Duration = Duration::from_secs(30);

/// Files under `payload/` in every lab release.
pub(crate) const PAYLOAD_FILES: usize = 40;
/// Written last when a release is built, checked by the invariant checker.
pub(crate) const LAST: &str = "LAST";

pub(crate) struct Lab {
    pub fleet: Fleet,
    pub project: Project,
    runs: std::cell::Cell<u32>,
    // Last: released once the fleet is gone.
    _load: Load,
}

/// Scenarios share the machine, except those with big fleets.
static FLEETS: RwLock<()> = RwLock::new(());

enum Load {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

impl Lab {
    /// `n` hosts, the lab inventory (`extra` appended) and `playbook` as
    /// `playbooks/deploy.yml`.
    pub(crate) fn start(n: usize, extra: &str, playbook: &str) -> Lab {
        Lab::start_with(n, extra, playbook, Some(CONNECT_TIMEOUT))
    }

    /// [`Lab::start`] with another `connect_timeout`, or with ferry's
    /// default SSH timeouts (None: 10 s to connect, keepalive 5 s).
    pub(crate) fn start_with(
        n: usize,
        extra: &str,
        playbook: &str,
        connect_timeout: Option<Duration>,
    ) -> Lab {
        // Fleets of 30 hosts and more run alone: their handshakes, all on
        // this machine's CPUs, would push other scenarios' past their timeout.
        let load = if n >= 30 {
            Load::Alone(FLEETS.write().unwrap_or_else(PoisonError::into_inner))
        } else {
            Load::Shared(FLEETS.read().unwrap_or_else(PoisonError::into_inner))
        };
        let fleet = Fleet::start_with(
            n,
            &FleetOptions {
                sshd_extra_config: "MaxStartups 200\n".into(),
                ..FleetOptions::default()
            },
        );
        assert!(
            fleet.is_isolated(),
            "the fault suite needs root mode (a mount namespace per host)"
        );
        let inventory = fleet.inventory_yaml(extra);
        let short = connect_timeout.map_or_else(String::new, |t| {
            format!(
                "  connect_timeout: {}s\n  keepalive: {}s\n",
                t.as_secs(),
                KEEPALIVE.as_secs()
            )
        });
        assert!(inventory.contains("  connect_timeout: 5s\n"), "{inventory}");
        let inventory = inventory.replace("  connect_timeout: 5s\n", &short);
        let project = Project::empty();
        project.write(&format!("inventories/{ENV}.yml"), &inventory);
        // No stages at all: no deploy.yml (an empty playbook file is an error).
        if !playbook.trim().is_empty() {
            project.write("playbooks/deploy.yml", playbook);
        }
        Lab {
            fleet,
            project,
            runs: std::cell::Cell::new(0),
            _load: load,
        }
    }

    pub(crate) fn hosts(&self) -> usize {
        self.fleet.hosts().len()
    }

    /// A release tarball `<id>.tar.gz`: `index.html`, `PAYLOAD_FILES` small
    /// files, `blob_bytes` of incompressible data (0: none) and `LAST`.
    pub(crate) fn release(&self, id: &str, blob_bytes: usize) -> PathBuf {
        let payload: Vec<(String, Vec<u8>)> = (0..PAYLOAD_FILES)
            .map(|k| {
                (
                    format!("payload/{k:03}"),
                    format!("{id} {k}\n").into_bytes(),
                )
            })
            .collect();
        let mut files: Vec<(&str, &[u8])> = payload
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        let page = crate::support::project::page(id);
        files.push(("index.html", page.as_bytes()));
        let blob = if blob_bytes > 0 {
            let out = std::process::Command::new("head")
                .args(["-c", &blob_bytes.to_string(), "/dev/urandom"])
                .output()
                .expect("head /dev/urandom");
            out.stdout
        } else {
            Vec::new()
        };
        if blob_bytes > 0 {
            files.push(("blob.bin", &blob));
        }
        files.push((LAST, b"complete\n"));
        self.project.tarball(id, &files)
    }

    /// A fresh `--log-dir` for the next run: its journal is read back even
    /// when the run was killed.
    fn next_log_dir(&self) -> PathBuf {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        self.project.path().join(format!("logs/run{n}"))
    }

    /// `ferry deploy test --artifact A --release ID --output json`, with
    /// its journal in a folder of its own ([`Run::journal`]).
    pub(crate) fn deploy(&self, artifact: &Path, release: &str) -> Run<'_> {
        let dir = self.next_log_dir();
        let ferry = self
            .project
            .deploy(artifact, release)
            .args(["--output", "json", "--log-dir"])
            .arg(&dir);
        Run { ferry, dir }
    }

    /// `ferry rollback test` (it has no `--output json` and no journal:
    /// its report is the summary on stderr, see `state::Reported::summary`).
    pub(crate) fn rollback(&self) -> Ferry<'_> {
        self.project.rollback()
    }

    /// Host `i`'s `deploy_to/rel` as the host sees it, read from the
    /// controller: through its sshd's mount namespace while that lives (so
    /// a tmpfs mounted there is seen), else the host's folder.
    pub(crate) fn path(&self, i: usize, rel: &str) -> PathBuf {
        host_path(&self.fleet, i, rel)
    }

    /// Freeze host `i`'s whole sshd tree (SIGSTOP) until dropped.
    pub(crate) fn freeze(&self, i: usize) -> FrozenTree {
        FrozenTree::new(self.fleet.hosts()[i].pid)
    }

    /// SIGKILL host `i`'s sshd and everything it runs, at once (first
    /// frozen, so nothing runs on between the signals); reaped.
    pub(crate) fn kill_sshd(&self, i: usize) {
        self.freeze(i).kill();
        // Reaps the listener (and finds nothing else left to stop).
        self.fleet.stop_host(i);
    }

    /// Freeze (SIGSTOP) every SSH connection of host `i`: the
    /// per-connection sshd processes and all they run, not its listener.
    pub(crate) fn freeze_sessions(&self, i: usize) -> Vec<FrozenTree> {
        let pid = self.fleet.hosts()[i].pid;
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        children
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .map(FrozenTree::new)
            .collect()
    }

    /// Move host `i`'s clock (`date +%s`, the clock its lock leases are
    /// judged by) `secs` seconds ahead, in its namespace only: a stand-in
    /// for the time a lease needs to expire. The real `date` is kept under
    /// `/srv/.clock/` and a script bind-mounted over `/usr/bin/date` adds
    /// the offset to `+%s`; every other use is passed through.
    pub(crate) fn advance_clock(&self, i: usize, secs: u64) {
        shell_ok(
            &self.fleet,
            i,
            &format!(
                "set -e; mkdir -p /srv/.clock; \
                 [ -x /srv/.clock/date ] || cp /usr/bin/date /srv/.clock/date; \
                 echo {secs} > /srv/.clock/offset; \
                 printf '%s\\n' '#!/bin/sh' \
                 'if [ \"$#\" = 1 ] && [ \"$1\" = +%s ]; then echo $(( $(/srv/.clock/date +%s) + $(cat /srv/.clock/offset) )); else exec /srv/.clock/date \"$@\"; fi' \
                 > /srv/.clock/shim; chmod 755 /srv/.clock/shim; \
                 mountpoint -q /usr/bin/date || mount --bind /srv/.clock/shim /usr/bin/date"
            ),
        );
    }
}

/// See [`Lab::path`].
pub(crate) fn host_path(fleet: &Fleet, i: usize, rel: &str) -> PathBuf {
    let h = &fleet.hosts()[i];
    let host = format!("{}/{rel}", h.deploy_to.trim_end_matches('/'));
    let through_ns = PathBuf::from(format!("/proc/{}/root{host}", h.pid));
    if Path::new(&format!("/proc/{}/root/srv", h.pid)).exists() {
        through_ns
    } else {
        fleet.on_host(i, &host)
    }
}

/// Kills a spawned ferry still running after `limit`: a hang fails the
/// scenario (with a message) instead of blocking the suite forever.
pub(crate) struct Watchdog {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub(crate) fn new(pid: u32, limit: Duration) -> Watchdog {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + limit;
            while !flag.load(Ordering::SeqCst) {
                if std::time::Instant::now() > deadline {
                    eprintln!("watchdog: ferry (pid {pid}) still running after {limit:?}: killed");
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Watchdog {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How long a spawned scenario run may take before the watchdog kills it.
pub(crate) const HANG: Duration = Duration::from_secs(120);

/// A ferry run of the lab, with the folder its journal goes to.
pub(crate) struct Run<'p> {
    pub ferry: Ferry<'p>,
    pub dir: PathBuf,
}

impl<'p> Run<'p> {
    /// Run it as `configure` sets it up (arguments, expected exit code),
    /// timed: its output, what it reported (journal and summary) and how
    /// long it took.
    pub(crate) fn go(
        self,
        configure: impl FnOnce(Ferry<'p>) -> Ferry<'p>,
    ) -> (Output, Reported, Duration) {
        let started = Instant::now();
        let out = configure(self.ferry).run();
        let took = started.elapsed();
        let reported = Reported::of(&Run::journal(&self.dir), &out.stderr);
        (out, reported, took)
    }

    /// The events of this run (its journal): complete for a run that
    /// ended, cut short for one that was killed.
    pub(crate) fn journal(dir: &Path) -> Vec<serde_json::Value> {
        let Ok(runs) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for run in runs.flatten() {
            let text =
                std::fs::read_to_string(run.path().join("journal.jsonl")).unwrap_or_default();
            out.extend(
                text.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()),
            );
        }
        out
    }
}

/// Events of one kind.
pub(crate) fn events<'e>(
    events: &'e [serde_json::Value],
    kind: &str,
) -> Vec<&'e serde_json::Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// The whole output as text, for assertion messages.
pub(crate) fn shown(out: &Output) -> String {
    format!("exit {}\n--- stderr\n{}", out.code, out.stderr)
}

/// The wall-time bound of a scenario: `bound` is derived from the lab's
/// documented timeouts by the scenario; the time is printed for the record.
#[track_caller]
pub(crate) fn assert_within(what: &str, took: Duration, bound: Duration) {
    eprintln!("wall time: {what}: {took:.2?} (bound {bound:?})");
    assert!(
        took < bound,
        "{what} took {took:?}, more than its bound of {bound:?}"
    );
}
