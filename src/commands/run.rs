//! `ferry run`: a playbook, some of its tasks, or one ad-hoc command, on
//! every selected host at once.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::config::Playbook;
use crate::executor::{Executor, HostReport, HostStatus};
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::report::Printer;
use crate::settings::{RunSettings, Work};
use crate::ssh::Connector;

use super::{load_playbook, prepare, Prepared};

pub(super) async fn run(args: RunSettings) -> Result<ExitStatus, Failure> {
    let Prepared {
        loaded,
        plans,
        secrets,
    } = prepare(&args.common, || match &args.work {
        Work::Command { cmd, timeout, sudo } => Ok(Playbook::ad_hoc(cmd, *timeout, *sudo)),
        Work::Playbook(names) => load_playbook(names),
    })?;
    let printer = Arc::new(Printer::new(secrets));
    if let Some(warning) = loaded
        .playbook
        .ignored_keys_warning(crate::config::playbook::Use::Run)
    {
        printer.note(&warning);
    }
    let connector = Connector::new(&loaded.inventory.ssh).context("cannot set up SSH")?;
    let started = Instant::now();
    let executor = Arc::new(Executor::new(connector, printer.clone()));
    let reports = executor.run(plans, args.common.forks).await;
    Ok(summarize(&printer, &reports, started))
}

fn summarize(printer: &Printer, reports: &[HostReport], started: Instant) -> ExitStatus {
    let failed: Vec<&HostReport> = reports
        .iter()
        .filter(|r| matches!(r.status, HostStatus::Failed(_)))
        .collect();
    let unreachable: Vec<&HostReport> = reports
        .iter()
        .filter(|r| matches!(r.status, HostStatus::Unreachable(_)))
        .collect();
    let ok = reports.len() - failed.len() - unreachable.len();
    if !failed.is_empty() {
        printer.note("failed:");
        for r in &failed {
            if let HostStatus::Failed(f) = &r.status {
                printer.note(&format!("  {}: {f}", r.host));
            }
        }
    }
    if !unreachable.is_empty() {
        printer.note("unreachable:");
        for r in &unreachable {
            if let HostStatus::Unreachable(reason) = &r.status {
                printer.note(&format!("  {}: {reason}", r.host));
            }
        }
    }
    printer.note(&format!(
        "ok: {ok}  failed: {}  unreachable: {}  ({} hosts in {:.2}s)",
        failed.len(),
        unreachable.len(),
        reports.len(),
        started.elapsed().as_secs_f64()
    ));
    if ok == reports.len() {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    }
}
