//! The command line, and nothing else: clap types stop here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "Agentless fleet deploys over plain SSH"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a playbook, some of its tasks, or one ad-hoc command on the hosts.
    ///
    /// `ferry run staging` runs playbooks/site.yml; `ferry run staging deploy`
    /// runs playbooks/deploy.yml when it exists, otherwise the task `deploy` of
    /// site.yml; more names pick tasks of that playbook.
    Run(RunArgs),
    /// Validate inventory, playbook and every template for every host, without
    /// connecting, and print what would run where.
    Check(CheckArgs),
}

/// Options every command that reads an inventory takes.
#[derive(Debug, Args)]
pub struct Common {
    /// The environment: inventories/<ENV>.yml.
    pub env: String,
    /// Read this inventory file instead of inventories/<ENV>.yml.
    #[arg(short = 'i', long = "inventory", value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Select hosts: names, groups, globs, `!` to exclude (`web*,!web3`).
    #[arg(short = 'l', long, value_name = "PATTERN", env = "FERRY_LIMIT")]
    pub limit: Option<String>,
    /// Extra variable, over every other var (repeatable).
    #[arg(short = 'e', long = "extra-var", value_name = "KEY=VALUE")]
    pub extra_vars: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    /// A playbook name or file, then task names to run from it.
    #[arg(value_name = "PLAYBOOK|TASK")]
    pub names: Vec<String>,
    /// Run this one shell command on every selected host instead of a playbook.
    #[arg(long, value_name = "COMMAND", conflicts_with = "names")]
    pub cmd: Option<String>,
    /// With --cmd: run it through `sudo -n`.
    #[arg(long, requires = "cmd")]
    pub sudo: bool,
    /// With --cmd: kill it on the host after this long (e.g. 30s).
    #[arg(long, value_name = "DURATION", requires = "cmd", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// How many hosts work at once.
    #[arg(short = 'f', long, default_value_t = 64, env = "FERRY_FORKS")]
    pub forks: usize,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: Common,
    /// The playbook to check (a name in playbooks/ or a file); default: site.
    pub playbook: Option<String>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::config::values::parse_duration(text)
}
