//! The run's timeline: `ferry report <run-dir> --html` and `--report
//! run.html` turn a run's `journal.jsonl` into one self-contained HTML page
//! (inline CSS, no script, nothing fetched): a row per host, a bar per step
//! coloured by outcome, the batches marked, each bar's commands and output
//! tail on hover (its `title`), the run's summary and its slowest hosts.
//!
//! Everything in a journal may come from a host (names, output, reasons):
//! the page is rendered by minijinja with HTML auto-escaping (the template's
//! name ends in `.html`), never by string pasting, and its Content Security
//! Policy forbids scripts and fetches even if a value slipped through.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod page;
#[cfg(test)]
mod tests;

pub use page::Page;

/// The journal's name in a run's folder.
pub const JOURNAL: &str = "journal.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("cannot read the run's journal {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} has no `run_started`, `rollback_started` or `tasks_started` event: not a run's journal")]
    NotARun(PathBuf),
    #[error("cannot render the timeline: {0}")]
    Render(#[from] minijinja::Error),
    #[error("cannot write the timeline {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How a step ended, as its bar's colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Ok,
    Failed,
    /// No end in the journal: the run was cut short (killed, interrupted).
    Open,
}

/// One step of one host: a bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    /// The step's label (`receive` ... `undrain`); `rollback` for a switch
    /// back to an older release.
    pub step: String,
    pub start: u64,
    pub end: u64,
    pub ending: Ending,
    /// The release a switch or health check was for.
    pub release: Option<String>,
    pub commands: Vec<String>,
    pub output: Vec<String>,
}

/// One host: its batch, its bars and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub host: String,
    /// 1-based, from the plan; `None`: in no batch (skipped, not planned).
    pub batch: Option<usize>,
    pub bars: Vec<Bar>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub current: Option<String>,
    /// Steps started and not yet finished, by label.
    open: HashMap<String, Bar>,
}

impl Row {
    /// An event about this host.
    fn event(&mut self, event: &str, at: u64, e: &Fields, release: Option<&str>) {
        match event {
            "step_started" => {
                let step = text(e, "step").unwrap_or_default();
                // A switch to another release than the run's is a switch back.
                let back = step == "switch"
                    && text(e, "release").is_some_and(|r| Some(r.as_str()) != release);
                let bar = Bar {
                    step: if back {
                        "rollback".into()
                    } else {
                        step.clone()
                    },
                    start: at,
                    end: at,
                    ending: Ending::Open,
                    release: text(e, "release"),
                    commands: Vec::new(),
                    output: Vec::new(),
                };
                self.open.insert(step, bar);
            }
            "step_finished" => {
                let step = text(e, "step").unwrap_or_default();
                let ok = e.get("ok").and_then(Value::as_bool) == Some(true);
                let (commands, output) = (list(e, "commands"), list(e, "output"));
                match self.open.remove(&step) {
                    Some(bar) => self.bars.push(Bar {
                        end: at,
                        ending: if ok { Ending::Ok } else { Ending::Failed },
                        commands,
                        output,
                        ..bar
                    }),
                    // Health ended with its `healthy`/`unhealthy` already.
                    None => {
                        if let Some(bar) = self.bars.iter_mut().rev().find(|b| b.step == step) {
                            bar.commands = commands;
                            bar.output = output;
                        }
                    }
                }
            }
            "healthy" | "unhealthy" => {
                if let Some(bar) = self.open.remove("health") {
                    let ending = if event == "healthy" {
                        Ending::Ok
                    } else {
                        Ending::Failed
                    };
                    self.bars.push(Bar {
                        end: at,
                        ending,
                        ..bar
                    });
                }
            }
            "rolled_back" => match self.open.get_mut("switch") {
                Some(bar) => bar.step = "rollback".into(),
                // A journal from before switches were steps: a mark.
                None => self.bars.push(instant(at, "rollback", text(e, "release"))),
            },
            "switched" if !self.open.contains_key("switch") => {
                self.bars.push(instant(at, "switch", text(e, "release")));
            }
            "host_result" => {
                self.outcome = text(e, "outcome");
                self.reason = text(e, "reason");
                self.current = text(e, "current");
            }
            _ => {}
        }
    }

    /// From its first step's start to its last step's end.
    pub fn span(&self) -> u64 {
        let start = self.bars.iter().map(|b| b.start).min().unwrap_or(0);
        let end = self.bars.iter().map(|b| b.end).max().unwrap_or(0);
        end.saturating_sub(start)
    }
}

/// A moment of the run marked across every row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub at: u64,
    pub label: String,
}

/// A run, as read from its journal.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// `run_started`'s fields.
    pub started: serde_json::Map<String, Value>,
    /// `run_finished`'s fields, when the run got there.
    pub finished: Option<serde_json::Map<String, Value>>,
    pub start: u64,
    pub end: u64,
    /// Hosts in the order of the plan's batches, then the others.
    pub rows: Vec<Row>,
    pub marks: Vec<Mark>,
    /// Canary batches, by number.
    pub canary: Vec<usize>,
    /// Lines that were not JSON (a journal cut by a crash).
    pub unreadable: usize,
}

impl Run {
    /// Read a run's folder (or its journal file itself).
    pub fn read(path: &Path) -> Result<Run, TimelineError> {
        let file = if path.is_dir() {
            path.join(JOURNAL)
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| TimelineError::Read {
            path: file.clone(),
            source,
        })?;
        let run = Run::parse(&text);
        if run.started.is_empty() {
            return Err(TimelineError::NotARun(file));
        }
        Ok(run)
    }

    /// Fold the journal's lines; unknown events and fields are ignored (a
    /// newer ferry's journal still reads).
    pub fn parse(text: &str) -> Run {
        let mut run = Run::default();
        let mut index: HashMap<String, usize> = HashMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(map)) => run.event(&mut index, &map),
                _ => run.unreadable += 1,
            }
        }
        run.close();
        run.order();
        run
    }

    fn row<'a>(&'a mut self, index: &mut HashMap<String, usize>, host: &str) -> &'a mut Row {
        let i = *index.entry(host.to_string()).or_insert_with(|| {
            self.rows.push(Row {
                host: host.to_string(),
                ..Row::default()
            });
            self.rows.len() - 1
        });
        &mut self.rows[i]
    }

    fn event(&mut self, index: &mut HashMap<String, usize>, e: &Fields) {
        let at = e.get("at_ms").and_then(Value::as_u64).unwrap_or(self.end);
        if self.start == 0 {
            self.start = at;
        }
        self.end = self.end.max(at);
        let Some(event) = text(e, "event") else {
            return;
        };
        match event.as_str() {
            // A `ferry rollback`'s switches are all rollbacks; a `ferry
            // run` has tasks, no release.
            "run_started" | "rollback_started" | "tasks_started" => {
                self.started.clone_from(e);
                for h in list(e, "hosts") {
                    self.row(index, &h);
                }
            }
            "plan" => {
                let batches = e.get("batches").and_then(Value::as_array);
                for (i, batch) in batches.into_iter().flatten().enumerate() {
                    for h in batch
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        self.row(index, h).batch = Some(i + 1);
                    }
                }
            }
            "staging_started" => self.mark(at, "staging".into()),
            "batch_started" => {
                let batch = e.get("batch").and_then(Value::as_u64).unwrap_or(0);
                let canary = e.get("canary").and_then(Value::as_bool) == Some(true);
                if canary {
                    self.canary.push(usize::try_from(batch).unwrap_or(0));
                }
                let label = if canary { " (canary)" } else { "" };
                self.mark(at, format!("batch {batch}{label}"));
            }
            "stopped" => self.mark(at, "stopped".into()),
            "run_finished" => self.finished = Some(e.clone()),
            _ => {
                if let Some(h) = text(e, "host") {
                    let release = text(&self.started, "release");
                    self.row(index, &h).event(&event, at, e, release.as_deref());
                }
            }
        }
    }

    fn mark(&mut self, at: u64, label: String) {
        self.marks.push(Mark { at, label });
    }

    /// Steps never finished end with the journal, as open bars.
    fn close(&mut self) {
        let end = self.end;
        for row in &mut self.rows {
            let mut open: Vec<Bar> = row.open.drain().map(|(_, bar)| bar).collect();
            open.sort_by_key(|b| b.start);
            row.bars
                .extend(open.into_iter().map(|bar| Bar { end, ..bar }));
            row.bars.sort_by_key(|b| b.start);
        }
    }

    /// Batch by batch in the plan's order; hosts in no batch last.
    fn order(&mut self) {
        self.rows.sort_by_key(|r| r.batch.unwrap_or(usize::MAX));
    }
}

/// One journal line's fields.
type Fields = serde_json::Map<String, Value>;

fn text(e: &Fields, key: &str) -> Option<String> {
    e.get(key).and_then(Value::as_str).map(str::to_string)
}

fn list(e: &Fields, key: &str) -> Vec<String> {
    e.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn instant(at: u64, step: &str, release: Option<String>) -> Bar {
    Bar {
        step: step.into(),
        start: at,
        end: at,
        ending: Ending::Ok,
        release,
        commands: Vec::new(),
        output: Vec::new(),
    }
}

/// Read the run in `run_dir` and write its timeline to `out`.
pub fn write(run_dir: &Path, out: &Path) -> Result<(), TimelineError> {
    let html = Page::of(&Run::read(run_dir)?).render()?;
    std::fs::write(out, html).map_err(|source| TimelineError::Write {
        path: out.to_path_buf(),
        source,
    })
}
