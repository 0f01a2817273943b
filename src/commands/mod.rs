//! One module per subcommand: the glue that loads, renders, executes and
//! reports. Errors here carry context; [`dispatch`] maps them to exit codes.

mod check;
mod deploy;
mod history;
mod lock;
mod promote;
mod rollback;
mod run;
mod status;

use std::path::PathBuf;

use crate::cli::{Cli, Command, Common};
use crate::config::{self, ConfigError, Inventory, Playbook, Vars};
use crate::exit::ExitStatus;
use crate::render::{render_plan, HostPlan, RenderError, Renderer, Secrets};
use crate::report::Printer;
use crate::select::{select, SelectError};

/// Bad input found before anything was touched: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// A safety check said no: exit 6, nothing touched.
#[derive(Debug, thiserror::Error)]
#[error("refused: {0}")]
pub struct Refused(pub String);

/// Every template error of a run, reported together.
#[derive(Debug, thiserror::Error)]
#[error("{}", render_errors(.0))]
pub struct RenderErrors(pub Vec<RenderError>);

fn render_errors(errors: &[RenderError]) -> String {
    let shown: Vec<String> = errors.iter().take(20).map(ToString::to_string).collect();
    let more = errors.len().saturating_sub(shown.len());
    let mut text = shown.join("\n");
    if more > 0 {
        text.push_str(&format!("\n... and {more} more"));
    }
    text
}

pub async fn dispatch(cli: Cli) -> ExitStatus {
    let result = match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Check(args) => check::check(args),
        Command::Deploy(args) => deploy::deploy(args).await,
        Command::Rollback(args) => rollback::rollback(args).await,
        Command::Status(args) => status::status(args).await,
        Command::History(args) => history::history(args).await,
        Command::Lock(args) => lock::lock(args).await,
        Command::Promote(args) => promote::promote(args).await,
        Command::Unlock(args) => lock::unlock(args).await,
    };
    match result {
        Ok(status) => status,
        Err(err) => {
            Printer::plain().error(&err);
            if err.is::<crate::lock::LockError>() {
                ExitStatus::Locked
            } else if err.is::<Refused>() {
                ExitStatus::Refused
            } else if is_invalid_input(&err) {
                ExitStatus::Invalid
            } else {
                ExitStatus::Failed
            }
        }
    }
}

fn is_invalid_input(err: &anyhow::Error) -> bool {
    err.is::<ConfigError>()
        || err.is::<SelectError>()
        || err.is::<RenderErrors>()
        || err.is::<InvalidInput>()
}

/// Inventory, playbook, extra vars: what every command starts from.
pub struct Loaded {
    pub inventory: Inventory,
    pub playbook: Playbook,
    pub extra: Vars,
}

fn load_inventory(common: &Common) -> anyhow::Result<Inventory> {
    let path = config::inventory_path(&common.env, common.inventory.as_deref());
    if !path.exists() {
        return Err(InvalidInput(format!(
            "no inventory for environment `{}`: {} does not exist",
            common.env,
            path.display()
        ))
        .into());
    }
    Ok(Inventory::load(&path)?)
}

/// `[]` → site.yml; `[x, ..]` → playbook x with tasks .. when x names a
/// playbook, otherwise site.yml with tasks x, ...
fn load_playbook(names: &[String]) -> anyhow::Result<Playbook> {
    let (path, tasks): (PathBuf, &[String]) = match names.split_first() {
        Some((first, rest)) if config::playbook_path(first).exists() => {
            (config::playbook_path(first), rest)
        }
        _ => (config::playbook_path("site"), names),
    };
    if !path.exists() {
        return Err(InvalidInput(format!(
            "no playbook: {} does not exist (name a playbook in playbooks/ or use --cmd)",
            path.display()
        ))
        .into());
    }
    let playbook = Playbook::load(&path)?;
    Ok(if tasks.is_empty() {
        playbook
    } else {
        playbook.only(tasks)?
    })
}

/// Loaded, selected and rendered: everything decided before any connection.
pub struct Prepared {
    pub loaded: Loaded,
    pub plans: Vec<HostPlan>,
    pub secrets: Secrets,
}

fn prepare(
    common: &Common,
    playbook: impl FnOnce() -> anyhow::Result<Playbook>,
) -> anyhow::Result<Prepared> {
    let loaded = load(common, playbook)?;
    let hosts = select(&loaded.inventory, common.limit.as_deref())?;
    let secrets = Secrets::default();
    let renderer = Renderer::new(secrets.clone());
    let plans = render_plan(
        &renderer,
        &loaded.inventory,
        &hosts,
        &loaded.playbook,
        &loaded.playbook.tasks,
        &|_| loaded.extra.clone(),
    )
    .map_err(RenderErrors)?;
    Ok(Prepared {
        loaded,
        plans,
        secrets,
    })
}

/// The inventory first, so its errors come before any playbook's.
fn load(
    common: &Common,
    playbook: impl FnOnce() -> anyhow::Result<Playbook>,
) -> anyhow::Result<Loaded> {
    let inventory = load_inventory(common)?;
    let extra = config::parse_extra_vars(&common.extra_vars).map_err(InvalidInput)?;
    Ok(Loaded {
        inventory,
        playbook: playbook()?,
        extra,
    })
}

/// What the release commands start from: the inventory, the deploy playbook
/// (named, else playbooks/deploy.yml when it exists), the selected hosts, and
/// an executor ready to connect.
fn release_context(
    common: &Common,
    playbook: Option<&str>,
) -> anyhow::Result<(crate::deploy::Context, Vec<crate::config::Host>)> {
    let loaded = load(common, || match playbook {
        Some(name) => load_playbook(&[name.to_string()]),
        None if config::playbook_path("deploy").exists() => {
            Ok(Playbook::load(&config::playbook_path("deploy"))?)
        }
        None => Ok(Playbook::empty()),
    })?;
    let hosts: Vec<crate::config::Host> = select(&loaded.inventory, common.limit.as_deref())?
        .into_iter()
        .cloned()
        .collect();
    let secrets = Secrets::default();
    let renderer = Renderer::new(secrets.clone());
    let printer = std::sync::Arc::new(Printer::new(secrets));
    let connector = crate::ssh::Connector::new(&loaded.inventory.ssh)
        .map_err(|e| anyhow::anyhow!("cannot set up SSH: {e}"))?;
    let executor = std::sync::Arc::new(crate::executor::Executor::new(connector, printer));
    let ctx = crate::deploy::Context {
        executor,
        renderer,
        inventory: loaded.inventory,
        playbook: loaded.playbook,
        extra: loaded.extra,
        forks: common.forks,
        journal: crate::journal::Journal::off(),
    };
    Ok((ctx, hosts))
}

/// Per-host lines and the summary of a deploy or rollback; the exit code.
/// A host whose pipeline ended stranded is still on a release that failed
/// there: the fleet is on mixed releases (exit 3).
fn report_results(
    printer: &Printer,
    results: &[crate::deploy::HostResult],
    what: &str,
    started: std::time::Instant,
) -> ExitStatus {
    use crate::deploy::Outcome;
    let (mut done, mut skipped, mut failed, mut unreachable, mut stranded) = (0, 0, 0, 0, 0);
    let mut not_started = 0;
    for r in results {
        let line = match &r.outcome {
            Outcome::Deployed {
                release,
                previous,
                pruned,
            } => {
                done += 1;
                let was = previous
                    .as_ref()
                    .map(|p| format!(" (was {p})"))
                    .unwrap_or_default();
                let pruned = if pruned.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; pruned {}",
                        pruned
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                format!("deployed {release}{was}{pruned}")
            }
            Outcome::RolledBack { to, from } => {
                done += 1;
                let from = from
                    .as_ref()
                    .map(|f| format!(" from {f}"))
                    .unwrap_or_default();
                format!("rolled back to {to}{from}")
            }
            Outcome::Skipped { release } => {
                skipped += 1;
                format!("skipped: already on {release}")
            }
            Outcome::Failed {
                failure,
                current,
                end,
            } => {
                failed += 1;
                let on = current
                    .as_ref()
                    .map_or("nothing".to_string(), ToString::to_string);
                if *end == crate::machine::End::Stranded {
                    stranded += 1;
                }
                format!(
                    "FAILED, current: {on}\n    {}",
                    failure.to_string().replace('\n', "\n    ")
                )
            }
            Outcome::NotStarted => {
                not_started += 1;
                "not started".to_string()
            }
            Outcome::Unreachable(reason) => {
                unreachable += 1;
                format!("UNREACHABLE: {reason}")
            }
        };
        printer.note(&format!("  {}: {line}", r.host));
    }
    printer.note(&format!(
        "{what}: done {done}  skipped {skipped}  failed {failed}  unreachable {unreachable}  not started {not_started}  ({} hosts in {:.2}s)",
        results.len(),
        started.elapsed().as_secs_f64()
    ));
    if stranded > 0 {
        printer.note(&format!(
            "{stranded} host(s) are still on the failed release: the fleet is on mixed releases"
        ));
        ExitStatus::RollbackFailed
    } else if failed + unreachable > 0 {
        ExitStatus::Failed
    } else {
        ExitStatus::Success
    }
}
