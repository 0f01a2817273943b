//! `ferry report <run> --html` and `--report run.html`: a run's timeline
//! from its journal ([`crate::report::timeline`]).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::report::timeline::{self, JOURNAL};
use crate::report::Printer;
use crate::settings::ReportSettings;

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

/// A deploy's, promote's, rollback's or run's `--report run.html`, once
/// its journal is complete; `dir` is `None` when the journal could not be written.
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
