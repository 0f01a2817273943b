//! Issue 16, item 1: the processes a host starts per deploy, counted. The
//! host's sshd runs every command through its own pid namespace
//! (`ForceCommand` + `unshare --pid --fork`), where pids are handed out one
//! by one: the last one given (`ns_last_pid`, read with a builtin) is the
//! number of processes the command started, its shell included.

use crate::support::fleet::{Fleet, FleetOptions};
use crate::support::host::current;
use crate::support::project::Project;

/// Every session command runs as `bash -c CMD` (root's shell, as without
/// the wrapper) inside a new pid namespace whose pid 1 is the wrapper; one
/// line per command goes to the host's `/root/procs`: the count, then the
/// start of the command.
const COUNTING: &str = "ForceCommand exec unshare --pid --fork /bin/bash -c \
    'bash -c \"$SSH_ORIGINAL_COMMAND\"; s=$?; read -r n < /proc/sys/kernel/ns_last_pid; \
    printf \"%s %.200s\\n\" \"$((n - 1))\" \"$SSH_ORIGINAL_COMMAND\" >> /root/procs; exit $s'\n";

/// (processes, start of the command) per command the host ran.
fn counts(fleet: &Fleet) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(fleet.hosts()[0].home.join("procs")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (n, cmd) = l.split_once(' ')?;
            Some((n.parse().ok()?, cmd.to_string()))
        })
        .collect()
}

/// A deploy onto a host that has a release (lock + state; receive, switch
/// and the health command's first attempt in one script; record, prune,
/// unlock): the lock + state script starts 9 processes (14 before: `wc`,
/// `cat` and two `tail`s for the history, two `head`s for the metadata), the
/// receive part 10 of its script's 19 (13 before one-pass receive: `mkdir`
/// x3, `find` x3, `cat`, the hash, `tar` + `gzip`, `mv` x2, `rm`; `perl`
/// widens the pipe from sshd, see `steps::receive::WIDE_PIPE`), the health
/// attempt 2 (`timeout` and `sh`; 4 before: a second `timeout` and `sh`
/// around them), and the whole deploy no more than 32 (41 before) in 3
/// commands (7 before), so 3 sessions of sshd. A thread takes a pid too:
/// zstd, the gzip reader when the host has it, starts two I/O threads, so
/// the receive script is 19 or 21 pids.
#[test]
fn a_deploy_starts_few_processes_on_each_host() {
    let fleet = Fleet::start_with(
        1,
        &FleetOptions {
            sshd_extra_config: COUNTING.into(),
            ..FleetOptions::default()
        },
    );
    if !fleet.is_isolated() {
        eprintln!("skipped: needs root (a pid namespace per session)");
        return;
    }
    let project = Project::new(&fleet, "");
    project.write(
        "playbooks/deploy.yml",
        "keep_releases: 2\nhealth:\n  - name: page\n    command: \"test -f {{ deploy_to }}/current/index.html\"\n",
    );
    for id in ["r1", "r2"] {
        let artifact = project.release_tarball(id);
        project.deploy(&artifact, id).run();
    }
    let _ = std::fs::remove_file(fleet.hosts()[0].home.join("procs"));
    let r3 = project.release_tarball("r3");
    project.deploy(&r3, "r3").run();
    assert_eq!(current(&fleet, 0), "releases/r3");

    let counts = counts(&fleet);
    for (n, cmd) in &counts {
        eprintln!("{n:3} {}", cmd.chars().take(60).collect::<String>());
    }
    let receive: Vec<usize> = counts
        .iter()
        .filter(|(_, cmd)| cmd.contains("umask 022"))
        .map(|(n, _)| *n)
        .collect();
    assert!(matches!(receive[..], [19 | 21]), "{counts:?}");
    assert!(counts[0].1.contains("mkdir lock"), "{counts:?}");
    assert_eq!(counts[0].0, 9, "lock + state: {counts:?}");
    assert_eq!(counts.len(), 3, "commands: {counts:?}");
    let total: usize = counts.iter().map(|(n, _)| n).sum();
    eprintln!("{total} pids in {} commands", counts.len());
    assert!(total <= 32, "{total} processes: {counts:?}");
}
