//! `ferry run`: a playbook, some of its tasks, or one ad-hoc command, on
//! every selected host at once.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::config::Playbook;
use crate::deploy::RunInfo;
use crate::events::{Event, HostOutcome};
use crate::executor::{Executor, HostReport, HostStatus};
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::report::{CaseResult, HostEnd, Printer, Reporter, RunEnd};
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
    // The run's record, as a deploy's: journal, host logs, events, `JUnit`,
    // notifications.
    let run = RunInfo::new(&loaded.inventory.env_name);
    let mut reporter = Reporter::new(printer.clone());
    // Only `--notify` (or FERRY_NOTIFY): the inventory's `notify:` is the
    // release channel, and an ad-hoc `--cmd uptime` is no release news.
    super::audit::open(&mut reporter, &args.audit, &run, None);
    let hosts: Vec<String> = plans.iter().map(|p| p.host.name.clone()).collect();
    let playbook = match &args.work {
        Work::Command { .. } => None,
        Work::Playbook(_) => Some(loaded.playbook.path.display().to_string()),
    };
    let what = playbook.as_deref().unwrap_or("--cmd");
    super::audit::notify_started(
        &reporter,
        "run",
        &run,
        None,
        &format!(
            "ferry: {} started running {what} on {} hosts of {}",
            run.deployer,
            hosts.len(),
            run.env
        ),
    )
    .await;
    reporter.emit(&Event::TasksStarted {
        run_id: run.run_id.clone(),
        command: std::env::args().collect(),
        user: run.deployer.clone(),
        controller: run.controller.clone(),
        env: run.env.clone(),
        playbook,
        tasks: loaded
            .playbook
            .tasks
            .iter()
            .map(|t| t.name.clone())
            .collect(),
        hosts,
    });
    let executor = Arc::new(Executor::new(connector, printer.clone()));
    // SIGTERM or Ctrl-C: no new host; hosts in flight finish (as deploy).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    super::deploy::watch_signals(stop.clone(), printer.clone());
    let (reports, not_started) = executor
        .run_until(plans, args.common.forks, stop.clone())
        .await;
    let interrupted = stop.load(std::sync::atomic::Ordering::SeqCst);
    let mut status = summarize(&printer, &reports, not_started.len(), started);
    if interrupted {
        printer.note("interrupted: no new host was started; hosts in flight finished their steps");
        status = ExitStatus::Interrupted;
    }
    let mut hosts: Vec<HostEnd> = reports.iter().map(host_end).collect();
    hosts.extend(not_started.into_iter().map(|host| HostEnd {
        host,
        outcome: HostOutcome::NotStarted,
        current: None,
        reason: None,
        result: CaseResult::Skipped {
            message: "not started: the run was interrupted".into(),
        },
    }));
    let end = RunEnd {
        command: "run",
        env: &run.env,
        release: None,
        hosts,
        stopped: None,
        interrupted,
        started,
        status,
        junit: args.audit.report.as_deref(),
    };
    reporter.finish(end).await.with_context(|| {
        let path = args.audit.report.as_deref().unwrap_or(Path::new(""));
        format!("cannot write {}", path.display())
    })?;
    super::audit::report_dir(&reporter, &args.audit)?;
    Ok(status)
}

/// How a host ended, for its `host_result` event and `JUnit` case.
fn host_end(r: &HostReport) -> HostEnd {
    let (outcome, reason, result) = match &r.status {
        HostStatus::Ok => (HostOutcome::Ok, None, CaseResult::Passed),
        HostStatus::Failed(f) => (
            HostOutcome::Failed,
            Some(f.to_string()),
            CaseResult::Failed {
                step: f.task.clone(),
                message: f.reason.clone(),
                details: f.to_string(),
            },
        ),
        HostStatus::Unreachable(reason) => (
            HostOutcome::Unreachable,
            Some(reason.clone()),
            CaseResult::Failed {
                step: "connect".into(),
                message: reason.clone(),
                details: reason.clone(),
            },
        ),
    };
    HostEnd {
        host: r.host.clone(),
        outcome,
        current: None,
        reason,
        result,
    }
}

fn summarize(
    printer: &Printer,
    reports: &[HostReport],
    not_started: usize,
    started: Instant,
) -> ExitStatus {
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
    let unstarted = if not_started > 0 {
        format!("  not started: {not_started}")
    } else {
        String::new()
    };
    printer.note(&format!(
        "ok: {ok}  failed: {}  unreachable: {}{unstarted}  ({} in {:.2}s)",
        failed.len(),
        unreachable.len(),
        crate::report::human::count(reports.len() + not_started, "host"),
        started.elapsed().as_secs_f64()
    ));
    if ok == reports.len() {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    }
}
