//! The `JUnit` XML report (the schema Jenkins and GitLab read): one suite,
//! one test case per host. Written with quick-xml, which escapes every
//! attribute and text; the [`super::Reporter`] masks each field first
//! (masking comes before escaping).

use std::io;
use std::time::Duration;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

/// How one host's test case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseResult {
    Passed,
    /// The step, the message and the details.
    Failed {
        step: String,
        message: String,
        details: String,
    },
    /// Never started (the rollout stopped first): `<skipped/>`, not a
    /// failure, so a CI dashboard counts only the hosts that broke.
    Skipped {
        message: String,
    },
}

/// One `JUnit` test case: a host, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    pub name: String,
    pub result: CaseResult,
}

/// The report as text: `<testsuites><testsuite tests failures skipped>`,
/// failed hosts as `<failure type=STEP message=..>DETAILS</failure>`.
pub fn junit_xml(suite: &str, cases: &[TestCase], elapsed: Duration) -> io::Result<String> {
    let count = |f: fn(&CaseResult) -> bool| cases.iter().filter(|c| f(&c.result)).count();
    let failures = count(|r| matches!(r, CaseResult::Failed { .. })).to_string();
    let skipped = count(|r| matches!(r, CaseResult::Skipped { .. })).to_string();
    let tests = cases.len().to_string();
    let time = format!("{:.3}", elapsed.as_secs_f64());
    let suite = xml_attr(suite);
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("testsuites")
        .write_inner_content(|w| {
            w.create_element("testsuite")
                .with_attribute(("name", suite.as_str()))
                .with_attribute(("tests", tests.as_str()))
                .with_attribute(("failures", failures.as_str()))
                .with_attribute(("errors", "0"))
                .with_attribute(("skipped", skipped.as_str()))
                .with_attribute(("time", time.as_str()))
                .write_inner_content(|w| {
                    for case in cases {
                        write_case(w, case)?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    let mut text = String::from_utf8(writer.into_inner()).map_err(io::Error::other)?;
    text.push('\n');
    Ok(text)
}

fn write_case(w: &mut Writer<Vec<u8>>, case: &TestCase) -> io::Result<()> {
    let name = xml_attr(&case.name);
    let element = w
        .create_element("testcase")
        .with_attribute(("classname", "ferry"))
        .with_attribute(("name", name.as_str()));
    match &case.result {
        CaseResult::Passed => {
            element.write_empty()?;
        }
        CaseResult::Failed {
            step,
            message,
            details,
        } => {
            element.write_inner_content(|w| {
                w.create_element("failure")
                    .with_attribute(("type", xml_attr(step).as_str()))
                    .with_attribute(("message", xml_attr(message).as_str()))
                    .write_text_content(BytesText::new(&xml_text(details)))?;
                Ok(())
            })?;
        }
        CaseResult::Skipped { message } => {
            element.write_inner_content(|w| {
                w.create_element("skipped")
                    .with_attribute(("message", xml_attr(message).as_str()))
                    .write_empty()?;
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Control characters XML 1.0 cannot hold (all but newline and tab) are
/// dropped; quick-xml escapes the rest.
fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

/// An attribute's value: one line (a reader normalises a raw newline in an
/// attribute to a space anyway, so it is written as one).
fn xml_attr(text: &str) -> String {
    xml_text(text).replace(['\n', '\t'], " ")
}

#[cfg(test)]
mod tests;
