//! "Did you mean ...?" for a template's unknown filter or undefined
//! variable: minijinja names the word in its error detail; the candidates
//! are the filters ferry's environment has and the variables (or a
//! variable's attributes, `host.nmae`) the host's context holds.

use minijinja::{Error, ErrorKind, Value};

use crate::config::source::nearest;

/// minijinja's built-in filters (default features) and ferry's own.
const FILTERS: &[&str] = &[
    "quote",
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "trim",
    "unique",
    "upper",
    "zip",
];

/// `, did you mean `quote`?`, or nothing.
pub(super) fn hint(err: &Error, ctx: &Value) -> String {
    let detail = err.detail().unwrap_or("");
    let suggestion = match err.kind() {
        ErrorKind::UnknownFilter => detail
            .strip_prefix("filter ")
            .and_then(|d| d.strip_suffix(" is unknown"))
            .and_then(|name| nearest(name, FILTERS).map(str::to_string)),
        ErrorKind::UndefinedError => undefined_name(detail).and_then(|name| near_var(name, ctx)),
        _ => None,
    };
    suggestion
        .map(|s| format!(", did you mean `{s}`?"))
        .unwrap_or_default()
}

/// "`servce` is undefined" → `servce`.
fn undefined_name(detail: &str) -> Option<&str> {
    detail.strip_prefix('`')?.strip_suffix("` is undefined")
}

/// The nearest variable, or for `a.b` the nearest attribute of `a`.
fn near_var(name: &str, ctx: &Value) -> Option<String> {
    let (scope, prefix, word) = match name.split_once('.') {
        Some((root, attr)) if !attr.contains('.') => {
            (ctx.get_attr(root).ok()?, format!("{root}."), attr)
        }
        Some(_) => return None,
        None => (ctx.clone(), String::new(), name),
    };
    let keys: Vec<String> = scope
        .try_iter()
        .ok()?
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    nearest(word, &keys).map(|k| format!("{prefix}{k}"))
}

#[cfg(test)]
mod tests {
    use crate::render::{Renderer, Secrets};

    #[test]
    fn unknown_filters_and_undefined_names_get_the_nearest_one() {
        let renderer = Renderer::new(Secrets::default());
        let ctx = minijinja::Value::from(minijinja::value::Serde(&serde_json::json!({
            "service": "shop",
            "host": { "name": "web1", "address": "127.0.0.1" },
        })));
        let table = [
            ("{{ service | quoted }}", "unknown filter: filter quoted is unknown (template line 1), did you mean `quote`?"),
            ("{{ servce }}", "undefined variable: `servce` is undefined (template line 1), did you mean `service`?"),
            ("{{ host.nmae }}", "undefined variable: `host.nmae` is undefined (template line 1), did you mean `host.name`?"),
            ("{{ zzzzzzzz }}", "undefined variable: `zzzzzzzz` is undefined (template line 1)"),
        ];
        for (template, want) in table {
            let err = renderer.render("t", template, &ctx).unwrap_err();
            assert_eq!(err.message, want, "{template}");
        }
    }
}
