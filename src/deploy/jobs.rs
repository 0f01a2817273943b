//! PREPARE: each host's job, rendered before any host changes: the stages
//! toward the new release and the way back, and the pure facts that decide
//! what the host does ("already done", "live", where it goes back to).

use std::collections::HashMap;

use crate::config::{Host, Task, Vars};
use crate::probe::HealthCheck;
use crate::release::{EventKind, HostState, ReleaseId};
use crate::render::{render_health, render_plan, RenderError, Step};

use super::{Context, Deployment};

/// A release a host may be switched to in this run, with what starts and
/// checks it there.
pub(super) struct Side {
    pub release: ReleaseId,
    pub after: Vec<Step>,
    pub health: Vec<HealthCheck>,
}

/// One host's work in a deploy or rollback.
pub(super) struct HostJob {
    pub host: Host,
    pub deploy_to: String,
    pub state: HostState,
    /// The release is already current with the same content: it is reused,
    /// never received again (that would replace the folder under `current`).
    pub live: bool,
    pub before: Vec<Step>,
    pub drain: Vec<Step>,
    pub undrain: Vec<Step>,
    /// Where this run takes the host.
    pub new: Side,
    /// Where a failure after the switch takes it back to, if anywhere.
    pub back: Option<Side>,
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

/// Render one stage for some hosts, each with its own vars.
fn render_stage(
    ctx: &Context,
    tasks: &[Task],
    hosts: &[&Host],
    vars_for: &dyn Fn(&Host) -> Vars,
) -> Result<HashMap<String, Vec<Step>>, Vec<RenderError>> {
    let plans = render_plan(
        &ctx.renderer,
        &ctx.inventory,
        hosts,
        &ctx.playbook,
        tasks,
        vars_for,
    )?;
    Ok(plans.into_iter().map(|p| (p.host.name, p.steps)).collect())
}

fn render_checks(ctx: &Context, host: &Host, vars: &Vars) -> Result<Vec<HealthCheck>, RenderError> {
    let values = ctx
        .renderer
        .host_context(&ctx.inventory, host, &ctx.playbook.vars, vars)?;
    render_health(&ctx.renderer, &ctx.playbook, host, &values)
}

/// A host's move: from where, to where, and the way back.
pub(super) struct Move {
    pub host: Host,
    pub deploy_to: String,
    pub state: HostState,
    pub to: ReleaseId,
    pub back: Option<ReleaseId>,
}

/// What a command runs around the switch.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stages {
    /// before_switch, drain and undrain too.
    Deploy,
    /// Only after_switch and health (a rollback of every host at once must
    /// not take them all out of the load balancer together).
    Rollback,
}

/// Render every host's job. Errors of every host are collected.
pub(super) fn prepare(
    ctx: &Context,
    moves: Vec<Move>,
    stages: Stages,
    live: &dyn Fn(&HostState) -> bool,
) -> Result<HashMap<String, HostJob>, Vec<RenderError>> {
    let by_name: HashMap<&str, &Move> = moves.iter().map(|m| (m.host.name.as_str(), m)).collect();
    let forward = |h: &Host| {
        let m = by_name[h.name.as_str()];
        release_vars(&ctx.extra, &m.deploy_to, &m.to, m.back.as_ref())
    };
    let backward = |h: &Host| {
        let m = by_name[h.name.as_str()];
        match &m.back {
            Some(back) => release_vars(&ctx.extra, &m.deploy_to, back, Some(&m.to)),
            None => forward(h),
        }
    };
    let hosts: Vec<&Host> = moves.iter().map(|m| &m.host).collect();
    let pb = &ctx.playbook;
    let none: &[Task] = &[];
    let around = |tasks| {
        if stages == Stages::Deploy {
            tasks
        } else {
            none
        }
    };
    let mut before = render_stage(ctx, around(&pb.before_switch), &hosts, &forward)?;
    let mut drain = render_stage(ctx, around(&pb.drain), &hosts, &forward)?;
    let mut undrain = render_stage(ctx, around(&pb.undrain), &hosts, &forward)?;
    let mut after = render_stage(ctx, &pb.after_switch, &hosts, &forward)?;
    let mut after_back = render_stage(ctx, &pb.after_switch, &hosts, &backward)?;
    let mut jobs = HashMap::new();
    for m in &moves {
        let name = &m.host.name;
        let health = render_checks(ctx, &m.host, &forward(&m.host)).map_err(|e| vec![e])?;
        let back = match &m.back {
            None => None,
            Some(release) => Some(Side {
                release: release.clone(),
                after: after_back.remove(name).unwrap_or_default(),
                health: render_checks(ctx, &m.host, &backward(&m.host)).map_err(|e| vec![e])?,
            }),
        };
        let job = HostJob {
            host: m.host.clone(),
            deploy_to: m.deploy_to.clone(),
            state: m.state.clone(),
            live: live(&m.state),
            before: before.remove(name).unwrap_or_default(),
            drain: drain.remove(name).unwrap_or_default(),
            undrain: undrain.remove(name).unwrap_or_default(),
            new: Side {
                release: m.to.clone(),
                after: after.remove(name).unwrap_or_default(),
                health,
            },
            back,
        };
        jobs.insert(name.clone(), job);
    }
    Ok(jobs)
}

/// The release is `current` on the host with the same content.
pub(super) fn is_live(state: &HostState, d: &Deployment) -> bool {
    state.current.as_ref() == Some(&d.release)
        && state
            .current_meta
            .as_ref()
            .is_some_and(|m| m.sha256 == d.artifact.sha256)
}

/// Where a failed host goes back to: `current`, unless `current` already is
/// the release being deployed (then the release before it).
pub(super) fn previous_of(state: &HostState, d: &Deployment) -> Option<ReleaseId> {
    if state.current.as_ref() == Some(&d.release) {
        state.previous()
    } else {
        state.current.clone()
    }
}

/// A host already on the release, with the same content, that passed its
/// health checks after its last switch (or needs none): a re-run skips it.
pub(super) fn already_done(state: &HostState, d: &Deployment, needs_health: bool) -> bool {
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
            && e.outcome.is_ok()
            && Some(i) > last_switch
    })
}

/// The release id is current on the host with other content: never replaced.
pub(super) fn content_conflict(state: &HostState, d: &Deployment) -> Option<String> {
    let same_content = state
        .current_meta
        .as_ref()
        .is_some_and(|m| m.sha256 == d.artifact.sha256);
    (state.current.as_ref() == Some(&d.release) && !same_content).then(|| {
        format!(
            "release `{}` is current on this host with other content (sha256 differs); use another release id",
            d.release
        )
    })
}
