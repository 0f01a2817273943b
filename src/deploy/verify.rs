//! `ferry verify`'s engine: each selected host's health checks, rendered
//! for its current release, run and recorded in its history (a `health`
//! event, as a deploy records), so promote's gate and `status` read the
//! newest result. Nothing else runs: no drain, no switch, no task.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Host;
use crate::release::ReleaseId;
use crate::render::RenderError;

use super::driver::{each_job, Owner};
use super::jobs::{self, Move, Stages};
use super::state::{inspect, Known};
use super::{Context, RunInfo};

/// How one host's verification ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Healthy(ReleaseId),
    Unhealthy {
        release: ReleaseId,
        reason: String,
    },
    /// No `current` release: nothing to check (a failure: nothing serves).
    NothingDeployed,
    /// Not reached, or its state could not be read.
    Unreachable(String),
}

impl Verdict {
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        matches!(self, Verdict::Healthy(_))
    }
}

/// Verify `hosts` (whose `deploy_to` are `dirs`), at most `forks` at once;
/// verdicts by host name, in host order.
pub async fn verify(
    ctx: Arc<Context>,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    run: Arc<RunInfo>,
    known: &Known,
) -> Result<Vec<(String, Verdict)>, Vec<RenderError>> {
    super::report_progress(&ctx);
    let mut verdicts = HashMap::new();
    let mut moves = Vec::new();
    for (host, state) in inspect(&ctx, hosts, dirs, known).await {
        match (state, host) {
            (Err(status), host) => {
                verdicts.insert(host.name, Verdict::Unreachable(reason(&status)));
            }
            (Ok(state), host) => match state.current.clone() {
                None => {
                    verdicts.insert(host.name, Verdict::NothingDeployed);
                }
                Some(current) => moves.push(Move {
                    deploy_to: dirs[&host.name].clone(),
                    back: None,
                    to: current,
                    host,
                    state,
                }),
            },
        }
    }
    let names: Vec<String> = moves.iter().map(|m| m.host.name.clone()).collect();
    let jobs = Arc::new(jobs::prepare(&ctx, &moves, Stages::Rollback, &|_| true)?);
    let done = each_job(
        &ctx,
        &jobs,
        &names,
        Owner::Rollback(run),
        |run| async move {
            let pipeline = run.pipeline(0);
            let release = pipeline.job.new.release.clone();
            match pipeline.verify().await {
                Ok(()) => Verdict::Healthy(release),
                Err(failure) => Verdict::Unhealthy {
                    release,
                    reason: failure.reason,
                },
            }
        },
    )
    .await;
    for (host, result) in done {
        let verdict = result.unwrap_or_else(|status| Verdict::Unreachable(reason(&status)));
        verdicts.insert(host, verdict);
    }
    Ok(hosts
        .iter()
        .filter_map(|h| verdicts.remove(&h.name).map(|v| (h.name.clone(), v)))
        .collect())
}

fn reason(status: &crate::executor::HostStatus) -> String {
    use crate::executor::HostStatus;
    match status {
        HostStatus::Unreachable(reason) => format!("unreachable: {reason}"),
        HostStatus::Failed(f) => f.reason.clone(),
        HostStatus::Ok => "no result".into(),
    }
}
