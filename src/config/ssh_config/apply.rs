//! One host's effective SSH settings, by precedence: its inventory entry,
//! then the inventory's `ssh:`, then `ssh_config`, then ferry's defaults;
//! with where each came from. Only `ssh_config` values go into `HostSsh`
//! (empty there means "the inventory's", which the connector already has).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::parse::Place;
use super::resolve::{expand, JumpSpec, Resolved, Set, Strict};
use super::{expand_tilde, SshConfig, SshConfigError};
use crate::config::{HostKeyPolicy, HostSsh, Jump};

/// OpenSSH's `GlobalKnownHostsFile`, kept after a `UserKnownHostsFile`.
const GLOBAL_KNOWN_HOSTS: &str = "/etc/ssh/ssh_known_hosts";
/// Hops followed through each first hop's own `ProxyJump`.
const MAX_JUMP_DEPTH: usize = 8;

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    HostEntry,
    Inventory(PathBuf),
    SshConfig(Place),
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::HostEntry => f.write_str("inventory host entry"),
            Origin::Inventory(path) => write!(f, "{} ssh:", path.display()),
            Origin::SshConfig(place) => write!(f, "{place}"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// Per setting, where it came from; and the harmless keywords skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshOrigin {
    /// The name looked up in `ssh_config` (the address, else the host name).
    pub lookup: String,
    pub address: Origin,
    pub port: Origin,
    pub user: Origin,
    pub identity_files: Origin,
    pub identities_only: Origin,
    pub known_hosts: Origin,
    pub connect_timeout: Origin,
    pub keepalive: Origin,
    pub keepalive_count: Origin,
    pub host_key_policy: Origin,
    pub jumps: Origin,
    /// Harmless keywords that applied and were skipped: (keyword, line).
    pub ignored: Vec<(String, Place)>,
}

impl Default for SshOrigin {
    fn default() -> SshOrigin {
        SshOrigin {
            lookup: String::new(),
            address: Origin::HostEntry,
            port: Origin::Default,
            user: Origin::Default,
            identity_files: Origin::Default,
            identities_only: Origin::Default,
            known_hosts: Origin::Default,
            connect_timeout: Origin::Default,
            keepalive: Origin::Default,
            keepalive_count: Origin::Default,
            host_key_policy: Origin::Default,
            jumps: Origin::Default,
            ignored: Vec::new(),
        }
    }
}

/// What the inventory's `ssh:` block sets (values, or only whether set:
/// the connector holds those values already).
#[derive(Clone, Debug, Default)]
// Each bool is whether one inventory key is set: independent facts.
#[allow(clippy::struct_excessive_bools)]
pub struct InventorySsh {
    pub path: PathBuf,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: bool,
    pub known_hosts: bool,
    pub connect_timeout: bool,
    pub keepalive: bool,
    pub host_key_policy: bool,
    /// `allow_strict_host_key_checking_no: true`: `StrictHostKeyChecking
    /// no` is read as accept-new instead of refused.
    pub allow_no_check: bool,
}

/// The host's own inventory entry.
pub struct HostEntry<'a> {
    pub name: &'a str,
    pub address: Option<&'a str>,
    pub port: Option<u16>,
    pub user: Option<&'a str>,
}

/// The controller's side: the files read, home and login (for `~`, `%d`,
/// `%u`), and the user when nothing names one.
pub struct Local<'a> {
    pub config: &'a SshConfig,
    pub home: &'a Path,
    pub login: &'a str,
    pub default_user: &'a str,
}

#[derive(Clone, Debug)]
pub struct Effective {
    pub address: String,
    pub port: u16,
    pub user: String,
    pub ssh: HostSsh,
    pub origin: SshOrigin,
}

/// Resolve one host.
pub fn apply(
    local: &Local<'_>,
    inv: &InventorySsh,
    entry: &HostEntry<'_>,
) -> Result<Effective, SshConfigError> {
    let lookup = entry.address.unwrap_or(entry.name);
    let r = local.config.resolve(lookup)?;
    let mut origin = SshOrigin {
        lookup: lookup.to_string(),
        ..SshOrigin::default()
    };
    let address = match &r.hostname {
        Some(h) => {
            origin.address = Origin::SshConfig(h.at.clone());
            r.hostname_for(lookup)?
        }
        None => lookup.to_string(),
    };
    let inv_origin = || Origin::Inventory(inv.path.clone());
    let (port, o) = pick(
        entry.port,
        inv.port,
        r.port.as_ref().map(|s| (s.value, s.at.clone())),
        22,
        inv_origin(),
    );
    origin.port = o;
    let (user, o) = pick(
        entry.user.map(str::to_string),
        inv.user.clone(),
        r.user.as_ref().map(|s| (s.value.clone(), s.at.clone())),
        local.default_user.to_string(),
        inv_origin(),
    );
    origin.user = o;
    let mut ssh = own_settings(local, inv, &r, lookup, &address, &user, port, &mut origin)?;
    if let Some(jump) = &r.proxy_jump {
        origin.jumps = Origin::SshConfig(jump.at.clone());
        ssh.jumps = chain(
            local,
            inv,
            &jump.value,
            &jump.at,
            &mut vec![lookup.to_string()],
        )?;
    }
    origin.ignored = r
        .ignored
        .iter()
        .map(|s| (s.value.clone(), s.at.clone()))
        .collect();
    Ok(Effective {
        address,
        port,
        user,
        ssh,
        origin,
    })
}

/// Host entry > inventory `ssh:` > `ssh_config` > default.
fn pick<T>(
    entry: Option<T>,
    inv: Option<T>,
    config: Option<(T, Place)>,
    default: T,
    inv_origin: Origin,
) -> (T, Origin) {
    if let Some(v) = entry {
        (v, Origin::HostEntry)
    } else if let Some(v) = inv {
        (v, inv_origin)
    } else if let Some((v, at)) = config {
        (v, Origin::SshConfig(at))
    } else {
        (default, Origin::Default)
    }
}

/// Keys, `known_hosts`, timeouts and host-key policy from `ssh_config`,
/// where the inventory's `ssh:` does not set them.
#[allow(clippy::too_many_arguments)]
fn own_settings(
    local: &Local<'_>,
    inv: &InventorySsh,
    r: &Resolved,
    lookup: &str,
    address: &str,
    user: &str,
    port: u16,
    origin: &mut SshOrigin,
) -> Result<HostSsh, SshConfigError> {
    let port_text = port.to_string();
    let home = local.home.to_string_lossy();
    let tokens = [
        ('h', address),
        ('r', user),
        ('p', port_text.as_str()),
        ('u', local.login),
        ('n', lookup),
        ('d', &*home),
    ];
    let path = |s: &Set<String>, what: &str| -> Result<PathBuf, SshConfigError> {
        if s.value.starts_with('~') && !s.value.starts_with("~/") && s.value != "~" {
            return Err(SshConfigError::at(
                &s.at,
                format!(
                    "{what} `{}`: `~user` paths are not supported; write the full path",
                    s.value
                ),
            ));
        }
        let expanded = expand_tilde(Path::new(&s.value), local.home);
        let text = expanded.to_string_lossy();
        Ok(PathBuf::from(expand(&text, &tokens, &s.at, what)?))
    };
    let inv_origin = || Origin::Inventory(inv.path.clone());
    let mut ssh = HostSsh::default();
    if inv.identity_files {
        origin.identity_files = inv_origin();
    } else if let Some(first) = r.identity_files.first() {
        origin.identity_files = Origin::SshConfig(first.at.clone());
        for file in &r.identity_files {
            ssh.identity_files.push(path(file, "IdentityFile")?);
        }
    }
    if let Some(only) = &r.identities_only {
        origin.identities_only = Origin::SshConfig(only.at.clone());
        ssh.identities_only = only.value;
    }
    if inv.known_hosts {
        origin.known_hosts = inv_origin();
    } else if let Some(files) = &r.known_hosts {
        origin.known_hosts = Origin::SshConfig(files.at.clone());
        for file in &files.value {
            let one = Set {
                value: file.clone(),
                at: files.at.clone(),
            };
            ssh.known_hosts.push(path(&one, "UserKnownHostsFile")?);
        }
        ssh.known_hosts.push(PathBuf::from(GLOBAL_KNOWN_HOSTS));
    }
    (ssh.connect_timeout, origin.connect_timeout) = from_config(
        inv.connect_timeout,
        r.connect_timeout.as_ref(),
        inv_origin(),
    );
    (ssh.keepalive, origin.keepalive) =
        from_config(inv.keepalive, r.keepalive.as_ref(), inv_origin());
    (ssh.keepalive_count, origin.keepalive_count) =
        from_config(false, r.keepalive_count.as_ref(), inv_origin());
    if inv.host_key_policy {
        origin.host_key_policy = inv_origin();
    } else if let Some(strict) = &r.strict {
        origin.host_key_policy = Origin::SshConfig(strict.at.clone());
        ssh.host_key_policy = Some(match strict.value {
            Strict::Yes | Strict::Ask => HostKeyPolicy::Strict,
            Strict::AcceptNew => HostKeyPolicy::AcceptNew,
            Strict::No if inv.allow_no_check => HostKeyPolicy::AcceptNew,
            Strict::No => {
                return Err(SshConfigError::at(
                    &strict.at,
                    format!(
                        "`StrictHostKeyChecking no` applies to `{lookup}`: ferry does not connect \
                         without checking host keys. Set `ssh: {{ host_key_policy: accept-new }}` \
                         in the inventory, or `ssh: {{ allow_strict_host_key_checking_no: true }}` \
                         to read it as accept-new (a changed key is still refused)"
                    ),
                ))
            }
        });
    }
    Ok(ssh)
}

fn from_config<T: Copy>(
    inv_sets: bool,
    config: Option<&Set<T>>,
    inv_origin: Origin,
) -> (Option<T>, Origin) {
    match config {
        _ if inv_sets => (None, inv_origin),
        Some(s) => (Some(s.value), Origin::SshConfig(s.at.clone())),
        None => (None, Origin::Default),
    }
}

/// A `ProxyJump` value written elsewhere (the inventory's `proxy_jump:`,
/// `from` names it in errors) as hops resolved through `ssh_config` like
/// the ones `ssh_config` gives; for `name` (to catch loops).
pub fn jumps(
    local: &Local<'_>,
    inv: &InventorySsh,
    name: &str,
    text: &str,
    from: &Path,
) -> Result<Vec<Jump>, SshConfigError> {
    let at = Place {
        file: std::sync::Arc::new(from.to_path_buf()),
        line: 0,
    };
    let specs = super::values::jumps(text, &at)?;
    chain(local, inv, &specs, &at, &mut vec![name.to_string()])
}

/// A `ProxyJump` list as hops, outermost first; the first hop's own
/// `ProxyJump` comes before it, as `ssh -J a,b` connects to `a` as `ssh a`.
fn chain(
    local: &Local<'_>,
    inv: &InventorySsh,
    specs: &[JumpSpec],
    at: &Place,
    seen: &mut Vec<String>,
) -> Result<Vec<Jump>, SshConfigError> {
    let mut hops = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if seen.contains(&spec.host) || seen.len() > MAX_JUMP_DEPTH {
            return Err(SshConfigError::at(
                at,
                format!(
                    "ProxyJump loop: {} -> {} (or more than {MAX_JUMP_DEPTH} hops); a jump \
                     host must not match its own `ProxyJump`: write e.g. `Host * !{}`",
                    seen.join(" -> "),
                    spec.host,
                    spec.host
                ),
            ));
        }
        let r = local.config.resolve(&spec.host)?;
        if i == 0 {
            if let Some(outer) = r.proxy_jump.as_ref().filter(|j| !j.value.is_empty()) {
                seen.push(spec.host.clone());
                hops.extend(chain(local, inv, &outer.value, &outer.at, seen)?);
                seen.pop();
            }
        }
        let address = r.hostname_for(&spec.host)?;
        let port = spec
            .port
            .or(inv.port)
            .or(r.port.as_ref().map(|p| p.value))
            .unwrap_or(22);
        let user = spec
            .user
            .clone()
            .or_else(|| inv.user.clone())
            .or_else(|| r.user.as_ref().map(|u| u.value.clone()))
            .unwrap_or_else(|| local.default_user.to_string());
        let mut scratch = SshOrigin::default();
        let ssh = own_settings(
            local,
            inv,
            &r,
            &spec.host,
            &address,
            &user,
            port,
            &mut scratch,
        )?;
        hops.push(Jump {
            name: spec.text.clone(),
            address,
            port,
            user,
            ssh,
        });
    }
    Ok(hops)
}

/// How long, for `ferry check --ssh`.
pub fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs())
}
