//! The controller's record of a run: `<log dir>/<run id>/journal.jsonl`, one
//! JSON object per [`Event`](crate::events::Event) with a millisecond timestamp, so the order of
//! switches and health checks across batches can be checked afterwards.
//! It writes lines the [`crate::report::Reporter`] already masked; the
//! folder is 0700 and the file 0600: the user who ran ferry reads them.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::Value;

pub struct Journal {
    dir: Option<PathBuf>,
    file: Mutex<Option<File>>,
}

impl Journal {
    /// Create `<root>/<run_id>/`; a journal that cannot be written is
    /// reported once and then silently off: it never fails a deploy.
    pub fn create(root: &Path, run_id: &str) -> (Journal, Option<String>) {
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
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Append one event's line ([`crate::events::Event::line`]), masked.
    pub fn write(&self, line: &Value) {
        if let Some(file) = self.file.lock().expect("journal lock").as_mut() {
            // One write per line: `writeln!` on a File is a write(2) per
            // formatted piece, dozens per event.
            let mut text = line.to_string();
            text.push('\n');
            let _ = file.write_all(text.as_bytes());
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
    fn lines_go_to_a_private_file() {
        let root = tempfile::tempdir().unwrap();
        let (journal, problem) = Journal::create(&root.path().join("runs"), "run-1");
        assert_eq!(problem, None);
        journal.write(&serde_json::json!({ "event": "staging_finished" }));
        let dir = root.path().join("runs/run-1");
        let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
        assert_eq!(text, "{\"event\":\"staging_finished\"}\n");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("journal.jsonl")), 0o600);
        assert_eq!(mode(&dir), 0o700);
    }
}
