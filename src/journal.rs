//! The controller's record of a run: `<log dir>/<run id>/journal.jsonl`, one
//! JSON object per [`Event`] with a millisecond timestamp, so the order of
//! switches and health checks across batches can be checked afterwards.
//! Values read through `env()` are masked before an event is serialised;
//! the folder is 0700 and the file 0600: the user who ran ferry reads them.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::events::Event;
use crate::report::Printer;
use crate::secrets::Secrets;

pub struct Journal {
    dir: Option<PathBuf>,
    file: Mutex<Option<File>>,
    /// Also print every event on stdout (`--output json`).
    echo: Option<Arc<Printer>>,
    secrets: Secrets,
}

impl Journal {
    /// Create `<root>/<run_id>/`; a journal that cannot be written is
    /// reported once and then silently off: it never fails a deploy.
    pub fn create(root: &Path, run_id: &str, secrets: Secrets) -> (Journal, Option<String>) {
        let dir = root.join(run_id);
        let opened = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(dir.join("journal.jsonl"))
            });
        match opened {
            Ok(file) => (
                Journal {
                    dir: Some(dir),
                    file: Mutex::new(Some(file)),
                    echo: None,
                    secrets,
                },
                None,
            ),
            Err(e) => (
                Journal::off(),
                Some(format!(
                    "cannot write the run log in {}: {e}",
                    dir.display()
                )),
            ),
        }
    }

    pub fn off() -> Journal {
        Journal {
            dir: None,
            file: Mutex::new(None),
            echo: None,
            secrets: Secrets::default(),
        }
    }

    /// Print every event on stdout too, as JSON lines.
    #[must_use]
    pub fn echo_to(mut self, printer: Arc<Printer>) -> Journal {
        self.echo = Some(printer);
        self
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Append `{"schema": .., "at_ms": .., "event": name, ..fields}`
    /// ([`Event::line`]), every string in it masked.
    pub fn record(&self, event: &Event) {
        let mut guard = self.file.lock().expect("journal lock");
        let line = self.secrets.mask_json(&event.line(now_ms()));
        if let Some(file) = guard.as_mut() {
            let _ = writeln!(file, "{line}");
        }
        if let Some(printer) = &self.echo {
            printer.out(&line.to_string());
        }
    }
}

pub fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn events_are_masked_before_serialising_in_a_private_file() {
        let root = tempfile::tempdir().unwrap();
        let secrets = Secrets::default();
        secrets.add("pa\"ss\\wo'rd");
        let (journal, problem) = Journal::create(&root.path().join("runs"), "run-1", secrets);
        assert_eq!(problem, None);
        journal.record(&Event::HostResult {
            host: "web1".into(),
            outcome: crate::events::HostOutcome::Failed,
            current: None,
            reason: Some("command: echo 'pa\"ss\\wo'\\''rd' pa\"ss\\wo'rd".into()),
        });
        let dir = root.path().join("runs/run-1");
        let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
        assert!(!text.contains("rd"), "{text}");
        assert!(
            text.contains(r#""reason":"command: echo '****' ****""#),
            "{text}"
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("journal.jsonl")), 0o600);
        assert_eq!(mode(&dir), 0o700);
    }
}
