//! The report is read back with quick-xml's reader, as a CI server reads
//! it: the suite's counts, each case's result, the escaped fields intact.

use super::*;
use quick_xml::events::Event;
use quick_xml::Reader;
use quick_xml::XmlVersion;

/// The suite's `tests`, `failures` and `skipped`, and each case's name
/// with what it holds (`passed`, `failure:TYPE:MESSAGE:TEXT`, `skipped`).
fn read(xml: &str) -> ([String; 3], Vec<(String, String)>) {
    let mut reader = Reader::from_str(xml);
    let mut counts = [String::new(), String::new(), String::new()];
    let mut cases: Vec<(String, String)> = Vec::new();
    let mut in_failure = false;
    let attr = |e: &quick_xml::events::BytesStart, name: &str| {
        e.try_get_attribute(name)
            .unwrap()
            .map(|a| {
                a.normalized_value(XmlVersion::Implicit1_0)
                    .unwrap()
                    .into_owned()
            })
            .unwrap_or_default()
    };
    loop {
        match reader.read_event().unwrap() {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "testsuite" => {
                    counts = ["tests", "failures", "skipped"].map(|n| attr(&e, n));
                }
                "testcase" => cases.push((attr(&e, "name"), "passed".into())),
                "failure" => {
                    let last = cases.last_mut().unwrap();
                    last.1 = format!("failure:{}:{}:", attr(&e, "type"), attr(&e, "message"));
                    in_failure = true;
                }
                "skipped" => {
                    cases.last_mut().unwrap().1 = format!("skipped:{}", attr(&e, "message"));
                }
                _ => {}
            },
            Event::Text(t) if in_failure => {
                cases.last_mut().unwrap().1.push_str(&t.xml10_content());
            }
            Event::GeneralRef(r) if in_failure => {
                let name: &str = &r;
                let text = quick_xml::escape::resolve_predefined_entity(name).unwrap();
                cases.last_mut().unwrap().1.push_str(text);
            }
            Event::End(e) if e.name().as_ref() == "failure" => in_failure = false,
            _ => {}
        }
    }
    (counts, cases)
}

fn case(name: &str, result: CaseResult) -> TestCase {
    TestCase {
        name: name.into(),
        result,
    }
}

#[test]
fn hosts_not_started_are_skipped_not_failed() {
    let cases = [
        case("web1", CaseResult::Passed),
        case(
            "web2",
            CaseResult::Failed {
                step: "health".into(),
                message: "check `http` failed".into(),
                details: "HTTP 503".into(),
            },
        ),
        case(
            "web3",
            CaseResult::Skipped {
                message: "not started: the rollout stopped".into(),
            },
        ),
    ];
    let xml = junit_xml(
        "ferry deploy production r1",
        &cases,
        Duration::from_millis(1500),
    )
    .unwrap();
    let (counts, read) = read(&xml);
    assert_eq!(counts, ["3", "1", "1"], "{xml}");
    assert_eq!(
        read,
        [
            ("web1".to_string(), "passed".to_string()),
            (
                "web2".into(),
                "failure:health:check `http` failed:HTTP 503".into()
            ),
            (
                "web3".into(),
                "skipped:not started: the rollout stopped".into()
            ),
        ]
    );
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{xml}"
    );
}

/// Markup characters in a field stay data; control characters XML cannot
/// hold are dropped, so the file always parses.
#[test]
fn fields_are_escaped_and_control_characters_dropped() {
    let hostile = "a<b>&\"c'\u{1b}[31m\u{7}d\ne";
    let cases = [case(
        hostile,
        CaseResult::Failed {
            step: hostile.into(),
            message: hostile.into(),
            details: format!("</failure></testcase>{hostile}"),
        },
    )];
    let xml = junit_xml(hostile, &cases, Duration::ZERO).unwrap();
    let (counts, read) = read(&xml);
    assert_eq!(counts, ["1", "1", "0"], "{xml}");
    let clean = "a<b>&\"c'[31md\ne";
    // Attributes are one line; the failure's text keeps its newline.
    let attr = clean.replace('\n', " ");
    assert_eq!(read[0].0, attr);
    assert_eq!(
        read[0].1,
        format!("failure:{attr}:{attr}:</failure></testcase>{clean}")
    );
}
