//! Every byte the user sees goes through the [`Printer`]: host output on
//! stdout prefixed with the host name, progress and summaries on stderr.
//! Every line is masked (values read through `env()` print as `****`) and
//! then has its control characters escaped (text from hosts must not drive
//! the operator's terminal). Run logs are the user's alone (0600 in 0700).
//! A release run's events go through its [`Reporter`], which turns each
//! into the journal's line, the JSON line, and the terminal's text
//! ([`human`]) printed here.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::secrets::Secrets;

pub mod human;
mod junit;
mod reporter;
pub mod style;
pub mod timeline;

pub use junit::{junit_xml, CaseResult, TestCase};

pub use reporter::{HostEnd, Reporter, RunEnd};

pub struct Printer {
    secrets: Secrets,
    /// Timestamps on progress lines when stderr is not a terminal (CI logs).
    stamp: bool,
    /// Per-host logs of a run: `<dir>/<host>.log`.
    logs: Mutex<Option<HostLogs>>,
    /// A rollout progress bar, on a terminal only.
    bar: Mutex<Option<ProgressBar>>,
    /// With `--output json` stdout carries events only: host output moves to stderr.
    machine_stdout: std::sync::atomic::AtomicBool,
    /// Each host's last log lines since its step started, for the step's
    /// `step_finished` (a release run only: [`Printer::keep_tails`]).
    tails: Mutex<Option<HashMap<String, std::collections::VecDeque<String>>>>,
}

/// Lines a step's `output` keeps, and characters of each: the hover of the
/// run's timeline, bounded per host whatever the host prints.
pub const TAIL_LINES: usize = 8;
pub const TAIL_CHARS: usize = 240;

struct HostLogs {
    dir: PathBuf,
    files: HashMap<String, File>,
}

impl Printer {
    pub fn new(secrets: Secrets) -> Printer {
        Printer {
            secrets,
            stamp: !std::io::stderr().is_terminal(),
            logs: Mutex::new(None),
            bar: Mutex::new(None),
            machine_stdout: std::sync::atomic::AtomicBool::new(false),
            tails: Mutex::new(None),
        }
    }

    /// Keep each host's last log lines from now on (see [`Printer::take_tail`]).
    pub fn keep_tails(&self) {
        self.tails
            .lock()
            .expect("tails lock")
            .get_or_insert_with(HashMap::new);
    }

    /// The host's last log lines since the last call (masked, escaped, cut).
    pub fn take_tail(&self, host: &str) -> Vec<String> {
        let mut tails = self.tails.lock().expect("tails lock");
        tails
            .as_mut()
            .and_then(|t| t.remove(host))
            .map(Vec::from)
            .unwrap_or_default()
    }

    /// Keep stdout for machine-readable lines (`out`) only.
    pub fn machine_stdout(&self) {
        self.machine_stdout
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Show a bar of hosts done when stderr is a terminal; CI gets lines only.
    pub fn progress_start(&self, hosts: usize) {
        if self.stamp || hosts == 0 {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(hosts as u64), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} hosts  {msg}  {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        *self.bar.lock().expect("bar lock") = Some(bar);
    }

    pub fn progress_message(&self, message: &str) {
        if let Some(bar) = self.bar.lock().expect("bar lock").as_ref() {
            bar.set_message(message.to_string());
        }
    }

    pub fn progress_hosts_done(&self, n: usize) {
        if let Some(bar) = self.bar.lock().expect("bar lock").as_ref() {
            bar.inc(n as u64);
        }
    }

    pub fn progress_finish(&self) {
        if let Some(bar) = self.bar.lock().expect("bar lock").take() {
            bar.finish_and_clear();
        }
    }

    /// Print without tearing the progress bar; control characters escaped.
    fn write(&self, to_stdout: bool, text: &str) {
        self.emit(to_stdout, &escape_controls(text));
    }

    /// As [`Printer::write`], one of ferry's own lines: its outcome words
    /// styled ([`style::paint`]; the stream strips them where colour is off).
    fn write_painted(&self, to_stdout: bool, text: &str) {
        self.emit(to_stdout, &style::paint(&escape_controls(text)));
    }

    fn emit(&self, to_stdout: bool, text: &str) {
        let emit = || {
            if to_stdout {
                let _ = writeln!(anstream::stdout().lock(), "{text}");
            } else {
                let _ = writeln!(anstream::stderr().lock(), "{text}");
            }
        };
        match self.bar.lock().expect("bar lock").as_ref() {
            Some(bar) => bar.suspend(emit),
            None => emit(),
        }
    }

    /// Keep every host's lines in `<dir>/<host>.log` from now on.
    pub fn log_to(&self, dir: &Path) {
        *self.logs.lock().expect("logs lock") = Some(HostLogs {
            dir: dir.to_path_buf(),
            files: HashMap::new(),
        });
    }

    fn log(&self, host: &str, line: &str) {
        if let Some(tails) = self.tails.lock().expect("tails lock").as_mut() {
            let tail = tails.entry(host.to_string()).or_default();
            // A failure's report is one event of many lines.
            for line in line.lines() {
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(one_line(line).chars().take(TAIL_CHARS).collect());
            }
        }
        let mut guard = self.logs.lock().expect("logs lock");
        let Some(logs) = guard.as_mut() else { return };
        if !logs.files.contains_key(host) {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(logs.dir.join(format!("{host}.log")));
            match opened {
                Ok(f) => {
                    logs.files.insert(host.to_string(), f);
                }
                Err(_) => return,
            }
        }
        if let Some(f) = logs.files.get_mut(host) {
            // One write(2) per line, not one per formatted piece.
            let text = format!("{} {}\n", clock(), escape_controls(line));
            let _ = f.write_all(text.as_bytes());
        }
    }

    fn stamped(&self, text: &str) -> String {
        if self.stamp {
            format!("{} {text}", clock())
        } else {
            text.to_string()
        }
    }

    /// A question on the terminal (no newline).
    pub fn prompt(&self, question: &str) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{question}");
        let _ = err.flush();
    }

    /// A printer for messages outside a command (its final error): it
    /// masks every value any renderer of this process read through `env()`.
    pub fn plain() -> Printer {
        Printer::new(Secrets::process())
    }

    /// The secrets this printer masks: for sinks that are not the terminal
    /// (journal, `JUnit`, notifications, host history) to mask the same way.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    fn mask(&self, text: &str) -> String {
        self.secrets.mask(text)
    }

    /// One line of a host's command output.
    pub fn host_line(&self, host: &str, is_stderr: bool, line: &str) {
        let sep = if is_stderr { "!" } else { "|" };
        let text = self.mask(line);
        self.log(host, &format!("{sep} {text}"));
        let to_stdout = !self
            .machine_stdout
            .load(std::sync::atomic::Ordering::SeqCst);
        self.write(to_stdout, &format!("{host:>12} {sep} {text}"));
    }

    /// A progress event about one host.
    pub fn host_event(&self, host: &str, message: &str) {
        let text = self.mask(message);
        self.log(host, &text);
        let line = self.stamped(&format!("[{host}] {text}"));
        self.write_painted(false, &line);
    }

    /// A line for the whole run.
    pub fn note(&self, message: &str) {
        self.write_painted(false, &self.mask(message));
    }

    /// A line the [`Reporter`] already masked (a JSON event), on stdout.
    pub fn out_masked(&self, line: &str) {
        self.write(true, line);
    }

    /// A line of a report meant for stdout (check plans, summaries for pipes).
    pub fn out(&self, message: &str) {
        self.write(true, &self.mask(message));
    }

    /// As [`Printer::out`], with its outcome words styled (a table's
    /// outcome column: `status`'s HEALTH).
    pub fn out_painted(&self, message: &str) {
        self.write_painted(true, &self.mask(message));
    }

    pub fn error(&self, err: &dyn std::error::Error) {
        let mut stderr = anstream::stderr().lock();
        let text = |e: &dyn std::fmt::Display| escape_controls(&self.mask(&e.to_string()));
        let _ = writeln!(stderr, "{}", style::paint(&format!("error: {}", text(err))));
        for cause in std::iter::successors(err.source(), |e| e.source()) {
            let _ = writeln!(stderr, "  caused by: {}", text(cause));
        }
    }
}

/// A command that ends early (an error) takes its bar away before the
/// error is printed.
impl Drop for Printer {
    fn drop(&mut self) {
        self.progress_finish();
    }
}

/// `text` with every control character but newline and tab written as
/// `\u001b` (valid inside JSON strings too, so JSON lines stay JSON): ESC,
/// BEL, CR, DEL and the C1 range never reach the terminal raw.
pub fn escape_controls(text: &str) -> String {
    escape_where(text, |c| c.is_control() && c != '\n' && c != '\t')
}

/// One field of data read from a host (a name, a detail) for a one-line
/// report: like [`escape_controls`], and newlines escaped too, so a host
/// cannot forge report lines.
pub fn one_line(text: &str) -> String {
    escape_where(text, |c| c.is_control() && c != '\t')
}

fn escape_where(text: &str, escaped: impl Fn(char) -> bool) -> String {
    if !text.chars().any(&escaped) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// UTC wall clock with milliseconds: "12:03:04.567".
fn clock() -> String {
    let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    stamp.get(11..23).unwrap_or(&stamp).to_string()
}

/// The last `n` lines of `text`, for error reports.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_tabs_and_newlines_kept() {
        let hostile = "\u{1b}[2J\u{1b}]0;owned\u{7}evil\r\u{7f}\u{9b}31m\tok\nnext";
        assert_eq!(
            escape_controls(hostile),
            "\\u001b[2J\\u001b]0;owned\\u0007evil\\u000d\\u007f\\u009b31m\tok\nnext"
        );
        assert_eq!(one_line("a\nb\tc"), "a\\u000ab\tc");
        assert_eq!(escape_controls("plain text ünïcode"), "plain text ünïcode");
        // A JSON line stays JSON with the same value.
        let line = serde_json::json!({ "by": "x\u{7f}\u{9b}y" }).to_string();
        let back: serde_json::Value = serde_json::from_str(&escape_controls(&line)).unwrap();
        assert_eq!(back["by"], "x\u{7f}\u{9b}y");
    }

    #[test]
    fn a_hosts_tail_keeps_its_last_lines_cut_and_on_one_line() {
        let printer = Printer::plain();
        printer.host_line("h1", false, "before tails are kept");
        assert!(printer.take_tail("h1").is_empty());
        printer.keep_tails();
        for i in 0..TAIL_LINES + 2 {
            printer.host_line("h1", false, &format!("line {i}"));
        }
        printer.host_event("h2", &format!("{}\u{1b}[2J\nnext", "x".repeat(TAIL_CHARS)));
        let tail = printer.take_tail("h1");
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[0], "| line 2");
        assert_eq!(tail[TAIL_LINES - 1], format!("| line {}", TAIL_LINES + 1));
        assert!(printer.take_tail("h1").is_empty(), "taken");
        assert_eq!(
            printer.take_tail("h2"),
            ["x".repeat(TAIL_CHARS), "next".into()]
        );
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("", 2), "");
    }
}
