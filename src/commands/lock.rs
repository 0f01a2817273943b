//! `ferry lock` / `ferry unlock`: hold or clear the environment's lock by hand.

use crate::cli::{LockArgs, UnlockArgs};
use crate::deploy::{self, now, RunInfo};
use crate::exit::ExitStatus;
use crate::lock::{self, unix_now, LockInfo};

use super::{release_context, InvalidInput};

/// The lock's description for a run: who, which run, since when, why.
pub fn run_lock(run: &RunInfo, reason: &str) -> LockInfo {
    LockInfo {
        holder: format!("{}@{}", run.deployer, run.controller),
        run_id: run.run_id.clone(),
        since: now(),
        reason: reason.to_string(),
        lease_until: None,
    }
}

pub async fn lock(args: LockArgs) -> anyhow::Result<ExitStatus> {
    let (ctx, hosts) = release_context(&args.common, None)?;
    let dirs = deploy::deploy_dirs(&ctx, &hosts).map_err(|e| InvalidInput(e.to_string()))?;
    let run = RunInfo::new(&ctx.inventory.env_name);
    let ctx = std::sync::Arc::new(ctx);
    let guard = lock::acquire(&ctx, &hosts, &dirs, run_lock(&run, &args.reason), None).await?;
    // A manual lock has no lease: it stays until `ferry unlock`.
    guard.keep();
    let scripts_done = lock::inspect(&ctx, &hosts, &dirs).await;
    ctx.executor.close_all().await;
    let locked = scripts_done.iter().filter(|(_, i)| i.is_some()).count();
    ctx.executor.printer().note(&format!(
        "locked {} ({locked} of {} hosts): {}",
        ctx.inventory.env_name,
        hosts.len(),
        args.reason
    ));
    Ok(ExitStatus::Success)
}

pub async fn unlock(args: UnlockArgs) -> anyhow::Result<ExitStatus> {
    let (ctx, hosts) = release_context(&args.common, None)?;
    let dirs = deploy::deploy_dirs(&ctx, &hosts).map_err(|e| InvalidInput(e.to_string()))?;
    let printer = ctx.executor.printer().clone();
    let found = lock::inspect(&ctx, &hosts, &dirs).await;
    let now = unix_now();
    let mut refused = Vec::new();
    let mut clear = Vec::new();
    for (host, info) in &found {
        let Some(info) = info else { continue };
        let live_run = info.lease_until.is_some() && !info.is_stale(now);
        let run_lock = info.lease_until.is_some();
        if live_run || (run_lock && !args.force) {
            refused.push(format!(
                "{host}: held by {} (run {})",
                info.holder, info.run_id
            ));
        } else if let Some(h) = hosts.iter().find(|h| &h.name == host) {
            clear.push(h.clone());
        }
    }
    lock::remove(&ctx, &clear, &dirs).await;
    ctx.executor.close_all().await;
    printer.note(&format!(
        "unlocked {} host(s) of {}",
        clear.len(),
        ctx.inventory.env_name
    ));
    if refused.is_empty() {
        return Ok(ExitStatus::Success);
    }
    printer.note(&format!(
        "left locked (a run's lock needs --force, and only once its lease has expired):\n  {}",
        refused.join("\n  ")
    ));
    Ok(ExitStatus::Locked)
}
