//! Webhook notifications: a JSON summary sent (HTTP POST) on start, success and
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
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {TIMEOUT:?}"),
        };
        self.printer.note(&format!(
            "warning: the {event} notification to {url} failed: {problem}"
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
        notifier
            .send(
                "failed",
                &format!("ferry: failed: {secret}"),
                json!({ "reason": format!("command: echo {secret}") }),
            )
            .await;
        let request = got.await.unwrap();
        assert!(!request.contains("en'42"), "{request}");
        assert!(
            request.contains(r#""text":"ferry: failed: ****""#),
            "{request}"
        );
        assert!(
            request.contains(r#""reason":"command: echo ****""#),
            "{request}"
        );
    }
}
