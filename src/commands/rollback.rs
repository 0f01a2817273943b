//! `ferry rollback`: the emergency button. Every selected host at once goes
//! back to its previous good release (from its own history), or to --to ID.

use std::sync::Arc;
use std::time::Instant;

use crate::deploy::{self, RunInfo};
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::settings::RollbackSettings;

use super::{release_context, report_results};

pub(super) async fn rollback(args: RollbackSettings) -> Result<ExitStatus, Failure> {
    // `--to` was parsed by the settings stage, before anything was read.
    let to = args.to;
    let (ctx, hosts) = release_context(&args.common, args.playbook.as_deref())?;
    let printer = ctx.executor.printer().clone();
    let mut run = RunInfo::new(&ctx.inventory.env_name);
    let started = Instant::now();
    let ctx = Arc::new(ctx);
    let dirs = deploy::deploy_dirs(&ctx, &hosts)?;
    if args.force_unlock {
        super::lock::break_locks(&ctx, &hosts, &dirs).await;
        run.note = Some("--force-unlock".into());
    }
    let lock_info = super::lock::run_lock(&run, "rollback");
    // A host not locked (unreachable then) is reported, never changed.
    let (guard, host_states) =
        deploy::lock_and_read_state(&ctx, &hosts, &dirs, lock_info, args.lock_wait).await?;
    let results =
        deploy::rollback(ctx.clone(), &hosts, &dirs, to, Arc::new(run), &host_states).await;
    let lost = guard.release(&ctx).await;
    ctx.executor.close_all().await;
    let results = results?;
    let status = report_results(&printer, &results, "rollback", started);
    Ok(super::lock::report_lost(&printer, &lost, status))
}
