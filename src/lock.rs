//! Environment locks: a deploy, promote or rollback holds
//! `<deploy_to>/.ferry/lock` on every target host before it changes anything.
//! A run's lock carries a lease renewed while it lives, so a lock left by a
//! killed controller is recognisably stale; a manual lock (`ferry lock`) has
//! none and stays until `ferry unlock`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::Host;
use crate::deploy::Context;
use crate::executor::HostStatus;
use crate::steps::lock as script;

/// How long a lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockInfo {
    pub holder: String,
    pub run_id: String,
    pub since: String,
    pub reason: String,
    /// Unix seconds; `None` for a manual lock, which never goes stale.
    #[serde(default)]
    pub lease_until: Option<u64>,
}

impl LockInfo {
    pub fn is_stale(&self, now: u64) -> bool {
        self.lease_until.is_some_and(|until| until < now)
    }

    fn describe(&self) -> String {
        let reason = if self.reason.is_empty() {
            String::new()
        } else {
            format!(", reason: {}", self.reason)
        };
        format!(
            "{} (run {}) since {}{reason}",
            self.holder, self.run_id, self.since
        )
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("environment `{env}` is locked by {info} on {hosts}{}", if *.stale { "; its lease has expired: the holder is gone (`ferry unlock --force` clears it)" } else { "" })]
    Held {
        env: String,
        info: String,
        hosts: String,
        stale: bool,
    },
}

/// A held lock; renews its lease until released.
pub struct LockGuard {
    run_id: String,
    renewer: tokio::task::JoinHandle<()>,
}

fn info_json(info: &LockInfo) -> String {
    serde_json::to_string(info).expect("plain data")
}

async fn on_hosts(
    ctx: &Context,
    hosts: &[Host],
    scripts: HashMap<String, String>,
) -> Vec<(Host, Result<String, String>)> {
    ctx.executor
        .script_each(hosts, ctx.forks, "lock", scripts)
        .await
        .into_iter()
        .map(|(h, r)| {
            let r = r.map_err(|status| match status {
                HostStatus::Unreachable(reason) => reason,
                HostStatus::Failed(f) => f.reason,
                HostStatus::Ok => String::new(),
            });
            (h, r)
        })
        .collect()
}

/// Take the lock on every host, waiting up to `wait` for another holder.
pub async fn acquire(
    ctx: &Arc<Context>,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    info: LockInfo,
    wait: Option<Duration>,
) -> Result<LockGuard, LockError> {
    acquire_then(ctx, hosts, dirs, info, wait, &HashMap::new())
        .await
        .map(|(guard, _)| guard)
}

/// [`acquire`], running each host's script of `then` in the same round trip
/// once its lock is taken; returns their outputs (host → stdout). A host
/// missing from the outputs was not reached.
pub async fn acquire_then(
    ctx: &Arc<Context>,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    mut info: LockInfo,
    wait: Option<Duration>,
    then: &HashMap<String, String>,
) -> Result<(LockGuard, HashMap<String, String>), LockError> {
    let deadline = tokio::time::Instant::now() + wait.unwrap_or_default();
    let leased = info.lease_until.is_some();
    let outputs = loop {
        if leased {
            info.lease_until = Some(unix_now() + LEASE.as_secs());
        }
        match try_acquire(ctx, hosts, dirs, &info, then).await {
            Ok(outputs) => break outputs,
            Err(LockError::Held { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let renewer = if !leased {
        tokio::spawn(async {})
    } else {
        let (ctx, hosts, dirs, info) = (ctx.clone(), hosts.to_vec(), dirs.clone(), info.clone());
        tokio::spawn(async move {
            let mut info = info;
            loop {
                tokio::time::sleep(LEASE / 3).await;
                info.lease_until = Some(unix_now() + LEASE.as_secs());
                let json = info_json(&info);
                let scripts = hosts
                    .iter()
                    .map(|h| {
                        (
                            h.name.clone(),
                            script::renew(&dirs[&h.name], &info.run_id, &json),
                        )
                    })
                    .collect();
                on_hosts(&ctx, &hosts, scripts).await;
            }
        })
    };
    let guard = LockGuard {
        run_id: info.run_id,
        renewer,
    };
    Ok((guard, outputs))
}

async fn try_acquire(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    info: &LockInfo,
    then: &HashMap<String, String>,
) -> Result<HashMap<String, String>, LockError> {
    let json = info_json(info);
    let scripts = hosts
        .iter()
        .map(|h| {
            let then = then.get(&h.name).map(String::as_str);
            (h.name.clone(), script::acquire(&dirs[&h.name], &json, then))
        })
        .collect();
    let mut taken = Vec::new();
    let mut outputs = HashMap::new();
    let mut held: Vec<(String, LockInfo)> = Vec::new();
    for (host, result) in on_hosts(ctx, hosts, scripts).await {
        match result {
            Ok(out) if out.contains(script::MARK_TAKEN) => {
                let after = out.split_once(script::MARK_TAKEN).map_or("", |(_, a)| a);
                // A failed `then` is left to its own round trip, which reports it.
                if !after.contains(script::MARK_THEN_FAILED) {
                    outputs.insert(
                        host.name.clone(),
                        after.trim_start_matches('\n').to_string(),
                    );
                }
                taken.push(host);
            }
            Ok(out) => {
                let other = out
                    .lines()
                    .find_map(|l| l.strip_prefix(script::MARK_HELD))
                    .and_then(|j| serde_json::from_str::<LockInfo>(j).ok())
                    .unwrap_or(LockInfo {
                        holder: "unknown".into(),
                        run_id: "?".into(),
                        since: "?".into(),
                        reason: String::new(),
                        lease_until: None,
                    });
                held.push((host.name.clone(), other));
            }
            // An unreachable host cannot be changed either: the run reports it.
            Err(_) => {}
        }
    }
    if held.is_empty() {
        return Ok(outputs);
    }
    // All or nothing: give back what was taken.
    let scripts = taken
        .iter()
        .map(|h| {
            (
                h.name.clone(),
                script::release(&dirs[&h.name], Some(&info.run_id)),
            )
        })
        .collect();
    on_hosts(ctx, &taken, scripts).await;
    let now = unix_now();
    Err(LockError::Held {
        env: ctx.inventory.env_name.clone(),
        info: held[0].1.describe(),
        hosts: held
            .iter()
            .map(|(h, _)| h.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        stale: held.iter().all(|(_, i)| i.is_stale(now)),
    })
}

impl LockGuard {
    /// Leave the lock in place with no lease (a manual lock).
    pub fn keep(self) {
        self.renewer.abort();
    }

    pub async fn release(self, ctx: &Context, hosts: &[Host], dirs: &HashMap<String, String>) {
        self.renewer.abort();
        let scripts = hosts
            .iter()
            .map(|h| {
                (
                    h.name.clone(),
                    script::release(&dirs[&h.name], Some(&self.run_id)),
                )
            })
            .collect();
        on_hosts(ctx, hosts, scripts).await;
    }
}

/// The locks found on the hosts: host → info.
pub async fn inspect(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
) -> Vec<(String, Option<LockInfo>)> {
    let scripts = hosts
        .iter()
        .map(|h| (h.name.clone(), script::show(&dirs[&h.name])))
        .collect();
    on_hosts(ctx, hosts, scripts)
        .await
        .into_iter()
        .map(|(h, r)| {
            let info = r.ok().and_then(|out| {
                out.lines()
                    .find_map(|l| l.strip_prefix(script::MARK_HELD))
                    .and_then(|j| serde_json::from_str::<LockInfo>(j).ok())
            });
            (h.name, info)
        })
        .collect()
}

/// Remove the lock on every host, whoever holds it.
pub async fn remove(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
) -> Vec<(String, Result<String, String>)> {
    let scripts = hosts
        .iter()
        .map(|h| (h.name.clone(), script::release(&dirs[&h.name], None)))
        .collect();
    on_hosts(ctx, hosts, scripts)
        .await
        .into_iter()
        .map(|(h, r)| (h.name, r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_goes_stale_a_manual_lock_never() {
        let mut info = LockInfo {
            holder: "ci@runner".into(),
            run_id: "r".into(),
            since: "t".into(),
            reason: String::new(),
            lease_until: Some(100),
        };
        assert!(!info.is_stale(99));
        assert!(info.is_stale(101));
        info.lease_until = None;
        assert!(!info.is_stale(u64::MAX));
    }
}
