//! Rendered conditions and how they are polled: `wait_for` tasks and health
//! checks. A command probe runs on the host (one script that polls there, so
//! a wait costs one round trip); TCP and HTTP probes run from the controller,
//! or with `from: host` through curl on the host.

use std::fmt::Write as _;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::steps::{quote, RemoteCommand};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    Command(String),
    Tcp {
        host: String,
        port: u16,
        open: bool,
    },
    Http {
        url: String,
        status: u16,
        body: Option<String>,
        on_host: bool,
    },
}

impl Probe {
    /// Whether this probe runs on the host over SSH.
    pub fn on_host(&self) -> bool {
        matches!(self, Probe::Command(_) | Probe::Http { on_host: true, .. })
    }

    pub fn describe(&self) -> String {
        match self {
            Probe::Command(c) => format!("command `{c}`"),
            Probe::Tcp { host, port, open } => {
                format!(
                    "tcp {host}:{port} {}",
                    if *open { "open" } else { "closed" }
                )
            }
            Probe::Http {
                url,
                status,
                body,
                on_host,
            } => format!(
                "http {url} -> {status}{}{}",
                body.as_ref()
                    .map(|b| format!(" containing {b:?}"))
                    .unwrap_or_default(),
                if *on_host { " (from the host)" } else { "" }
            ),
        }
    }
}

/// A rendered `wait_for`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    pub probe: Probe,
    pub timeout: Duration,
    pub interval: Duration,
    pub continue_on_timeout: bool,
}

/// A rendered health check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub name: String,
    pub probe: Probe,
    pub retries: u32,
    pub interval: Duration,
    pub timeout: Duration,
}

/// One host-side attempt of a probe, bounded on the host by `timeout`;
/// exits 0 when it holds. A command runs under the one `timeout` of the
/// command line (two processes on the host: `timeout` and `sh`); the others
/// bound themselves (curl's `--max-time`) and get 5 s more before theirs.
pub fn host_command(probe: &Probe, timeout: Duration) -> RemoteCommand {
    match probe {
        Probe::Command(cmd) => RemoteCommand::new(cmd.as_str()).timeout(Some(timeout)),
        _ => RemoteCommand::new(host_script(probe, timeout))
            .timeout(Some(timeout.saturating_add(Duration::from_secs(5)))),
    }
}

fn host_script(probe: &Probe, timeout: Duration) -> String {
    let secs = timeout.as_secs().max(1);
    match probe {
        Probe::Command(cmd) => cmd.clone(),
        Probe::Http {
            url, status, body, ..
        } => {
            let mut s = format!(
                "b=$(mktemp); trap 'rm -f \"$b\"' EXIT; \
                 code=$(curl -s -o \"$b\" -w '%{{http_code}}' --max-time {secs} {url}); \
                 [ \"$code\" = {status} ] || {{ echo \"HTTP status $code, expected {status}\" >&2; exit 1; }}",
                url = quote(url)
            );
            if let Some(body) = body {
                let _ = write!(
                    s,
                    "; grep -qF -- {b} \"$b\" || {{ echo 'body lacks {bp}' >&2; exit 1; }}",
                    b = quote(body),
                    bp = body.replace('\'', "")
                );
            }
            s
        }
        Probe::Tcp { host, port, open } => {
            let test = format!(
                "timeout {secs} sh -c {}",
                quote(&format!("exec 3<>/dev/tcp/{host}/{port}"))
            );
            // /dev/tcp is a bash feature.
            let check = format!("bash -c {}", quote(&test));
            if *open {
                check
            } else {
                format!("! {check}")
            }
        }
    }
}

/// Why a controller-side probe does not hold (yet).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("no answer within {0:?}")]
    NoAnswer(Duration),
    #[error("{host}:{port} is closed")]
    Closed { host: String, port: u16 },
    #[error("{host}:{port} is still open")]
    StillOpen { host: String, port: u16 },
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    #[error("HTTP status {got}, expected {want}")]
    Status { got: u16, want: u16 },
    #[error("body lacks {0:?}")]
    BodyLacks(String),
    #[error("a command probe runs on the host")]
    OnHost,
}

/// One controller-side attempt: Ok when the probe holds.
///
/// # Errors
/// Why the probe does not hold (yet).
pub async fn check_from_controller(probe: &Probe, timeout: Duration) -> Result<(), ProbeError> {
    match tokio::time::timeout(timeout, attempt(probe, timeout)).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::NoAnswer(timeout)),
    }
}

async fn attempt(probe: &Probe, timeout: Duration) -> Result<(), ProbeError> {
    match probe {
        Probe::Tcp { host, port, open } => {
            let connected = TcpStream::connect((host.as_str(), *port)).await.is_ok();
            let (host, port) = (host.clone(), *port);
            match (connected, open) {
                (true, true) | (false, false) => Ok(()),
                (false, true) => Err(ProbeError::Closed { host, port }),
                (true, false) => Err(ProbeError::StillOpen { host, port }),
            }
        }
        Probe::Http {
            url, status, body, ..
        } => {
            let (code, text) = crate::http::request(url, None, timeout).await?;
            if code != *status {
                return Err(ProbeError::Status {
                    got: code,
                    want: *status,
                });
            }
            match body {
                Some(b) if !text.contains(b.as_str()) => Err(ProbeError::BodyLacks(b.clone())),
                _ => Ok(()),
            }
        }
        Probe::Command(_) => Err(ProbeError::OnHost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_command_attempt_is_bounded_on_the_host() {
        // `wait_for` and health send one of these per attempt.
        let probe = Probe::Command("test -f /tmp/ready".into());
        let cmd = host_command(&probe, Duration::from_millis(500));
        assert_eq!(cmd.to_shell(), "timeout -k 5 1 sh -c 'test -f /tmp/ready'");
        assert_eq!(cmd.client_deadline(), Some(Duration::from_millis(10_500)));
        let http = Probe::Http {
            url: "http://127.0.0.1:8080/up".into(),
            status: 200,
            body: None,
            on_host: true,
        };
        let cmd = host_command(&http, Duration::from_secs(3));
        assert!(
            cmd.to_shell()
                .starts_with("timeout -k 5 8 sh -c 'b=$(mktemp);"),
            "{}",
            cmd.to_shell()
        );
        assert!(
            cmd.to_shell().contains("--max-time 3 "),
            "{}",
            cmd.to_shell()
        );
    }

    #[tokio::test]
    async fn http_probe_checks_status_and_body() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nrelease r2\n").await;
            }
        });
        let probe = |body: &str| Probe::Http {
            url: format!("http://127.0.0.1:{port}/health"),
            status: 200,
            body: Some(body.into()),
            on_host: false,
        };
        let ok = check_from_controller(&probe("r2"), Duration::from_secs(2)).await;
        assert!(ok.is_ok(), "{ok:?}");
        let err = check_from_controller(&probe("r3"), Duration::from_secs(2))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "body lacks \"r3\"");
        let closed = Probe::Tcp {
            host: "127.0.0.1".into(),
            port: 1,
            open: false,
        };
        let ok = check_from_controller(&closed, Duration::from_secs(2)).await;
        assert!(ok.is_ok(), "{ok:?}");
    }
}
