//! `ferry rollback`: the emergency button. Every selected host at once goes
//! back to its previous good release (from its own history), or to --to ID.

use std::sync::Arc;
use std::time::Instant;

use crate::cli::RollbackArgs;
use crate::deploy::{self, RunInfo};
use crate::exit::ExitStatus;
use crate::release::ReleaseId;

use super::{release_context, report_results, InvalidInput, RenderErrors};

pub async fn rollback(args: RollbackArgs) -> anyhow::Result<ExitStatus> {
    let to = args
        .to
        .as_deref()
        .map(ReleaseId::parse)
        .transpose()
        .map_err(|e| InvalidInput(e.to_string()))?;
    let (ctx, hosts) = release_context(&args.common, args.playbook.as_deref())?;
    let printer = ctx.executor.printer().clone();
    let run = Arc::new(RunInfo::new(&ctx.inventory.env_name));
    let started = Instant::now();
    let executor = ctx.executor.clone();
    let results = deploy::rollback(Arc::new(ctx), &hosts, to, run)
        .await
        .map_err(RenderErrors)?;
    executor.close_all().await;
    Ok(report_results(
        &printer, &results, "rollback", None, started,
    ))
}
