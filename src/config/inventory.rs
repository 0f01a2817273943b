//! The inventory: one environment's hosts, groups, vars, SSH and rollout
//! settings, read from `inventories/<env>.yml`.
//!
//! Var precedence, lowest first: playbook `vars`, inventory `vars`, group
//! `vars` (groups in inventory order, later wins), host `vars`, `-e key=value`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::source::{load_yaml, nearest, parse_yaml, ConfigError};
use super::values::{Amount, BatchSpec, Port, Span};
use super::Vars;
use crate::window::{Freeze, Window};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InventoryFile {
    #[serde(default)]
    ssh: SshFile,
    #[serde(default)]
    rollout: RolloutSettings,
    #[serde(default)]
    vars: Vars,
    hosts: IndexMap<String, HostFile>,
    #[serde(default)]
    groups: IndexMap<String, GroupFile>,
    /// `ferry promote` into this environment refuses a release that has run
    /// in the source environment for less than this.
    min_soak: Option<Span>,
    /// When deploys may start, e.g. `Mon-Thu 09:00-16:00 Europe/Berlin`.
    #[serde(default)]
    windows: Vec<String>,
    #[serde(default)]
    freezes: Vec<FreezeFile>,
    /// A webhook for deploy notifications (`--notify` wins).
    notify: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FreezeFile {
    from: String,
    to: String,
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SshFile {
    user: Option<String>,
    port: Option<Port>,
    #[serde(default)]
    identity_files: Vec<String>,
    known_hosts: Option<String>,
    connect_timeout: Option<Span>,
    keepalive: Option<Span>,
    host_key_policy: Option<HostKeyPolicy>,
    passphrase_env: Option<String>,
    /// Hosts tunnelled over one login to a bastion before another is made.
    bastion_channels: Option<std::num::NonZeroU32>,
    /// `ssh_config` files to read instead of `~/.ssh/config`, or `none`.
    config: Option<super::ssh_config::ConfigFiles>,
    /// Read `StrictHostKeyChecking no` in `ssh_config` as accept-new.
    #[serde(default)]
    allow_strict_host_key_checking_no: bool,
    /// `ProxyJump` for every host (see `proxy_jump.rs`).
    proxy_jump: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostFile {
    address: Option<String>,
    port: Option<Port>,
    user: Option<String>,
    /// Over the `ssh:` block's; `none`: straight to the host.
    proxy_jump: Option<Spanned<String>>,
    #[serde(default)]
    vars: Vars,
    /// `false`: reachable (`delegate_to`, `via:`, `ProxyJump`, `ferry run`)
    /// but never a release target. Over its groups'.
    deploy: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    #[serde(default)]
    hosts: Vec<Spanned<String>>,
    #[serde(default)]
    vars: Vars,
    rollout: Option<RolloutSettings>,
    /// Applies to its members (the last group in inventory order that says
    /// it wins, as for vars); a host's own `deploy:` wins over any group's.
    deploy: Option<bool>,
}

/// What to do with a host key that no `known_hosts` file mentions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Refuse the connection (the default).
    #[default]
    Strict,
    /// Trust it on first use and write it to the `known_hosts` file.
    AcceptNew,
}

/// Rollout settings: parsed and validated now, used by rolling deploys.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSettings {
    pub batch: Option<BatchSpec>,
    pub canary: Option<u32>,
    pub max_failures: Option<Amount>,
    pub pause: Option<Span>,
    pub timeout: Option<Span>,
    /// Refuse a deploy whose playbook has no `health:` checks.
    pub require_health: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct SshSettings {
    pub identity_files: Vec<PathBuf>,
    /// Files checked for host keys, in order; new keys are written to the first.
    pub known_hosts: Vec<PathBuf>,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    pub host_key_policy: HostKeyPolicy,
    /// Environment variable holding the passphrase of encrypted keys.
    pub passphrase_env: String,
    /// Hosts tunnelled over one login to a bastion before another is made.
    pub bastion_channels: usize,
}

#[derive(Clone, Debug)]
pub struct Host {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Groups this host belongs to, in inventory order.
    pub groups: Vec<String>,
    /// Inventory, group and host vars merged by precedence (not yet rendered).
    pub vars: Vars,
    /// Its own SSH settings (`ssh_config`, host entry), over the inventory's.
    pub ssh: super::HostSsh,
    /// Where address, port, user and each SSH setting came from.
    pub ssh_origin: super::ssh_config::SshOrigin,
    /// `deploy: false` (host or group): deploy, rollback, promote, verify,
    /// status and history never select it; it stays reachable.
    pub deploy: bool,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub hosts: Vec<String>,
    pub rollout: Option<RolloutSettings>,
}

#[derive(Clone, Debug)]
pub struct Inventory {
    pub path: PathBuf,
    /// The environment's name: the file stem (`staging` for inventories/staging.yml).
    pub env_name: String,
    pub ssh: SshSettings,
    pub rollout: RolloutSettings,
    pub hosts: Vec<Host>,
    pub groups: Vec<Group>,
    pub min_soak: Option<Duration>,
    pub windows: Vec<Window>,
    pub freezes: Vec<Freeze>,
    pub notify: Option<String>,
    /// `hosts` by name, for [`Inventory::host`].
    by_name: HashMap<String, usize>,
}

impl Inventory {
    pub fn load(path: &Path) -> Result<Inventory, ConfigError> {
        let file: InventoryFile = load_yaml(path)?;
        resolve(path, file)
    }

    /// Parse inventory text that came from `path` (used in errors only).
    pub fn load_from_str(path: &Path, text: &str) -> Result<Inventory, ConfigError> {
        resolve(path, parse_yaml(path, text)?)
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        // By name first (every host's `via:` or `delegate_to:` may name
        // one), checked, since `hosts` is public.
        self.by_name
            .get(name)
            .and_then(|&i| self.hosts.get(i))
            .filter(|h| h.name == name)
            .or_else(|| self.hosts.iter().find(|h| h.name == name))
    }
}

fn resolve(path: &Path, file: InventoryFile) -> Result<Inventory, ConfigError> {
    if file.hosts.is_empty() {
        return Err(ConfigError::new(path, "the inventory has no hosts"));
    }
    validate_rollout(path, "rollout", &file.rollout)?;
    let default_user = controller_user();
    let groups = resolve_groups(path, &file)?;
    let ssh_config = super::ssh_config::for_inventory(path, file.ssh.config.as_ref())?;
    let inv_ssh = inventory_ssh(path, &file.ssh);
    // Each host as ssh_config and the inventory resolve it, before the
    // inventory's `proxy_jump:` chains, whose hops may name these hosts.
    let mut effective = Vec::with_capacity(file.hosts.len());
    for (name, entry) in &file.hosts {
        validate_name(path, "host", name)?;
        let host_entry = super::ssh_config::apply::HostEntry {
            name,
            address: entry.address.as_deref(),
            port: entry.port.map(|p| p.0),
            user: entry.user.as_deref(),
        };
        effective.push(ssh_config.apply(&inv_ssh, &host_entry, &default_user)?);
    }
    let chains = jump_chains(path, &file, &effective, &default_user)?;
    // Each host's groups, in the groups' order, from one pass over them:
    // `Vec::contains` per host and group was O(hosts²) for a group of all.
    let mut groups_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        for h in &g.hosts {
            let at = groups_of.entry(h.as_str()).or_default();
            if at.last() != Some(&i) {
                at.push(i);
            }
        }
    }
    let mut hosts = Vec::with_capacity(file.hosts.len());
    for (((name, entry), mut effective), chain) in file.hosts.iter().zip(effective).zip(chains) {
        if let Some((chain, origin)) = chain {
            effective.ssh.jumps = chain;
            effective.origin.jumps = origin;
        }
        let member_of: Vec<&Group> = groups_of
            .get(name.as_str())
            .map(|at| at.iter().map(|&i| &groups[i]).collect())
            .unwrap_or_default();
        let mut vars = file.vars.clone();
        for group in &member_of {
            vars.extend(file.groups[&group.name].vars.clone());
        }
        vars.extend(entry.vars.clone());
        let deploy = entry
            .deploy
            .or_else(|| {
                member_of
                    .iter()
                    .rev()
                    .find_map(|g| file.groups[&g.name].deploy)
            })
            .unwrap_or(true);
        hosts.push(Host {
            name: name.clone(),
            address: effective.address,
            port: effective.port,
            user: effective.user,
            groups: member_of.iter().map(|g| g.name.clone()).collect(),
            vars,
            ssh: effective.ssh,
            ssh_origin: effective.origin,
            deploy,
        });
    }
    Ok(Inventory {
        path: path.to_path_buf(),
        env_name: env_name(path),
        ssh: resolve_ssh(&file.ssh),
        rollout: file.rollout,
        by_name: hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.clone(), i))
            .collect(),
        hosts,
        groups,
        min_soak: file.min_soak.map(|s| s.0),
        windows: file
            .windows
            .iter()
            .map(|w| Window::parse(w).map_err(|e| ConfigError::new(path, e)))
            .collect::<Result<_, _>>()?,
        freezes: file
            .freezes
            .iter()
            .map(|f| freeze(path, f))
            .collect::<Result<_, _>>()?,
        notify: file.notify.clone(),
    })
}

fn freeze(path: &Path, f: &FreezeFile) -> Result<Freeze, ConfigError> {
    let date = |d: &str| {
        d.parse().map_err(|_| {
            ConfigError::new(
                path,
                format!("freeze `{}`: invalid date `{d}` (use YYYY-MM-DD)", f.reason),
            )
        })
    };
    let (from, to) = (date(&f.from)?, date(&f.to)?);
    if from > to {
        return Err(ConfigError::new(
            path,
            format!("freeze `{}`: it ends before it starts", f.reason),
        ));
    }
    Ok(Freeze {
        from,
        to,
        reason: f.reason.clone(),
    })
}

fn resolve_groups(path: &Path, file: &InventoryFile) -> Result<Vec<Group>, ConfigError> {
    let host_names: Vec<&str> = file.hosts.keys().map(String::as_str).collect();
    let mut groups = Vec::with_capacity(file.groups.len());
    for (name, group) in &file.groups {
        validate_name(path, "group", name)?;
        if file.hosts.contains_key(name) {
            return Err(ConfigError::new(
                path,
                format!(
                    "`{name}` is both a host and a group name; patterns could not tell them apart"
                ),
            ));
        }
        if let Some(rollout) = &group.rollout {
            validate_rollout(path, &format!("groups.{name}.rollout"), rollout)?;
        }
        let mut members = Vec::with_capacity(group.hosts.len());
        for host in &group.hosts {
            if !file.hosts.contains_key(&host.value) {
                let hint = if file.groups.contains_key(&host.value) {
                    ": that is a group, and a group lists hosts only (list its hosts here)".into()
                } else {
                    nearest(&host.value, &host_names)
                        .map(|n| format!(", did you mean `{n}`?"))
                        .unwrap_or_default()
                };
                let loc = host.referenced;
                return Err(ConfigError::at(
                    path,
                    loc.line(),
                    loc.column(),
                    format!("group `{name}` lists unknown host `{}`{hint}", host.value),
                ));
            }
            members.push(host.value.clone());
        }
        groups.push(Group {
            name: name.clone(),
            hosts: members,
            rollout: group.rollout.clone(),
        });
    }
    Ok(groups)
}

fn validate_name(path: &Path, what: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            path,
            format!("invalid {what} name `{name}`: use letters, digits, `-`, `_` and `.`"),
        ))
    }
}

fn validate_rollout(path: &Path, at: &str, r: &RolloutSettings) -> Result<(), ConfigError> {
    let zero =
        |a: &Amount| matches!(a, Amount::Count(0)) || matches!(a, Amount::Percent(p) if *p <= 0.0);
    let batch_zero = match &r.batch {
        Some(BatchSpec::Fixed(a)) => zero(a),
        Some(BatchSpec::Ramp(steps)) => steps.iter().any(zero),
        None => false,
    };
    if batch_zero {
        return Err(ConfigError::new(
            path,
            format!("{at}.batch must be at least 1 host"),
        ));
    }
    if r.canary == Some(0) {
        return Err(ConfigError::new(
            path,
            format!("{at}.canary must be at least 1 host (leave it out for no canary)"),
        ));
    }
    Ok(())
}

fn env_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

mod ssh;

use ssh::{controller_user, inventory_ssh, jump_chains, resolve_ssh};

#[cfg(test)]
mod tests;
