//! Reading YAML files into typed values with errors that point at the spot:
//! `file:line:col`, a snippet with a caret, and for an unknown key the
//! nearest valid key.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A configuration error with its place in a file, when known.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
    /// The offending source line and a caret under the column.
    pub snippet: Option<String>,
}

impl ConfigError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
            snippet: None,
        }
    }

    pub fn at(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        ConfigError {
            line: Some(line),
            column: Some(column),
            ..ConfigError::new(file, message)
        }
    }

    fn place(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", self.file.display()),
            (Some(l), None) => format!("{}:{l}", self.file.display()),
            _ => self.file.display().to_string(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = self.place();
        match self.message.strip_prefix("unknown key ") {
            // "unknown key `x` in file:l:c, did you mean `y`?" reads best with the
            // place in the middle.
            Some(rest) => {
                let (key, hint) = rest.split_once('|').unwrap_or((rest, ""));
                write!(f, "unknown key {key} in {place}{hint}")?;
            }
            None => write!(f, "{place}: {}", self.message)?,
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        Ok(())
    }
}

/// Read and parse one YAML file.
pub fn load_yaml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, format!("cannot read file: {e}")))?;
    parse_yaml(path, &text)
}

/// Parse YAML text that came from `path` (the path is used in errors only).
pub fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    serde_saphyr::from_str(text).map_err(|err| yaml_error(path, text, &err))
}

fn yaml_error(path: &Path, text: &str, err: &serde_saphyr::Error) -> ConfigError {
    let worded = super::yaml_words::word(err, text);
    let mut error = ConfigError::new(path, worded.message);
    if let Some((line, column)) = worded.place {
        error.line = Some(line);
        error.column = Some(column);
        error.snippet = snippet(text, line, column);
    }
    error
}

/// "unknown key `x`|, did you mean `a`?" (the `|` marks where the place goes).
pub(super) fn unknown_key_message(key: &str, valid: &[&str]) -> String {
    format!(
        "unknown key `{key}`|{}",
        suggestion(key, valid, "valid keys")
    )
}

pub(super) fn suggestion(word: &str, valid: &[&str], what: &str) -> String {
    match nearest(word, valid) {
        Some(best) => format!(", did you mean `{best}`?"),
        None if valid.is_empty() => " (none are allowed here)".to_string(),
        None => format!(" ({what}: {})", valid.join(", ")),
    }
}

/// The candidate closest to `word`, if it is close enough to be a typo: a few
/// edits away, or the same word with more or fewer trailing letters
/// (`batchsize` → `batch`).
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let squash = |s: &str| s.replace(['_', '-'], "").to_lowercase();
    let word_sq = squash(word);
    candidates
        .iter()
        .map(|c| {
            let c_sq = squash(c);
            let shared_stem =
                c_sq.len() >= 3 && (word_sq.starts_with(&c_sq) || c_sq.starts_with(&word_sq));
            let distance = strsim::damerau_levenshtein(&word_sq, &c_sq);
            let score = if shared_stem {
                distance.min(1)
            } else {
                distance
            };
            (score, distance, *c)
        })
        .filter(|(score, _, c)| *score <= 3 && *score < c.len().max(word.len()))
        .min_by_key(|(score, distance, _)| (*score, *distance))
        .map(|(_, _, c)| c)
}

fn snippet(text: &str, line: u64, column: u64) -> Option<String> {
    let src = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let gutter = line.to_string();
    let pad = " ".repeat(gutter.len());
    let caret = " ".repeat(usize::try_from(column.saturating_sub(1)).ok()?);
    Some(format!("{pad} |\n{gutter} | {src}\n{pad} | {caret}^"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rollout {
        batch_size: Option<u32>,
        canary: Option<u32>,
    }

    #[test]
    fn unknown_key_names_place_and_nearest_key() {
        let text = "canary: 1\nbatchsize: 3\n";
        let err = parse_yaml::<Rollout>(Path::new("inventories/prod.yml"), text).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.starts_with(
                "unknown key `batchsize` in inventories/prod.yml:2:1, did you mean `batch_size`?"
            ),
            "{shown}"
        );
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let text = "canary: 1\n  batch_size: [\n";
        let err = parse_yaml::<Rollout>(Path::new("x.yml"), text).unwrap_err();
        assert_eq!(err.file, PathBuf::from("x.yml"));
        assert!(err.line.is_some(), "{err}");
    }

    #[test]
    fn nearest_ignores_far_words() {
        assert_eq!(nearest("hosst", &["hosts", "groups"]), Some("hosts"));
        assert_eq!(nearest("zzzzzz", &["hosts", "groups"]), None);
    }
}
