//! The inventory's `ssh:` settings resolved for the controller: home paths
//! expanded, `ssh_config` applied, and each host's chain of jump hosts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{InventoryFile, SshFile, SshSettings};
use crate::config::proxy_jump;
use crate::config::source::ConfigError;
use crate::config::ssh_config::apply::Origin;

pub(super) fn resolve_ssh(file: &SshFile) -> SshSettings {
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
        // keepalives, about 4 intervals after its last word: 20 s by default
        // (issue 12: well under a minute).
        keepalive: file.keepalive.map_or(Duration::from_secs(5), |s| s.0),
        host_key_policy: file.host_key_policy.unwrap_or_default(),
        passphrase_env: file
            .passphrase_env
            .clone()
            .unwrap_or_else(|| "FERRY_KEY_PASSPHRASE".into()),
        bastion_channels: file
            .bastion_channels
            .and_then(|n| usize::try_from(n.get()).ok())
            .unwrap_or(crate::config::BASTION_CHANNELS),
    }
}

/// What the inventory's `ssh:` sets, for precedence over `ssh_config`.
pub(super) fn inventory_ssh(
    path: &Path,
    file: &SshFile,
) -> crate::config::ssh_config::apply::InventorySsh {
    crate::config::ssh_config::apply::InventorySsh {
        path: path.to_path_buf(),
        user: file.user.clone(),
        port: file.port.map(|p| p.0),
        identity_files: !file.identity_files.is_empty(),
        known_hosts: file.known_hosts.is_some(),
        connect_timeout: file.connect_timeout.is_some(),
        keepalive: file.keepalive.is_some(),
        host_key_policy: file.host_key_policy.is_some(),
        allow_no_check: file.allow_strict_host_key_checking_no,
    }
}

fn expand_home(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(path),
    }
}

/// A host's `ProxyJump` hops and where they were written.
type Chain = (Vec<crate::config::Jump>, Origin);

/// Each host's chain from the inventory's `proxy_jump:` (host entry, else
/// the `ssh:` block), with where it came from; `None`: the inventory says
/// nothing (`ssh_config`'s then stands). A hop naming an inventory host
/// goes where that host does, with its settings.
pub(super) fn jump_chains(
    path: &Path,
    file: &InventoryFile,
    effective: &[crate::config::ssh_config::apply::Effective],
    default_user: &str,
) -> Result<Vec<Option<Chain>>, ConfigError> {
    let known = file
        .hosts
        .keys()
        .zip(effective)
        .map(|(name, e)| proxy_jump::Known {
            name,
            address: &e.address,
            port: e.port,
            user: &e.user,
            ssh: Some(&e.ssh),
        });
    let jumps = proxy_jump::Chains::new(
        path,
        file.ssh.proxy_jump.as_ref(),
        known.collect(),
        default_user,
    )?;
    let mut chains = Vec::with_capacity(file.hosts.len());
    for (name, entry) in &file.hosts {
        let chain = jumps.for_host(name, entry.proxy_jump.as_ref())?;
        let origin = if entry.proxy_jump.is_some() {
            Origin::HostEntry
        } else {
            Origin::Inventory(path.to_path_buf())
        };
        chains.push(chain.map(|c| (c, origin)));
    }
    Ok(chains)
}

pub(super) fn controller_user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".into())
}
