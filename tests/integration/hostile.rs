//! Hosts that send too much or odd data: ferry stays bounded, reads its own
//! status lines whatever follows them, and a crashed host task is a failed
//! host. Files ferry writes on hosts are private until installed.

use std::io::Write as _;

use crate::support::fleet::Fleet;
use crate::support::host::{current, on_host};
use crate::support::project::Project;

#[test]
fn a_large_history_neither_hides_the_current_release_nor_leaks_the_lock() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    let r2 = project.release_tarball("r2");
    project.deploy(&r1, "r1").run();
    // 600 lines of 600 bytes and one of 300,000: more than the 256 KiB of
    // output that used to be kept, so ferry's own lines were pushed out.
    let mut history = std::fs::OpenOptions::new()
        .append(true)
        .open(on_host(&fleet, 1, ".ferry/history.jsonl"))
        .unwrap();
    for _ in 0..600 {
        writeln!(history, "{}", "x".repeat(599)).unwrap();
    }
    writeln!(history, "{}", "y".repeat(300_000)).unwrap();
    drop(history);
    let json = project.status().args(["--output", "json"]).run().json();
    for h in json["hosts"].as_array().unwrap() {
        assert_eq!(h["current"], "r1", "{h}");
    }
    project
        .deploy(&r2, "r2")
        .stderr_has("release r2: done 2")
        .run();
    for i in 0..2 {
        assert_eq!(current(&fleet, i), "releases/r2");
        assert!(
            !on_host(&fleet, i, ".ferry/lock").exists(),
            "h{} still locked",
            i + 1
        );
    }
}

#[test]
fn a_host_task_that_panics_is_a_failed_host() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    project
        .run_cmd("true")
        .env("FERRY_TEST_PANIC_HOST", "h2")
        .failure()
        .stderr_has("ok: 1  failed: 1  unreachable: 0")
        .stderr_has("internal error: the host's task crashed")
        .run();
    // In a deploy it used to vanish from the summary, with exit 0, after
    // its switch.
    project.write(
        "playbooks/deploy.yml",
        "after_switch:\n  - { name: restart, run: 'true' }\n",
    );
    project
        .deploy(project.release_tarball("r1"), "r1")
        .env("FERRY_TEST_PANIC_HOST", "h2")
        .failure()
        .stderr_has("rollout stopped: 1 host(s) failed, more than max_failures 0 (batch 1: h2)")
        .run();
}

#[test]
fn an_upload_is_private_from_its_first_byte_until_it_gets_its_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::{Duration, Instant};
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let secret = "s3cret\n".repeat(30_000);
    project.write("playbooks/files/secret.env", &secret);
    project.write(
        "playbooks/site.yml",
        "tasks:\n\
         \x20 - name: prepare\n    run: mkdir -p {{ deploy_to }}\n\
         \x20 - name: secret\n    upload: { src: files/secret.env, dest: '{{ deploy_to }}/secret.env', mode: '0640' }\n\
         \x20 - name: plain\n    upload: { src: files/secret.env, dest: '{{ deploy_to }}/plain.env' }\n",
    );
    let flag = project.path().join("go-on");
    // Killed if an assertion fails: it must not wait for the flag forever.
    let ferry = project
        .ferry(["run", "test"])
        .env("FERRY_TEST_HOLD_UPLOAD", &flag)
        .spawn();
    let dir = on_host(&fleet, 0, "");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    // The written file, held before its install.
    let deadline = Instant::now() + Duration::from_secs(60);
    let tmp = loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().contains(".ferry-tmp-"))
        });
        if let Some(tmp) = found {
            assert_eq!(mode(&tmp), 0o600, "{} while written", tmp.display());
            if std::fs::metadata(&tmp).unwrap().len() == secret.len() as u64 {
                break tmp;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no upload was held in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(mode(&tmp), 0o600);
    std::fs::write(&flag, "").unwrap();
    ferry.finish();
    assert_eq!(mode(&dir.join("secret.env")), 0o640);
    // No mode given: the host's default for new files, as before.
    assert_eq!(mode(&dir.join("plain.env")), 0o644);
    assert_eq!(
        std::fs::read_to_string(dir.join("secret.env")).unwrap(),
        secret
    );
}

#[test]
fn one_endless_line_is_cut_with_a_marker_on_hosts_and_on_the_controller() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let endless = "head -c 5000000 /dev/zero | tr '\\\\0' x; echo; echo done";
    project.write(
        "playbooks/site.yml",
        &format!(
            "tasks:\n  - {{ name: remote, run: \"{endless}\" }}\n  - {{ name: local, local: \"{endless}\" }}\n"
        ),
    );
    let run = project.ferry(["run", "test"]).run();
    let cut: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.ends_with(" [line cut by ferry]"))
        .collect();
    assert_eq!(cut.len(), 2, "{}", &run.stdout[..run.stdout.len().min(300)]);
    assert!(cut.iter().all(|l| l.len() < 70 * 1024));
    assert_eq!(run.stdout.matches("| done").count(), 2);
    assert!(
        run.stdout.len() < 200 * 1024,
        "{} bytes printed",
        run.stdout.len()
    );
}
