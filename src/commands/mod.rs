//! One module per subcommand: the glue that loads, renders, executes and
//! reports. Errors here carry context; [`dispatch`] maps them to exit codes.

mod check;
mod run;

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
    };
    match result {
        Ok(status) => status,
        Err(err) => {
            Printer::plain().error(&err);
            if is_invalid_input(&err) {
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
        &loaded.extra,
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
