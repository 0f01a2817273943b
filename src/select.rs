//! Host patterns: `--limit web`, `--limit 'web1,web2'`, `--limit 'web*,!web3'`.
//!
//! A pattern is a comma-separated list of terms. A term is `all`, a group
//! name, a host name, or a glob over host and group names; a term starting
//! with `!` removes its hosts. The result keeps inventory order.

use crate::config::suggest::{did_you_mean, Kind};
use crate::config::{Host, Inventory};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("`{term}` in pattern `{pattern}` names no host or group{hint}")]
    UnknownName {
        pattern: String,
        term: String,
        hint: String,
    },
    #[error("invalid glob `{term}` in pattern `{pattern}`: {reason}")]
    BadGlob {
        pattern: String,
        term: String,
        reason: String,
    },
    #[error("pattern `{pattern}` selects no host")]
    Empty { pattern: String },
    #[error(
        "empty host pattern `{pattern}`: name hosts or groups (`web1,db`), or `all` for every host"
    )]
    NoTerms { pattern: String },
    #[error(
        "pattern `{pattern}` selects only hosts marked `deploy: false` ({hosts}): releases never \
         target them; use `ferry run` for ad-hoc commands on them"
    )]
    OnlyNotTargets { pattern: String, hosts: String },
}

/// What a release command (deploy, rollback, promote, verify, status,
/// history, lock) works on.
#[derive(Debug)]
pub struct Targets<'a> {
    pub hosts: Vec<&'a Host>,
    /// Hosts a `--limit` pattern named that are `deploy: false`, dropped
    /// (said in a warning). Empty without a pattern: no one asked for them.
    pub dropped: Vec<&'a Host>,
}

/// [`select`] without the `deploy: false` hosts. A pattern that selects
/// only such hosts is an error: running a release on nothing is never meant.
pub fn select_targets<'a>(
    inv: &'a Inventory,
    pattern: Option<&str>,
) -> Result<Targets<'a>, SelectError> {
    let picked = select(inv, pattern)?;
    let (hosts, dropped): (Vec<&Host>, Vec<&Host>) = picked.into_iter().partition(|h| h.deploy);
    if hosts.is_empty() {
        return Err(SelectError::OnlyNotTargets {
            pattern: pattern.unwrap_or("all").into(),
            hosts: dropped
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let dropped = if pattern.is_some() {
        dropped
    } else {
        Vec::new()
    };
    Ok(Targets { hosts, dropped })
}

/// The hosts a pattern selects (all hosts when there is no pattern).
pub fn select<'a>(inv: &'a Inventory, pattern: Option<&str>) -> Result<Vec<&'a Host>, SelectError> {
    let Some(pattern) = pattern else {
        return Ok(inv.hosts.iter().collect());
    };
    let picked = Pattern::parse(inv, pattern)?;
    let hosts: Vec<&Host> = inv.hosts.iter().filter(|h| picked.admits(h)).collect();
    if hosts.is_empty() {
        return Err(SelectError::Empty {
            pattern: pattern.into(),
        });
    }
    Ok(hosts)
}

/// A parsed pattern, checked against an inventory.
pub struct Pattern {
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
}

impl Pattern {
    pub fn parse(inv: &Inventory, pattern: &str) -> Result<Pattern, SelectError> {
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for raw in pattern.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (list, term) = match raw.strip_prefix('!') {
                Some(t) => (&mut exclude, t),
                None => (&mut include, raw),
            };
            let term = if term == "all" { "*" } else { term };
            let glob = glob::Pattern::new(term).map_err(|e| SelectError::BadGlob {
                pattern: pattern.into(),
                term: term.into(),
                reason: e.msg.into(),
            })?;
            check_names_something(inv, pattern, term, &glob)?;
            list.push(glob);
        }
        // An empty `--limit` (often an unset CI variable) must not mean "every host".
        if include.is_empty() && exclude.is_empty() {
            return Err(SelectError::NoTerms {
                pattern: pattern.into(),
            });
        }
        if include.is_empty() {
            include.push(glob::Pattern::new("*").expect("`*` is a valid glob"));
        }
        Ok(Pattern { include, exclude })
    }

    pub fn admits(&self, host: &Host) -> bool {
        let hit = |g: &glob::Pattern| {
            g.matches(&host.name) || host.groups.iter().any(|group| g.matches(group))
        };
        self.include.iter().any(hit) && !self.exclude.iter().any(hit)
    }
}

/// A plain name (no glob characters) must name a host or a group: a typo in
/// `--limit` must not silently select nothing or everything.
fn check_names_something(
    inv: &Inventory,
    pattern: &str,
    term: &str,
    glob: &glob::Pattern,
) -> Result<(), SelectError> {
    let names = inv
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .chain(inv.groups.iter().map(|g| g.name.as_str()));
    let is_literal = !term.contains(['*', '?', '[']);
    if !is_literal || names.clone().any(|n| glob.matches(n)) {
        return Ok(());
    }
    // Groups first: on a tie, a pattern more likely means the group.
    let candidates: Vec<(Kind, &str)> = inv
        .groups
        .iter()
        .map(|g| (Kind::Group, g.name.as_str()))
        .chain(inv.hosts.iter().map(|h| (Kind::Host, h.name.as_str())))
        .collect();
    let hint = did_you_mean(term, &candidates);
    Err(SelectError::UnknownName {
        pattern: pattern.into(),
        term: term.into(),
        hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inv() -> Inventory {
        let path = Path::new("inventories/t.yml");
        let text = "hosts:\n  web1: {}\n  web2: {}\n  web3: {}\n  db1: {}\n\
                    groups:\n  web: { hosts: [web1, web2, web3] }\n  db: { hosts: [db1] }\n";
        Inventory::load_from_str(path, text).unwrap()
    }

    fn names(pattern: Option<&str>) -> Vec<String> {
        let inv = inv();
        select(&inv, pattern)
            .unwrap()
            .iter()
            .map(|h| h.name.clone())
            .collect()
    }

    #[test]
    fn groups_hosts_globs_and_exclusions() {
        assert_eq!(names(None).len(), 4);
        assert_eq!(names(Some("db")), ["db1"]);
        assert_eq!(names(Some("web1,db1")), ["web1", "db1"]);
        assert_eq!(names(Some("web*,!web2")), ["web1", "web3"]);
        assert_eq!(names(Some("all,!web")), ["db1"]);
    }

    #[test]
    fn a_typo_is_an_error_with_a_hint() {
        let inv = inv();
        let err = select(&inv, Some("wbe1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`wbe1` in pattern `wbe1` names no host or group, did you mean the host `web1`?"
        );
        assert_eq!(
            select(&inv, Some("dbs")).unwrap_err().to_string(),
            "`dbs` in pattern `dbs` names no host or group, did you mean the group `db`?"
        );
        assert!(matches!(
            select(&inv, Some("web,!web")),
            Err(SelectError::Empty { .. })
        ));
    }

    /// Targets and dropped hosts, by name.
    type Picked = Result<(Vec<String>, Vec<String>), SelectError>;

    fn targets(pattern: Option<&str>) -> Picked {
        let text = "hosts:\n  web1: {}\n  web2: { deploy: false }\n  lb1: {}\n  lb2: { deploy: true }\n\
                    groups:\n  web: { hosts: [web1, web2] }\n  lb: { hosts: [lb1, lb2], deploy: false }\n";
        let inv = Inventory::load_from_str(Path::new("inventories/t.yml"), text).unwrap();
        let names = |hosts: &[&Host]| hosts.iter().map(|h| h.name.clone()).collect();
        select_targets(&inv, pattern).map(|t| (names(&t.hosts), names(&t.dropped)))
    }

    #[test]
    fn deploy_false_hosts_are_never_targets() {
        let ok = |hosts: &[&str], dropped: &[&str]| {
            let s = |v: &[&str]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
            Ok((s(hosts), s(dropped)))
        };
        // (pattern, targets, dropped and warned about)
        let table: &[(Option<&str>, Picked)] = &[
            // A group's `deploy: false` applies to lb1; lb2's own `true` wins.
            (None, ok(&["web1", "lb2"], &[])),
            (Some("all"), ok(&["web1", "lb2"], &["web2", "lb1"])),
            (Some("web"), ok(&["web1"], &["web2"])),
            (Some("web1,lb"), ok(&["web1", "lb2"], &["lb1"])),
            (Some("!lb"), ok(&["web1"], &["web2"])),
            (
                Some("web2,lb1"),
                Err(SelectError::OnlyNotTargets {
                    pattern: "web2,lb1".into(),
                    hosts: "web2, lb1".into(),
                }),
            ),
        ];
        for (pattern, want) in table {
            assert_eq!(&targets(*pattern), want, "{pattern:?}");
        }
        // Plain selection (`ferry run`, `check`) still sees them all.
        let text = "hosts:\n  lb1: { deploy: false }\n";
        let inv = Inventory::load_from_str(Path::new("inventories/t.yml"), text).unwrap();
        assert_eq!(select(&inv, None).unwrap().len(), 1);
        assert_eq!(
            select_targets(&inv, None).unwrap_err().to_string(),
            "pattern `all` selects only hosts marked `deploy: false` (lb1): releases never \
             target them; use `ferry run` for ad-hoc commands on them"
        );
    }

    #[test]
    fn an_empty_pattern_is_an_error_never_every_host() {
        let inv = inv();
        for pattern in ["", ",", " , ", ",,"] {
            assert_eq!(
                select(&inv, Some(pattern)).map(|h| h.len()),
                Err(SelectError::NoTerms {
                    pattern: pattern.into()
                }),
                "{pattern:?}"
            );
        }
        // Only exclusions: every host but those, as in Ansible.
        assert_eq!(names(Some("!web")), ["db1"]);
    }
}
