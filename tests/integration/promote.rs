//! `ferry promote`: exactly what runs healthy in staging goes to production.

use crate::support::ferry::Ferry;
use crate::support::fleet::Fleet;
use crate::support::host::{on_host, sha256_hex};
use crate::support::project::Project;

const PLAYBOOK: &str = "health:\n  - { name: page, command: 'grep -q ok {{ deploy_to }}/current/index.html', retries: 0 }\n";

struct Envs {
    staging: Fleet,
    production: Fleet,
    project: Project,
    cache: tempfile::TempDir,
}

fn envs() -> Envs {
    let staging = Fleet::start(2);
    let production = Fleet::start(3);
    let project = Project::empty();
    project.write("inventories/staging.yml", &staging.inventory_yaml(""));
    project.write("inventories/production.yml", &production.inventory_yaml(""));
    project.write("playbooks/deploy.yml", PLAYBOOK);
    let cache = tempfile::tempdir().unwrap();
    Envs {
        staging,
        production,
        project,
        cache,
    }
}

impl Envs {
    /// `ferry ARGS` with this rig's artifact cache.
    fn ferry(&self, args: &[&str]) -> Ferry<'_> {
        self.project
            .ferry(args)
            .env("FERRY_CACHE", self.cache.path())
    }

    /// `ferry deploy staging --artifact ID.tar.gz`, a release whose
    /// `index.html` is `page`.
    fn deploy_staging(&self, id: &str, page: &str) -> Ferry<'_> {
        let artifact = self.project.tarball(id, &[("index.html", page.as_bytes())]);
        self.ferry(&["deploy", "staging", "--artifact"])
            .arg(artifact)
    }

    /// The release id ferry gives `name.tar.gz`: its stem and 8 hex of its sha256.
    fn id(&self, name: &str) -> String {
        let sha = sha256_hex(&self.project.path().join(format!("{name}.tar.gz")));
        format!("{name}-{}", &sha[..8])
    }

    /// `ferry promote staging production`.
    fn promote(&self) -> Ferry<'_> {
        self.ferry(&["promote", "staging", "production"])
    }
}

fn meta(fleet: &Fleet, i: usize) -> serde_json::Value {
    let text = std::fs::read_to_string(on_host(fleet, i, "current/.ferry-release.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn promote_ships_the_exact_staging_release_with_an_empty_cache() {
    let e = envs();
    e.deploy_staging("app", "ok v1\n").run();
    // The controller forgets the artifact: it must come from a staging host.
    std::fs::remove_file(e.project.path().join("app.tar.gz")).unwrap();
    e.promote()
        .stderr_has("fetching the artifact from h1")
        .stderr_has("done 3")
        .run();
    let source = meta(&e.staging, 0);
    for i in 0..3 {
        let m = meta(&e.production, i);
        assert_eq!(m["id"], source["id"]);
        assert_eq!(m["sha256"], source["sha256"]);
        assert_eq!(m["source_env"], "staging");
    }
    // A second promote finds it cached, and every host already there.
    e.promote()
        .stderr_has("artifact from the cache")
        .stderr_has("skipped 3")
        .run();
}

#[test]
fn promote_refuses_an_unhealthy_or_mixed_staging() {
    let e = envs();
    // A first release whose health check fails has nothing to go back to.
    e.deploy_staging("bad", "fail\n")
        .args(["--max-failures", "100%"])
        .code(3)
        .run();
    e.promote()
        .code(6)
        .stderr(format!(
            "error: refused: {} is not healthy in staging: h1 (last health check failed), h2 (last health check failed)\n",
            e.id("bad")
        )).run();
    e.deploy_staging("good", "ok v1\n").run();
    e.deploy_staging("other", "ok v2\n")
        .args(["--limit", "h2"])
        .run();
    e.promote()
        .code(6)
        .stderr(format!(
            "error: refused: staging is mixed: most hosts run {}, but h2 on {} (sha256 {})\n",
            e.id("good"),
            e.id("other"),
            &sha256_hex(&e.project.path().join("other.tar.gz"))[..12]
        ))
        .run();
    for i in 0..3 {
        assert!(!on_host(&e.production, i, "current").exists());
    }
}

#[test]
fn promote_refuses_a_release_that_has_not_soaked_long_enough() {
    let e = envs();
    e.project.write(
        "inventories/production.yml",
        &e.production.inventory_yaml("min_soak: 1h\n"),
    );
    e.deploy_staging("fresh", "ok v1\n").run();
    e.promote()
        .code(6)
        .stderr_has("less than min_soak 3600s of production")
        .run();
}

/// Rewrite the sha256 in a staging host's `.ferry-release.json`.
fn set_meta_sha(fleet: &Fleet, i: usize, sha: &str) {
    let path = on_host(fleet, i, "current/.ferry-release.json");
    let mut m = meta(fleet, i);
    m["sha256"] = sha.into();
    std::fs::write(path, format!("{m}\n")).unwrap();
}

#[test]
fn promote_refuses_a_source_sha256_that_is_not_64_hex_and_keeps_its_cache_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let e = envs();
    e.deploy_staging("app", "ok v1\n").run();
    let good = meta(&e.staging, 0)["sha256"].as_str().unwrap().to_string();
    // Too short: the controller used to panic slicing it (exit 101).
    set_meta_sha(&e.staging, 0, "abc");
    e.promote()
        .code(6)
        .stderr(format!(
            "error: refused: staging cannot be read whole: h1: release {} has no readable .ferry-release.json\n",
            e.id("app")
        ))
        .run();
    // A path: it used to name a file outside the cache.
    let escape = e.cache.path().join("escaped");
    let traversal = format!("/../../../../../..{}", escape.display());
    set_meta_sha(&e.staging, 0, &traversal);
    set_meta_sha(&e.staging, 1, &traversal);
    e.promote().code(6).run();
    let outside: Vec<_> = std::fs::read_dir(e.cache.path())
        .unwrap()
        .map(|f| f.unwrap().file_name())
        .collect();
    assert!(outside.is_empty(), "files beside the cache: {outside:?}");
    // Restored: the cache it creates is private.
    set_meta_sha(&e.staging, 0, &good);
    set_meta_sha(&e.staging, 1, &good);
    let cache = e.cache.path().join("artifacts");
    e.promote().env("FERRY_CACHE", &cache).run();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    let files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    assert_eq!(files, [cache.join(format!("{good}.artifact"))]);
    assert_eq!(mode(&files[0]), 0o600);
}

/// The health events recorded on staging host `i`, oldest first, as outcomes.
fn health_outcomes(e: &Envs, i: usize) -> Vec<String> {
    let text = std::fs::read_to_string(on_host(&e.staging, i, ".ferry/history.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "health")
        .map(|v| v["outcome"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn verify_records_each_hosts_health_and_promote_follows_the_newest_result() {
    let e = envs();
    e.deploy_staging("good", "ok v1\n").run();
    let good = e.id("good");
    e.ferry(&["verify", "staging"])
        .stderr_has(format!("h1: healthy on {good}"))
        .stderr_has("verify: 2 healthy, 0 not healthy, of 2 hosts")
        .run();
    assert_eq!(health_outcomes(&e, 0), ["ok", "ok"]);
    // h2's page breaks after its deploy: verify fails (exit 1) and records it.
    std::fs::write(on_host(&e.staging, 1, "current/index.html"), "fail\n").unwrap();
    e.ferry(&["verify", "staging"])
        .code(1)
        .stderr_has(format!("h2: UNHEALTHY on {good}"))
        .stderr_has("verify: 1 healthy, 1 not healthy, of 2 hosts")
        .run();
    assert_eq!(health_outcomes(&e, 1), ["ok", "ok", "failed"]);
    assert_eq!(health_outcomes(&e, 0), ["ok", "ok", "ok"]);
    let status = e.ferry(&["status", "staging", "--output", "json"]).run();
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["hosts"][0]["health"], "ok");
    assert_eq!(json["hosts"][1]["health"], "failed");
    e.promote()
        .code(6)
        .stderr_has("h2 (last health check failed)")
        .run();
    assert!(!on_host(&e.production, 0, "current").exists());
    // Repaired and verified again: the gate opens.
    std::fs::write(on_host(&e.staging, 1, "current/index.html"), "ok v1\n").unwrap();
    e.ferry(&["verify", "staging"]).run();
    e.promote().stderr_has("done 3").run();
}

#[test]
fn verify_without_health_checks_or_deployed_release_says_so() {
    let e = envs();
    e.project.write("playbooks/bare.yml", "vars: { a: 1 }\n");
    e.ferry(&["verify", "staging", "bare"])
        .code(2)
        .stderr_has("has no `health:` checks: nothing to verify")
        .run();
    e.ferry(&["verify", "staging"])
        .code(1)
        .stderr_has("h1: failed: nothing deployed")
        .run();
    assert!(!on_host(&e.staging, 0, ".ferry/history.jsonl").exists());
}

/// Promote names every problem of the source at once, each kind on its
/// line with its hosts: mixed releases, unhealthy hosts and unreachable
/// ones (it used to stop at the first kind found).
#[test]
fn promote_lists_every_problem_at_once() {
    let staging = Fleet::start(4);
    let production = Fleet::start(1);
    let project = Project::empty();
    project.write("inventories/staging.yml", &staging.inventory_yaml(""));
    project.write("inventories/production.yml", &production.inventory_yaml(""));
    project.write("playbooks/deploy.yml", PLAYBOOK);
    let cache = tempfile::tempdir().unwrap();
    let ferry = |args: &[&str]| project.ferry(args).env("FERRY_CACHE", cache.path());
    let bad = project.tarball("bad", &[("index.html", b"fail\n")]);
    ferry(&["deploy", "staging", "--max-failures", "100%", "--artifact"])
        .arg(&bad)
        .code(3)
        .run();
    let other = project.tarball("other", &[("index.html", b"ok v2\n")]);
    ferry(&["deploy", "staging", "--limit", "h4", "--artifact"])
        .arg(&other)
        .run();
    staging.stop_host(2);
    let id = |name: &str| {
        let sha = sha256_hex(&project.path().join(format!("{name}.tar.gz")));
        (format!("{name}-{}", &sha[..8]), sha)
    };
    let ((bad, _), (other, other_sha)) = (id("bad"), id("other"));
    ferry(&["promote", "staging", "production"])
        .code(6)
        .stderr_has("error: refused: staging cannot be promoted (3 problems):\n")
        .stderr_has(format!(
            "\n  staging is mixed: most hosts run {bad}, but h4 on {other} (sha256 {})\n",
            &other_sha[..12]
        ))
        .stderr_has(format!(
            "\n  {bad} is not healthy in staging: h1 (last health check failed), h2 (last health check failed)\n"
        ))
        .stderr_has("\n  staging has unreachable hosts: h3 (")
        .run();
    assert!(!on_host(&production, 0, "current").exists());
}

/// Promote lineage: `status` and `history` of the target name the source
/// environment and the run that deployed the release there, as the
/// release's `.ferry-release.json` records them.
#[test]
fn status_and_history_show_where_a_promoted_release_came_from() {
    let e = envs();
    e.deploy_staging("app", "ok v1\n").run();
    let events = e.promote().args(["--output", "json"]).run().json_lines();
    let source_run = meta(&e.staging, 0)["run_id"].as_str().unwrap().to_string();
    assert_eq!(events[0]["event"], "run_started");
    assert_eq!(events[0]["source_env"], "staging");
    assert_eq!(events[0]["source_run"], source_run.as_str());
    let said = format!("promoted from staging (run {source_run})");
    for i in 0..3 {
        assert_eq!(meta(&e.production, i)["source_run"], source_run.as_str());
    }
    let json = e
        .ferry(&["status", "production", "--output", "json"])
        .run()
        .json();
    for host in json["hosts"].as_array().unwrap() {
        assert_eq!(host["source_env"], "staging", "{host}");
        assert_eq!(host["source_run"], source_run.as_str(), "{host}");
    }
    e.ferry(&["status", "production"]).stdout_has(&said).run();
    let history = e.ferry(&["history", "production"]).run();
    let switched: Vec<&str> = history
        .stdout
        .lines()
        .filter(|l| l.contains(" switched "))
        .collect();
    assert_eq!(switched.len(), 3, "{}", history.stdout);
    assert!(
        switched.iter().all(|l| l.contains(&said)),
        "{}",
        history.stdout
    );
    // The staging deploy itself was promoted from nowhere.
    let staging = e.ferry(&["history", "staging"]).run();
    assert!(
        !staging.stdout.contains("promoted from"),
        "{}",
        staging.stdout
    );
}
