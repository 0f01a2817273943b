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
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
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
    assert!(
        got[1]["text"]
            .as_str()
            .unwrap()
            .contains("deployed release r1"),
        "{got:?}"
    );
    // Nothing listens on port 1: a warning, and the deploy still succeeds.
    let r2 = project.release_tarball("r2");
    project
        .deploy(&r2, "r2")
        .args(["--notify", "http://127.0.0.1:1/hook"])
        .stderr_has("warning: the started notification to http://127.0.0.1:1/hook failed")
        .run();
}
