//! Values read through `env()`, and the one place they are masked: every
//! sink (terminal, run logs, journal, JSON events, `JUnit`, notifications,
//! host history) masks through [`Secrets`] before it escapes or writes.
//!
//! A secret is masked in every form ferry's own output gives it: as is,
//! shell-quoted (the `quote` filter, `'` → `'\''`), JSON-escaped (`"` → `\"`,
//! `\` → `\\`), XML-escaped and Rust-debug-escaped, so text escaped before it
//! reached a sink is masked too.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};

/// Values read through `env()`: shown as `****` wherever ferry writes.
#[derive(Clone, Debug, Default)]
pub struct Secrets(Arc<Mutex<Known>>);

#[derive(Debug, Default)]
struct Known {
    values: BTreeSet<String>,
    /// Every value in every written form, longest first, so a secret that
    /// contains another is masked whole.
    forms: Vec<String>,
}

/// Shorter values would garble unrelated output when masked.
pub const MIN_SECRET_LEN: usize = 4;

/// What a secret is replaced with.
pub const MASK: &str = "****";

impl Secrets {
    /// Every secret read by any renderer of this process: for messages
    /// printed after the renderer that read them is gone (top-level errors).
    pub fn process() -> Secrets {
        static PROCESS: OnceLock<Secrets> = OnceLock::new();
        PROCESS.get_or_init(Secrets::default).clone()
    }

    pub fn add(&self, value: &str) {
        if value.len() < MIN_SECRET_LEN {
            return;
        }
        let mut known = self.0.lock().expect("secrets lock");
        if !known.values.insert(value.to_string()) {
            return;
        }
        let mut forms: BTreeSet<String> = known.forms.drain(..).collect();
        forms.extend(written_forms(value));
        // Host output and logs come line by line: a multi-line secret (a
        // key, a certificate) is masked a line at a time too.
        if value.contains('\n') {
            for line in value.lines() {
                forms.extend(written_forms(line));
            }
        }
        known.forms = forms.into_iter().collect();
        known.forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    /// `text` with every form of every secret replaced by `****`.
    pub fn mask(&self, text: &str) -> String {
        let known = self.0.lock().expect("secrets lock");
        let mut out = text.to_string();
        for form in &known.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), MASK);
            }
        }
        out
    }

    /// `value` with every string in it (keys too) masked: for JSON that is
    /// serialised afterwards, so masking comes before the JSON escaping.
    pub fn mask_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value as J;
        match value {
            J::String(s) => J::String(self.mask(s)),
            J::Array(items) => J::Array(items.iter().map(|v| self.mask_json(v)).collect()),
            J::Object(map) => J::Object(
                map.iter()
                    .map(|(k, v)| (self.mask(k), self.mask_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// `value` as it reads raw, shell-quoted, and each of those JSON-, XML- and
/// debug-escaped.
fn written_forms(value: &str) -> BTreeSet<String> {
    let mut bases = vec![value.to_string()];
    let quoted = shell_escape::unix::escape(value.into()).into_owned();
    if quoted != value {
        // The inside of '...': also matches when more text shares the quotes.
        let inner = quoted
            .strip_prefix('\'')
            .and_then(|q| q.strip_suffix('\''))
            .unwrap_or(&quoted);
        bases.push(inner.to_string());
    }
    let mut forms = BTreeSet::new();
    for base in bases {
        let json = serde_json::to_string(&base).unwrap_or_default();
        forms.insert(unquote(&json).to_string());
        forms.insert(unquote(&format!("{base:?}")).to_string());
        forms.insert(xml_escape(&base));
        forms.insert(base);
    }
    forms.retain(|f| f.len() >= MIN_SECRET_LEN);
    forms
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// Text for an XML attribute or element (the `JUnit` report); control
/// characters XML cannot hold are dropped.
pub fn xml_escape(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "pa\"ss\\wo'rd!99";

    fn secrets() -> Secrets {
        let s = Secrets::default();
        s.add(SECRET);
        s
    }

    #[test]
    fn masks_raw_quoted_json_xml_and_debug_forms() {
        let s = secrets();
        let quoted = shell_escape::unix::escape(SECRET.into()).into_owned();
        assert_eq!(quoted, r#"'pa"ss\wo'\''rd'\!'99'"#);
        let cases = [
            SECRET.to_string(),
            quoted.clone(),
            format!("'prefix {}'", &quoted[1..quoted.len() - 1]),
            serde_json::to_string(SECRET).unwrap(),
            serde_json::to_string(&quoted).unwrap(),
            xml_escape(SECRET),
            xml_escape(&quoted),
            format!("{SECRET:?}"),
        ];
        for text in cases {
            let masked = s.mask(&format!("<{text}>"));
            assert!(!masked.contains("rd"), "{text} -> {masked}");
            assert!(masked.contains(MASK), "{text} -> {masked}");
        }
    }

    #[test]
    fn masks_before_json_escaping() {
        let s = secrets();
        let value = serde_json::json!({ "reason": format!("command: echo {SECRET}"),
                                        "list": [SECRET, 3], SECRET: true });
        let line = s.mask_json(&value).to_string();
        assert!(!line.contains("rd"), "{line}");
        assert_eq!(
            s.mask_json(&value)["reason"],
            serde_json::json!("command: echo ****")
        );
    }

    #[test]
    fn longest_secret_first_and_short_values_are_not_secrets() {
        let s = Secrets::default();
        s.add("abcd");
        s.add("abcdefgh");
        s.add("abc");
        assert_eq!(s.mask("x abcdefgh abcd abc"), "x **** **** abc");
    }

    #[test]
    fn a_multi_line_secret_is_masked_line_by_line() {
        let s = Secrets::default();
        s.add("-----BEGIN KEY-----\nMIIEabcdef\n-----END KEY-----\n");
        assert_eq!(s.mask("  h1 | MIIEabcdef"), "  h1 | ****");
    }

    #[test]
    fn the_process_set_is_shared() {
        Secrets::process().add("ferry-process-secret-1");
        assert_eq!(Secrets::process().mask("ferry-process-secret-1"), MASK);
    }
}
