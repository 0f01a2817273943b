//! CI mode: JSON events on stdout, a `JUnit` report, the hotfix mark.

use serde_json::Value;

use crate::support::fleet::Fleet;
use crate::support::host::{history_text, on_host};
use crate::support::project::Project;

#[test]
fn json_events_and_a_junit_report_account_for_every_host() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "rollout: { batch: 1, max_failures: 1 }\n");
    project.write(
        "playbooks/deploy.yml",
        "health:\n  - { name: marker, command: 'test ! -e {{ deploy_to }}/broken', retries: 0 }\n",
    );
    let r1 = project.release_tarball("r1");
    std::fs::create_dir_all(on_host(&fleet, 1, "")).unwrap();
    std::fs::write(on_host(&fleet, 1, "broken"), "").unwrap();
    let events = project
        .deploy(&r1, "r1")
        .args(["--output", "json", "--report", "junit.xml", "--hotfix"])
        .code(3)
        .run()
        .json_lines();
    assert!(events.iter().all(|e| e["schema"] == "ferry.events/1"));
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "host_result")
        .collect();
    assert_eq!(results.len(), 3);
    let finished = events.last().unwrap();
    assert_eq!(finished["counts"]["deployed"], 2);
    assert_eq!(finished["counts"]["failed"], 1);
    assert!(kinds.contains(&"batch_started") && kinds.contains(&"step_finished"));
    // Host output went to stderr, not into the event stream.
    let xml = project.read("junit.xml");
    assert!(xml.starts_with("<?xml"));
    assert_eq!(xml.matches("<testcase ").count(), 3);
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert!(
        xml.contains("name=\"h2\">\n      <failure type=\"marker\""),
        "{xml}"
    );
    assert!(xml.contains("tests=\"3\" failures=\"1\""));
    let history = history_text(&fleet, 0);
    assert!(history.contains("\"detail\":\"hotfix\""), "{history}");
}

/// Collect the bodies of POST requests to a loopback listener.
fn webhook() -> (String, std::sync::mpsc::Receiver<String>) {
    use crate::support::http_peer::read_request_body;
    use std::io::{BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let body = read_request_body(&mut BufReader::new(stream.try_clone().unwrap()));
            let _ = (&stream).write_all(b"HTTP/1.0 200 OK\r\n\r\nok");
            if tx
                .send(String::from_utf8_lossy(&body).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    (url, rx)
}

#[test]
fn a_notifier_hears_start_and_end_and_a_dead_one_fails_nothing() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let r1 = project.release_tarball("r1");
    let (url, bodies) = webhook();
    project.deploy(&r1, "r1").args(["--notify", &url]).run();
    let got: Vec<Value> = bodies
        .try_iter()
        .map(|b| serde_json::from_str(&b).unwrap())
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["event"], "started");
    assert_eq!(got[1]["event"], "succeeded");
    // Counts in words in the text; as JSON in `counts`.
    assert_eq!(got[1]["text"], "ferry: deployed release r1: 1 deployed");
    assert_eq!(got[1]["counts"], serde_json::json!({ "deployed": 1 }));
    project
        .ferry(["run", "test", "--cmd", "true", "--notify", &url])
        .run();
    let got: Vec<Value> = bodies
        .try_iter()
        .map(|b| serde_json::from_str(&b).unwrap())
        .collect();
    assert_eq!(got.last().unwrap()["text"], "ferry: ran on test: 1 ok");
    // Nothing listens on port 1: a warning, and the deploy still succeeds.
    let r2 = project.release_tarball("r2");
    project
        .deploy(&r2, "r2")
        .args(["--notify", "http://127.0.0.1:1/hook"])
        .stderr_has("warning: the started notification to http://127.0.0.1:1/hook failed")
        .run();
}

/// A `JUnit` report read back with quick-xml, as a CI server reads it: the
/// suite's `tests`, `failures` and `skipped`, and each case's name with
/// `passed`, `failure` or `skipped`.
fn junit(xml: &str) -> ([usize; 3], Vec<(String, &'static str)>) {
    use quick_xml::events::{BytesStart, Event};
    let attr = |e: &BytesStart, name: &str| -> String {
        e.try_get_attribute(name)
            .unwrap()
            .map(|a| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .unwrap()
                    .into_owned()
            })
            .unwrap_or_default()
    };
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut counts = [usize::MAX; 3];
    let mut cases: Vec<(String, &'static str)> = Vec::new();
    loop {
        match reader.read_event().expect("the JUnit report parses") {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "testsuite" => {
                    counts = ["tests", "failures", "skipped"].map(|n| attr(&e, n).parse().unwrap());
                }
                "testcase" => cases.push((attr(&e, "name"), "passed")),
                "failure" => cases.last_mut().unwrap().1 = "failure",
                "skipped" => cases.last_mut().unwrap().1 = "skipped",
                _ => {}
            },
            _ => {}
        }
    }
    (counts, cases)
}

/// Hosts a stopped rollout never started are `<skipped/>` in the `JUnit`
/// report, not failures: only the host that broke fails the dashboard.
#[test]
fn junit_marks_hosts_not_started_skipped() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "rollout: { batch: 1, max_failures: 0 }\n");
    project.write(
        "playbooks/deploy.yml",
        "health:\n  - { name: marker, command: 'test ! -e {{ deploy_to }}/broken', retries: 0 }\n",
    );
    std::fs::create_dir_all(on_host(&fleet, 0, "")).unwrap();
    std::fs::write(on_host(&fleet, 0, "broken"), "").unwrap();
    let r1 = project.release_tarball("r1");
    project
        .deploy(&r1, "r1")
        .args(["--report", "junit.xml"])
        .failure()
        .run();
    let (counts, cases) = junit(&project.read("junit.xml"));
    assert_eq!(counts, [3, 1, 2], "{cases:?}");
    assert_eq!(
        cases,
        [
            ("h1".to_string(), "failure"),
            ("h2".into(), "skipped"),
            ("h3".into(), "skipped"),
        ]
    );
}

/// The run's journal: the one folder under `.ferry/runs/` whose journal
/// starts with `first`.
fn journal_starting_with(project: &Project, first: &str) -> Vec<Value> {
    let runs = project.path().join(".ferry/runs");
    let mut found = Vec::new();
    for dir in std::fs::read_dir(&runs)
        .expect(".ferry/runs exists")
        .flatten()
    {
        let text = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.first().is_some_and(|e| e["event"] == first) {
            found.push(lines);
        }
    }
    assert_eq!(found.len(), 1, "one journal starting with {first}");
    found.pop().unwrap()
}

/// The emergency button leaves a local trail: `ferry rollback` writes its
/// journal and host logs, prints events with `--output json`, writes a
/// `JUnit` report and notifies, with the flags and settings of a deploy.
#[test]
fn rollback_keeps_a_journal_and_takes_json_junit_and_notify() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    for id in ["r1", "r2"] {
        let tarball = project.release_tarball(id);
        project.deploy(&tarball, id).run();
    }
    let (url, bodies) = webhook();
    let events = project
        .rollback()
        .args(["--output", "json", "--report", "rollback.xml"])
        .env("FERRY_NOTIFY", &url)
        .run()
        .json_lines();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"rollback_started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"run_finished"), "{kinds:?}");
    assert_eq!(events.last().unwrap()["counts"]["rolled_back"], 2);
    let journal = journal_starting_with(&project, "rollback_started");
    assert_eq!(journal.len(), events.len(), "{journal:?}");
    let run_id = journal[0]["run_id"].as_str().unwrap();
    let logs = project.path().join(".ferry/runs").join(run_id);
    assert!(logs.join("h1.log").is_file() && logs.join("h2.log").is_file());
    let (counts, _) = junit(&project.read("rollback.xml"));
    assert_eq!(counts, [2, 0, 0]);
    // Both were sent before ferry exited: wait for the listener to pass
    // them on.
    let got: Vec<Value> = bodies
        .iter()
        .take(2)
        .map(|b| serde_json::from_str(&b).unwrap())
        .collect();
    let said: Vec<(&str, &str)> = got
        .iter()
        .map(|b| (b["event"].as_str().unwrap(), b["command"].as_str().unwrap()))
        .collect();
    assert_eq!(said, [("started", "rollback"), ("succeeded", "rollback")]);
}

/// `ferry run` keeps the same record: events (one `host_result` per host,
/// `ok` or `failed`), journal, `JUnit` and notifications.
#[test]
fn run_keeps_a_journal_and_takes_json_junit_and_notify() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    std::fs::create_dir_all(on_host(&fleet, 1, "")).unwrap();
    std::fs::write(on_host(&fleet, 1, "broken"), "").unwrap();
    let (url, bodies) = webhook();
    let events = project
        .run_cmd("test ! -e {{ deploy_to }}/broken")
        .args(["--output", "json", "--report", "run.xml", "--notify", &url])
        .failure()
        .run()
        .json_lines();
    let results: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["event"] == "host_result")
        .map(|e| (e["host"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(results, [("h1", "ok"), ("h2", "failed")]);
    assert_eq!(events[0]["event"], "tasks_started");
    let journal = journal_starting_with(&project, "tasks_started");
    assert_eq!(journal.len(), events.len());
    let (counts, cases) = junit(&project.read("run.xml"));
    assert_eq!(counts, [2, 1, 0], "{cases:?}");
    let got: Vec<Value> = bodies
        .iter()
        .take(2)
        .map(|b| serde_json::from_str(&b).unwrap())
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1]["event"], "failed");
    assert_eq!(got[1]["command"], "run");
}
