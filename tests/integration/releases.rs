//! `ferry deploy`, `rollback`, `status`, `history` against real sshd: the
//! Capistrano layout on the hosts, the atomic switch of `current`, pruning,
//! skips, failed uploads (checksum, full disk) and invalid release ids.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::fleet::Fleet;
use crate::support::host::{
    current, history, history_text, names_in, next_second, on_host, set, sha256_hex, shell_ok,
};
use crate::support::project::{page, Project};

// ---------------------------------------------------------------------------
// tests

/// After r1, r2 and a rollback: every host serves r1, keeps r2, and its
/// history reads `switched`, `switched`, `rolled_back` (r2 -> r1).
fn assert_every_host_rolled_back_to_r1(fleet: &Fleet) {
    for (i, host) in fleet.hosts().iter().enumerate() {
        assert_eq!(current(fleet, i), "releases/r1", "current on {}", host.name);
        assert_eq!(
            std::fs::read_to_string(on_host(fleet, i, "current/index.html")).unwrap(),
            page("r1")
        );
        assert!(
            on_host(fleet, i, "releases/r2/index.html").is_file(),
            "releases/r2 must stay on {}",
            host.name
        );
        let events = history(fleet, i);
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["switched", "switched", "rolled_back"],
            "{}",
            host.name
        );
        let last = events.last().unwrap();
        assert_eq!(last["release"], "r1", "{last}");
        assert_eq!(last["previous"], "r2", "{last}");
        assert_eq!(last["outcome"], "ok", "{last}");
        assert_eq!(last["env"], "test", "{last}");
        assert!(last["run_id"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(events[1]["release"], "r2");
        assert_eq!(events[1]["previous"], "r1");
    }
}

#[test]
fn two_deploys_then_a_rollback_puts_every_host_back_on_the_first_release() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    let r2 = project.release_tarball("r2");

    project
        .deploy(&r1, "r1")
        .stderr_has("release r1: done 3  skipped 0  failed 0  unreachable 0")
        .stderr_has("  h1: deployed r1\n")
        .run();
    for i in 0..3 {
        assert_eq!(current(&fleet, i), "releases/r1");
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(on_host(&fleet, i, "releases/r1/.ferry-release.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(meta["id"], "r1");
        assert_eq!(meta["sha256"], sha256_hex(&r1).as_str());
        assert_eq!(meta["env"], "test");
    }
    project
        .deploy(&r2, "r2")
        .stderr_has("release r2: done 3  skipped 0  failed 0  unreachable 0")
        .stderr_has("  h2: deployed r2 (was r1)")
        .run();
    for i in 0..3 {
        assert_eq!(current(&fleet, i), "releases/r2");
        assert_eq!(
            std::fs::read_to_string(on_host(&fleet, i, "current/index.html")).unwrap(),
            page("r2")
        );
    }

    // Stamps have one-second resolution: keep the rollback in its own second
    // so "newest first" has one right answer (see the same-second test below).
    next_second();
    project
        .rollback()
        .stderr_has("rollback: done 3  skipped 0  failed 0  unreachable 0")
        .stderr_has("  h3: rolled back to r1 from r2")
        .run();

    assert_every_host_rolled_back_to_r1(&fleet);

    let json = project.status().args(["--output", "json"]).run().json();
    assert_eq!(json["schema"], "ferry.status/1");
    let hosts = json["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3, "{json}");
    for h in hosts {
        assert_eq!(h["current"], "r1", "{h}");
        assert_eq!(h["sha256"], sha256_hex(&r1).as_str(), "{h}");
        assert!(h["error"].is_null(), "{h}");
    }
    assert_eq!(
        json["summary"]["releases"]["r1"],
        serde_json::json!(["h1", "h2", "h3"]),
        "{json}"
    );

    let hist = project.history().run();
    let lines: Vec<&str> = hist.stdout.lines().collect();
    assert_eq!(lines.len(), 9, "{}", hist.stdout);
    for line in &lines[..3] {
        assert!(
            line.contains("rolled_back") && line.contains("r1 (from r2)"),
            "the rollback must come first:\n{}",
            hist.stdout
        );
    }
    let limited = project.history().args(["--limit", "h2", "-n", "1"]).run();
    assert_eq!(limited.stdout.lines().count(), 1, "{}", limited.stdout);
    assert!(
        limited.stdout.contains(" h2 ") && limited.stdout.contains("rolled_back"),
        "{}",
        limited.stdout
    );
}

#[test]
fn history_lists_same_second_events_newest_first() {
    // Two events of one host in the same second (a deploy and a quick
    // rollback): the file order is the only order, and the newest must come first.
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    let r2 = project.release_tarball("r2");
    project.deploy(&r1, "r1").run();
    project.deploy(&r2, "r2").run();
    project.rollback().run();
    // Give all three lines one stamp, as a fast run would.
    let path = on_host(&fleet, 0, ".ferry/history.jsonl");
    let mut forged = String::new();
    for mut e in history(&fleet, 0) {
        e["at"] = "2030-01-01T00:00:00Z".into();
        let _ = writeln!(forged, "{e}");
    }
    std::fs::write(&path, forged).unwrap();
    let hist = project.history().run();
    let kinds: Vec<&str> = hist
        .stdout
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        ["rolled_back", "switched", "switched"],
        "newest first:\n{}",
        hist.stdout
    );
    assert!(
        hist.stdout.lines().nth(1).unwrap().contains("r2 (from r1)"),
        "{}",
        hist.stdout
    );
}

#[test]
fn keep_prunes_to_current_and_previous_with_their_artifacts() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let ids = ["r1", "r2", "r3", "r4"];
    let tars: Vec<PathBuf> = ids.iter().map(|id| project.release_tarball(id)).collect();
    for (n, (id, tar)) in ids.iter().zip(&tars).enumerate() {
        let mut run = project.deploy(tar, id).args(["--keep", "2"]);
        if n >= 2 {
            let doomed = ids[n - 2];
            run = run.stderr_has(format!(
                "  h1: deployed {id} (was {}); pruned {doomed}",
                ids[n - 1]
            ));
        }
        run.run();
        for i in 0..2 {
            let kept: Vec<&str> = ids[n.saturating_sub(1)..=n].to_vec();
            assert_eq!(names_in(&fleet, i, "releases"), set(&kept), "after {id}");
        }
    }
    for (i, host) in fleet.hosts().iter().enumerate() {
        assert_eq!(current(&fleet, i), "releases/r4", "{}", host.name);
        assert_eq!(
            names_in(&fleet, i, "releases"),
            set(&["r3", "r4"]),
            "{}",
            host.name
        );
        assert_eq!(
            names_in(&fleet, i, ".ferry/artifacts"),
            set(&["r3.artifact", "r4.artifact"]),
            "{}",
            host.name
        );
        assert_eq!(
            sha256_hex(&on_host(&fleet, i, ".ferry/artifacts/r4.artifact")),
            sha256_hex(&tars[3])
        );
        // The previous release is still a working rollback target.
        assert_eq!(
            std::fs::read_to_string(on_host(&fleet, i, "releases/r3/index.html")).unwrap(),
            page("r3")
        );
    }
    project
        .rollback()
        .stderr_has("  h2: rolled back to r3 from r4")
        .run();
}

/// Everything a skipped deploy must leave alone, on one host.
#[derive(Debug, PartialEq)]
struct Snapshot {
    history: String,
    current_target: String,
    current_ino: u64,
    current_mtime: (i64, i64),
    current_ctime: (i64, i64),
    releases: BTreeSet<String>,
    artifacts: BTreeSet<String>,
    meta: String,
    top: BTreeSet<String>,
}

fn snapshot(fleet: &Fleet, i: usize, release: &str) -> Snapshot {
    let link = std::fs::symlink_metadata(on_host(fleet, i, "current")).unwrap();
    Snapshot {
        history: history_text(fleet, i),
        current_target: current(fleet, i),
        current_ino: link.ino(),
        current_mtime: (link.mtime(), link.mtime_nsec()),
        current_ctime: (link.ctime(), link.ctime_nsec()),
        releases: names_in(fleet, i, "releases"),
        artifacts: names_in(fleet, i, ".ferry/artifacts"),
        meta: std::fs::read_to_string(on_host(
            fleet,
            i,
            &format!("releases/{release}/.ferry-release.json"),
        ))
        .unwrap(),
        top: names_in(fleet, i, ""),
    }
}

#[test]
fn deploying_the_same_release_again_skips_every_host_and_changes_nothing() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "");
    let tar = project.release_tarball("shop-1.4");
    // No --release: the id is the artifact's stem and 8 hex of its sha256.
    let id = format!("shop-1.4-{}", &sha256_hex(&tar)[..8]);
    let tar_arg = tar.to_str().unwrap();
    project
        .ferry(&["deploy", "test", "--artifact", tar_arg])
        .stderr_has(format!("release {id}: done 3  skipped 0  failed 0"))
        .run();
    let before: Vec<Snapshot> = (0..3).map(|i| snapshot(&fleet, i, &id)).collect();
    assert_eq!(before[0].current_target, format!("releases/{id}"));

    // Make any rewrite of `current` visible in its mtime.
    std::thread::sleep(Duration::from_millis(50));
    let again = project
        .ferry(["deploy", "test", "--artifact", tar_arg])
        .stderr_has(format!(
            "release {id}: done 0  skipped 3  failed 0  unreachable 0"
        ));
    fleet
        .hosts()
        .iter()
        .fold(again, |again, host| {
            again.stderr_has(format!("  {}: skipped: already on {id}", host.name))
        })
        .run();
    // The same, with the id given explicitly.
    project
        .deploy(&tar, &id)
        .stderr_has("done 0  skipped 3  failed 0")
        .run();
    let after: Vec<Snapshot> = (0..3).map(|i| snapshot(&fleet, i, &id)).collect();
    assert_eq!(before, after);
}

#[test]
fn current_never_dangles_while_releases_switch_back_and_forth() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let ids = ["r1", "r2"];
    let tars: Vec<PathBuf> = ids.iter().map(|id| project.release_tarball(id)).collect();
    project.deploy(&tars[0], "r1").run();

    let link = on_host(&fleet, 0, "current");
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let link = link.clone();
        std::thread::spawn(move || {
            let base = link.parent().unwrap().to_path_buf();
            // Per reading: the release `current` served; problems are described in `bad`.
            let mut readings: Vec<&str> = Vec::new();
            let mut bad: Vec<String> = Vec::new();
            let mut raced = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let target = match std::fs::read_link(&link) {
                    Ok(t) => t.to_string_lossy().into_owned(),
                    Err(e) => {
                        bad.push(format!("readlink: {e}"));
                        continue;
                    }
                };
                let which = match target.as_str() {
                    "releases/r1" => "r1",
                    "releases/r2" => "r2",
                    other => {
                        bad.push(format!("current -> {other:?}"));
                        continue;
                    }
                };
                let index = base.join(&target).join("index.html");
                if !index.is_file() {
                    // Dangling only if `current` still points there; a link
                    // that moved on meanwhile was just a stale reading.
                    match std::fs::read_link(&link) {
                        Ok(t) if t.to_string_lossy() == target => {
                            bad.push(format!("current -> {target} has no index.html"));
                        }
                        _ => raced += 1,
                    }
                    continue;
                }
                // Through the link, as a web server would read it.
                match std::fs::read_to_string(base.join("current/index.html")) {
                    Ok(text) if text == page("r1") || text == page("r2") => {}
                    Ok(text) => bad.push(format!("current/index.html = {text:?}")),
                    Err(e) => bad.push(format!("read current/index.html: {e}")),
                }
                readings.push(which);
            }
            (readings, bad, raced)
        })
    };

    let started = Instant::now();
    let rounds = 6;
    for n in 0..rounds {
        let id = ids[(n + 1) % 2];
        project
            .deploy(&tars[(n + 1) % 2], id)
            .stderr_has(format!("release {id}: done 2  skipped 0"))
            .run();
        assert_eq!(current(&fleet, 0), format!("releases/{id}"));
    }
    let deploy_time = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (readings, bad, raced) = reader.join().unwrap();
    let seen_r1 = readings.iter().filter(|&&r| r == "r1").count();
    let seen_r2 = readings.iter().filter(|&&r| r == "r2").count();
    eprintln!(
        "atomic switch: {} readings in {deploy_time:?} ({seen_r1} r1, {seen_r2} r2, {raced} stale), {rounds} deploys",
        readings.len()
    );
    assert!(
        bad.is_empty(),
        "{} bad readings: {:?}",
        bad.len(),
        &bad[..bad.len().min(20)]
    );
    assert!(readings.len() >= 500, "only {} readings", readings.len());
    assert!(seen_r1 > 0 && seen_r2 > 0, "r1 {seen_r1}, r2 {seen_r2}");
    // The reader saw the switches happen, not only one state.
    let switches = readings.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches >= 2, "{switches} switches seen");
}

#[test]
fn a_corrupted_upload_fails_that_host_only_and_leaves_it_on_its_release() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    let r2 = project.release_tarball("r2");
    project.deploy(&r1, "r1").run();

    project
        .deploy(&r2, "r2")
        // One failing host is tolerated, so the others complete.
        .args(["--max-failures", "1"])
        .env("FERRY_TEST_CORRUPT_UPLOAD", "h2")
        .code(1)
        .stderr_has("release r2: done 2  skipped 0  failed 1  unreachable 0")
        .stderr_has("  h2: FAILED, current: r1")
        // The switch went in the same script: the failure is still the receive's.
        .stderr_has("task `receive artifact` failed on h2")
        .stderr_has(format!(
            "checksum mismatch: expected sha256 {}",
            sha256_hex(&r2)
        ))
        .stderr_has("  h1: deployed r2 (was r1)")
        .stderr_has("  h3: deployed r2 (was r1)")
        .run();

    assert_eq!(current(&fleet, 0), "releases/r2");
    assert_eq!(current(&fleet, 2), "releases/r2");
    assert_eq!(current(&fleet, 1), "releases/r1");
    assert_eq!(
        std::fs::read_to_string(on_host(&fleet, 1, "current/index.html")).unwrap(),
        page("r1")
    );
    // Nothing half-made left behind on h2.
    assert_eq!(names_in(&fleet, 1, "releases"), set(&["r1"]));
    assert_eq!(
        names_in(&fleet, 1, ".ferry/artifacts"),
        set(&["r1.artifact"])
    );
    let top = names_in(&fleet, 1, "");
    assert!(
        !top.iter().any(|n| n.starts_with(".current")),
        "temporary link left: {top:?}"
    );
    let last = history(&fleet, 1).pop().unwrap();
    assert_eq!(last["event"], "failed", "{last}");
    assert_eq!(last["release"], "r2", "{last}");
    assert_eq!(last["previous"], "r1", "{last}");
    assert_eq!(last["outcome"], "failed", "{last}");

    // A failed release is not a rollback target; status shows the drift.
    let json = project.status().args(["--output", "json"]).run().json();
    assert_eq!(
        json["summary"]["releases"]["r2"],
        serde_json::json!(["h1", "h3"])
    );
    assert_eq!(json["summary"]["releases"]["r1"], serde_json::json!(["h2"]));

    // The same deploy without the corruption completes h2 and skips the others.
    project
        .deploy(&r2, "r2")
        .stderr_has("release r2: done 1  skipped 2  failed 0")
        .run();
    assert_eq!(current(&fleet, 1), "releases/r2");
}

#[test]
fn a_full_disk_fails_that_host_and_keeps_its_current_release() {
    let fleet = Fleet::start(3);
    if !fleet.is_isolated() {
        eprintln!("skipped: needs root (a tmpfs mounted in one host's mount namespace)");
        return;
    }
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    project.deploy(&r1, "r1").run();

    // h2's /srv becomes a 1 MiB tmpfs holding a copy of its deploy_to.
    shell_ok(
        &fleet,
        1,
        "set -e; tmp=$(mktemp -d); cp -a /srv/app \"$tmp\"/app; \
         mount -t tmpfs -o size=1m tmpfs /srv; cp -a \"$tmp\"/app /srv/app; rm -rf \"$tmp\"",
    );
    assert_eq!(
        shell_ok(
            &fleet,
            1,
            "readlink /srv/app/current && cat /srv/app/current/index.html"
        ),
        format!("releases/r1\n{}", page("r1"))
    );

    // ~2 MiB that gzip cannot shrink.
    let mut noise = vec![0u8; 2 << 20];
    let mut urandom = std::fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut urandom, &mut noise).unwrap();
    let r2 = project.tarball(
        "r2",
        &[("index.html", page("r2").as_bytes()), ("noise.bin", &noise)],
    );
    assert!(std::fs::metadata(&r2).unwrap().len() > 2_000_000);

    project
        .deploy(&r2, "r2")
        .args(["--max-failures", "1"])
        .code(1)
        .stderr_has("release r2: done 2  skipped 0  failed 1  unreachable 0")
        .stderr_has("  h2: FAILED, current: r1")
        .stderr_has("No space left on device")
        .run();
    assert_eq!(
        shell_ok(
            &fleet,
            1,
            "readlink /srv/app/current && cat /srv/app/current/index.html"
        ),
        format!("releases/r1\n{}", page("r1"))
    );
    // Nothing partial kept on the full disk.
    assert_eq!(
        shell_ok(
            &fleet,
            1,
            "ls -A /srv/app/releases; ls -A /srv/app/.ferry/artifacts"
        ),
        "r1\nr1.artifact\n"
    );
    for i in [0, 2] {
        assert_eq!(current(&fleet, i), "releases/r2");
        assert_eq!(
            std::fs::read_to_string(on_host(&fleet, i, "current/index.html")).unwrap(),
            page("r2")
        );
    }
}

#[test]
fn an_unsafe_release_id_is_refused_before_anything_connects() {
    let fleet = Fleet::start(1);
    // Were ferry to connect, the host would be unreachable (exit 1, not 2).
    fleet.stop_host(0);
    let project = Project::new(&fleet, "");
    let tar = project.release_tarball("r1");
    for bad in ["../x", "a/b", "..", "/etc", "../../../../tmp/evil"] {
        // The whole message: nothing connected, nothing was deployed.
        let refused = format!(
            "error: invalid release id `{bad}`: use 1 to 64 of A-Z a-z 0-9 . _ - , not starting with `.`\n"
        );
        project.deploy(&tar, bad).code(2).stderr(&refused).run();
        project
            .rollback()
            .args(["--to", bad])
            .code(2)
            .stderr(&refused)
            .run();
    }
    let deploy_to = on_host(&fleet, 0, "");
    assert!(!deploy_to.exists(), "{} was created", deploy_to.display());
}

#[test]
fn a_rollback_with_no_previous_release_fails_every_host_and_changes_nothing() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    project.deploy(&r1, "r1").run();
    let before: Vec<Snapshot> = (0..3).map(|i| snapshot(&fleet, i, "r1")).collect();

    let run = fleet.hosts().iter().fold(
        project
            .rollback()
            .code(1)
            .stderr_has("rollback: done 0  skipped 0  failed 3  unreachable 0"),
        |run, host| {
            run.stderr_has(format!(
                "  {}: FAILED, current: r1\n    task `rollback` failed on {}: no previous release to roll back to",
                host.name, host.name
            ))
        },
    );
    let run = run.run();
    assert_eq!(
        run.stderr
            .matches("no previous release to roll back to (current: r1)")
            .count(),
        3,
        "{}",
        run.stderr
    );
    let after: Vec<Snapshot> = (0..3).map(|i| snapshot(&fleet, i, "r1")).collect();
    assert_eq!(before, after);
}

/// Serve `body` over HTTP/1.0 on 127.0.0.1 to whoever asks, until dropped.
struct ArtifactServer {
    url: String,
    stop: Arc<AtomicBool>,
}

impl ArtifactServer {
    fn start(body: Vec<u8>, name: &str) -> ArtifactServer {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/{name}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 2 {
                    line.clear();
                }
                let mut stream = stream;
                let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        ArtifactServer { url, stop }
    }
}

impl Drop for ArtifactServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn hosts_fetch_an_artifact_url_themselves_and_verify_it() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let artifact = project.release_tarball("u1");
    let sha = sha256_hex(&artifact);
    let server = ArtifactServer::start(std::fs::read(&artifact).unwrap(), "shop-u1.tar.gz");
    let url = server.url.clone();
    project
        .ferry(&["deploy", "test", "--artifact-url", &url, "--sha256", &sha])
        .stderr_has(format!("deployed shop-u1-{}", &sha[..8]))
        .run();
    for i in 0..2 {
        assert_eq!(
            current(&fleet, i),
            format!("releases/shop-u1-{}", &sha[..8])
        );
    }
    // A wrong checksum fails every host and leaves `current` alone.
    let wrong = "0".repeat(64);
    project
        .ferry(&[
            "deploy",
            "test",
            "--artifact-url",
            &url,
            "--sha256",
            &wrong,
            "--release",
            "u2",
        ])
        .code(1)
        .stderr_has("checksum mismatch")
        .run();
    assert_eq!(
        current(&fleet, 0),
        format!("releases/shop-u1-{}", &sha[..8])
    );
}

/// Issue 12, item 4: what a killed run left (a `.partial` artifact, a
/// temporary release folder, the new `current` link of a switch killed
/// before its rename), older than the next run's start, is removed
/// by that run on every host it deploys to.
#[test]
fn a_deploy_removes_stale_partial_and_temporary_folders() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    project.deploy(&r1, "r1").run();
    let left = [
        ".ferry/artifacts/.x.t.partial",
        "releases/.r9.t.tmp",
        ".current.20261201T000000Z-dead1",
    ];
    for i in 0..2 {
        let partial = on_host(&fleet, i, left[0]);
        std::fs::write(&partial, "half an upload").unwrap();
        let tmp = on_host(&fleet, i, left[1]);
        std::fs::create_dir_all(tmp.join("app")).unwrap();
        let link = on_host(&fleet, i, left[2]);
        std::os::unix::fs::symlink("releases/r1", &link).unwrap();
        let status = std::process::Command::new("touch")
            .args(["-h", "-d", "1 hour ago"])
            .arg(&partial)
            .arg(&tmp)
            .arg(&link)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let r2 = project.release_tarball("r2");
    project.deploy(&r2, "r2").run();
    for i in 0..2 {
        assert_eq!(current(&fleet, i), "releases/r2");
        for rel in left {
            let path = on_host(&fleet, i, rel);
            assert!(
                std::fs::symlink_metadata(path).is_err(),
                "h{}: {rel} left",
                i + 1
            );
        }
        assert_eq!(names_in(&fleet, i, "releases"), set(&["r1", "r2"]));
    }
}
