//! One module per subcommand: the glue that loads, renders, executes and
//! reports. Commands read [`crate::settings`], never clap types, and fail
//! with a [`Failure`], whose kind is the exit code.

mod audit;
mod check;
mod check_ssh;
mod deploy;
mod generate;
mod health_gate;
mod history;
mod init;
mod known_hosts;
mod lock;
mod playbook_names;
mod promote;
mod report;
mod results;
mod rollback;
mod run;
mod status;
mod verify;

use std::path::PathBuf;

use crate::config::{self, Inventory, Playbook, Vars};
use crate::exit::ExitStatus;
use crate::failure::{Failure, Invalid};
use crate::render::{render_plan, HostPlan, Renderer, Secrets};
use crate::report::Printer;
use crate::select::select;
use crate::settings::{CommonSettings, Settings};

/// Run one command.
///
/// # Errors
/// Why the command could not answer; `run` prints it and ends with
/// [`Failure::status`].
pub async fn dispatch(settings: Settings) -> Result<ExitStatus, Failure> {
    match settings {
        Settings::Run(s) => run::run(s).await,
        Settings::Check(s) => check::check(s),
        Settings::Deploy(s) => deploy::deploy(s).await,
        Settings::Rollback(s) => rollback::rollback(s).await,
        Settings::Status(s) => status::status(s).await,
        Settings::Verify(s) => verify::verify(s).await,
        Settings::History(s) => history::history(s).await,
        Settings::Lock(s) => lock::lock(s).await,
        Settings::Promote(s) => promote::promote(s).await,
        Settings::Unlock(s) => lock::unlock(s).await,
        Settings::KnownHosts(s) => known_hosts::known_hosts(s).await,
        Settings::Report(s) => report::report(&s),
        Settings::Init(s) => init::init(&s),
        Settings::Generate(g) => generate::generate(g),
    }
}

/// Inventory, playbook, extra vars: what every command starts from.
pub struct Loaded {
    pub inventory: Inventory,
    pub playbook: Playbook,
    pub extra: Vars,
}

fn load_inventory(common: &CommonSettings) -> Result<Inventory, Failure> {
    let path = config::inventory_path(&common.env, common.inventory.as_deref());
    if !path.exists() {
        return Err(Invalid::NoInventory {
            env: common.env.clone(),
            path,
        }
        .into());
    }
    Ok(Inventory::load(&path)?)
}

/// `[]` → site.yml; `[x, ..]` → playbook x with tasks .. when x names a
/// playbook, otherwise site.yml with tasks x, ...
fn load_playbook(names: &[String]) -> Result<Playbook, Failure> {
    let (path, tasks): (PathBuf, &[String]) = match names.split_first() {
        Some((first, rest)) if config::playbook_path(first).exists() => {
            (config::playbook_path(first), rest)
        }
        Some((first, _)) if config::is_playbook_path(first) => {
            return Err(playbook_names::no_file(first).into());
        }
        _ => (config::playbook_path("site"), names),
    };
    // The first name was not a playbook: it must be a task of site.yml.
    let first_is_task = tasks.len() == names.len();
    if !path.exists() {
        return Err(match names.first() {
            Some(first) => playbook_names::unknown(first, &path, None),
            None => Invalid::NoPlaybook(path),
        }
        .into());
    }
    let playbook = Playbook::load(&path)?;
    match tasks.first() {
        None => Ok(playbook),
        Some(first) if first_is_task && !playbook.tasks.iter().any(|t| &t.name == first) => {
            Err(playbook_names::unknown(first, &path, Some(&playbook)).into())
        }
        Some(_) => Ok(playbook.only(tasks)?),
    }
}

/// Loaded, selected and rendered: everything decided before any connection.
pub struct Prepared {
    pub loaded: Loaded,
    pub plans: Vec<HostPlan>,
    pub secrets: Secrets,
}

fn prepare(
    common: &CommonSettings,
    playbook: impl FnOnce() -> Result<Playbook, Failure>,
) -> Result<Prepared, Failure> {
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
    )?;
    Ok(Prepared {
        loaded,
        plans,
        secrets,
    })
}

/// The inventory first, so its errors come before any playbook's.
fn load(
    common: &CommonSettings,
    playbook: impl FnOnce() -> Result<Playbook, Failure>,
) -> Result<Loaded, Failure> {
    let inventory = load_inventory(common)?;
    let extra = config::parse_extra_vars(&common.extra_vars)?;
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
    common: &CommonSettings,
    playbook: Option<&str>,
) -> Result<(crate::deploy::Context, Vec<crate::config::Host>), Failure> {
    let loaded = load(common, || match playbook {
        // A release takes no tasks: a name that is no playbook is a
        // missing file, never a task of site.yml.
        Some(name) if !config::playbook_path(name).exists() && !config::is_playbook_path(name) => {
            let path = config::playbook_path(name);
            Err(playbook_names::no_file(&path.display().to_string()).into())
        }
        Some(name) => load_playbook(&[name.to_string()]),
        None if config::playbook_path("deploy").exists() => {
            Ok(Playbook::load(&config::playbook_path("deploy"))?)
        }
        None => Ok(Playbook::empty()),
    })?;
    let targets = crate::select::select_targets(&loaded.inventory, common.limit.as_deref())?;
    let hosts: Vec<crate::config::Host> = targets.hosts.into_iter().cloned().collect();
    let dropped: Vec<&str> = targets.dropped.iter().map(|h| h.name.as_str()).collect();
    let secrets = Secrets::default();
    let renderer = Renderer::new(secrets.clone());
    let printer = std::sync::Arc::new(Printer::new(secrets));
    if !dropped.is_empty() {
        printer.note(&format!(
            "warning: skipping {} (`deploy: false` in the inventory): releases never target them",
            dropped.join(", ")
        ));
    }
    let connector = crate::ssh::Connector::new(&loaded.inventory.ssh)
        .map_err(|e| anyhow::anyhow!("cannot set up SSH: {e}"))?;
    let reporter = crate::report::Reporter::new(printer.clone());
    let executor = std::sync::Arc::new(crate::executor::Executor::new(connector, printer));
    let ctx = crate::deploy::Context {
        executor,
        renderer,
        inventory: loaded.inventory,
        playbook: loaded.playbook,
        extra: loaded.extra,
        forks: common.forks,
        reporter,
    };
    Ok((ctx, hosts))
}

/// Print the per-host lines and the summary of a deploy or rollback; the
/// exit status they mean (see [`results::summarize`]).
fn report_results(
    printer: &Printer,
    results: &[crate::deploy::HostResult],
    what: &str,
    started: std::time::Instant,
) -> ExitStatus {
    let summary = results::summarize(results, what, started.elapsed());
    for line in &summary.lines {
        printer.note(line);
    }
    summary.status
}

/// Ask on the terminal. The answer is read off the runtime's thread: while
/// a person decides, lease renewals and every SSH session keep running.
pub(super) async fn confirm(printer: &Printer, question: &str) -> bool {
    printer.prompt(question);
    let read = tokio::task::spawn_blocking(|| {
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).map(|_| answer)
    });
    matches!(read.await, Ok(Ok(answer)) if matches!(answer.trim(), "y" | "Y" | "yes"))
}
