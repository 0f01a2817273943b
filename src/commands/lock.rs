//! `ferry lock` / `ferry unlock`: hold or clear the environment's lock by hand.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Host;
use crate::deploy::{self, now, Context, RunInfo};
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::lock::{self, Found, Hold, LockInfo, Removed};
use crate::report::Printer;
use crate::settings::{LockSettings, UnlockSettings};

use super::release_context;

/// The lock's description for a run: who, which run, since when, why.
pub(super) fn run_lock(run: &RunInfo, reason: &str) -> LockInfo {
    LockInfo {
        holder: format!("{}@{}", run.deployer, run.controller),
        run_id: run.run_id.clone(),
        since: now(),
        reason: reason.to_string(),
        lease_until: None,
    }
}

/// `ferry lock`. A host that cannot be locked (unreachable) makes it exit 1,
/// naming the host; the hosts it did lock stay locked: a partial freeze is
/// better than none, and `ferry lock -l <host>` adds the rest later.
pub(super) async fn lock(args: LockSettings) -> Result<ExitStatus, Failure> {
    let (ctx, hosts) = release_context(&args.common, None)?;
    let dirs = deploy::deploy_dirs(&ctx, &hosts)?;
    let run = RunInfo::new(&ctx.inventory.env_name);
    let ctx = Arc::new(ctx);
    let info = run_lock(&run, &args.reason);
    let guard = lock::acquire(&ctx, &hosts, &dirs, info, Hold::Manual, None).await?;
    // A manual lock has no lease: it stays until `ferry unlock`.
    let locked = guard.locked().len();
    let missed: Vec<String> = guard
        .not_locked()
        .iter()
        .map(|(host, status)| format!("{host}: {}", status_text(status)))
        .collect();
    guard.keep();
    ctx.executor.close_all().await;
    let printer = ctx.executor.printer();
    printer.note(&format!(
        "locked {} ({locked} of {} hosts): {}",
        ctx.inventory.env_name,
        hosts.len(),
        args.reason
    ));
    if missed.is_empty() {
        return Ok(ExitStatus::Success);
    }
    printer.note(&format!(
        "NOT locked ({} host(s)):\n  {}\nthe other hosts stay locked; lock the rest with `ferry lock {} -l <host>` once they answer, or clear all with `ferry unlock`",
        missed.len(),
        missed.join("\n  "),
        ctx.inventory.env_name,
    ));
    Ok(ExitStatus::Failed)
}

fn status_text(status: &crate::executor::HostStatus) -> String {
    match status {
        crate::executor::HostStatus::Unreachable(r) => format!("unreachable: {r}"),
        crate::executor::HostStatus::Failed(f) => f.reason.clone(),
        crate::executor::HostStatus::Ok => "no answer".into(),
    }
}

pub(super) async fn unlock(args: UnlockSettings) -> Result<ExitStatus, Failure> {
    let (ctx, hosts) = release_context(&args.common, None)?;
    let dirs = deploy::deploy_dirs(&ctx, &hosts)?;
    let printer = ctx.executor.printer().clone();
    let found = lock::inspect(&ctx, &hosts, &dirs).await;
    let mut refused = Vec::new();
    let mut unknown = Vec::new();
    let mut clear = HashMap::new();
    for (host, found) in found {
        let holder = match found {
            Found::Free => continue,
            Found::Unknown(why) => {
                unknown.push(format!("{host}: {why}"));
                continue;
            }
            Found::Held(holder) => holder,
        };
        match &holder.info {
            Ok(info) if info.lease_until.is_some() && !holder.is_stale() => refused.push(format!(
                "{host}: held by {} (run {}), its lease is live",
                info.holder, info.run_id
            )),
            Ok(info) if info.lease_until.is_some() && !args.force => refused.push(format!(
                "{host}: held by {} (run {}), its lease has expired: needs --force",
                info.holder, info.run_id
            )),
            Ok(_) => {
                clear.insert(host, holder.sum);
            }
            Err(_) if args.force => {
                printer.note(&format!(
                    "{host}: removing a lock held by {}",
                    holder.describe()
                ));
                clear.insert(host, holder.sum);
            }
            Err(_) => refused.push(format!("{host}: locked by {}", holder.describe())),
        }
    }
    let mut unlocked = 0;
    for (host, removed) in lock::remove(&ctx, &hosts, &dirs, &clear).await {
        match removed {
            Removed::Removed => unlocked += 1,
            Removed::Gone => {}
            Removed::Changed => refused.push(format!(
                "{host}: the lock changed since it was inspected (taken or renewed): left alone"
            )),
            Removed::Failed(why) => unknown.push(format!("{host}: {why}")),
        }
    }
    ctx.executor.close_all().await;
    printer.note(&format!(
        "unlocked {unlocked} host(s) of {}",
        ctx.inventory.env_name
    ));
    if !unknown.is_empty() {
        printer.note(&format!(
            "could not check or clear the lock on:\n  {}",
            unknown.join("\n  ")
        ));
    }
    if !refused.is_empty() {
        printer.note(&format!(
            "left locked (a run's lock needs --force, and only once its lease has expired):\n  {}",
            refused.join("\n  ")
        ));
        return Ok(ExitStatus::Locked);
    }
    Ok(if unknown.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    })
}

/// `rollback --force-unlock`: remove every lock found, whoever holds it,
/// saying whose; only the lock inspected is removed (one taken since stays).
pub(super) async fn break_locks(ctx: &Context, hosts: &[Host], dirs: &HashMap<String, String>) {
    let printer = ctx.executor.printer();
    let mut clear = HashMap::new();
    for (host, found) in lock::inspect(ctx, hosts, dirs).await {
        if let Found::Held(holder) = found {
            printer.note(&format!(
                "{host}: breaking the lock of {}",
                holder.describe()
            ));
            clear.insert(host, holder.sum);
        }
    }
    lock::remove(ctx, hosts, dirs, &clear).await;
}

/// A run that lost its lock on some host says so and does not exit 0; one
/// that could not release it somewhere names those hosts (their lease runs
/// out, and the next run takes the lock over).
pub(super) fn report_lost(
    printer: &Printer,
    released: &lock::Released,
    status: ExitStatus,
) -> ExitStatus {
    let lines = |hosts: &[(String, String)]| -> Vec<String> {
        hosts.iter().map(|(h, why)| format!("{h}: {why}")).collect()
    };
    let kept = &released.kept;
    if !kept.is_empty() {
        printer.note(&format!(
            "could not release the lock on {} host(s) (it stays until its lease runs out, within {} s on the host's clock; the next run then takes it over):\n  {}",
            kept.len(),
            lock::LEASE.as_secs(),
            lines(kept).join("\n  ")
        ));
    }
    let lost = &released.lost;
    if lost.is_empty() {
        return status;
    }
    let lines = lines(lost);
    printer.note(&format!(
        "this run lost its lock on {} host(s) (nothing is switched there without it):\n  {}",
        lost.len(),
        lines.join("\n  ")
    ));
    if status == ExitStatus::Success {
        ExitStatus::Failed
    } else {
        status
    }
}
