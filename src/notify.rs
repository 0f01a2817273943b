//! Webhook notifications: a JSON summary POSTed on start, success and
//! failure, with a Slack-compatible `text` field. A failing notifier never
//! fails the deploy: it is reported as a warning. Payloads are masked like
//! every other sink, before they are serialised.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::report::Printer;

const TIMEOUT: Duration = Duration::from_secs(5);

pub struct Notifier {
    url: Option<String>,
    printer: Arc<Printer>,
}

impl Notifier {
    pub fn new(url: Option<String>, printer: Arc<Printer>) -> Notifier {
        Notifier { url, printer }
    }

    /// POST `{"text": text, "event": event, ..fields}`; warn on failure.
    pub async fn send(&self, event: &str, text: &str, fields: Value) {
        let Some(url) = &self.url else { return };
        let mut body = json!({ "text": text, "event": event });
        if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), fields) {
            map.extend(extra);
        }
        let body = self.printer.secrets().mask_json(&body);
        let bytes = body.to_string().into_bytes();
        let sent = tokio::time::timeout(
            TIMEOUT,
            crate::http::request("POST", url, Some(("application/json", &bytes))),
        )
        .await;
        let problem = match sent {
            Ok(Ok((code, _))) if (200..300).contains(&code) => return,
            Ok(Ok((code, _))) => format!("HTTP status {code}"),
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {TIMEOUT:?}"),
        };
        self.printer.note(&format!(
            "warning: the {event} notification to {url} failed: {problem}"
        ));
    }
}
