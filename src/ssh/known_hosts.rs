//! `known_hosts` checking the way OpenSSH does it: several files, `[host]:port`
//! names, hashed entries, wildcard and negated patterns, `@revoked` keys.
//! russh's own checker lacks most of these (see the russh probe notes).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use hmac::{Hmac, Mac};

mod update;
pub use update::{apply, fingerprint, Applied, Edit, UpdateError};

/// A host key as written in `known_hosts`: algorithm and base64 blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostKey {
    pub algorithm: String,
    pub blob: String,
}

impl HostKey {
    /// From an OpenSSH public key line: "ssh-ed25519 AAAA... [comment]".
    pub fn from_openssh(line: &str) -> Option<HostKey> {
        let mut parts = line.split_whitespace();
        Some(HostKey {
            algorithm: parts.next()?.to_string(),
            blob: parts.next()?.to_string(),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A matching entry holds this very key.
    Trusted,
    /// No entry names this host.
    Unknown,
    /// Entries name this host, with other keys: possibly an attack.
    Changed { file: PathBuf, line: usize },
    /// The key is marked `@revoked`.
    Revoked { file: PathBuf, line: usize },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

#[derive(Clone, Debug)]
enum Names {
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    Patterns(Vec<String>),
}

#[derive(Clone, Debug)]
struct Entry {
    file: PathBuf,
    line: usize,
    marker: Marker,
    names: Names,
    key: HostKey,
}

pub struct KnownHosts {
    files: Vec<PathBuf>,
    entries: Mutex<Index>,
}

/// The entries, and where to look for a name: a fleet's `known_hosts`
/// has a line per host, and scanning every line for every host made
/// connecting N hosts O(N²) (2,000 hosts: 4 million pattern matches).
/// Entries whose names are all literal are found by name in `by_name`;
/// the rest (wildcards, negations, hashed names) are scanned, as OpenSSH
/// does.
#[derive(Default)]
struct Index {
    entries: Vec<Entry>,
    by_name: HashMap<String, Vec<usize>>,
    scanned: Vec<usize>,
}

impl Index {
    fn new(entries: Vec<Entry>) -> Index {
        let mut index = Index::default();
        for e in entries {
            index.push(e);
        }
        index
    }

    fn push(&mut self, entry: Entry) {
        let at = self.entries.len();
        match &entry.names {
            Names::Patterns(patterns) if patterns.iter().all(|p| is_literal(p)) => {
                for p in patterns {
                    let slot = self.by_name.entry(p.clone()).or_default();
                    // `a,a` names one host once.
                    if slot.last() != Some(&at) {
                        slot.push(at);
                    }
                }
            }
            _ => self.scanned.push(at),
        }
        self.entries.push(entry);
    }

    /// The entries that name `name` (already lowercase when it can
    /// match a pattern), in file order.
    fn applicable(&self, name: &str) -> Vec<&Entry> {
        let mut at: Vec<usize> = self
            .scanned
            .iter()
            .copied()
            .filter(|&i| self.entries[i].names.matches(name))
            .collect();
        if name.len() <= MAX_PATTERN {
            if let Some(hits) = self.by_name.get(&name.to_lowercase()) {
                at.extend(hits);
                at.sort_unstable();
            }
        }
        at.into_iter().map(|i| &self.entries[i]).collect()
    }
}

/// A pattern that names one host: no wildcard, no negation.
fn is_literal(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '!'])
}

impl KnownHosts {
    /// Read every file that exists; missing files are simply empty.
    pub fn load(files: &[PathBuf]) -> std::io::Result<KnownHosts> {
        let mut entries = Vec::new();
        for file in files {
            match std::fs::read_to_string(file) {
                Ok(text) => entries.extend(parse(file, &text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("cannot read known_hosts file {}: {e}", file.display()),
                    ))
                }
            }
        }
        Ok(KnownHosts {
            files: files.to_vec(),
            entries: Mutex::new(Index::new(entries)),
        })
    }

    /// The file new keys are written to.
    pub fn primary_file(&self) -> Option<&Path> {
        self.files.first().map(PathBuf::as_path)
    }

    pub fn check(&self, host: &str, port: u16, key: &HostKey) -> Verdict {
        let name = lookup_name(host, port);
        let entries = self.entries.lock().expect("known_hosts lock");
        let applicable = entries.applicable(&name);
        if let Some(e) = applicable
            .iter()
            .find(|e| e.marker == Marker::Revoked && e.key == *key)
        {
            return Verdict::Revoked {
                file: e.file.clone(),
                line: e.line,
            };
        }
        let plain: Vec<&&Entry> = applicable
            .iter()
            .filter(|e| e.marker == Marker::None)
            .collect();
        if plain.iter().any(|e| e.key == *key) {
            return Verdict::Trusted;
        }
        match plain.first() {
            Some(e) => Verdict::Changed {
                file: e.file.clone(),
                line: e.line,
            },
            None => Verdict::Unknown,
        }
    }

    /// The keys recorded for a host (plain entries, every file), with where.
    pub fn recorded(&self, host: &str, port: u16) -> Vec<(PathBuf, usize, HostKey)> {
        let name = lookup_name(host, port);
        let entries = self.entries.lock().expect("known_hosts lock");
        entries
            .applicable(&name)
            .into_iter()
            .filter(|e| e.marker == Marker::None)
            .map(|e| (e.file.clone(), e.line, e.key.clone()))
            .collect()
    }

    /// Record a newly accepted key (policy accept-new) in the primary file.
    pub fn learn(&self, host: &str, port: u16, key: &HostKey) -> std::io::Result<()> {
        let file = self
            .primary_file()
            .ok_or_else(|| std::io::Error::other("no known_hosts file configured"))?
            .to_path_buf();
        let name = lookup_name(host, port);
        let mut entries = self.entries.lock().expect("known_hosts lock");
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)?;
        // One write per line, so concurrent hosts never interleave a line.
        out.write_all(format!("{name} {} {}\n", key.algorithm, key.blob).as_bytes())?;
        let line = std::fs::read_to_string(&file).map_or(0, |t| t.lines().count());
        entries.push(Entry {
            file,
            line,
            marker: Marker::None,
            names: Names::Patterns(vec![name.to_lowercase()]),
            key: key.clone(),
        });
        Ok(())
    }
}

/// OpenSSH writes non-default ports as `[host]:port`.
fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

fn parse(file: &Path, text: &str) -> Vec<Entry> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| parse_line(file, i + 1, line))
        .collect()
}

fn parse_line(file: &Path, line_no: usize, line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    let names = parse_names(first)?;
    let key = HostKey {
        algorithm: fields.next()?.to_string(),
        blob: fields.next()?.to_string(),
    };
    Some(Entry {
        file: file.to_path_buf(),
        line: line_no,
        marker,
        names,
        key,
    })
}

/// Longest host pattern (or name looked up) matched. Matching is
/// O(pattern × name) in the worst case, so without a bound one hostile
/// line costs seconds per host (found by the property tests). Real names
/// are at most 1025 bytes (`NI_MAXHOST`), plus `[…]:port`.
const MAX_PATTERN: usize = 1100;

fn parse_names(field: &str) -> Option<Names> {
    if let Some(hashed) = field.strip_prefix("|1|") {
        let (salt, hash) = hashed.split_once('|')?;
        let b64 = base64::engine::general_purpose::STANDARD;
        return Some(Names::Hashed {
            salt: b64.decode(salt).ok()?,
            hash: b64.decode(hash).ok()?,
        });
    }
    // A line with an over-long pattern is skipped like any unreadable line:
    // dropping just that pattern could drop a negation.
    if field.split(',').any(|p| p.len() > MAX_PATTERN) {
        return None;
    }
    Some(Names::Patterns(
        field.split(',').map(str::to_lowercase).collect(),
    ))
}

impl Names {
    fn matches(&self, name: &str) -> bool {
        match self {
            Names::Hashed { salt, hash } => {
                let mut mac =
                    Hmac::<sha1::Sha1>::new_from_slice(salt).expect("HMAC takes any key length");
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            // No pattern can name a host this long; see MAX_PATTERN.
            Names::Patterns(_) if name.len() > MAX_PATTERN => false,
            Names::Patterns(patterns) => {
                let name = name.to_lowercase();
                let mut hit = false;
                for p in patterns {
                    match p.strip_prefix('!') {
                        // A negated match excludes the line whatever else matches.
                        Some(neg) if wildcard(neg, &name) => return false,
                        Some(_) => {}
                        None => hit |= wildcard(p, &name),
                    }
                }
                hit
            }
        }
    }
}

/// OpenSSH host patterns: `*` any run of characters, `?` exactly one.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((star, at)) = backtrack {
            pi = star + 1;
            ti = at + 1;
            backtrack = Some((star, at + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod prop_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(blob: &str) -> HostKey {
        HostKey {
            algorithm: "ssh-ed25519".into(),
            blob: blob.into(),
        }
    }

    fn hosts(text: &str) -> KnownHosts {
        KnownHosts {
            files: vec![PathBuf::from("kh")],
            entries: Mutex::new(Index::new(parse(Path::new("kh"), text))),
        }
    }

    #[test]
    fn port_entries_plain_and_bracketed() {
        let kh = hosts("# comment\n[127.0.9.1]:2222 ssh-ed25519 AAA\nweb1\tssh-ed25519   BBB\n");
        assert_eq!(kh.check("127.0.9.1", 2222, &key("AAA")), Verdict::Trusted);
        // A bare entry does not cover another port, as in OpenSSH.
        assert_eq!(kh.check("web1", 2222, &key("BBB")), Verdict::Unknown);
        assert_eq!(kh.check("web1", 22, &key("BBB")), Verdict::Trusted);
        assert_eq!(
            kh.check("127.0.9.1", 2222, &key("ZZZ")),
            Verdict::Changed {
                file: "kh".into(),
                line: 2
            }
        );
    }

    #[test]
    fn hashed_entries_match() {
        // `ssh-keygen -H` of "[127.0.0.1]:2222" with this salt.
        let salt = base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdefghij");
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"0123456789abcdefghij").unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let kh = hosts(&format!("|1|{salt}|{hash} ssh-ed25519 AAA\n"));
        assert_eq!(kh.check("127.0.0.1", 2222, &key("AAA")), Verdict::Trusted);
        assert_eq!(kh.check("127.0.0.2", 2222, &key("AAA")), Verdict::Unknown);
    }

    #[test]
    fn wildcards_and_negation() {
        let kh = hosts("*.corp,!bad.corp ssh-ed25519 AAA\n");
        assert_eq!(kh.check("web.corp", 22, &key("AAA")), Verdict::Trusted);
        assert_eq!(kh.check("bad.corp", 22, &key("AAA")), Verdict::Unknown);
        assert_eq!(kh.check("web.other", 22, &key("AAA")), Verdict::Unknown);
    }

    #[test]
    fn revoked_key_is_refused_even_if_listed() {
        let kh = hosts("web1 ssh-ed25519 AAA\n@revoked * ssh-ed25519 AAA\n");
        assert_eq!(
            kh.check("web1", 22, &key("AAA")),
            Verdict::Revoked {
                file: "kh".into(),
                line: 2
            }
        );
    }

    #[test]
    fn overlong_patterns_and_names_are_bounded() {
        // `*a*a…` against a long near-miss took O(n²) steps per check.
        let long = "*a".repeat(20_000);
        assert!(parse(Path::new("kh"), &format!("{long} ssh-ed25519 AAA\n")).is_empty());
        let kh = hosts(&format!("*,{} ssh-ed25519 AAA\n", "a".repeat(MAX_PATTERN)));
        assert_eq!(kh.check("web1", 22, &key("AAA")), Verdict::Trusted);
        let name = "a".repeat(MAX_PATTERN + 1);
        assert_eq!(kh.check(&name, 22, &key("AAA")), Verdict::Unknown);
    }

    #[test]
    fn a_fleet_sized_file_is_looked_up_by_name_not_scanned() {
        use std::fmt::Write as _;
        // 2,000 hosts' lines and one wildcard line: a lookup matches only
        // the wildcard line's patterns, not 2,000 lines (O(N²) for a fleet).
        let mut text = String::new();
        for i in 0..2000 {
            let _ = writeln!(
                text,
                "[127.9.{}.{}]:2222 ssh-ed25519 K{i}",
                i / 254,
                i % 254 + 1
            );
        }
        text.push_str("*.corp ssh-ed25519 CORP\n");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, &text).unwrap();
        let kh = KnownHosts::load(std::slice::from_ref(&file)).unwrap();
        let index = kh.entries.lock().unwrap();
        assert_eq!(index.scanned.len(), 1, "only the wildcard line is scanned");
        assert_eq!(index.by_name.len(), 2000);
        drop(index);
        assert_eq!(
            kh.check("127.9.7.48", 2222, &key("K1825")),
            Verdict::Trusted
        );
        assert_eq!(
            kh.check("127.9.7.48", 2222, &key("K1")),
            Verdict::Changed { file, line: 1826 }
        );
        assert_eq!(kh.check("WEB.corp", 22, &key("CORP")), Verdict::Trusted);
        kh.learn("127.9.9.9", 2222, &key("NEW")).unwrap();
        assert_eq!(kh.check("127.9.9.9", 2222, &key("NEW")), Verdict::Trusted);
        assert_eq!(kh.entries.lock().unwrap().scanned.len(), 1);
    }

    #[test]
    fn wildcard_matcher() {
        assert!(wildcard("web-*", "web-12"));
        assert!(wildcard("web-??", "web-12"));
        assert!(!wildcard("web-?", "web-12"));
        assert!(wildcard("*", ""));
        assert!(wildcard("[127.0.9.*]:2222", "[127.0.9.7]:2222"));
    }
}
