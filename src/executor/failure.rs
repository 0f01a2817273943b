//! How a task failed on a host, and how a host ended a run of tasks.

use std::time::Duration;

use crate::report::tail;
use crate::ssh::ExitKind;

/// Lines of stderr quoted in a failure.
const STDERR_TAIL_LINES: usize = 10;

/// Why a task failed on a host, with everything needed to act on it.
#[derive(Clone, Debug, thiserror::Error)]
#[error("task `{task}` failed on {host}: {reason}{}{}", command_block(.command), stderr_block(.stderr_tail))]
pub struct TaskFailure {
    pub host: String,
    pub task: String,
    pub command: String,
    /// How the command ended, when it ran at all.
    pub exit: Option<ExitKind>,
    pub reason: String,
    pub stderr_tail: String,
}

impl TaskFailure {
    pub fn new(host: &str, task: &str, command: &str, reason: impl Into<String>) -> TaskFailure {
        TaskFailure {
            host: host.into(),
            task: task.into(),
            command: command.into(),
            exit: None,
            reason: reason.into(),
            stderr_tail: String::new(),
        }
    }

    /// A failure of ferry's own logic on a host, with no command behind it.
    pub fn plain(host: &str, task: &str, reason: &str) -> TaskFailure {
        TaskFailure::new(host, task, "", reason)
    }

    /// The reason with the last line the command wrote to stderr, for a
    /// one-line account (`exit status 1: ln: ... No space left on device`).
    pub fn brief(&self) -> String {
        match self
            .stderr_tail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
        {
            Some(last) if !self.reason.contains(last.trim()) => {
                format!("{}: {}", self.reason, last.trim())
            }
            _ => self.reason.clone(),
        }
    }

    pub(super) fn exit(mut self, exit: Option<ExitKind>) -> TaskFailure {
        self.exit = exit;
        self
    }

    pub(super) fn stderr(mut self, stderr: &str) -> TaskFailure {
        self.stderr_tail = tail(stderr, STDERR_TAIL_LINES);
        self
    }
}

/// ferry's own scripts run to a kilobyte; the start names what they do.
const SHOWN_COMMAND_CHARS: usize = 240;

pub(super) fn command_block(command: &str) -> String {
    if command.is_empty() {
        return String::new();
    }
    let total = command.chars().count();
    if total <= SHOWN_COMMAND_CHARS {
        return format!("\n  command: {command}");
    }
    let start: String = command.chars().take(SHOWN_COMMAND_CHARS).collect();
    format!("\n  command: {start}… ({total} characters)")
}

pub(super) fn stderr_block(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n  stderr:\n    {}", tail.replace('\n', "\n    "))
    }
}

#[derive(Clone, Debug)]
pub enum HostStatus {
    Ok,
    Failed(Box<TaskFailure>),
    Unreachable(String),
}

#[derive(Clone, Debug)]
pub struct HostReport {
    pub host: String,
    pub status: HostStatus,
    pub tasks_run: usize,
    pub tasks_skipped: usize,
    pub elapsed: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_shows_host_task_command_status_and_stderr() {
        let failure = TaskFailure {
            host: "web1".into(),
            task: "migrate".into(),
            command: "./migrate".into(),
            exit: Some(ExitKind::Code(3)),
            reason: "exit status 3".into(),
            stderr_tail: "boom\nbang".into(),
        };
        assert_eq!(
            failure.to_string(),
            "task `migrate` failed on web1: exit status 3\n  command: ./migrate\n  stderr:\n    boom\n    bang"
        );
    }

    #[test]
    fn brief_adds_the_last_stderr_line_once() {
        let mut failure = TaskFailure::new("web1", "switch", "ln ...", "exit status 1");
        assert_eq!(failure.brief(), "exit status 1");
        failure.stderr_tail =
            "ln: warning\nln: failed to create symbolic link: No space left on device\n\n".into();
        assert_eq!(
            failure.brief(),
            "exit status 1: ln: failed to create symbolic link: No space left on device"
        );
        failure.reason = "lost the lock: not changed".into();
        failure.stderr_tail = "lost the lock: not changed".into();
        assert_eq!(failure.brief(), "lost the lock: not changed");
    }
}
