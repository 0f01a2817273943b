//! `ferry rollback`: the emergency button. Every selected host goes back to
//! its previous good release (from its own history), or to --to ID: in
//! batches of the rollout's batch size, each drained and undrained by the
//! playbook, so no request is dropped; with `--now` every host at once,
//! undrained.
//!
//! Hosts are never held up by a host that does not answer: the hosts
//! connected within [`PATIENCE`] are locked and rolled back at once (all or
//! nothing among them, as any run's lock); a host slow to answer is locked
//! and rolled back when it answers (if another live run holds it by then, it
//! fails alone, unchanged); a host still silent at its connect timeout is
//! reported unreachable, once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use std::time::{Duration, Instant};

use crate::config::{Host, RolloutSettings};
use crate::deploy::{self, Context, HostResult, Known, RunInfo};
use crate::events::Event;
use crate::executor::{HostStatus, TaskFailure};
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::lock::{LockError, LockGuard, Released};
use crate::report::RunEnd;
use crate::settings::RollbackSettings;

use super::{release_context, report_results};

/// How long the rollback waits for every host's connection before it rolls
/// back the hosts that have answered.
pub(crate) const PATIENCE: Duration = Duration::from_secs(2);

pub(super) async fn rollback(args: RollbackSettings) -> Result<ExitStatus, Failure> {
    let (mut ctx, hosts) = release_context(&args.common, args.playbook.as_deref())?;
    let printer = ctx.executor.printer().clone();
    if let Some(warning) = ctx
        .playbook
        .ignored_keys_warning(crate::config::playbook::Use::Release)
    {
        printer.note(&warning);
    }
    let mut run = RunInfo::new(&ctx.inventory.env_name);
    if args.force_unlock {
        run.note = Some("--force-unlock".into());
    }
    let started = Instant::now();
    // The emergency button leaves a local trail too: journal, host logs,
    // events, `JUnit`, notifications.
    start_record(&mut ctx, &args, &run, &hosts).await;
    let ctx = Arc::new(ctx);
    let dirs = deploy::deploy_dirs(&ctx, &hosts)?;
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let settings =
        crate::rollout::settings_for(&ctx.inventory, &names, &RolloutSettings::default());
    let pace = deploy::Pace {
        now: args.now,
        batch: settings.batch,
        total: hosts.len(),
        turn: Arc::default(),
        stop: Arc::default(),
    };
    // Ctrl-C or SIGTERM: no new batch; the batch in flight is finished and
    // undrained (as a deploy does).
    super::deploy::watch_signals(pace.stop.clone(), printer.clone());
    if args.now {
        printer.note("rollback --now: every host at once, without drain or undrain (requests to them may fail)");
    }
    let wave = Wave {
        ctx: &ctx,
        dirs: &dirs,
        run: Arc::new(run),
        args: &args,
        pace: &pace,
    };
    // A bar of hosts rolled back, on a terminal only: moved by each batch's
    // end (or each host's with --now), cleared before the summary.
    printer.progress_start(hosts.len());
    printer.progress_message("rolling back");
    let (ready, connecting) = ctx.executor.connect_all(&hosts, Some(PATIENCE)).await;
    // A live holder among the hosts that answered stops the whole rollback
    // before anything changes (exit 4).
    let first = wave.lock(ready).await?;
    let late = async {
        let late = connecting.rest().await;
        if late.is_empty() {
            return Ok((Vec::new(), Released::default()));
        }
        match wave.lock(late.clone()).await {
            Ok(held) => wave.run(held).await,
            Err(held) => Ok((not_locked(&late, &held), Released::default())),
        }
    };
    let (first, late) = tokio::join!(wave.run(first), late);
    printer.progress_finish();
    ctx.executor.close_all().await;
    let (mut results, mut released) = first?;
    let (late_results, late_released) = late?;
    results.extend(late_results);
    released.extend(late_released);
    let order: HashMap<&str, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i))
        .collect();
    results.sort_by_key(|r| order.get(r.host.as_str()).copied());
    let mut status = report_results(&printer, &results, "rollback", started);
    let interrupted = pace.stop.load(std::sync::atomic::Ordering::SeqCst);
    if interrupted && status != ExitStatus::RollbackFailed {
        printer.note(
            "interrupted: no new batch was started; the batch in flight finished and was undrained",
        );
        status = ExitStatus::Interrupted;
    }
    status = super::lock::report_lost(&printer, &released, status);
    let end = RunEnd {
        command: "rollback",
        env: &ctx.inventory.env_name,
        release: None,
        hosts: results
            .iter()
            .map(|r| super::audit::host_end(r, true))
            .collect(),
        stopped: None,
        interrupted,
        started,
        status,
        junit: args.audit.report.as_deref(),
    };
    ctx.reporter.finish(end).await.with_context(|| {
        let path = args.audit.report.as_deref().unwrap_or(Path::new(""));
        format!("cannot write {}", path.display())
    })?;
    super::audit::report_dir(&ctx.reporter, &args.audit)?;
    Ok(status)
}

/// Open the rollback's record and say it started (journal, `--output
/// json`, notification).
async fn start_record(ctx: &mut Context, args: &RollbackSettings, run: &RunInfo, hosts: &[Host]) {
    let notify = ctx.inventory.notify.clone();
    super::audit::open(&mut ctx.reporter, &args.audit, run, notify.as_ref());
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let to = args.to.as_ref().map_or_else(
        || "each host's previous good release".to_string(),
        ToString::to_string,
    );
    super::audit::notify_started(
        &ctx.reporter,
        "rollback",
        run,
        None,
        &format!(
            "ferry: {} started rolling back {} hosts of {} to {to}",
            run.deployer,
            names.len(),
            run.env
        ),
    )
    .await;
    ctx.reporter.emit(&Event::RollbackStarted {
        run_id: run.run_id.clone(),
        command: std::env::args().collect(),
        user: run.deployer.clone(),
        controller: run.controller.clone(),
        env: run.env.clone(),
        to: args.to.clone(),
        now: args.now,
        hosts: names,
    });
}

/// A set of hosts locked and rolled back together. The hosts connected
/// within [`PATIENCE`] and the late ones are batched each on their own
/// (percents of the whole selection); both waves take turns
/// ([`deploy::Pace::turn`]), so one batch at a time is drained.
struct Wave<'a> {
    ctx: &'a Arc<Context>,
    dirs: &'a HashMap<String, String>,
    run: Arc<RunInfo>,
    args: &'a RollbackSettings,
    pace: &'a deploy::Pace,
}

/// A wave's hosts under its lock, with their states read with it.
struct Held {
    hosts: Vec<Host>,
    guard: LockGuard,
    known: Known,
}

impl Wave<'_> {
    async fn lock(&self, hosts: Vec<Host>) -> Result<Held, LockError> {
        if self.args.force_unlock {
            super::lock::break_locks(self.ctx, &hosts, self.dirs).await;
        }
        let info = super::lock::run_lock(&self.run, "rollback");
        // A host not locked (unreachable then) is reported, never changed.
        let (guard, known) =
            deploy::lock_and_read_state(self.ctx, &hosts, self.dirs, info, self.args.lock_wait)
                .await?;
        Ok(Held {
            hosts,
            guard,
            known,
        })
    }

    async fn run(&self, held: Held) -> Result<(Vec<HostResult>, Released), Failure> {
        let Held {
            hosts,
            guard,
            known,
        } = held;
        let results = deploy::rollback(
            self.ctx.clone(),
            &hosts,
            self.dirs,
            self.args.to.clone(),
            self.run.clone(),
            &known,
            self.pace,
        )
        .await;
        let released = guard.release(self.ctx).await;
        super::deploy::emit_trips(self.ctx);
        Ok((results?, released))
    }
}

/// Late hosts another run holds: each failed, unchanged.
fn not_locked(hosts: &[Host], held: &LockError) -> Vec<HostResult> {
    hosts
        .iter()
        .map(|h| {
            let failure = TaskFailure::plain(&h.name, "lock", &held.to_string());
            deploy::status_result(&h.name, HostStatus::Failed(Box::new(failure)))
        })
        .collect()
}
