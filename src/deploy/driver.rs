//! DRIVE a deploy: read the hosts, prepare their jobs, stage the release,
//! then batch after batch run each host's pipeline and ask the rollout
//! ([`crate::rollout`], pure) whether to go on, pause or stop and whom to
//! put back. Ctrl-C (the stop flag) is checked before each batch and before
//! each host takes its slot; hosts in flight finish their pipeline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::config::{Host, RolloutSettings};
use crate::events::Event;
use crate::executor::TaskFailure;
use crate::machine::{End, Machine};
use crate::render::RenderError;
use crate::rollout::{self, Batch, Driver, Next, Plan, RollbackScope};

pub(super) use super::host_run::{each_job, Owner};
use super::jobs::{self, Jobs, Move, Stages};
use super::pipeline::Tails;
use super::state::{inspect, Known};
use super::{failed_before, status_result, Context, Deployment, HostResult, Outcome};

/// How a rolling deploy goes: batches, failures allowed, whom to roll back.
pub struct RolloutOptions {
    pub settings: RolloutSettings,
    pub scope: RollbackScope,
    pub stop_after_canary: bool,
    /// Hosts unreachable at the start do not count as failures
    /// (`--skip-unreachable`); the fleet ends mixed.
    pub skip_unreachable: bool,
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
    /// By host: what the final batch's done hosts left for their last
    /// script (a passed health check's history line, the prune), to run
    /// with the lock's release (see `LockGuard::release_after`).
    pub tails: HashMap<String, String>,
}

/// Roll `d` out to `hosts` (whose `deploy_to` are `dirs`, rendered once by
/// the command) in batches (see `rollout`). Render errors abort before any
/// host changes.
pub async fn deploy(
    ctx: Arc<Context>,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    d: Arc<Deployment>,
    opts: RolloutOptions,
    known: &Known,
) -> Result<DeployReport, Vec<RenderError>> {
    super::report_progress(&ctx);
    let mut results = Vec::new();
    let needs_health = !ctx.playbook.health.is_empty();
    let (mut done, mut todo) = (Vec::new(), Vec::new());
    for (host, state) in inspect(&ctx, hosts, dirs, known).await {
        match state {
            Ok(state) if jobs::already_done(&state, &d, needs_health) => done.push(host),
            Ok(state) => todo.push(Move {
                deploy_to: dirs[&host.name].clone(),
                back: jobs::previous_of(&state, &d),
                to: d.release.clone(),
                host,
                state,
            }),
            Err(status) => results.push(status_result(&host.name, status)),
        }
    }
    for host in &done {
        results.push(HostResult {
            host: host.name.clone(),
            outcome: Outcome::Skipped {
                release: d.release.clone(),
            },
        });
    }
    let names: Vec<String> = todo.iter().map(|m| m.host.name.clone()).collect();
    // `--stop-after-canary` always stops after one healthy batch: a canary
    // (1 host unless set) even when some hosts already run the release.
    let mut settings = opts.settings.clone();
    if opts.stop_after_canary && settings.canary.is_none() {
        settings.canary = Some(1);
    }
    let with_canary = done.is_empty() || opts.stop_after_canary;
    let plan = rollout::plan(&names, hosts.len(), &settings, with_canary);
    // The plan names the skipped hosts (`already on ..: skipped`) before a
    // render error can abort the run.
    ctx.reporter.emit(&Event::Plan {
        release: d.release.clone(),
        batches: plan.batches.iter().map(|b| b.hosts.clone()).collect(),
        max_failures: plan.max_failures,
        skipped: done.iter().map(|h| h.name.clone()).collect(),
    });
    let live = |s: &crate::release::HostState| jobs::is_live(s, &d);
    let jobs = Arc::new(jobs::prepare(&ctx, &todo, Stages::Deploy, &live)?);
    // Hosts that could not be reached (or locked) count as failures before
    // batch 1, unless skipped on purpose: with max_failures 0 nothing starts.
    let mut failed_early: Vec<String> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Unreachable(_) | Outcome::Failed { .. }))
        .map(|r| r.host.clone())
        .collect();
    if opts.skip_unreachable && !failed_early.is_empty() {
        ctx.reporter.printer().note(&format!(
            "skipping {} host(s) that cannot be reached (--skip-unreachable): {}; the fleet will be mixed",
            failed_early.len(),
            failed_early.join(", ")
        ));
        failed_early.clear();
    }
    // Staging is skipped when the rollout cannot start anyway.
    let staged = Arc::new(
        if plan.batches.len() > 1 && failed_early.len() <= plan.max_failures {
            stage_everywhere(&ctx, &plan, &jobs, &d, &opts.stop).await
        } else {
            HashMap::new()
        },
    );
    // A host whose staging failed is known to fail before batch 1.
    let mut staging_failed: Vec<String> = staged
        .iter()
        .filter(|(_, failure)| failure.is_some())
        .map(|(host, _)| host.clone())
        .collect();
    staging_failed.sort();
    failed_early.extend(staging_failed);
    let driver = Driver::new(plan, opts.scope, opts.stop_after_canary);
    let mut report = drive(&ctx, &jobs, &staged, &d, &opts, driver, &failed_early).await;
    report.results.splice(0..0, results);
    Ok(report)
}

/// Carry out the rollout's decisions ([`Driver`], pure) batch after batch.
async fn drive(
    ctx: &Arc<Context>,
    jobs: &Arc<Jobs>,
    staged: &Arc<Staged>,
    d: &Arc<Deployment>,
    opts: &RolloutOptions,
    mut driver: Driver,
    failed_early: &[String],
) -> DeployReport {
    let stop = || opts.stop.load(Ordering::SeqCst);
    let mut report = DeployReport {
        results: Vec::new(),
        plan: driver.plan().clone(),
        stopped: None,
        interrupted: false,
        paused_after_canary: false,
        tails: HashMap::new(),
    };
    // The final batch's done hosts leave their last history line and
    // prune to the lock's release: one round trip instead of three. Only
    // the final batch's: an earlier one's history is written before the
    // next batch starts, as it was.
    let tails: Arc<Tails> = Arc::default();
    let mut next = driver.start(failed_early, stop());
    loop {
        next = match next {
            Next::Batch(i) => {
                let batch = driver.plan().batches[i].clone();
                let last = i + 1 == driver.plan().batches.len();
                let tails = last.then(|| tails.clone());
                let outcomes = run_batch(ctx, jobs, staged, d, &batch, opts, tails).await;
                let ends: Vec<(String, End)> = outcomes
                    .iter()
                    .map(|r| (r.host.clone(), r.outcome.end()))
                    .collect();
                report.results.extend(outcomes);
                ctx.reporter.emit(&Event::BatchFinished {
                    batch: batch.number,
                });
                driver.batch_done(&ends, stop())
            }
            Next::Pause(pause) => {
                ctx.reporter.emit(&Event::Paused {
                    duration_ms: u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                });
                interruptible_sleep(pause, &opts.stop).await;
                driver.paused(stop())
            }
            Next::Stop { reason, roll_back } => {
                ctx.reporter.emit(&Event::Stopped {
                    reason: reason.clone(),
                    roll_back: roll_back.clone(),
                });
                report.stopped = Some(reason);
                // Their history first: a host put back is recorded after
                // its passed health check, in that order.
                send_tails(ctx, jobs, &tails).await;
                put_back(ctx, jobs, d, &roll_back, &mut report.results).await;
                break;
            }
            Next::PausedAfterCanary => {
                report.paused_after_canary = true;
                break;
            }
            Next::Interrupted => {
                report.interrupted = true;
                break;
            }
            Next::Done => break,
        };
    }
    report.tails = std::mem::take(&mut *tails.lock().expect("tails lock"))
        .into_iter()
        .map(|(host, tail)| (host, tail.script()))
        .collect();
    ctx.reporter.rollout_finished();
    // A signal during the last batch is an interrupt too (exit 130).
    report.interrupted |= stop();
    // A host whose staging failed did not just "not start": it failed.
    report
        .results
        .extend(driver.not_started().into_iter().map(|host| {
            let outcome = match staged.get(&host) {
                Some(Some(failure)) => {
                    failed_before(failure.clone(), jobs[&host].state.current.clone())
                }
                _ => Outcome::NotStarted,
            };
            HostResult { host, outcome }
        }));
    report
}

async fn interruptible_sleep(pause: std::time::Duration, stop: &AtomicBool) {
    let end = tokio::time::Instant::now() + pause.min(crate::config::values::MAX_DURATION);
    while tokio::time::Instant::now() < end && !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(100).min(pause)).await;
    }
}

/// What staging left for a host's batch: `None` when the release is in place.
type Staged = HashMap<String, Option<TaskFailure>>;

/// Batch number of the staging phase in the events: before batch 1.
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
    jobs: &Arc<Jobs>,
    d: &Arc<Deployment>,
    stop: &Arc<AtomicBool>,
) -> Staged {
    // In rollout order: with fewer forks than hosts the canary goes first.
    let names: Vec<String> = plan
        .batches
        .iter()
        .flat_map(|b| &b.hosts)
        .filter(|name| {
            let job = &jobs[*name];
            jobs::content_conflict(&job.state, d).is_none() && !job.live
        })
        .cloned()
        .collect();
    ctx.reporter.emit(&Event::StagingStarted {
        hosts: names.clone(),
    });
    let stop = stop.clone();
    let staged: Staged = each_job(ctx, jobs, &names, Owner::Deploy(d.clone()), move |run| {
        let stop = stop.clone();
        async move {
            // Interrupted: the host is left to its batch, which is not started.
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            run.pipeline(STAGING).receive(None).await.err()
        }
    })
    .await
    .into_iter()
    // A host that could not be reached is left to its batch, which tries
    // again and reports it unreachable there.
    .filter_map(|(host, result)| result.ok().map(|failure| (host, failure)))
    .collect();
    ctx.reporter.emit(&Event::StagingFinished);
    staged
}

/// Send every tail left (see [`DeployReport::tails`]) now, each in one
/// script; what failed is a warning.
async fn send_tails(ctx: &Arc<Context>, jobs: &Arc<Jobs>, tails: &Tails) {
    let scripts: HashMap<String, String> = std::mem::take(&mut *tails.lock().expect("tails lock"))
        .into_iter()
        .map(|(host, tail)| (host, tail.script()))
        .collect();
    if scripts.is_empty() {
        return;
    }
    let mut hosts: Vec<Host> = scripts.keys().map(|h| jobs[h].host.clone()).collect();
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    let sent = ctx
        .executor
        .script_each(&hosts, ctx.forks, "record and prune", scripts)
        .await;
    for (host, out) in sent {
        if let Some(what) = crate::lock::tail_trouble(out.as_ref().map(String::as_str).ok()) {
            ctx.reporter
                .printer()
                .host_event(&host.name, &format!("warning: {what}"));
        }
    }
}

/// All hosts of one batch at once; each host's full pipeline; `tails`
/// when their done hosts leave their last script to the lock's release.
async fn run_batch(
    ctx: &Arc<Context>,
    jobs: &Arc<Jobs>,
    staged: &Arc<Staged>,
    d: &Arc<Deployment>,
    batch: &Batch,
    opts: &RolloutOptions,
    tails: Option<Arc<Tails>>,
) -> Vec<HostResult> {
    ctx.reporter.emit(&Event::BatchStarted {
        batch: batch.number,
        canary: batch.canary,
        hosts: batch.hosts.clone(),
    });
    let (staged, d2, stop) = (staged.clone(), d.clone(), opts.stop.clone());
    let (number, roll_back) = (batch.number, opts.scope != RollbackScope::None);
    each_job(
        ctx,
        jobs,
        &batch.hosts,
        Owner::Deploy(d.clone()),
        move |run| {
            let (staged, d, stop) = (staged.clone(), d2.clone(), stop.clone());
            let tails = tails.clone();
            async move {
                let job = run.job();
                if let Some(reason) = jobs::content_conflict(&job.state, &d) {
                    let failure = TaskFailure::plain(&job.host.name, "deploy", &reason);
                    return failed_before(failure, job.state.current.clone());
                }
                let mut pipeline = run.pipeline(number);
                pipeline.tails = tails.as_deref();
                let staged = staged.get(&job.host.name);
                let machine = Machine::new(pipeline.policy(staged, roll_back));
                let stop = stop.load(Ordering::SeqCst);
                pipeline.run(machine, staged, stop).await
            }
        },
    )
    .await
    .into_iter()
    .map(|(host, result)| match result {
        Ok(outcome) => HostResult { host, outcome },
        Err(status) => status_result(&host, status),
    })
    .collect()
}

/// Put every host in `names` back on its previous release (a stopped
/// rollout, whose `stopped` event named them), through the same pipeline:
/// drain, switch back, start, check, undrain.
async fn put_back(
    ctx: &Arc<Context>,
    jobs: &Arc<Jobs>,
    d: &Arc<Deployment>,
    names: &[String],
    results: &mut [HostResult],
) {
    if names.is_empty() {
        return;
    }
    let done = each_job(
        ctx,
        jobs,
        names,
        Owner::Revert(d.clone()),
        |run| async move {
            let pipeline = run.pipeline(0);
            let machine = Machine::revert(pipeline.policy(None, true));
            pipeline.run(machine, None, false).await
        },
    )
    .await;
    let slots: HashMap<String, usize> = results
        .iter()
        .enumerate()
        .map(|(i, r)| (r.host.clone(), i))
        .collect();
    for (host, result) in done {
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(status) => {
                let mut r = status_result(&host, status).outcome;
                if let Outcome::Failed { current, end, .. } = &mut r {
                    *current = Some(d.release.clone());
                    *end = End::Stranded;
                }
                r
            }
        };
        if let Some(&i) = slots.get(&host) {
            results[i].outcome = outcome;
        }
    }
}
