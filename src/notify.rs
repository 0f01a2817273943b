//! Webhook notifications: a JSON summary sent (HTTP POST) on start, success and
//! failure, with a Slack-compatible `text` field. A failing notifier never
//! fails the deploy: it is reported as a warning. The
//! [`crate::report::Reporter`] masks a payload, once, before it is sent.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::events::Counts;
use crate::release::ReleaseId;

const TIMEOUT: Duration = Duration::from_secs(5);

/// What a notification reports beside its `text`: the `event` name
/// (`started`, `succeeded`, `failed`) and its fields. Like
/// [`crate::events::Event`], this is a published shape (chat bots and CI
/// hooks read it); the test below pins it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Notification {
    Started {
        /// `deploy`, `promote`, `rollback` or `run`.
        command: &'static str,
        env: String,
        /// The release shipped (none for `rollback` and `run`).
        #[serde(skip_serializing_if = "Option::is_none")]
        release: Option<ReleaseId>,
        run_id: String,
        by: String,
    },
    Succeeded(Summary),
    Failed(Summary),
}

/// How a run ended, for its last notification.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub command: &'static str,
    pub env: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseId>,
    pub counts: Counts,
    pub exit_code: u8,
}

/// Counts in words for a notification's `text`: "2 failed, 1 rolled back"
/// (the outcomes in the order of their JSON keys), "no hosts" for none.
#[must_use]
pub fn counts_in_words(counts: &Counts) -> String {
    let mut words: Vec<(String, u64)> = counts
        .iter()
        .map(|(outcome, n)| {
            let key = serde_json::to_value(outcome).expect("plain data serializes");
            let key = key.as_str().unwrap_or_default().replace('_', " ");
            (key, *n)
        })
        .collect();
    words.sort();
    if words.is_empty() {
        return "no hosts".into();
    }
    words
        .iter()
        .map(|(word, n)| format!("{n} {word}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Notification {
    pub fn name(&self) -> &'static str {
        match self {
            Notification::Started { .. } => "started",
            Notification::Succeeded(_) => "succeeded",
            Notification::Failed(_) => "failed",
        }
    }

    /// `{"text": text, "event": name, ..fields}`, not yet masked.
    pub fn body(&self, text: &str) -> Value {
        let mut body = json!({ "text": text });
        let fields = serde_json::to_value(self).expect("plain data serializes");
        if let (Some(map), Value::Object(fields)) = (body.as_object_mut(), fields) {
            map.extend(fields);
        }
        body
    }
}

/// A notification that did not get through.
#[derive(Debug, thiserror::Error)]
#[error("warning: the {name} notification to {url} failed: {problem}")]
pub struct NotifyFailed {
    name: String,
    url: String,
    problem: String,
}

pub struct Notifier {
    url: Option<String>,
}

impl Notifier {
    pub fn new(url: Option<String>) -> Notifier {
        Notifier { url }
    }

    /// POST `body` (already masked), the notification `name`d. A failure is
    /// returned to be shown as a warning: it never fails the run.
    pub async fn send(&self, name: &str, body: &Value) -> Result<(), NotifyFailed> {
        let Some(url) = &self.url else { return Ok(()) };
        let bytes = body.to_string().into_bytes();
        let sent = tokio::time::timeout(
            TIMEOUT,
            crate::http::request(url, Some(("application/json", bytes)), TIMEOUT),
        )
        .await;
        let problem = match sent {
            Ok(Ok((code, _))) if (200..300).contains(&code) => return Ok(()),
            Ok(Ok((code, _))) => format!("HTTP status {code}"),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {TIMEOUT:?}"),
        };
        Err(NotifyFailed {
            name: name.to_string(),
            url: url.clone(),
            problem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_written_in_words() {
        use crate::events::HostOutcome::{Deployed, Failed, NotStarted, Ok, RolledBack};
        for (counts, text) in [
            (Counts::new(), "no hosts"),
            (Counts::from([(Ok, 3)]), "3 ok"),
            (
                Counts::from([(RolledBack, 1), (Failed, 2)]),
                "2 failed, 1 rolled back",
            ),
            (
                Counts::from([(Deployed, 1), (NotStarted, 4)]),
                "1 deployed, 4 not started",
            ),
        ] {
            assert_eq!(counts_in_words(&counts), text);
        }
    }

    /// The payloads as hooks read them.
    #[test]
    fn the_notification_shapes_are_pinned() {
        use crate::events::HostOutcome;
        let release = ReleaseId::parse("r1").unwrap();
        let started = Notification::Started {
            command: "deploy",
            env: "production".into(),
            release: Some(release.clone()),
            run_id: "run-1".into(),
            by: "ci".into(),
        };
        let summary = Summary {
            command: "deploy",
            env: "production".into(),
            release: Some(release),
            counts: Counts::from([(HostOutcome::Deployed, 2)]),
            exit_code: 0,
        };
        let bodies: Vec<String> = [
            started,
            Notification::Succeeded(summary.clone()),
            Notification::Failed(Summary {
                exit_code: 1,
                ..summary
            }),
        ]
        .iter()
        .map(|n| n.body("t").to_string())
        .collect();
        assert_eq!(
            bodies,
            [
                r#"{"by":"ci","command":"deploy","env":"production","event":"started","release":"r1","run_id":"run-1","text":"t"}"#,
                r#"{"command":"deploy","counts":{"deployed":2},"env":"production","event":"succeeded","exit_code":0,"release":"r1","text":"t"}"#,
                r#"{"command":"deploy","counts":{"deployed":2},"env":"production","event":"failed","exit_code":1,"release":"r1","text":"t"}"#,
            ]
        );
    }
}
