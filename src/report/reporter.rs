//! The one output hub of a release run: the engine only emits [`Event`]s,
//! and the [`Reporter`] turns each into every sink's form — a journal line,
//! a JSON line on stdout (`--output json`), the terminal's text
//! ([`human`]) and the hosts' logs, and at the end the `JUnit` cases and
//! the notification. An event is masked once, here, as a whole JSON value
//! ([`Secrets::mask_json`]), before any sink serialises it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::events::{Counts, Event, HostOutcome};
use crate::exit::ExitStatus;
use crate::journal::{now_ms, Journal};
use crate::notify::{Notification, Notifier, Summary};
use crate::release::ReleaseId;

use super::human::{human, HumanLine, Seen};
use super::{junit_xml, Printer, TestCase};
use crate::report::CaseResult;

/// How one host ended, for its `host_result` event and its `JUnit` case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEnd {
    pub host: String,
    pub outcome: HostOutcome,
    /// What `current` points at, as far as ferry knows.
    pub current: Option<String>,
    /// Why the host failed.
    pub reason: Option<String>,
    /// Its `JUnit` case: passed, failed (step, message, details) or skipped.
    pub result: CaseResult,
}

/// The end of a run, for [`Reporter::finish`].
pub struct RunEnd<'a> {
    /// `deploy`, `promote`, `rollback` or `run`: the suite's and the
    /// notification's word.
    pub command: &'static str,
    pub env: &'a str,
    /// The release shipped (none for `rollback` and `run`).
    pub release: Option<&'a ReleaseId>,
    pub hosts: Vec<HostEnd>,
    pub stopped: Option<String>,
    pub interrupted: bool,
    pub started: Instant,
    /// The run's exit status, as the notification reports it.
    pub status: ExitStatus,
    /// Where the `JUnit` report goes, if anywhere.
    pub junit: Option<&'a Path>,
}

pub struct Reporter {
    printer: Arc<Printer>,
    journal: Journal,
    notifier: Notifier,
    /// Every event on stdout too, as a JSON line (`--output json`).
    json: bool,
    /// Held while one event goes to every sink, so the journal, stdout and
    /// the terminal see events in the same order.
    state: Mutex<State>,
}

/// What the terminal keeps from earlier events.
#[derive(Default)]
struct State {
    /// What later lines name.
    seen: Seen,
    bar: Bar,
}

/// The rollout's progress bar (on a terminal only), fed by the plan and
/// the batches' events.
#[derive(Default)]
struct Bar {
    hosts: usize,
    batches: usize,
    shown: bool,
    /// Hosts in the batch under way.
    batch: usize,
    /// The staging bar is up (staging comes before the batches).
    staging: bool,
}

impl Reporter {
    /// A reporter for the terminal only: no journal, no notification.
    pub fn new(printer: Arc<Printer>) -> Reporter {
        Reporter {
            notifier: Notifier::new(None),
            printer,
            journal: Journal::off(),
            json: false,
            state: Mutex::default(),
        }
    }

    /// Keep the run's journal, and every host's log beside it; with `json`,
    /// stdout carries the events only (host output moves to stderr).
    pub fn open(&mut self, journal: Journal, json: bool) {
        if let Some(dir) = journal.dir() {
            self.printer.log_to(dir);
            self.printer.keep_tails();
        }
        if json {
            self.printer.machine_stdout();
        }
        self.journal = journal;
        self.json = json;
    }

    /// Send the run's notifications to `url`.
    pub fn notify_to(&mut self, url: Option<String>) {
        self.notifier = Notifier::new(url);
    }

    pub fn printer(&self) -> &Arc<Printer> {
        &self.printer
    }

    /// The run's log folder, when the journal is written.
    pub fn dir(&self) -> Option<&Path> {
        self.journal.dir()
    }

    /// Mask `event` once and hand it to every sink.
    pub fn emit(&self, event: &Event) {
        let mut state = self.state.lock().expect("reporter lock");
        let line = self.printer.secrets().mask_json(&event.line(now_ms()));
        self.journal.write(&line);
        if self.json {
            self.printer.out_masked(&line.to_string());
        }
        state.seen.note(event);
        for human in human(event, &state.seen) {
            match human {
                HumanLine::Run(text) => self.printer.note(&text),
                HumanLine::Host { host, text } => self.printer.host_event(&host, &text),
            }
        }
        self.progress(&mut state.bar, event);
    }

    /// Move the progress bar: shown from the first batch, one step per host
    /// of a finished batch.
    fn progress(&self, bar: &mut Bar, event: &Event) {
        match event {
            Event::Plan { batches, .. } => {
                *bar = Bar {
                    hosts: batches.iter().map(Vec::len).sum(),
                    batches: batches.len(),
                    ..Bar::default()
                };
            }
            Event::StagingStarted { hosts } => {
                self.printer.progress_start(hosts.len());
                self.printer.progress_message("staging");
                bar.staging = true;
            }
            Event::StepFinished {
                step: crate::machine::Stage::Receive,
                ..
            } if bar.staging => self.printer.progress_hosts_done(1),
            Event::StagingFinished => {
                self.printer.progress_finish();
                bar.staging = false;
            }
            Event::BatchStarted { batch, hosts, .. } => {
                if !bar.shown {
                    self.printer.progress_start(bar.hosts);
                    bar.shown = true;
                }
                // A rollback has no plan: its bar is the command's.
                let of = if bar.batches > 0 {
                    format!("/{}", bar.batches)
                } else {
                    String::new()
                };
                self.printer.progress_message(&format!("batch {batch}{of}"));
                bar.batch = hosts.len();
            }
            Event::BatchFinished { .. } => self.printer.progress_hosts_done(bar.batch),
            _ => {}
        }
    }

    /// The rollout's batches (and its way back) are over: the bar goes.
    pub fn rollout_finished(&self) {
        self.printer.progress_finish();
    }

    /// POST the notification with its `text`, masked once; a failure is a
    /// warning.
    pub async fn notify(&self, text: &str, what: &Notification) {
        let body = self.printer.secrets().mask_json(&what.body(text));
        if let Err(warning) = self.notifier.send(what.name(), &body).await {
            self.printer.note(&warning.to_string());
        }
    }

    /// Every host's `host_result`, the `run_finished` event, the last
    /// notification and the `JUnit` report (each field masked once).
    pub async fn finish(&self, end: RunEnd<'_>) -> std::io::Result<()> {
        let mut counts = Counts::new();
        for h in &end.hosts {
            *counts.entry(h.outcome).or_default() += 1;
            self.emit(&Event::HostResult {
                host: h.host.clone(),
                outcome: h.outcome,
                current: h.current.clone(),
                reason: h.reason.clone(),
            });
        }
        self.emit(&Event::RunFinished {
            stopped: end.stopped.clone(),
            interrupted: end.interrupted,
            counts: counts.clone(),
            duration_ms: u64::try_from(end.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
        let text = crate::notify::counts_in_words(&counts);
        let summary = Summary {
            command: end.command,
            env: end.env.to_string(),
            release: end.release.cloned(),
            counts,
            exit_code: end.status.code(),
        };
        let subject = end
            .release
            .map_or_else(|| end.env.to_string(), |r| format!("release {r}"));
        let (done, failed) = match end.command {
            "rollback" => ("rolled back", "failed to roll back"),
            "run" => ("ran on", "failed to run on"),
            _ => ("deployed", "failed to deploy"),
        };
        let (verb, last) = if end.status == ExitStatus::Success {
            (done, Notification::Succeeded(summary))
        } else {
            (failed, Notification::Failed(summary))
        };
        self.notify(&format!("ferry: {verb} {subject}: {text}"), &last)
            .await;
        if let Some(path) = end.junit {
            let mask = |text: &str| self.printer.secrets().mask(text);
            let cases: Vec<TestCase> = end
                .hosts
                .iter()
                .map(|h| TestCase {
                    name: mask(&h.host),
                    result: match &h.result {
                        CaseResult::Passed => CaseResult::Passed,
                        CaseResult::Failed {
                            step,
                            message,
                            details,
                        } => CaseResult::Failed {
                            step: mask(step),
                            message: mask(message),
                            details: mask(details),
                        },
                        CaseResult::Skipped { message } => CaseResult::Skipped {
                            message: mask(message),
                        },
                    },
                })
                .collect();
            let release = end.release.map(|r| format!(" {r}")).unwrap_or_default();
            let suite = mask(&format!("ferry {} {}{release}", end.command, end.env));
            std::fs::write(path, junit_xml(&suite, &cases, end.started.elapsed())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
