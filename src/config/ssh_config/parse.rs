//! Reading `ssh_config` files the way OpenSSH 9 does (readconf.c): one
//! keyword per line, case-insensitive, separated from its arguments by
//! blanks or one `=`; arguments split on blanks with `"`/`'` quotes and `\`
//! escapes; `#` starts a comment where a token would start. `Include`
//! (globs, relative to `~/.ssh` or `/etc/ssh`) is expanded here, so the
//! resolver walks one flat list. Every item keeps its file and line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::SshConfigError;

/// OpenSSH's own limit on nested `Include`s.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Files read in all, counting repeats: a glob that includes its own
/// directory 16 deep would otherwise read files exponentially often.
const MAX_FILES_READ: usize = 256;

/// A directive's place: `file:line`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub file: Arc<PathBuf>,
    pub line: u32,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: a value from outside ssh_config (the inventory).
        match self.line {
            0 => write!(f, "{}", self.file.display()),
            line => write!(f, "{}:{line}", self.file.display()),
        }
    }
}

/// One `Match` criterion ferry can evaluate; others are refused when read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Criterion {
    All {
        negate: bool,
    },
    /// `host`: the name after `HostName`; `originalhost`: the name as given.
    Host {
        original: bool,
        negate: bool,
        patterns: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Host {
        patterns: Vec<String>,
        at: Place,
    },
    Match {
        criteria: Vec<Criterion>,
        at: Place,
    },
    /// An included file starts: its `Host`/`Match` lines cannot make the
    /// including block's state leak out (OpenSSH restores it after).
    Enter,
    Leave,
    /// Any other keyword, lowercased (`name`: as written), with its
    /// arguments.
    Setting {
        keyword: String,
        name: String,
        args: Vec<String>,
        at: Place,
    },
}

/// Where relative `Include` paths point: `~/.ssh` for user files,
/// `/etc/ssh` for the system file.
pub struct IncludeBase<'a> {
    pub dir: &'a Path,
    pub home: &'a Path,
}

/// Read `file` and everything it includes.
pub fn read_file(file: &Path, base: &IncludeBase<'_>) -> Result<Vec<Item>, SshConfigError> {
    let mut items = Vec::new();
    let mut reads = 0;
    read_into(file, base, 0, &mut reads, &mut items)?;
    Ok(items)
}

/// Larger `ssh_config` files are refused: real ones are a few KiB, and a
/// path like `/dev/zero` must not be read forever.
const MAX_FILE_BYTES: u64 = 1 << 20;

fn read_into(
    file: &Path,
    base: &IncludeBase<'_>,
    depth: usize,
    reads: &mut usize,
    items: &mut Vec<Item>,
) -> Result<(), SshConfigError> {
    *reads += 1;
    if *reads > MAX_FILES_READ {
        return Err(SshConfigError::Read {
            file: file.to_path_buf(),
            reason: format!("more than {MAX_FILES_READ} files read through `Include` (a loop?)"),
        });
    }
    let text = read_text(file).map_err(|reason| SshConfigError::Read {
        file: file.to_path_buf(),
        reason,
    })?;
    parse_into(file, &text, base, depth, reads, items)
}

fn read_text(file: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(file).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".into())
}

/// Parse `text` as the file `file` (tests and fuzzing start here).
pub fn parse_text(
    file: &Path,
    text: &str,
    base: &IncludeBase<'_>,
) -> Result<Vec<Item>, SshConfigError> {
    let mut items = Vec::new();
    let mut reads = 1;
    parse_into(file, text, base, 0, &mut reads, &mut items)?;
    Ok(items)
}

fn parse_into(
    file: &Path,
    text: &str,
    base: &IncludeBase<'_>,
    depth: usize,
    reads: &mut usize,
    items: &mut Vec<Item>,
) -> Result<(), SshConfigError> {
    let file = Arc::new(file.to_path_buf());
    for (i, raw) in text.lines().enumerate() {
        let at = Place {
            file: file.clone(),
            line: u32::try_from(i + 1).unwrap_or(u32::MAX),
        };
        let Some(line) = parse_line(raw, &at)? else {
            continue;
        };
        match line {
            Line::Include(patterns) => {
                if depth + 1 > MAX_INCLUDE_DEPTH {
                    return Err(SshConfigError::at(
                        &at,
                        format!("Include nested more than {MAX_INCLUDE_DEPTH} deep (a loop?)"),
                    ));
                }
                for path in include_paths(&patterns, base, &at)? {
                    items.push(Item::Enter);
                    read_into(&path, base, depth + 1, reads, items)?;
                    items.push(Item::Leave);
                }
            }
            Line::Item(item) => items.push(item),
        }
    }
    Ok(())
}

enum Line {
    Item(Item),
    Include(Vec<String>),
}

/// One line: `None` for blank and comment lines.
fn parse_line(raw: &str, at: &Place) -> Result<Option<Line>, SshConfigError> {
    let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{c}'));
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (keyword, rest) = split_keyword(line);
    if keyword.is_empty() {
        return Err(SshConfigError::at(
            at,
            "a line starts with `=`: write `Keyword value`",
        ));
    }
    let name = keyword.to_string();
    let keyword = keyword.to_ascii_lowercase();
    let args = split_args(rest).map_err(|e| SshConfigError::at(at, e))?;
    if args.is_empty() {
        return Err(SshConfigError::at(
            at,
            format!("no argument after keyword `{keyword}`"),
        ));
    }
    let at = at.clone();
    Ok(Some(match keyword.as_str() {
        "host" => Line::Item(Item::Host { patterns: args, at }),
        "match" => Line::Item(Item::Match {
            criteria: parse_match(&args, &at)?,
            at,
        }),
        "include" => Line::Include(args),
        _ => Line::Item(Item::Setting {
            keyword,
            name,
            args,
            at,
        }),
    }))
}

/// The keyword, then blanks, at most one `=`, blanks (OpenSSH's `strdelim`).
fn split_keyword(line: &str) -> (&str, &str) {
    let end = line.find([' ', '\t', '=']).unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    (keyword, rest.trim_start_matches([' ', '\t']))
}

/// OpenSSH's `argv_split` with comments: blanks separate, quotes group,
/// `\` escapes a quote, a backslash or (unquoted) a blank.
pub fn split_args(text: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| matches!(c, ' ' | '\t')).is_some() {}
        match chars.peek() {
            None | Some('#') => return Ok(args),
            Some(_) => {}
        }
        let mut arg = String::new();
        let mut quote = None;
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&n) if matches!(n, '\'' | '"' | '\\') || (quote.is_none() && n == ' ') => {
                        arg.push(n);
                        chars.next();
                    }
                    _ => arg.push('\\'),
                },
                ' ' | '\t' if quote.is_none() => break,
                '"' | '\'' if quote.is_none() => quote = Some(c),
                c if Some(c) == quote => quote = None,
                c => arg.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(format!("unterminated {q} quote"));
        }
        args.push(arg);
    }
}

fn parse_match(args: &[String], at: &Place) -> Result<Vec<Criterion>, SshConfigError> {
    let mut criteria = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let (negate, name) = match word.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, word.as_str()),
        };
        match name.to_ascii_lowercase().as_str() {
            "all" => {
                if args.len() > 1 {
                    return Err(SshConfigError::at(
                        at,
                        "`Match all` cannot be combined with other criteria",
                    ));
                }
                criteria.push(Criterion::All { negate });
            }
            kind @ ("host" | "originalhost") => {
                let patterns = words.next().ok_or_else(|| {
                    SshConfigError::at(at, format!("`Match {kind}` needs a pattern list"))
                })?;
                criteria.push(Criterion::Host {
                    original: kind == "originalhost",
                    negate,
                    patterns: patterns.clone(),
                });
            }
            other => {
                return Err(SshConfigError::at(
                    at,
                    format!(
                        "`Match {other}` is not supported by ferry (only `Match host`, \
                         `Match originalhost` and `Match all`); put these hosts under `Host` \
                         patterns, or set `ssh: {{ config: none }}` in the inventory"
                    ),
                ))
            }
        }
    }
    Ok(criteria)
}

/// The files an `Include` names, in order: each glob's matches sorted, as
/// glob(3) returns them; no match is no file (as OpenSSH).
fn include_paths(
    patterns: &[String],
    base: &IncludeBase<'_>,
    at: &Place,
) -> Result<Vec<PathBuf>, SshConfigError> {
    let mut files = Vec::new();
    for pattern in patterns {
        let full = if let Some(rest) = pattern.strip_prefix("~/") {
            base.home.join(rest)
        } else if pattern.starts_with('~') {
            return Err(SshConfigError::at(
                at,
                format!(
                    "Include `{pattern}`: `~user` paths are not supported; write the full path"
                ),
            ));
        } else if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.dir.join(pattern)
        };
        let text = full.to_string_lossy();
        let matches = glob::glob(&text).map_err(|e| {
            SshConfigError::at(at, format!("Include `{pattern}`: bad glob pattern: {e}"))
        })?;
        let mut found: Vec<PathBuf> = matches.filter_map(Result::ok).collect();
        found.sort();
        files.extend(found);
    }
    Ok(files)
}
