//! The run's timeline (`--report run.html`, `ferry report <run> --html`)
//! from a real deploy, loaded in headless Chromium (Debian's `chromium`):
//! the page loads without console errors, shows one row per host, and a
//! host's hostile output is text, never markup.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::fleet::Fleet;
use crate::support::project::Project;

/// Printed by every host's `before_switch`; h3 then fails.
const HOSTILE: &str = "<script>alert(1)</script><img src=x>";

const PLAYBOOK: &str = "\
before_switch:
  - name: build
    run: |
      echo '<script>alert(1)</script><img src=x>'
      test {{ host.name }} != h3
";

/// The folder under `.ferry/runs` of the one run that deployed `release`
/// (two runs in one second do not sort by their ids).
fn run_of(project: &Project, release: &str) -> PathBuf {
    let needle = format!("\"release\":\"{release}\"");
    let runs: Vec<PathBuf> = std::fs::read_dir(project.path().join(".ferry/runs"))
        .expect("the run's log folder")
        .map(|e| e.expect("entry").path())
        .filter(|dir| {
            std::fs::read_to_string(dir.join("journal.jsonl"))
                .expect("journal")
                .lines()
                .next()
                .is_some_and(|first| first.contains(&needle))
        })
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.into_iter().next().expect("one run")
}

/// `chromium --headless --dump-dom` of a local file: (DOM, stderr).
fn chromium_dom(page: &Path) -> (String, String) {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium (Debian: apt-get install chromium; .ci/run installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn a_deploys_timeline_loads_in_chromium_with_one_row_per_host() {
    let fleet = Fleet::start(4);
    let project = Project::new(&fleet, "");
    project.deploy(project.release_tarball("r0"), "r0").run();
    project.write("playbooks/deploy.yml", PLAYBOOK);
    let r1 = project.release_tarball("r1");
    // Canary h1, then h2+h3: h3 fails, the rollout stops, h1 and h2 go back.
    project
        .deploy(&r1, "r1")
        .args(["--canary", "1", "--batch", "2", "--report", "run.html"])
        .code(1)
        .stderr_has("timeline: run.html")
        .run();
    let page = project.path().join("run.html");
    let html = std::fs::read_to_string(&page).expect("the timeline");

    // `ferry report` writes the same page from the run's folder.
    let dir = run_of(&project, "r1");
    project
        .ferry(["report", "--html", "--out", "again.html"])
        .arg(&dir)
        .stderr_has("timeline: again.html")
        .run();
    assert_eq!(project.read("again.html"), html);

    let (dom, log) = chromium_dom(&page);
    assert!(!log.contains(":CONSOLE"), "console messages: {log}");
    assert_eq!(dom.matches("<div class=\"host ").count(), 4, "{dom}");
    for host in ["h1", "h2", "h3", "h4"] {
        assert!(
            dom.contains(&format!("<div class=\"name\">{host}</div>")),
            "{dom}"
        );
    }
    // The host's output is text in the page; no element came of it.
    assert!(!dom.contains("<script") && !dom.contains("<img"), "{dom}");
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x&gt;"),
        "{dom}"
    );
    // A failed step, switches back, batches marked, the slowest hosts.
    assert!(dom.contains("class=\"bar failed s-before\""), "{dom}");
    assert!(dom.contains("class=\"bar back s-rollback\""), "{dom}");
    assert!(dom.contains("batch 1 (canary)") && dom.contains("batch 2"));
    assert!(dom.contains("Slowest hosts"));
    assert!(html.contains(
        &HOSTILE
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('/', "&#x2f;")
    ));
}

#[test]
fn a_run_id_finds_its_folder_and_a_missing_run_is_an_error() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    project.deploy(project.release_tarball("r1"), "r1").run();
    let dir = run_of(&project, "r1");
    let id = dir
        .file_name()
        .expect("run id")
        .to_string_lossy()
        .into_owned();
    project
        .ferry(["report", "--html", &id])
        .stderr_has("timeline.html")
        .run();
    assert!(dir.join("timeline.html").exists());
    project
        .ferry(["report", "--html", "no-such-run"])
        .code(1)
        .stderr_has("cannot read the run's journal")
        .run();
}

#[test]
fn a_rollbacks_report_html_is_its_timeline() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "");
    project.deploy(project.release_tarball("r1"), "r1").run();
    project.deploy(project.release_tarball("r2"), "r2").run();
    project
        .rollback()
        .args(["--report", "back.html"])
        .stderr_has("timeline: back.html")
        .run();
    let (dom, log) = chromium_dom(&project.path().join("back.html"));
    assert!(!log.contains(":CONSOLE"), "console messages: {log}");
    assert_eq!(dom.matches("<div class=\"host ").count(), 3, "{dom}");
    assert_eq!(
        dom.matches("class=\"bar back s-rollback\"").count(),
        3,
        "{dom}"
    );
    assert!(dom.contains("each host's previous good release"), "{dom}");
}

/// `ferry run` journals like a deploy (`tasks_started`), so `--report
/// tasks.html` is its timeline too: a row per host, its tasks summed up.
#[test]
fn a_task_runs_report_html_is_its_timeline() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    project.write(
        "playbooks/site.yml",
        "tasks:\n  - { name: hello, run: 'echo hello' }\n",
    );
    project
        .ferry(["run", "test", "--report", "tasks.html"])
        .stderr_has("timeline: tasks.html")
        .run();
    let page = std::fs::read_to_string(project.path().join("tasks.html")).expect("the page");
    assert_eq!(page.matches("<div class=\"host ").count(), 2, "{page}");
    assert!(page.contains("hello (playbooks&#x2f;site.yml)"), "{page}");
}
