//! OpenSSH's resolution of one name (readconf.c): walk every line in order;
//! `Host` and `Match` lines switch whether the following lines apply; the
//! first value of a setting wins (`IdentityFile` adds up). Values are checked
//! on every line, applying or not, as `ssh` does.

use std::time::Duration;

use super::keywords::{self, Kind};
use super::parse::{Criterion, Item, Place};
use super::values::{jumps, port, strict, time, yes_no};
pub use super::values::{JumpSpec, Strict};
use super::SshConfigError;

/// A value and the line it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set<T> {
    pub value: T,
    pub at: Place,
}

/// What the files say about one name. Paths and `HostName` are as written
/// (`~`, `%` tokens unexpanded), like `ssh -G` prints `identityfile`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    pub hostname: Option<Set<String>>,
    pub user: Option<Set<String>>,
    pub port: Option<Set<u16>>,
    pub identity_files: Vec<Set<String>>,
    pub identities_only: Option<Set<bool>>,
    pub known_hosts: Option<Set<Vec<String>>>,
    pub strict: Option<Set<Strict>>,
    pub connect_timeout: Option<Set<Duration>>,
    pub keepalive: Option<Set<Duration>>,
    pub keepalive_count: Option<Set<u32>>,
    /// Empty: `ProxyJump none`.
    pub proxy_jump: Option<Set<Vec<JumpSpec>>>,
    /// Harmless keywords that applied to this name, with their lines.
    pub ignored: Vec<Set<String>>,
}

impl Resolved {
    /// `HostName` with `%h` and `%%` expanded, lowercased as `ssh` does;
    /// without one, the name itself.
    pub fn hostname_for(&self, name: &str) -> Result<String, SshConfigError> {
        match &self.hostname {
            Some(h) => Ok(expand(&h.value, &[('h', name)], &h.at, "HostName")?.to_lowercase()),
            None => Ok(name.to_lowercase()),
        }
    }
}

/// Resolve `name` through `files` (each starts afresh, as `ssh` reads the
/// user file and then the system file).
pub fn resolve(files: &[Vec<Item>], name: &str) -> Result<Resolved, SshConfigError> {
    let mut walk = Walk {
        name,
        out: Resolved::default(),
        ignore_unknown: None,
    };
    for items in files {
        walk.file(items)?;
    }
    Ok(walk.out)
}

struct Walk<'a> {
    name: &'a str,
    out: Resolved,
    ignore_unknown: Option<String>,
}

impl Walk<'_> {
    fn file(&mut self, items: &[Item]) -> Result<(), SshConfigError> {
        let mut active = true;
        // Inside an `Include` met in a block that did not apply, no
        // `Host`/`Match` line can make anything apply (SSHCONF_NEVERMATCH).
        let mut never = false;
        let mut saved = Vec::new();
        for item in items {
            match item {
                Item::Enter => {
                    saved.push((active, never));
                    never = never || !active;
                }
                Item::Leave => (active, never) = saved.pop().unwrap_or((true, false)),
                Item::Host { patterns, .. } => active = !never && host_matches(self.name, patterns),
                Item::Match { criteria, at } => {
                    let matched = self.match_line(criteria, at)?;
                    active = !never && matched;
                }
                Item::Setting {
                    keyword,
                    name,
                    args,
                    at,
                } => self.setting(keyword, name, args, at, active)?,
            }
        }
        Ok(())
    }

    fn match_line(&self, criteria: &[Criterion], at: &Place) -> Result<bool, SshConfigError> {
        let mut result = true;
        for criterion in criteria {
            let (negate, hit) = match criterion {
                Criterion::All { negate } => (*negate, true),
                Criterion::Host {
                    original,
                    negate,
                    patterns,
                } => {
                    let subject = if *original {
                        self.name.to_string()
                    } else {
                        // The name as `HostName` has it so far.
                        match &self.out.hostname {
                            Some(h) => expand(&h.value, &[('h', self.name)], at, "HostName")?,
                            None => self.name.to_string(),
                        }
                    };
                    (*negate, list_matches(&subject.to_lowercase(), patterns))
                }
            };
            if hit == negate {
                result = false;
            }
        }
        Ok(result)
    }

    fn setting(
        &mut self,
        keyword: &str,
        name: &str,
        args: &[String],
        at: &Place,
        active: bool,
    ) -> Result<(), SshConfigError> {
        let Some(kind) = keywords::kind(keyword) else {
            if self
                .ignore_unknown
                .as_deref()
                .is_some_and(|list| list_matches(keyword, list))
            {
                return Ok(());
            }
            return Err(SshConfigError::at(
                at,
                format!(
                    "unknown keyword `{name}` (OpenSSH would stop here too; \
                     list it in `IgnoreUnknown` if another ssh knows it)"
                ),
            ));
        };
        match kind {
            Kind::Applied => self.applied(keyword, args, at, active),
            Kind::Harmless => {
                self.ignore(name, at, active);
                Ok(())
            }
            // A value that changes nothing for ferry (`AddressFamily any`).
            Kind::RefusedUnless(fine)
                if args.len() == 1 && fine.contains(&args[0].to_ascii_lowercase().as_str()) =>
            {
                self.ignore(name, at, active);
                Ok(())
            }
            Kind::Refused | Kind::RefusedUnless(_) if !active => Ok(()),
            Kind::Refused | Kind::RefusedUnless(_) => Err(SshConfigError::at(
                at,
                format!(
                    "`{name} {}` applies to `{}` but ferry does not support it: {}. \
                     Remove it, or keep it under a `Host` pattern that does not match \
                     `{}`, or set `ssh: {{ config: none }}` in the inventory",
                    args.join(" "),
                    self.name,
                    keywords::why_refused(keyword),
                    self.name,
                ),
            )),
        }
    }

    fn ignore(&mut self, name: &str, at: &Place, active: bool) {
        if active {
            self.out.ignored.push(Set {
                value: name.to_string(),
                at: at.clone(),
            });
        }
    }

    fn applied(
        &mut self,
        keyword: &str,
        args: &[String],
        at: &Place,
        active: bool,
    ) -> Result<(), SshConfigError> {
        let one = || -> Result<&str, SshConfigError> {
            match args {
                [arg] => Ok(arg.as_str()),
                _ => Err(SshConfigError::at(
                    at,
                    format!("`{keyword}` takes one value, not {}", args.len()),
                )),
            }
        };
        let set = |at: &Place| Some(at.clone()).filter(|_| active);
        let out = &mut self.out;
        match keyword {
            "hostname" => {
                let name = one()?;
                expand(name, &[('h', "")], at, "HostName")?;
                first(&mut out.hostname, name.to_string(), set(at));
            }
            "user" => first(&mut out.user, one()?.to_string(), set(at)),
            "port" => first(&mut out.port, port(one()?, at)?, set(at)),
            "identityfile" => {
                let file = one()?.to_string();
                if let Some(at) = set(at) {
                    out.identity_files.push(Set { value: file, at });
                }
            }
            "identitiesonly" => first(&mut out.identities_only, yes_no(one()?, at)?, set(at)),
            "userknownhostsfile" => {
                if args.iter().any(|a| a.eq_ignore_ascii_case("none")) {
                    return Err(SshConfigError::at(
                        at,
                        "`UserKnownHostsFile none`: ferry needs a known_hosts file to check host keys",
                    ));
                }
                first(&mut out.known_hosts, args.to_vec(), set(at));
            }
            "stricthostkeychecking" => first(&mut out.strict, strict(one()?, at)?, set(at)),
            "connecttimeout" => {
                let t = time(one()?, at)?;
                if t.is_zero() {
                    return Err(SshConfigError::at(
                        at,
                        "`ConnectTimeout 0`: ferry always gives up on a silent host; write seconds",
                    ));
                }
                first(&mut out.connect_timeout, t, set(at));
            }
            "serveraliveinterval" => {
                let t = time(one()?, at)?;
                if t.is_zero() {
                    return Err(SshConfigError::at(
                        at,
                        "`ServerAliveInterval 0`: ferry always sends keepalives; write seconds",
                    ));
                }
                first(&mut out.keepalive, t, set(at));
            }
            "serveralivecountmax" => {
                let n = one()?
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        SshConfigError::at(at, "`ServerAliveCountMax`: write a whole number from 1")
                    })?;
                first(&mut out.keepalive_count, n, set(at));
            }
            "proxyjump" => first(&mut out.proxy_jump, jumps(one()?, at)?, set(at)),
            "ignoreunknown" => {
                if active && self.ignore_unknown.is_none() {
                    self.ignore_unknown = Some(one()?.to_ascii_lowercase());
                }
            }
            _ => unreachable!("every applied keyword is handled: {keyword}"),
        }
        Ok(())
    }
}

/// Keep the first value: later lines never override (OpenSSH).
fn first<T>(slot: &mut Option<Set<T>>, value: T, at: Option<Place>) {
    if let (None, Some(at)) = (&slot, at) {
        *slot = Some(Set { value, at });
    }
}

/// `Host` line: any positive pattern matches and no negated one does.
fn host_matches(name: &str, patterns: &[String]) -> bool {
    let mut hit = false;
    for pattern in patterns {
        match pattern.strip_prefix('!') {
            Some(neg) if glob(name, neg) => return false,
            Some(_) => {}
            None => hit = hit || glob(name, pattern),
        }
    }
    hit
}

/// A comma-separated list with `!` negation (`match_pattern_list`),
/// patterns lowercased.
fn list_matches(subject: &str, list: &str) -> bool {
    let mut hit = false;
    for pattern in list.split(',') {
        let (neg, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if glob(subject, &pattern.to_lowercase()) {
            if neg {
                return false;
            }
            hit = true;
        }
    }
    hit
}

/// `*` and `?` globbing in linear space and O(n·m) time at worst (no
/// backtracking blow-up on hostile patterns).
pub fn glob(text: &str, pattern: &str) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `%` tokens: each `(letter, value)` given, and `%%`; any other is an
/// error naming the line.
pub fn expand(
    text: &str,
    tokens: &[(char, &str)],
    at: &Place,
    what: &str,
) -> Result<String, SshConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) if tokens.iter().any(|(k, _)| *k == t) => {
                out.push_str(tokens.iter().find(|(k, _)| *k == t).map_or("", |(_, v)| v));
            }
            other => {
                let known: Vec<String> = tokens.iter().map(|(k, _)| format!("%{k}")).collect();
                return Err(SshConfigError::at(
                    at,
                    format!(
                        "{what}: `%{}` is not supported by ferry here (use {} or %%)",
                        other.map(String::from).unwrap_or_default(),
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(out)
}
