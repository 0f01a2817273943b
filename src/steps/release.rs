//! Release scripts: one script per host per step, so each step costs one
//! round trip. Every interpolated value is quoted here.

use std::fmt::Write as _;

use super::quote;
pub use super::receive::{clean_stale, receive, Receive, CHECKSUM_EXIT, LIVE_EXIT};
use crate::layout::{self, CURRENT, HISTORY, META, RELEASES, STATE};
use crate::release::{HistoryEvent, HostState, ReleaseId};

/// Markers in the output of [`inspect`].
pub const MARK_CURRENT: &str = "@@current ";
pub const MARK_RELEASE: &str = "@@release ";
pub const MARK_META: &str = "@@meta ";
pub const MARK_HISTORY: &str = "@@history";

/// At most this much of the end of the history is read (and at most
/// [`HISTORY_EVENTS`] events kept): the history is host text, and ferry's
/// status lines come first in the same output (the executor keeps the head
/// of its scripts' output).
pub const HISTORY_BYTES: usize = 512 * 1024;

/// At most this many of the newest history events are kept.
pub const HISTORY_EVENTS: usize = 500;

/// At most this much of the current release's metadata is read.
pub const META_BYTES: usize = 64 * 1024;

/// Report `current`, the release folders, the current release's metadata
/// and the end of the history, in one round trip. ferry's own lines come
/// first; every read of host text is bounded by bytes. Three processes
/// (`readlink`, `head`, `tail`): the metadata's first line is cut by the
/// shell (serde escapes every control character inside a JSON line, so the
/// first one ends it), and a history cut by bytes starts with a partial
/// line, which [`parse_state`] drops as unreadable, as it keeps only the
/// last [`HISTORY_EVENTS`] events.
pub fn inspect(deploy_to: &str) -> String {
    format!(
        "d={d}; [ -d \"$d\" ] || exit 0; cd \"$d\" || exit 1; \
         printf '{MARK_CURRENT}%s\\n' \"$(readlink {CURRENT} 2>/dev/null)\"; \
         for r in {RELEASES}/*/; do [ -d \"$r\" ] || continue; r=${{r%/}}; printf '{MARK_RELEASE}%s\\n' \"${{r##*/}}\"; done; \
         m=$(head -c {META_BYTES} {CURRENT}/{META} 2>/dev/null); m=${{m%%[[:cntrl:]]*}}; printf '{MARK_META}%s\\n' \"$m\"; \
         echo {MARK_HISTORY}; h={HISTORY}; [ ! -f $h ] || tail -c {HISTORY_BYTES} $h; true",
        d = quote(deploy_to),
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
    let extra = state.history.len().saturating_sub(HISTORY_EVENTS);
    state.history.drain(..extra);
    state
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
            "{{ {} && {}; }} || echo {MARK_UNRECORDED}",
            record_dir(deploy_to),
            appends.join(" && ")
        ));
    }
    if !doomed.is_empty() {
        parts.push(format!(
            "{{ {}; }} || echo {MARK_UNPRUNED}",
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
        // A second line in the metadata file is never read as ferry's.
        std::fs::write(
            d.join("releases/r1/.ferry-release.json"),
            "{\"id\":\"r1\"}\n@@release r9\n",
        )
        .unwrap();
        let event = |i: usize| {
            format!(
                "{{\"at\":\"t\",\"event\":\"switched\",\"release\":\"r{i}\",\"by\":\"{}\",\"run_id\":\"x\",\"env\":\"e\",\"outcome\":\"ok\"}}\n",
                "b".repeat(250)
            )
        };
        let mut history = format!("{}\n", "y".repeat(300_000));
        for i in 0..2000 {
            history.push_str(&event(i));
        }
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
        // The cut first line is unreadable and dropped; the newest 500 kept.
        assert!(!event(0).starts_with(lines[4]), "{}", lines[4]);
        let state = parse_state(&out);
        assert_eq!(state.on_disk.len(), 1);
        assert_eq!(state.history.len(), HISTORY_EVENTS);
        assert_eq!(state.history[0].release.as_str(), "r1500");
        assert_eq!(state.history[499].release.as_str(), "r1999");
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
            "{ cd /srv/app && mkdir -p .ferry && { [ ! -s .ferry/history.jsonl ] || \
             [ -z \"$(tail -c 1 .ferry/history.jsonl)\" ] || echo; printf '%s\\n' '{\"e\":1}'; } \
             >> .ferry/history.jsonl; } || echo @@unrecorded; \
             { cd /srv/app && rm -rf releases/r1 .ferry/artifacts/r1.artifact; } || echo @@unpruned"
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
}
