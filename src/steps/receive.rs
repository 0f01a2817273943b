//! The receive script: the artifact into `releases/<id>` in one pass. The
//! bytes (the channel's stdin, or the host's own download) go once through
//! `tee` into the stored copy, the hasher and the decompressor + `tar`,
//! through fifos; the folder is renamed to its name only after the digest
//! matched. Every process counts on a host (BENCHMARKS.md: the hosts' CPU
//! is ferry's floor), so the script uses shell builtins where it can and
//! starts each external command once.

use std::fmt::Write as _;

use super::quote;
use crate::artifact::{Compression, Unpack};
use crate::layout::{self, ARTIFACTS, CURRENT, LOCK, META, RELEASES, SHARED};
use crate::release::ReleaseId;

/// Exit status of [`receive`] when the artifact's checksum is wrong.
pub const CHECKSUM_EXIT: u32 = 65;

/// Exit status of [`receive`] when the release is the live one.
pub const LIVE_EXIT: u32 = 66;

/// First in a script that reads a large stdin: its pipe from sshd made 1 MiB
/// wide. sshd hands a channel's data to the command through a 64 KiB pipe
/// and reads the connection faster than that: its buffer grows up to the
/// channel's window (2 MiB), copied into a new allocation at each growth
/// (OpenSSH's sshbuf uses recallocarray). Set from the reading end (Linux's
/// `F_SETPIPE_SZ`, 1031, through perl, which every Debian host has; 1 MiB is
/// the most an unprivileged process may ask), the wide pipe keeps that
/// buffer small: sshd's CPU for 5 MiB fell from 112 to 30 ms
/// (BENCHMARKS.md). Without perl, or not on Linux, nothing changes.
pub const WIDE_PIPE: &str = "perl -e 'fcntl(STDIN, 1031, 1048576)' 2>/dev/null || :; ";

/// `tee -p` with 1 MiB reads, in perl when the host has it: GNU `tee` reads
/// 8 KiB at a time, and each read is three writes that each wake a reader
/// (the stored copy, the decompressor's and the hasher's fifos): at 100
/// hosts on 2 CPUs that was a fifth of the hosts' CPU (perf, BENCHMARKS.md).
/// As `tee -p`: every output is fed to the end of the input, an output
/// that is a closed pipe is dropped without an error (`tar` that stopped
/// early), any other failed write (a full disk) is said and makes the exit
/// status 1. No single quote: it goes in one.
const FAN_OUT: &str = "$SIG{PIPE} = \"IGNORE\"; my @n = (@ARGV, \"-\"); my @o; \
    for (@ARGV) { open(my $h, \">\", $_) or die \"$_: $!\\n\"; push @o, $h } push @o, \\*STDOUT; my $e = 0; \
    while (1) { my $r = sysread(STDIN, my $d, 1048576); defined $r or die \"read: $!\\n\"; $r or last; \
    for my $i (0 .. $#o) { $o[$i] or next; my $f = 0; while ($f < $r) { \
    my $w = syswrite($o[$i], $d, $r - $f, $f); \
    if (!defined $w) { if ($! != 32) { $e = 1; warn \"$n[$i]: $!\\n\" } $o[$i] = undef; last } $f += $w } } } \
    exit $e";

/// What [`receive`] needs besides the artifact bytes on stdin.
pub struct Receive<'a> {
    pub deploy_to: &'a str,
    pub id: &'a ReleaseId,
    pub sha256: &'a str,
    /// One line of JSON: the release's `.ferry-release.json`.
    pub meta_json: &'a str,
    pub linked_dirs: &'a [String],
    pub linked_files: &'a [String],
    /// Unique per run, so concurrent or crashed runs never share temp names.
    pub tag: &'a str,
    /// Download from here on the host instead of reading stdin.
    pub fetch_url: Option<&'a str>,
    /// How the artifact is compressed: known, it is unpacked while it
    /// streams; unknown, `tar` unpacks the stored copy once it is checked.
    pub compression: Compression,
}

/// Receive the artifact into the work folder `$w`
/// (`.ferry/artifacts/.<id>.<tag>.partial`) and the release folder `$t`
/// (`releases/.<id>.<tag>.tmp`) in one pass, check its sha256, link shared
/// paths, and only then rename `$t` to `releases/<id>`: a half-made release
/// is never visible under its name, and anything temporary is removed on
/// failure. A wrong digest wins over every other error (a corrupt stream
/// also breaks the decompressor); `tee -p` keeps feeding the hasher and the
/// stored copy when `tar` stops early, so the digest is always of the whole
/// stream. Every fifo is opened by the shell's child before it execs its
/// command, so no open waits forever for a reader that failed to start.
///
/// Processes for a gzip artifact streamed from the controller: `perl` (see
/// [`WIDE_PIPE`]), `mkdir`, `mkfifo`, the hasher, the decompressor, `tar`,
/// `tee`, two `mv` and one `rm` (plus one `ln` per linked path and one `rm`
/// for their targets).
pub fn receive(r: &Receive) -> String {
    let id = r.id.as_str();
    let tag = quote(r.tag);
    let url = r.fetch_url.map(quote);
    let unpack = r.compression.unpack();
    let mut s = format!(
        "set -e; umask 022; d={d}; w={ARTIFACTS}/.{id}.{tag}.partial; t={RELEASES}/.{id}.{tag}.tmp; ",
        d = quote(r.deploy_to),
    );
    if url.is_some() {
        s.push_str(PICK_FETCHER);
    } else {
        s.push_str(WIDE_PIPE);
    }
    folders(&mut s, r);
    let _ = write!(
        s,
        "; cd \"$d\"; trap 'rm -rf \"$w\" \"$t\"' EXIT; {clean}; mkfifo \"$w/h\"",
        clean = clean_stale(r.tag)
    );
    match unpack {
        Unpack::Stream([]) => s.push_str(" \"$w/x\""),
        Unpack::Stream(_) => s.push_str(" \"$w/x\" \"$w/y\""),
        Unpack::Stored => {}
    }
    if url.is_some() {
        s.push_str(" \"$w/c\"");
    }
    let _ = write!(s, "; {HASHER}; ");
    match unpack {
        Unpack::Stream([]) => s.push_str("tar -xf - -C \"$t\" < \"$w/x\" & px=$!; "),
        Unpack::Stream(commands) => {
            decompress(&mut s, commands);
            s.push_str("tar -xf - -C \"$t\" < \"$w/y\" & px=$!; ");
        }
        Unpack::Stored => {}
    }
    if let Some(url) = &url {
        let _ = write!(
            s,
            "if [ $f = curl ]; then curl -fsSL --retry 2 {url} > \"$w/c\" & \
             else wget -q -O - {url} > \"$w/c\" & fi; pf=$!; "
        );
    }
    let outputs = format!(
        "\"$w/a\"{x} > \"$w/h\"{c}",
        x = if matches!(unpack, Unpack::Stored) {
            ""
        } else {
            " \"$w/x\""
        },
        c = if url.is_some() { " < \"$w/c\"" } else { "" },
    );
    let _ = write!(
        s,
        "e=0; if command -v perl >/dev/null 2>&1; then perl -e '{FAN_OUT}' {outputs} || e=$?; \
         else tee -p {outputs} || e=$?; fi; u=0; x=0; "
    );
    // Everything started is waited for before any exit: the trap then
    // removes folders nothing writes to any more.
    if url.is_some() {
        s.push_str("wait $pf || u=$?; ");
    }
    match unpack {
        Unpack::Stream([]) => s.push_str("wait $px || x=$?; "),
        Unpack::Stream(_) => s.push_str("wait $px || x=$?; wait $pz || x=$?; "),
        Unpack::Stored => {}
    }
    // A failed download explains itself (curl -S, wget) better than its
    // digest; then the digest, before the store's or tar's errors: a
    // corrupt stream breaks the decompressor too.
    let _ = write!(
        s,
        "got=; wait $ph && read -r got _ < \"$w/sum\" || :; [ $u = 0 ] || exit $u; \
         if [ \"$got\" != {sha} ]; then echo \"checksum mismatch: expected sha256 {sha_plain}, the host received $got\" >&2; exit {CHECKSUM_EXIT}; fi; \
         [ $e = 0 ] || exit $e; ",
        sha = quote(r.sha256),
        sha_plain = r.sha256,
    );
    // The stream's unpacking failed with the right digest (a decompressor
    // that cannot read the format, a full disk): `tar` unpacks the checked
    // stored copy over it, and its error, if any, is the step's.
    s.push_str(if matches!(unpack, Unpack::Stored) {
        "tar -xf \"$w/a\" -C \"$t\"; "
    } else {
        "[ $x = 0 ] || tar -xf \"$w/a\" -C \"$t\"; "
    });
    publish(&mut s, r);
    s
}

/// Start the first of `commands` whose program the host has (the last
/// one without asking), from fifo `$w/x` to fifo `$w/y`; its pid in `$pz`.
fn decompress(s: &mut String, commands: &[&str]) {
    let Some((last, first)) = commands.split_last() else {
        return;
    };
    for (i, cmd) in first.iter().enumerate() {
        let program = cmd.split(' ').next().unwrap_or(cmd);
        let _ = write!(
            s,
            "{} command -v {program} >/dev/null 2>&1; then {cmd} < \"$w/x\" > \"$w/y\" & ",
            if i == 0 { "if" } else { "elif" }
        );
    }
    if first.is_empty() {
        let _ = write!(s, "{last} < \"$w/x\" > \"$w/y\" & pz=$!; ");
    } else {
        let _ = write!(s, "else {last} < \"$w/x\" > \"$w/y\" & fi; pz=$!; ");
    }
}

/// `mkdir -p` of every folder the script needs, in one process: the work
/// folder, the release's temporary folder, shared paths and the parents of
/// links.
fn folders(s: &mut String, r: &Receive) {
    let _ = write!(s, "mkdir -p \"$d\"/{SHARED} \"$d/$w\" \"$d/$t\"");
    for dir in r.linked_dirs {
        let _ = write!(s, " \"$d\"/{SHARED}/{}", quote(dir));
    }
    for file in r.linked_files {
        if let Some(parent) = parent(file) {
            let _ = write!(s, " \"$d\"/{SHARED}/{}", quote(parent));
        }
    }
    for path in r.linked_dirs.iter().chain(r.linked_files) {
        if let Some(parent) = parent(path) {
            let _ = write!(s, " \"$d/$t\"/{}", quote(parent));
        }
    }
}

/// Once checked: the metadata, the links to shared paths, then the stored
/// copy and the folder under their names.
fn publish(s: &mut String, r: &Receive) {
    let id = r.id.as_str();
    let tag = quote(r.tag);
    let _ = write!(s, "printf '%s\\n' {} > \"$t/{META}\"; ", quote(r.meta_json));
    // The link targets inside the release go in one `rm`.
    let linked: Vec<&String> = r.linked_dirs.iter().chain(r.linked_files).collect();
    if !linked.is_empty() {
        s.push_str("rm -rf");
        for path in &linked {
            let _ = write!(s, " \"$t\"/{}", quote(path));
        }
        s.push_str("; ");
    }
    for path in linked {
        let q = quote(path);
        let _ = write!(s, "ln -s \"$PWD\"/{SHARED}/{q} \"$t\"/{q}; ");
    }
    // An older folder of the same id is renamed away and removed only after
    // the new one is in place, and never when `current` resolves to it: the
    // live release is reused by the controller, never replaced under `current`.
    let _ = write!(
        s,
        "mv -f \"$w/a\" {artifact}; \
         if [ -e {release} ]; then \
         if [ {CURRENT} -ef {release} ]; then echo 'release {id} is the one `current` points at: it is never replaced' >&2; exit {LIVE_EXIT}; fi; \
         mv -T {release} {RELEASES}/.{id}.{tag}.old; fi; \
         mv -T \"$t\" {release}; trap - EXIT; rm -rf \"$w\" {RELEASES}/.{id}.{tag}.old",
        artifact = layout::artifact(r.id),
        release = layout::release(r.id),
    );
}

/// The folder part of a relative path (`config/app.env` -> `config`).
fn parent(path: &str) -> Option<&str> {
    path.trim_end_matches('/')
        .rsplit_once('/')
        .map(|(parent, _)| parent)
        .filter(|p| !p.is_empty())
}

/// Remove what runs that are gone left behind (cwd: `deploy_to`): a killed
/// upload's `.<id>.<tag>.partial` work folder (a file before one-pass
/// receive), a half-made `releases/.<id>.<tag>.tmp` or `.old` folder, and a
/// `current` link a killed switch left before its rename, when not newer
/// than this run's lock (its info.json, written on the host's clock when
/// the lock was taken and at each renewal since, so no later than this run's
/// start there). Only a run that holds the host's lock receives, so no other
/// run is live on the host: whatever carries these names and is older than
/// our lock is stale; this run's own names (`tag`) are skipped, as a renewal
/// may make them older than the lock. No lock info (lost): left alone. Shell
/// globs and `test -nt` (which follows a link: a stale link's target is an
/// older release, or gone) start no process unless something is stale; a
/// cleanup that fails never fails the deploy.
pub fn clean_stale(tag: &str) -> String {
    format!(
        "if [ -f {LOCK}/info.json ]; then set --; \
         for f in {ARTIFACTS}/.*.partial {RELEASES}/.*.tmp {RELEASES}/.*.old .{CURRENT}.*; do \
         case $f in *.{tag}.*) continue;; {RELEASES}/* | {ARTIFACTS}/*) [ -e \"$f\" ] || continue;; *) [ -L \"$f\" ] || continue;; esac; \
         [ \"$f\" -nt {LOCK}/info.json ] || set -- \"$@\" \"$f\"; done; \
         [ $# = 0 ] || rm -rf -- \"$@\" || :; fi",
        tag = quote(tag),
    )
}

/// Start the hasher on fifo `$w/h` (its pid in `$ph`, its digest line in
/// `$w/sum`). OpenSSL's digest uses the CPU's SHA instructions where
/// coreutils' sha256sum does not (21 ms vs ~4 ms for 5 MiB here): hashing
/// is a good part of a host's CPU per deploy.
const HASHER: &str = "if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r < \"$w/h\" > \"$w/sum\" & \
     else sha256sum < \"$w/h\" > \"$w/sum\" & fi; ph=$!";

/// Which downloader the host has (`$f`), decided before any reader of a
/// fifo starts: one that exits early would leave it waiting for a writer.
const PICK_FETCHER: &str = "if command -v curl >/dev/null 2>&1; then f=curl; \
     elif command -v wget >/dev/null 2>&1; then f=wget; \
     else echo 'neither curl nor wget is installed on the host' >&2; exit 127; fi; ";

#[cfg(test)]
#[path = "receive_tests.rs"]
mod tests;
