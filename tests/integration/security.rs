//! Hostile input against real sshd: text from the environment is data, never
//! template code; secrets read through `env()` reach no file or report; text
//! from hosts reaches the terminal with its control characters escaped.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::ferry::Ferry;
use crate::support::fleet::Fleet;
use crate::support::host::on_host;
use crate::support::project::Project;

/// A CI variable an attacker controls (a branch name, a PR title): template
/// code that closes the shell quotes of `| quote` if it is rendered again.
fn hostile(command: &str) -> String {
    format!("{{{{ \"x'; {command}; echo '\" }}}}")
}

#[test]
fn text_from_env_is_never_run_as_template_code() {
    let fleet = Fleet::start(1);
    if !fleet.is_isolated() {
        eprintln!("skipped: needs root (each host's own /srv)");
        return;
    }
    let project = Project::new(
        &fleet,
        "vars:\n  branch: \"{{ env('CI_BRANCH') | quote }}\"\n  title: \"{{ env('CI_TITLE') | quote }}\"\n",
    );
    project.write(
        "playbooks/ci.yml",
        "tasks:\n  - name: show\n    run: echo branch={{ branch }}\n  - name: tell\n    local: echo title={{ title }}\n",
    );
    let local_marker = project.path().join("LOCAL_PWNED");
    let branch = hostile("touch /srv/PWNED");
    let title = hostile(&format!("touch {}", local_marker.display()));
    project
        .ferry(["run", "test", "ci"])
        .env("CI_BRANCH", &branch)
        .env("CI_TITLE", &title)
        // The host ran the branch name as code / the controller the title.
        .no_file(fleet.on_host(0, "/srv/PWNED"))
        .no_file(&local_marker)
        // The value itself arrives, as text (masked: it came through env()).
        .stdout_has("branch=****")
        .run();
}

#[test]
fn another_secret_cannot_be_read_past_the_mask() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "vars:\n  branch: \"{{ env('CI_BRANCH') }}\"\n");
    let run = project
        .run_cmd("echo branch={{ branch | quote }}")
        .env("CI_BRANCH", "{{ env('SECRET_KEY') | reverse }}")
        .env("SECRET_KEY", "AKIAEXAMPLESECRET")
        .run();
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains("TERCESELPMAXEAIKA"), "{all}");
    assert!(!all.contains("AKIAEXAMPLESECRET"), "{all}");
}

/// A password with every character that escaping changes.
const SECRET: &str = "pa\"ss\\wo'rd!99-s3cr3t";

/// The forms a secret takes in shell-quoted, JSON and XML text.
fn secret_forms() -> Vec<String> {
    let quoted_inner = SECRET.replace('\'', "'\\''").replace('!', "'\\!'");
    let json = |s: &str| {
        let q = serde_json::to_string(s).unwrap();
        q[1..q.len() - 1].to_string()
    };
    let xml = |s: &str| {
        s.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;")
            .replace('<', "&lt;")
    };
    vec![
        SECRET.to_string(),
        quoted_inner.clone(),
        json(SECRET),
        json(&quoted_inner),
        xml(SECRET),
        xml(&quoted_inner),
        // Any form keeps the tail.
        "s3cr3t".to_string(),
    ]
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    for form in secret_forms() {
        assert!(
            !text.contains(&form),
            "{what} holds the secret as {form:?}:\n{text}"
        );
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

const LEAKY_PLAYBOOK: &str = "\
after_switch:
  - name: connect
    run: \"printf 'connecting with %s\\\\n' {{ env('DB_PASSWORD') | quote }} >&2; exit 3 # {{ env('DB_PASSWORD') }}\"
    hosts: h1
health:
  - name: db
    command: \"test {{ env('DB_PASSWORD') | quote }} = nope # {{ env('DB_PASSWORD') }}\"
    retries: 0
";

/// `ferry deploy test PLAYBOOK` in batches of 2, with the secret in the
/// environment.
fn deploy<'p>(project: &'p Project, playbook: &str, artifact: &Path, release: &str) -> Ferry<'p> {
    project
        .ferry(["deploy", "test", playbook, "--artifact"])
        .arg(artifact)
        .args(["--release", release, "--batch", "2"])
        .env("DB_PASSWORD", SECRET)
}

#[test]
fn secrets_reach_no_file_report_or_history() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    project.write("playbooks/plain.yml", "tasks: []\n");
    project.write("playbooks/leaky.yml", LEAKY_PLAYBOOK);
    let r1 = project.tarball("r1", &[("index.html", b"r1\n")]);
    let r2 = project.tarball("r2", &[("index.html", b"r2\n")]);
    deploy(&project, "plain", &r1, "r1").run();

    let junit = project.path().join("junit.xml");
    // h1's after_switch and h2's health check failed; both are back on r1.
    let run = deploy(&project, "leaky", &r2, "r2")
        .arg("--report")
        .arg(&junit)
        .args(["--output", "json"])
        .code(1)
        .stderr_has("connecting with ****")
        .stderr_has("health check failed")
        .run();
    assert_no_secret("stdout", &run.stdout);
    assert_no_secret("stderr", &run.stderr);
    assert_no_secret("junit.xml", &std::fs::read_to_string(&junit).unwrap());

    let runs = project.path().join(".ferry/runs");
    let logs = files_under(&runs);
    assert!(
        logs.iter().any(|p| p.ends_with("journal.jsonl")),
        "{logs:?}"
    );
    for path in &logs {
        let text = std::fs::read_to_string(path).unwrap();
        assert_no_secret(&path.display().to_string(), &text);
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        let dir = path.parent().unwrap();
        let dir_mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700, "{}", dir.display());
    }
    assert!(
        logs.iter()
            .filter(|p| p.ends_with("journal.jsonl"))
            .any(|p| std::fs::read_to_string(p).unwrap().contains("****")),
        "the failure is journaled, masked"
    );

    for (i, h) in fleet.hosts().iter().enumerate() {
        let path = on_host(&fleet, i, ".ferry/history.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        if h.name == "h2" {
            // Both health checks (r2, then r1 on the way back) are recorded.
            assert!(text.contains("\"outcome\":\"failed\""), "{text}");
            assert!(text.contains("check `db`"), "{text}");
        }
        assert_no_secret(&format!("history of {}", h.name), &text);
    }

    // A later run does not know the secret: what the hosts hold is masked.
    for output in ["human", "json"] {
        let history = project
            .history()
            .args(["--output", output])
            .stdout_has("failed")
            .run();
        assert_no_secret("ferry history", &history.stdout);
        assert_no_secret("ferry history", &history.stderr);
    }
}

#[test]
fn a_top_level_error_masks_the_secret_it_names() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "vars:\n  x: \"{{ env(env('KEY_NAME')) }}\"\n");
    project
        .ferry(["check", "test"])
        .env("KEY_NAME", "AKIAEXAMPLESECRET")
        .code(2)
        .stderr_lacks("AKIAEXAMPLESECRET")
        .stderr_has("****")
        .run();
}

#[test]
fn host_text_reaches_the_terminal_with_control_characters_escaped() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let history = on_host(&fleet, 0, ".ferry/history.jsonl");
    std::fs::create_dir_all(history.parent().unwrap()).unwrap();
    let line = serde_json::json!({
        "at": "2030-01-01T00:00:00Z", "event": "switched", "release": "r1",
        "by": "\u{1b}[2J\u{1b}]0;owned\u{7}evil", "run_id": "x\u{9b}31m", "env": "test",
        "outcome": "ok", "detail": "line one\nh1 forged line\u{7f}",
    });
    std::fs::write(&history, format!("{line}\n")).unwrap();
    for output in ["human", "json"] {
        let run = project
            .history()
            .args(["--output", output])
            .stdout_has("evil")
            .run();
        let raw_control = run
            .stdout
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t');
        assert!(!raw_control, "{:?}", run.stdout);
        if output == "human" {
            assert_eq!(run.stdout.lines().count(), 1, "{:?}", run.stdout);
            assert!(run.stdout.contains("\\u001b[2J"), "{}", run.stdout);
        } else {
            let value: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
            assert_eq!(value["by"], "\u{1b}[2J\u{1b}]0;owned\u{7}evil");
        }
    }
}
