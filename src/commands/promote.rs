//! `ferry promote <from> <to>`: ship to `<to>` exactly the release that runs,
//! uniform and healthy, in `<from>`. The artifact comes from the
//! controller's cache, or from a healthy source host over SSH, verified by
//! sha256 before any target host receives it.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::PathBuf;

use anyhow::{anyhow, Context as _};
use std::time::{Duration, SystemTime};

use crate::artifact::{Artifact, Sha256};
use crate::config::Host;
use crate::deploy;
use crate::executor::{sha256_file, HostStatus};
use crate::exit::ExitStatus;
use crate::failure::{Failure, Refusal};
use crate::release::{EventKind, HostState, ReleaseId};
use crate::settings::PromoteSettings;

use super::deploy::ship;
use super::release_context;

/// What runs in the source environment, proven uniform and healthy.
struct Source {
    release: ReleaseId,
    artifact_name: String,
    sha256: Sha256,
    /// A host to fetch the artifact from.
    host: Host,
    deploy_to: String,
    /// When the last source host switched to it.
    since: Option<SystemTime>,
    /// The run that deployed it in the source environment (the first
    /// source host's).
    run_id: String,
}

pub(super) async fn promote(args: PromoteSettings) -> Result<ExitStatus, Failure> {
    let from = &args.source.env;
    let (src_ctx, src_hosts) = release_context(&args.source, args.playbook.as_deref())?;
    let (target, hosts) = release_context(&args.target, args.playbook.as_deref())?;
    super::health_gate::gate(&target, &hosts, &args.ship)?;
    let dirs = deploy::deploy_dirs(&src_ctx, &src_hosts)?;
    let states = deploy::inspect(&src_ctx, &src_hosts, &dirs, &deploy::Known::default()).await;
    let source = uniform_and_healthy(from, &states, &dirs)?;
    if let (Some(min), Some(since)) = (target.inventory.min_soak, source.since) {
        let soaked = SystemTime::now()
            .duration_since(since)
            .unwrap_or(Duration::ZERO);
        if soaked < min {
            return Err(Refusal::NotSoaked {
                release: source.release,
                env: from.clone(),
                soaked: soaked.as_secs(),
                min: min.as_secs(),
                target: target.inventory.env_name.clone(),
            }
            .into());
        }
    }
    let printer = target.executor.printer().clone();
    printer.note(&format!(
        "promoting {} (sha256 {}) from {} to {}",
        source.release,
        &source.sha256[..12],
        from,
        target.inventory.env_name
    ));
    let path = fetch_artifact(&src_ctx, &source).await?;
    src_ctx.executor.close_all().await;
    let mut artifact = Artifact::open(&path)
        .await
        .with_context(|| format!("cannot read artifact {}", path.display()))?;
    if artifact.sha256 != source.sha256 {
        return Err(anyhow!(
            "{} changed after it was verified (sha256 {}, want {})",
            path.display(),
            artifact.sha256,
            source.sha256
        )
        .into());
    }
    artifact.name = source.artifact_name.clone();
    ship(
        target,
        hosts,
        artifact,
        source.release,
        Some(from.clone()),
        Some(source.run_id),
        &args.ship,
    )
    .await
}

/// Every source host on one release id and sha256, whose last health check
/// after its last switch passed; otherwise a refusal naming every problem
/// at once (mixed, unhealthy, unreachable, unreadable), each with its hosts.
fn uniform_and_healthy(
    env: &str,
    states: &[(Host, Result<HostState, HostStatus>)],
    dirs: &std::collections::HashMap<String, String>,
) -> Result<Source, Refusal> {
    let Sorted {
        by_release,
        unreadable,
        unreachable,
    } = sort(states);
    let mut groups: Vec<(&(String, Sha256), &Vec<&str>)> = by_release.iter().collect();
    groups.sort_by_key(|(_, hosts)| std::cmp::Reverse(hosts.len()));
    let mut problems = Vec::new();
    if groups.len() > 1 {
        let (main, _) = groups[0];
        let odd: Vec<String> = groups[1..]
            .iter()
            .map(|((id, sha), hosts)| {
                format!("{} on {id} (sha256 {})", hosts.join(", "), &sha[..12])
            })
            .collect();
        problems.push(Refusal::Mixed {
            env: env.to_string(),
            main: main.0.clone(),
            odd,
        });
    }
    // The release that would be promoted: the one most hosts run; its
    // hosts' health is checked even when others are odd or unreachable.
    let main = match groups.first() {
        Some(((id, _), hosts)) => Some((ReleaseId::parse(id).map_err(Refusal::ReleaseId)?, *hosts)),
        None => None,
    };
    let mut since = None;
    if let Some((release, hosts)) = &main {
        let (unhealthy, switched) = health(states, release, hosts);
        since = switched;
        if !unhealthy.is_empty() {
            problems.push(Refusal::Unhealthy {
                release: release.clone(),
                env: env.to_string(),
                hosts: unhealthy,
            });
        }
    }
    if !unreachable.is_empty() {
        problems.push(Refusal::Unreachable {
            env: env.to_string(),
            hosts: unreachable,
        });
    }
    if !unreadable.is_empty() {
        problems.push(Refusal::Unreadable {
            env: env.to_string(),
            problems: unreadable,
        });
    }
    if problems.len() > 1 {
        return Err(Refusal::Several {
            env: env.to_string(),
            problems,
        });
    }
    if let Some(problem) = problems.pop() {
        return Err(problem);
    }
    let Some((release, hosts)) = main else {
        return Err(Refusal::NoHosts {
            env: env.to_string(),
        });
    };
    let (host, state) = states
        .iter()
        .find(|(h, _)| h.name == hosts[0])
        .expect("a host of the main release");
    let meta = state
        .as_ref()
        .ok()
        .and_then(|s| s.current_meta.clone())
        .expect("checked above");
    Ok(Source {
        release,
        artifact_name: meta.artifact,
        sha256: meta.sha256,
        run_id: meta.run_id,
        host: host.clone(),
        deploy_to: dirs[&host.name].clone(),
        since,
    })
}

/// The source hosts by what they run, and the ones that cannot tell.
struct Sorted<'a> {
    by_release: BTreeMap<(String, Sha256), Vec<&'a str>>,
    unreadable: Vec<String>,
    unreachable: Vec<String>,
}

fn sort(states: &[(Host, Result<HostState, HostStatus>)]) -> Sorted<'_> {
    let mut by_release: BTreeMap<(String, Sha256), Vec<&str>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    let mut unreachable = Vec::new();
    for (host, state) in states {
        match state {
            Ok(s) => match (&s.current, &s.current_meta) {
                (Some(id), Some(meta)) => by_release
                    .entry((id.to_string(), meta.sha256.clone()))
                    .or_default()
                    .push(&host.name),
                // Metadata that does not parse (a sha256 that is not 64
                // hex digits) is remote text ferry will not build on.
                (Some(id), None) => unreadable.push(format!(
                    "{}: release {id} has no readable .ferry-release.json",
                    host.name
                )),
                (None, _) => unreadable.push(format!("{}: no release", host.name)),
            },
            Err(HostStatus::Unreachable(reason)) => {
                unreachable.push(format!(
                    "{} ({})",
                    host.name,
                    crate::report::one_line(reason)
                ));
            }
            Err(HostStatus::Failed(f)) => {
                unreadable.push(format!(
                    "{}: {}",
                    host.name,
                    crate::report::one_line(&f.reason)
                ));
            }
            Err(HostStatus::Ok) => unreachable.push(host.name.clone()),
        }
    }
    Sorted {
        by_release,
        unreadable,
        unreachable,
    }
}

/// The hosts (of `on`, all on `release`) whose last health check after
/// their last switch did not pass, and when the last of them switched.
fn health(
    states: &[(Host, Result<HostState, HostStatus>)],
    release: &ReleaseId,
    on: &[&str],
) -> (Vec<String>, Option<SystemTime>) {
    let mut unhealthy = Vec::new();
    let mut since = None;
    let on: HashSet<&str> = on.iter().copied().collect();
    for (host, state) in states {
        let Ok(state) = state else { continue };
        if !on.contains(host.name.as_str()) {
            continue;
        }
        let last_switch = state.history.iter().rposition(|e| {
            &e.release == release
                && matches!(e.event, EventKind::Switched | EventKind::RolledBack)
                && e.outcome.is_ok()
        });
        let last_health = state.history.iter().enumerate().rev().find(|(i, e)| {
            e.event == EventKind::Health && &e.release == release && Some(*i) > last_switch
        });
        match last_health {
            Some((_, e)) if e.outcome.is_ok() => {}
            Some(_) => unhealthy.push(format!("{} (last health check failed)", host.name)),
            None => unhealthy.push(format!("{} (no health check recorded)", host.name)),
        }
        let switched_at =
            last_switch.and_then(|i| humantime::parse_rfc3339(&state.history[i].at).ok());
        since = since.max(switched_at);
    }
    (unhealthy, since)
}

/// The controller's artifact cache: `$FERRY_CACHE`, else `~/.cache/ferry`.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FERRY_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/ferry/artifacts")
}

/// The artifact, verified: from the cache, else streamed from a source host.
/// The cache is private (0700, files 0600): a fetched file lands under a
/// random name created with `O_EXCL`, and is renamed only once verified.
async fn fetch_artifact(ctx: &deploy::Context, source: &Source) -> Result<PathBuf, Failure> {
    let dir = cache_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| anyhow!("cannot create the artifact cache {}: {e}", dir.display()))?;
    // A validated sha256 (64 hex digits): never a path from remote text.
    let cached = dir.join(format!("{}.artifact", source.sha256));
    let printer = ctx.executor.printer();
    if cached.is_file() && sha256_file(&cached).ok().as_deref() == Some(source.sha256.as_str()) {
        printer.note(&format!("artifact from the cache: {}", cached.display()));
        return Ok(cached);
    }
    let remote = crate::layout::under(&source.deploy_to, &crate::layout::artifact(&source.release));
    printer.note(&format!(
        "fetching the artifact from {}:{remote}",
        source.host.name
    ));
    // Removed on drop, so every early return cleans up.
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{}.partial-", source.sha256))
        .tempfile_in(&dir)
        .map_err(|e| anyhow!("cannot write to the artifact cache {}: {e}", dir.display()))?;
    let mut file = tokio::fs::File::from_std(partial.as_file().try_clone()?);
    let fetched = ctx
        .executor
        .download(&source.host, &remote, &mut file)
        .await;
    drop(file);
    if let Err(e) = fetched {
        return Err(anyhow!("cannot fetch the artifact from {}: {e}", source.host.name).into());
    }
    let got = sha256_file(partial.path())?;
    if got != source.sha256.as_str() {
        return Err(Refusal::ArtifactChanged {
            host: source.host.name.clone(),
            got,
            want: source.sha256.to_string(),
        }
        .into());
    }
    partial
        .persist(&cached)
        .map_err(|e| anyhow!("cannot keep {}: {}", cached.display(), e.error))?;
    Ok(cached)
}

#[cfg(test)]
mod tests;
