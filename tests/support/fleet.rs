//! Test fleet harness: real OpenSSH `sshd` processes on loopback addresses.
//!
//! Shared (one copy) by the integration tests (`tests/integration/support/mod.rs`),
//! the README demo and the benchmarks (`examples/fleet.rs`).
//!
//! * One `sshd` per host, each listening on its own loopback address
//!   `127.A.B.C:2222` (C = 1..=254; a fleet of more than 254 hosts takes the
//!   next /24s, B + 1, B + 2, ...), with its own ed25519 host key, config and log.
//! * Root mode ("isolated"): every sshd runs in its own mount namespace
//!   (`unshare --mount`) with a per-host directory bind-mounted on `/srv` and a
//!   per-host empty home bind-mounted on `/root` (so root's `~/.bashrc` is not run).
//! * User mode (not root, or `FERRY_FLEET_ISOLATE=0`, or `unshare` not
//!   permitted): plain sshd processes; `deploy_to` is `<root>/app`.
//! * Every sshd is killed by pid when the `Fleet` is dropped (also on panic),
//!   unless `detach()` was called.
//!
//! std-only plus `tempfile`.
// Two targets include this file and each uses a different part of it.
#![allow(dead_code)]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Port every test host listens on (each host has its own loopback address).
pub(crate) const PORT: u16 = 2222;
/// How long a fleet may take to come up once all sshds are spawned, plus
/// [`READY_PER_HOST`] for each host (2,000 sshds on 2 shared cores).
const READY_DEADLINE: Duration = Duration::from_secs(20);
const READY_PER_HOST: Duration = Duration::from_millis(40);
/// Hosts per /24 (127.A.B.1 ..= 127.A.B.254; .0 holds the range's lock).
pub(crate) const HOSTS_PER_RANGE: usize = 254;
/// Largest fleet: 64 consecutive /24s.
pub(crate) const MAX_HOSTS: usize = 64 * HOSTS_PER_RANGE;
/// ssh-keygen processes run at once while making host keys.
const KEYGEN_PARALLEL: usize = 64;
/// How many address ranges (127.A.B.x) to try before giving up.
const MAX_RANGE_ATTEMPTS: u32 = 40;

static RANGE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Knobs for [`Fleet::start_with`]. `Default` is what [`Fleet::start`] uses.
#[derive(Debug, Clone, Default)]
pub(crate) struct FleetOptions {
    /// Use this directory instead of a fresh temp dir (it is created if
    /// missing; the fleet's own files in it are replaced). Not deleted on drop.
    pub dir: Option<PathBuf>,
    /// Start each sshd in its own process group, so that it survives the
    /// starting process and its terminal (used by `examples/fleet.rs up`).
    /// Leave false in tests so a test runner killing the test's process group
    /// also kills the sshds.
    pub own_process_group: bool,
    /// Extra lines appended to every host's `sshd_config` (e.g. `MaxStartups 100`).
    pub sshd_extra_config: String,
    /// Force user mode (no namespaces) even when running as root.
    pub no_isolation: bool,
}

pub(crate) struct TestHost {
    /// "h1", "h2", ... (1-based)
    pub name: String,
    /// "127.A.B.C"
    pub address: String,
    /// 2222
    pub port: u16,
    /// sshd listener pid
    pub pid: u32,
    /// Per-host directory on the controller; in root mode it is bind-mounted
    /// on /srv inside the host's mount namespace.
    pub root: PathBuf,
    /// "/srv/app" in root mode; "<root>/app" in user mode (the path the host sees).
    pub deploy_to: String,
    /// "ssh-ed25519 AAAA..." public host key (type + base64).
    pub host_key_line: String,
    /// Per-host clean home (bind-mounted on /root in root mode).
    pub home: PathBuf,
    /// sshd log file (`sshd -E`).
    pub log: PathBuf,
    /// Inode of the host's mount namespace ("mnt:[...]"), root mode only.
    mnt_ns: Option<String>,
}

impl TestHost {
    /// "127.A.B.C:2222"
    pub(crate) fn socket_addr(&self) -> SocketAddr {
        format!("{}:{}", self.address, self.port).parse().unwrap()
    }
    /// Contents of this host's sshd log so far.
    pub(crate) fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

enum FleetDir {
    Temp(tempfile::TempDir),
    Given(PathBuf),
}

pub(crate) struct Fleet {
    dir: Option<FleetDir>,
    dir_path: PathBuf,
    hosts: Vec<TestHost>,
    children: Mutex<Vec<Option<Child>>>,
    isolated: bool,
    user: String,
    detached: bool,
    // Held for the fleet's lifetime: a listener on 127.A.B.0:2222 for each
    // /24 the fleet uses, marking it as taken for other fleets (threads or
    // processes).
    _range_lock: Vec<TcpListener>,
}

// ---------------------------------------------------------------------------
// helpers

fn find_program(candidates: &[&str], name: &str) -> Option<PathBuf> {
    for c in candidates {
        let p = Path::new(c);
        if p.is_file() {
            return Some(p.to_path_buf());
        }
    }
    let path = std::env::var_os("PATH")?;
    for d in std::env::split_paths(&path) {
        let p = d.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

fn sshd_path() -> PathBuf {
    // sshd must be started with an absolute path (it re-execs itself).
    find_program(
        &[
            "/usr/sbin/sshd",
            "/usr/local/sbin/sshd",
            "/usr/bin/sshd",
            "/sbin/sshd",
        ],
        "sshd",
    )
    .and_then(|p| p.canonicalize().ok())
    .unwrap_or_else(|| panic!("sshd not found: apt-get install -y openssh-server"))
}

fn ssh_keygen_path() -> PathBuf {
    find_program(&["/usr/bin/ssh-keygen"], "ssh-keygen")
        .unwrap_or_else(|| panic!("ssh-keygen not found: apt-get install -y openssh-client"))
}

fn current_uid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("Uid:") {
            if let Some(uid) = rest.split_whitespace().next() {
                return uid.parse().unwrap_or(u32::MAX);
            }
        }
    }
    // Fallback: ask `id -u`.
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(u32::MAX)
}

fn current_user_name() -> String {
    if let Some(u) = Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
    {
        return u;
    }
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".to_string())
}

/// Whether `unshare --mount` + bind mounts work here (root with `CAP_SYS_ADMIN`).
fn can_isolate() -> bool {
    if std::env::var("FERRY_FLEET_ISOLATE").is_ok_and(|v| v == "0") {
        return false;
    }
    if current_uid() != 0 {
        return false;
    }
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind / /mnt 2>/dev/null || mount --bind /tmp /tmp")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Single-quote for sh.
fn shq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Double-quoted YAML/JSON string.
fn yq(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn mnt_ns_of(pid: u32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// (pid, parent pid, state, comm) for every process in /proc.
fn all_procs() -> Vec<(u32, u32, char, String)> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) S ppid ..." ; comm may contain spaces/parens.
        let (Some(l), Some(r)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[l + 1..r].to_string();
        let mut rest = stat[r + 1..].split_whitespace();
        let state = rest.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let parent = rest.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        out.push((pid, parent, state, comm));
    }
    out
}

/// A pid counts as gone when /proc has no entry or it is a zombie.
fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|r| stat[r + 1..].split_whitespace().next())
                .and_then(|s| s.chars().next())
                .unwrap_or('?');
            state != 'Z' && state != 'X'
        }
        Err(_) => false,
    }
}

fn is_sshd(pid: u32) -> bool {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    comm.contains("sshd") || String::from_utf8_lossy(&cmdline).contains("sshd")
}

fn send_signal(sig: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    for chunk in pids.chunks(500) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .args(chunk.iter().map(ToString::to_string))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The given sshd listener pids plus their descendants (session processes,
/// remote commands) and, for isolated hosts, every process in their mount
/// namespaces. Only pids that look like sshd are taken as roots.
fn expand_targets(pids: &[u32]) -> Vec<u32> {
    let me = std::process::id();
    let own_ns = mnt_ns_of(me);
    let roots: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|&p| pid_alive(p) && is_sshd(p))
        .collect();
    if roots.is_empty() {
        return roots;
    }
    let namespaces: HashSet<String> = roots
        .iter()
        .filter_map(|&p| mnt_ns_of(p))
        .filter(|ns| Some(ns) != own_ns.as_ref())
        .collect();
    let procs = all_procs();
    // Sets, not Vec::contains: a 2,000-host fleet has thousands of processes.
    let mut set: Vec<u32> = roots.clone();
    let mut seen: HashSet<u32> = roots.iter().copied().collect();
    // Descendants (fixpoint over ppid).
    loop {
        let before = set.len();
        for &(pid, ppid, _, _) in &procs {
            if seen.contains(&ppid) && seen.insert(pid) {
                set.push(pid);
            }
        }
        if set.len() == before {
            break;
        }
    }
    if !namespaces.is_empty() {
        for &(pid, _, _, _) in &procs {
            if pid == me || seen.contains(&pid) {
                continue;
            }
            if let Some(ns) = mnt_ns_of(pid) {
                if namespaces.contains(&ns) && seen.insert(pid) {
                    set.push(pid);
                }
            }
        }
    }
    set.retain(|&p| p != me);
    set
}

fn term_then_kill(targets: &[u32]) {
    if targets.is_empty() {
        return;
    }
    send_signal("TERM", targets);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if !targets.iter().any(|&p| pid_alive(p)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<u32> = targets.iter().copied().filter(|&p| pid_alive(p)).collect();
    send_signal("KILL", &left);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && left.iter().any(|&p| pid_alive(p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stop sshd listeners by pid (SIGTERM, up to 2 s, then SIGKILL), together
/// with their session processes (and, for isolated hosts, everything in their
/// mount namespace); waits until they are gone. Pids that are no longer sshd
/// processes (stale pid file) are left alone. Used by `fleet down`.
pub(crate) fn stop_pids(pids: &[u32]) {
    let targets = expand_targets(pids);
    term_then_kill(&targets);
}

/// Is something listening on addr? (bind probe)
fn addr_free(ip: &str, port: u16) -> bool {
    TcpListener::bind((ip, port)).is_ok()
}

/// How many /24s a fleet of `n` hosts spans.
fn ranges_for(n: usize) -> usize {
    n.div_ceil(HOSTS_PER_RANGE)
}

/// Host `i`'s (1-based) address in the ranges starting at 127.A.B.0/24:
/// 254 hosts per /24, then the next B.
fn host_address(a: u8, b: u8, i: usize) -> String {
    let block = (i - 1) / HOSTS_PER_RANGE;
    let c = (i - 1) % HOSTS_PER_RANGE + 1;
    format!("127.{a}.{}.{c}", usize::from(b) + block)
}

/// Candidate (A, B) for the address ranges 127.A.B.0/24 ..= 127.A.(B + ranges - 1).0/24.
/// A in 1..=254, B in 0..=256 - ranges.
fn range_candidate(seed: u64, ranges: usize) -> (u8, u8) {
    // splitmix64 to spread pid/counter seeds
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let a = 1 + u8::try_from(z % 254).expect("below 254");
    let room = 257 - u64::try_from(ranges.clamp(1, 256)).expect("at most 256");
    let b = u8::try_from((z >> 16) % room).expect("below 256");
    (a, b)
}

/// The fleet's directory: `dir` emptied of an earlier run's fleet files, or
/// a fresh temp dir visible inside the host namespaces.
fn fleet_dir(dir: Option<&Path>, isolated: bool) -> (FleetDir, PathBuf) {
    if let Some(d) = dir {
        fs::create_dir_all(d).unwrap_or_else(|e| panic!("fleet: mkdir {}: {e}", d.display()));
        let d = d.canonicalize().unwrap();
        // Replace the fleet's own files from an earlier run.
        let _ = fs::remove_dir_all(d.join("hosts"));
        for f in [
            "id_ed25519",
            "id_ed25519.pub",
            "known_hosts",
            "authorized_keys",
        ] {
            let _ = fs::remove_file(d.join(f));
        }
        (FleetDir::Given(d.clone()), d)
    } else {
        // The fleet dir must stay visible inside the host namespaces,
        // where /root and /srv are replaced.
        let mut base = std::env::temp_dir();
        if isolated && (base.starts_with("/root") || base.starts_with("/srv")) {
            base = PathBuf::from("/tmp");
        }
        let td = tempfile::Builder::new()
            .prefix("ferry-fleet-")
            .tempdir_in(&base)
            .unwrap_or_else(|e| panic!("fleet: tempdir in {}: {e}", base.display()));
        let p = td.path().canonicalize().unwrap();
        (FleetDir::Temp(td), p)
    }
}

/// Client key + one host key per host, all ssh-keygen in parallel; returns
/// the `authorized_keys` file holding the client key.
fn make_keys(keygen: &Path, dir_path: &Path, n: usize) -> PathBuf {
    let hosts_dir = dir_path.join("hosts");
    let client_key = dir_path.join("id_ed25519");
    let mut keygens: Vec<(PathBuf, Child)> = Vec::new();
    let spawn_keygen = |path: &Path, comment: &str| -> Child {
        Command::new(keygen)
            .args(["-t", "ed25519", "-N", "", "-q", "-C", comment, "-f"])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("fleet: spawn ssh-keygen: {e}"))
    };
    let reap = |keygens: &mut Vec<(PathBuf, Child)>| {
        for (path, child) in keygens.drain(..) {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "fleet: ssh-keygen {} failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    keygens.push((
        client_key.clone(),
        spawn_keygen(&client_key, "ferry-fleet-client"),
    ));
    // A few dozen at a time: thousands of keygens at once would only
    // crowd the shared machine (and its process table).
    for i in 1..=n {
        let hd = hosts_dir.join(format!("h{i}"));
        fs::create_dir_all(hd.join("root")).unwrap();
        fs::create_dir_all(hd.join("home")).unwrap();
        let key = hd.join("ssh_host_ed25519_key");
        keygens.push((key.clone(), spawn_keygen(&key, &format!("h{i}"))));
        if keygens.len() >= KEYGEN_PARALLEL {
            reap(&mut keygens);
        }
    }
    reap(&mut keygens);
    let authorized_keys = dir_path.join("authorized_keys");
    let client_pub = read_pub_key_line(&dir_path.join("id_ed25519.pub"));
    write_file(
        &authorized_keys,
        &format!("{client_pub} ferry-fleet-client\n"),
    );
    authorized_keys
}

/// One test host's `sshd_config`; `extra` lines go last.
fn sshd_config(
    name: &str,
    address: &str,
    key: &Path,
    authorized_keys: &Path,
    extra: &str,
) -> String {
    format!(
        "# ferry test fleet host {name}\n\
         ListenAddress {address}:{PORT}\n\
         HostKey {key}\n\
         PidFile none\n\
         AuthorizedKeysFile {ak}\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         PermitRootLogin prohibit-password\n\
         Subsystem sftp internal-sftp\n\
         LogLevel VERBOSE\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         X11Forwarding no\n\
         UseDNS no\n\
         {extra}\n",
        key = key.display(),
        ak = authorized_keys.display(),
    )
}

/// The command that runs one host's sshd in the foreground: in its own
/// mount namespace with `root` on /srv and `home` on /root when `isolated`
/// is given.
fn sshd_command(sshd: &Path, cfg: &Path, log: &Path, isolated: Option<(&Path, &Path)>) -> Command {
    let Some((root, home)) = isolated else {
        let mut c = Command::new(sshd);
        c.args(["-D", "-f"]).arg(cfg).arg("-E").arg(log);
        return c;
    };
    let sshd_args = format!(
        "{} -D -f {} -E {}",
        shq(&sshd.to_string_lossy()),
        shq(&cfg.to_string_lossy()),
        shq(&log.to_string_lossy())
    );
    // unshare (no --fork) execs sh, sh execs sshd: the pid stays the same.
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --bind {root} /srv && mount --bind {home} /root && exec {sshd_args}",
            root = shq(&root.to_string_lossy()),
            home = shq(&home.to_string_lossy()),
        ));
    c
}

/// Try to claim the ranges for `n` hosts: a lock listener on each /24's .0,
/// and every host address free.
fn claim_range(n: usize) -> Option<(u8, u8, Vec<TcpListener>)> {
    let pid = u64::from(std::process::id());
    let ranges = ranges_for(n);
    'candidates: for _ in 0..10_000 {
        let seq = u64::from(RANGE_COUNTER.fetch_add(1, Ordering::SeqCst));
        let (a, b) = range_candidate((pid << 32) ^ seq, ranges);
        let mut locks = Vec::with_capacity(ranges);
        for r in 0..ranges {
            let lock_ip = format!("127.{a}.{}.0", usize::from(b) + r);
            let Ok(lock) = TcpListener::bind((lock_ip.as_str(), PORT)) else {
                continue 'candidates;
            };
            locks.push(lock);
        }
        if (1..=n).all(|host| addr_free(&host_address(a, b, host), PORT)) {
            return Some((a, b, locks));
        }
    }
    None
}

fn write_file(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("fleet: write {}: {e}", path.display()));
}

fn read_pub_key_line(pub_path: &Path) -> String {
    let text = fs::read_to_string(pub_path)
        .unwrap_or_else(|e| panic!("fleet: read {}: {e}", pub_path.display()));
    let mut it = text.split_whitespace();
    let (Some(t), Some(k)) = (it.next(), it.next()) else {
        panic!("fleet: malformed public key {}", pub_path.display())
    };
    format!("{t} {k}")
}

/// Outcome of waiting for banners.
enum Ready {
    All,
    /// Some sshd could not bind (range clash): retry on another range.
    AddrInUse,
    Failed(String),
}

fn read_banner(addr: &SocketAddr, read_timeout: Duration) -> bool {
    let Ok(s) = TcpStream::connect_timeout(addr, Duration::from_millis(300)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(read_timeout));
    let mut r = BufReader::new(s);
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(_) => line.starts_with("SSH-2.0"),
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------

impl Fleet {
    /// Start `n` hosts (1..=[`MAX_HOSTS`]) in a fresh temp dir. Panics with a clear
    /// message if sshd is missing or a host fails to come up.
    pub(crate) fn start(n: usize) -> Fleet {
        Fleet::start_with(n, &FleetOptions::default())
    }

    pub(crate) fn start_with(n: usize, opts: &FleetOptions) -> Fleet {
        assert!(
            (1..=MAX_HOSTS).contains(&n),
            "fleet: 1..={MAX_HOSTS} hosts per fleet, got {n}"
        );
        let sshd = sshd_path();
        let keygen = ssh_keygen_path();
        let isolated = !opts.no_isolation && can_isolate();
        let user = if current_uid() == 0 {
            "root".to_string()
        } else {
            current_user_name()
        };

        let (dir, dir_path) = fleet_dir(opts.dir.as_deref(), isolated);
        if isolated {
            assert!(
                !dir_path.starts_with("/root") && !dir_path.starts_with("/srv"),
                "fleet: dir {} would be hidden inside the hosts (/root and /srv are bind-mounted); use another --dir",
                dir_path.display()
            );
            fs::create_dir_all("/run/sshd").expect("fleet: mkdir /run/sshd");
            fs::create_dir_all("/srv").expect("fleet: mkdir /srv");
        }

        let authorized_keys = make_keys(&keygen, &dir_path, n);

        let mut last_err = String::new();
        for _attempt in 0..MAX_RANGE_ATTEMPTS {
            let Some((a, b, locks)) = claim_range(n) else {
                panic!("fleet: no free loopback range 127.A.B.0/24 with port {PORT} free (is something listening on 0.0.0.0:{PORT}?)");
            };
            match Self::spawn_all(n, a, b, &sshd, &dir_path, &authorized_keys, isolated, opts) {
                Ok((hosts, children)) => {
                    let fleet = Fleet {
                        dir: Some(dir),
                        dir_path: dir_path.clone(),
                        hosts,
                        children: Mutex::new(children.into_iter().map(Some).collect()),
                        isolated,
                        user: user.clone(),
                        detached: false,
                        _range_lock: locks,
                    };
                    fleet.write_known_hosts();
                    return fleet;
                }
                Err((false, msg)) => panic!("fleet: {msg}"),
                // A range clash: try the next range.
                Err((true, msg)) => last_err = msg,
            }
        }
        panic!("fleet: could not start after {MAX_RANGE_ATTEMPTS} address ranges; last error: {last_err}");
    }

    /// Spawn all sshds on 127.a.b.1.. (see [`host_address`]) and wait until
    /// each listens. On failure
    /// everything spawned is killed; `Err((retry_on_other_range, message))`.
    #[allow(clippy::too_many_arguments)]
    fn spawn_all(
        n: usize,
        a: u8,
        b: u8,
        sshd: &Path,
        dir: &Path,
        authorized_keys: &Path,
        isolated: bool,
        opts: &FleetOptions,
    ) -> Result<(Vec<TestHost>, Vec<Child>), (bool, String)> {
        let mut hosts = Vec::with_capacity(n);
        let mut children: Vec<Child> = Vec::with_capacity(n);
        let kill_all = |children: &mut Vec<Child>| {
            let pids: Vec<u32> = children.iter().map(Child::id).collect();
            term_then_kill(&expand_targets(&pids));
            for c in children.iter_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        };
        for i in 1..=n {
            let name = format!("h{i}");
            let address = host_address(a, b, i);
            let hd = dir.join("hosts").join(&name);
            let root = hd.join("root");
            let home = hd.join("home");
            let key = hd.join("ssh_host_ed25519_key");
            let cfg = hd.join("sshd_config");
            let log = hd.join("sshd.log");
            let config = sshd_config(
                &name,
                &address,
                &key,
                authorized_keys,
                &opts.sshd_extra_config,
            );
            write_file(&cfg, &config);
            let _ = fs::remove_file(&log);
            let log_file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap_or_else(|e| panic!("fleet: open {}: {e}", log.display()));
            let mut cmd = sshd_command(sshd, &cfg, &log, isolated.then_some((&root, &home)));
            cmd.stdin(Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file);
            if opts.own_process_group {
                cmd.process_group(0);
            }
            let child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => {
                    kill_all(&mut children);
                    return Err((false, format!("spawn sshd for {name}: {e}")));
                }
            };
            let deploy_to = if isolated {
                "/srv/app".to_string()
            } else {
                root.join("app").to_string_lossy().into_owned()
            };
            hosts.push(TestHost {
                name,
                address,
                port: PORT,
                pid: child.id(),
                root,
                deploy_to,
                host_key_line: read_pub_key_line(&hd.join("ssh_host_ed25519_key.pub")),
                home,
                log,
                mnt_ns: None,
            });
            children.push(child);
        }

        match Self::wait_ready(&hosts, &mut children) {
            Ready::All => {
                if isolated {
                    for h in &mut hosts {
                        h.mnt_ns = mnt_ns_of(h.pid);
                    }
                }
                Ok((hosts, children))
            }
            Ready::AddrInUse => {
                kill_all(&mut children);
                Err((
                    true,
                    format!(
                        "address range 127.{a}.{b}.0/24 (+{}) clashed",
                        ranges_for(n) - 1
                    ),
                ))
            }
            Ready::Failed(msg) => {
                kill_all(&mut children);
                Err((false, msg))
            }
        }
    }

    fn wait_ready(hosts: &[TestHost], children: &mut [Child]) -> Ready {
        let started = Instant::now();
        let allowed =
            READY_DEADLINE + READY_PER_HOST * u32::try_from(hosts.len()).unwrap_or(u32::MAX);
        let deadline = started + allowed;
        // Poll less often for big fleets: each round reads every pending log.
        let pause = Duration::from_millis(10 + (hosts.len() as u64 / 20).min(190));
        let mut ready = vec![false; hosts.len()];
        // Banner read timeout per host: short at first (a clashing foreign
        // listener never answers), doubled after each timeout (slow machines).
        let mut patience = vec![Duration::from_millis(250); hosts.len()];
        loop {
            // First look for sshds that already exited (bind failures), so a
            // foreign listener on a clashing address is not waited on.
            for (i, h) in hosts.iter().enumerate() {
                if ready[i] {
                    continue;
                }
                if let Ok(Some(status)) = children[i].try_wait() {
                    let log = h.log_text();
                    if log.contains("Address already in use")
                        || log.contains("Cannot bind any address")
                    {
                        return Ready::AddrInUse;
                    }
                    return Ready::Failed(format!(
                        "sshd for {} ({}:{}) exited with {status} before it was ready; log {}:\n{}",
                        h.name,
                        h.address,
                        h.port,
                        h.log.display(),
                        log
                    ));
                }
            }
            let mut pending = 0;
            for (i, h) in hosts.iter().enumerate() {
                if ready[i] {
                    continue;
                }
                // sshd logs "Server listening on" once it listens: reading
                // that costs no connection (each one forks and re-execs an
                // sshd, which for 2,000 hosts is a minute of CPU). A banner
                // is the fallback for a config that logs less (LogLevel).
                if h.log_text().contains("Server listening on") {
                    ready[i] = true;
                    continue;
                }
                if started.elapsed() < Duration::from_secs(1) {
                    pending += 1;
                    continue;
                }
                let t = Instant::now();
                if read_banner(&h.socket_addr(), patience[i]) {
                    ready[i] = true;
                } else {
                    if t.elapsed() >= patience[i] {
                        patience[i] = (patience[i] * 2).min(Duration::from_secs(4));
                    }
                    pending += 1;
                }
            }
            if pending == 0 {
                return Ready::All;
            }
            if Instant::now() > deadline {
                let names: Vec<String> = hosts
                    .iter()
                    .zip(&ready)
                    .filter(|(_, r)| !**r)
                    .map(|(h, _)| format!("{} ({}; log {})", h.name, h.address, h.log.display()))
                    .collect();
                return Ready::Failed(format!(
                    "{} host(s) sent no SSH banner within {:?}: {}",
                    names.len(),
                    allowed,
                    names.join(", ")
                ));
            }
            std::thread::sleep(pause);
        }
    }

    pub(crate) fn hosts(&self) -> &[TestHost] {
        &self.hosts
    }

    /// The fleet's directory (temp dir, or the one given in `FleetOptions`).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir_path
    }

    /// ed25519 private key (unencrypted), authorized on every host.
    pub(crate) fn client_key(&self) -> PathBuf {
        self.dir_path.join("id_ed25519")
    }

    /// "[127.A.B.C]:2222 ssh-ed25519 AAAA..." one line per host.
    pub(crate) fn known_hosts(&self) -> PathBuf {
        self.dir_path.join("known_hosts")
    }

    /// "root" in root mode (and whenever running as root), else the current user.
    pub(crate) fn user(&self) -> String {
        self.user.clone()
    }

    /// True when namespaces + bind mounts are used (root).
    pub(crate) fn is_isolated(&self) -> bool {
        self.isolated
    }

    /// Writes `known_hosts` with every host's key.
    fn write_known_hosts(&self) {
        let mut kh = String::new();
        for h in &self.hosts {
            let _ = writeln!(kh, "[{}]:{} {}", h.address, h.port, h.host_key_line);
        }
        write_file(&self.known_hosts(), &kh);
    }

    /// The inventory; `extra` is appended verbatim (top-level `vars:`,
    /// `groups:`, `rollout:` ... sections).
    pub(crate) fn inventory_yaml(&self, extra: &str) -> String {
        let mut s = String::new();
        s.push_str("ssh:\n");
        let _ = writeln!(s, "  user: {}", self.user);
        let _ = writeln!(
            s,
            "  identity_files: [{}]",
            yq(&self.client_key().to_string_lossy())
        );
        let _ = writeln!(
            s,
            "  known_hosts: {}",
            yq(&self.known_hosts().to_string_lossy())
        );
        s.push_str("  host_key_policy: strict\n");
        s.push_str("  connect_timeout: 5s\n");
        s.push_str("hosts:\n");
        for h in &self.hosts {
            let _ = writeln!(
                s,
                "  {}: {{ address: {}, port: {}, vars: {{ deploy_to: {} }} }}",
                h.name,
                h.address,
                h.port,
                yq(&h.deploy_to)
            );
        }
        s.push_str(extra);
        s
    }

    pub(crate) fn write_inventory(&self, path: &Path, extra: &str) {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                let _ = fs::create_dir_all(parent);
            }
        }
        write_file(path, &self.inventory_yaml(extra));
    }

    /// Map a path as host `i` (0-based index into `hosts()`) sees it to the
    /// controller-side path. Root mode: "/srv/x" -> "<root>/x"; otherwise identity.
    pub(crate) fn on_host(&self, i: usize, path: &str) -> PathBuf {
        self.host_view(i).map(path)
    }

    fn host_view(&self, i: usize) -> HostView {
        let h = &self.hosts[i];
        HostView {
            isolated: self.isolated,
            root: h.root.clone(),
            home: h.home.clone(),
        }
    }

    /// Run `sh -c CMD` as host `i` (0-based) sees the world. Root mode:
    /// `nsenter -t <pid> -m` so mounts land in that host's namespace.
    pub(crate) fn exec_in_host(&self, i: usize, shell_cmd: &str) -> Output {
        let h = &self.hosts[i];
        let mut cmd = if self.isolated {
            let mut c = Command::new("nsenter");
            c.arg("-t")
                .arg(h.pid.to_string())
                .args(["-m", "sh", "-c", shell_cmd]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", shell_cmd]);
            c
        };
        cmd.stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("fleet: exec_in_host({i}): {e}"))
    }

    /// Kill host `i`'s sshd (0-based), e.g. for "unreachable" tests.
    pub(crate) fn stop_host(&self, i: usize) {
        let h = &self.hosts[i];
        let mut targets = expand_targets(&[h.pid]);
        if targets.is_empty() {
            targets.push(h.pid);
        }
        term_then_kill(&targets);
        if let Some(mut c) = self.children.lock().unwrap_or_else(PoisonError::into_inner)[i].take()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Keep the sshds running after the `Fleet` is gone (and keep its
    /// directory); returns their pids. For `examples/fleet.rs up`.
    pub(crate) fn detach(mut self) -> Vec<u32> {
        self.detached = true;
        if let Some(FleetDir::Temp(td)) = self.dir.take() {
            let _ = td.keep();
        }
        let mut children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        // Dropping a std Child does not kill it.
        children.clear();
        drop(children);
        self.hosts.iter().map(|h| h.pid).collect()
    }

    /// Write the listener pids, one per line.
    pub(crate) fn write_pid_file(&self, path: &Path) {
        let mut f = fs::File::create(path)
            .unwrap_or_else(|e| panic!("fleet: create {}: {e}", path.display()));
        for h in &self.hosts {
            writeln!(f, "{}", h.pid).unwrap();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        let pids: Vec<u32> = self.hosts.iter().map(|h| h.pid).collect();
        stop_pids(&pids);
        let mut children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        for c in children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// Per-host HTTP "app" (health checks of real releases in rolling-deploy tests)

/// How a host sees the filesystem: in root mode its `/srv` is `root` and its
/// `/root` is `home`; everything else is shared with the controller.
#[derive(Clone)]
struct HostView {
    isolated: bool,
    root: PathBuf,
    home: PathBuf,
}

impl HostView {
    /// Host path -> controller-side path (see [`Fleet::on_host`]).
    fn map(&self, path: &str) -> PathBuf {
        if self.isolated {
            if path == "/srv" || path == "/srv/" {
                return self.root.clone();
            }
            if let Some(rest) = path.strip_prefix("/srv/") {
                return self.root.join(rest);
            }
            if path == "/root" || path == "/root/" {
                return self.home.clone();
            }
            if let Some(rest) = path.strip_prefix("/root/") {
                return self.home.join(rest);
            }
        }
        PathBuf::from(path)
    }

    /// `realpath` as the host sees it: every symlink is followed in the host's
    /// view (so an absolute target like `/srv/app/shared/x` lands in this
    /// host's root, not the controller's /srv). Returns the controller-side
    /// path of the final target, or None when a component is missing, a
    /// symlink dangles or loops.
    fn resolve(&self, host_path: &str) -> Option<PathBuf> {
        let mut todo: Vec<String> = host_path
            .split('/')
            .rev()
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(comp) = todo.pop() {
            match comp.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(comp);
            let ctl = self.map(&format!("/{}", done.join("/")));
            let meta = fs::symlink_metadata(&ctl).ok()?;
            if meta.file_type().is_symlink() {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = fs::read_link(&ctl).ok()?;
                let target = target.to_string_lossy();
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(
                    target
                        .split('/')
                        .rev()
                        .filter(|c| !c.is_empty())
                        .map(str::to_string),
                );
            }
        }
        Some(self.map(&format!("/{}", done.join("/"))))
    }
}

/// One host's HTTP/1.0 app server (see [`Fleet::start_apps`]). Stops on drop:
/// listener closed, every connection closed, all threads joined.
pub(crate) struct AppServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl AppServer {
    /// "127.A.B.C:PORT" the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Client connections currently open (accepted, not yet closed).
    pub(crate) fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How often idle threads look at the stop flag.
const APP_POLL: Duration = Duration::from_millis(20);
/// Largest request head the app reads.
const APP_MAX_HEAD: usize = 16 * 1024;

impl Fleet {
    /// Start one HTTP/1.0 server per host (same order as `hosts()`), bound to
    /// the host's own address on `port` (0: any free port, see
    /// [`AppServer::addr`]). It serves files from `<deploy_to>/current/`,
    /// resolved as the host sees it on every request (a switch of `current`
    /// shows at once): GET/HEAD `/path` -> 200 with the file (`index.html` for
    /// "/" or a path ending in "/"), 404 when missing (also when `current` is
    /// missing or dangling), always `Connection: close`; `?slow=MS` answers
    /// after MS (at most 5 s). Idle connections are never timed out (see
    /// [`HeldConnection`]); one thread per connection.
    pub(crate) fn start_apps(&self, port: u16) -> Vec<AppServer> {
        (0..self.hosts.len())
            .map(|i| {
                let h = &self.hosts[i];
                let listener = TcpListener::bind((h.address.as_str(), port)).unwrap_or_else(|e| {
                    panic!("fleet: app for {} on {}:{port}: {e}", h.name, h.address)
                });
                listener
                    .set_nonblocking(true)
                    .expect("fleet: app listener nonblocking");
                let addr = listener.local_addr().unwrap();
                let stop = Arc::new(AtomicBool::new(false));
                let open = Arc::new(AtomicUsize::new(0));
                let docroot = format!("{}/current", h.deploy_to.trim_end_matches('/'));
                let view = self.host_view(i);
                let (s, o) = (stop.clone(), open.clone());
                let thread = std::thread::Builder::new()
                    .name(format!("app-{}", h.name))
                    .spawn(move || app_accept_loop(listener, &view, &docroot, &s, &o))
                    .expect("fleet: spawn app thread");
                AppServer {
                    addr,
                    stop,
                    open,
                    thread: Some(thread),
                }
            })
            .collect()
    }
}

fn app_accept_loop(
    listener: TcpListener,
    view: &HostView,
    docroot: &str,
    stop: &Arc<AtomicBool>,
    open: &Arc<AtomicUsize>,
) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                open.fetch_add(1, Ordering::SeqCst);
                let guard = OpenGuard(open.clone());
                let (view, docroot, stop) = (view.clone(), docroot.to_string(), stop.clone());
                let spawned = std::thread::Builder::new()
                    .name("app-conn".to_string())
                    .spawn(move || {
                        let _guard = guard;
                        app_serve(stream, &view, &docroot, &stop);
                    });
                match spawned {
                    Ok(t) => conns.push(t),
                    // The closure (stream + guard) was dropped: counted down.
                    Err(e) => eprintln!("fleet: app: spawn connection thread: {e}"),
                }
                conns.retain(|t| !t.is_finished());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    drop(listener);
    for t in conns {
        let _ = t.join();
    }
}

/// Counts a connection down when its thread ends (also on panic).
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn app_serve(mut stream: TcpStream, view: &HostView, docroot: &str, stop: &AtomicBool) {
    // Accepted sockets do not inherit O_NONBLOCK on Linux; be explicit.
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(APP_POLL));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut head: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the request head; an idle client is waited on until it closes or
    // the server stops (no idle timeout: drain tests hold connections).
    let complete = loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return, // client closed
            Ok(n) => {
                head.extend_from_slice(&buf[..n]);
                if head.windows(4).any(|w| w == b"\r\n\r\n")
                    || head.windows(2).any(|w| w == b"\n\n")
                {
                    break true;
                }
                if head.len() > APP_MAX_HEAD {
                    break false;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    };
    let (status, body, ctype, head_only) = if complete {
        app_respond(&head, view, docroot)
    } else {
        (400, b"request too large\n".to_vec(), "text/plain", false)
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let mut resp = format!(
        "HTTP/1.0 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        resp.extend_from_slice(&body);
    }
    let _ = stream.write_all(&resp);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// (status, body, content type, HEAD request)
fn app_respond(head: &[u8], view: &HostView, docroot: &str) -> (u16, Vec<u8>, &'static str, bool) {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return (400, b"bad request\n".to_vec(), "text/plain", false);
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return (405, b"method not allowed\n".to_vec(), "text/plain", false);
    }
    let not_found = (404, b"not found\n".to_vec(), "text/plain", head_only);
    // `?slow=MS` (at most 5000): a long request, answered after MS from
    // whatever `current` is then (drain tests wait for it).
    if let Some(ms) = target
        .split_once("?slow=")
        .and_then(|(_, v)| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms.min(5000)));
    }
    let path = target.split(['?', '#']).next().unwrap_or("");
    let Some(path) = percent_decode(path) else {
        return (400, b"bad path\n".to_vec(), "text/plain", head_only);
    };
    if !path.starts_with('/') || path.contains('\0') {
        return (400, b"bad path\n".to_vec(), "text/plain", head_only);
    }
    let mut comps: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            // Stay inside current/.
            ".." => return not_found,
            c => comps.push(c),
        }
    }
    if path.ends_with('/') {
        comps.push("index.html");
    }
    let host_path = format!("{docroot}/{}", comps.join("/"));
    let Some(file) = view.resolve(&host_path) else {
        return not_found;
    };
    if !fs::metadata(&file).is_ok_and(|m| m.is_file()) {
        return not_found;
    }
    let Ok(body) = fs::read(&file) else {
        return not_found;
    };
    let ctype = match comps
        .last()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e)
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("txt") | None => "text/plain; charset=utf-8",
        Some(_) => "application/octet-stream",
    };
    (200, body, ctype, head_only)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A client that holds a TCP connection to `addr` open (sending nothing)
/// until dropped or [`HeldConnection::close`]: a long session for drain tests.
pub(crate) struct HeldConnection {
    stream: TcpStream,
}

impl HeldConnection {
    /// Connect (5 s timeout); panics when the connection fails.
    pub(crate) fn open(addr: SocketAddr) -> HeldConnection {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("fleet: HeldConnection to {addr}: {e}"));
        HeldConnection { stream }
    }

    /// The client side's address (the server sees it as the peer).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    /// Close the connection now (same as dropping it).
    pub(crate) fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
