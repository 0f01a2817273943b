//! Running one command on a channel: stdout and stderr streamed line by line,
//! exit status or signal captured, a client-side deadline enforced.

use std::time::Duration;

use bytes::Bytes;
use russh::ChannelMsg;

use super::{Session, SshError};

/// Output kept per stream: the tail is what matters in a report.
const KEEP_BYTES: usize = 256 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitKind {
    Code(u32),
    Signal(String),
    /// The channel closed without an exit status or signal.
    Lost,
}

impl ExitKind {
    pub fn success(&self) -> bool {
        *self == ExitKind::Code(0)
    }
}

impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitKind::Code(c) => write!(f, "exit status {c}"),
            ExitKind::Signal(s) => write!(f, "killed by signal {s}"),
            ExitKind::Lost => write!(f, "no exit status (connection lost?)"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ExecOutput {
    pub exit: ExitKind,
    pub stdout: String,
    pub stderr: String,
}

/// Splits a byte stream into lines for the callback and keeps a bounded tail.
#[derive(Default)]
struct LineBuffer {
    partial: Vec<u8>,
    kept: Vec<u8>,
}

impl LineBuffer {
    fn push(&mut self, data: &[u8], mut emit: impl FnMut(&str)) {
        self.kept.extend_from_slice(data);
        if self.kept.len() > KEEP_BYTES {
            let cut = self.kept.len() - KEEP_BYTES;
            self.kept.drain(..cut);
        }
        self.partial.extend_from_slice(data);
        while let Some(pos) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            emit(String::from_utf8_lossy(&line[..line.len() - 1]).trim_end_matches('\r'));
        }
    }

    fn finish(&mut self, mut emit: impl FnMut(&str)) -> String {
        if !self.partial.is_empty() {
            emit(&String::from_utf8_lossy(&self.partial));
            self.partial.clear();
        }
        String::from_utf8_lossy(&self.kept).into_owned()
    }
}

/// Bytes per channel message: one SSH packet at OpenSSH's maximum for session
/// channels. The input is shared (one copy of the artifact for all hosts);
/// what costs memory per host is russh's output buffer, which grows to hold
/// every message queued since its last flush (up to ten). Smaller messages
/// save little memory and cost wall time and host CPU (BENCHMARKS.md).
const SEND_CHUNK: usize = 32 * 1024;

async fn send_all(
    channel: &russh::Channel<russh::client::Msg>,
    input: Bytes,
) -> Result<(), String> {
    let mut offset = 0;
    while offset < input.len() {
        let end = (offset + SEND_CHUNK).min(input.len());
        channel
            .data_bytes(input.slice(offset..end))
            .await
            .map_err(|e| e.to_string())?;
        // Let the session task encrypt and flush this message before the next
        // one is queued: its buffer then stays near one message instead of
        // ten (heaptrack: 132 KB -> 33 KB per host).
        tokio::task::yield_now().await;
        offset = end;
    }
    Ok(())
}

impl Session {
    /// Run `command` and wait for it, calling `on_line` for every output line.
    /// Past `deadline` the channel is closed and [`SshError::Timeout`] returned;
    /// stopping the remote process is the command's job (see `steps`).
    pub async fn exec(
        &self,
        command: &str,
        deadline: Option<Duration>,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<ExecOutput, SshError> {
        self.exec_with_input(command, None, deadline, on_line).await
    }

    /// Like [`Session::exec`], streaming `input` to the command's stdin first
    /// (then EOF): an upload on the same channel as the command that reads it.
    pub async fn exec_with_input(
        &self,
        command: &str,
        input: Option<Bytes>,
        deadline: Option<Duration>,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<ExecOutput, SshError> {
        let mut channel = self.handle.channel_open_session().await?;
        channel.exec(true, command).await?;
        let mut out = LineBuffer::default();
        let mut err = LineBuffer::default();
        let mut exit = ExitKind::Lost;
        let mut sent: Result<(), String> = Ok(());
        let work = async {
            if let Some(input) = input {
                // A failed send is judged after the exit status: a script that
                // stopped reading (disk full) explains itself on stderr.
                sent = match send_all(&channel, input).await {
                    Ok(()) => channel.eof().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
            }
            // Keep reading after the exit status: data may still follow it.
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.push(&data, |l| on_line(Stream::Stdout, l)),
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        err.push(&data, |l| on_line(Stream::Stderr, l))
                    }
                    ChannelMsg::ExitStatus { exit_status } => exit = ExitKind::Code(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        exit = ExitKind::Signal(format!("{signal_name:?}"))
                    }
                    _ => {}
                }
            }
            Ok::<(), SshError>(())
        };
        let finished = match deadline {
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .map_err(|_| SshError::Timeout { after: limit }),
            None => Ok(work.await),
        };
        match finished {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => {
                let _ = channel.close().await;
                return Err(e);
            }
        }
        if let (Err(e), true) = (&sent, exit.success()) {
            return Err(SshError::Upload(format!("sending input failed: {e}")));
        }
        Ok(ExecOutput {
            stdout: out.finish(|l| on_line(Stream::Stdout, l)),
            stderr: err.finish(|l| on_line(Stream::Stderr, l)),
            exit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_packets() {
        let mut buf = LineBuffer::default();
        let mut lines = Vec::new();
        buf.push(b"one\ntw", |l| lines.push(l.to_string()));
        buf.push(b"o\r\nthree", |l| lines.push(l.to_string()));
        let all = buf.finish(|l| lines.push(l.to_string()));
        assert_eq!(lines, ["one", "two", "three"]);
        assert_eq!(all, "one\ntwo\r\nthree");
    }
}
