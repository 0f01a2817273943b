//! What `ferry lock`, `ferry unlock` and `rollback --force-unlock` see and
//! remove: the locks found on the hosts, and a removal guarded by the
//! checksum of the info that was inspected.

use super::answer::{marker, parse_answer, shown, Answer};
use super::{on_hosts, script, status_reason, Context, HashMap, Holder, Host};

/// What [`inspect`] found on a host.
#[derive(Clone, Debug)]
pub enum Found {
    Free,
    Held(Holder),
    /// Could not tell: unreachable, failed, or an answer ferry does not know.
    Unknown(String),
}

/// The locks found on the hosts.
pub async fn inspect(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
) -> Vec<(String, Found)> {
    let scripts = hosts
        .iter()
        .map(|h| (h.name.clone(), script::show(&dirs[&h.name])))
        .collect();
    on_hosts(ctx, hosts, scripts)
        .await
        .into_iter()
        .map(|(h, r)| {
            let found = match r {
                Err(status) => Found::Unknown(status_reason(&status)),
                // No run id is `@@taken` by a show.
                Ok(out) => match parse_answer(&out, "") {
                    Answer::Free => Found::Free,
                    Answer::Held(holder) => Found::Held(holder),
                    _ => Found::Unknown(format!("unrecognised answer: {}", shown(&out))),
                },
            };
            (h.name, found)
        })
        .collect()
}

/// What [`remove`] did on a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removed {
    Removed,
    /// The lock changed since it was inspected: left alone.
    Changed,
    /// No lock any more.
    Gone,
    Failed(String),
}

/// Remove the locks inspected (host → checksum of the info seen), whoever
/// holds them, but only where the lock is still the one inspected.
pub async fn remove(
    ctx: &Context,
    hosts: &[Host],
    dirs: &HashMap<String, String>,
    sums: &HashMap<String, String>,
) -> Vec<(String, Removed)> {
    let hosts: Vec<Host> = hosts
        .iter()
        .filter(|h| sums.contains_key(&h.name))
        .cloned()
        .collect();
    let scripts = hosts
        .iter()
        .map(|h| {
            let s = script::remove_if(&dirs[&h.name], &sums[&h.name]);
            (h.name.clone(), s)
        })
        .collect();
    on_hosts(ctx, &hosts, scripts)
        .await
        .into_iter()
        .map(|(h, r)| {
            let removed = match r {
                Err(status) => Removed::Failed(status_reason(&status)),
                Ok(out) => match marker(&out).map(|(line, _)| line) {
                    Some(script::MARK_REMOVED) => Removed::Removed,
                    Some(script::MARK_CHANGED) => Removed::Changed,
                    Some(script::MARK_GONE) => Removed::Gone,
                    _ => Removed::Failed(format!("unrecognised answer: {}", shown(&out))),
                },
            };
            (h.name, removed)
        })
        .collect()
}
