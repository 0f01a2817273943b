//! PREPARE: each host's job, rendered before any host changes: the stages
//! toward the new release and the way back, and the pure facts that decide
//! what the host does ("already done", "live", where it goes back to).

use std::collections::HashMap;

use crate::config::{Host, Task, Vars};
use crate::drain::Drainer;
use crate::layout;
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
    /// A built-in drain provider, in place of the drain/undrain steps.
    pub drainer: Option<Drainer>,
    /// Where this run takes the host.
    pub new: Side,
    /// Where a failure after the switch takes it back to, if anywhere.
    pub back: Option<Side>,
}

/// The release facts the deploy stages see (see [`layout::release_vars`]).
fn release_vars(
    extra: &Vars,
    deploy_to: &str,
    release: &ReleaseId,
    previous: Option<&ReleaseId>,
) -> Vars {
    let previous = previous.map(ToString::to_string).unwrap_or_default();
    layout::release_vars(extra, deploy_to, release.as_str(), &previous)
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

fn render_drainer(ctx: &Context, host: &Host, vars: &Vars) -> Result<Option<Drainer>, RenderError> {
    let Some(provider) = &ctx.playbook.drain_provider else {
        return Ok(None);
    };
    let values = ctx
        .renderer
        .host_context(&ctx.inventory, host, &ctx.playbook.vars, vars)?;
    let place = format!(
        "{}: drain on host `{}`",
        ctx.playbook.path.display(),
        host.name
    );
    crate::drain::render(&ctx.renderer, &ctx.inventory, &place, provider, &values).map(Some)
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
    /// `before_switch`, drain and undrain too.
    Deploy,
    /// Only `after_switch` and health (`ferry rollback --now`: every host at
    /// once must not take them all out of the load balancer together).
    Rollback,
    /// Drain, `after_switch`, health and undrain, no `before_switch`
    /// (`ferry rollback` in batches).
    DrainedRollback,
}

/// Render every host's job. Errors of every host are collected.
pub(super) fn prepare(
    ctx: &Context,
    moves: &[Move],
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
    let only = |tasks, when: bool| if when { tasks } else { none };
    let drains = stages != Stages::Rollback;
    let before_switch = only(&pb.before_switch, stages == Stages::Deploy);
    let mut before = render_stage(ctx, before_switch, &hosts, &forward)?;
    let mut drain = render_stage(ctx, only(&pb.drain, drains), &hosts, &forward)?;
    let mut undrain = render_stage(ctx, only(&pb.undrain, drains), &hosts, &forward)?;
    let mut after = render_stage(ctx, &pb.after_switch, &hosts, &forward)?;
    let mut after_back = render_stage(ctx, &pb.after_switch, &hosts, &backward)?;
    let mut jobs = HashMap::new();
    for m in moves {
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
            drainer: if drains {
                render_drainer(ctx, &m.host, &forward(&m.host)).map_err(|e| vec![e])?
            } else {
                None
            },
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

/// Every prepared host's job, by host name.
pub(super) type Jobs = std::collections::HashMap<String, HostJob>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{Artifact, Sha256};
    use crate::deploy::RunInfo;
    use crate::release::{EventOutcome, HistoryEvent, ReleaseMeta};

    fn id(s: &str) -> ReleaseId {
        ReleaseId::parse(s).unwrap()
    }

    fn sha(c: char) -> Sha256 {
        Sha256::parse(&c.to_string().repeat(64)).unwrap()
    }

    fn deployment(release: &str, content: char) -> Deployment {
        Deployment {
            release: id(release),
            artifact: Artifact::remote("http://127.0.0.1/a.tar", sha(content)),
            run: RunInfo::new("test"),
            source_env: None,
            source_run: None,
            keep: 5,
            linked_dirs: Vec::new(),
            linked_files: Vec::new(),
        }
    }

    fn event(kind: EventKind, release: &str, outcome: &str) -> HistoryEvent {
        let mut e = RunInfo::new("test").event(kind, &id(release), None);
        e.outcome = if outcome == "ok" {
            EventOutcome::Ok
        } else {
            EventOutcome::Failed
        };
        e
    }

    /// A host whose `current` is `current` (with content `content`), with
    /// `history` after a switch to r1 then r2.
    fn host(current: &str, content: char, history: Vec<HistoryEvent>) -> HostState {
        let mut all = vec![
            event(EventKind::Switched, "r1", "ok"),
            event(EventKind::Switched, "r2", "ok"),
        ];
        all.extend(history);
        HostState {
            current: Some(id(current)),
            current_meta: Some(ReleaseMeta {
                id: id(current),
                artifact: "a.tar".into(),
                sha256: sha(content),
                deployed_by: "ci".into(),
                deployed_at: "t".into(),
                controller: "c".into(),
                ferry_version: "0".into(),
                env: "test".into(),
                run_id: "x".into(),
                source_env: None,
                source_run: None,
            }),
            on_disk: [id("r1"), id("r2")].into_iter().collect(),
            history: all,
        }
    }

    /// What each host does in a deploy of r2 (content `a`), by table:
    /// (what, host, needs health) → (already done, live, conflict, back to).
    #[test]
    fn what_each_host_does_by_table() {
        use EventKind::{Health, Switched};
        // (already done, live, content conflict, goes back to)
        type Does = (bool, bool, bool, Option<&'static str>);
        let d = deployment("r2", 'a');
        let cases: Vec<(&str, HostState, bool, Does)> = vec![
            (
                "on r1: a plain deploy",
                host("r1", 'a', vec![]),
                true,
                (false, false, false, Some("r1")),
            ),
            (
                "on r2, healthy since its switch: skipped",
                host("r2", 'a', vec![event(Health, "r2", "ok")]),
                true,
                (true, true, false, Some("r1")),
            ),
            (
                "on r2, died before its health check: reused live, back to r1",
                host("r2", 'a', vec![]),
                true,
                (false, true, false, Some("r1")),
            ),
            (
                "on r2, no health checks in the playbook: skipped",
                host("r2", 'a', vec![]),
                false,
                (true, true, false, Some("r1")),
            ),
            (
                "on r2, its health check failed: deployed again",
                host("r2", 'a', vec![event(Health, "r2", "failed")]),
                true,
                (false, true, false, Some("r1")),
            ),
            (
                "a health check before the last switch does not count",
                host(
                    "r2",
                    'a',
                    vec![event(Health, "r2", "ok"), event(Switched, "r2", "ok")],
                ),
                true,
                (false, true, false, Some("r1")),
            ),
            (
                "r2 with other content: a conflict, never replaced",
                host("r2", 'b', vec![]),
                true,
                (false, false, true, Some("r1")),
            ),
        ];
        for (what, state, needs_health, (done, live, conflict, back)) in cases {
            assert_eq!(already_done(&state, &d, needs_health), done, "{what}: done");
            assert_eq!(is_live(&state, &d), live, "{what}: live");
            assert_eq!(
                content_conflict(&state, &d).is_some(),
                conflict,
                "{what}: conflict"
            );
            assert_eq!(previous_of(&state, &d), back.map(id), "{what}: back to");
        }
    }
}
