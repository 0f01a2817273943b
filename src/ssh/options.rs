//! One connection's settings: a host's own (`Target.ssh`, from its
//! `ssh_config`) over the inventory's. Client configs and `known_hosts`
//! files are shared by every host that asks for the same ones.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client;

use super::known_hosts::KnownHosts;
use super::{Connector, SshError};
use crate::config::{HostKeyPolicy, HostSsh, SshSettings};

/// The inventory's keepalive count: 3 unanswered keepalives give a host up.
pub(super) const KEEPALIVE_COUNT: usize = 3;

/// Client configs by keepalive (interval, count), `known_hosts` sets by
/// their files: built on first use, then shared.
pub(super) struct Shared {
    /// The inventory's settings, to build variants of its client config.
    settings: SshSettings,
    configs: Mutex<HashMap<(Duration, usize), Arc<client::Config>>>,
    known_hosts: Mutex<HashMap<Vec<PathBuf>, Arc<KnownHosts>>>,
}

impl Shared {
    pub(super) fn new(settings: &SshSettings) -> Shared {
        Shared {
            settings: settings.clone(),
            configs: Mutex::default(),
            known_hosts: Mutex::default(),
        }
    }
}

/// What one connection uses.
pub(super) struct HostOptions {
    pub(super) config: Arc<client::Config>,
    pub(super) known_hosts: Arc<KnownHosts>,
    pub(super) policy: HostKeyPolicy,
    pub(super) connect_timeout: Duration,
}

impl Connector {
    /// `ssh` over the inventory's settings, for a host (or a jump hop)
    /// at `address` (named in errors).
    pub(super) fn host_options(
        &self,
        ssh: &HostSsh,
        address: &str,
    ) -> Result<HostOptions, SshError> {
        let keepalive = (
            ssh.keepalive
                .unwrap_or(self.config.keepalive_interval.unwrap_or_default()),
            ssh.keepalive_count
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(self.config.keepalive_max),
        );
        let config = if keepalive
            == (
                self.config.keepalive_interval.unwrap_or_default(),
                self.config.keepalive_max,
            ) {
            self.config.clone()
        } else {
            let mut configs = self.shared.configs.lock().expect("configs lock");
            configs
                .entry(keepalive)
                .or_insert_with(|| {
                    let mut config = super::client_config(&self.shared.settings);
                    config.keepalive_interval = Some(keepalive.0);
                    config.keepalive_max = keepalive.1;
                    Arc::new(config)
                })
                .clone()
        };
        let known_hosts = if ssh.known_hosts.is_empty() {
            self.known_hosts.clone()
        } else {
            let mut sets = self.shared.known_hosts.lock().expect("known_hosts lock");
            if let Some(set) = sets.get(&ssh.known_hosts) {
                set.clone()
            } else {
                let set = Arc::new(KnownHosts::load(&ssh.known_hosts).map_err(|e| {
                    SshError::Connect {
                        address: address.to_string(),
                        reason: e.to_string(),
                    }
                })?);
                sets.insert(ssh.known_hosts.clone(), set.clone());
                set
            }
        };
        Ok(HostOptions {
            config,
            known_hosts,
            policy: ssh.host_key_policy.unwrap_or(self.policy),
            connect_timeout: ssh.connect_timeout.unwrap_or(self.connect_timeout),
        })
    }
}
