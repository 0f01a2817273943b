//! `ferry check <env> --ssh`: each selected host's effective SSH settings
//! and where each came from (inventory host entry, the inventory's `ssh:`,
//! an `ssh_config` file and line, or ferry's default), plus the harmless
//! `ssh_config` keywords that applied and were skipped. No connection.

use serde_json::{json, Value};

use crate::config::ssh_config::Origin;
use crate::config::{Host, Inventory};
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::render::Secrets;
use crate::report::Printer;
use crate::select::select;
use crate::settings::CheckSettings;

pub(super) fn check_ssh(args: &CheckSettings) -> Result<ExitStatus, Failure> {
    let inventory = super::load_inventory(&args.common)?;
    let hosts = select(&inventory, args.common.limit.as_deref())?;
    let printer = Printer::new(Secrets::default());
    if args.json {
        let reports: Vec<Value> = hosts.iter().map(|h| to_json(&inventory, h)).collect();
        printer.out(&json!({ "inventory": inventory.path, "hosts": reports }).to_string());
        return Ok(ExitStatus::Success);
    }
    for host in &hosts {
        printer.out(&format!(
            "{} ({}@{}:{}), looked up in ssh_config as `{}`",
            host.name, host.user, host.address, host.port, host.ssh_origin.lookup
        ));
        for (key, value, from) in rows(&inventory, host) {
            printer.out(&format!("  {key:<16} {value:<40} from {}", short(from)));
        }
        for (keyword, at) in &host.ssh_origin.ignored {
            printer.out(&format!(
                "  ignored          {keyword:<40} at {}",
                short(at)
            ));
        }
    }
    printer.note(&format!(
        "ok: {}; {} hosts",
        inventory.path.display(),
        hosts.len()
    ));
    Ok(ExitStatus::Success)
}

/// A place as the user writes it: `~/.ssh/config:12` for files under
/// the home directory `ssh_config` was read from.
fn short(place: &impl std::fmt::Display) -> String {
    let text = place.to_string();
    let (home, _) = crate::config::ssh_config::local_account();
    let home = format!("{}/", home.display().to_string().trim_end_matches('/'));
    match text.strip_prefix(&home) {
        Some(rest) if home != "/" => format!("~/{rest}"),
        _ => text,
    }
}

fn to_json(inv: &Inventory, h: &Host) -> Value {
    let settings: serde_json::Map<String, Value> = rows(inv, h)
        .into_iter()
        .map(|(k, v, from)| (k.to_string(), json!({ "value": v, "from": short(from) })))
        .collect();
    let ignored: Vec<Value> = h
        .ssh_origin
        .ignored
        .iter()
        .map(|(k, at)| json!({ "keyword": k, "at": short(at) }))
        .collect();
    json!({
        "host": h.name,
        "lookup": h.ssh_origin.lookup,
        "settings": settings,
        "ignored": ignored,
    })
}

/// One host: each setting's effective value and where it came from.
fn rows<'a>(inv: &Inventory, h: &'a Host) -> Vec<(&'static str, String, &'a Origin)> {
    let o = &h.ssh_origin;
    let defaults = &inv.ssh;
    let paths = |own: &[std::path::PathBuf], fallback: &[std::path::PathBuf]| {
        let list = if own.is_empty() { fallback } else { own };
        list.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let secs = |d: std::time::Duration| format!("{}s", d.as_secs());
    let policy = |p: crate::config::HostKeyPolicy| match p {
        crate::config::HostKeyPolicy::Strict => "strict",
        crate::config::HostKeyPolicy::AcceptNew => "accept-new",
    };
    let jumps = if h.ssh.jumps.is_empty() {
        "none".to_string()
    } else {
        h.ssh
            .jumps
            .iter()
            .map(|j| format!("{}@{}:{}", j.user, j.address, j.port))
            .collect::<Vec<_>>()
            .join(" -> ")
    };
    let rows = vec![
        ("address", h.address.clone(), &o.address),
        ("port", h.port.to_string(), &o.port),
        ("user", h.user.clone(), &o.user),
        (
            "identity_files",
            paths(&h.ssh.identity_files, &defaults.identity_files),
            &o.identity_files,
        ),
        (
            "identities_only",
            if h.ssh.identities_only { "yes" } else { "no" }.into(),
            &o.identities_only,
        ),
        (
            "known_hosts",
            paths(&h.ssh.known_hosts, &defaults.known_hosts),
            &o.known_hosts,
        ),
        (
            "connect_timeout",
            secs(h.ssh.connect_timeout.unwrap_or(defaults.connect_timeout)),
            &o.connect_timeout,
        ),
        (
            "keepalive",
            secs(h.ssh.keepalive.unwrap_or(defaults.keepalive)),
            &o.keepalive,
        ),
        (
            "keepalive_count",
            h.ssh.keepalive_count.unwrap_or(3).to_string(),
            &o.keepalive_count,
        ),
        (
            "host_key_policy",
            policy(h.ssh.host_key_policy.unwrap_or(defaults.host_key_policy)).into(),
            &o.host_key_policy,
        ),
        ("proxy_jump", jumps, &o.jumps),
    ];
    rows
}
