//! The lock scripts by exact string, and run by a real `sh`.

use super::*;

/// Run a script with the local `sh` in `dir`; (exit code, stdout, stderr).
fn sh(dir: &std::path::Path, script: &str) -> (i32, String, String) {
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const HELD_SH: &str = "c=$(cksum 2>/dev/null < lock/info.json) || c='- -'; \
                       i=; IFS= read -r i 2>/dev/null < lock/info.json; \
                       printf '@@held %s %s\\n%s\\n' \"$(date +%s)\" \"$c\" \"$i\"";
const FIELDS_SH: &str = "r=${i#*'\"run_id\":\"'}; r=${r%%'\"'*}; \
                         u=${i##*'\"lease_until\":'}; u=${u%%[!0-9]*}";

#[test]
fn acquire_writes_checks_and_answers_with_the_run_id() {
    assert_eq!(HELD, HELD_SH);
    assert_eq!(FIELDS, FIELDS_SH);
    assert_eq!(
        acquire("/srv/app", "run1", Info::Manual("{\"run_id\":\"run1\"}"), None),
        format!(
            "d=/srv/app; cd \"$d/.ferry\" 2>/dev/null || {{ mkdir -p \"$d/.ferry\" && cd \"$d/.ferry\"; }} || exit 1; \
             if mkdir lock 2>/dev/null; then j='{{\"run_id\":\"run1\"}}'; \
             if printf '%s\\n' \"$j\" > lock/info.json && IFS= read -r w < lock/info.json && [ \"$w\" = \"$j\" ]; \
             then echo '@@taken run1'; \
             else rm -rf lock; echo 'cannot write .ferry/lock/info.json (disk full?): the lock was not taken' >&2; exit 1; fi; \
             else {HELD_SH}; fi"
        )
    );
}

#[test]
fn acquire_runs_then_only_once_taken_and_ends_with_its_status() {
    let script = acquire(
        "/srv/app",
        "r",
        Info::Leased("{\"lease_until\":"),
        Some("echo state"),
    );
    assert!(
        script.contains(
            "then echo '@@taken r'; ( echo state ); s=$?; echo; echo \"@@then $s\"; else rm -rf lock"
        ),
        "{script}"
    );
    assert!(
        script.contains("l=$(( $(date +%s) + 60 )); j='{\"lease_until\":'\"$l\"'}';"),
        "{script}"
    );
}

#[test]
fn renew_release_remove_show_fence_by_exact_string() {
    assert_eq!(
        renew("/srv/app", "run1", "{\"lease_until\":"),
        format!(
            "cd /srv/app/.ferry 2>/dev/null || {{ echo @@lost; exit 0; }}; \
             i=; IFS= read -r i 2>/dev/null < lock/info.json; {FIELDS_SH}; \
             if [ \"$r\" != run1 ]; then printf '@@lost\\n%s\\n' \"$i\"; exit 0; fi; \
             l=$(( $(date +%s) + 60 )); j='{{\"lease_until\":'\"$l\"'}}'; \
             printf '%s\\n' \"$j\" > lock/info.json.new && mv -f lock/info.json.new lock/info.json \
             || {{ rm -f lock/info.json.new; exit 1; }}; echo \"@@renewed $l\""
        )
    );
    assert_eq!(
        release("/srv/app", "run1"),
        format!(
            "cd /srv/app/.ferry 2>/dev/null || exit 0; i=; IFS= read -r i 2>/dev/null < lock/info.json; \
             {FIELDS_SH}; [ \"$r\" = run1 ] || exit 0; echo @@released; rm -rf lock"
        )
    );
    assert_eq!(
        remove_if("/srv/app", "123 45"),
        "cd /srv/app/.ferry 2>/dev/null && [ -d lock ] || { echo @@gone; exit 0; }; \
         c=$(cksum 2>/dev/null < lock/info.json) || c='- -'; \
         if [ \"$c\" = '123 45' ]; then rm -rf lock && echo @@removed; else echo @@changed; fi"
    );
    assert_eq!(
        show("/srv/app"),
        format!(
            "d=/srv/app; [ -d \"$d/.ferry/lock\" ] || {{ echo @@free; exit 0; }}; cd \"$d/.ferry\" || exit 1; {HELD_SH}"
        )
    );
    assert_eq!(
        fence("run1"),
        format!(
            "i=; IFS= read -r i 2>/dev/null < .ferry/lock/info.json || :; {FIELDS_SH}; n=$(date +%s) || :; \
             if [ -z \"$i\" ]; then echo 'lost the lock: it was removed (or its info is unreadable); not changed' >&2; exit 75; fi; \
             if [ \"$r\" != run1 ]; then echo \"lost the lock: it is now held by run $r; not changed\" >&2; exit 75; fi; \
             if [ -n \"$u\" ] && [ \"$u\" -ge \"$n\" ] 2>/dev/null; then :; \
             else echo \"lost the lock: its lease expired (lease_until ${{u:-none}}, host clock $n); not changed\" >&2; exit 75; fi"
        )
    );
}

#[test]
fn take_over_by_exact_string() {
    let info = Info::Leased("{\"lease_until\":");
    assert_eq!(
        take_over("/srv/app", "run2", info, "123 45", ("{\"release\":\"", "\"}"), None),
        format!(
            "d=/srv/app; cd \"$d/.ferry\" 2>/dev/null || exit 1; \
             find lock -maxdepth 1 -name .takeover -type d -mmin +1 -exec rm -rf {{}} + 2>/dev/null || :; \
             if mkdir lock/.takeover 2>/dev/null; then \
             c=$(cksum 2>/dev/null < lock/info.json) || c='- -'; i=; IFS= read -r i 2>/dev/null < lock/info.json; \
             {FIELDS_SH}; n=$(date +%s) || n=; \
             if [ \"$c\" = '123 45' ] && [ -n \"$u\" ] && [ \"$u\" -lt \"$n\" ] 2>/dev/null; then \
             l=$(( $(date +%s) + 60 )); j='{{\"lease_until\":'\"$l\"'}}'; \
             if printf '%s\\n' \"$j\" > lock/.takeover/info.json && IFS= read -r w < lock/.takeover/info.json && [ \"$w\" = \"$j\" ] \
             && mv -f lock/.takeover/info.json lock/info.json; then rmdir lock/.takeover; \
             k=$(readlink \"$d\"/current 2>/dev/null) || k=; k=${{k%/}}; k=${{k##*/}}; \
             case $k in ''|.*|*[!A-Za-z0-9._-]*) ;; *) [ ${{#k}} -gt 64 ] || {{ h=\"$d\"/.ferry/history.jsonl; \
             {{ [ ! -s \"$h\" ] || [ -z \"$(tail -c 1 \"$h\")\" ] || echo; printf '%s%s%s\\n' '{{\"release\":\"' \"$k\" '\"}}'; }} >> \"$h\"; }} || :;; esac; \
             echo '@@taken-over run2'; \
             else rm -rf lock/.takeover; echo 'cannot write .ferry/lock/info.json (disk full?): the lock was not taken over' >&2; exit 1; fi; \
             else rmdir lock/.takeover; {HELD_SH}; fi; \
             elif [ -d lock ]; then {HELD_SH}; else {}; fi",
            acquire("/srv/app", "run2", info, None)
        )
    );
}

/// The takeover, run by the local `sh`: only the expired lease it
/// inspected is replaced, and the history says whose it was.
#[test]
fn take_over_replaces_only_the_expired_lease_inspected() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    let d = app.to_str().unwrap();
    std::fs::create_dir_all(app.join(".ferry/lock")).unwrap();
    std::fs::create_dir_all(app.join("releases/r1")).unwrap();
    std::os::unix::fs::symlink("releases/r1", app.join("current")).unwrap();
    let write = |json: &str| {
        std::fs::write(app.join(".ferry/lock/info.json"), format!("{json}\n")).unwrap();
    };
    let info_now = || std::fs::read_to_string(app.join(".ferry/lock/info.json")).unwrap();
    let sum = || {
        let out = sh(dir.path(), &show(d)).1;
        let first = out.lines().next().unwrap().to_string();
        first.split(' ').skip(2).collect::<Vec<_>>().join(" ")
    };
    let prefix = "{\"run_id\":\"run2\",\"lease_until\":";
    let history = (
        "{\"event\":\"lock_taken_over\",\"release\":\"",
        "\",\"detail\":\"old\"}",
    );
    let take = |sum: &str| {
        sh(
            dir.path(),
            &take_over(
                d,
                "run2",
                Info::Leased(prefix),
                sum,
                history,
                Some("echo state"),
            ),
        )
    };
    // A live lease, a manual lock, a checksum other than the one seen:
    // left as they are, and the holder is reported.
    for (json, seen) in [
        ("{\"run_id\":\"old\",\"lease_until\":99999999999}", None),
        ("{\"run_id\":\"old\",\"lease_until\":null}", None),
        ("{\"run_id\":\"old\",\"lease_until\":5}", Some("1 2")),
    ] {
        write(json);
        let seen = seen.map_or_else(sum, str::to_string);
        let (code, out, _) = take(&seen);
        assert_eq!(code, 0);
        assert!(out.starts_with("@@held "), "{json}: {out}");
        assert_eq!(info_now(), format!("{json}\n"));
        assert!(!app.join(".ferry/lock/.takeover").exists());
    }
    assert!(!app.join(".ferry/history.jsonl").exists());
    // Another run is taking it over right now (its `.takeover` is young):
    // left to it.
    write("{\"run_id\":\"old\",\"lease_until\":5}");
    let taker = app.join(".ferry/lock/.takeover");
    std::fs::create_dir(&taker).unwrap();
    assert!(take(&sum()).1.starts_with("@@held "));
    assert!(taker.exists());
    // A takeover killed midway, minutes ago: cleared, and the expired lease
    // inspected is taken over, and recorded.
    let aged = std::process::Command::new("touch")
        .args(["-d", "5 minutes ago"])
        .arg(&taker)
        .status()
        .unwrap();
    assert!(aged.success());
    let (code, out, err) = take(&sum());
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["@@taken-over run2", "state"], "{out}");
    assert!(info_now().starts_with(prefix), "{}", info_now());
    assert!(!app.join(".ferry/lock/.takeover").exists());
    assert_eq!(
        std::fs::read_to_string(app.join(".ferry/history.jsonl")).unwrap(),
        "{\"event\":\"lock_taken_over\",\"release\":\"r1\",\"detail\":\"old\"}\n"
    );
    // Now run2's: a second takeover of what was seen finds it changed.
    assert!(take("1 2").1.starts_with("@@held "));
    // A lock gone meanwhile is simply taken.
    std::fs::remove_dir_all(app.join(".ferry/lock")).unwrap();
    assert!(take("1 2").1.starts_with("@@taken run2\n"));
}

/// The scripts, run by the local `sh` against a real `.ferry` folder.
#[test]
fn scripts_run_by_sh_keep_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    let d = app.to_str().unwrap();
    let prefix = "{\"holder\":\"a\",\"run_id\":\"run1\",\"reason\":\"x \\\"run_id\\\":\\\"run2\\\"\",\"lease_until\":";
    let (code, out, _) = sh(
        dir.path(),
        &acquire(d, "run1", Info::Leased(prefix), Some("echo state")),
    );
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["@@taken run1", "state"], "{out}");
    assert_eq!(lines.last(), Some(&"@@then 0"), "{out}");
    // Taken again: held, with the info as data on its own line.
    let (code, out, _) = sh(dir.path(), &acquire(d, "run2", Info::Manual("{}"), None));
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("@@held "), "{out}");
    assert!(lines.next().unwrap().starts_with(prefix), "{out}");
    // The fence passes for run1 (its lease is in the future), not run2,
    // although run2 appears in the reason.
    let fenced = |run: &str| sh(&app, &format!("{}; echo ok", fence(run)));
    assert_eq!(fenced("run1").1, "ok\n");
    let (code, _, err) = fenced("run2");
    assert_eq!(code, LOST_LOCK_EXIT.cast_signed());
    assert!(
        err.contains("lost the lock: it is now held by run run1"),
        "{err}"
    );
    // Renewal only for the holder.
    assert!(sh(dir.path(), &renew(d, "run1", prefix))
        .1
        .starts_with("@@renewed "));
    assert!(sh(dir.path(), &renew(d, "run2", prefix))
        .1
        .starts_with("@@lost\n{"));
    // A release after a tail: whatever the tail's `cd` and its failure, the
    // lock is released all the same (the release's own `cd` is absolute).
    assert_eq!(release_after("", d, "run1"), release(d, "run1"));
    assert_eq!(
        release_after("cd /nonexistent || false", d, "run2"),
        format!("cd /nonexistent || false; {}", release(d, "run2"))
    );
    let (code, out, _) = sh(
        dir.path(),
        &release_after("cd / && echo tail && false", d, "run2"),
    );
    assert_eq!((code, out.as_str()), (0, "tail\n"));
    assert!(app.join(".ferry/lock").exists(), "run2 never held it");
    // Release by another run does nothing; by the holder it removes.
    assert_eq!(
        sh(dir.path(), &release(d, "run2")),
        (0, String::new(), String::new())
    );
    assert!(app.join(".ferry/lock").exists());
    assert_eq!(sh(dir.path(), &release(d, "run1")).1, "@@released\n");
    assert!(!app.join(".ferry/lock").exists());
    assert_eq!(sh(dir.path(), &show(d)).1, "@@free\n");
    // An expired lease fails the fence.
    std::fs::create_dir(app.join(".ferry/lock")).unwrap();
    std::fs::write(
        app.join(".ferry/lock/info.json"),
        "{\"run_id\":\"run1\",\"lease_until\":5}\n",
    )
    .unwrap();
    let (code, _, err) = fenced("run1");
    assert_eq!(code, LOST_LOCK_EXIT.cast_signed());
    assert!(err.contains("its lease expired (lease_until 5"), "{err}");
    // A manual lock (no lease) fences every run out.
    std::fs::write(
        app.join(".ferry/lock/info.json"),
        "{\"run_id\":\"run1\",\"lease_until\":null}\n",
    )
    .unwrap();
    assert_eq!(fenced("run1").0, LOST_LOCK_EXIT.cast_signed());
}

#[test]
fn an_empty_info_is_shown_and_removed_only_if_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    let d = app.to_str().unwrap();
    std::fs::create_dir_all(app.join(".ferry/lock")).unwrap();
    std::fs::write(app.join(".ferry/lock/info.json"), "").unwrap();
    let out = sh(dir.path(), &show(d)).1;
    let first = out.lines().next().unwrap();
    let sum: Vec<&str> = first.split(' ').skip(2).collect();
    let sum = sum.join(" ");
    assert_eq!(out.lines().nth(1), Some(""), "{out}");
    assert_eq!(sh(dir.path(), &remove_if(d, "1 2")).1, "@@changed\n");
    assert_eq!(sh(dir.path(), &remove_if(d, &sum)).1, "@@removed\n");
    assert!(!app.join(".ferry/lock").exists());
    assert_eq!(sh(dir.path(), &remove_if(d, &sum)).1, "@@gone\n");
    // No info.json at all.
    std::fs::create_dir_all(app.join(".ferry/lock")).unwrap();
    let out = sh(dir.path(), &show(d)).1;
    assert!(out.contains(" - -\n"), "{out}");
    assert_eq!(sh(dir.path(), &remove_if(d, "- -")).1, "@@removed\n");
}

/// Disk full: a lock whose info cannot be written, or reads back
/// otherwise, is removed again and not taken (printf stands in for the
/// full disk).
#[test]
fn a_lock_whose_info_cannot_be_written_is_not_taken() {
    for broken in [
        "printf() { return 1; }",
        "printf() { command printf 'cut'; }",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        let script = acquire(app.to_str().unwrap(), "run1", Info::Manual("{}"), None);
        let (code, out, err) = sh(dir.path(), &format!("{broken}; {script}"));
        assert_eq!(code, 1, "{broken}");
        assert!(!out.contains("@@taken"), "{out}");
        assert!(err.contains("cannot write .ferry/lock/info.json"), "{err}");
        assert!(!app.join(".ferry/lock").exists(), "{broken}");
    }
}

/// The switch carries the fence: without this run's lock nothing moves.
#[test]
fn a_switch_without_the_lock_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(app.join("releases/r2")).unwrap();
    std::fs::create_dir_all(app.join(".ferry")).unwrap();
    std::os::unix::fs::symlink("releases/r1", app.join("current")).unwrap();
    let r2 = crate::release::ReleaseId::parse("r2").unwrap();
    let switch = super::super::release::switch(app.to_str().unwrap(), &r2, "run1", "{}");
    let (code, _, err) = sh(dir.path(), &switch);
    assert_eq!(code, LOST_LOCK_EXIT.cast_signed(), "{err}");
    assert!(err.contains("lost the lock: it was removed"), "{err}");
    assert_eq!(
        std::fs::read_link(app.join("current")).unwrap(),
        std::path::PathBuf::from("releases/r1")
    );
    // With the lock and a live lease it switches.
    let taken = acquire(
        app.to_str().unwrap(),
        "run1",
        Info::Leased("{\"run_id\":\"run1\",\"lease_until\":"),
        None,
    );
    assert_eq!(sh(dir.path(), &taken).1, "@@taken run1\n");
    assert_eq!(sh(dir.path(), &switch).0, 0);
    assert_eq!(
        std::fs::read_link(app.join("current")).unwrap(),
        std::path::PathBuf::from("releases/r2")
    );
}
