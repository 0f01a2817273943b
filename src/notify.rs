//! Webhook notifications: a JSON summary sent (HTTP POST) on start, success and
//! failure, with a Slack-compatible `text` field. A failing notifier never
//! fails the deploy: it is reported as a warning. Payloads are masked like
//! every other sink, before they are serialised.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::events::Counts;
use crate::release::ReleaseId;
use crate::report::Printer;

const TIMEOUT: Duration = Duration::from_secs(5);

/// What a notification reports beside its `text`: the `event` name
/// (`started`, `succeeded`, `failed`) and its fields. Like
/// [`crate::events::Event`], this is a published shape (chat bots and CI
/// hooks read it); the test below pins it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Notification {
    Started {
        env: String,
        release: ReleaseId,
        run_id: String,
        by: String,
    },
    Succeeded(Summary),
    Failed(Summary),
}

/// How a run ended, for its last notification.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub env: String,
    pub release: ReleaseId,
    pub counts: Counts,
    pub exit_code: u8,
}

impl Notification {
    fn name(&self) -> &'static str {
        match self {
            Notification::Started { .. } => "started",
            Notification::Succeeded(_) => "succeeded",
            Notification::Failed(_) => "failed",
        }
    }

    /// `{"text": text, "event": name, ..fields}`, not yet masked.
    fn body(&self, text: &str) -> Value {
        let mut body = json!({ "text": text });
        let fields = serde_json::to_value(self).expect("plain data serializes");
        if let (Some(map), Value::Object(fields)) = (body.as_object_mut(), fields) {
            map.extend(fields);
        }
        body
    }
}

pub struct Notifier {
    url: Option<String>,
    printer: Arc<Printer>,
}

impl Notifier {
    pub fn new(url: Option<String>, printer: Arc<Printer>) -> Notifier {
        Notifier { url, printer }
    }

    /// POST `{"text": text, "event": name, ..fields}`, masked; warn on
    /// failure.
    pub async fn send(&self, text: &str, what: &Notification) {
        let Some(url) = &self.url else { return };
        let body = self.printer.secrets().mask_json(&what.body(text));
        let bytes = body.to_string().into_bytes();
        let sent = tokio::time::timeout(
            TIMEOUT,
            crate::http::request("POST", url, Some(("application/json", &bytes))),
        )
        .await;
        let problem = match sent {
            Ok(Ok((code, _))) if (200..300).contains(&code) => return,
            Ok(Ok((code, _))) => format!("HTTP status {code}"),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {TIMEOUT:?}"),
        };
        self.printer.note(&format!(
            "warning: the {} notification to {url} failed: {problem}",
            what.name()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Secrets;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn payloads_are_masked_before_they_are_serialised() {
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
        let printer = Arc::new(Printer::new(secrets));
        let notifier = Notifier::new(Some(format!("http://127.0.0.1:{port}/hook")), printer);
        let started = Notification::Started {
            env: "production".into(),
            release: ReleaseId::parse("r1").unwrap(),
            run_id: "run-1".into(),
            by: format!("command: echo {secret}"),
        };
        notifier
            .send(&format!("ferry: failed: {secret}"), &started)
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

    /// The payloads as hooks read them.
    #[test]
    fn the_notification_shapes_are_pinned() {
        use crate::events::HostOutcome;
        let release = ReleaseId::parse("r1").unwrap();
        let started = Notification::Started {
            env: "production".into(),
            release: release.clone(),
            run_id: "run-1".into(),
            by: "ci".into(),
        };
        let summary = Summary {
            env: "production".into(),
            release,
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
                r#"{"by":"ci","env":"production","event":"started","release":"r1","run_id":"run-1","text":"t"}"#,
                r#"{"counts":{"deployed":2},"env":"production","event":"succeeded","exit_code":0,"release":"r1","text":"t"}"#,
                r#"{"counts":{"deployed":2},"env":"production","event":"failed","exit_code":1,"release":"r1","text":"t"}"#,
            ]
        );
    }
}
