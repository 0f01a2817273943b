//! `docs/reference.md` checked against the parser: every key the inventory
//! and playbook parsers accept is documented, every documented key is
//! accepted, and every example parses (through the real loaders).
//!
//! The accepted keys are not a list kept here: they are read from the
//! parser itself. A probe document puts an unknown key at a level of the
//! file (`{ssh: {ZZ: 1}}`); the real serde types reject it and name the
//! level's valid keys (serde's `unknown_field`, which lists the struct's
//! `FIELDS`). The walk then tries each key with a map, a map of names
//! (`hosts.<name>`) and a list (`tasks[]`) under it, and descends where the
//! parser answers with another level's keys. An internally tagged enum
//! (`drain: { provider: ... }`) answers "missing field `provider`"; its
//! variants come from an unknown value, and each is walked on its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::de::DeserializeOwned;

use super::inventory::InventoryFile;
use super::playbook::PlaybookFile;
use super::{Inventory, Playbook};

/// A key no level accepts and no suggestion is near.
const PROBE: &str = "zzzzzzzzzzzzzzzz";
/// The name used under a map of names (`hosts.<name>`).
const NAME: &str = "n1";

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    /// An entry of a map whose keys are names the user picks.
    Name,
    /// An item of a list.
    Item,
    /// An internally tagged level: `tag: value` is written beside the keys.
    Tag(String, String),
}

/// What the parser said about a probe.
enum Answer {
    /// A level with these keys.
    Keys(Vec<String>),
    /// A tagged level missing its tag.
    MissingField(String),
    UnknownValue(Vec<String>),
    Other,
}

fn ask<T: DeserializeOwned>(yaml: &str) -> Answer {
    match serde_saphyr::from_str::<T>(yaml) {
        Ok(_) => Answer::Other,
        Err(err) => match err.without_snippet() {
            serde_saphyr::Error::SerdeUnknownField {
                field, expected, ..
            } if field == PROBE => {
                Answer::Keys(expected.iter().map(|s| (*s).to_string()).collect())
            }
            serde_saphyr::Error::SerdeMissingField { field, .. } => {
                Answer::MissingField((*field).to_string())
            }
            serde_saphyr::Error::SerdeUnknownVariant {
                variant, expected, ..
            } if variant == PROBE => {
                Answer::UnknownValue(expected.iter().map(|s| (*s).to_string()).collect())
            }
            _ => Answer::Other,
        },
    }
}

/// The document that puts `inner` (a flow map, or a value) at `path`.
fn document(path: &[Seg], inner: &str) -> String {
    let mut text = inner.to_string();
    for seg in path.iter().rev() {
        text = match seg {
            Seg::Key(k) => format!("{{{k}: {text}}}"),
            Seg::Name => format!("{{{NAME}: {text}}}"),
            Seg::Item => format!("[{text}]"),
            Seg::Tag(k, v) => match text.strip_prefix('{') {
                Some(rest) => format!("{{{k}: {v}, {rest}"),
                None => format!("{{{k}: {v}}}"),
            },
        };
    }
    text
}

/// How the reference writes a path: `hosts.<name>.vars`, `tasks[].run`,
/// `drain.socket (provider: haproxy)`.
fn spell(path: &[Seg]) -> String {
    let mut out = String::new();
    let mut tag = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Name => out.push_str(".<name>"),
            Seg::Item => out.push_str("[]"),
            Seg::Tag(k, v) => tag = format!(" ({k}: {v})"),
        }
    }
    out + &tag
}

fn with(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

/// The keys at the level `path`, if the parser reads a level there:
/// a struct's keys, or a tagged enum's tag and each variant's keys.
fn level<T: DeserializeOwned>(path: &[Seg]) -> Option<Vec<(Vec<Seg>, String)>> {
    let probe = format!("{{{PROBE}: 1}}");
    match ask::<T>(&document(path, &probe)) {
        Answer::Keys(keys) => Some(keys.into_iter().map(|k| (path.to_vec(), k)).collect()),
        Answer::MissingField(tag) => {
            // A missing field is a tag only if an unknown value of it names variants.
            let Answer::UnknownValue(variants) =
                ask::<T>(&document(path, &format!("{{{tag}: {PROBE}}}")))
            else {
                return None;
            };
            let mut keys = vec![(path.to_vec(), tag.clone())];
            for v in variants {
                let tagged = with(path, Seg::Tag(tag.clone(), v));
                keys.extend(level::<T>(&tagged)?);
            }
            Some(keys)
        }
        Answer::UnknownValue(_) | Answer::Other => None,
    }
}

/// Every key path the parser of `T` accepts, and every level (struct,
/// map entry, list item) it reads.
fn accepted<T: DeserializeOwned>() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut todo: Vec<Vec<Seg>> = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        assert!(
            path.len() < 12,
            "the walk went too deep at {}",
            spell(&path)
        );
        let Some(found) = level::<T>(&path) else {
            continue;
        };
        for (at, key) in found {
            let child = with(&at, Seg::Key(key));
            keys.insert(spell(&child));
            for sub in [
                child.clone(),
                with(&child, Seg::Name),
                with(&child, Seg::Item),
            ] {
                if level::<T>(&sub).is_some() {
                    if !matches!(sub.last(), Some(Seg::Key(_))) {
                        keys.insert(spell(&sub));
                    }
                    todo.push(sub);
                }
            }
        }
    }
    keys
}

/// One `### ` entry of the reference.
#[derive(Debug, Default)]
struct Entry {
    heading: String,
    body: Vec<String>,
}

impl Entry {
    /// `hosts.<name>.port`, or `drain.socket (provider: haproxy)`.
    fn key(&self) -> String {
        let mut parts = self.heading.splitn(3, '`');
        let (_, path, rest) = (parts.next(), parts.next().unwrap_or(""), parts.next());
        match rest.map(str::trim) {
            Some(rest) if rest.starts_with('(') => format!("{path} {rest}"),
            _ => path.to_string(),
        }
    }

    /// "### `before_switch[]` = `tasks[]`": the same keys as another level.
    fn alias(&self) -> Option<(String, String)> {
        let names: Vec<&str> = self.heading.split('`').skip(1).step_by(2).collect();
        (self.heading.contains("` = `") && names.len() == 2)
            .then(|| (names[0].to_string(), names[1].to_string()))
    }

    fn examples(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut current: Option<String> = None;
        for line in &self.body {
            match (&mut current, line.trim_end()) {
                (None, "```yaml") => current = Some(String::new()),
                (Some(text), "```") => {
                    out.push(std::mem::take(text));
                    current = None;
                }
                (Some(text), l) => {
                    text.push_str(l);
                    text.push('\n');
                }
                (None, _) => {}
            }
        }
        out
    }
}

/// The entries under the `## ` section whose title starts with `section`.
fn entries(doc: &str, section: &str) -> Vec<Entry> {
    let mut inside = false;
    let mut out: Vec<Entry> = Vec::new();
    for line in doc.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            inside = title.starts_with(section);
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(heading) = line.strip_prefix("### ") {
            out.push(Entry {
                heading: heading.to_string(),
                body: Vec::new(),
            });
        } else if let Some(entry) = out.last_mut() {
            entry.body.push(line.to_string());
        }
    }
    out
}

fn reference() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The keys under `prefix.` (or `prefix[]`...), relative to it.
fn under(keys: &BTreeSet<String>, prefix: &str) -> BTreeSet<String> {
    keys.iter()
        .filter_map(|k| k.strip_prefix(prefix))
        .filter(|rest| rest.starts_with('.') || rest.starts_with('['))
        .map(str::to_string)
        .collect()
}

/// Check one section against the parser; `parse` loads one example.
fn check_section(
    section: &str,
    accepted: &BTreeSet<String>,
    parse: &dyn Fn(&Path, &str) -> Result<(), String>,
) -> Vec<String> {
    let doc = reference();
    let entries = entries(&doc, section);
    assert!(
        !entries.is_empty(),
        "docs/reference.md has no `## {section}` entries"
    );
    let mut problems = Vec::new();
    let mut documented = BTreeSet::new();
    let mut aliases = BTreeMap::new();
    for entry in &entries {
        if let Some((alias, of)) = entry.alias() {
            if under(accepted, &alias) != under(accepted, &of) || under(accepted, &of).is_empty() {
                problems.push(format!(
                    "{section}: `{alias}` = `{of}`, but the parser reads {:?} under `{alias}` and {:?} under `{of}`",
                    under(accepted, &alias),
                    under(accepted, &of)
                ));
            }
            aliases.insert(alias, of);
        } else {
            documented.insert(entry.key());
            for field in ["Type:", "Default:"] {
                if !entry.body.iter().any(|l| l.contains(field)) {
                    problems.push(format!(
                        "{section}: `{}` has no `{field}` line",
                        entry.key()
                    ));
                }
            }
        }
        let key = entry
            .alias()
            .map_or_else(|| entry.key(), |(alias, _)| alias);
        let examples = entry.examples();
        if examples.is_empty() {
            problems.push(format!("{section}: `{key}` has no ```yaml example"));
        }
        let last = key.split(' ').next().unwrap_or_default();
        let last = last.rsplit(['.', ']']).next().unwrap_or_default();
        for example in examples {
            if !last.is_empty() && !last.starts_with('<') && !example.contains(&format!("{last}:"))
            {
                problems.push(format!(
                    "{section}: the example of `{key}` does not use `{last}:`"
                ));
            }
            if let Err(e) = parse(Path::new("docs/reference.md"), &example) {
                problems.push(format!(
                    "{section}: the example of `{key}` does not load: {e}\n{example}"
                ));
            }
        }
    }
    let covered = |key: &String| {
        documented.contains(key)
            || aliases.keys().any(|a| {
                key.strip_prefix(a.as_str())
                    .is_some_and(|r| r.is_empty() || r.starts_with(['.', '[']))
            })
    };
    for key in accepted.iter().filter(|k| !covered(k)) {
        problems.push(format!(
            "{section}: the parser accepts `{key}`, the reference does not document it"
        ));
    }
    for key in documented.difference(accepted) {
        problems.push(format!(
            "{section}: the reference documents `{key}`, the parser does not accept it"
        ));
    }
    problems
}

fn load_inventory(path: &Path, text: &str) -> Result<(), String> {
    // An example about other keys leaves out `hosts:`, which every inventory needs.
    let text = if text.lines().any(|l| l.starts_with("hosts:")) {
        text.to_string()
    } else {
        format!("{text}hosts:\n  web1: {{}}\n")
    };
    Inventory::load_from_str(path, &text)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn load_playbook(path: &Path, text: &str) -> Result<(), String> {
    Playbook::load_from_str(path, text)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn the_walk_reads_the_parser() {
    // The walk must find what the parser is known to hold, or it proves nothing.
    let inv = accepted::<InventoryFile>();
    for key in [
        "ssh.user",
        "hosts.<name>",
        "hosts.<name>.port",
        "groups.<name>.rollout.batch",
    ] {
        assert!(inv.contains(key), "{key} not in {inv:?}");
    }
    let pb = accepted::<PlaybookFile>();
    for key in [
        "tasks[]",
        "tasks[].wait_for.http.url",
        "drain[]",
        "drain.provider",
        "drain.socket (provider: haproxy)",
        "drain.path (provider: health_file)",
        "health[].tcp.port",
    ] {
        assert!(pb.contains(key), "{key} not in {pb:?}");
    }
    assert!(
        !pb.contains("vars.n1"),
        "free-form maps have no keys: {pb:?}"
    );
}

#[test]
fn the_reference_documents_every_key_the_parser_accepts() {
    let mut problems = check_section("Inventory", &accepted::<InventoryFile>(), &load_inventory);
    problems.extend(check_section(
        "Playbook",
        &accepted::<PlaybookFile>(),
        &load_playbook,
    ));
    assert!(
        problems.is_empty(),
        "docs/reference.md:\n{}\n(a key is documented by a `### `KEY`` heading in its section, \
         with `Type:` and `Default:` and a ```yaml example that loads)",
        problems.join("\n")
    );
}

/// Every YAML block of `docs/*.md` that says what file it is
/// (`# inventories/NAME.yml`, `# playbooks/NAME.yml` on its first line) loads.
#[test]
fn every_inventory_and_playbook_shown_in_docs_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut loaded = 0;
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let doc = std::fs::read_to_string(&path).expect("read");
        let body: Vec<String> = doc.lines().map(str::to_string).collect();
        let blocks = Entry {
            heading: String::new(),
            body,
        }
        .examples();
        for block in blocks {
            let first = block.lines().next().unwrap_or_default();
            let shown = Path::new("docs").join(path.file_name().unwrap_or_default());
            let result = if first.starts_with("# inventories/") {
                load_inventory(&shown, &block)
            } else if first.starts_with("# playbooks/") {
                load_playbook(&shown, &block)
            } else {
                continue;
            };
            loaded += 1;
            if let Err(e) = result {
                problems.push(format!("{first}: {e}"));
            }
        }
    }
    assert!(
        loaded >= 3,
        "docs/ shows fewer files than expected: {loaded}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
