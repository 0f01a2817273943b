//! Release scripts: one script per host per step, so each step costs one
//! round trip. Every interpolated value is quoted here.

use std::fmt::Write as _;

use super::quote;
use crate::layout::{self, ARTIFACTS, CURRENT, HISTORY, LOCK, META, RELEASES, SHARED, STATE};
use crate::release::{HistoryEvent, HostState, ReleaseId};

/// Markers in the output of [`inspect`].
pub const MARK_CURRENT: &str = "@@current ";
pub const MARK_RELEASE: &str = "@@release ";
pub const MARK_META: &str = "@@meta ";
pub const MARK_HISTORY: &str = "@@history";

/// Exit status of [`receive`] when the artifact's checksum is wrong.
pub const CHECKSUM_EXIT: u32 = 65;

/// At most this much of the end of the history is read (and at most 500
/// lines): the history is host text, and ferry's status lines come first in
/// the same output (the executor keeps the head of its scripts' output).
pub const HISTORY_BYTES: usize = 512 * 1024;

/// At most this much of the current release's metadata is read.
pub const META_BYTES: usize = 64 * 1024;

/// Report `current`, the release folders, the current release's metadata
/// and the end of the history, in one round trip. ferry's own lines come
/// first; every read of host text is bounded by bytes. A history cut by
/// bytes starts with a partial line, which is dropped (`tail -c N+1`: when
/// the cut falls just after a newline, the dropped line is empty).
pub fn inspect(deploy_to: &str) -> String {
    format!(
        "d={d}; [ -d \"$d\" ] || exit 0; cd \"$d\" || exit 1; \
         printf '{MARK_CURRENT}%s\\n' \"$(readlink {CURRENT} 2>/dev/null)\"; \
         for r in {RELEASES}/*/; do [ -d \"$r\" ] || continue; r=${{r%/}}; printf '{MARK_RELEASE}%s\\n' \"${{r##*/}}\"; done; \
         m=$(head -c {META_BYTES} {CURRENT}/{META} 2>/dev/null | head -n 1); printf '{MARK_META}%s\\n' \"$m\"; \
         echo {MARK_HISTORY}; h={HISTORY}; \
         if [ -f $h ]; then if [ \"$(wc -c < $h)\" -gt {HISTORY_BYTES} ]; then tail -c {cut} $h | tail -n +2; else cat $h; fi | tail -n 500; fi; true",
        d = quote(deploy_to),
        cut = HISTORY_BYTES + 1,
    )
}

/// Parse the output of `steps::release::inspect`, line by line: unreadable
/// lines are ignored, and ferry's own lines count only before the history
/// (the first `@@current` and `@@meta` win).
pub fn parse_state(out: &str) -> HostState {
    let mut state = HostState::default();
    let mut in_history = false;
    let (mut seen_current, mut seen_meta) = (false, false);
    for line in out.lines() {
        if in_history {
            if let Ok(event) = serde_json::from_str::<HistoryEvent>(line) {
                state.history.push(event);
            }
        } else if let Some(target) = line
            .strip_prefix(MARK_CURRENT)
            .filter(|_| !std::mem::replace(&mut seen_current, true))
        {
            let name = target
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("");
            state.current = ReleaseId::parse(name).ok();
        } else if let Some(name) = line.strip_prefix(MARK_RELEASE) {
            if let Ok(id) = ReleaseId::parse(name) {
                state.on_disk.insert(id);
            }
        } else if let Some(json) = line
            .strip_prefix(MARK_META)
            .filter(|_| !std::mem::replace(&mut seen_meta, true))
        {
            state.current_meta = serde_json::from_str(json).ok();
        } else if line == MARK_HISTORY {
            in_history = true;
        }
    }
    state
}

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
}

/// Read the artifact from stdin into `.ferry/artifacts`, verify its sha256,
/// extract it into a temporary folder, link shared paths, and only then
/// rename the folder to `releases/<id>`: a half-made release is never
/// visible under its name. Anything temporary is removed on failure.
pub fn receive(r: &Receive) -> String {
    let id = r.id.as_str();
    let tag = quote(r.tag);
    let mut s = format!(
        "set -e; umask 022; d={d}; mkdir -p \"$d\"; cd \"$d\"; \
         mkdir -p {RELEASES} {SHARED} {ARTIFACTS}; {clean}; \
         a={ARTIFACTS}/.{id}.{tag}.partial; t={RELEASES}/.{id}.{tag}.tmp; \
         trap 'rm -rf \"$a\" \"$t\"' EXIT; \
         {fetch}; \
         {HASH}; \
         if [ \"$got\" != {sha} ]; then echo \"checksum mismatch: expected sha256 {sha_plain}, the host received $got\" >&2; exit {CHECKSUM_EXIT}; fi; \
         mkdir \"$t\"; tar -xf \"$a\" -C \"$t\"; \
         printf '%s\\n' {meta} > \"$t/{META}\"; ",
        d = quote(r.deploy_to),
        sha = quote(r.sha256),
        sha_plain = r.sha256,
        meta = quote(r.meta_json),
        fetch = fetch(r.fetch_url),
        clean = clean_stale(),
    );
    for dir in r.linked_dirs {
        let q = quote(dir);
        let _ = write!(
            s,
            "mkdir -p shared/{q}; rm -rf \"$t\"/{q}; mkdir -p \"$(dirname \"$t\"/{q})\"; ln -s \"$PWD\"/shared/{q} \"$t\"/{q}; "
        );
    }
    for file in r.linked_files {
        let q = quote(file);
        let _ = write!(
            s,
            "mkdir -p \"$(dirname shared/{q})\"; rm -f \"$t\"/{q}; mkdir -p \"$(dirname \"$t\"/{q})\"; ln -s \"$PWD\"/shared/{q} \"$t\"/{q}; "
        );
    }
    // An older folder of the same id is renamed away and removed only after
    // the new one is in place, and never when `current` resolves to it: the
    // live release is reused by the controller, never replaced under `current`.
    let _ = write!(
        s,
        "mv -f \"$a\" {artifact}; \
         if [ -e {release} ]; then \
         if [ {CURRENT} -ef {release} ]; then echo 'release {id} is the one `current` points at: it is never replaced' >&2; exit {LIVE_EXIT}; fi; \
         mv -T {release} {RELEASES}/.{id}.{tag}.old; fi; \
         mv -T \"$t\" {release}; trap - EXIT; rm -rf {RELEASES}/.{id}.{tag}.old",
        artifact = layout::artifact(r.id),
        release = layout::release(r.id),
    );
    s
}

/// Remove what runs that are gone left behind (cwd: `deploy_to`): a killed
/// upload's `.<id>.<tag>.partial` artifact, a half-made `releases/.<id>.<tag>.tmp`
/// or `.old` folder, when not newer than this run's lock (its info.json,
/// written on the host's clock when the lock was taken and at each renewal
/// since, so no later than this run's start there), and a `current` link
/// a killed switch left before its rename. Only a run that holds
/// the host's lock receives, so no other run is live on the host: whatever
/// carries these names and is older than our lock is stale, and this run's
/// own temporary names are made only after this. No lock info (lost): left
/// alone. A cleanup that fails never fails the deploy.
pub fn clean_stale() -> String {
    format!(
        "if [ -f {LOCK}/info.json ]; then \
         find {ARTIFACTS} -maxdepth 1 -name '.*.partial' ! -newer {LOCK}/info.json -exec rm -f {{}} + || :; \
         find {RELEASES} -maxdepth 1 \\( -name '.*.tmp' -o -name '.*.old' \\) ! -newer {LOCK}/info.json -exec rm -rf {{}} + || :; \
         find . -maxdepth 1 -name '.{CURRENT}.*' -type l ! -newer {LOCK}/info.json -exec rm -f {{}} + || :; fi"
    )
}

/// Exit status of [`receive`] when the release is the live one.
pub const LIVE_EXIT: u32 = 66;

/// `got=<sha256 of $a>`. OpenSSL's digest uses the CPU's SHA instructions
/// where coreutils' sha256sum does not (21 ms vs ~4 ms for 5 MiB here): the
/// hash is most of a host's CPU per deploy after unpacking.
const HASH: &str =
    "if command -v openssl >/dev/null 2>&1; then got=$(openssl dgst -sha256 -r \"$a\"); \
     else got=$(sha256sum \"$a\"); fi; got=${got%% *}";

/// Write the artifact to `$a`: from stdin, or downloaded by the host.
fn fetch(url: Option<&str>) -> String {
    let Some(url) = url else {
        return "cat > \"$a\"".into();
    };
    let url = quote(url);
    format!(
        "if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 2 -o \"$a\" {url}; \
         elif command -v wget >/dev/null 2>&1; then wget -q -O \"$a\" {url}; \
         else echo 'neither curl nor wget is installed on the host' >&2; exit 127; fi"
    )
}

/// Point `current` at `releases/<id>` atomically (a new link renamed over the
/// old one, never remove-then-create) and append `history_line`. Fenced:
/// only while run `run_id` holds the host's lock with an unexpired lease
/// (else exit `lock::LOST_LOCK_EXIT`, nothing changed).
pub fn switch(deploy_to: &str, id: &ReleaseId, run_id: &str, history_line: &str) -> String {
    format!(
        "set -e; cd {d}; test -d {release}; {fence}; \
         ln -sfn {release} .{CURRENT}.{tag}; mv -T .{CURRENT}.{tag} {CURRENT}; \
         {append}",
        release = layout::release(id),
        d = quote(deploy_to),
        fence = super::lock::fence(run_id),
        tag = quote(run_id),
        append = append_history(history_line),
    )
}

/// Append one line to the host's history.
pub fn record(deploy_to: &str, history_line: &str) -> String {
    format!(
        "{dir} && {append}",
        dir = record_dir(deploy_to),
        append = append_history(history_line),
    )
}

/// Append `line` to `.ferry/history.jsonl` (from `deploy_to`) through one
/// `O_APPEND` open. A last line torn by an earlier failed write (disk full)
/// is ended first, so it can never glue onto this event; readers skip it.
pub fn append_history(history_line: &str) -> String {
    format!(
        "{{ [ ! -s {HISTORY} ] || [ -z \"$(tail -c 1 {HISTORY})\" ] || echo; \
         printf '%s\\n' {line}; }} >> {HISTORY}",
        line = quote(history_line),
    )
}

/// [`tail`]'s line when its history lines could not be appended.
pub const MARK_UNRECORDED: &str = "@@unrecorded";
/// [`tail`]'s line when the old releases could not be deleted.
pub const MARK_UNPRUNED: &str = "@@unpruned";

/// What a host's pipeline leaves for its last script: the history lines
/// (a passed health check) and the releases to delete, in one round trip
/// instead of one each. Each part runs in its own subshell and never fails
/// the script: a failure prints its marker, which the controller turns into
/// a warning, as it did for each step on its own. Empty when nothing is left.
pub fn tail(deploy_to: &str, history_lines: &[String], doomed: &[ReleaseId]) -> String {
    let mut parts = Vec::new();
    if !history_lines.is_empty() {
        let appends: Vec<String> = history_lines.iter().map(|l| append_history(l)).collect();
        parts.push(format!(
            "( {} && {} ) || echo {MARK_UNRECORDED}",
            record_dir(deploy_to),
            appends.join(" && ")
        ));
    }
    if !doomed.is_empty() {
        parts.push(format!(
            "( {} ) || echo {MARK_UNPRUNED}",
            prune(deploy_to, doomed)
        ));
    }
    parts.join("; ")
}

/// `cd <deploy_to> && mkdir -p .ferry`: where [`record`] appends.
fn record_dir(deploy_to: &str) -> String {
    format!("cd {} && mkdir -p {STATE}", quote(deploy_to))
}

/// Delete releases (and their kept artifacts).
pub fn prune(deploy_to: &str, ids: &[ReleaseId]) -> String {
    let mut s = format!("cd {} && rm -rf", quote(deploy_to));
    for id in ids {
        let _ = write!(s, " {} {}", layout::release(id), layout::artifact(id));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_output_parses() {
        let out = "@@current releases/r2\n@@release r1\n@@release r2\n@@release .r3.tmp\n\
                   @@meta {\"id\":\"r2\",\"artifact\":\"a.tar\",\"sha256\":\"abababababababababababababababababababababababababababababababab\",\"deployed_by\":\"ci\",\"deployed_at\":\"t\",\"controller\":\"c\",\"ferry_version\":\"0\",\"env\":\"e\",\"run_id\":\"x\"}\n\
                   @@history\n\
                   {\"at\":\"t\",\"event\":\"switched\",\"release\":\"r2\",\"previous\":\"r1\",\"by\":\"ci\",\"run_id\":\"x\",\"env\":\"e\",\"outcome\":\"ok\"}\n\
                   not json\n";
        let state = parse_state(out);
        assert_eq!(state.current, Some(ReleaseId::parse("r2").unwrap()));
        assert_eq!(state.on_disk.len(), 2);
        assert_eq!(state.current_meta.unwrap().sha256.as_str(), "ab".repeat(32));
        assert_eq!(state.history.len(), 1);
    }

    #[test]
    fn a_fresh_host_has_no_state() {
        assert_eq!(parse_state(""), HostState::default());
    }

    fn id(s: &str) -> ReleaseId {
        ReleaseId::parse(s).unwrap()
    }

    /// The host-side hash, run by a local `sh`: with OpenSSL on PATH, and
    /// with only coreutils' sha256sum (hosts without OpenSSL).
    #[test]
    fn host_hash_matches_with_and_without_openssl() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        std::fs::write(&file, b"ferry").unwrap();
        let want = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(b"ferry"))
        };
        let only_coreutils = dir.path().join("bin");
        std::fs::create_dir(&only_coreutils).unwrap();
        std::os::unix::fs::symlink("/usr/bin/sha256sum", only_coreutils.join("sha256sum")).unwrap();
        for path in ["/usr/bin:/bin", only_coreutils.to_str().unwrap()] {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("{HASH}; printf %s \"$got\""))
                .env("PATH", path)
                .env("a", &file)
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "PATH={path}");
        }
    }

    /// The inspect script, run by a local `sh` on a history of 600 lines of
    /// 600 bytes and one of 300,000: its output stays bounded, ferry's
    /// lines come first, and the newest event is read whole.
    #[test]
    fn inspect_reads_a_bounded_end_of_a_large_history() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("releases/r1")).unwrap();
        std::fs::create_dir_all(d.join(".ferry")).unwrap();
        std::os::unix::fs::symlink("releases/r1", d.join("current")).unwrap();
        std::fs::write(
            d.join("releases/r1/.ferry-release.json"),
            "{\"id\":\"r1\"}\n",
        )
        .unwrap();
        let mut history = format!("{}\n", "y".repeat(300_000));
        history.push_str(&format!("{}\n", "x".repeat(599)).repeat(600));
        history.push_str("{\"event\":\"last\"}\n");
        std::fs::write(d.join(".ferry/history.jsonl"), &history).unwrap();
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(inspect(d.to_str().unwrap()))
            .output()
            .unwrap();
        assert!(out.status.success());
        let out = String::from_utf8(out.stdout).unwrap();
        assert!(out.len() < HISTORY_BYTES + 1024, "{} bytes", out.len());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..4],
            [
                "@@current releases/r1",
                "@@release r1",
                "@@meta {\"id\":\"r1\"}",
                "@@history"
            ]
        );
        // Whole lines only: the partial first one was dropped.
        assert!(lines[4..lines.len() - 1].iter().all(|l| l.len() == 599));
        assert_eq!(lines.len() - 5, 499);
        assert_eq!(lines.last(), Some(&"{\"event\":\"last\"}"));
        // A small history is read whole.
        std::fs::write(d.join(".ferry/history.jsonl"), "a\nb\n").unwrap();
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(inspect(d.to_str().unwrap()))
            .output()
            .unwrap();
        assert!(String::from_utf8(out.stdout)
            .unwrap()
            .ends_with("@@history\na\nb\n"));
    }

    #[test]
    fn switch_renames_a_new_link_over_current() {
        assert_eq!(
            switch("/srv/my app", &id("r2"), "run1", r#"{"event":"switched"}"#),
            format!(
                "set -e; cd '/srv/my app'; test -d releases/r2; {}; \
             ln -sfn releases/r2 .current.run1; mv -T .current.run1 current; \
             {{ [ ! -s .ferry/history.jsonl ] || [ -z \"$(tail -c 1 .ferry/history.jsonl)\" ] || echo; \
             printf '%s\\n' '{{\"event\":\"switched\"}}'; }} >> .ferry/history.jsonl",
                crate::steps::lock::fence("run1")
            )
        );
    }

    #[test]
    fn record_appends_one_line_and_ends_a_torn_one_first() {
        assert_eq!(
            record("/srv/app", r#"{"e":1}"#),
            "cd /srv/app && mkdir -p .ferry && { [ ! -s .ferry/history.jsonl ] || \
             [ -z \"$(tail -c 1 .ferry/history.jsonl)\" ] || echo; printf '%s\\n' '{\"e\":1}'; } >> .ferry/history.jsonl"
        );
        // Run by a real shell: a torn last line, a whole one, an empty file.
        for (before, after) in [
            ("{\"torn\":", "{\"torn\":\n{\"e\":1}\n"),
            ("{\"a\":0}\n", "{\"a\":0}\n{\"e\":1}\n"),
            ("", "{\"e\":1}\n"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join(".ferry")).unwrap();
            let file = dir.path().join(".ferry/history.jsonl");
            std::fs::write(&file, before).unwrap();
            let status = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(record(dir.path().to_str().unwrap(), r#"{"e":1}"#))
                .status()
                .unwrap();
            assert!(status.success());
            assert_eq!(std::fs::read_to_string(&file).unwrap(), after, "{before:?}");
        }
    }

    #[test]
    fn prune_removes_release_and_artifact() {
        assert_eq!(
            prune("/srv/app", &[id("r1"), id("r2")]),
            "cd /srv/app && rm -rf releases/r1 .ferry/artifacts/r1.artifact releases/r2 .ferry/artifacts/r2.artifact"
        );
    }

    #[test]
    fn a_tail_records_then_prunes_and_says_what_failed() {
        assert_eq!(tail("/srv/app", &[], &[]), "");
        assert_eq!(
            tail("/srv/app", &[r#"{"e":1}"#.into()], &[id("r1")]),
            "( cd /srv/app && mkdir -p .ferry && { [ ! -s .ferry/history.jsonl ] || \
             [ -z \"$(tail -c 1 .ferry/history.jsonl)\" ] || echo; printf '%s\\n' '{\"e\":1}'; } \
             >> .ferry/history.jsonl ) || echo @@unrecorded; \
             ( cd /srv/app && rm -rf releases/r1 .ferry/artifacts/r1.artifact ) || echo @@unpruned"
        );
        // Run by a real `sh`: both parts run, and a failed one says so
        // without stopping the rest (the lock's release follows it).
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        std::fs::create_dir_all(dir.path().join("releases/r1")).unwrap();
        let run = |script: String| {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("{script}; echo end"))
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        let lines = [r#"{"e":1}"#.to_string(), r#"{"e":2}"#.to_string()];
        assert_eq!(run(tail(d, &lines, &[id("r1")])), "end\n");
        assert!(!dir.path().join("releases/r1").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".ferry/history.jsonl")).unwrap(),
            "{\"e\":1}\n{\"e\":2}\n"
        );
        // A history that cannot be written (a folder in its place).
        std::fs::remove_file(dir.path().join(".ferry/history.jsonl")).unwrap();
        std::fs::create_dir(dir.path().join(".ferry/history.jsonl")).unwrap();
        assert_eq!(run(tail(d, &lines, &[])), "@@unrecorded\nend\n");
    }

    #[test]
    fn clean_stale_by_exact_string() {
        assert_eq!(
            clean_stale(),
            "if [ -f .ferry/lock/info.json ]; then \
             find .ferry/artifacts -maxdepth 1 -name '.*.partial' ! -newer .ferry/lock/info.json -exec rm -f {} + || :; \
             find releases -maxdepth 1 \\( -name '.*.tmp' -o -name '.*.old' \\) ! -newer .ferry/lock/info.json -exec rm -rf {} + || :; \
             find . -maxdepth 1 -name '.current.*' -type l ! -newer .ferry/lock/info.json -exec rm -f {} + || :; fi"
        );
        let script = receive(&Receive {
            deploy_to: "/srv/app",
            id: &id("r1"),
            sha256: "abc",
            meta_json: "{}",
            linked_dirs: &[],
            linked_files: &[],
            tag: "t1",
            fetch_url: None,
        });
        // Before this run's own temporary names exist.
        let clean = script.find(&clean_stale()).unwrap();
        assert!(
            clean < script.find("a=.ferry/artifacts/").unwrap(),
            "{script}"
        );
    }

    /// Run by the local `sh`: only stale names older than the lock go; a
    /// newer one, a release and the kept artifact stay; no lock, no cleanup.
    #[test]
    fn clean_stale_removes_only_old_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |script: &str| {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(script)
                .current_dir(d)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        run(
            "mkdir -p .ferry/artifacts releases/r1 releases/.r9.x.tmp/a releases/.r8.x.old \
             && touch .ferry/artifacts/.r9.x.partial .ferry/artifacts/r1.artifact",
        );
        run(&clean_stale());
        assert!(d.join("releases/.r9.x.tmp").exists(), "no lock: left alone");
        run("touch -d '1 hour ago' releases/.r9.x.tmp releases/.r8.x.old .ferry/artifacts/.r9.x.partial \
             && mkdir .ferry/lock && touch .ferry/lock/info.json \
             && touch -d '1 hour' .ferry/artifacts/.r7.y.partial");
        run(&clean_stale());
        for gone in [
            ".ferry/artifacts/.r9.x.partial",
            "releases/.r9.x.tmp",
            "releases/.r8.x.old",
        ] {
            assert!(!d.join(gone).exists(), "{gone}");
        }
        for kept in [
            ".ferry/artifacts/.r7.y.partial",
            ".ferry/artifacts/r1.artifact",
            "releases/r1",
        ] {
            assert!(d.join(kept).exists(), "{kept}");
        }
    }

    #[test]
    fn receive_verifies_before_extracting_and_renames_last() {
        let script = receive(&Receive {
            deploy_to: "/srv/app",
            id: &id("r1"),
            sha256: "abc",
            meta_json: "{}",
            linked_dirs: &["log".into()],
            linked_files: &["config/app env".into()],
            tag: "t1",
            fetch_url: None,
        });
        let verify = script.find("sha256sum").unwrap();
        let extract = script.find("tar -xf").unwrap();
        let publish = script.find("mv -T \"$t\" releases/r1").unwrap();
        assert!(verify < extract && extract < publish, "{script}");
        assert!(
            script.contains("ln -s \"$PWD\"/shared/log \"$t\"/log"),
            "{script}"
        );
        assert!(script.contains("shared/'config/app env'"), "{script}");
        assert!(script.contains("cat > \"$a\";"), "{script}");
        assert!(
            script.ends_with(
                "if [ -e releases/r1 ]; then \
                 if [ current -ef releases/r1 ]; then echo 'release r1 is the one `current` points at: it is never replaced' >&2; exit 66; fi; \
                 mv -T releases/r1 releases/.r1.t1.old; fi; \
                 mv -T \"$t\" releases/r1; trap - EXIT; rm -rf releases/.r1.t1.old"
            ),
            "{script}"
        );
    }
}
