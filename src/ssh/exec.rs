//! Running one command on a channel: stdout and stderr streamed line by line,
//! exit status or signal captured, a client-side deadline enforced.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use russh::ChannelMsg;

use super::{Session, SshError};

/// Output kept per stream of a user's command: the tail is what matters in
/// a report.
pub const KEEP_BYTES: usize = 256 * 1024;

/// Longest line passed to the line callback. A longer line is passed once
/// it reaches this size, marked, and the rest of it is dropped: a host that
/// prints one endless line costs the controller bounded memory.
pub(super) const MAX_LINE: usize = 64 * 1024;

/// Ends a line cut at [`MAX_LINE`].
pub(super) const LINE_CUT: &str = " [line cut by ferry]";

/// What [`Session::exec_with_input`] returns of a command's stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// The last bytes: the end of a user's command is what a report shows.
    Tail(usize),
    /// The first bytes: ferry's own scripts print their status lines first
    /// and bound what follows, so host text cannot push those lines out.
    Head(usize),
}

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

    /// The exit status, when the command exited (not killed, not lost).
    pub fn code(&self) -> Option<u32> {
        match self {
            ExitKind::Code(code) => Some(*code),
            _ => None,
        }
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

/// Splits a byte stream into lines for the callback and keeps a bounded
/// part of it. The newline search looks only at new bytes, and neither
/// buffer grows past its limit, so any output costs linear time and bounded
/// memory.
pub(crate) struct LineBuffer {
    /// The line being read, at most [`MAX_LINE`] bytes.
    partial: Vec<u8>,
    /// The current line was cut and passed on; drop the rest of it.
    skipping: bool,
    kept: Kept,
}

impl LineBuffer {
    pub(crate) fn new(keep: Keep) -> LineBuffer {
        LineBuffer {
            partial: Vec::new(),
            skipping: false,
            kept: Kept {
                keep,
                bytes: VecDeque::new(),
                cut: 0,
            },
        }
    }

    pub(crate) fn push(&mut self, data: &[u8], mut emit: impl FnMut(&str)) {
        self.kept.push(data);
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            self.take(&rest[..pos], &mut emit);
            if !std::mem::take(&mut self.skipping) {
                emit(String::from_utf8_lossy(&self.partial).trim_end_matches('\r'));
            }
            self.partial.clear();
            rest = &rest[pos + 1..];
        }
        self.take(rest, &mut emit);
    }

    /// Add part of a line; pass the line on, cut, once it reaches the limit.
    fn take(&mut self, bytes: &[u8], emit: &mut impl FnMut(&str)) {
        if self.skipping {
            return;
        }
        let room = MAX_LINE - self.partial.len();
        if bytes.len() < room {
            self.partial.extend_from_slice(bytes);
            return;
        }
        self.partial.extend_from_slice(&bytes[..room]);
        emit(&format!(
            "{}{LINE_CUT}",
            String::from_utf8_lossy(&self.partial)
        ));
        self.partial.clear();
        self.skipping = true;
    }

    pub(crate) fn finish(&mut self, mut emit: impl FnMut(&str)) -> String {
        if !self.partial.is_empty() && !self.skipping {
            emit(&String::from_utf8_lossy(&self.partial));
        }
        self.partial.clear();
        self.kept.finish()
    }
}

/// The part of a stream returned to the caller.
struct Kept {
    keep: Keep,
    bytes: VecDeque<u8>,
    /// Bytes not kept.
    cut: usize,
}

impl Kept {
    fn push(&mut self, data: &[u8]) {
        match self.keep {
            Keep::Tail(max) => {
                self.bytes.extend(data);
                let over = self.bytes.len().saturating_sub(max);
                self.bytes.drain(..over);
                self.cut += over;
            }
            Keep::Head(max) => {
                let room = max.saturating_sub(self.bytes.len()).min(data.len());
                self.bytes.extend(&data[..room]);
                self.cut += data.len() - room;
            }
        }
    }

    fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(self.bytes.make_contiguous()).into_owned();
        match (self.cut, self.keep) {
            (0, _) => text,
            (n, Keep::Tail(_)) => format!("[ferry: {n} earlier bytes not kept]\n{text}"),
            (n, Keep::Head(_)) => format!("{text}\n[ferry: {n} more bytes not kept]\n"),
        }
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

/// How often a send watches for its connection to end.
const CLOSED_POLL: Duration = Duration::from_millis(100);

impl Session {
    /// Resolves once the connection is gone (russh has no notification for
    /// it, so it is polled).
    pub(super) async fn closed(&self) {
        while !self.is_closed() {
            tokio::time::sleep(CLOSED_POLL).await;
        }
    }

    /// Run `command` and wait for it, calling `on_line` for every output line.
    /// Past `deadline` the channel is closed and [`SshError::Timeout`] returned;
    /// stopping the remote process is the command's job (see `steps`).
    pub async fn exec(
        &self,
        command: &str,
        deadline: Option<Duration>,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<ExecOutput, SshError> {
        self.exec_with_input(command, None, deadline, Keep::Tail(KEEP_BYTES), on_line)
            .await
    }

    /// Like [`Session::exec`], streaming `input` to the command's stdin first
    /// (then EOF): an upload on the same channel as the command that reads it.
    /// `keep` says which part of stdout is returned.
    pub async fn exec_with_input(
        &self,
        command: &str,
        input: Option<Bytes>,
        deadline: Option<Duration>,
        keep: Keep,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<ExecOutput, SshError> {
        let mut channel = self.channel().await?;
        // The reply to the request is not waited for: the exit status says.
        channel.exec(true, command).await?;
        self.count_exec();
        let mut out = LineBuffer::new(keep);
        let mut err = LineBuffer::new(Keep::Tail(KEEP_BYTES));
        let mut exit = ExitKind::Lost;
        let mut sent: Result<(), String> = Ok(());
        let work = async {
            if let Some(input) = input {
                // A failed send is judged after the exit status: a script that
                // stopped reading (disk full) explains itself on stderr.
                // russh never wakes a send that waits for window space when
                // the connection ends (a host killed mid-upload): without
                // this watch the run waited forever.
                sent = tokio::select! {
                    sent = send_all(&channel, input) => match sent {
                        Ok(()) => channel.eof().await.map_err(|e| e.to_string()),
                        Err(e) => Err(e),
                    },
                    () = self.closed() => Err("the connection was lost".to_string()),
                };
            }
            // Keep reading after the exit status: data may still follow it.
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.push(&data, |l| on_line(Stream::Stdout, l)),
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        err.push(&data, |l| on_line(Stream::Stderr, l));
                    }
                    ChannelMsg::ExitStatus { exit_status } => exit = ExitKind::Code(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        exit = ExitKind::Signal(format!("{signal_name:?}"));
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
        let mut buf = LineBuffer::new(Keep::Tail(KEEP_BYTES));
        let mut lines = Vec::new();
        buf.push(b"one\ntw", |l| lines.push(l.to_string()));
        buf.push(b"o\r\nthree", |l| lines.push(l.to_string()));
        let all = buf.finish(|l| lines.push(l.to_string()));
        assert_eq!(lines, ["one", "two", "three"]);
        assert_eq!(all, "one\ntwo\r\nthree");
    }

    #[test]
    fn one_endless_line_costs_bounded_memory_and_is_cut_with_a_marker() {
        let mut buf = LineBuffer::new(Keep::Tail(KEEP_BYTES));
        let mut lines: Vec<String> = Vec::new();
        let chunk = vec![b'x'; 32 * 1024];
        // 64 MiB without a newline: the old buffer held all of it and
        // rescanned it for every packet.
        for _ in 0..2048 {
            buf.push(&chunk, |l| lines.push(l.to_string()));
            assert!(
                buf.partial.capacity() <= 2 * MAX_LINE,
                "{}",
                buf.partial.capacity()
            );
            assert!(buf.kept.bytes.len() <= KEEP_BYTES);
        }
        buf.push(b"\nnext\n", |l| lines.push(l.to_string()));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], format!("{}{LINE_CUT}", "x".repeat(MAX_LINE)));
        assert_eq!(lines[1], "next");
        let kept = buf.finish(|l| lines.push(l.to_string()));
        assert!(kept.starts_with("[ferry: "), "{}", &kept[..40]);
        assert!(kept.ends_with("x\nnext\n"));
        assert!(kept.len() < KEEP_BYTES + 64);
    }

    #[test]
    fn a_head_keeps_the_first_lines_however_much_follows() {
        let mut buf = LineBuffer::new(Keep::Head(16));
        buf.push(b"@@status ok\n", |_| {});
        for _ in 0..1000 {
            buf.push(b"0123456789\n", |_| {});
        }
        assert_eq!(
            buf.finish(|_| {}),
            "@@status ok\n0123\n[ferry: 10996 more bytes not kept]\n"
        );
    }
}
