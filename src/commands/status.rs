//! `ferry status`: what runs where, read from the hosts themselves.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::deploy;
use crate::executor::HostStatus;
use crate::exit::ExitStatus;
use crate::failure::Failure;
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
    error: Option<String>,
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
            error: None,
        };
        match state {
            Ok(state) => {
                line.current = state.current.as_ref().map(ToString::to_string);
                line.previous = state.previous().map(|r| r.to_string());
                line.health = state.current_health().map(|o| o.to_string());
                if let Some(meta) = &state.current_meta {
                    line.sha256 = Some(meta.sha256.to_string());
                    line.deployed_by = Some(meta.deployed_by.clone());
                    line.deployed_at = Some(meta.deployed_at.clone());
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
    ctx.executor.close_all().await;
    let printer = ctx.executor.printer();
    let lines: Vec<HostLine> = states
        .iter()
        .map(|(h, s)| HostLine::new(&h.name, s))
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
                "{:<14} {:<28} {:<28} {:<8} {:<12} {}",
                "HOST", "CURRENT", "PREVIOUS", "HEALTH", "BY", "AT"
            ));
            for l in &lines {
                // Fields read from the host: one line each, escaped.
                let dash = |v: &Option<String>| {
                    v.as_deref()
                        .map_or_else(|| "-".into(), crate::report::one_line)
                };
                match &l.error {
                    Some(e) => printer.out(&format!("{:<14} {e}", l.host)),
                    None => printer.out(&format!(
                        "{:<14} {:<28} {:<28} {:<8} {:<12} {}",
                        l.host,
                        dash(&l.current),
                        dash(&l.previous),
                        dash(&l.health),
                        dash(&l.deployed_by),
                        dash(&l.deployed_at)
                    )),
                }
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
