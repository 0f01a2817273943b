//! Start/stop a fleet of real sshd test hosts on loopback (README demo, benchmarks).
//!
//!   cargo run --example fleet -- up --hosts 50 --dir /tmp/f50 [--inventory PATH]
//!   cargo run --example fleet -- down --dir /tmp/f50
//!
//! `up` writes `DIR/inventory.yaml` (or `PATH`), `DIR/id_ed25519`, `DIR/known_hosts` and
//! `DIR/pids`, prints the inventory path and exits leaving the sshds running.
//! `down` kills every pid in `DIR/pids` and waits until they are gone.

#[path = "../tests/support/fleet.rs"]
mod fleet;

use std::path::{Path, PathBuf};
use std::process::exit;

fn usage() -> ! {
    eprintln!(
        "usage:\n  fleet up --hosts N --dir DIR [--inventory PATH] [--sshd-config LINE]... [--no-isolation]\n  fleet down --dir DIR"
    );
    exit(2)
}

fn read_pids(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else { usage() };
    let mut hosts: Option<usize> = None;
    let mut dir: Option<PathBuf> = None;
    let mut inventory: Option<PathBuf> = None;
    let mut extra_cfg = String::new();
    let mut no_isolation = false;
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| -> String {
            it.next().cloned().unwrap_or_else(|| {
                eprintln!("fleet: {name} needs a value");
                usage()
            })
        };
        match a.as_str() {
            "--hosts" | "-n" => {
                hosts = Some(val("--hosts").parse().unwrap_or_else(|_| {
                    eprintln!("fleet: --hosts must be a number");
                    usage()
                }));
            }
            "--dir" => dir = Some(PathBuf::from(val("--dir"))),
            "--inventory" => inventory = Some(PathBuf::from(val("--inventory"))),
            "--sshd-config" => {
                extra_cfg.push_str(&val("--sshd-config"));
                extra_cfg.push('\n');
            }
            "--no-isolation" => no_isolation = true,
            "-h" | "--help" => usage(),
            other => {
                eprintln!("fleet: unknown argument {other}");
                usage()
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("fleet: --dir is required");
        usage()
    };
    let pid_file = dir.join("pids");
    match cmd.as_str() {
        "up" => up(hosts, &dir, inventory, extra_cfg, no_isolation, &pid_file),
        "down" => down(&pid_file),
        _ => usage(),
    }
}

/// Start the fleet, write its inventory and pids, print the inventory path.
fn up(
    hosts: Option<usize>,
    dir: &Path,
    inventory: Option<PathBuf>,
    extra_cfg: String,
    no_isolation: bool,
    pid_file: &Path,
) {
    let n = hosts.unwrap_or_else(|| {
        eprintln!("fleet: --hosts is required");
        usage()
    });
    if !(1..=fleet::MAX_HOSTS).contains(&n) {
        eprintln!(
            "fleet: --hosts must be 1..={} (254 per /24)",
            fleet::MAX_HOSTS
        );
        exit(2);
    }
    let old = read_pids(pid_file);
    if !old.is_empty()
        && old
            .iter()
            .any(|p| Path::new(&format!("/proc/{p}")).exists())
    {
        eprintln!(
            "fleet: {} already has a running fleet; run `fleet down --dir {}` first",
            dir.display(),
            dir.display()
        );
        exit(1);
    }
    let t0 = std::time::Instant::now();
    let f = fleet::Fleet::start_with(
        n,
        &fleet::FleetOptions {
            dir: Some(dir.to_path_buf()),
            own_process_group: true,
            sshd_extra_config: extra_cfg,
            no_isolation,
        },
    );
    let inv = inventory.unwrap_or_else(|| f.dir().join("inventory.yaml"));
    f.write_inventory(&inv, "");
    f.write_pid_file(pid_file);
    let first = &f.hosts()[0];
    eprintln!(
        "fleet: {n} hosts up in {:.2}s ({}..{}:{}, user {}, {}), key {}, pids in {}",
        t0.elapsed().as_secs_f64(),
        first.address,
        f.hosts()[n - 1].address,
        first.port,
        f.user(),
        if f.is_isolated() {
            "isolated: /srv is per host"
        } else {
            "not isolated"
        },
        f.client_key().display(),
        pid_file.display()
    );
    let _pids = f.detach();
    println!("{}", inv.display());
}

/// Stop every pid in the pid file and wait until they are gone.
fn down(pid_file: &Path) {
    let pids = read_pids(pid_file);
    if pids.is_empty() {
        eprintln!("fleet: no pids in {}", pid_file.display());
        exit(1);
    }
    fleet::stop_pids(&pids);
    let left: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| !s.contains(") Z "))
        })
        .collect();
    if !left.is_empty() {
        eprintln!("fleet: still running (not sshd, or unkillable): {left:?}");
    }
    let _ = std::fs::remove_file(pid_file);
    eprintln!("fleet: stopped {} hosts", pids.len() - left.len());
}
