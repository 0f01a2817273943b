//! `ferry rollback`'s engine: every selected host at once to its rollback
//! target, through the same pipeline as a deploy. A target that fails its
//! `after_switch` or health checks is bad on that host (recorded, so no
//! later rollback picks it) and the host goes back to the release it came
//! from.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Host;
use crate::executor::TaskFailure;
use crate::machine::Machine;
use crate::release::{rollback_target, ReleaseId};
use crate::render::RenderError;

use super::driver::{each_job, Owner};
use super::jobs::{self, Move, Stages};
use super::state::{inspect, Known};
use super::{failed_before, status_result, Context, HostResult, RunInfo};

/// Roll `hosts` (whose `deploy_to` are `dirs`) back at once: to `to`, or
/// each host's previous good release.
pub async fn rollback(
    ctx: Arc<Context>,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    to: Option<ReleaseId>,
    run: Arc<RunInfo>,
    known: &Known,
) -> Result<Vec<HostResult>, Vec<RenderError>> {
    super::report_progress(&ctx);
    let mut results = Vec::new();
    let mut moves = Vec::new();
    for (host, state) in inspect(&ctx, hosts, dirs, known).await {
        let state = match state {
            Ok(state) => state,
            Err(status) => {
                results.push(status_result(&host.name, status));
                continue;
            }
        };
        match rollback_target(&state, to.as_ref()) {
            Ok(target) => moves.push(Move {
                deploy_to: dirs[&host.name].clone(),
                back: state.current.clone(),
                to: target,
                host,
                state,
            }),
            Err(why) => {
                let failure = TaskFailure::plain(&host.name, "rollback", &why.to_string());
                results.push(HostResult {
                    host: host.name.clone(),
                    outcome: failed_before(failure, state.current),
                });
            }
        }
    }
    let names: Vec<String> = moves.iter().map(|m| m.host.name.clone()).collect();
    let jobs: Arc<HashMap<_, _>> =
        Arc::new(jobs::prepare(&ctx, &moves, Stages::Rollback, &|_| false)?);
    let done = each_job(
        &ctx,
        &jobs,
        &names,
        Owner::Rollback(run),
        |run| async move {
            let pipeline = run.pipeline(0);
            let machine = Machine::new(pipeline.policy(None, true));
            pipeline.run(machine, None, false).await
        },
    )
    .await;
    for (host, result) in done {
        results.push(match result {
            Ok(outcome) => HostResult { host, outcome },
            Err(status) => status_result(&host, status),
        });
    }
    Ok(results)
}
