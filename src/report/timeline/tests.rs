use super::page::{seconds, ticks};
use super::*;

const HOSTILE: &str = "<script>alert(1)</script>\"'&";

/// A journal as a deploy writes it: web1 deployed, web2 failed its health
/// check and went back, web3's receive never finished (the run was killed).
fn journal() -> String {
    let lines = [
        r#"{"schema":"ferry.events/1","at_ms":1000,"event":"run_started","run_id":"run-1","command":["ferry","deploy"],"user":"ci","controller":"build1","env":"prod","release":"r2","sha256":"abababababababababab","artifact":"shop.tar.gz","source_env":null,"hotfix":false,"hosts":["web1","web2","web3"]}"#.to_string(),
        r#"{"at_ms":1000,"event":"plan","release":"r2","batches":[["web1"],["web2","web3"]],"max_failures":0,"skipped":[]}"#.into(),
        r#"{"at_ms":1100,"event":"batch_started","batch":1,"canary":true,"hosts":["web1"]}"#.into(),
        r#"{"at_ms":1100,"event":"step_started","host":"web1","batch":1,"step":"receive"}"#.into(),
        r#"{"at_ms":1500,"event":"step_finished","host":"web1","batch":1,"step":"receive","ok":true,"commands":["receive shop.tar.gz"]}"#.into(),
        r#"{"at_ms":1500,"event":"step_started","host":"web1","batch":1,"step":"switch","release":"r2"}"#.into(),
        r#"{"at_ms":1510,"event":"switched","host":"web1","batch":1,"release":"r2"}"#.into(),
        r#"{"at_ms":1510,"event":"step_finished","host":"web1","batch":1,"step":"switch","ok":true}"#.into(),
        r#"{"at_ms":1600,"event":"batch_started","batch":2,"canary":false,"hosts":["web2","web3"]}"#.into(),
        r#"{"at_ms":1600,"event":"step_started","host":"web3","batch":2,"step":"receive"}"#.into(),
        r#"{"at_ms":1600,"event":"step_started","host":"web2","batch":2,"step":"health","release":"r2"}"#.into(),
        r#"{"at_ms":1900,"event":"unhealthy","host":"web2","batch":2,"release":"r2"}"#.into(),
        serde_json::json!({"at_ms":1900,"event":"step_finished","host":"web2","batch":2,"step":"health","ok":false,"commands":["http: curl"],"output":[format!("| {HOSTILE}")]}).to_string(),
        r#"{"at_ms":1900,"event":"step_started","host":"web2","batch":2,"step":"switch","release":"r1"}"#.into(),
        r#"{"at_ms":1950,"event":"rolled_back","host":"web2","batch":2,"release":"r1"}"#.into(),
        r#"{"at_ms":1950,"event":"step_finished","host":"web2","batch":2,"step":"switch","ok":true}"#.into(),
        serde_json::json!({"at_ms":2000,"event":"host_result","host":"web2","outcome":"rolled_back","current":"r1","reason":HOSTILE}).to_string(),
        "{\"at_ms\":2000,\"event\":\"host_res".into(),
    ];
    lines.join("\n") + "\n"
}

#[test]
fn the_journal_folds_into_one_row_per_host_with_its_bars() {
    let run = Run::parse(&journal());
    assert_eq!(run.unreadable, 1, "the line cut by the kill");
    let hosts: Vec<&str> = run.rows.iter().map(|r| r.host.as_str()).collect();
    assert_eq!(hosts, ["web1", "web2", "web3"]);
    assert_eq!(
        run.rows.iter().map(|r| r.batch).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(2)]
    );
    let steps = |i: usize| -> Vec<(&str, Ending, u64, u64)> {
        run.rows[i]
            .bars
            .iter()
            .map(|b| (b.step.as_str(), b.ending, b.start, b.end))
            .collect()
    };
    assert_eq!(
        steps(0),
        [
            ("receive", Ending::Ok, 1100, 1500),
            ("switch", Ending::Ok, 1500, 1510)
        ]
    );
    assert_eq!(
        steps(1),
        [
            ("health", Ending::Failed, 1600, 1900),
            ("rollback", Ending::Ok, 1900, 1950)
        ]
    );
    // Never finished: it ends with the journal.
    assert_eq!(steps(2), [("receive", Ending::Open, 1600, 2000)]);
    assert_eq!(run.rows[1].bars[0].commands, ["http: curl"]);
    assert_eq!(run.canary, [1]);
    assert_eq!(run.marks.len(), 2);
}

#[test]
fn host_text_is_escaped_and_the_page_has_no_script() {
    let html = Page::of(&Run::parse(&journal())).render().unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    assert_eq!(html.matches("<div class=\"host ").count(), 3);
    assert_eq!(html.matches("<div class=\"bar ").count(), 5);
    assert!(html.contains("batch 1 (canary)"));
    assert!(html.contains("default-src 'none'"));
    // Nothing fetched: no URL the browser would load.
    assert!(!html.contains("src=") && !html.contains("href="));
}

#[test]
fn a_file_that_is_not_a_journal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(JOURNAL), "{\"event\":\"plan\"}\n").unwrap();
    assert!(matches!(
        Run::read(dir.path()),
        Err(TimelineError::NotARun(_))
    ));
    assert!(matches!(
        Run::read(&dir.path().join("nope")),
        Err(TimelineError::Read { .. })
    ));
}

#[test]
fn durations_and_ticks_read_well() {
    assert_eq!(seconds(1234), "1.234 s");
    assert_eq!(seconds(12_345), "12.3 s");
    assert_eq!(seconds(125_000), "2 m 05 s");
    assert_eq!(ticks(950), [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    assert_eq!(
        ticks(33_000),
        [0, 5_000, 10_000, 15_000, 20_000, 25_000, 30_000]
    );
}
