//! RENDER: every string of the inventory vars and the playbook is a minijinja
//! template rendered per host. Undefined variables are errors (strict mode),
//! never empty strings. Everything is rendered before any connection is made,
//! so `ferry check` and `ferry run` see the same result.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::config::probe::{OnTimeout, PortState, ProbeSpec, Vantage};
use crate::config::{Host, Inventory, Playbook, Task, TaskKind, Vars};
use crate::probe::{HealthCheck, Probe, Wait};
use crate::select::Pattern;

pub use crate::secrets::Secrets;

/// A rendering failure with the place it came from.
#[derive(Debug, thiserror::Error)]
#[error("{place}: {message}")]
pub struct RenderError {
    /// File, task or var, and host: where the template came from.
    pub place: String,
    pub message: String,
}

/// The work one render may do, in minijinja fuel: about one per instruction
/// and one per 64 bytes of text it makes or writes. This bounds a template's
/// time and its memory (some 32 MiB of text in practice, 64 MiB of data in
/// all): `'a' * 10000000` concatenated a few times is an error that names the
/// template, not an out-of-memory abort.
const FUEL: u64 = 1 << 20;

/// The text a host's resolved vars may hold together.
const MAX_VARS_BYTES: usize = 64 << 20;

pub struct Renderer {
    env: Environment<'static>,
    secrets: Secrets,
}

impl Renderer {
    pub fn new(secrets: Secrets) -> Renderer {
        Renderer::reading(secrets, |name| std::env::var(name).ok())
    }

    /// A renderer whose `env()` reads variables through `lookup`.
    fn reading(
        secrets: Secrets,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Renderer {
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
        env.set_fuel(Some(FUEL));
        env.add_filter("quote", quote_filter);
        let reader = secrets.clone();
        env.add_function("env", move |name: String, default: Option<String>| {
            read_env(&reader, lookup(&name), &name, default)
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
    /// host vars, each definition rendered once; `-e` extras (and a deploy's
    /// release facts) over all, as data that is never rendered; plus `host`
    /// and `env_name`.
    pub fn host_context(
        &self,
        inv: &Inventory,
        host: &Host,
        playbook_vars: &Vars,
        extra: &Vars,
    ) -> Result<Value, RenderError> {
        let mut defs = playbook_vars.clone();
        defs.extend(host.vars.clone());
        defs.retain(|key, _| !extra.contains_key(key));
        let builtins = builtins(inv, host);
        let place = format!("{}: vars of host `{}`", inv.path.display(), host.name);
        let resolved = self.resolve_vars(&place, &defs, extra, &builtins)?;
        Ok(context(&resolved, &builtins))
    }

    /// Render each var definition exactly once, after the vars it uses, with
    /// the vars resolved so far. A rendered value is data and is never
    /// rendered again: text that arrives through `env()`, `-e` or a host
    /// cannot run as template code.
    fn resolve_vars(
        &self,
        place: &str,
        defs: &Vars,
        data: &Vars,
        builtins: &serde_json::Value,
    ) -> Result<Vars, RenderError> {
        let var_place = |key: &str| format!("{place}, var `{key}`");
        // `host` and `env_name` shadow any var of that name.
        let shadowed = |name: &str| builtins.get(name).is_some();
        let mut uses = Vec::with_capacity(defs.len());
        for (key, def) in defs {
            let mut names = BTreeSet::new();
            self.names_used(&var_place(key), def, &mut names)?;
            uses.push(
                names
                    .iter()
                    .filter(|n| !shadowed(n))
                    .filter_map(|n| defs.get_index_of(n.as_str()))
                    .collect::<Vec<usize>>(),
            );
        }
        let order = dependency_order(&uses).map_err(|cycle| RenderError {
            place: place.into(),
            message: format!(
                "vars refer to each other in a cycle: {}",
                cycle
                    .iter()
                    .filter_map(|&i| defs.get_index(i).map(|(k, _)| format!("`{k}`")))
                    .collect::<Vec<_>>()
                    .join(" -> ")
            ),
        })?;
        let mut known: BTreeMap<String, Value> = data
            .iter()
            .chain(builtins.as_object().into_iter().flatten())
            .map(|(k, v)| (k.clone(), Value::from(minijinja::value::Serde(v))))
            .collect();
        let mut resolved = Vars::with_capacity(defs.len() + data.len());
        let mut total = 0;
        for i in order {
            let (key, def) = defs.get_index(i).expect("an index of defs");
            let ctx = Value::from(known.clone());
            let value = self.render_json(&var_place(key), def, &ctx)?;
            total += text_len(&value);
            if total > MAX_VARS_BYTES {
                return Err(RenderError {
                    place: var_place(key),
                    message: format!(
                        "the vars of this host hold more than {} MiB of text together",
                        MAX_VARS_BYTES >> 20
                    ),
                });
            }
            if !shadowed(key) {
                known.insert(key.clone(), Value::from(minijinja::value::Serde(&value)));
            }
            resolved.insert(key.clone(), value);
        }
        resolved.extend(data.clone());
        Ok(resolved)
    }

    /// The names the templates in `value` read (vars, and functions such as
    /// `env`); a template that does not parse is an error here.
    fn names_used(
        &self,
        place: &str,
        value: &serde_json::Value,
        names: &mut BTreeSet<String>,
    ) -> Result<(), RenderError> {
        use serde_json::Value as J;
        match value {
            J::String(s) if looks_like_template(s) => {
                let template = self
                    .env
                    .template_from_named_str(place, s)
                    .map_err(|e| render_error(place, &e))?;
                names.extend(template.undeclared_variables(false));
            }
            J::Array(items) => {
                for item in items {
                    self.names_used(place, item, names)?;
                }
            }
            J::Object(map) => {
                for item in map.values() {
                    self.names_used(place, item, names)?;
                }
            }
            _ => {}
        }
        Ok(())
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

/// Bytes of text in a resolved var.
fn text_len(value: &serde_json::Value) -> usize {
    use serde_json::Value as J;
    match value {
        J::String(s) => s.len(),
        J::Array(items) => items.iter().map(text_len).sum(),
        J::Object(map) => map.iter().map(|(k, v)| k.len() + text_len(v)).sum(),
        _ => 8,
    }
}

/// Indices of `uses` ordered so that each comes after the ones it uses; a
/// cycle is returned as its path, first index repeated at the end.
fn dependency_order(uses: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; uses.len()];
    let mut order = Vec::with_capacity(uses.len());
    for root in 0..uses.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Depth-first without recursion: (var, next of its uses to visit).
        let mut stack = vec![(root, 0)];
        mark[root] = Mark::Open;
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            match uses[node].get(next) {
                Some(&used) => {
                    top.1 += 1;
                    match mark[used] {
                        Mark::New => {
                            mark[used] = Mark::Open;
                            stack.push((used, 0));
                        }
                        Mark::Open => {
                            let from = stack.iter().position(|&(n, _)| n == used).unwrap_or(0);
                            let mut cycle: Vec<usize> =
                                stack[from..].iter().map(|&(n, _)| n).collect();
                            cycle.push(used);
                            return Err(cycle);
                        }
                        Mark::Done => {}
                    }
                }
                None => {
                    mark[node] = Mark::Done;
                    order.push(node);
                    stack.pop();
                }
            }
        }
    }
    Ok(order)
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
    found: Option<String>,
    name: &str,
    default: Option<String>,
) -> Result<String, minijinja::Error> {
    match found {
        Some(value) => {
            secrets.add(&value);
            // Errors printed after this renderer is gone mask it too.
            Secrets::process().add(&value);
            Ok(value)
        }
        None => default.ok_or_else(|| {
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
        // Text is charged when made and again when written out: half the fuel.
        ErrorKind::OutOfFuel => format!(
            "the template makes more text or does more work than ferry allows for one template (about {} MiB of text, or {} steps)",
            (FUEL * 32) >> 20,
            FUEL
        ),
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

    /// A renderer whose `env()` sees only `vars`.
    fn with_env(secrets: &Secrets, vars: &[(&str, &str)]) -> Renderer {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Renderer::reading(secrets.clone(), move |name| vars.get(name).cloned())
    }

    fn host_vars(r: &Renderer, inventory: &str, extra: &Vars) -> Result<Value, RenderError> {
        let inv = inv(&format!("{inventory}hosts:\n  web1: {{}}\n"));
        r.host_context(&inv, &inv.hosts[0], &Vars::new(), extra)
    }

    /// `source` rendered for web1 of an inventory with `vars`.
    fn render_with(r: &Renderer, vars: &str, source: &str) -> Result<String, RenderError> {
        let ctx = host_vars(r, &format!("vars:\n{vars}"), &Vars::new())?;
        r.render("t", source, &ctx)
    }

    const HOSTILE_BRANCH: &str = r#"{{ "x'; touch /srv/PWNED; echo '" }}"#;

    #[test]
    fn text_from_env_is_data_and_quote_keeps_it_one_word() {
        let r = with_env(&Secrets::default(), &[("CI_BRANCH", HOSTILE_BRANCH)]);
        let vars =
            "  branch: \"{{ env('CI_BRANCH') | quote }}\"\n  raw: \"{{ env('CI_BRANCH') }}\"\n";
        assert_eq!(
            render_with(&r, vars, "echo {{ branch }}").unwrap(),
            r#"echo '{{ "x'\''; touch /srv/PWNED; echo '\''" }}'"#
        );
        assert_eq!(render_with(&r, vars, "{{ raw }}").unwrap(), HOSTILE_BRANCH);
    }

    #[test]
    fn env_text_cannot_read_another_secret_past_the_mask() {
        let secrets = Secrets::default();
        let r = with_env(
            &secrets,
            &[
                ("CI_BRANCH", "{{ env('SECRET_KEY') | reverse }}"),
                ("SECRET_KEY", "AKIAEXAMPLESECRET"),
            ],
        );
        let out = render_with(&r, "  branch: \"{{ env('CI_BRANCH') }}\"\n", "{{ branch }}");
        assert_eq!(out.unwrap(), "{{ env('SECRET_KEY') | reverse }}");
        assert_eq!(
            secrets.mask("AKIAEXAMPLESECRET"),
            "AKIAEXAMPLESECRET",
            "never read"
        );
    }

    #[test]
    fn an_env_value_named_in_an_error_is_masked_by_the_process_printer() {
        let secrets = Secrets::default();
        let r = with_env(&secrets, &[("KEY_NAME", "AKIA-ENV-OF-ENV-1")]);
        let err = render_with(&r, "  x: \"{{ env(env('KEY_NAME')) }}\"\n", "{{ x }}").unwrap_err();
        assert!(err.to_string().contains("AKIA-ENV-OF-ENV-1"), "{err}");
        for mask in [secrets, Secrets::process()] {
            assert!(!mask.mask(&err.to_string()).contains("AKIA"), "{err}");
        }
    }

    #[test]
    fn vars_resolve_in_dependency_order_nested_values_included() {
        let r = Renderer::new(Secrets::default());
        let vars = "  dirs: ['{{ logs }}/a', { b: '{{ app }}' }, 3]\n  logs: '{{ root }}/log'\n  root: '/srv/{{ app }}'\n  app: shop\n";
        assert_eq!(
            render_with(&r, vars, "{{ dirs[0] }} {{ dirs[1].b }} {{ dirs[2] }}").unwrap(),
            "/srv/shop/log/a shop 3"
        );
    }

    #[test]
    fn a_rendered_var_is_never_rendered_again() {
        let r = Renderer::new(Secrets::default());
        // `open` renders to template text; `shown` must get that text.
        let vars = "  open: \"{{ '{{' }} 7 * 6 }}\"\n  shown: '[{{ open }}]'\n";
        assert_eq!(
            render_with(&r, vars, "{{ shown }}").unwrap(),
            "[{{ 7 * 6 }}]"
        );
    }

    #[test]
    fn extra_vars_are_data_over_all_vars() {
        let r = Renderer::new(Secrets::default());
        let mut extra = Vars::new();
        extra.insert("app".into(), "{{ 7 * 6 }}".into());
        let ctx = host_vars(&r, "vars: { app: shop, root: '/srv/{{ app }}' }\n", &extra).unwrap();
        assert_eq!(
            r.render("t", "{{ app }} {{ root }}", &ctx).unwrap(),
            "{{ 7 * 6 }} /srv/{{ 7 * 6 }}"
        );
    }

    #[test]
    fn a_cycle_of_vars_is_an_error_naming_them_and_the_file() {
        let r = Renderer::new(Secrets::default());
        let err = render_with(
            &r,
            "  a: '{{ b }}'\n  b: '{{ c }}'\n  c: '{{ a }}'\n  d: x\n",
            "",
        )
        .unwrap_err();
        assert_eq!(err.place, "inventories/t.yml: vars of host `web1`");
        assert_eq!(
            err.message,
            "vars refer to each other in a cycle: `a` -> `b` -> `c` -> `a`"
        );
        let err = render_with(&r, "  path: '{{ path }}/x'\n", "").unwrap_err();
        assert!(err.message.ends_with("`path` -> `path`"), "{}", err.message);
    }

    #[test]
    fn a_var_named_like_a_builtin_does_not_make_a_cycle() {
        let r = Renderer::new(Secrets::default());
        let out = render_with(&r, "  host: '{{ host.name }}'\n", "{{ host.name }}").unwrap();
        assert_eq!(out, "web1");
    }

    #[test]
    fn templates_have_a_size_limit() {
        let r = Renderer::new(Secrets::default());
        // The 160-byte inventory that ran `ferry check` out of memory.
        let vars = "  a: \"{{ 'a' * 10000000 }}\"\n  b: \"{{ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a }}\"\n  c: \"{{ b ~ b ~ b ~ b ~ b ~ b ~ b ~ b }}\"\n";
        let err = render_with(&r, vars, "{{ c }}").unwrap_err();
        assert_eq!(err.place, "inventories/t.yml: vars of host `web1`, var `b`");
        assert!(
            err.message
                .contains("more text or does more work than ferry allows"),
            "{}",
            err.message
        );
        let err = r
            .render(
                "t",
                "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                &Value::from(()),
            )
            .unwrap_err();
        assert!(err.message.contains("than ferry allows"), "{}", err.message);
    }

    /// `word` split and expanded by a real POSIX shell.
    fn shell_words(word: &str) -> Vec<String> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("for w in {word}; do printf '%s\\0' \"$w\"; done"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{word}: {out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn quote_yields_exactly_one_shell_word() {
        let r = Renderer::new(Secrets::default());
        let table: &[(serde_json::Value, &str)] = &[
            ("".into(), ""),
            ("plain".into(), "plain"),
            ("two words".into(), "two words"),
            ("it's; rm -rf /".into(), "it's; rm -rf /"),
            ("line\nbreak\ttab".into(), "line\nbreak\ttab"),
            ("$(id) `id` ${HOME} *".into(), "$(id) `id` ${HOME} *"),
            ("a\"b\\c!d".into(), "a\"b\\c!d"),
            ("-n".into(), "-n"),
            ("ünï cödé".into(), "ünï cödé"),
            (42.into(), "42"),
            (serde_json::Value::Null, "None"),
            (serde_json::json!(["a b", 1]), "['a b', 1]"),
        ];
        for (value, expected) in table {
            let ctx = Value::from(minijinja::value::Serde(serde_json::json!({ "v": value })));
            let word = r.render("t", "{{ v | quote }}", &ctx).unwrap();
            assert_eq!(
                shell_words(&word),
                vec![expected.to_string()],
                "{value} -> {word}"
            );
        }
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
