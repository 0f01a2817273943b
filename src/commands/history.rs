//! `ferry history`: deploys and rollbacks merged from every host's own
//! history file, newest first.

use crate::deploy;
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::release::HistoryEvent;
use crate::report::one_line;
use crate::settings::{HistorySettings, OutputFormat};

use super::release_context;

pub(super) async fn history(args: HistorySettings) -> Result<ExitStatus, Failure> {
    let (ctx, hosts) = release_context(&args.common, None)?;
    let dirs = deploy::deploy_dirs(&ctx, &hosts)?;
    let states = deploy::inspect(&ctx, &hosts, &dirs, &deploy::Known::default()).await;
    ctx.executor.close_all().await;
    let printer = ctx.executor.printer();
    let mut events: Vec<(String, HistoryEvent)> = Vec::new();
    let mut unreadable = Vec::new();
    for (host, state) in states {
        match state {
            // Newest first per host, so same-second events keep their true
            // order through the stable sort below.
            Ok(state) => events.extend(
                state
                    .history
                    .into_iter()
                    .rev()
                    .map(|e| (host.name.clone(), e)),
            ),
            Err(_) => unreadable.push(host.name),
        }
    }
    // RFC 3339 UTC stamps sort as text; the host name keeps ties stable.
    events.sort_by(|a, b| b.1.at.cmp(&a.1.at).then_with(|| a.0.cmp(&b.0)));
    events.truncate(args.entries);
    for (host, e) in &events {
        match args.output {
            OutputFormat::Json => {
                let mut value = serde_json::to_value(e).map_err(anyhow::Error::from)?;
                value["host"] = serde_json::Value::String(host.clone());
                printer.out(&value.to_string());
            }
            OutputFormat::Human => printer.out(&describe(host, e)),
        }
    }
    if !unreadable.is_empty() {
        printer.note(&format!(
            "could not read the history of: {}",
            unreadable.join(", ")
        ));
        return Ok(ExitStatus::Failed);
    }
    Ok(ExitStatus::Success)
}

/// One line per event; every field read from the host is escaped onto it.
fn describe(host: &str, e: &HistoryEvent) -> String {
    let what = serde_json::to_value(e.event)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let from = e
        .previous
        .as_ref()
        .map(|p| format!(" (from {p})"))
        .unwrap_or_default();
    let detail = if e.detail.is_empty() {
        String::new()
    } else {
        format!(": {}", one_line(&e.detail))
    };
    format!(
        "{}  {host:<12} {what:<12} {}{from}  by {}  {}  run {}{}{detail}",
        one_line(&e.at),
        e.release,
        one_line(&e.by),
        e.outcome,
        one_line(&e.run_id),
        lineage(e.source_env.as_deref(), e.source_run.as_deref()),
    )
}

/// "  promoted from staging (run R)": where a promoted release came from.
pub(super) fn lineage(env: Option<&str>, run: Option<&str>) -> String {
    let Some(env) = env else {
        return String::new();
    };
    let run = run
        .map(|r| format!(" (run {})", one_line(r)))
        .unwrap_or_default();
    format!("  promoted from {}{run}", one_line(env))
}
