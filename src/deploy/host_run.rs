//! One host's share of a run (its session, job and pipeline), and running
//! a piece of work on each host of a run, `forks` at a time.

use std::future::Future;
use std::sync::Arc;

use crate::config::Host;
use crate::executor::{Executor, HostStatus};
use crate::ssh::Session;

use super::jobs::{HostJob, Jobs};
use super::pipeline::{Kind, Pipeline};
use super::{Context, Deployment, RunInfo};

/// Who a run's pipelines are for, shared by every host of the run.
#[derive(Clone)]
pub(super) enum Owner {
    Deploy(Arc<Deployment>),
    Revert(Arc<Deployment>),
    Rollback(Arc<RunInfo>),
}

/// One host's share of a run: everything its pipeline borrows, owned by
/// the host's task.
pub(super) struct HostRun {
    exec: Arc<Executor>,
    ctx: Arc<Context>,
    jobs: Arc<Jobs>,
    host: Host,
    session: Session,
    owner: Owner,
}

impl HostRun {
    pub(super) fn job(&self) -> &HostJob {
        &self.jobs[&self.host.name]
    }

    /// The host's pipeline; `batch` names it in its events.
    pub(super) fn pipeline(&self, batch: usize) -> Pipeline<'_> {
        let kind = match &self.owner {
            Owner::Deploy(d) => Kind::Deploy(d),
            Owner::Revert(d) => Kind::Revert(d),
            Owner::Rollback(run) => Kind::Rollback(run),
        };
        Pipeline {
            exec: &self.exec,
            ctx: &self.ctx,
            session: &self.session,
            job: self.job(),
            kind,
            batch,
            tails: None,
        }
    }
}

/// Run `work` for each named host's job over its session, at most `forks`
/// at once; results by host name, in the order given.
pub(super) async fn each_job<T, F, Fut>(
    ctx: &Arc<Context>,
    jobs: &Arc<Jobs>,
    names: &[String],
    owner: Owner,
    work: F,
) -> Vec<(String, Result<T, HostStatus>)>
where
    T: Send + 'static,
    F: Fn(HostRun) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let hosts: Vec<Host> = names.iter().map(|n| jobs[n].host.clone()).collect();
    let (ctx2, jobs2) = (ctx.clone(), jobs.clone());
    ctx.executor
        .each_host(
            hosts,
            ctx.forks,
            |_| true,
            move |exec, host, session| {
                work(HostRun {
                    exec,
                    ctx: ctx2.clone(),
                    jobs: jobs2.clone(),
                    host,
                    session: session.expect("each_job connects"),
                    owner: owner.clone(),
                })
            },
        )
        .await
        .into_iter()
        .map(|(host, result)| (host.name, result))
        .collect()
}
