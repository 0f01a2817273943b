//! The inventory's `proxy_jump:` (in `ssh:` for every host, in a host entry
//! to override it): OpenSSH's `ProxyJump` syntax, `[user@]host[:port]`,
//! comma-separated, outermost hop first, or `none`.
//!
//! A hop naming an inventory host takes that host's address, port and user
//! (what the hop itself writes still wins); any other hop is the address as
//! written, port 22, the inventory's ssh user.

use std::collections::HashMap;
use std::path::Path;

use serde_saphyr::Spanned;

use super::host_ssh::{HostSsh, Jump};
use super::source::ConfigError;

/// One hop as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct HopSpec {
    pub written: String,
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// What to write instead, appended to every syntax error.
const SYNTAX: &str = "write `[user@]host[:port]`, several hops comma-separated, \
                      outermost first (`ops@bastion, inner:2222`), or `none`";

/// Parse a `proxy_jump:` value: `None` for `none` (straight to the host).
pub(super) fn parse(text: &str) -> Result<Option<Vec<HopSpec>>, String> {
    let text = text.trim();
    if text == "none" {
        return Ok(None);
    }
    if text.is_empty() {
        return Err(format!("proxy_jump is empty: {SYNTAX}"));
    }
    text.split(',')
        .map(parse_hop)
        .collect::<Result<_, _>>()
        .map(Some)
}

fn parse_hop(written: &str) -> Result<HopSpec, String> {
    let written = written.trim();
    let bad = |why: &str| Err(format!("proxy_jump hop `{written}`: {why}; {SYNTAX}"));
    if written.is_empty() {
        return bad("empty hop");
    }
    if written.chars().any(char::is_whitespace) {
        return bad("a hop has no spaces");
    }
    let rest = written.strip_prefix("ssh://").unwrap_or(written);
    let (user, hostport) = match rest.rsplit_once('@') {
        Some(("", _)) => return bad("the user before `@` is empty"),
        Some((user, hostport)) => (Some(user.to_string()), hostport),
        None => (None, rest),
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        // [v6 address] or [v6 address]:port
        let Some((host, after)) = bracketed.split_once(']') else {
            return bad("`[` without `]`");
        };
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return bad("only `:port` may follow `]`"),
            },
        }
    } else {
        match hostport.split_once(':') {
            Some((_, tail)) if tail.contains(':') => {
                return bad("an IPv6 address goes in brackets: `[::1]:22`")
            }
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return bad("the host name is empty");
    }
    if host.contains(['/', '@', '[', ']']) {
        return bad("the host name has a character no host name has");
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => return bad(&format!("`{p}` is not a port (1-65535)")),
        },
    };
    Ok(HopSpec {
        written: written.to_string(),
        user,
        host: host.to_string(),
        port,
    })
}

/// An inventory host a hop may name.
pub(super) struct Known<'a> {
    pub name: &'a str,
    pub address: &'a str,
    pub port: u16,
    pub user: &'a str,
    /// Its own settings (keys, `known_hosts`, ...), which a hop to it uses.
    pub ssh: Option<&'a HostSsh>,
}

/// [`resolve_with`] over a slice of hosts.
#[cfg(test)]
pub(super) fn resolve(
    hops: &[HopSpec],
    known: &[Known<'_>],
    default_user: &str,
    own: (&str, &str, u16),
) -> Vec<Jump> {
    resolve_with(
        hops,
        |name| known.iter().find(|k| k.name == name),
        default_user,
        own,
    )
}

/// The hops resolved for one host, the inventory's hosts looked up by
/// `find`. `own` is the host itself: a hop that is the host (`ssh: {
/// proxy_jump: bastion }` also covers `bastion`) ends the chain there, so
/// the bastion is reached through the hops before it.
fn resolve_with<'k, 'a: 'k>(
    hops: &[HopSpec],
    find: impl Fn(&str) -> Option<&'k Known<'a>>,
    default_user: &str,
    own: (&str, &str, u16),
) -> Vec<Jump> {
    let mut jumps = Vec::with_capacity(hops.len());
    for hop in hops {
        let host = find(&hop.host);
        let jump = Jump {
            name: hop.written.clone(),
            address: host.map_or_else(|| hop.host.clone(), |h| h.address.to_string()),
            port: hop.port.or(host.map(|h| h.port)).unwrap_or(22),
            user: hop.user.clone().unwrap_or_else(|| {
                host.map_or_else(|| default_user.to_string(), |h| h.user.to_string())
            }),
            ssh: host
                .and_then(|h| h.ssh)
                .map_or_else(HostSsh::default, |ssh| HostSsh {
                    jumps: Vec::new(),
                    ..ssh.clone()
                }),
        };
        let (own_name, own_address, own_port) = own;
        if hop.host == own_name || (jump.address == own_address && jump.port == own_port) {
            break;
        }
        jumps.push(jump);
    }
    jumps
}

/// The inventory's `proxy_jump:` values, parsed once, resolved per host.
pub(super) struct Chains<'a> {
    path: &'a Path,
    /// The `ssh:` block's chain (empty for `none`; `None`: not given).
    all: Option<Vec<HopSpec>>,
    known: Vec<Known<'a>>,
    /// `known` by name: every host of a big fleet may name a bastion.
    by_name: HashMap<&'a str, usize>,
    default_user: &'a str,
}

impl<'a> Chains<'a> {
    pub(super) fn new(
        path: &'a Path,
        all: Option<&Spanned<String>>,
        known: Vec<Known<'a>>,
        default_user: &'a str,
    ) -> Result<Chains<'a>, ConfigError> {
        let all = match all {
            Some(value) => Some(
                parse(&value.value)
                    .map_err(|e| located(path, value, "ssh", &e))?
                    .unwrap_or_default(),
            ),
            None => None,
        };
        let mut by_name = HashMap::with_capacity(known.len());
        for (i, k) in known.iter().enumerate() {
            by_name.entry(k.name).or_insert(i);
        }
        Ok(Chains {
            path,
            all,
            known,
            by_name,
            default_user,
        })
    }

    /// The hops for host `name`, whose own `proxy_jump:` is `own`: `None`
    /// when the inventory says nothing for it (`ssh_config` may then).
    pub(super) fn for_host(
        &self,
        name: &str,
        own: Option<&Spanned<String>>,
    ) -> Result<Option<Vec<Jump>>, ConfigError> {
        let hops = match own {
            Some(value) => parse(&value.value)
                .map_err(|e| located(self.path, value, &format!("host `{name}`"), &e))?
                .unwrap_or_default(),
            None => match &self.all {
                Some(hops) => hops.clone(),
                None => return Ok(None),
            },
        };
        let find = |n: &str| self.by_name.get(n).map(|&i| &self.known[i]);
        let own = find(name).map_or((name, name, 22), |k| (k.name, k.address, k.port));
        Ok(Some(resolve_with(&hops, find, self.default_user, own)))
    }
}

fn located(path: &Path, value: &Spanned<String>, whose: &str, message: &str) -> ConfigError {
    let at = value.referenced;
    ConfigError::at(path, at.line(), at.column(), format!("{whose}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(written: &str, user: Option<&str>, host: &str, port: Option<u16>) -> HopSpec {
        HopSpec {
            written: written.into(),
            user: user.map(Into::into),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn valid_values_parse_as_openssh_reads_them() {
        let table: &[(&str, Option<Vec<HopSpec>>)] = &[
            ("none", None),
            (" none ", None),
            ("bastion", Some(vec![hop("bastion", None, "bastion", None)])),
            (
                "ops@bastion:2222",
                Some(vec![hop(
                    "ops@bastion:2222",
                    Some("ops"),
                    "bastion",
                    Some(2222),
                )]),
            ),
            (
                "ssh://ops@127.0.0.1:22",
                Some(vec![hop(
                    "ssh://ops@127.0.0.1:22",
                    Some("ops"),
                    "127.0.0.1",
                    Some(22),
                )]),
            ),
            (
                "a@outer, inner:2200",
                Some(vec![
                    hop("a@outer", Some("a"), "outer", None),
                    hop("inner:2200", None, "inner", Some(2200)),
                ]),
            ),
            (
                "[::1]:2222,[fe80::1]",
                Some(vec![
                    hop("[::1]:2222", None, "::1", Some(2222)),
                    hop("[fe80::1]", None, "fe80::1", None),
                ]),
            ),
            (
                "me@corp@bastion",
                Some(vec![hop(
                    "me@corp@bastion",
                    Some("me@corp"),
                    "bastion",
                    None,
                )]),
            ),
        ];
        for (text, want) in table {
            assert_eq!(parse(text).as_ref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn invalid_values_say_what_is_wrong_and_what_to_write() {
        let table = [
            ("", "proxy_jump is empty"),
            ("   ", "proxy_jump is empty"),
            ("bastion,", "hop ``: empty hop"),
            ("a,,b", "hop ``: empty hop"),
            ("@bastion", "hop `@bastion`: the user before `@` is empty"),
            ("ops@", "hop `ops@`: the host name is empty"),
            (":22", "hop `:22`: the host name is empty"),
            ("bastion:", "hop `bastion:`: `` is not a port (1-65535)"),
            ("bastion:0", "`0` is not a port"),
            ("bastion:65536", "`65536` is not a port"),
            ("bastion:ssh", "`ssh` is not a port"),
            ("::1", "an IPv6 address goes in brackets"),
            ("[::1", "`[` without `]`"),
            ("[::1]x", "only `:port` may follow `]`"),
            ("ops@bastion 2222", "a hop has no spaces"),
            ("host/x", "a character no host name has"),
        ];
        for (text, want) in table {
            let err = parse(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(err.ends_with("or `none`"), "{text:?}: {err}");
        }
    }

    #[test]
    fn hops_naming_inventory_hosts_take_their_address_port_user_and_settings() {
        let own = HostSsh {
            identity_files: vec!["/keys/ops".into()],
            jumps: vec![Jump {
                name: "outer".into(),
                address: "127.0.0.8".into(),
                port: 22,
                user: "ops".into(),
                ssh: HostSsh::default(),
            }],
            ..HostSsh::default()
        };
        let known = [Known {
            name: "bastion",
            address: "127.0.0.9",
            port: 2222,
            user: "ops",
            ssh: Some(&own),
        }];
        let hops = parse("bastion, deploy@bastion:2200, 127.1.2.3")
            .unwrap()
            .unwrap();
        let jumps = resolve(&hops, &known, "root", ("web1", "127.0.0.1", 22));
        let got: Vec<(&str, &str, u16, &str)> = jumps
            .iter()
            .map(|j| (j.name.as_str(), j.address.as_str(), j.port, j.user.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("bastion", "127.0.0.9", 2222, "ops"),
                ("deploy@bastion:2200", "127.0.0.9", 2200, "deploy"),
                ("127.1.2.3", "127.1.2.3", 22, "root"),
            ]
        );
        // The bastion's keys go with it; its own hops never (the chain is
        // the host's list); a hop ferry does not know has no settings.
        assert_eq!(jumps[0].ssh.identity_files, own.identity_files);
        assert!(jumps[0].ssh.jumps.is_empty());
        assert_eq!(jumps[2].ssh, HostSsh::default());
    }

    #[test]
    fn a_host_is_never_its_own_hop() {
        let known = [Known {
            name: "bastion",
            address: "127.0.0.9",
            port: 2222,
            user: "ops",
            ssh: None,
        }];
        let hops = parse("outer, bastion, inner").unwrap().unwrap();
        let by_name = resolve(&hops, &known, "root", ("bastion", "127.0.0.9", 2222));
        assert_eq!(by_name.len(), 1);
        assert_eq!(by_name[0].address, "outer");
        let by_address = resolve(&hops, &[], "root", ("b2", "bastion", 22));
        assert_eq!(by_address.len(), 1);
    }
}
