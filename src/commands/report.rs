//! `ferry report <run> --html` and `--report run.html`: a run's timeline
//! from its journal ([`crate::report::timeline`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use crate::config::Host;
use crate::deploy::{Context, HostResult, RunInfo};
use crate::events::{Counts, Event};
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::journal::Journal;
use crate::report::timeline::{self, JOURNAL};
use crate::report::Printer;
use crate::settings::{ReportSettings, RollbackSettings};

pub(super) fn report(args: &ReportSettings) -> Result<ExitStatus, Failure> {
    let printer = Printer::plain();
    // A folder or journal as given, else a run id in the log folder.
    let dir = if args.run.exists() {
        args.run.clone()
    } else {
        args.log_dir.join(&args.run)
    };
    let out = args.out.clone().unwrap_or_else(|| page_in(&dir));
    timeline::write(&dir, &out).context("no timeline written")?;
    printer.note(&format!("timeline: {}", out.display()));
    Ok(ExitStatus::Success)
}

/// The page beside the journal.
fn page_in(run: &Path) -> PathBuf {
    if run.ends_with(JOURNAL) {
        run.with_file_name("timeline.html")
    } else {
        run.join("timeline.html")
    }
}

/// A deploy's or promote's `--report run.html`, once its journal is
/// complete; `dir` is `None` when the journal could not be written.
pub(super) fn timeline(dir: Option<&Path>, page: &Path, printer: &Printer) -> Result<(), Failure> {
    let dir = dir.ok_or_else(|| {
        anyhow::anyhow!(
            "cannot write {}: the run's journal could not be written",
            page.display()
        )
    })?;
    timeline::write(dir, page).context("no timeline written")?;
    printer.note(&format!("timeline: {}", page.display()));
    Ok(())
}

/// `ferry rollback --report run.html`: the run keeps a journal (a rollback
/// without it keeps none), opened before anything changes.
pub(super) fn open_rollback(
    ctx: &mut Context,
    args: &RollbackSettings,
    run: &RunInfo,
    hosts: &[Host],
) {
    if args.timeline.is_none() {
        return;
    }
    let (journal, problem) = Journal::create(&args.log_dir, &run.run_id);
    if let Some(problem) = problem {
        ctx.reporter.printer().note(&format!("warning: {problem}"));
    }
    ctx.reporter.open(journal, false);
    ctx.reporter.emit(&Event::RollbackStarted {
        run_id: run.run_id.clone(),
        command: std::env::args().collect(),
        user: run.deployer.clone(),
        controller: run.controller.clone(),
        env: run.env.clone(),
        to: args.to.clone(),
        hosts: hosts.iter().map(|h| h.name.clone()).collect(),
    });
}

/// The rollback's end in its journal (each host's result, `run_finished`),
/// then its timeline.
pub(super) fn finish_rollback(
    ctx: &Context,
    args: &RollbackSettings,
    results: &[HostResult],
    interrupted: bool,
    started: Instant,
) -> Result<(), Failure> {
    let Some(page) = &args.timeline else {
        return Ok(());
    };
    let mut counts = Counts::new();
    for r in results {
        let (outcome, current, reason) = super::deploy::outcome_fields(&r.outcome);
        *counts.entry(outcome).or_default() += 1;
        ctx.reporter.emit(&Event::HostResult {
            host: r.host.clone(),
            outcome,
            current,
            reason,
        });
    }
    ctx.reporter.emit(&Event::RunFinished {
        stopped: None,
        interrupted,
        counts,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    timeline(ctx.reporter.dir(), page, ctx.reporter.printer())
}
