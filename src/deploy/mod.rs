//! DEPLOY: releases on hosts. What runs where, and in which order:
//!
//! - `state`: read each host's release state (with the lock, in one round
//!   trip) and parse it;
//! - `jobs`: prepare each host's job before any host changes: rendered
//!   stages for the new release and for the way back, "already done", "live";
//! - `pipeline`: one host's pipeline, which only carries out the actions
//!   of its pure state machine ([`crate::machine`]);
//! - `outcome`: how the end of a host's pipeline is reported (pure);
//! - `driver`: a deploy's batches (staging, the canary, pauses,
//!   interrupts, the rollback of a stopped rollout) over the rollout's pure
//!   decisions ([`crate::rollout`]);
//! - `rollback`: `ferry rollback`, through the same pipeline, so there is
//!   one switch-back path.
//!
//! Every step is one script over the host's session (see `steps::release`).

use std::collections::HashMap;
use std::time::SystemTime;

use crate::artifact::Artifact;
use crate::config::Host;
use crate::executor::TaskFailure;
use crate::machine::End;
use crate::release::{EventKind, EventOutcome, HistoryEvent, ReleaseId};
use crate::render::RenderError;

mod driver;
mod host_run;
mod jobs;
mod outcome;
mod pipeline;
mod rollback;
mod state;
mod verify;

pub use crate::context::Context;
pub use driver::{deploy, DeployReport, RolloutOptions};
pub use rollback::{rollback, Pace};
pub use state::{inspect, lock_and_read_state, Known};
pub use verify::{verify, Verdict};

/// Who runs this, from where, under which id: recorded on every host.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub run_id: String,
    pub env: String,
    pub deployer: String,
    pub controller: String,
    /// Recorded with every history event of the run (e.g. "--force-unlock").
    pub note: Option<String>,
}

impl RunInfo {
    pub fn new(env: &str) -> RunInfo {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .replace([':', '-'], "");
        RunInfo {
            run_id: format!(
                "{stamp}-{:05x}",
                (now.subsec_nanos() ^ std::process::id()) & 0xfffff
            ),
            env: env.to_string(),
            deployer: std::env::var("FERRY_DEPLOYER")
                .or_else(|_| std::env::var("USER"))
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| login_name()),
            controller: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map_or_else(|_| "unknown".into(), |h| h.trim().to_string()),
            note: None,
        }
    }

    pub(crate) fn event(
        &self,
        event: EventKind,
        release: &ReleaseId,
        previous: Option<&ReleaseId>,
    ) -> HistoryEvent {
        HistoryEvent {
            at: now(),
            event,
            release: release.clone(),
            previous: previous.cloned(),
            sha256: None,
            by: self.deployer.clone(),
            run_id: self.run_id.clone(),
            env: self.env.clone(),
            outcome: EventOutcome::Ok,
            detail: self.note.clone().unwrap_or_default(),
            source_env: None,
            source_run: None,
        }
    }
}

/// The user's name when no variable names it (cron, some CI runners).
fn login_name() -> String {
    std::process::Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Everything a deploy needs besides the hosts.
pub struct Deployment {
    pub release: ReleaseId,
    pub artifact: Artifact,
    pub run: RunInfo,
    pub source_env: Option<String>,
    /// The run that deployed the release in `source_env`.
    pub source_run: Option<String>,
    pub keep: usize,
    pub linked_dirs: Vec<String>,
    pub linked_files: Vec<String>,
}

/// How one host ended: the one outcome every report reads as is.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Already on the release (same id and sha256): nothing changed.
    Skipped {
        release: ReleaseId,
    },
    Deployed {
        release: ReleaseId,
        previous: Option<ReleaseId>,
        pruned: Vec<ReleaseId>,
    },
    RolledBack {
        to: ReleaseId,
        from: Option<ReleaseId>,
    },
    /// The rollout stopped (failure, interrupt, pause) before this host's batch.
    NotStarted,
    Failed {
        failure: TaskFailure,
        /// What `current` points at now, as far as ferry knows.
        current: Option<ReleaseId>,
        /// Where its pipeline ended: before the switch, back on the release
        /// it had, or stranded on the new one.
        end: End,
    },
    Unreachable(String),
}

impl Outcome {
    /// The end as the rollout counts it.
    pub fn end(&self) -> End {
        match self {
            Outcome::Skipped { .. } | Outcome::Deployed { .. } | Outcome::RolledBack { .. } => {
                End::Done
            }
            Outcome::NotStarted => End::NotStarted,
            Outcome::Failed { end, .. } => *end,
            Outcome::Unreachable(_) => End::FailedBeforeSwitch,
        }
    }
}

#[derive(Clone, Debug)]
pub struct HostResult {
    pub host: String,
    pub outcome: Outcome,
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("host `{host}`: the var `deploy_to` is not set (set it in the inventory: where releases live)")]
    NoDeployTo { host: String },
    #[error("{0}")]
    Render(#[from] RenderError),
}

/// Each host's `deploy_to`, rendered: checked before anything connects.
pub fn deploy_dirs(ctx: &Context, hosts: &[Host]) -> Result<HashMap<String, String>, PrepareError> {
    let mut dirs = HashMap::new();
    for host in hosts {
        let vars =
            ctx.renderer
                .host_context(&ctx.inventory, host, &ctx.playbook.vars, &ctx.extra)?;
        let dir = vars
            .get_attr("deploy_to")
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .filter(|d| !d.is_empty())
            .ok_or_else(|| PrepareError::NoDeployTo {
                host: host.name.clone(),
            })?;
        dirs.insert(host.name.clone(), dir);
    }
    Ok(dirs)
}

/// The executor's probe progress (`probe_retry`) goes to the run's reporter:
/// the journal, `--output json` and the terminal. Weak: the executor lives
/// in the context.
fn report_progress(ctx: &std::sync::Arc<Context>) {
    let weak = std::sync::Arc::downgrade(ctx);
    ctx.executor.report_to(std::sync::Arc::new(move |event| {
        if let Some(ctx) = weak.upgrade() {
            ctx.reporter.emit(event);
        }
    }));
}

/// A host that failed before anything changed on it.
fn failed_before(failure: TaskFailure, current: Option<ReleaseId>) -> Outcome {
    Outcome::Failed {
        failure,
        current,
        end: End::FailedBeforeSwitch,
    }
}

/// A host that could not be reached, or failed, before its pipeline began.
pub fn status_result(host: &str, status: crate::executor::HostStatus) -> HostResult {
    use crate::executor::HostStatus;
    let outcome = match status {
        HostStatus::Unreachable(reason) => Outcome::Unreachable(reason),
        HostStatus::Failed(failure) => failed_before(*failure, None),
        HostStatus::Ok => Outcome::Unreachable("no result".into()),
    };
    HostResult {
        host: host.to_string(),
        outcome,
    }
}
