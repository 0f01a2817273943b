//! `ferry deploy`: ship an artifact as a release, batch by batch, with
//! health checks between batches and automatic rollback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;

use crate::artifact::{Artifact, Sha256};
use crate::deploy::{self, Context, Deployment, RolloutOptions, RunInfo};
use crate::events::Event;
use crate::exit::ExitStatus;
use crate::failure::{Failure, Invalid, Refusal};
use crate::layout;
use crate::release::ReleaseId;
use crate::render::render_plan;
use crate::report::human::count;
use crate::report::Printer;
use crate::report::RunEnd;
use crate::rollout;
use crate::settings::{ArtifactSource, CanaryGate, DeploySettings, ShipSettings};

use super::{release_context, report_results};

pub(super) async fn deploy(settings: DeploySettings) -> Result<ExitStatus, Failure> {
    // The release id and the canary flags were checked by the settings
    // stage, before anything is read or connected.
    let (ctx, hosts) = release_context(&settings.common, settings.playbook.as_deref())?;
    super::health_gate::gate(&ctx, &hosts, &settings.ship)?;
    let artifact = artifact(&settings.artifact).await?;
    let release = match settings.release {
        Some(id) => id,
        None => ReleaseId::derive(&artifact.name, &artifact.sha256)?,
    };
    ship(ctx, hosts, artifact, release, None, None, &settings.ship).await
}

/// Roll `release` out to `hosts`: lock, batches, report. Shared by deploy
/// and promote.
pub(super) async fn ship(
    mut ctx: Context,
    hosts: Vec<crate::config::Host>,
    artifact: Artifact,
    release: ReleaseId,
    source_env: Option<String>,
    // The run that deployed the release in `source_env`.
    source_run: Option<String>,
    args: &ShipSettings,
) -> Result<ExitStatus, Failure> {
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let settings = rollout::settings_for(&ctx.inventory, &names, &args.rollout);
    if args.plan {
        super::health_gate::warn(&ctx);
        return print_plan(&ctx, &hosts, &release, &settings);
    }
    let printer = ctx.executor.printer().clone();
    let run = open_run(&mut ctx, args, &printer)?;
    // After the window check (a refusal needs no warning), before connecting.
    super::health_gate::warn(&ctx);
    let command = if source_env.is_some() {
        "promote"
    } else {
        "deploy"
    };
    let what = format!(
        "release {release} ({}) to {}",
        artifact.name, ctx.inventory.env_name
    );
    super::audit::notify_started(
        &ctx.reporter,
        command,
        &run,
        Some(&release),
        &format!(
            "ferry: {} started deploying {what} ({} hosts)",
            run.deployer,
            names.len()
        ),
    )
    .await;
    ctx.reporter.emit(&Event::RunStarted {
        run_id: run.run_id.clone(),
        command: std::env::args().collect(),
        user: run.deployer.clone(),
        controller: run.controller.clone(),
        env: run.env.clone(),
        release: release.clone(),
        sha256: artifact.sha256.clone(),
        artifact: artifact.name.clone(),
        source_env: source_env.clone(),
        source_run: source_run.clone(),
        hotfix: args.hotfix,
        hosts: names.clone(),
    });
    let deployment = Arc::new(Deployment {
        release: release.clone(),
        artifact,
        run,
        source_env,
        source_run,
        keep: args.keep.unwrap_or(ctx.playbook.keep_releases),
        linked_dirs: ctx.playbook.linked_dirs.clone(),
        linked_files: ctx.playbook.linked_files.clone(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(stop.clone(), printer.clone());
    let started = Instant::now();
    let ctx = Arc::new(ctx);
    let dirs = deploy::deploy_dirs(&ctx, &hosts)?;
    let lock_info = super::lock::run_lock(&deployment.run, &format!("deploy {release}"));
    // The hosts' states are read with the lock, in the same round trip; a
    // host not locked (unreachable then) is reported, never changed.
    let (guard, states) =
        deploy::lock_and_read_state(&ctx, &hosts, &dirs, lock_info, args.lock_wait).await?;
    let pause = args.canary == CanaryGate::Ask;
    let options = |stop_after_canary| RolloutOptions {
        settings: settings.clone(),
        scope: args.rollback,
        stop_after_canary,
        skip_unreachable: args.skip_unreachable,
        stop: stop.clone(),
    };
    let run_once =
        |opts, known| deploy::deploy(ctx.clone(), &hosts, &dirs, deployment.clone(), opts, known);
    let mut report = run_once(options(args.canary != CanaryGate::Go), &states).await;
    if matches!(&report, Ok(r) if pause && r.paused_after_canary)
        && super::confirm(
            &printer,
            "The canary is healthy. Go on with the other batches? [y/N] ",
        )
        .await
    {
        // A second pass resumes: the healthy canary is skipped. It reads
        // the hosts still locked again, under the lock.
        report = run_once(options(false), &deploy::Known::Locked(guard.reads())).await;
    }
    // Released on every path: success, failure, interrupt.
    // The final batch's health lines and prunes go with the release.
    let tails = report.as_ref().map(|r| r.tails.clone()).unwrap_or_default();
    let lost = guard.release_after(&ctx, &tails).await;
    emit_trips(&ctx);
    ctx.executor.close_all().await;
    let report = report?;
    finish_run(&ctx, (command, &release), &report, &lost, started, args).await
}

/// Each host's round trips (`ssh_trips`), once the run is over with it.
pub(super) fn emit_trips(ctx: &Context) {
    for (host, trips) in ctx.executor.trips() {
        ctx.reporter.emit(&crate::events::Event::SshTrips {
            host,
            round_trips: trips.round_trips,
            execs: trips.execs,
        });
    }
}

/// Report every host and the run's end: the terminal's lines, then the
/// reporter's sinks (events, notification, `JUnit`); the exit status.
async fn finish_run(
    ctx: &Context,
    (command, release): (&'static str, &ReleaseId),
    report: &deploy::DeployReport,
    lost: &crate::lock::Released,
    started: Instant,
    args: &ShipSettings,
) -> Result<ExitStatus, Failure> {
    let printer = ctx.reporter.printer();
    let status = report_results(
        printer,
        &report.results,
        &format!("release {release}"),
        started,
    );
    let status = super::lock::report_lost(printer, lost, status);
    let end = RunEnd {
        command,
        env: &ctx.inventory.env_name,
        release: Some(release),
        hosts: report
            .results
            .iter()
            .map(|r| super::audit::host_end(r, false))
            .collect(),
        stopped: report.stopped.clone(),
        interrupted: report.interrupted,
        started,
        status,
        junit: args.audit.report.as_deref(),
    };
    ctx.reporter.finish(end).await.with_context(|| {
        let path = args
            .audit
            .report
            .as_deref()
            .unwrap_or(std::path::Path::new(""));
        format!("cannot write {}", path.display())
    })?;
    super::audit::report_dir(&ctx.reporter, &args.audit)?;
    Ok(
        if report.interrupted && status != ExitStatus::RollbackFailed {
            printer
                .note("interrupted: no new host was started; hosts in flight finished their steps");
            ExitStatus::Interrupted
        } else if report.paused_after_canary && status == ExitStatus::Success {
            printer.note("stopped after a healthy canary: run the same deploy again without --stop-after-canary to go on");
            ExitStatus::PausedAfterCanary
        } else {
            status
        },
    )
}

/// The run's identity, checked against the deploy windows (`--outside-window`
/// is recorded on every host), with its journal and logs opened.
fn open_run(
    ctx: &mut Context,
    args: &ShipSettings,
    printer: &Arc<Printer>,
) -> Result<RunInfo, Failure> {
    let mut run = RunInfo::new(&ctx.inventory.env_name);
    let mut notes = Vec::new();
    if args.hotfix {
        notes.push("hotfix".to_string());
    }
    match crate::window::check(
        &ctx.inventory.windows,
        &ctx.inventory.freezes,
        jiff::Timestamp::now(),
    ) {
        Ok(()) => {}
        Err(closed) if args.outside_window.is_some() => {
            let reason = args.outside_window.clone().unwrap_or_default();
            printer.note(&format!(
                "warning: {}; going on: --outside-window ({reason})",
                closed.why
            ));
            notes.push(format!("outside window: {reason}"));
        }
        Err(closed) => {
            return Err(Refusal::Closed {
                env: ctx.inventory.env_name.clone(),
                inventory: ctx.inventory.path.clone(),
                closed,
            }
            .into())
        }
    }
    if !notes.is_empty() {
        run.note = Some(notes.join("; "));
    }
    let notify = ctx.inventory.notify.clone();
    super::audit::open(&mut ctx.reporter, &args.audit, &run, notify.as_ref());
    Ok(run)
}

async fn artifact(source: &ArtifactSource) -> Result<Artifact, Failure> {
    Ok(match source {
        ArtifactSource::File(path) => {
            if !path.is_file() {
                return Err(Invalid::ArtifactNotFile(path.clone()).into());
            }
            Artifact::open(path)
                .await
                .with_context(|| format!("cannot read artifact {}", path.display()))?
        }
        ArtifactSource::Url { url, sha256 } => {
            let Ok(sha) = Sha256::parse(&sha256.to_ascii_lowercase()) else {
                return Err(Invalid::BadSha256(sha256.clone()).into());
            };
            Artifact::remote(url, sha)
        }
    })
}

/// Ctrl-C or SIGTERM: stop starting hosts; in-flight hosts finish safely
/// (a host between its switch and its health check must end on a working
/// release). A second signal says so again; a third aborts at once (exit 130).
pub(super) fn watch_signals(stop: Arc<AtomicBool>, printer: Arc<Printer>) {
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        let mut count = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            count += 1;
            stop.store(true, Ordering::SeqCst);
            printer.note(match count {
                1 => "signal received: finishing the hosts in flight, starting no new ones (exit 130)",
                2 => "still finishing the hosts in flight so none is left between releases; \
                      one more signal aborts now: hosts in flight may stay drained or unchecked, \
                      and the lock stays until its lease expires",
                _ => "aborted by a third signal: hosts in flight were left as they were; \
                      `ferry status` shows where each host is",
            });
            if count >= 3 {
                std::process::exit(i32::from(ExitStatus::Interrupted.code()));
            }
        }
    });
}

/// `--plan`: batches and every rendered step, without connecting.
fn print_plan(
    ctx: &Context,
    hosts: &[crate::config::Host],
    release: &ReleaseId,
    settings: &crate::config::RolloutSettings,
) -> Result<ExitStatus, Failure> {
    let printer = ctx.executor.printer();
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let plan = rollout::plan(&names, names.len(), settings, true);
    printer.out(&format!(
        "release {release}: {} in {}; max failures {}; {}",
        count(names.len(), "host"),
        count(plan.batches.len(), "batch"),
        plan.max_failures,
        crate::report::human::pause(plan.pause)
    ));
    if plan.batches.len() > 1 {
        printer.out(&format!(
            "staging: every host receives {release} before batch 1 switches"
        ));
    }
    for batch in &plan.batches {
        let label = if batch.canary { " (canary)" } else { "" };
        printer.out(&format!(
            "batch {}{label}: {}",
            batch.number,
            batch.hosts.join(", ")
        ));
    }
    let refs: Vec<&crate::config::Host> = hosts.iter().collect();
    let dirs = deploy::deploy_dirs(ctx, hosts)?;
    let pb = &ctx.playbook;
    let stages = [
        ("before_switch", &pb.before_switch),
        ("drain", &pb.drain),
        ("after_switch", &pb.after_switch),
        ("undrain", &pb.undrain),
    ];
    let vars = |h: &crate::config::Host| {
        layout::release_vars(&ctx.extra, &dirs[&h.name], release.as_str(), "<previous>")
    };
    let mut rendered = Vec::new();
    for (label, tasks) in stages {
        let plans = render_plan(&ctx.renderer, &ctx.inventory, &refs, pb, tasks, &vars)?;
        rendered.push((label, plans));
    }
    for (i, host) in hosts.iter().enumerate() {
        printer.out(&format!(
            "{} ({}@{}:{}) deploy_to {}",
            host.name, host.user, host.address, host.port, dirs[&host.name]
        ));
        let target = layout::release(release);
        printer.out(&format!("  receive  {release} into {target}"));
        for (label, plans) in &rendered {
            if *label == "after_switch" {
                printer.out(&format!("  switch   {} -> {target}", layout::CURRENT));
            }
            for step in &plans[i].steps {
                printer.out(&format!("  [{label}] {}", super::check::describe(step)));
            }
            if let (Some(provider), "drain" | "undrain") = (&pb.drain_provider, *label) {
                let values = ctx
                    .renderer
                    .host_context(&ctx.inventory, host, &pb.vars, &vars(host))
                    .map_err(|e| vec![e])?;
                let place = format!("{}: drain on host `{}`", pb.path.display(), host.name);
                let drainer =
                    crate::drain::render(&ctx.renderer, &ctx.inventory, &place, provider, &values)
                        .map_err(|e| vec![e])?;
                printer.out(&format!(
                    "  [{label}] {}",
                    drainer.describe(*label == "drain")
                ));
            }
            if *label == "after_switch" {
                for h in &pb.health {
                    printer.out(&format!("  [health] {}", h.name));
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}
