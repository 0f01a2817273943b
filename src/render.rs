//! RENDER: every string of the inventory vars and the playbook is a minijinja
//! template rendered per host. Undefined variables are errors (strict mode),
//! never empty strings. Everything is rendered before any connection is made,
//! so `ferry check` and `ferry run` see the same result.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::config::probe::{OnTimeout, PortState, ProbeSpec, Vantage};
use crate::config::{Host, Inventory, Playbook, Task, TaskKind, Vars};
use crate::probe::{HealthCheck, Probe, Wait};
use crate::select::Pattern;

/// Values read through `env()`: masked as `****` in every line ferry prints.
#[derive(Clone, Debug, Default)]
pub struct Secrets(Arc<Mutex<BTreeSet<String>>>);

/// Shorter values would garble unrelated output when masked.
const MIN_SECRET_LEN: usize = 4;

impl Secrets {
    pub fn add(&self, value: &str) {
        if value.len() >= MIN_SECRET_LEN {
            self.0
                .lock()
                .expect("secrets lock")
                .insert(value.to_string());
        }
    }

    pub fn mask(&self, text: &str) -> String {
        let secrets = self.0.lock().expect("secrets lock");
        let mut by_length: Vec<&String> = secrets.iter().collect();
        // Longest first, so a secret containing another is masked whole.
        by_length.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for secret in by_length {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "****");
            }
        }
        out
    }
}

/// A rendering failure with the place it came from.
#[derive(Debug, thiserror::Error)]
#[error("{place}: {message}")]
pub struct RenderError {
    /// File, task or var, and host: where the template came from.
    pub place: String,
    pub message: String,
}

pub struct Renderer {
    env: Environment<'static>,
    secrets: Secrets,
}

impl Renderer {
    pub fn new(secrets: Secrets) -> Renderer {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Release builds drop variable names from errors unless debug is on.
        env.set_debug(true);
        // Rendered files keep their final newline, as their sources have it.
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .keep_trailing_newline(true)
                .build()
                .expect("default delimiters are valid"),
        );
        env.add_filter("quote", quote_filter);
        let reader = secrets.clone();
        env.add_function("env", move |name: String, default: Option<String>| {
            read_env(&reader, &name, default)
        });
        Renderer { env, secrets }
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Render one template string. `place` names its origin for errors.
    pub fn render(&self, place: &str, source: &str, ctx: &Value) -> Result<String, RenderError> {
        if !looks_like_template(source) {
            return Ok(source.to_string());
        }
        self.env
            .render_named_str(place, source, ctx)
            .map_err(|e| render_error(place, &e))
    }

    /// Evaluate a `when` expression to a boolean.
    pub fn truth(&self, place: &str, expr: &str, ctx: &Value) -> Result<bool, RenderError> {
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| render_error(place, &e))?;
        compiled
            .eval(ctx)
            .map(|v| v.is_true())
            .map_err(|e| render_error(place, &e))
    }

    /// The variables a host's templates see: playbook, inventory, group and
    /// host vars, `-e` extras, each string rendered, plus `host` and `env_name`.
    pub fn host_context(
        &self,
        inv: &Inventory,
        host: &Host,
        playbook_vars: &Vars,
        extra: &Vars,
    ) -> Result<Value, RenderError> {
        let mut vars = playbook_vars.clone();
        vars.extend(host.vars.clone());
        vars.extend(extra.clone());
        let builtins = builtins(inv, host);
        let place = format!("{}: vars of host `{}`", inv.path.display(), host.name);
        let resolved = self.resolve_vars(&place, vars, &builtins)?;
        Ok(context(&resolved, &builtins))
    }

    /// Render var strings until they stop changing, so vars may use vars.
    fn resolve_vars(
        &self,
        place: &str,
        mut vars: Vars,
        builtins: &serde_json::Value,
    ) -> Result<Vars, RenderError> {
        const MAX_DEPTH: usize = 8;
        for _ in 0..MAX_DEPTH {
            let ctx = context(&vars, builtins);
            let mut changed = false;
            let mut next = Vars::with_capacity(vars.len());
            for (key, value) in &vars {
                let var_place = format!("{place}, var `{key}`");
                let rendered = self.render_json(&var_place, value, &ctx)?;
                changed |= &rendered != value;
                next.insert(key.clone(), rendered);
            }
            vars = next;
            if !changed {
                return Ok(vars);
            }
        }
        Err(RenderError {
            place: place.into(),
            message: format!("vars still change after {MAX_DEPTH} rounds: do they refer to each other in a cycle?"),
        })
    }

    fn render_json(
        &self,
        place: &str,
        value: &serde_json::Value,
        ctx: &Value,
    ) -> Result<serde_json::Value, RenderError> {
        use serde_json::Value as J;
        Ok(match value {
            J::String(s) => J::String(self.render(place, s, ctx)?),
            J::Array(items) => J::Array(
                items
                    .iter()
                    .map(|v| self.render_json(place, v, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            J::Object(map) => J::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_json(place, v, ctx)?)))
                    .collect::<Result<_, RenderError>>()?,
            ),
            other => other.clone(),
        })
    }
}

fn looks_like_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

fn builtins(inv: &Inventory, host: &Host) -> serde_json::Value {
    serde_json::json!({
        "host": {
            "name": host.name,
            "address": host.address,
            "port": host.port,
            "user": host.user,
            "groups": host.groups,
        },
        "env_name": inv.env_name,
    })
}

fn context(vars: &Vars, builtins: &serde_json::Value) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in vars {
        map.insert(k.clone(), v.clone());
    }
    if let serde_json::Value::Object(b) = builtins {
        for (k, v) in b {
            map.insert(k.clone(), v.clone());
        }
    }
    Value::from(minijinja::value::Serde(&map))
}

fn quote_filter(value: Value) -> String {
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string);
    shell_escape::unix::escape(text.into()).into_owned()
}

fn read_env(
    secrets: &Secrets,
    name: &str,
    default: Option<String>,
) -> Result<String, minijinja::Error> {
    match std::env::var(name) {
        Ok(value) => {
            secrets.add(&value);
            Ok(value)
        }
        Err(_) => default.ok_or_else(|| {
            minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("environment variable `{name}` is not set (give a default: env(\"{name}\", \"...\"))"),
            )
        }),
    }
}

/// A user-facing message: what went wrong, which variable, which line of the
/// template. The `{:#}` form is avoided: it dumps the whole context, secrets included.
fn render_error(place: &str, err: &minijinja::Error) -> RenderError {
    let what = match err.kind() {
        ErrorKind::UndefinedError => "undefined variable".to_string(),
        ErrorKind::SyntaxError => "template syntax error".to_string(),
        _ => err.kind().to_string(),
    };
    let detail = err.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let line = err
        .line()
        .map(|l| format!(" (template line {l})"))
        .unwrap_or_default();
    let mut message = format!("{what}{detail}{line}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(&format!("; caused by: {cause}"));
        source = cause.source();
    }
    RenderError {
        place: place.into(),
        message,
    }
}

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
    /// The inventory host that runs this task instead (`delegate_to`).
    pub delegate: Option<Host>,
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
            timeout: spec.timeout,
            interval: spec.interval,
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
    Ok(Step::Run(RenderedTask {
        name: task.name.clone(),
        action,
        timeout: task.timeout,
        retries: task.retries,
        retry_delay: task.retry_delay,
        sudo: task.sudo,
        delegate,
    }))
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
                interval: h.interval,
                timeout: h.timeout,
            })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inv(text: &str) -> Inventory {
        Inventory::load_from_str(Path::new("inventories/t.yml"), text).unwrap()
    }

    #[test]
    fn vars_render_through_each_other_per_host() {
        let inv = inv(
            "vars: { app: shop, root: '/srv/{{ app }}', logs: '{{ root }}/log/{{ host.name }}' }\n\
             hosts:\n  web1: {}\n",
        );
        let r = Renderer::new(Secrets::default());
        let ctx = r
            .host_context(&inv, &inv.hosts[0], &Vars::new(), &Vars::new())
            .unwrap();
        assert_eq!(
            r.render("t", "{{ logs }}", &ctx).unwrap(),
            "/srv/shop/log/web1"
        );
    }

    #[test]
    fn undefined_variable_names_place_variable_and_line() {
        let r = Renderer::new(Secrets::default());
        let err = r
            .render(
                "playbooks/site.yml:7: task `x` (run)",
                "echo ok\necho {{ missing }}",
                &Value::from(()),
            )
            .unwrap_err();
        assert_eq!(err.place, "playbooks/site.yml:7: task `x` (run)");
        assert!(
            err.message.starts_with("undefined variable"),
            "{}",
            err.message
        );
        assert!(err.message.contains("missing"), "{}", err.message);
        assert!(err.message.contains("template line 2"), "{}", err.message);
    }

    #[test]
    fn quote_filter_shell_quotes() {
        let r = Renderer::new(Secrets::default());
        let ctx = Value::from(minijinja::value::Serde(
            serde_json::json!({"v": "it's; rm -rf /"}),
        ));
        assert_eq!(
            r.render("t", "echo {{ v | quote }}", &ctx).unwrap(),
            r"echo 'it'\''s; rm -rf /'"
        );
    }

    #[test]
    fn env_values_are_secrets_and_unset_needs_default() {
        let secrets = Secrets::default();
        let r = Renderer::new(secrets.clone());
        let ctx = Value::from(());
        // PATH is always set for a test process.
        let path = r.render("t", "{{ env('PATH') }}", &ctx).unwrap();
        assert_eq!(secrets.mask(&format!("x {path} y")), "x **** y");
        let err = r
            .render("t", "{{ env('FERRY_SURELY_UNSET_VAR') }}", &ctx)
            .unwrap_err();
        assert!(
            err.message.contains("FERRY_SURELY_UNSET_VAR"),
            "{}",
            err.message
        );
        assert_eq!(
            r.render("t", "{{ env('FERRY_SURELY_UNSET_VAR', 'd') }}", &ctx)
                .unwrap(),
            "d"
        );
    }
}
