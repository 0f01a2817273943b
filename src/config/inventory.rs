//! The inventory: one environment's hosts, groups, vars, SSH and rollout
//! settings, read from `inventories/<env>.yml`.
//!
//! Var precedence, lowest first: playbook `vars`, inventory `vars`, group
//! `vars` (groups in inventory order, later wins), host `vars`, `-e key=value`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::proxy_jump;
use super::source::{load_yaml, nearest, parse_yaml, ConfigError};
use super::values::{Amount, BatchSpec, Span};
use super::Vars;
use crate::window::{Freeze, Window};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
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
    port: Option<u16>,
    #[serde(default)]
    identity_files: Vec<String>,
    known_hosts: Option<String>,
    connect_timeout: Option<Span>,
    keepalive: Option<Span>,
    host_key_policy: Option<HostKeyPolicy>,
    passphrase_env: Option<String>,
    /// `ProxyJump` for every host (see `proxy_jump.rs`).
    proxy_jump: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostFile {
    address: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    /// Over the `ssh:` block's; `none`: straight to the host.
    proxy_jump: Option<Spanned<String>>,
    #[serde(default)]
    vars: Vars,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    #[serde(default)]
    hosts: Vec<Spanned<String>>,
    #[serde(default)]
    vars: Vars,
    rollout: Option<RolloutSettings>,
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
        self.hosts.iter().find(|h| h.name == name)
    }
}

fn resolve(path: &Path, file: InventoryFile) -> Result<Inventory, ConfigError> {
    if file.hosts.is_empty() {
        return Err(ConfigError::new(path, "the inventory has no hosts"));
    }
    validate_rollout(path, "rollout", &file.rollout)?;
    let default_user = file.ssh.user.clone().unwrap_or_else(controller_user);
    let default_port = file.ssh.port.unwrap_or(22);
    let groups = resolve_groups(path, &file)?;
    let known = file.hosts.iter().map(|(name, e)| proxy_jump::Known {
        name,
        address: e.address.as_deref().unwrap_or(name),
        port: e.port.unwrap_or(default_port),
        user: e.user.as_deref().unwrap_or(&default_user),
    });
    let jumps = proxy_jump::Chains::new(
        path,
        file.ssh.proxy_jump.as_ref(),
        known.collect(),
        &default_user,
    )?;

    let mut hosts = Vec::with_capacity(file.hosts.len());
    for (name, entry) in &file.hosts {
        validate_name(path, "host", name)?;
        let port = entry.port.unwrap_or(default_port);
        if port == 0 {
            return Err(ConfigError::new(
                path,
                format!("host `{name}`: invalid port 0"),
            ));
        }
        let member_of: Vec<&Group> = groups.iter().filter(|g| g.hosts.contains(name)).collect();
        let mut vars = file.vars.clone();
        for group in &member_of {
            vars.extend(file.groups[&group.name].vars.clone());
        }
        vars.extend(entry.vars.clone());
        hosts.push(Host {
            name: name.clone(),
            address: entry.address.clone().unwrap_or_else(|| name.clone()),
            port,
            user: entry.user.clone().unwrap_or_else(|| default_user.clone()),
            groups: member_of.iter().map(|g| g.name.clone()).collect(),
            vars,
            ssh: super::HostSsh {
                jumps: jumps
                    .for_host(name, entry.proxy_jump.as_ref())?
                    .unwrap_or_default(),
                ..super::HostSsh::default()
            },
        });
    }
    Ok(Inventory {
        path: path.to_path_buf(),
        env_name: env_name(path),
        ssh: resolve_ssh(&file.ssh),
        rollout: file.rollout,
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
                let hint = nearest(&host.value, &host_names)
                    .map(|n| format!(", did you mean `{n}`?"))
                    .unwrap_or_default();
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

fn resolve_ssh(file: &SshFile) -> SshSettings {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let identity_files = if file.identity_files.is_empty() {
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|k| home.join(".ssh").join(k))
            .collect()
    } else {
        file.identity_files
            .iter()
            .map(|p| expand_home(p, &home))
            .collect()
    };
    let user_known_hosts = file
        .known_hosts
        .as_deref()
        .map_or_else(|| home.join(".ssh/known_hosts"), |p| expand_home(p, &home));
    SshSettings {
        identity_files,
        known_hosts: vec![user_known_hosts, PathBuf::from("/etc/ssh/ssh_known_hosts")],
        connect_timeout: file
            .connect_timeout
            .map_or(Duration::from_secs(10), |s| s.0),
        // A peer that stops answering is given up after 3 unanswered
        // keepalives: 15 s by default (issue 12: well under a minute).
        keepalive: file.keepalive.map_or(Duration::from_secs(5), |s| s.0),
        host_key_policy: file.host_key_policy.unwrap_or_default(),
        passphrase_env: file
            .passphrase_env
            .clone()
            .unwrap_or_else(|| "FERRY_KEY_PASSPHRASE".into()),
    }
}

fn expand_home(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(path),
    }
}

fn controller_user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".into())
}

fn env_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(text: &str) -> Result<Inventory, ConfigError> {
        Inventory::load_from_str(Path::new("inventories/test.yml"), text)
    }

    /// A host that stops answering is given up after 3 unanswered
    /// keepalives: 15 s by default, well under a minute (README, SSH).
    #[test]
    fn a_silent_host_is_given_up_within_15_s_by_default() {
        let inv = inventory("hosts:\n  web1: {}\n").unwrap();
        assert_eq!(inv.ssh.keepalive * 3, Duration::from_secs(15));
    }

    #[test]
    fn vars_follow_precedence_host_over_group_over_inventory() {
        let inv = inventory(
            "vars: { a: inv, b: inv, c: inv }\n\
             hosts:\n  web1: { vars: { c: host } }\n  web2: {}\n\
             groups:\n  web: { hosts: [web1, web2], vars: { b: group, c: group } }\n",
        )
        .unwrap();
        let web1 = inv.host("web1").unwrap();
        assert_eq!(web1.vars["a"], "inv");
        assert_eq!(web1.vars["b"], "group");
        assert_eq!(web1.vars["c"], "host");
        assert_eq!(inv.host("web2").unwrap().vars["c"], "group");
        assert_eq!(web1.groups, vec!["web"]);
    }

    #[test]
    fn merge_keys_work() {
        let inv = inventory(
            "hosts:\n  web1: &web { port: 2222, user: app }\n  web2: { <<: *web, address: 127.0.9.2 }\n",
        )
        .unwrap();
        let web2 = inv.host("web2").unwrap();
        assert_eq!(
            (web2.port, web2.user.as_str(), web2.address.as_str()),
            (2222, "app", "127.0.9.2")
        );
    }

    #[test]
    fn duplicate_host_names_are_rejected() {
        let err = inventory("hosts:\n  web1: {}\n  web1: {}\n").unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
        assert_eq!(err.line, Some(3));
    }

    #[test]
    fn unknown_group_member_points_at_it() {
        let err = inventory("hosts:\n  web1: {}\ngroups:\n  web:\n    hosts: [web1, wbe2]\n")
            .unwrap_err();
        assert_eq!(
            err.message,
            "group `web` lists unknown host `wbe2`, did you mean `web1`?"
        );
        assert_eq!(err.line, Some(5));
    }

    #[test]
    fn rollout_typo_suggests_the_key() {
        let err = inventory("rollout:\n  batchsize: 3\nhosts:\n  web1: {}\n").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "unknown key `batchsize` in inventories/test.yml:2:3, did you mean `batch`?"
            ),
            "{err}"
        );
    }

    #[test]
    fn invalid_port_is_an_error() {
        assert!(inventory("hosts:\n  web1: { port: 70000 }\n").is_err());
        let err = inventory("hosts:\n  web1: { port: 0 }\n").unwrap_err();
        assert_eq!(err.message, "host `web1`: invalid port 0");
    }

    #[test]
    fn rollout_settings_parse() {
        let inv = inventory(
            "rollout: { batch: [1, 10%, 50%], canary: 1, max_failures: 10%, pause: 30s }\n\
             hosts:\n  web1: {}\n",
        )
        .unwrap();
        assert_eq!(
            inv.rollout.batch,
            Some(BatchSpec::Ramp(vec![
                Amount::Count(1),
                Amount::Percent(10.0),
                Amount::Percent(50.0)
            ]))
        );
        assert_eq!(inv.rollout.pause, Some(Span(Duration::from_secs(30))));
        assert!(inventory("rollout: { canary: 0 }\nhosts:\n  web1: {}\n").is_err());
    }

    #[test]
    fn proxy_jump_host_entry_overrides_the_ssh_block() {
        let inv = inventory(
            "ssh: { user: deploy, proxy_jump: \"ops@bastion:2222, inner\" }\n\
             hosts:\n  web1: {}\n  web2: { proxy_jump: none }\n  web3: { proxy_jump: bastion }\n\
             \x20 bastion: { address: 127.0.0.9, port: 2200 }\n  inner: { user: app }\n",
        )
        .unwrap();
        let hops = |name: &str| -> Vec<String> {
            inv.host(name)
                .unwrap()
                .ssh
                .jumps
                .iter()
                .map(|j| format!("{}@{}:{}", j.user, j.address, j.port))
                .collect()
        };
        assert_eq!(hops("web1"), ["ops@127.0.0.9:2222", "app@inner:22"]);
        assert!(hops("web2").is_empty());
        assert_eq!(hops("web3"), ["deploy@127.0.0.9:2200"]);
        // The bastion itself is reached directly; `inner` through the bastion.
        assert!(hops("bastion").is_empty());
        assert_eq!(hops("inner"), ["ops@127.0.0.9:2222"]);
    }

    #[test]
    fn a_bad_proxy_jump_names_the_host_and_the_place() {
        let err = inventory("hosts:\n  web1: { proxy_jump: \"ops@\" }\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(
            err.to_string().starts_with(
                "inventories/test.yml:2:23: host `web1`: proxy_jump hop `ops@`: the host name is empty; write `[user@]host[:port]`"
            ),
            "{err}"
        );
        let err = inventory("ssh: { proxy_jump: \"a,,b\" }\nhosts:\n  web1: {}\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("ssh: proxy_jump hop ``: empty hop"),
            "{err}"
        );
    }
}
