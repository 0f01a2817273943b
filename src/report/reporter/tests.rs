//! The reporter masks once, before any sink serialises: journal lines,
//! notification payloads and `JUnit` fields.

use super::*;
use crate::secrets::Secrets;
use std::os::unix::fs::PermissionsExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A secret with every character JSON, XML and shell quoting touch.
const SECRET: &str = "pa\"ss<wo'rd";

fn reporter_with_secret() -> Reporter {
    let secrets = Secrets::default();
    secrets.add(SECRET);
    Reporter::new(Arc::new(Printer::new(secrets)))
}

#[test]
fn events_are_masked_before_serialising_in_a_private_journal() {
    let root = tempfile::tempdir().unwrap();
    let mut reporter = reporter_with_secret();
    let (journal, problem) = Journal::create(&root.path().join("runs"), "run-1");
    assert_eq!(problem, None);
    reporter.open(journal, false);
    reporter.emit(&Event::HostResult {
        host: "web1".into(),
        outcome: HostOutcome::Failed,
        current: None,
        reason: Some("command: echo 'pa\"ss<wo'\\''rd' pa\"ss<wo'rd".into()),
    });
    let dir = root.path().join("runs/run-1");
    let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert!(!text.contains("rd"), "{text}");
    assert!(
        text.contains(r#""reason":"command: echo '****' ****""#),
        "{text}"
    );
    assert!(text.contains(r#""schema":"ferry.events/1""#), "{text}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.join("journal.jsonl")), 0o600);
}

#[tokio::test]
async fn junit_fields_are_masked_before_escaping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    let reporter = reporter_with_secret();
    let release = ReleaseId::parse("r1").unwrap();
    reporter
        .finish(RunEnd {
            command: "deploy",
            env: "production",
            release: Some(&release),
            hosts: vec![HostEnd {
                host: "h1".into(),
                outcome: HostOutcome::Failed,
                current: None,
                reason: Some("exit 3".into()),
                result: crate::report::CaseResult::Failed {
                    step: "connect".into(),
                    message: "exit 3".into(),
                    details: "command: echo 'pa\"ss<wo'\\''rd' pa\"ss<wo'rd".into(),
                },
            }],
            stopped: None,
            interrupted: false,
            started: Instant::now(),
            status: ExitStatus::Failed,
            junit: Some(&path),
        })
        .await
        .unwrap();
    let xml = std::fs::read_to_string(&path).unwrap();
    assert!(!xml.contains("rd"), "{xml}");
    assert!(xml.contains("command: echo &apos;****&apos; ****"), "{xml}");
    assert!(
        xml.contains(r#"<testsuite name="ferry deploy production r1" tests="1" failures="1""#),
        "{xml}"
    );
}

#[tokio::test]
async fn notifications_are_masked_before_they_are_serialised() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // HTTP/1.0 with Content-Length: read until the JSON body closes.
        while !request.ends_with(b"}") {
            match s.read(&mut buf).await.unwrap() {
                0 => break,
                n => request.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
        String::from_utf8(request).unwrap()
    });
    let secrets = Secrets::default();
    let secret = "to\"k\\en'42";
    secrets.add(secret);
    let mut reporter = Reporter::new(Arc::new(Printer::new(secrets)));
    reporter.notify_to(Some(format!("http://127.0.0.1:{port}/hook")));
    let started = Notification::Started {
        command: "deploy",
        env: "production".into(),
        release: Some(ReleaseId::parse("r1").unwrap()),
        run_id: "run-1".into(),
        by: format!("command: echo {secret}"),
    };
    reporter
        .notify(&format!("ferry: failed: {secret}"), &started)
        .await;
    let request = got.await.unwrap();
    assert!(!request.contains("en'42"), "{request}");
    assert!(
        request.contains(r#""text":"ferry: failed: ****""#),
        "{request}"
    );
    assert!(
        request.contains(r#""by":"command: echo ****""#),
        "{request}"
    );
}
