//! `HAProxy`'s runtime API from the controller: one command per connection to
//! the admin socket (a unix socket path, or `host:port`), every answer
//! checked. Parsing is pure and unit-tested below.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// How long one exchange with `HAProxy` may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HaproxyError {
    #[error("HAProxy at {socket}: cannot connect: {reason}")]
    Unreachable { socket: String, reason: String },
    #[error("HAProxy at {socket}: no backend `{backend}`")]
    NoBackend { socket: String, backend: String },
    #[error("HAProxy at {socket}: no server `{server}` in backend `{backend}`")]
    NoServer {
        socket: String,
        backend: String,
        server: String,
    },
    #[error("HAProxy at {socket} refused `{command}`: {answer}")]
    Refused {
        socket: String,
        command: String,
        answer: String,
    },
}

/// One server's load as `show stat` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    /// Current sessions (`scur`).
    pub sessions: u64,
    /// Queued requests (`qcur`).
    pub queued: u64,
}

/// The command that sets a server's admin state (`drain` or `ready`).
pub fn set_state(backend: &str, server: &str, state: &str) -> String {
    format!("set server {backend}/{server} state {state}")
}

/// `HAProxy` answers a successful `set server` with nothing; anything else is
/// an error, the known ones named.
pub fn check_set(
    socket: &str,
    command: &str,
    backend: &str,
    server: &str,
    answer: &str,
) -> Result<(), HaproxyError> {
    let text = answer.trim();
    if text.is_empty() {
        return Ok(());
    }
    Err(match text {
        t if t.starts_with("No such backend") => HaproxyError::NoBackend {
            socket: socket.into(),
            backend: backend.into(),
        },
        t if t.starts_with("No such server") => HaproxyError::NoServer {
            socket: socket.into(),
            backend: backend.into(),
            server: server.into(),
        },
        _ => HaproxyError::Refused {
            socket: socket.into(),
            command: command.into(),
            answer: text.lines().next().unwrap_or(text).into(),
        },
    })
}

/// The server's `scur` and `qcur` in a `show stat` CSV answer.
pub fn parse_stat(
    socket: &str,
    backend: &str,
    server: &str,
    answer: &str,
) -> Result<Load, HaproxyError> {
    let refused = || HaproxyError::Refused {
        socket: socket.into(),
        command: "show stat".into(),
        answer: answer.trim().lines().next().unwrap_or("(nothing)").into(),
    };
    let mut lines = answer.lines();
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or_else(refused)?;
    let columns: Vec<&str> = header.split(',').collect();
    let at = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(scur), Some(qcur)) =
        (at("pxname"), at("svname"), at("scur"), at("qcur"))
    else {
        return Err(refused());
    };
    let mut backend_seen = false;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.get(px) != Some(&backend) {
            continue;
        }
        backend_seen = true;
        if fields.get(sv) != Some(&server) {
            continue;
        }
        let number = |i: usize| {
            let text = fields.get(i).copied().unwrap_or("");
            if text.is_empty() {
                Ok(0)
            } else {
                text.parse::<u64>().map_err(|_| refused())
            }
        };
        return Ok(Load {
            sessions: number(scur)?,
            queued: number(qcur)?,
        });
    }
    Err(if backend_seen {
        HaproxyError::NoServer {
            socket: socket.into(),
            backend: backend.into(),
            server: server.into(),
        }
    } else {
        HaproxyError::NoBackend {
            socket: socket.into(),
            backend: backend.into(),
        }
    })
}

/// Send one command and read the whole answer (`HAProxy` closes after it).
pub async fn ask(socket: &str, command: &str) -> Result<String, HaproxyError> {
    let unreachable = |reason: String| HaproxyError::Unreachable {
        socket: socket.into(),
        reason,
    };
    let exchange = async {
        let line = format!("{command}\n");
        let mut answer = Vec::new();
        if socket.contains('/') {
            let mut stream = UnixStream::connect(socket).await?;
            stream.write_all(line.as_bytes()).await?;
            stream.read_to_end(&mut answer).await?;
        } else {
            let mut stream = TcpStream::connect(socket).await?;
            stream.write_all(line.as_bytes()).await?;
            stream.read_to_end(&mut answer).await?;
        }
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .map_err(|_| unreachable(format!("no answer within {}s", ANSWER_TIMEOUT.as_secs())))?
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot\n\
        web,FRONTEND,,,3,5,2000,10\n\
        app,h1,0,0,2,4,,9\n\
        app,h2,1,1,0,3,,7\n\
        app,BACKEND,1,1,2,5,200,16\n\n";

    #[test]
    fn show_stat_gives_sessions_and_queue_of_the_server() {
        let cases = [
            (
                "h1",
                Ok(Load {
                    sessions: 2,
                    queued: 0,
                }),
            ),
            (
                "h2",
                Ok(Load {
                    sessions: 0,
                    queued: 1,
                }),
            ),
            (
                "h3",
                Err(HaproxyError::NoServer {
                    socket: "s".into(),
                    backend: "app".into(),
                    server: "h3".into(),
                }),
            ),
        ];
        for (server, want) in cases {
            assert_eq!(parse_stat("s", "app", server, STAT), want, "{server}");
        }
        assert_eq!(
            parse_stat("s", "ap", "h1", STAT),
            Err(HaproxyError::NoBackend {
                socket: "s".into(),
                backend: "ap".into()
            })
        );
    }

    #[test]
    fn a_stat_answer_that_is_not_csv_is_refused() {
        for answer in [
            "",
            "Unknown command.\n",
            "# pxname,svname\napp,h1\n",
            "# pxname,svname,qcur,scur\napp,h1,x,1\n",
        ] {
            let err = parse_stat("s", "app", "h1", answer).unwrap_err();
            assert!(
                matches!(err, HaproxyError::Refused { .. }),
                "{answer:?}: {err}"
            );
        }
    }

    #[test]
    fn every_set_answer_is_checked() {
        let cmd = set_state("app", "h1", "drain");
        assert_eq!(cmd, "set server app/h1 state drain");
        assert_eq!(check_set("s", &cmd, "app", "h1", "\n"), Ok(()));
        assert_eq!(
            check_set("s", &cmd, "app", "h1", "No such server.\n\n")
                .unwrap_err()
                .to_string(),
            "HAProxy at s: no server `h1` in backend `app`"
        );
        assert_eq!(
            check_set("s", &cmd, "app", "h1", "No such backend.\n")
                .unwrap_err()
                .to_string(),
            "HAProxy at s: no backend `app`"
        );
        assert_eq!(
            check_set("s", &cmd, "app", "h1", "Permission denied\n")
                .unwrap_err()
                .to_string(),
            "HAProxy at s refused `set server app/h1 state drain`: Permission denied"
        );
    }
}
