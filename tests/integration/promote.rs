//! `ferry promote`: exactly what runs healthy in staging goes to production.

use std::path::PathBuf;

use crate::support::fleet::Fleet;
use crate::support::project::{Project, Run};

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

fn tarball(project: &Project, id: &str, page: &str) -> PathBuf {
    project.tarball(id, &[("index.html", page.as_bytes())])
}

fn ferry(e: &Envs, args: &[&str]) -> Run {
    let cache = e.cache.path().to_str().unwrap();
    e.project.ferry_env(args, &[("FERRY_CACHE", cache)])
}

fn meta(fleet: &Fleet, i: usize) -> serde_json::Value {
    let h = &fleet.hosts()[i];
    let text = std::fs::read_to_string(
        fleet.on_host(i, &format!("{}/current/.ferry-release.json", h.deploy_to)),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn promote_ships_the_exact_staging_release_with_an_empty_cache() {
    let e = envs();
    let artifact = tarball(&e.project, "app", "ok v1\n");
    ferry(
        &e,
        &[
            "deploy",
            "staging",
            "--artifact",
            artifact.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    // The controller forgets the artifact: it must come from a staging host.
    std::fs::remove_file(&artifact).unwrap();
    ferry(&e, &["promote", "staging", "production"])
        .expect_code(0)
        .stderr_has("fetching the artifact from h1")
        .stderr_has("done 3");
    let source = meta(&e.staging, 0);
    for i in 0..3 {
        let m = meta(&e.production, i);
        assert_eq!(m["id"], source["id"]);
        assert_eq!(m["sha256"], source["sha256"]);
        assert_eq!(m["source_env"], "staging");
    }
    // A second promote finds it cached, and every host already there.
    ferry(&e, &["promote", "staging", "production"])
        .expect_code(0)
        .stderr_has("artifact from the cache")
        .stderr_has("skipped 3");
}

#[test]
fn promote_refuses_an_unhealthy_or_mixed_staging() {
    let e = envs();
    // A first release whose health check fails has nothing to go back to.
    let bad = tarball(&e.project, "bad", "fail\n");
    ferry(
        &e,
        &[
            "deploy",
            "staging",
            "--artifact",
            bad.to_str().unwrap(),
            "--max-failures",
            "100%",
        ],
    )
    .expect_code(3);
    ferry(&e, &["promote", "staging", "production"])
        .expect_code(6)
        .stderr_has("is not healthy in staging: h1 (last health check failed), h2 (last health check failed)");
    let good = tarball(&e.project, "good", "ok v1\n");
    let other = tarball(&e.project, "other", "ok v2\n");
    ferry(
        &e,
        &["deploy", "staging", "--artifact", good.to_str().unwrap()],
    )
    .expect_code(0);
    ferry(
        &e,
        &[
            "deploy",
            "staging",
            "--artifact",
            other.to_str().unwrap(),
            "--limit",
            "h2",
        ],
    )
    .expect_code(0);
    ferry(&e, &["promote", "staging", "production"])
        .expect_code(6)
        .stderr_has("staging is mixed: most hosts run")
        .stderr_has("h2 on other-");
    for i in 0..3 {
        let h = &e.production.hosts()[i];
        assert!(!e
            .production
            .on_host(i, &format!("{}/current", h.deploy_to))
            .exists());
    }
}

#[test]
fn promote_refuses_a_release_that_has_not_soaked_long_enough() {
    let e = envs();
    e.project.write(
        "inventories/production.yml",
        &e.production.inventory_yaml("min_soak: 1h\n"),
    );
    let artifact = tarball(&e.project, "fresh", "ok v1\n");
    ferry(
        &e,
        &[
            "deploy",
            "staging",
            "--artifact",
            artifact.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    ferry(&e, &["promote", "staging", "production"])
        .expect_code(6)
        .stderr_has("less than min_soak 3600s of production");
}

/// Rewrite the sha256 in a staging host's `.ferry-release.json`.
fn set_meta_sha(fleet: &Fleet, i: usize, sha: &str) {
    let h = &fleet.hosts()[i];
    let path = fleet.on_host(i, &format!("{}/current/.ferry-release.json", h.deploy_to));
    let mut m = meta(fleet, i);
    m["sha256"] = sha.into();
    std::fs::write(path, format!("{m}\n")).unwrap();
}

#[test]
fn promote_refuses_a_source_sha256_that_is_not_64_hex_and_keeps_its_cache_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let e = envs();
    let artifact = tarball(&e.project, "app", "ok v1\n");
    ferry(
        &e,
        &[
            "deploy",
            "staging",
            "--artifact",
            artifact.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let good = meta(&e.staging, 0)["sha256"].as_str().unwrap().to_string();
    // Too short: the controller used to panic slicing it (exit 101).
    set_meta_sha(&e.staging, 0, "abc");
    ferry(&e, &["promote", "staging", "production"])
        .expect_code(6)
        .stderr_has("h1: release app-")
        .stderr_has("has no readable .ferry-release.json");
    // A path: it used to name a file outside the cache.
    let escape = e.cache.path().join("escaped");
    let traversal = format!("/../../../../../..{}", escape.display());
    set_meta_sha(&e.staging, 0, &traversal);
    set_meta_sha(&e.staging, 1, &traversal);
    ferry(&e, &["promote", "staging", "production"]).expect_code(6);
    let outside: Vec<_> = std::fs::read_dir(e.cache.path())
        .unwrap()
        .map(|f| f.unwrap().file_name())
        .collect();
    assert!(outside.is_empty(), "files beside the cache: {outside:?}");
    // Restored: the cache it creates is private.
    set_meta_sha(&e.staging, 0, &good);
    set_meta_sha(&e.staging, 1, &good);
    let cache = e.cache.path().join("artifacts");
    e.project
        .ferry_env(
            &["promote", "staging", "production"],
            &[("FERRY_CACHE", cache.to_str().unwrap())],
        )
        .expect_code(0);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    let files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    assert_eq!(files, [cache.join(format!("{good}.artifact"))]);
    assert_eq!(mode(&files[0]), 0o600);
}
