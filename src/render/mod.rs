//! RENDER: every string of the inventory vars and the playbook is a minijinja
//! template rendered per host. Undefined variables are errors (strict mode),
//! never empty strings. Everything is rendered before any connection is made,
//! so `ferry check` and `ferry run` see the same result.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::config::{Host, Inventory, Vars};

pub use crate::secrets::Secrets;
pub use tasks::{
    render_duration, render_health, render_plan, render_probe, Action, HostPlan, RenderedTask,
    Step, SudoPassword,
};

mod hints;
mod limits;
#[cfg(test)]
mod prop_tests;
mod tasks;
#[cfg(test)]
mod tests;

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
        limits::check_template(source).map_err(|m| too_big(place, &m))?;
        self.env
            .render_named_str(place, source, ctx)
            .map_err(|e| with_hint(render_error(place, &e), &e, ctx))
    }

    /// Evaluate a `when` expression to a boolean.
    pub fn truth(&self, place: &str, expr: &str, ctx: &Value) -> Result<bool, RenderError> {
        limits::check_expression(expr).map_err(|m| too_big(place, &m))?;
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| render_error(place, &e))?;
        compiled
            .eval(ctx)
            .map(|v| v.is_true())
            .map_err(|e| with_hint(render_error(place, &e), &e, ctx))
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
                limits::check_template(s).map_err(|m| too_big(place, &m))?;
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
            if let Some(&used) = uses[node].get(next) {
                top.1 += 1;
                match mark[used] {
                    Mark::New => {
                        mark[used] = Mark::Open;
                        stack.push((used, 0));
                    }
                    Mark::Open => {
                        let from = stack.iter().position(|&(n, _)| n == used).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|&(n, _)| n).collect();
                        cycle.push(used);
                        return Err(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                order.push(node);
                stack.pop();
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

fn quote_filter(value: &Value) -> String {
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
/// Template code over the bounds of [`limits`], refused before minijinja
/// could overflow the stack on it.
fn too_big(place: &str, message: &str) -> RenderError {
    RenderError {
        place: place.into(),
        message: format!("template too complex: {message}"),
    }
}

/// The error with a "did you mean" for an unknown filter or variable.
fn with_hint(mut error: RenderError, err: &minijinja::Error, ctx: &Value) -> RenderError {
    error.message.push_str(&hints::hint(err, ctx));
    error
}

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
        let _ = write!(message, "; caused by: {cause}");
        source = cause.source();
    }
    RenderError {
        place: place.into(),
        message,
    }
}
