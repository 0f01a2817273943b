//! Hostile templates: any template text, rendered or evaluated as a `when`
//! expression with a small context, is an `Ok` or a `RenderError`, never a
//! panic or a hang; the fuel limit bounds loops and huge strings (issue 12,
//! item 6). `fuzz/run.sh` runs these for longer.

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;

use super::{Renderer, Secrets};
use crate::prop_support::{config, corpus_text, guarded, mutated, templatish};

/// One renderer for all cases; `env()` sees a single made-up variable, never
/// the process environment.
fn renderer() -> Arc<Renderer> {
    static RENDERER: OnceLock<Arc<Renderer>> = OnceLock::new();
    RENDERER
        .get_or_init(|| {
            Arc::new(Renderer::reading(Secrets::default(), |name| {
                (name == "HOME").then(|| "/home/fuzz".to_string())
            }))
        })
        .clone()
}

fn context() -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(serde_json::json!({
        "host": { "name": "web1", "address": "127.0.0.1", "vars": { "x": [1, 2, { "y": "z" }] } },
        "env_name": "fuzz",
        "app": "shop",
        "x": "{{ x }}",
        "y": [[[]]],
        "release_path": "/srv/shop/releases/1",
    })))
}

fn render(text: String) {
    let r = renderer();
    guarded(move || {
        let ctx = context();
        let _ = r.render("fuzz", &text, &ctx);
        let _ = r.truth("fuzz", &text, &ctx);
    });
}

#[test]
fn prop_corpus_template() {
    for text in corpus_text("template") {
        render(text);
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn prop_template_any_text(text in any::<String>()) {
        render(text);
    }

    #[test]
    fn prop_template_templatish(text in templatish()) {
        render(text);
    }

    #[test]
    fn prop_template_mutated_corpus(text in mutated(corpus_text("template"), templatish())) {
        render(text);
    }
}

/// Inputs the properties found that crashed the process before
/// [`super::limits`]: each is now a `RenderError` naming the limit.
#[test]
fn found_crashes_are_errors() {
    let found = [
        // Stack overflow in minijinja's parser: unary operators, not guarded.
        format!("{{{{ {}1 }}}}", "- ".repeat(3000)),
        format!("{}1", "not ".repeat(3000)),
        // Stack overflow compiling calls nested 100 deep (debug build).
        format!("{{{{ {}1{} }}}}", "range(".repeat(100), ")".repeat(100)),
        // Stack overflow: a long `elif` chain.
        format!("{{% if a %}}{}{{% endif %}}", "{% elif a %}".repeat(1000)),
        // Overflowing add in minijinja's lexer: a syntax error past column 65535.
        format!("{}{{{{ ) }}}}", "a".repeat(70_000)),
    ];
    for text in found {
        let text_has_code = text.contains('{');
        let r = renderer();
        let (render, truth) = guarded(move || {
            let ctx = context();
            (r.render("fuzz", &text, &ctx), r.truth("fuzz", &text, &ctx))
        });
        // A `when` expression is the whole text; plain text renders as is.
        assert!(truth.is_err());
        if let Err(err) = render {
            assert!(err.message.contains("template too complex"), "{err}");
        } else {
            assert!(!text_has_code, "rendered");
        }
    }
}
