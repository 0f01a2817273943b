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

/// Take the environment's lock and read every locked host's state in the
/// same round trip (outputs for [`inspect`]'s `known`).
pub async fn lock_and_read_state(
    ctx: &Arc<Context>,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    info: crate::lock::LockInfo,
    wait: Option<std::time::Duration>,
) -> Result<(crate::lock::LockGuard, HashMap<String, String>), crate::lock::LockError> {
    let scripts = inspect_scripts(hosts, dirs);
    crate::lock::acquire_then(ctx, hosts, dirs, info, wait, &scripts).await
}

/// Every host's release state, in inventory order. `known` holds outputs
/// of the inspect script already read (with the lock, in one round trip);
/// the other hosts are asked now.
pub async fn inspect(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    known: &HashMap<String, String>,
) -> Vec<(Host, Result<HostState, HostStatus>)> {
    let unknown: Vec<Host> = hosts
        .iter()
        .filter(|h| !known.contains_key(&h.name))
        .cloned()
        .collect();
    let mut asked: HashMap<String, Result<HostState, HostStatus>> = ctx
        .executor
        .script_each(
            &unknown,
            ctx.forks,
            "inspect",
            inspect_scripts(&unknown, dirs),
        )
        .await
        .into_iter()
        .map(|(host, out)| (host.name, out.map(|o| parse_state(&o))))
        .collect();
    hosts
        .iter()
        .map(|h| {
            let state = match known.get(&h.name) {
                Some(out) => Ok(parse_state(out)),
                None => asked.remove(&h.name).expect("every unknown host was asked"),
            };
            (h.clone(), state)
        })
        .collect()
}

/// Parse the output of `steps::release::inspect`; unreadable lines are ignored.
pub fn parse_state(out: &str) -> HostState {
    let mut state = HostState::default();
    let mut in_history = false;
    for line in out.lines() {
        if in_history {
            if let Ok(event) = serde_json::from_str::<HistoryEvent>(line) {
                state.history.push(event);
            }
        } else if let Some(target) = line.strip_prefix(script::MARK_CURRENT) {
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
        } else if let Some(json) = line.strip_prefix(script::MARK_META) {
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
        .map(|(n, s)| (n.clone(), s.current.clone()))
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
        let job = HostJob {
            deploy_to: dirs[name].clone(),
            state: states.remove(name).unwrap_or_default(),
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

/// A host already on the release, with the same content, that passed its
/// health checks after its last switch (or needs none): a re-run skips it.
fn already_done(state: &HostState, d: &Deployment, needs_health: bool) -> bool {
    let same = state.current.as_ref() == Some(&d.release)
        && state
            .current_meta
            .as_ref()
            .is_some_and(|m| m.sha256 == d.artifact.sha256);
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
    known: &HashMap<String, String>,
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
    let plan = rollout::plan(&names, hosts.len(), &opts.settings, done.is_empty());
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
        stage_everywhere(&ctx, &plan, &by_name, &jobs, &d).await
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
        let ends = run_batch(&ctx, &by_name, &jobs, &staged, &d, batch).await;
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
                if batch.canary && opts.stop_after_canary {
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
    let end = tokio::time::Instant::now() + pause;
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
) -> Staged {
    // In rollout order: with fewer forks than hosts the canary goes first.
    let hosts: Vec<Host> = plan
        .batches
        .iter()
        .flat_map(|b| &b.hosts)
        .filter(|name| content_conflict(&jobs[*name], d).is_none())
        .map(|name| by_name[name].clone())
        .collect();
    ctx.executor
        .printer()
        .note(&format!("staging {} on {} host(s)", d.release, hosts.len()));
    ctx.journal.record(
        "staging_started",
        json!({ "hosts": hosts.iter().map(|h| &h.name).collect::<Vec<_>>() }),
    );
    let (jobs2, d2, ctx2) = (jobs.clone(), d.clone(), ctx.clone());
    let staged: Staged = ctx
        .executor
        .each_host(
            hosts,
            ctx.forks,
            |_| true,
            move |exec, host, session| {
                let (jobs, d, ctx) = (jobs2.clone(), d2.clone(), ctx2.clone());
                async move {
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
                    step.deploy(&jobs[&host.name], staged.get(&host.name), &d)
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
        let line = masked_line(self.exec.printer().secrets(), &event);
        let _ = self
            .script("record", script::record(&job.deploy_to, &line))
            .await;
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

    /// The whole pipeline: receive (unless staged) → before_switch → drain →
    /// switch → after_switch → health → undrain → prune. A failure after the
    /// switch puts the previous release back.
    async fn deploy(
        &self,
        job: &HostJob,
        staged: Option<&Option<TaskFailure>>,
        d: &Deployment,
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
            .event(EventKind::Switched, &d.release, current.as_ref());
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
            Some(f) => Some(f),
            None => self.health(job, d, &job.health, &d.release).await,
        };
        let after = match after {
            Some(f) => Some(f),
            None => self.stage("undrain", &job.undrain).await,
        };
        if let Some(mut failure) = after {
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
            previous: current,
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
        let Some(previous) = job.state.current.clone() else {
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

    async fn record_failure(&self, job: &HostJob, d: &Deployment, detail: &str) {
        let mut event = d
            .run
            .event(EventKind::Failed, &d.release, job.state.current.as_ref());
        event.outcome = "failed".into();
        let secrets = self.exec.printer().secrets();
        // Masked before it is cut: a cut secret would no longer match.
        event.detail = secrets.mask(detail).chars().take(500).collect();
        let line = masked_line(secrets, &event);
        let _ = self
            .script("record", script::record(&job.deploy_to, &line))
            .await;
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

/// deploy_to, target, current, after_switch steps, health checks.
type RollbackJob = (
    String,
    ReleaseId,
    Option<ReleaseId>,
    Vec<Step>,
    Vec<HealthCheck>,
);

/// Roll `hosts` back at once: to `to`, or each host's previous good release.
pub async fn rollback(
    ctx: Arc<Context>,
    hosts: &[Host],
    to: Option<ReleaseId>,
    run: Arc<RunInfo>,
    known: &HashMap<String, String>,
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
    let mut after = render_stage(&ctx, &ctx.playbook.after_switch, &movable, &vars_for)?;
    let mut health = HashMap::new();
    for host in &movable {
        let checks = render_checks(&ctx, host, &vars_for(host)).map_err(|e| vec![e])?;
        health.insert(host.name.clone(), checks);
    }
    let jobs: Arc<HashMap<String, RollbackJob>> = Arc::new(
        targets
            .into_iter()
            .map(|(name, (target, current))| {
                let steps = after.remove(&name).unwrap_or_default();
                let checks = health.remove(&name).unwrap_or_default();
                (
                    name.clone(),
                    (dirs[&name].clone(), target, current, steps, checks),
                )
            })
            .collect(),
    );
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
                    let (deploy_to, target, current, steps, checks) = &jobs[&host.name];
                    let event = run.event(EventKind::RolledBack, target, current.as_ref());
                    let switch = script::switch(deploy_to, target, &run.run_id, &json_line(&event));
                    if let Err(failure) = exec
                        .script(&host.name, &session, "switch", switch, None)
                        .await
                    {
                        return failed(failure, current.clone());
                    }
                    exec.printer()
                        .host_event(&host.name, &format!("current -> {target} (rolled back)"));
                    if let Some(failure) = run_stage(&exec, &host.name, &session, steps).await {
                        return failed(failure, Some(target.clone()));
                    }
                    if checks.is_empty() {
                        return Outcome::RolledBack {
                            to: target.clone(),
                            from: current.clone(),
                        };
                    }
                    // The health result is recorded: promote and resume read it.
                    let result = exec.health(&host.name, &session, checks).await;
                    let mut event = run.event(EventKind::Health, target, None);
                    if let Err(f) = &result {
                        event.outcome = "failed".into();
                        event.detail = health_detail(exec.printer().secrets(), &f.reason, checks);
                    }
                    let line = masked_line(exec.printer().secrets(), &event);
                    let record = script::record(deploy_to, &line);
                    let _ = exec
                        .script(&host.name, &session, "record", record, None)
                        .await;
                    match result {
                        Err(failure) => failed(failure, Some(target.clone())),
                        Ok(()) => Outcome::RolledBack {
                            to: target.clone(),
                            from: current.clone(),
                        },
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_output_parses() {
        let out = "@@current releases/r2\n@@release r1\n@@release r2\n@@release .r3.tmp\n\
                   @@meta {\"id\":\"r2\",\"artifact\":\"a.tar\",\"sha256\":\"ab\",\"deployed_by\":\"ci\",\"deployed_at\":\"t\",\"controller\":\"c\",\"ferry_version\":\"0\",\"env\":\"e\",\"run_id\":\"x\"}\n\
                   @@history\n\
                   {\"at\":\"t\",\"event\":\"switched\",\"release\":\"r2\",\"previous\":\"r1\",\"by\":\"ci\",\"run_id\":\"x\",\"env\":\"e\",\"outcome\":\"ok\"}\n\
                   not json\n";
        let state = parse_state(out);
        assert_eq!(state.current, Some(ReleaseId::parse("r2").unwrap()));
        assert_eq!(state.on_disk.len(), 2);
        assert_eq!(state.current_meta.unwrap().sha256, "ab");
        assert_eq!(state.history.len(), 1);
    }

    #[test]
    fn a_fresh_host_has_no_state() {
        assert_eq!(parse_state(""), HostState::default());
    }
}
