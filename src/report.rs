//! Every byte the user sees goes through the [`Printer`]: host output on
//! stdout prefixed with the host name, progress and summaries on stderr.
//! Every line is masked: values read through `env()` print as `****`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use crate::render::Secrets;

pub struct Printer {
    secrets: Secrets,
}

impl Printer {
    pub fn new(secrets: Secrets) -> Printer {
        Printer { secrets }
    }

    /// A printer with no secrets, for errors before anything was rendered.
    pub fn plain() -> Printer {
        Printer::new(Secrets::default())
    }

    fn mask(&self, text: &str) -> String {
        self.secrets.mask(text)
    }

    /// One line of a host's command output.
    pub fn host_line(&self, host: &str, is_stderr: bool, line: &str) {
        let sep = if is_stderr { "!" } else { "|" };
        let text = self.mask(line);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{host:>12} {sep} {text}");
    }

    /// A progress event about one host.
    pub fn host_event(&self, host: &str, message: &str) {
        let text = self.mask(message);
        let _ = writeln!(std::io::stderr().lock(), "[{host}] {text}");
    }

    /// A line for the whole run.
    pub fn note(&self, message: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{}", self.mask(message));
    }

    /// A line of a report meant for stdout (check plans, summaries for pipes).
    pub fn out(&self, message: &str) {
        let _ = writeln!(std::io::stdout().lock(), "{}", self.mask(message));
    }

    pub fn error(&self, err: &anyhow::Error) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "error: {}", self.mask(&err.to_string()));
        for cause in err.chain().skip(1) {
            let _ = writeln!(stderr, "  caused by: {}", self.mask(&cause.to_string()));
        }
    }
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
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("", 2), "");
    }
}
