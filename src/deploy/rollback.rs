//! `ferry rollback`'s engine: the selected hosts to their rollback target,
//! through the same pipeline as a deploy: in batches of the rollout's size,
//! each drained, switched, checked and undrained before the next starts
//! (never a canary, never a pause), or with `--now` every host at once,
//! undrained. A target that fails its
//! `after_switch` or health checks is bad on that host (recorded, so no
//! later rollback picks it) and the host goes back to the release it came
//! from.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::values::BatchSpec;
use crate::config::Host;
use crate::events::Event;
use crate::executor::TaskFailure;
use crate::machine::Machine;
use crate::release::{rollback_target, ReleaseId};
use crate::render::RenderError;
use crate::rollout::rollback_batches;

use super::driver::{each_job, Owner};
use super::jobs::{self, Move, Stages};
use super::state::{inspect, Known};
use super::{failed_before, status_result, Context, HostResult, RunInfo};

/// How a rollback goes: drained batches, or `--now`.
#[derive(Clone, Debug, Default)]
pub struct Pace {
    /// `--now`: every host at once, without drain or undrain.
    pub now: bool,
    /// The rollout's batch size.
    pub batch: Option<BatchSpec>,
    /// The hosts selected (a batch's percent is of them).
    pub total: usize,
    /// Held by a drained batch from its drain to its undrain: the waves of
    /// one rollback (hosts that answered at once, late hosts) take turns, so
    /// never more than one batch is out of the load balancer.
    pub turn: Arc<tokio::sync::Mutex<()>>,
    /// Set by Ctrl-C or SIGTERM: no new batch starts; a batch in flight
    /// finishes (its hosts undrained).
    pub stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Roll `hosts` (whose `deploy_to` are `dirs`) back, as `pace` says: to
/// `to`, or each host's previous good release.
pub async fn rollback(
    ctx: Arc<Context>,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    to: Option<ReleaseId>,
    run: Arc<RunInfo>,
    known: &Known,
    pace: &Pace,
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
    let stages = if pace.now {
        Stages::Rollback
    } else {
        Stages::DrainedRollback
    };
    let jobs: Arc<HashMap<_, _>> = Arc::new(jobs::prepare(&ctx, &moves, stages, &|_| false)?);
    // Every batch runs whatever the earlier ones ended with: an emergency
    // rollback goes on for the other hosts (see `rollback_batches`).
    for (i, batch) in rollback_batches(&names, pace.total, pace.batch.as_ref(), pace.now)
        .into_iter()
        .enumerate()
    {
        let _turn = if pace.now {
            None
        } else {
            Some(pace.turn.lock().await)
        };
        if pace.stop.load(std::sync::atomic::Ordering::SeqCst) {
            // Interrupted: the hosts of this batch and later ones are left
            // as they are, in the load balancer.
            results.extend(batch.iter().map(|host| HostResult {
                host: host.clone(),
                outcome: super::Outcome::NotStarted,
            }));
            continue;
        }
        let number = if pace.now { 0 } else { i + 1 };
        if !pace.now {
            ctx.reporter.emit(&Event::BatchStarted {
                batch: number,
                canary: false,
                hosts: batch.clone(),
            });
        }
        let done = each_job(
            &ctx,
            &jobs,
            &batch,
            Owner::Rollback(run.clone()),
            move |run| async move {
                let pipeline = run.pipeline(number);
                let machine = Machine::new(pipeline.policy(None, true));
                pipeline.run(machine, None, false).await
            },
        )
        .await;
        if pace.now {
            // No batch events to move the command's progress bar.
            ctx.reporter.printer().progress_hosts_done(done.len());
        } else {
            ctx.reporter.emit(&Event::BatchFinished { batch: number });
        }
        for (host, result) in done {
            results.push(match result {
                Ok(outcome) => HostResult { host, outcome },
                Err(status) => status_result(&host, status),
            });
        }
    }
    Ok(results)
}
