//! Read each host's release state: with the run's lock in one round trip,
//! or alone (status, history).

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Host;
use crate::executor::HostStatus;
use crate::release::HostState;
use crate::steps::release::{self as script, parse_state};

use super::Context;

/// The state-reading script of every host, by host name.
pub(super) fn inspect_scripts(
    hosts: &[Host],
    dirs: &HashMap<String, String>,
) -> HashMap<String, String> {
    hosts
        .iter()
        .map(|h| (h.name.clone(), script::inspect(&dirs[&h.name])))
        .collect()
}

/// What a command knows of its hosts before it reads their states.
#[derive(Clone, Debug, Default)]
pub enum Known {
    /// Nothing, and nothing is locked: every host is asked (status, history).
    #[default]
    Unlocked,
    /// A run's lock (see [`crate::lock::Read`]): a host missing here or not
    /// locked is reported, never asked, so never changed.
    Locked(HashMap<String, crate::lock::Read>),
}

/// Take the environment's lock (a run's, with a lease) and read every
/// locked host's state in the same round trip.
pub async fn lock_and_read_state(
    ctx: &Arc<Context>,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    info: crate::lock::LockInfo,
    wait: Option<std::time::Duration>,
) -> Result<(crate::lock::LockGuard, Known), crate::lock::LockError> {
    // Every host's connection at once: a host that does not answer costs
    // one connect timeout, alongside the others.
    ctx.executor.connect_all(hosts, None).await;
    let scripts = inspect_scripts(hosts, dirs);
    let hold = crate::lock::Hold::Leased;
    let (guard, reads) =
        crate::lock::acquire_then(ctx, hosts, dirs, info, hold, wait, &scripts).await?;
    Ok((guard, Known::Locked(reads)))
}

/// Every host's release state, in inventory order. Under a lock, outputs
/// of the inspect script already read with it are used, a locked host whose
/// read failed is asked again, and a host not locked is reported as such.
pub async fn inspect(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    known: &Known,
) -> Vec<(Host, Result<HostState, HostStatus>)> {
    use crate::lock::Read;
    let mut given: HashMap<String, Result<HostState, HostStatus>> = HashMap::new();
    let mut unknown = Vec::new();
    for host in hosts {
        let read = match known {
            Known::Unlocked => None,
            Known::Locked(reads) => Some(reads.get(&host.name)),
        };
        match read {
            None | Some(Some(Read::Locked(None))) => unknown.push(host.clone()),
            Some(Some(Read::Locked(Some(out)))) => {
                given.insert(host.name.clone(), Ok(parse_state(out)));
            }
            Some(Some(Read::NotLocked(status))) => {
                given.insert(host.name.clone(), Err(not_locked(status.clone())));
            }
            Some(None) => {
                let status = HostStatus::Unreachable("not reached".into());
                given.insert(host.name.clone(), Err(not_locked(status)));
            }
        }
    }
    let asked = ctx
        .executor
        .script_each(
            &unknown,
            ctx.forks,
            "inspect",
            inspect_scripts(&unknown, dirs),
        )
        .await
        .into_iter()
        .map(|(host, out)| (host.name, out.map(|o| parse_state(&o))));
    given.extend(asked);
    hosts
        .iter()
        .map(|h| {
            let state = given
                .remove(&h.name)
                .unwrap_or_else(|| Err(HostStatus::Unreachable("no answer".into())));
            (h.clone(), state)
        })
        .collect()
}

/// A host the run did not lock: why, so the report says it was not changed.
fn not_locked(status: HostStatus) -> HostStatus {
    match status {
        HostStatus::Unreachable(reason) => HostStatus::Unreachable(format!(
            "{reason} (while taking the lock: not locked, not changed)"
        )),
        HostStatus::Failed(mut f) => {
            f.reason = format!("{} (not locked, not changed)", f.reason);
            HostStatus::Failed(f)
        }
        HostStatus::Ok => HostStatus::Unreachable("not locked, not changed".into()),
    }
}
