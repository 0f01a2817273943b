//! RENDER a playbook's tasks and probes for each host: the rendered plan
//! the executor carries out.

use std::path::PathBuf;
use std::time::Duration;

use minijinja::Value;

use crate::config::probe::{OnTimeout, PortState, ProbeSpec, Vantage};
use crate::config::values::{parse_duration, DurationValue};
use crate::config::{Host, Inventory, Playbook, Task, TaskKind, Vars};
use crate::probe::{HealthCheck, Probe, Wait};
use crate::select::Pattern;

use super::{RenderError, Renderer};

/// What one task does on one host, fully rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Run(String),
    Upload {
        src: PathBuf,
        dest: String,
        mode: Option<u32>,
    },
    /// A rendered template's bytes, written like an upload.
    Write {
        src: PathBuf,
        content: Vec<u8>,
        dest: String,
        mode: Option<u32>,
    },
    Local(String),
    WaitFor(Wait),
}

#[derive(Clone, Debug)]
pub struct RenderedTask {
    pub name: String,
    pub action: Action,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub retry_delay: Duration,
    pub sudo: bool,
    /// Whom sudo runs the task as (root when not given).
    pub become_user: Option<String>,
    /// Fed to `sudo -S` on stdin; a secret, masked in every sink.
    pub become_password: Option<SudoPassword>,
    /// `chown` argument for an installed file (`user`, `user:group`, `:group`).
    pub owner: Option<String>,
    /// The inventory host that runs this task instead (`delegate_to`).
    pub delegate: Option<Host>,
}

/// sudo's password for a task. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SudoPassword(String);

impl SudoPassword {
    /// What goes on sudo's stdin: the password and a newline.
    pub fn stdin_line(&self) -> bytes::Bytes {
        bytes::Bytes::from(format!("{}\n", self.0))
    }
}

impl std::fmt::Debug for SudoPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SudoPassword(****)")
    }
}

impl RenderedTask {
    /// How the task's commands go through sudo, if they do.
    pub fn run_as(&self) -> Option<crate::steps::Become> {
        self.sudo.then(|| crate::steps::Become {
            user: self.become_user.clone().unwrap_or_else(|| "root".into()),
            password: self.become_password.is_some(),
        })
    }
}

/// A task on a host: to run, or skipped and why.
// A host has a handful of steps: boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Step {
    Run(RenderedTask),
    Skip { name: String, reason: String },
}

/// Everything one host will do in this run.
#[derive(Clone, Debug)]
pub struct HostPlan {
    pub host: Host,
    pub steps: Vec<Step>,
}

/// Render `tasks` (a stage of `playbook`) for every host; `extra(host)` gives
/// the vars over all others (`-e`, and per-host release facts in a deploy).
/// Collects every error, so `ferry check` reports them all at once.
pub fn render_plan(
    renderer: &Renderer,
    inv: &Inventory,
    hosts: &[&Host],
    playbook: &Playbook,
    tasks: &[Task],
    extra: &dyn Fn(&Host) -> Vars,
) -> Result<Vec<HostPlan>, Vec<RenderError>> {
    let filters = task_filters(inv, playbook, tasks).map_err(|e| vec![e])?;
    let mut run_once_taken: Vec<Option<String>> = vec![None; tasks.len()];
    let mut plans = Vec::with_capacity(hosts.len());
    let mut errors = Vec::new();
    for host in hosts {
        let ctx = match renderer.host_context(inv, host, &playbook.vars, &extra(host)) {
            Ok(ctx) => ctx,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut steps = Vec::with_capacity(tasks.len());
        for (i, task) in tasks.iter().enumerate() {
            let applies = filters[i].as_ref().is_none_or(|p| p.admits(host));
            let step = if !applies {
                Ok(skip(task, "not in the task's hosts"))
            } else if let Some(first) = run_once_taken[i].as_ref().filter(|_| task.run_once) {
                Ok(skip(task, &format!("run_once: runs on {first}")))
            } else {
                render_step(renderer, inv, playbook, task, host, &ctx)
            };
            match step {
                Ok(step) => {
                    if task.run_once && matches!(step, Step::Run(_)) {
                        run_once_taken[i] = Some(host.name.clone());
                    }
                    steps.push(step);
                }
                Err(e) => errors.push(e),
            }
        }
        plans.push(HostPlan {
            host: (*host).clone(),
            steps,
        });
    }
    if errors.is_empty() {
        Ok(plans)
    } else {
        Err(errors)
    }
}

fn task_filters(
    inv: &Inventory,
    playbook: &Playbook,
    tasks: &[Task],
) -> Result<Vec<Option<Pattern>>, RenderError> {
    tasks
        .iter()
        .map(|task| {
            task.hosts
                .as_deref()
                .map(|p| Pattern::parse(inv, p))
                .transpose()
                .map_err(|e| RenderError {
                    place: task_place(playbook, task, "hosts", None),
                    message: e.to_string(),
                })
        })
        .collect()
}

fn skip(task: &Task, reason: &str) -> Step {
    Step::Skip {
        name: task.name.clone(),
        reason: reason.into(),
    }
}

fn task_place(playbook: &Playbook, task: &Task, field: &str, host: Option<&Host>) -> String {
    let on = host
        .map(|h| format!(" on host `{}`", h.name))
        .unwrap_or_default();
    format!(
        "{}:{}: task `{}` ({field}){on}",
        playbook.path.display(),
        task.line,
        task.name
    )
}

fn render_step(
    renderer: &Renderer,
    inv: &Inventory,
    playbook: &Playbook,
    task: &Task,
    host: &Host,
    ctx: &Value,
) -> Result<Step, RenderError> {
    let place = |field: &str| task_place(playbook, task, field, Some(host));
    if let Some(expr) = &task.when {
        if !renderer.truth(&place("when"), expr, ctx)? {
            return Ok(skip(task, &format!("when: {expr}")));
        }
    }
    let delegate = match &task.delegate_to {
        None => None,
        Some(name) => {
            let name = renderer.render(&place("delegate_to"), name, ctx)?;
            let found = inv.host(&name).cloned().ok_or_else(|| RenderError {
                place: place("delegate_to"),
                message: format!("`{name}` is not a host of {}", inv.path.display()),
            })?;
            Some(found)
        }
    };
    let action = match &task.kind {
        TaskKind::Run(cmd) => Action::Run(renderer.render(&place("run"), cmd, ctx)?),
        TaskKind::Local(cmd) => Action::Local(renderer.render(&place("local"), cmd, ctx)?),
        TaskKind::WaitFor(spec) => Action::WaitFor(Wait {
            probe: render_probe(renderer, &place("wait_for"), &spec.probe, ctx)?,
            timeout: render_duration(renderer, &place("wait_for.timeout"), &spec.timeout, ctx)?,
            interval: render_duration(renderer, &place("wait_for.interval"), &spec.interval, ctx)?,
            continue_on_timeout: spec.on_timeout == OnTimeout::Continue,
        }),
        TaskKind::Upload(spec) => {
            let src =
                playbook
                    .base_dir()
                    .join(renderer.render(&place("upload.src"), &spec.src, ctx)?);
            if !src.is_file() {
                return Err(RenderError {
                    place: place("upload.src"),
                    message: format!("no such file: {}", src.display()),
                });
            }
            Action::Upload {
                src,
                dest: renderer.render(&place("upload.dest"), &spec.dest, ctx)?,
                mode: render_mode(renderer, &place("upload.mode"), spec.mode.as_deref(), ctx)?,
            }
        }
        TaskKind::Template(spec) => {
            let src = playbook.base_dir().join(renderer.render(
                &place("template.src"),
                &spec.src,
                ctx,
            )?);
            let text = std::fs::read_to_string(&src).map_err(|e| RenderError {
                place: place("template.src"),
                message: format!("cannot read {}: {e}", src.display()),
            })?;
            let file_place = format!(
                "{} (task `{}` on host `{}`)",
                src.display(),
                task.name,
                host.name
            );
            let content = renderer.render(&file_place, &text, ctx)?;
            Action::Write {
                src,
                content: content.into_bytes(),
                dest: renderer.render(&place("template.dest"), &spec.dest, ctx)?,
                mode: render_mode(renderer, &place("template.mode"), spec.mode.as_deref(), ctx)?,
            }
        }
    };
    let (become_user, become_password) = render_become(renderer, &place, task, ctx)?;
    let spec = match &task.kind {
        TaskKind::Upload(spec) | TaskKind::Template(spec) => Some(spec),
        _ => None,
    };
    let owner = match spec {
        Some(spec) => owner(renderer, &place("owner"), spec, become_user.as_deref(), ctx)?,
        None => None,
    };
    Ok(Step::Run(RenderedTask {
        name: task.name.clone(),
        action,
        timeout: task
            .timeout
            .as_ref()
            .map(|t| render_duration(renderer, &place("timeout"), t, ctx))
            .transpose()?,
        retries: task.retries,
        retry_delay: render_duration(renderer, &place("retry_delay"), &task.retry_delay, ctx)?,
        sudo: task.sudo,
        become_user,
        become_password,
        owner,
        delegate,
    }))
}

/// A duration for one host: fixed, or its template rendered and parsed; what
/// does not parse is an error at the template's place, saying what it gave.
pub fn render_duration(
    renderer: &Renderer,
    place: &str,
    value: &DurationValue,
    ctx: &Value,
) -> Result<Duration, RenderError> {
    match value {
        DurationValue::Fixed(d) => Ok(*d),
        DurationValue::Template(text) => {
            let gave = renderer.render(place, text, ctx)?;
            parse_duration(&gave).map_err(|why| RenderError {
                place: place.to_string(),
                message: format!("`{text}` must render to a duration: {why}"),
            })
        }
    }
}

/// Render a probe's strings for one host.
pub fn render_probe(
    renderer: &Renderer,
    place: &str,
    spec: &ProbeSpec,
    ctx: &Value,
) -> Result<Probe, RenderError> {
    Ok(match spec {
        ProbeSpec::Command(cmd) => Probe::Command(renderer.render(place, cmd, ctx)?),
        ProbeSpec::Tcp(t) => Probe::Tcp {
            host: renderer.render(place, &t.host, ctx)?,
            port: t.port,
            open: t.state == PortState::Open,
        },
        ProbeSpec::Http(h) => Probe::Http {
            url: renderer.render(place, &h.url, ctx)?,
            status: h.status,
            body: h
                .body
                .as_ref()
                .map(|b| renderer.render(place, b, ctx))
                .transpose()?,
            on_host: h.from == Vantage::Host,
        },
    })
}

/// Render the playbook's health checks for one host.
pub fn render_health(
    renderer: &Renderer,
    playbook: &Playbook,
    host: &Host,
    ctx: &Value,
) -> Result<Vec<HealthCheck>, RenderError> {
    playbook
        .health
        .iter()
        .map(|h| {
            let place = format!(
                "{}: health `{}` on host `{}`",
                playbook.path.display(),
                h.name,
                host.name
            );
            Ok(HealthCheck {
                name: h.name.clone(),
                probe: render_probe(renderer, &place, &h.probe, ctx)?,
                retries: h.retries,
                interval: render_duration(
                    renderer,
                    &format!("{place} (interval)"),
                    &h.interval,
                    ctx,
                )?,
                timeout: render_duration(renderer, &format!("{place} (timeout)"), &h.timeout, ctx)?,
            })
        })
        .collect()
}

/// Whom the task becomes, and sudo's password: a secret however it was
/// written (with `env()` or not), so it is masked in every sink.
fn render_become(
    renderer: &Renderer,
    place: &dyn Fn(&str) -> String,
    task: &Task,
    ctx: &Value,
) -> Result<(Option<String>, Option<SudoPassword>), RenderError> {
    let user = task
        .become_user
        .as_ref()
        .map(|u| renderer.render(&place("become_user"), u, ctx))
        .transpose()?;
    let password = match &task.become_password {
        Some(p) => {
            let password = renderer.render(&place("become_password"), p, ctx)?;
            renderer.secrets().add(&password);
            // sudo reads one line: the rest would reach the task's shell.
            if password.contains(['\n', '\r']) || password.is_empty() {
                return Err(RenderError {
                    place: place("become_password"),
                    message: "is empty or spans lines: sudo reads one line".into(),
                });
            }
            Some(SudoPassword(password))
        }
        None => None,
    };
    Ok((user, password))
}

/// The `chown` argument of a file task: its owner and group, or the
/// become user when it names neither.
fn owner(
    renderer: &Renderer,
    place: &str,
    spec: &crate::config::FileSpec,
    become_user: Option<&str>,
    ctx: &Value,
) -> Result<Option<String>, RenderError> {
    let render = |v: &Option<String>| {
        v.as_ref()
            .map(|v| renderer.render(place, v, ctx))
            .transpose()
    };
    let (user, group) = (render(&spec.owner)?, render(&spec.group)?);
    for name in user.iter().chain(&group) {
        if name.is_empty() || name.contains([':', '/', ' ', '\n']) {
            return Err(RenderError {
                place: place.to_string(),
                message: format!("`{name}` is not a user or group name"),
            });
        }
    }
    Ok(match (user, group) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => become_user.map(str::to_string),
    })
}

fn render_mode(
    renderer: &Renderer,
    place: &str,
    mode: Option<&str>,
    ctx: &Value,
) -> Result<Option<u32>, RenderError> {
    let Some(mode) = mode else { return Ok(None) };
    let text = renderer.render(place, mode, ctx)?;
    u32::from_str_radix(text.trim(), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .map(Some)
        .ok_or_else(|| RenderError {
            place: place.into(),
            message: format!("invalid mode `{text}`: use octal such as 0644"),
        })
}
