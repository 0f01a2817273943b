//! DEPLOY: releases on hosts. Inspect what a host runs, receive an artifact
//! into a new release, run the playbook's `before_switch` tasks, switch
//! `current`, run `after_switch`, prune; and the way back (rollback).
//!
//! Every step is one script over the host's session (see `steps::release`);
//! the decisions (skip, prune, rollback target) come from `release`. A host
//! whose `after_switch` fails is switched back to its previous release, so a
//! failed deploy never leaves a host without a working `current`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::artifact::{Artifact, ArtifactSource};
use crate::config::{Host, Inventory, Playbook, RolloutSettings, Task, Vars};
use crate::executor::{Executor, HostStatus, TaskFailure};
use crate::journal::Journal;
use crate::probe::HealthCheck;
use crate::release::{rollback_target, EventKind, HistoryEvent, HostState, ReleaseId, ReleaseMeta};
use crate::render::{render_health, render_plan, RenderError, Renderer, Step};
use crate::rollout::{self, Batch, Decision, HostEnd, Plan, RollbackScope, Rollout};
use crate::ssh::Session;
use crate::steps::release as script;

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
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            note: None,
        }
    }

    fn event(
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
            outcome: "ok".into(),
            detail: self.note.clone().unwrap_or_default(),
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
    pub keep: usize,
    pub linked_dirs: Vec<String>,
    pub linked_files: Vec<String>,
}

/// What happened on one host.
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
    },
    Unreachable(String),
}

#[derive(Clone, Debug)]
pub struct HostResult {
    pub host: String,
    pub outcome: Outcome,
}

/// Shared by the hosts of one command.
pub struct Context {
    pub executor: Arc<Executor>,
    pub renderer: Renderer,
    pub inventory: Inventory,
    pub playbook: Playbook,
    pub extra: Vars,
    pub forks: usize,
    pub journal: Journal,
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

/// The state-reading script of every host, by host name.
pub fn inspect_scripts(hosts: &[Host], dirs: &HashMap<String, String>) -> HashMap<String, String> {
    hosts
        .iter()
        .map(|h| (h.name.clone(), script::inspect(&dirs[&h.name])))
        .collect()
}

/// What a command knows of its hosts before it reads their states.
#[derive(Clone, Debug, Default)]
pub enum Known {
    /// Nothing, and nothing is locked: every host is asked (status, history).
    #[default]
    Unlocked,
    /// A run's lock (see [`crate::lock::Read`]): a host missing here or not
    /// locked is reported, never asked, so never changed.
    Locked(HashMap<String, crate::lock::Read>),
}

/// Take the environment's lock (a run's, with a lease) and read every
/// locked host's state in the same round trip.
pub async fn lock_and_read_state(
    ctx: &Arc<Context>,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    info: crate::lock::LockInfo,
    wait: Option<std::time::Duration>,
) -> Result<(crate::lock::LockGuard, Known), crate::lock::LockError> {
    let scripts = inspect_scripts(hosts, dirs);
    let hold = crate::lock::Hold::Leased;
    let (guard, reads) =
        crate::lock::acquire_then(ctx, hosts, dirs, info, hold, wait, &scripts).await?;
    Ok((guard, Known::Locked(reads)))
}

/// Every host's release state, in inventory order. Under a lock, outputs
/// of the inspect script already read with it are used, a locked host whose
/// read failed is asked again, and a host not locked is reported as such.
pub async fn inspect(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    known: &Known,
) -> Vec<(Host, Result<HostState, HostStatus>)> {
    use crate::lock::Read;
    let mut given: HashMap<String, Result<HostState, HostStatus>> = HashMap::new();
    let mut unknown = Vec::new();
    for host in hosts {
        let read = match known {
            Known::Unlocked => None,
            Known::Locked(reads) => Some(reads.get(&host.name)),
        };
        match read {
            None | Some(Some(Read::Locked(None))) => unknown.push(host.clone()),
            Some(Some(Read::Locked(Some(out)))) => {
                given.insert(host.name.clone(), Ok(parse_state(out)));
            }
            Some(Some(Read::NotLocked(status))) => {
                given.insert(host.name.clone(), Err(not_locked(status.clone())));
            }
            Some(None) => {
                let status = HostStatus::Unreachable("not reached".into());
                given.insert(host.name.clone(), Err(not_locked(status)));
            }
        }
    }
    let asked = ctx
        .executor
        .script_each(
            &unknown,
            ctx.forks,
            "inspect",
            inspect_scripts(&unknown, dirs),
        )
        .await
        .into_iter()
        .map(|(host, out)| (host.name, out.map(|o| parse_state(&o))));
    given.extend(asked);
    hosts
        .iter()
        .map(|h| {
            let state = given
                .remove(&h.name)
                .unwrap_or_else(|| Err(HostStatus::Unreachable("no answer".into())));
            (h.clone(), state)
        })
        .collect()
}

/// A host the run did not lock: why, so the report says it was not changed.
fn not_locked(status: HostStatus) -> HostStatus {
    match status {
        HostStatus::Unreachable(reason) => HostStatus::Unreachable(format!(
            "{reason} (while taking the lock: not locked, not changed)"
        )),
        HostStatus::Failed(mut f) => {
            f.reason = format!("{} (not locked, not changed)", f.reason);
            HostStatus::Failed(f)
        }
        HostStatus::Ok => HostStatus::Unreachable("not locked, not changed".into()),
    }
}

/// Parse the output of `steps::release::inspect`, line by line: unreadable
/// lines are ignored, and ferry's own lines count only before the history
/// (the first `@@current` and `@@meta` win).
pub fn parse_state(out: &str) -> HostState {
    let mut state = HostState::default();
    let mut in_history = false;
    let (mut seen_current, mut seen_meta) = (false, false);
    for line in out.lines() {
        if in_history {
            if let Ok(event) = serde_json::from_str::<HistoryEvent>(line) {
                state.history.push(event);
            }
        } else if let Some(target) = line
            .strip_prefix(script::MARK_CURRENT)
            .filter(|_| !std::mem::replace(&mut seen_current, true))
        {
            let name = target
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("");
            state.current = ReleaseId::parse(name).ok();
        } else if let Some(name) = line.strip_prefix(script::MARK_RELEASE) {
            if let Ok(id) = ReleaseId::parse(name) {
                state.on_disk.insert(id);
            }
        } else if let Some(json) = line
            .strip_prefix(script::MARK_META)
            .filter(|_| !std::mem::replace(&mut seen_meta, true))
        {
            state.current_meta = serde_json::from_str(json).ok();
        } else if line == script::MARK_HISTORY {
            in_history = true;
        }
    }
    state
}

/// Vars the deploy stages see besides the usual ones.
fn release_vars(
    extra: &Vars,
    deploy_to: &str,
    release: &ReleaseId,
    previous: Option<&ReleaseId>,
) -> Vars {
    let mut vars = extra.clone();
    let text = |s: String| serde_json::Value::String(s);
    vars.insert("release_id".into(), text(release.to_string()));
    vars.insert(
        "release_path".into(),
        text(format!("{deploy_to}/releases/{release}")),
    );
    vars.insert(
        "previous_release".into(),
        text(previous.map(ToString::to_string).unwrap_or_default()),
    );
    vars
}

/// Render one deploy stage for hosts whose state is known.
fn render_stage(
    ctx: &Context,
    tasks: &[Task],
    hosts: &[Host],
    vars_for: &dyn Fn(&Host) -> Vars,
) -> Result<HashMap<String, Vec<Step>>, Vec<RenderError>> {
    let refs: Vec<&Host> = hosts.iter().collect();
    let plans = render_plan(
        &ctx.renderer,
        &ctx.inventory,
        &refs,
        &ctx.playbook,
        tasks,
        vars_for,
    )?;
    Ok(plans.into_iter().map(|p| (p.host.name, p.steps)).collect())
}

/// The per-host work of a deploy, prepared before any host changes.
struct HostJob {
    deploy_to: String,
    state: HostState,
    /// The release to go back to: `current`, or when the release is already
    /// current (a run that died before its health check), the one before it.
    previous: Option<ReleaseId>,
    /// The release is already current with the same content: it is reused,
    /// never received again (that would replace the folder under `current`).
    live: bool,
    before: Vec<Step>,
    drain: Vec<Step>,
    after: Vec<Step>,
    health: Vec<HealthCheck>,
    undrain: Vec<Step>,
    /// `after_switch` and health rendered for going back to the previous release.
    after_back: Vec<Step>,
    health_back: Vec<HealthCheck>,
}

/// How a rolling deploy goes: batches, failures allowed, whom to roll back.
pub struct RolloutOptions {
    pub settings: RolloutSettings,
    pub scope: RollbackScope,
    pub stop_after_canary: bool,
    /// Set by Ctrl-C / SIGTERM: no new host starts.
    pub stop: Arc<AtomicBool>,
}

/// What a deploy did, for the report and the exit code.
pub struct DeployReport {
    pub results: Vec<HostResult>,
    pub plan: Plan,
    /// Why the rollout stopped early, if it did.
    pub stopped: Option<String>,
    pub interrupted: bool,
    pub paused_after_canary: bool,
}

/// Render every stage for every reachable host, with its release facts.
fn prepare_jobs(
    ctx: &Context,
    d: &Deployment,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    mut states: HashMap<String, HostState>,
) -> Result<HashMap<String, HostJob>, Vec<RenderError>> {
    let currents: HashMap<String, Option<ReleaseId>> = states
        .iter()
        .map(|(n, s)| (n.clone(), previous_of(s, d)))
        .collect();
    let forward = |h: &Host| {
        release_vars(
            &ctx.extra,
            &dirs[&h.name],
            &d.release,
            currents[&h.name].as_ref(),
        )
    };
    let back = |h: &Host| match &currents[&h.name] {
        Some(prev) => release_vars(&ctx.extra, &dirs[&h.name], prev, Some(&d.release)),
        None => forward(h),
    };
    let pb = &ctx.playbook;
    let mut before = render_stage(ctx, &pb.before_switch, hosts, &forward)?;
    let mut drain = render_stage(ctx, &pb.drain, hosts, &forward)?;
    let mut after = render_stage(ctx, &pb.after_switch, hosts, &forward)?;
    let mut undrain = render_stage(ctx, &pb.undrain, hosts, &forward)?;
    let mut after_back = render_stage(ctx, &pb.after_switch, hosts, &back)?;
    let mut jobs = HashMap::new();
    for host in hosts {
        let name = &host.name;
        let health = render_checks(ctx, host, &forward(host)).map_err(|e| vec![e])?;
        let health_back = render_checks(ctx, host, &back(host)).map_err(|e| vec![e])?;
        let state = states.remove(name).unwrap_or_default();
        let job = HostJob {
            deploy_to: dirs[name].clone(),
            previous: previous_of(&state, d),
            live: is_live(&state, d),
            state,
            before: before.remove(name).unwrap_or_default(),
            drain: drain.remove(name).unwrap_or_default(),
            after: after.remove(name).unwrap_or_default(),
            health,
            undrain: undrain.remove(name).unwrap_or_default(),
            after_back: after_back.remove(name).unwrap_or_default(),
            health_back,
        };
        jobs.insert(name.clone(), job);
    }
    Ok(jobs)
}

fn render_checks(ctx: &Context, host: &Host, vars: &Vars) -> Result<Vec<HealthCheck>, RenderError> {
    let values = ctx
        .renderer
        .host_context(&ctx.inventory, host, &ctx.playbook.vars, vars)?;
    render_health(&ctx.renderer, &ctx.playbook, host, &values)
}

/// The release is `current` on the host with the same content.
fn is_live(state: &HostState, d: &Deployment) -> bool {
    state.current.as_ref() == Some(&d.release)
        && state
            .current_meta
            .as_ref()
            .is_some_and(|m| m.sha256 == d.artifact.sha256)
}

/// Where a failed host goes back to: `current`, unless `current` already is
/// the release being deployed (then the release before it).
fn previous_of(state: &HostState, d: &Deployment) -> Option<ReleaseId> {
    if state.current.as_ref() == Some(&d.release) {
        state.previous()
    } else {
        state.current.clone()
    }
}

/// A host already on the release, with the same content, that passed its
/// health checks after its last switch (or needs none): a re-run skips it.
fn already_done(state: &HostState, d: &Deployment, needs_health: bool) -> bool {
    let same = is_live(state, d);
    if !same || !needs_health {
        return same;
    }
    let last_switch = state.history.iter().rposition(|e| {
        e.release == d.release && matches!(e.event, EventKind::Switched | EventKind::RolledBack)
    });
    state.history.iter().enumerate().any(|(i, e)| {
        e.event == EventKind::Health
            && e.release == d.release
            && e.outcome == "ok"
            && Some(i) > last_switch
    })
}

/// Roll `d` out to `hosts` in batches (see `rollout`). Render errors abort
/// before any host changes.
pub async fn deploy(
    ctx: Arc<Context>,
    hosts: &[Host],
    d: Arc<Deployment>,
    opts: RolloutOptions,
    known: &Known,
) -> Result<DeployReport, Vec<RenderError>> {
    let dirs = deploy_dirs(&ctx, hosts).map_err(|e| vec![as_render_error(e)])?;
    let mut results = Vec::new();
    let mut states = HashMap::new();
    let mut reachable = Vec::new();
    for (host, state) in inspect(&ctx, hosts, &dirs, known).await {
        match state {
            Ok(state) => {
                states.insert(host.name.clone(), state);
                reachable.push(host);
            }
            Err(status) => results.push(status_result(&host.name, status)),
        }
    }
    let needs_health = !ctx.playbook.health.is_empty();
    let (done, todo): (Vec<Host>, Vec<Host>) = reachable
        .into_iter()
        .partition(|h| already_done(&states[&h.name], &d, needs_health));
    for host in &done {
        ctx.executor.printer().host_event(
            &host.name,
            &format!("already on {} (same sha256, healthy): skipped", d.release),
        );
        results.push(HostResult {
            host: host.name.clone(),
            outcome: Outcome::Skipped {
                release: d.release.clone(),
            },
        });
    }
    let jobs = Arc::new(prepare_jobs(&ctx, &d, &todo, &dirs, states)?);
    let names: Vec<String> = todo.iter().map(|h| h.name.clone()).collect();
    // `--stop-after-canary` always stops after one healthy batch: a canary
    // (1 host unless set) even when some hosts already run the release.
    let mut settings = opts.settings.clone();
    if opts.stop_after_canary && settings.canary.is_none() {
        settings.canary = Some(1);
    }
    let with_canary = done.is_empty() || opts.stop_after_canary;
    let plan = rollout::plan(&names, hosts.len(), &settings, with_canary);
    ctx.journal.record(
        "plan",
        json!({ "release": d.release, "batches": plan.batches.iter().map(|b| &b.hosts).collect::<Vec<_>>(),
                "max_failures": plan.max_failures, "skipped": done.iter().map(|h| &h.name).collect::<Vec<_>>() }),
    );
    let by_name: HashMap<String, Host> = todo.into_iter().map(|h| (h.name.clone(), h)).collect();
    let mut report = DeployReport {
        results,
        plan: plan.clone(),
        stopped: None,
        interrupted: false,
        paused_after_canary: false,
    };
    let staged = Arc::new(if plan.batches.len() > 1 {
        stage_everywhere(&ctx, &plan, &by_name, &jobs, &d, &opts.stop).await
    } else {
        HashMap::new()
    });
    let printer = ctx.executor.printer();
    printer.progress_start(names.len());
    let mut rollout = Rollout::new(plan.max_failures);
    let mut next = 0;
    while next < plan.batches.len() {
        if opts.stop.load(Ordering::SeqCst) {
            report.interrupted = true;
            break;
        }
        let batch = &plan.batches[next];
        next += 1;
        printer.progress_message(&format!("batch {}/{}", batch.number, plan.batches.len()));
        let ends = run_batch(&ctx, &by_name, &jobs, &staged, &d, batch, opts.scope).await;
        printer.progress_hosts_done(ends.len());
        let summary: Vec<(String, HostEnd)> =
            ends.iter().map(|(h, _, e)| (h.clone(), *e)).collect();
        report.results.extend(
            ends.into_iter()
                .map(|(host, outcome, _)| HostResult { host, outcome }),
        );
        ctx.journal
            .record("batch_finished", json!({ "batch": batch.number }));
        match rollout.on_batch(batch, &summary, opts.scope) {
            Decision::Continue => {
                if next >= plan.batches.len() {
                    break;
                }
                if opts.stop_after_canary {
                    report.paused_after_canary = true;
                    break;
                }
                if !plan.pause.is_zero() {
                    ctx.executor.printer().note(&format!(
                        "pause {:?} before batch {}",
                        plan.pause,
                        next + 1
                    ));
                    interruptible_sleep(plan.pause, &opts.stop).await;
                }
            }
            Decision::Stop { reason, roll_back } => {
                ctx.executor
                    .printer()
                    .note(&format!("rollout stopped: {reason}"));
                ctx.journal.record(
                    "stopped",
                    json!({ "reason": reason, "roll_back": roll_back }),
                );
                report.stopped = Some(reason);
                roll_back_switched(&ctx, &by_name, &jobs, &d, &roll_back, &mut report.results)
                    .await;
                break;
            }
        }
    }
    printer.progress_finish();
    // A signal during the last batch is an interrupt too (exit 130).
    report.interrupted |= opts.stop.load(Ordering::SeqCst);
    for batch in &plan.batches[next..] {
        for host in &batch.hosts {
            report.results.push(HostResult {
                host: host.clone(),
                outcome: Outcome::NotStarted,
            });
        }
    }
    Ok(report)
}

async fn interruptible_sleep(pause: std::time::Duration, stop: &AtomicBool) {
    let end = tokio::time::Instant::now() + pause.min(crate::config::values::MAX_DURATION);
    while tokio::time::Instant::now() < end && !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(100).min(pause)).await;
    }
}

/// What staging left for a host's batch: `None` when the release is in place.
type Staged = HashMap<String, Option<TaskFailure>>;

/// Batch number of the staging phase in the journal: before batch 1.
const STAGING: usize = 0;

/// Before a rolling deploy's first batch, every host receives and unpacks the
/// release at once (the way Capistrano and Kamal stage before they switch):
/// the transfer, the part that costs time, then overlaps across the whole
/// fleet instead of running batch after batch, and the batches only drain,
/// switch and check. Nothing serves the new release yet; a host that failed
/// here fails in its own batch, so the rollout decides as it would have.
async fn stage_everywhere(
    ctx: &Arc<Context>,
    plan: &Plan,
    by_name: &HashMap<String, Host>,
    jobs: &Arc<HashMap<String, HostJob>>,
    d: &Arc<Deployment>,
    stop: &Arc<AtomicBool>,
) -> Staged {
    // In rollout order: with fewer forks than hosts the canary goes first.
    let hosts: Vec<Host> = plan
        .batches
        .iter()
        .flat_map(|b| &b.hosts)
        .filter(|name| content_conflict(&jobs[*name], d).is_none() && !jobs[*name].live)
        .map(|name| by_name[name].clone())
        .collect();
    ctx.executor
        .printer()
        .note(&format!("staging {} on {} host(s)", d.release, hosts.len()));
    ctx.journal.record(
        "staging_started",
        json!({ "hosts": hosts.iter().map(|h| &h.name).collect::<Vec<_>>() }),
    );
    let (jobs2, d2, ctx2, stop) = (jobs.clone(), d.clone(), ctx.clone(), stop.clone());
    let staged: Staged = ctx
        .executor
        .each_host(
            hosts,
            ctx.forks,
            |_| true,
            move |exec, host, session| {
                let (jobs, d, ctx, stop) = (jobs2.clone(), d2.clone(), ctx2.clone(), stop.clone());
                async move {
                    // Interrupted: the host is left to its batch, which is not started.
                    if stop.load(Ordering::SeqCst) {
                        return None;
                    }
                    let session = session.expect("staging connects");
                    let step = Steps::new(&exec, &ctx, &host, &session, STAGING);
                    step.receive(&jobs[&host.name], &d).await.err()
                }
            },
        )
        .await
        .into_iter()
        // A host that could not be reached is left to its batch, which tries
        // again and reports it unreachable there.
        .filter_map(|(host, result)| result.ok().map(|failure| (host.name, failure)))
        .collect();
    ctx.journal.record("staging_finished", json!({}));
    staged
}

/// The release id is current on the host with other content: never replaced.
fn content_conflict(job: &HostJob, d: &Deployment) -> Option<String> {
    let same_content = job
        .state
        .current_meta
        .as_ref()
        .is_some_and(|m| m.sha256 == d.artifact.sha256);
    (job.state.current.as_ref() == Some(&d.release) && !same_content).then(|| {
        format!(
            "release `{}` is current on this host with other content (sha256 differs); use another release id",
            d.release
        )
    })
}

/// All hosts of one batch at once; each host's full pipeline.
async fn run_batch(
    ctx: &Arc<Context>,
    by_name: &HashMap<String, Host>,
    jobs: &Arc<HashMap<String, HostJob>>,
    staged: &Arc<Staged>,
    d: &Arc<Deployment>,
    batch: &Batch,
    scope: RollbackScope,
) -> Vec<(String, Outcome, HostEnd)> {
    let label = if batch.canary { " (canary)" } else { "" };
    ctx.executor.printer().note(&format!(
        "batch {}{label}: {}",
        batch.number,
        batch.hosts.join(", ")
    ));
    ctx.journal.record(
        "batch_started",
        json!({ "batch": batch.number, "canary": batch.canary, "hosts": batch.hosts }),
    );
    let hosts: Vec<Host> = batch.hosts.iter().map(|h| by_name[h].clone()).collect();
    let (jobs, staged, d, ctx2) = (jobs.clone(), staged.clone(), d.clone(), ctx.clone());
    let number = batch.number;
    ctx.executor
        .each_host(
            hosts,
            ctx.forks,
            |_| true,
            move |exec, host, session| {
                let (jobs, staged, d, ctx) =
                    (jobs.clone(), staged.clone(), d.clone(), ctx2.clone());
                async move {
                    let session = session.expect("deploy connects");
                    let step = Steps::new(&exec, &ctx, &host, &session, number);
                    let roll_back = scope != RollbackScope::None;
                    step.deploy(&jobs[&host.name], staged.get(&host.name), &d, roll_back)
                        .await
                }
            },
        )
        .await
        .into_iter()
        .map(|(host, result)| match result {
            Ok((outcome, end)) => (host.name, outcome, end),
            Err(status) => {
                let r = status_result(&host.name, status);
                (r.host, r.outcome, HostEnd::FailedBeforeSwitch)
            }
        })
        .collect()
}

/// Put every host in `names` back on its previous release (batch stop).
async fn roll_back_switched(
    ctx: &Arc<Context>,
    by_name: &HashMap<String, Host>,
    jobs: &Arc<HashMap<String, HostJob>>,
    d: &Arc<Deployment>,
    names: &[String],
    results: &mut [HostResult],
) {
    if names.is_empty() {
        return;
    }
    ctx.executor.printer().note(&format!(
        "rolling back {} host(s): {}",
        names.len(),
        names.join(", ")
    ));
    let hosts: Vec<Host> = names.iter().map(|h| by_name[h].clone()).collect();
    let (jobs2, d2, ctx2) = (jobs.clone(), d.clone(), ctx.clone());
    let done = ctx
        .executor
        .each_host(
            hosts,
            ctx.forks,
            |_| true,
            move |exec, host, session| {
                let (jobs, d, ctx) = (jobs2.clone(), d2.clone(), ctx2.clone());
                async move {
                    let session = session.expect("rollback connects");
                    let step = Steps::new(&exec, &ctx, &host, &session, 0);
                    let job = &jobs[&host.name];
                    if let Some(f) = step.stage("drain", &job.drain).await {
                        exec.printer().host_event(
                            &host.name,
                            &format!("warning: drain before rollback failed: {}", f.reason),
                        );
                    }
                    step.back(job, &d).await
                }
            },
        )
        .await;
    for (host, result) in done {
        let outcome = match result {
            Ok(Ok((previous, _))) => Outcome::RolledBack {
                to: previous,
                from: Some(d.release.clone()),
            },
            Ok(Err(failure)) => failed(failure, Some(d.release.clone())),
            Err(status) => {
                let mut r = status_result(&host.name, status);
                if let Outcome::Failed { current, .. } = &mut r.outcome {
                    *current = Some(d.release.clone());
                }
                r.outcome
            }
        };
        if let Some(slot) = results.iter_mut().find(|r| r.host == host.name) {
            slot.outcome = outcome;
        }
    }
}

/// One host's steps in a deploy: each one journaled, output to the printer.
struct Steps<'a> {
    exec: &'a Executor,
    ctx: &'a Context,
    name: &'a str,
    session: &'a Session,
    batch: usize,
}

impl<'a> Steps<'a> {
    fn new(
        exec: &'a Executor,
        ctx: &'a Context,
        host: &'a Host,
        session: &'a Session,
        batch: usize,
    ) -> Self {
        Steps {
            exec,
            ctx,
            name: &host.name,
            session,
            batch,
        }
    }

    fn mark(&self, event: &str, extra: serde_json::Value) {
        let mut fields = json!({ "host": self.name, "batch": self.batch });
        if let (Some(map), serde_json::Value::Object(more)) = (fields.as_object_mut(), extra) {
            map.extend(more);
        }
        self.ctx.journal.record(event, fields);
    }

    /// Run a task list; journaled as a step.
    async fn stage(&self, label: &str, steps: &[Step]) -> Option<TaskFailure> {
        if steps.is_empty() {
            return None;
        }
        self.mark("step_started", json!({ "step": label }));
        let failure = run_stage(self.exec, self.name, self.session, steps).await;
        self.mark(
            "step_finished",
            json!({ "step": label, "ok": failure.is_none() }),
        );
        failure
    }

    async fn script(&self, label: &str, script: String) -> Result<String, TaskFailure> {
        self.exec
            .script(self.name, self.session, label, script, None)
            .await
            .map_err(crate::lock::lost_lock)
    }

    async fn health(
        &self,
        job: &HostJob,
        d: &Deployment,
        checks: &[HealthCheck],
        release: &ReleaseId,
    ) -> Option<TaskFailure> {
        if checks.is_empty() {
            return None;
        }
        self.mark(
            "step_started",
            json!({ "step": "health", "release": release }),
        );
        let result = self.exec.health(self.name, self.session, checks).await;
        let mut event = d.run.event(EventKind::Health, release, None);
        if let Err(f) = &result {
            event.outcome = "failed".into();
            event.detail = health_detail(self.exec.printer().secrets(), &f.reason, checks);
        }
        self.record(job, &event).await;
        self.mark(
            if result.is_ok() {
                "healthy"
            } else {
                "unhealthy"
            },
            json!({ "release": release }),
        );
        result.err()
    }

    /// The whole pipeline: receive (unless staged or live) → before_switch →
    /// drain → switch → after_switch → health → undrain → prune. A failure
    /// after the switch puts the previous release back, unless `roll_back`
    /// is off (`--rollback none`): then the host stays on the new release.
    async fn deploy(
        &self,
        job: &HostJob,
        staged: Option<&Option<TaskFailure>>,
        d: &Deployment,
        roll_back: bool,
    ) -> (Outcome, HostEnd) {
        let current = job.state.current.clone();
        if let Some(reason) = content_conflict(job, d) {
            return (
                failed(TaskFailure::plain(self.name, "deploy", &reason), current),
                HostEnd::FailedBeforeSwitch,
            );
        }
        let before_switch = |failure: TaskFailure| async {
            self.record_failure(job, d, &failure.reason).await;
            (
                failed(failure, current.clone()),
                HostEnd::FailedBeforeSwitch,
            )
        };
        let received = match staged {
            _ if job.live => {
                self.exec.printer().host_event(
                    self.name,
                    &format!(
                        "{} is already current (same sha256) but not known healthy: reused",
                        d.release
                    ),
                );
                Ok(())
            }
            Some(result) => result.clone().map_or(Ok(()), Err),
            None => self.receive(job, d).await,
        };
        if let Err(failure) = received {
            return before_switch(failure).await;
        }
        if let Some(failure) = self.stage("before_switch", &job.before).await {
            return before_switch(failure).await;
        }
        if let Some(failure) = self.stage("drain", &job.drain).await {
            let _ = self.stage("undrain", &job.undrain).await;
            return before_switch(failure).await;
        }
        let mut switched = d
            .run
            .event(EventKind::Switched, &d.release, job.previous.as_ref());
        switched.sha256 = Some(d.artifact.sha256.clone());
        let switch = script::switch(
            &job.deploy_to,
            &d.release,
            &d.run.run_id,
            &json_line(&switched),
        );
        if let Err(failure) = self.script("switch", switch).await {
            let _ = self.stage("undrain", &job.undrain).await;
            return before_switch(failure).await;
        }
        self.mark("switched", json!({ "release": d.release }));
        self.exec
            .printer()
            .host_event(self.name, &format!("current -> {}", d.release));
        let after = match self.stage("after_switch", &job.after).await {
            // The app did not start: recorded like a failed health check, so
            // this release is bad on this host for every later rollback.
            Some(f) => {
                self.record_failure(job, d, &format!("after_switch failed: {}", f.reason))
                    .await;
                Some(f)
            }
            None => match self.health(job, d, &job.health, &d.release).await {
                Some(f) => Some(f),
                None => self.stage("undrain", &job.undrain).await,
            },
        };
        if let Some(mut failure) = after {
            if !roll_back {
                failure.reason = format!(
                    "{}; left on {} (--rollback none)",
                    failure.reason, d.release
                );
                return (
                    failed(failure, Some(d.release.clone())),
                    HostEnd::FailedStranded,
                );
            }
            return match self.back(job, d).await {
                Ok((previous, trouble)) => {
                    if let Some(trouble) = trouble {
                        failure.reason =
                            format!("{}; back on {previous}, but: {trouble}", failure.reason);
                    }
                    (failed(failure, Some(previous)), HostEnd::FailedRestored)
                }
                Err(second) => {
                    let mut failure = failure;
                    failure.reason = format!(
                        "{}; putting the previous release back failed too: {}",
                        failure.reason, second.reason
                    );
                    (
                        failed(failure, Some(d.release.clone())),
                        HostEnd::FailedStranded,
                    )
                }
            };
        }
        let pruned = prune(self.exec, self.name, self.session, job, d, switched).await;
        let outcome = Outcome::Deployed {
            release: d.release.clone(),
            previous: job.previous.clone(),
            pruned,
        };
        (outcome, HostEnd::Done)
    }

    /// Upload, verify and unpack the release into `releases/<id>`; journaled.
    async fn receive(&self, job: &HostJob, d: &Deployment) -> Result<(), TaskFailure> {
        self.exec.printer().host_event(
            self.name,
            &format!("receiving {} as {}", d.artifact.name, d.release),
        );
        self.mark("step_started", json!({ "step": "receive" }));
        let received = receive(self.exec, self.name, self.session, job, d).await;
        self.mark(
            "step_finished",
            json!({ "step": "receive", "ok": received.is_ok() }),
        );
        received
    }

    /// Switch back to the previous release (marking the new one bad), run
    /// after_switch for it, check its health, undrain. The host is drained.
    /// Once `current` is back, later trouble is returned beside the release:
    /// the host is on its previous release either way.
    async fn back(
        &self,
        job: &HostJob,
        d: &Deployment,
    ) -> Result<(ReleaseId, Option<String>), TaskFailure> {
        let Some(previous) = job.previous.clone() else {
            return Err(TaskFailure::plain(
                self.name,
                "roll back",
                "no previous release on this host",
            ));
        };
        let event = d
            .run
            .event(EventKind::RolledBack, &previous, Some(&d.release));
        self.script(
            "switch back",
            script::switch(&job.deploy_to, &previous, &d.run.run_id, &json_line(&event)),
        )
        .await?;
        self.mark("rolled_back", json!({ "release": previous }));
        self.exec
            .printer()
            .host_event(self.name, &format!("current -> {previous} (rolled back)"));
        let trouble = match self.stage("after_switch", &job.after_back).await {
            Some(f) => Some(f),
            None => self.health(job, d, &job.health_back, &previous).await,
        };
        let undrained = self.stage("undrain", &job.undrain).await;
        let trouble = [trouble, undrained]
            .into_iter()
            .flatten()
            .map(|f| format!("{} failed: {}", f.task, f.reason))
            .reduce(|a, b| format!("{a}; {b}"));
        if let Some(t) = &trouble {
            self.exec
                .printer()
                .host_event(self.name, &format!("warning: on {previous} again, but {t}"));
        }
        Ok((previous, trouble))
    }

    async fn record(&self, job: &HostJob, event: &HistoryEvent) {
        record_event(self.exec, self.name, self.session, &job.deploy_to, event).await;
    }

    async fn record_failure(&self, job: &HostJob, d: &Deployment, detail: &str) {
        let mut event = d
            .run
            .event(EventKind::Failed, &d.release, job.previous.as_ref());
        event.outcome = "failed".into();
        // Masked before it is cut: a cut secret would no longer match.
        event.detail = self
            .exec
            .printer()
            .secrets()
            .mask(detail)
            .chars()
            .take(500)
            .collect();
        self.record(job, &event).await;
    }
}

/// Append `event` to the host's history, secrets masked; a failed append
/// (disk full) is said, never silent: later runs decide from this history.
async fn record_event(
    exec: &Executor,
    name: &str,
    session: &Session,
    deploy_to: &str,
    event: &HistoryEvent,
) {
    let record = script::record(deploy_to, &masked_line(exec.printer().secrets(), event));
    if let Err(failure) = exec.script(name, session, "record", record, None).await {
        exec.printer().host_event(
            name,
            &format!(
                "warning: could not record `{:?}` of {} in the host's history: {}",
                event.event, event.release, failure.reason
            ),
        );
    }
}

fn as_render_error(e: PrepareError) -> RenderError {
    match e {
        PrepareError::Render(r) => r,
        other => RenderError {
            place: "inventory".into(),
            message: other.to_string(),
        },
    }
}

fn status_result(host: &str, status: HostStatus) -> HostResult {
    let outcome = match status {
        HostStatus::Unreachable(reason) => Outcome::Unreachable(reason),
        HostStatus::Failed(failure) => Outcome::Failed {
            failure: *failure,
            current: None,
        },
        HostStatus::Ok => Outcome::Unreachable("no result".into()),
    };
    HostResult {
        host: host.to_string(),
        outcome,
    }
}

fn failed(failure: TaskFailure, current: Option<ReleaseId>) -> Outcome {
    Outcome::Failed { failure, current }
}

async fn receive(
    exec: &Executor,
    name: &str,
    session: &Session,
    job: &HostJob,
    d: &Deployment,
) -> Result<(), TaskFailure> {
    let meta = ReleaseMeta {
        id: d.release.clone(),
        artifact: d.artifact.name.clone(),
        sha256: d.artifact.sha256.clone(),
        deployed_by: d.run.deployer.clone(),
        deployed_at: now(),
        controller: d.run.controller.clone(),
        ferry_version: env!("CARGO_PKG_VERSION").into(),
        env: d.run.env.clone(),
        run_id: d.run.run_id.clone(),
        source_env: d.source_env.clone(),
    };
    let meta_json = json_line(&meta);
    let receive = script::receive(&script::Receive {
        deploy_to: &job.deploy_to,
        id: &d.release,
        sha256: &d.artifact.sha256,
        meta_json: &meta_json,
        linked_dirs: &d.linked_dirs,
        linked_files: &d.linked_files,
        tag: &d.run.run_id,
        fetch_url: match &d.artifact.source {
            ArtifactSource::Url(url) => Some(url),
            ArtifactSource::File { .. } => None,
        },
    });
    let mut input = match &d.artifact.source {
        ArtifactSource::File { bytes, .. } => bytes.clone(),
        ArtifactSource::Url(_) => {
            return exec
                .script(name, session, "fetch artifact", receive, None)
                .await
                .map(|_| ());
        }
    };
    // Test hook: corrupt the bytes sent to one host, to prove the host-side check.
    if std::env::var("FERRY_TEST_CORRUPT_UPLOAD").is_ok_and(|h| h == name) {
        input = [&input[..], b"corruption"].concat().into();
    }
    exec.script(name, session, "receive artifact", receive, Some(input))
        .await
        .map(|_| ())
}

async fn run_stage(
    exec: &Executor,
    name: &str,
    session: &Session,
    steps: &[Step],
) -> Option<TaskFailure> {
    match exec.run_steps(name, Some(session), steps).await.status {
        HostStatus::Failed(failure) => Some(*failure),
        _ => None,
    }
}

async fn prune(
    exec: &Executor,
    name: &str,
    session: &Session,
    job: &HostJob,
    d: &Deployment,
    switched: HistoryEvent,
) -> Vec<ReleaseId> {
    let mut after = job.state.clone();
    after.current = Some(d.release.clone());
    after.on_disk.insert(d.release.clone());
    after.history.push(switched);
    let doomed = after.prune(d.keep);
    if doomed.is_empty() {
        return doomed;
    }
    match exec
        .script(
            name,
            session,
            "prune",
            script::prune(&job.deploy_to, &doomed),
            None,
        )
        .await
    {
        Ok(_) => doomed,
        Err(failure) => {
            exec.printer().host_event(
                name,
                &format!("warning: pruning failed: {}", failure.reason),
            );
            Vec::new()
        }
    }
}

fn json_line<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

/// A history line with secrets masked before serialising: the host's
/// history outlives the run, and a later `ferry history` cannot know them.
fn masked_line(secrets: &crate::secrets::Secrets, event: &HistoryEvent) -> String {
    let value = serde_json::to_value(event).expect("plain data serializes");
    secrets.mask_json(&value).to_string()
}

/// A failed health check for the host's history: the check's name, not its
/// rendered probe (a command or URL may carry a secret of a var); masked
/// before it is cut, as a cut secret would no longer match.
fn health_detail(
    secrets: &crate::secrets::Secrets,
    reason: &str,
    checks: &[HealthCheck],
) -> String {
    let detail = checks.iter().fold(reason.to_string(), |text, c| {
        text.replace(&c.probe.describe(), &format!("check `{}`", c.name))
    });
    secrets.mask(&detail).chars().take(300).collect()
}

/// One host's rollback, rendered before any host changes.
struct RollbackJob {
    deploy_to: String,
    target: ReleaseId,
    /// What `current` points at now: where the host returns to when the
    /// target fails its `after_switch` or health checks.
    from: Option<ReleaseId>,
    after: Vec<Step>,
    health: Vec<HealthCheck>,
    /// `after_switch` and health rendered for going back to `from`.
    after_back: Vec<Step>,
    health_back: Vec<HealthCheck>,
}

/// Roll `hosts` back at once: to `to`, or each host's previous good release.
pub async fn rollback(
    ctx: Arc<Context>,
    hosts: &[Host],
    to: Option<ReleaseId>,
    run: Arc<RunInfo>,
    known: &Known,
) -> Result<Vec<HostResult>, Vec<RenderError>> {
    let dirs = deploy_dirs(&ctx, hosts).map_err(|e| vec![as_render_error(e)])?;
    let mut results = Vec::new();
    let mut targets = HashMap::new();
    let mut movable = Vec::new();
    for (host, state) in inspect(&ctx, hosts, &dirs, known).await {
        match state.map(|s| (rollback_target(&s, to.as_ref()), s)) {
            Ok((Ok(target), state)) => {
                targets.insert(host.name.clone(), (target, state.current));
                movable.push(host);
            }
            Ok((Err(why), state)) => results.push(HostResult {
                host: host.name.clone(),
                outcome: failed(
                    TaskFailure::plain(&host.name, "rollback", &why.to_string()),
                    state.current,
                ),
            }),
            Err(status) => results.push(status_result(&host.name, status)),
        }
    }
    let vars_for = |h: &Host| {
        let (target, current) = &targets[&h.name];
        release_vars(&ctx.extra, &dirs[&h.name], target, current.as_ref())
    };
    let back_for = |h: &Host| match &targets[&h.name] {
        (target, Some(current)) => release_vars(&ctx.extra, &dirs[&h.name], current, Some(target)),
        (_, None) => vars_for(h),
    };
    let after_switch = &ctx.playbook.after_switch;
    let mut after = render_stage(&ctx, after_switch, &movable, &vars_for)?;
    let mut after_back = render_stage(&ctx, after_switch, &movable, &back_for)?;
    let mut jobs = HashMap::new();
    for host in &movable {
        let name = &host.name;
        let (target, from) = targets[name].clone();
        let job = RollbackJob {
            deploy_to: dirs[name].clone(),
            target,
            from,
            after: after.remove(name).unwrap_or_default(),
            health: render_checks(&ctx, host, &vars_for(host)).map_err(|e| vec![e])?,
            after_back: after_back.remove(name).unwrap_or_default(),
            health_back: render_checks(&ctx, host, &back_for(host)).map_err(|e| vec![e])?,
        };
        jobs.insert(name.clone(), job);
    }
    let jobs = Arc::new(jobs);
    let done = ctx
        .executor
        .each_host(
            movable,
            ctx.forks,
            |_| true,
            move |exec, host, session| {
                let (jobs, run) = (jobs.clone(), run.clone());
                async move {
                    let session = session.expect("rollback connects");
                    roll_back_host(&exec, &host.name, &session, &jobs[&host.name], &run).await
                }
            },
        )
        .await;
    for (host, result) in done {
        results.push(match result {
            Ok(outcome) => HostResult {
                host: host.name,
                outcome,
            },
            Err(status) => status_result(&host.name, status),
        });
    }
    Ok(results)
}

/// Switch one host to its rollback target. A target whose `after_switch` or
/// health checks fail is bad on this host (recorded, so no later rollback
/// picks it) and the host goes back to the release it came from.
async fn roll_back_host(
    exec: &Executor,
    name: &str,
    session: &Session,
    job: &RollbackJob,
    run: &RunInfo,
) -> Outcome {
    let (target, from) = (&job.target, job.from.as_ref());
    let event = run.event(EventKind::RolledBack, target, from);
    let switch = script::switch(&job.deploy_to, target, &run.run_id, &json_line(&event));
    let switched = exec.script(name, session, "switch", switch, None).await;
    if let Err(failure) = switched.map_err(crate::lock::lost_lock) {
        return failed(failure, job.from.clone());
    }
    exec.printer()
        .host_event(name, &format!("current -> {target} (rolled back)"));
    let checks = (&job.after, &job.health);
    let Some(mut failure) = start_and_check(exec, name, session, job, run, target, checks).await
    else {
        return Outcome::RolledBack {
            to: target.clone(),
            from: job.from.clone(),
        };
    };
    let Some(from) = from else {
        return failed(failure, Some(target.clone()));
    };
    let event = run.event(EventKind::RolledBack, from, Some(target));
    let back = script::switch(&job.deploy_to, from, &run.run_id, &json_line(&event));
    let back = exec.script(name, session, "switch back", back, None).await;
    if let Err(second) = back.map_err(crate::lock::lost_lock) {
        failure.reason = format!(
            "{}; going back to {from} failed too: {}",
            failure.reason, second.reason
        );
        return failed(failure, Some(target.clone()));
    }
    exec.printer().host_event(
        name,
        &format!("current -> {from} (back: {target} failed on this host)"),
    );
    failure.reason = format!(
        "{}; {target} is marked bad here; back on {from}",
        failure.reason
    );
    let checks = (&job.after_back, &job.health_back);
    if let Some(trouble) = start_and_check(exec, name, session, job, run, from, checks).await {
        failure.reason = format!(
            "{}, but: {} failed: {}",
            failure.reason, trouble.task, trouble.reason
        );
    }
    failed(failure, Some(from.clone()))
}

/// `after_switch`, then the health checks, for `release` (now current);
/// either failure is recorded in the host's history.
async fn start_and_check(
    exec: &Executor,
    name: &str,
    session: &Session,
    job: &RollbackJob,
    run: &RunInfo,
    release: &ReleaseId,
    (after, checks): (&Vec<Step>, &Vec<HealthCheck>),
) -> Option<TaskFailure> {
    if let Some(f) = run_stage(exec, name, session, after).await {
        let mut event = run.event(EventKind::Failed, release, None);
        event.outcome = "failed".into();
        event.detail = exec
            .printer()
            .secrets()
            .mask(&format!("after_switch failed: {}", f.reason))
            .chars()
            .take(500)
            .collect();
        record_event(exec, name, session, &job.deploy_to, &event).await;
        return Some(f);
    }
    if checks.is_empty() {
        return None;
    }
    // The health result is recorded: promote, resume and rollback read it.
    let result = exec.health(name, session, checks).await;
    let mut event = run.event(EventKind::Health, release, None);
    if let Err(f) = &result {
        event.outcome = "failed".into();
        event.detail = health_detail(exec.printer().secrets(), &f.reason, checks);
    }
    record_event(exec, name, session, &job.deploy_to, &event).await;
    result.err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_output_parses() {
        let out = "@@current releases/r2\n@@release r1\n@@release r2\n@@release .r3.tmp\n\
                   @@meta {\"id\":\"r2\",\"artifact\":\"a.tar\",\"sha256\":\"abababababababababababababababababababababababababababababababab\",\"deployed_by\":\"ci\",\"deployed_at\":\"t\",\"controller\":\"c\",\"ferry_version\":\"0\",\"env\":\"e\",\"run_id\":\"x\"}\n\
                   @@history\n\
                   {\"at\":\"t\",\"event\":\"switched\",\"release\":\"r2\",\"previous\":\"r1\",\"by\":\"ci\",\"run_id\":\"x\",\"env\":\"e\",\"outcome\":\"ok\"}\n\
                   not json\n";
        let state = parse_state(out);
        assert_eq!(state.current, Some(ReleaseId::parse("r2").unwrap()));
        assert_eq!(state.on_disk.len(), 2);
        assert_eq!(state.current_meta.unwrap().sha256.as_str(), "ab".repeat(32));
        assert_eq!(state.history.len(), 1);
    }

    #[test]
    fn a_fresh_host_has_no_state() {
        assert_eq!(parse_state(""), HostState::default());
    }
}
