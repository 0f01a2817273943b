//! `ferry status`: what runs where, read from the hosts themselves.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use crate::deploy;
use crate::executor::HostStatus;
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::lock::{self, Found, Holder};
use crate::release::HostState;
use crate::settings::{OutputFormat, StatusSettings};

use super::release_context;

#[derive(Serialize)]
struct HostLine {
    host: String,
    current: Option<String>,
    previous: Option<String>,
    sha256: Option<String>,
    deployed_by: Option<String>,
    deployed_at: Option<String>,
    /// The newest health result of `current` (`ok`, `failed`; none: unchecked).
    health: Option<String>,
    /// When `current` last moved to where it is (a deploy's switch or a
    /// rollback), from the host's history.
    switched_at: Option<String>,
    /// A promoted release: the environment and the run it came from.
    source_env: Option<String>,
    source_run: Option<String>,
    /// The environment's lock on this host, if held.
    lock: Option<LockLine>,
    error: Option<String>,
}

/// A lock as `status` shows it: who, which run, since when, why, and until
/// when its lease runs (`None`: a manual lock, until `ferry unlock`).
#[derive(Clone, Serialize, PartialEq, Eq)]
struct LockLine {
    holder: String,
    run_id: Option<String>,
    since: Option<String>,
    reason: Option<String>,
    lease_until: Option<String>,
    /// The lease has expired by the host's clock: the holder is gone.
    stale: bool,
}

impl LockLine {
    fn new(holder: &Holder) -> LockLine {
        match &holder.info {
            Ok(info) => LockLine {
                holder: info.holder.clone(),
                run_id: Some(info.run_id.clone()),
                since: Some(info.since.clone()),
                reason: Some(info.reason.clone()).filter(|r| !r.is_empty()),
                lease_until: info.lease_until.map(|secs| {
                    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
                    humantime::format_rfc3339_seconds(at).to_string()
                }),
                stale: holder.is_stale(),
            },
            Err(_) => LockLine {
                holder: holder.describe(),
                run_id: None,
                since: None,
                reason: None,
                lease_until: None,
                stale: false,
            },
        }
    }

    /// "alice@ci (run R) since T, reason: X; lease until T2" (or "lease
    /// expired at T2 (the holder is gone)", or "manual: until `ferry unlock`").
    fn describe(&self) -> String {
        let mut text = crate::report::one_line(&self.holder);
        let field = |v: &Option<String>| v.as_deref().map(crate::report::one_line);
        if let Some(run) = field(&self.run_id) {
            let _ = write!(text, " (run {run})");
        }
        if let Some(since) = field(&self.since) {
            let _ = write!(text, " since {since}");
        }
        if let Some(reason) = field(&self.reason) {
            let _ = write!(text, ", reason: {reason}");
        }
        match (&self.lease_until, self.stale) {
            (Some(until), false) => {
                let _ = write!(text, "; lease until {until}");
            }
            (Some(until), true) => {
                let _ = write!(text, "; lease expired at {until} (the holder is gone)");
            }
            (None, _) if self.run_id.is_some() => text.push_str("; manual: until `ferry unlock`"),
            (None, _) => {}
        }
        text
    }
}

impl HostLine {
    fn new(host: &str, state: &Result<HostState, HostStatus>) -> HostLine {
        let mut line = HostLine {
            host: host.to_string(),
            current: None,
            previous: None,
            sha256: None,
            deployed_by: None,
            deployed_at: None,
            health: None,
            switched_at: None,
            source_env: None,
            source_run: None,
            lock: None,
            error: None,
        };
        match state {
            Ok(state) => {
                line.current = state.current.as_ref().map(ToString::to_string);
                line.previous = state.previous().map(|r| r.to_string());
                line.health = state.current_health().map(|o| o.to_string());
                line.switched_at = state.last_switch().map(|e| e.at.clone());
                if let Some(meta) = &state.current_meta {
                    line.sha256 = Some(meta.sha256.to_string());
                    line.deployed_by = Some(meta.deployed_by.clone());
                    line.deployed_at = Some(meta.deployed_at.clone());
                    line.source_env.clone_from(&meta.source_env);
                    line.source_run.clone_from(&meta.source_run);
                }
            }
            Err(HostStatus::Unreachable(reason)) => {
                line.error = Some(format!("unreachable: {reason}"));
            }
            Err(HostStatus::Failed(f)) => line.error = Some(f.reason.clone()),
            Err(HostStatus::Ok) => {}
        }
        line
    }
}

pub(super) async fn status(args: StatusSettings) -> Result<ExitStatus, Failure> {
    let (ctx, hosts) = release_context(&args.common, None)?;
    let dirs = deploy::deploy_dirs(&ctx, &hosts)?;
    let states = deploy::inspect(&ctx, &hosts, &dirs, &deploy::Known::default()).await;
    let mut locks: HashMap<String, LockLine> = lock::inspect(&ctx, &hosts, &dirs)
        .await
        .into_iter()
        .filter_map(|(host, found)| match found {
            Found::Held(holder) => Some((host, LockLine::new(&holder))),
            Found::Free | Found::Unknown(_) => None,
        })
        .collect();
    ctx.executor.close_all().await;
    let printer = ctx.executor.printer();
    let lines: Vec<HostLine> = states
        .iter()
        .map(|(h, s)| HostLine {
            lock: locks.remove(&h.name),
            ..HostLine::new(&h.name, s)
        })
        .collect();
    let drift = drift_summary(&lines);
    match args.output {
        OutputFormat::Json => printer.out(
            &serde_json::to_string(&serde_json::json!({
                "schema": "ferry.status/1",
                "env": ctx.inventory.env_name,
                "hosts": lines,
                "summary": drift,
            }))
            .map_err(anyhow::Error::from)?,
        ),
        OutputFormat::Human => {
            printer.out(&format!(
                "{:<14} {:<28} {:<28} {:<8} {:<21} {}",
                "HOST", "CURRENT", "PREVIOUS", "HEALTH", "SWITCHED", "BY"
            ));
            for l in &lines {
                // Fields read from the host: one line each, escaped.
                let dash = |v: &Option<String>| {
                    v.as_deref()
                        .map_or_else(|| "-".into(), crate::report::one_line)
                };
                match &l.error {
                    Some(e) => printer.out(&format!("{:<14} {e}", l.host)),
                    None => printer.out_painted(&format!(
                        "{:<14} {:<28} {:<28} {:<8} {:<21} {}{}",
                        l.host,
                        dash(&l.current),
                        dash(&l.previous),
                        dash(&l.health),
                        dash(&l.switched_at),
                        dash(&l.deployed_by),
                        super::history::lineage(l.source_env.as_deref(), l.source_run.as_deref()),
                    )),
                }
            }
            for (lock, hosts) in lock_groups(&lines) {
                printer.out(&format!(
                    "locked on {}: {}",
                    hosts.join(", "),
                    lock.describe()
                ));
            }
            printer.note(&drift.text);
        }
    }
    let all_read = lines.iter().all(|l| l.error.is_none());
    Ok(if all_read {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    })
}

/// Hosts that hold the same lock, together, in host order.
fn lock_groups(lines: &[HostLine]) -> Vec<(&LockLine, Vec<&str>)> {
    let mut groups: Vec<(&LockLine, Vec<&str>)> = Vec::new();
    for l in lines {
        let Some(lock) = &l.lock else { continue };
        match groups.iter_mut().find(|(g, _)| *g == lock) {
            Some((_, hosts)) => hosts.push(&l.host),
            None => groups.push((lock, vec![&l.host])),
        }
    }
    groups
}

#[derive(Serialize)]
struct Drift {
    /// Release → hosts on it; `(none)` for hosts with nothing deployed.
    releases: BTreeMap<String, Vec<String>>,
    unreachable: Vec<String>,
    text: String,
}

/// "38 hosts on r42, 2 on r41: web7, web9; 1 unreachable: web3".
fn drift_summary(lines: &[HostLine]) -> Drift {
    let mut releases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unreachable = Vec::new();
    for l in lines {
        match (&l.error, &l.current) {
            (Some(_), _) => unreachable.push(l.host.clone()),
            (None, current) => releases
                .entry(current.clone().unwrap_or_else(|| "(none)".into()))
                .or_default()
                .push(l.host.clone()),
        }
    }
    let mut groups: Vec<(&String, &Vec<String>)> = releases.iter().collect();
    groups.sort_by_key(|(_, hosts)| std::cmp::Reverse(hosts.len()));
    let mut parts = Vec::new();
    for (i, (release, hosts)) in groups.iter().enumerate() {
        let noun = if hosts.len() == 1 { "host" } else { "hosts" };
        parts.push(if i == 0 {
            format!("{} {noun} on {release}", hosts.len())
        } else {
            format!("{} on {release}: {}", hosts.len(), hosts.join(", "))
        });
    }
    let mut text = parts.join(", ");
    if !unreachable.is_empty() {
        let _ = write!(
            text,
            "; {} unreachable: {}",
            unreachable.len(),
            unreachable.join(", ")
        );
    }
    Drift {
        releases,
        unreachable,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::LockInfo;

    /// Each kind of lock → its line in `status`, by table.
    #[test]
    fn each_lock_says_who_why_and_until_when() {
        let info = |lease_until: Option<u64>, reason: &str| {
            Ok(LockInfo {
                holder: "alice@ci".into(),
                run_id: "run-1".into(),
                since: "2026-12-01T05:00:00Z".into(),
                reason: reason.into(),
                lease_until,
            })
        };
        let cases = [
            (
                info(Some(4_102_444_800), "deploy r2"),
                "alice@ci (run run-1) since 2026-12-01T05:00:00Z, reason: deploy r2; lease until 2100-01-01T00:00:00Z",
            ),
            (
                info(Some(1), ""),
                "alice@ci (run run-1) since 2026-12-01T05:00:00Z; lease expired at 1970-01-01T00:00:01Z (the holder is gone)",
            ),
            (
                info(None, "freeze\nfor launch"),
                "alice@ci (run run-1) since 2026-12-01T05:00:00Z, reason: freeze\\u000afor launch; manual: until `ferry unlock`",
            ),
            (
                Err(String::new()),
                "a holder ferry cannot name: its info.json is unreadable (empty); `ferry unlock --force` removes it",
            ),
        ];
        for (info, want) in cases {
            let holder = Holder {
                info,
                host_now: Some(1_764_565_200),
                sum: String::new(),
            };
            assert_eq!(LockLine::new(&holder).describe(), want);
        }
    }
}
