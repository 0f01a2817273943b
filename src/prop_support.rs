//! Shared pieces of the hostile-input property tests (issue 12, item 6): the
//! run length, a hang guard, the seed corpus in `fuzz/corpus/`, and
//! generators of YAML-ish and template-ish text.
//!
//! Each parser has its own `prop_tests` module; every test there is named
//! `prop_*` so `fuzz/run.sh` can run one target for a long time.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

/// Cases per property: `PROPTEST_CASES` when set (the long run), else the
/// short CI pass each property asks for.
pub(crate) fn config(ci_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ci_cases);
    Config {
        cases,
        // Findings become named regression tests, not files under src/.
        failure_persistence: None,
        // A hanging input must not make shrinking hang too.
        max_shrink_time: 60_000,
        ..Config::default()
    }
}

/// How long one input may take before it counts as a hang. Generous: inputs
/// are a few KiB, parse in microseconds, and the machine may be busy. This
/// is a hang detector, not a performance assertion.
const HANG: Duration = Duration::from_secs(20);

/// Run `work` on its own thread and return its answer; panic if it panics
/// (the panic is passed on as is) or gives no answer within [`HANG`].
pub(crate) fn guarded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("prop-case".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .expect("spawn a test thread");
    match rx.recv_timeout(HANG) {
        Ok(answer) => answer,
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker sends before it ends"),
        },
        // The worker is left running: the test has failed either way.
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("no answer within {HANG:?}: a hang"),
    }
}

/// Every file of `fuzz/corpus/<target>/`, sorted by name.
pub(crate) fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read corpus file");
            (path, bytes)
        })
        .collect()
}

/// The corpus of `target` as text (lossy: the `&str` parsers see what a
/// caller could hand them).
pub(crate) fn corpus_text(target: &str) -> Vec<String> {
    corpus(target)
        .into_iter()
        .map(|(_, bytes)| String::from_utf8_lossy(&bytes).into_owned())
        .collect()
}

const YAML_TOKENS: &[&str] = &[
    "\n",
    "\n",
    "\n",
    "  ",
    "    ",
    "\t",
    "- ",
    ": ",
    "? ",
    ",",
    "{",
    "}",
    "[",
    "]",
    "{}",
    "[]",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: *a",
    "<<: ",
    "!!str ",
    "!!binary ",
    "!tag ",
    "!!map ",
    "'",
    "\"",
    "\\",
    "|",
    "|-",
    ">",
    "#",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "~",
    "null",
    "true",
    "yes",
    "0x1F",
    "0o17",
    "1e999",
    "-.inf",
    ".nan",
    "-1",
    "99999999999999999999999999",
    "0.5",
    "50%",
    "10s",
    "1h",
    "\0",
    "\u{feff}",
    "\r\n",
    "\u{85}",
    "\u{2028}",
    "é",
    "hosts:",
    "hosts:\n  web1:",
    "vars:",
    "ssh:",
    "rollout:",
    "groups:",
    "tasks:",
    "name:",
    "run:",
    "upload:",
    "template:",
    "src:",
    "dest:",
    "mode:",
    "wait_for:",
    "health:",
    "when:",
    "timeout:",
    "retries:",
    "batch:",
    "max_failures:",
    "canary:",
    "web1",
    "web2",
    "address:",
    "port:",
    "user:",
    "host_key_policy:",
    "windows:",
    "freezes:",
    "min_soak:",
    "keep_releases:",
    "linked_dirs:",
    "before_switch:",
    "drain:",
    "delegate_to:",
    "{{ x }}",
    "{% if %}",
];

const TEMPLATE_TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{{-",
    "-}}",
    "{%-",
    "-%}",
    " ",
    "\n",
    "\t",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    ":",
    "|",
    "~",
    "+",
    "-",
    "*",
    "**",
    "/",
    "//",
    "%",
    "==",
    "!=",
    "<",
    ">",
    "=",
    "'",
    "\"",
    "\\",
    "\0",
    "x",
    "y",
    "host",
    "host.name",
    "env_name",
    "app",
    "loop",
    "self",
    "super()",
    "none",
    "true",
    "1",
    "0",
    "-1",
    "1e308",
    "9999999999999999999999",
    "'a' * 100000",
    "range(",
    "range(100000)",
    "env(",
    "env('HOME')",
    "quote",
    "| quote",
    "| upper",
    "| join(',')",
    "| list",
    "| map",
    "| safe",
    "| tojson",
    "| default(",
    "if ",
    "else",
    "elif ",
    "endif",
    "for ",
    " in ",
    "endfor",
    "recursive",
    "loop(",
    "set ",
    "endset",
    "macro ",
    "endmacro",
    "call ",
    "endcall",
    "raw",
    "endraw",
    "block ",
    "endblock",
    "extends ",
    "include ",
    "import ",
    "from ",
    "filter ",
    "endfilter",
    "with ",
    "endwith",
    "autoescape ",
    "endautoescape",
    "not ",
    " and ",
    " or ",
    " is ",
    "defined",
    "é",
];

/// Text from `tokens`, random words and characters, long runs and deep
/// nesting, up to `len` pieces.
fn pieces(tokens: &'static [&'static str], len: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => proptest::sample::select(tokens).prop_map(str::to_string),
        2 => "[a-z_][a-z0-9_]{0,8}",
        1 => any::<String>(),
        // Long lines and long runs of one character.
        1 => (proptest::sample::select(tokens), 1..20_000usize)
            .prop_map(|(t, n)| t.repeat(n.min(20_000 / t.len().max(1)).max(1))),
        // Deep nesting: open many, close some or all.
        1 => (proptest::sample::select(&["[", "{", "{a: ", "- ", "(", "{{ (", "{% if (", "[[", "\"", "  - "][..]), 1..3000usize, any::<bool>())
            .prop_map(|(open, depth, close)| {
                let mut text = open.repeat(depth);
                if close {
                    let closer = match open {
                        "[" | "[[" => "]",
                        "{" | "{a: " => "}",
                        "(" | "{{ (" | "{% if (" => ")",
                        _ => "",
                    };
                    text.push_str(&closer.repeat(depth));
                }
                text
            }),
    ];
    proptest::collection::vec(piece, 0..len).prop_map(|v| v.concat())
}

/// YAML-ish text: anchors, aliases, tags, directives, the parsers' keys.
pub(crate) fn yamlish() -> impl Strategy<Value = String> {
    pieces(YAML_TOKENS, 64)
}

/// Template-ish text: delimiters, statements, filters, expressions.
pub(crate) fn templatish() -> impl Strategy<Value = String> {
    pieces(TEMPLATE_TOKENS, 48)
}

/// One file of `corpus`, changed by a few insertions of `extra` pieces
/// and deletions: hostile variants of real inputs.
pub(crate) fn mutated(
    corpus: Vec<String>,
    extra: impl Strategy<Value = String>,
) -> impl Strategy<Value = String> {
    let edit = (any::<Index>(), any::<Index>(), any::<bool>(), extra);
    (any::<Index>(), proptest::collection::vec(edit, 1..6)).prop_map(move |(pick, edits)| {
        let mut text = pick.get(&corpus).clone();
        for (at, len, insert, piece) in edits {
            let start = floor_char(&text, at.index(text.len() + 1));
            if insert {
                text.insert_str(start, &piece);
            } else {
                let end = floor_char(&text, start + len.index(text.len() - start + 1));
                text.replace_range(start..end, "");
            }
        }
        text
    })
}

/// The nearest char boundary at or before `at`.
fn floor_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}
