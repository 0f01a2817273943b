//! A host's own SSH settings: what its inventory entry or its `ssh_config`
//! says where they differ from the inventory's `ssh:` block. The connector
//! (`ssh/`) applies them; empty or `None` means the inventory's value.

use std::path::PathBuf;
use std::time::Duration;

use super::inventory::HostKeyPolicy;

/// Tunnels (hosts, or the next hop) one bastion connection carries at once.
/// OpenSSH's `MaxSessions` (10 by default) counts session channels only:
/// direct-tcpip channels are not limited by it (measured: see README, SSH).
/// What does bound them is the bastion's sshd process, single-threaded,
/// which relays every byte of every host behind it, and its file
/// descriptors (one socket per tunnel): 64 keeps a large fleet on a few
/// logins while spreading the relaying over a few bastion processes.
pub const BASTION_CHANNELS: usize = 64;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostSsh {
    /// Identity files for this host, tried in order (empty: the inventory's).
    pub identity_files: Vec<PathBuf>,
    /// Only these identity files, never the agent's other keys.
    pub identities_only: bool,
    /// `known_hosts` files for this host (empty: the inventory's).
    pub known_hosts: Vec<PathBuf>,
    pub connect_timeout: Option<Duration>,
    /// Keepalive interval and how many unanswered ones give the host up.
    pub keepalive: Option<Duration>,
    pub keepalive_count: Option<u32>,
    pub host_key_policy: Option<HostKeyPolicy>,
    /// `ProxyJump`: the hops to go through first, outermost first. Empty:
    /// straight to the host.
    pub jumps: Vec<Jump>,
}

/// One hop of a `ProxyJump` chain, resolved: where, as whom, with what keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jump {
    /// As written (`bastion`, `ops@bastion:2222`): for messages.
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// The hop's own settings (its `jumps` are always empty: the chain is
    /// the host's list).
    pub ssh: HostSsh,
}
