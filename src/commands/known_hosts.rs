//! `ferry known-hosts ENV --scan | --update`: each host's key against
//! `known_hosts`, and recording rotated keys after a person said yes.
//!
//! The key comes from a key exchange only (no login). `--update` writes the
//! first `known_hosts` file of each host (the inventory's `ssh.known_hosts`,
//! or the host's own): other files (`/etc/ssh/ssh_known_hosts`) are the
//! administrator's and are only reported.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use futures::StreamExt as _;

use crate::config::Host;
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::render::Secrets;
use crate::report::Printer;
use crate::select::select;
use crate::settings::KnownHostsSettings;
use crate::ssh::known_hosts::{self, Edit, KnownHosts, Verdict};
use crate::ssh::{Connector, ScannedKey, Target};

use super::load_inventory;

/// One host's key against its `known_hosts` files.
enum Finding {
    Match,
    /// Recorded under other keys: `(file, line, old fingerprint)`.
    Changed(Vec<(PathBuf, usize, String)>),
    Unknown,
    Revoked {
        file: PathBuf,
        line: usize,
    },
}

struct Scan {
    host: Host,
    /// The files checked, first is the one `--update` writes.
    files: Vec<PathBuf>,
    result: Result<(ScannedKey, Finding), String>,
}

pub(super) async fn known_hosts(args: KnownHostsSettings) -> Result<ExitStatus, Failure> {
    let inventory = load_inventory(&args.common)?;
    let hosts: Vec<Host> = select(&inventory, args.common.limit.as_deref())?
        .into_iter()
        .cloned()
        .collect();
    let printer = Printer::new(Secrets::default());
    let connector = Arc::new(Connector::new(&inventory.ssh).context("cannot set up SSH")?);
    let default_files = inventory.ssh.known_hosts.clone();
    let scans: Vec<Scan> = futures::stream::iter(hosts)
        .map(|host| {
            let connector = connector.clone();
            let default_files = default_files.clone();
            async move { scan(&connector, host, default_files).await }
        })
        .buffered(args.common.forks.max(1))
        .collect()
        .await;
    for s in &scans {
        printer.out(&describe(s));
    }
    if !args.update {
        let all_match = scans
            .iter()
            .all(|s| matches!(s.result, Ok((_, Finding::Match))));
        return Ok(if all_match {
            ExitStatus::Success
        } else {
            ExitStatus::Failed
        });
    }
    update(&printer, &scans, args.yes).await
}

async fn scan(connector: &Connector, host: Host, default_files: Vec<PathBuf>) -> Scan {
    let files = if host.ssh.known_hosts.is_empty() {
        default_files
    } else {
        host.ssh.known_hosts.clone()
    };
    // Hosts behind bastions are scanned through them (`Connector::scan`).
    let result = check(connector, &host, &files).await;
    Scan {
        host,
        files,
        result,
    }
}

async fn check(
    connector: &Connector,
    host: &Host,
    files: &[PathBuf],
) -> Result<(ScannedKey, Finding), String> {
    let known = KnownHosts::load(files).map_err(|e| e.to_string())?;
    let target = Target {
        address: host.address.clone(),
        port: host.port,
        user: host.user.clone(),
        ssh: host.ssh.clone(),
    };
    let scanned = connector.scan(&target).await.map_err(|e| e.to_string())?;
    let finding = match known.check(&host.address, host.port, &scanned.key) {
        Verdict::Trusted => Finding::Match,
        Verdict::Unknown => Finding::Unknown,
        Verdict::Revoked { file, line } => Finding::Revoked { file, line },
        Verdict::Changed { .. } => Finding::Changed(
            known
                .recorded(&host.address, host.port)
                .into_iter()
                .map(|(file, line, key)| (file, line, known_hosts::fingerprint(&key)))
                .collect(),
        ),
    };
    Ok((scanned, finding))
}

fn describe(s: &Scan) -> String {
    let name = &s.host.name;
    let address = format!("{}:{}", s.host.address, s.host.port);
    match &s.result {
        Err(reason) => format!("{name}  {address}  unreachable: {reason}"),
        Ok((key, finding)) => {
            let state = match finding {
                Finding::Match => "match".to_string(),
                Finding::Unknown => "unknown (in no known_hosts file)".to_string(),
                Finding::Revoked { file, line } => {
                    format!("REVOKED ({}:{line})", file.display())
                }
                Finding::Changed(old) => format!(
                    "CHANGED ({}: was {})",
                    old.iter()
                        .map(|(f, l, _)| format!("{}:{l}", f.display()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    old.iter()
                        .map(|(_, _, fp)| fp.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            format!("{name}  {address}  {}  {state}", key.fingerprint)
        }
    }
}

/// Changed keys replaced and unknown ones added, in each host's first
/// `known_hosts` file, after the person confirms (or `--yes`).
async fn update(printer: &Printer, scans: &[Scan], yes: bool) -> Result<ExitStatus, Failure> {
    let mut edits: BTreeMap<PathBuf, Vec<Edit>> = BTreeMap::new();
    let mut lines = Vec::new();
    let mut blocked = false;
    for s in scans {
        let Ok((key, finding)) = &s.result else {
            blocked = true;
            continue;
        };
        let Some(file) = s.files.first() else {
            continue;
        };
        let change = match finding {
            Finding::Match => continue,
            Finding::Revoked { .. } => {
                blocked = true;
                continue;
            }
            Finding::Unknown => format!("add {}", key.fingerprint),
            Finding::Changed(old) => {
                if let Some((other, line, _)) = old.iter().find(|(f, _, _)| f != file) {
                    printer.note(&format!(
                        "{}: the old key is also in {}:{line}, which ferry does not write: remove it by hand",
                        s.host.name,
                        other.display()
                    ));
                    blocked = true;
                }
                let was: Vec<&str> = old.iter().map(|(_, _, fp)| fp.as_str()).collect();
                format!("{} -> {}", was.join(", "), key.fingerprint)
            }
        };
        lines.push(format!("  {}: {change} ({})", s.host.name, file.display()));
        edits.entry(file.clone()).or_default().push(Edit {
            host: s.host.address.clone(),
            port: s.host.port,
            key: key.key.clone(),
        });
    }
    if edits.is_empty() {
        printer.note("known_hosts: nothing to update");
        return Ok(status(blocked));
    }
    printer.note(&format!("known_hosts changes:\n{}", lines.join("\n")));
    if !yes && !super::confirm(printer, "record these keys? [y/N] ").await {
        printer.note("known_hosts: not changed");
        return Ok(ExitStatus::Failed);
    }
    for (file, edits) in &edits {
        let applied = known_hosts::apply(file, edits).map_err(|e| anyhow::anyhow!(e))?;
        printer.note(&format!(
            "updated {}: {} replaced, {} added",
            file.display(),
            applied.replaced,
            applied.added
        ));
    }
    Ok(status(blocked))
}

fn status(blocked: bool) -> ExitStatus {
    if blocked {
        ExitStatus::Failed
    } else {
        ExitStatus::Success
    }
}
