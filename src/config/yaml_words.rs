//! serde-saphyr's errors in ferry's words: the one place where the YAML
//! library's error kinds and messages become a message that says what is
//! wrong and what to write instead. Some errors also move to the spot a
//! person would fix: a tab is reported where the tab is (the scanner names
//! the scalar before it), a second document at its `---` line.
//!
//! The table test (`yaml_words/tests.rs`) provokes each case through the
//! library, so a new serde-saphyr that changes its words fails there.

use std::fmt::Write as _;

use serde_saphyr::Error;

/// A message and the (1-based) place it is about, when known.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Worded {
    pub message: String,
    pub place: Option<(u64, u64)>,
}

/// What ferry says for `err`, raised while parsing `text`.
pub(super) fn word(err: &Error, text: &str) -> Worded {
    let err = err.without_snippet();
    let place = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| (l.line(), l.column()));
    let at = |message: String| Worded { message, place };
    let (line, column) = place.unwrap_or((1, 1));
    let spot = Spot::new(text, line, column);
    match err {
        Error::SerdeUnknownField {
            field, expected, ..
        } => at(super::source::unknown_key_message(field, expected)),
        Error::SerdeUnknownVariant {
            variant, expected, ..
        } => at(format!(
            "unknown value `{variant}`{}",
            super::source::suggestion(variant, expected, "valid values")
        )),
        // ferry's own checks (durations, ports, ...) already speak its words.
        Error::Message { msg, .. } => at(msg.clone()),
        Error::Eof { .. } if is_blank(text) => Worded {
            message: "the file is empty: an inventory needs at least `hosts:` with one host \
                      under it, a playbook `tasks:` or a deploy stage such as `health:`"
                .into(),
            place: Some((1, 1)),
        },
        Error::Eof { .. } => at(
            "the file ends inside an unfinished value: close each `[`, `{` and quote you opened"
                .into(),
        ),
        Error::MultipleDocuments { .. } => Worded {
            message: "a second YAML document starts here: ferry reads one document per file; \
                      remove this `---` line (or move what follows it to a file of its own)"
                .into(),
            place: document_marker_before(text, line).or(place),
        },
        Error::DuplicateMappingKey { key, .. } => {
            let key = key.clone().unwrap_or_else(|| spot.key_here());
            let first = first_occurrence(text, line, column, &key)
                .map(|l| format!(" (first at line {l})"))
                .unwrap_or_default();
            at(format!(
                "`{key}` is written twice in the same mapping{first}: keep one (merge their \
                 settings), or rename this one"
            ))
        }
        Error::Unexpected { expected, .. } => at(unexpected(&spot, text, expected)),
        Error::InvalidScalar { ty, .. } => at(invalid_scalar(&spot, ty)),
        Error::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | Error::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => at(format!(
            "{} expects {expected}, found {}",
            spot.subject(),
            serde_words(unexpected)
        )),
        Error::UnknownAnchor { .. } => at(
            "this alias (`*name`) refers to no anchor: define `&name` on a value above it, or \
             write the value here"
                .into(),
        ),
        Error::SerdeMissingField { field, .. } => at(format!(
            "missing key `{field}`: add `{field}: ...` to this mapping"
        )),
        other => {
            let msg = strip_location_suffix(&other.to_string());
            scanner_message(&msg, text, line, column).unwrap_or(at(msg))
        }
    }
}

/// serde's names of what it found, in the words the rest of ferry uses.
fn serde_words(unexpected: &str) -> String {
    match unexpected {
        "sequence" => "a list".into(),
        "map" => "a mapping".into(),
        other => other.to_string(),
    }
}

/// The parser's own words (it has no error kinds serde-saphyr exposes).
fn scanner_message(msg: &str, text: &str, line: u64, column: u64) -> Option<Worded> {
    if msg.contains("tab") {
        let (line, column) = first_tab_from(text, line).unwrap_or((line, column));
        let leading = Spot::new(text, line, column).before().trim().is_empty();
        let message = if leading {
            "a tab in the indentation: YAML indents with spaces only; replace the tab with spaces"
        } else {
            "a tab between a key and its value: YAML allows only spaces there; replace the tab \
             with spaces (or quote the value)"
        };
        return Some(Worded {
            message: message.into(),
            place: Some((line, column)),
        });
    }
    let indentation = [
        "did not find expected key",
        "invalid indentation",
        "block sequence entries are not allowed",
        "did not find expected '-'",
    ];
    if indentation.iter().any(|m| msg.contains(m)) {
        return Some(Worded {
            message: bad_indentation(text, line),
            place: Some((line, column)),
        });
    }
    if let Some(open) = msg.strip_prefix("unclosed bracket '") {
        let open = open.trim_end_matches('\'');
        let close = if open == "[" { "]" } else { "}" };
        return Some(Worded {
            message: format!(
                "this `{open}` is never closed: end the value with `{close}` (on the same line, \
                 or on a later line indented deeper than its key)"
            ),
            place: Some((line, column)),
        });
    }
    if msg.contains("unclosed quote") {
        return Some(Worded {
            message: "this quote is never closed: end the value with the same quote".into(),
            place: Some((line, column)),
        });
    }
    if msg.contains("mapping values are not allowed") {
        return Some(Worded {
            message: "a second `: ` on one line: quote a value that contains `: ` \
                      (e.g. `run: \"echo a: b\"`), or put a nested key on its own line, \
                      indented"
                .into(),
            place: Some((line, column)),
        });
    }
    None
}

fn unexpected(spot: &Spot, text: &str, expected: &str) -> String {
    // What is expected, how to write it under the key, an empty one.
    let (wanted, how, empty) = match expected {
        "mapping start" | "empty mapping start" => (
            "a mapping",
            "write its `key: value` lines below it, indented",
            "{}",
        ),
        "sequence start" => (
            "a list",
            "write its `- item` lines below it, indented",
            "[]",
        ),
        "string scalar" | "scalar" | "value" | "single YAML node" => (
            "a single value",
            "write it after the colon (quote it if it has `[`, `{`, `: ` or `#`)",
            "",
        ),
        other => (other, "", ""),
    };
    match (spot.key(), spot.value()) {
        (Some(key), None) => {
            let mut message = format!("`{key}:` has no value, but {wanted} is expected");
            if !how.is_empty() {
                message.push_str(": ");
                message.push_str(how);
            }
            if !empty.is_empty() {
                let _ = write!(message, " (or `{key}: {empty}` for an empty one)");
            }
            if let Some(hint) = same_indent_hint(text, spot, &key) {
                message.push_str("; ");
                message.push_str(&hint);
            }
            message
        }
        (None, value) if spot.line == 1 && spot.index == 0 => format!(
            "the file must be {wanted} of `key: value` lines, found {}",
            value.map_or_else(|| "nothing".into(), |v| describe_value(&v)),
        ),
        (key, value) => format!(
            "{} needs {wanted}{}, found {}",
            key.map_or_else(|| "this value".into(), |k| format!("`{k}`")),
            if empty.is_empty() {
                // A scalar: a list or mapping where one value goes.
                " (quote the whole value to make it one string)".into()
            } else {
                format!(" ({})", how.replace(" below it", " below the key"))
            },
            value.map_or_else(|| "nothing".into(), |v| describe_value(&v)),
        ),
    }
}

fn invalid_scalar(spot: &Spot, ty: &str) -> String {
    let found = spot
        .value()
        .map_or_else(|| "nothing".into(), |v| format!("`{v}`"));
    let range = |min: i128, max: u128| format!("a whole number from {min} to {max}");
    let wanted = match ty {
        "u8" => range(0, u8::MAX.into()),
        "u16" => range(0, u16::MAX.into()),
        "u32" => range(0, u32::MAX.into()),
        "u64" | "usize" => range(0, u64::MAX.into()),
        "i32" => range(i32::MIN.into(), i32::MAX.unsigned_abs().into()),
        "i64" | "isize" => range(i64::MIN.into(), i64::MAX.unsigned_abs().into()),
        "bool" | "boolean" => "true or false".into(),
        "f32" | "f64" => "a number".into(),
        other => other.to_string(),
    };
    format!("{} must be {wanted}, found {found}", spot.subject())
}

fn describe_value(v: &str) -> String {
    if v.starts_with('[') || v.starts_with("- ") || v == "-" {
        "a list".into()
    } else if v.starts_with('{') {
        "a mapping".into()
    } else {
        format!("`{v}`")
    }
}

/// The next key after `key:` sits at the same indentation as it: the user
/// most likely meant it to go under `key:`.
fn same_indent_hint(text: &str, spot: &Spot, key: &str) -> Option<String> {
    let indent = indent_of(spot.line_text);
    let (n, next) = text
        .lines()
        .enumerate()
        .skip(usize::try_from(spot.line).ok()?)
        .find(|(_, l)| !is_blank(l))?;
    let next_key = next.trim().split(':').next()?.trim();
    (indent_of(next) == indent && !next.trim_start().starts_with('-')).then(|| {
        format!(
            "`{next_key}:` on line {} is at the same indentation as `{key}:`; to put it under \
             `{key}:`, indent it by two more spaces",
            n + 1
        )
    })
}

/// Indentation that fits no enclosing mapping: say what the lines around use.
fn bad_indentation(text: &str, line: u64) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let idx = usize::try_from(line.saturating_sub(1)).unwrap_or(0);
    let this = lines.get(idx).map_or(0, |l| indent_of(l));
    let above = lines[..idx.min(lines.len())]
        .iter()
        .enumerate()
        .rev()
        .find(|(_, l)| !is_blank(l));
    let spaces = |n: usize| {
        if n == 1 {
            "1 space".into()
        } else {
            format!("{n} spaces")
        }
    };
    match above {
        Some((n, l)) if indent_of(l) != this => format!(
            "bad indentation: this line is indented by {}, line {} by {}; keys of one mapping \
             line up (same number of spaces), a nested one goes deeper than its parent",
            spaces(this),
            n + 1,
            spaces(indent_of(l))
        ),
        _ => "bad indentation: keys of one mapping line up (same number of spaces), a nested \
              one goes deeper than its parent, and a list item's `- ` is indented like a key"
            .into(),
    }
}

/// A line of the source at a place the library pointed at.
struct Spot<'a> {
    line: u64,
    line_text: &'a str,
    /// The key of the mapping entry this line's value belongs to, when the
    /// value starts the line (`hosts:` then `  - web1`).
    parent: Option<String>,
    /// 0-based character index of the column.
    index: usize,
}

impl<'a> Spot<'a> {
    fn new(text: &'a str, line: u64, column: u64) -> Spot<'a> {
        let line_text = usize::try_from(line)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .and_then(|l| text.lines().nth(l))
            .unwrap_or("");
        let index = usize::try_from(column.saturating_sub(1)).unwrap_or(0);
        let starts_line = line_text.chars().take(index).all(char::is_whitespace);
        let parent = if starts_line {
            parent_key(text, line, indent_of(line_text))
        } else {
            None
        };
        Spot {
            line,
            line_text,
            parent,
            index,
        }
    }

    fn before(&self) -> String {
        self.line_text.chars().take(self.index).collect()
    }

    fn after(&self) -> String {
        self.line_text.chars().skip(self.index).collect()
    }

    /// The key whose value is at (or, when empty, right after) this spot.
    fn key(&self) -> Option<String> {
        let before = self.before();
        let after = self.after();
        let head = if after.starts_with(':') {
            before.as_str()
        } else if before.trim().is_empty() {
            return self.parent.clone();
        } else {
            before.trim_end().strip_suffix(':')?
        };
        let key = head
            .rsplit([' ', '{', ','])
            .next()?
            .trim_start_matches("- ")
            .trim_matches(['"', '\'']);
        (!key.is_empty()).then(|| key.to_string())
    }

    /// The key written at this spot (for a duplicate key).
    fn key_here(&self) -> String {
        self.after()
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// The value at this spot, up to a comment or the end of a flow item.
    fn value(&self) -> Option<String> {
        let after = self.after();
        let after = after.strip_prefix(':').unwrap_or(&after);
        let value = after.split(" #").next().unwrap_or("").trim();
        let value = if value.starts_with(['[', '{']) {
            value
        } else {
            value.split([',', '}', ']']).next().unwrap_or("").trim()
        };
        (!value.is_empty()).then(|| value.to_string())
    }

    /// The key this is about: the value's, else one written at the spot.
    fn subject(&self) -> String {
        let written = || {
            let after = self.after();
            let (key, _) = after.split_once(':')?;
            let key = key.trim().trim_start_matches("- ");
            (!key.is_empty() && !key.contains(' ')).then(|| key.to_string())
        };
        self.key()
            .or_else(written)
            .map_or_else(|| "this value".into(), |k| format!("`{k}`"))
    }
}

/// The key of the nearest line above `line` that is indented less than
/// `indent` and ends with `key:`.
fn parent_key(text: &str, line: u64, indent: usize) -> Option<String> {
    let upto = usize::try_from(line.saturating_sub(1)).ok()?;
    let lines: Vec<&str> = text.lines().take(upto).collect();
    let above = lines
        .iter()
        .rev()
        .find(|l| !is_blank(l) && indent_of(l) < indent)?;
    let key = above.split(" #").next()?.trim().strip_suffix(':')?;
    let key = key.trim_start_matches("- ").trim();
    (!key.is_empty()).then(|| key.to_string())
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Only whitespace and comments.
pub(super) fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

/// The first tab at or after the start of `line` (1-based line, column).
fn first_tab_from(text: &str, line: u64) -> Option<(u64, u64)> {
    let skip = usize::try_from(line.saturating_sub(1)).ok()?;
    text.lines().enumerate().skip(skip).find_map(|(n, l)| {
        let col = l.chars().position(|c| c == '\t')?;
        Some((u64::try_from(n).ok()? + 1, u64::try_from(col).ok()? + 1))
    })
}

/// The `---` line that opened the document the library stopped in.
fn document_marker_before(text: &str, line: u64) -> Option<(u64, u64)> {
    let upto = usize::try_from(line).ok()?;
    let lines: Vec<&str> = text.lines().take(upto).collect();
    lines
        .iter()
        .enumerate()
        .rev()
        .find(|(_, l)| l.starts_with("---"))
        .and_then(|(n, _)| Some((u64::try_from(n).ok()? + 1, 1)))
}

/// Where `key` was first written at the same column, above `line`.
fn first_occurrence(text: &str, line: u64, column: u64, key: &str) -> Option<u64> {
    let upto = usize::try_from(line.saturating_sub(1)).ok()?;
    let col = usize::try_from(column.saturating_sub(1)).ok()?;
    text.lines().take(upto).enumerate().find_map(|(n, l)| {
        let rest: String = l.chars().skip(col).collect();
        let at_col = l.chars().take(col).all(|c| c == ' ' || c == '-');
        let here = rest.strip_prefix(key)?.trim_start().starts_with(':');
        (at_col && here).then(|| u64::try_from(n).ok().map(|n| n + 1))?
    })
}

/// serde-saphyr appends " at line L column C" to some messages; the place is
/// printed separately, so drop it.
fn strip_location_suffix(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests;
