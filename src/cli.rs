//! The command line, and nothing else: clap types stop here;
//! the settings module turns them into what the commands read.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::values::{Amount, BatchSpec};

pub mod generate;
mod setup;

pub use setup::{
    CompletionsArgs, HelpArgs, InitArgs, LogDir, ManArgs, ReportArgs, SetupCommand, ShellArg,
};

/// Hosts at once when `--forks` is not given.
pub const DEFAULT_FORKS: usize = 64;

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version = env!("FERRY_VERSION"),
    about = "Agentless fleet deploys over plain SSH",
    // Our own `help` subcommand (clap's rejects `ferry help --help`).
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Colour on a terminal: auto (when the stream is a terminal, `TERM` is
    /// not dumb and `NO_COLOR` is unset or empty), always, never.
    #[arg(long, global = true, value_enum, env = "FERRY_COLOR", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
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
    /// Ship an artifact as a new release and switch `current` to it.
    Deploy(DeployArgs),
    /// Switch `current` back to the previous good release (or --to ID), in
    /// drained batches (--now: every host at once).
    Rollback(RollbackArgs),
    /// What runs where: current and previous release per host, and drift.
    Status(StatusArgs),
    /// Run the playbook's health checks (nothing else) against each host's
    /// current release and record the result in its history.
    Verify(VerifyArgs),
    /// Deploys and rollbacks recorded on the hosts, newest first.
    History(HistoryArgs),
    /// Ship to one environment exactly the release that runs, healthy, in another.
    Promote(PromoteArgs),
    /// Lock the environment by hand (a freeze): deploys and promotes stop with exit 4.
    Lock(LockArgs),
    /// Remove a lock set with `ferry lock`, or with --force a stale run lock.
    Unlock(UnlockArgs),
    /// Each host's SSH key against the known hosts files (--scan); record rotated keys (--update).
    KnownHosts(KnownHostsArgs),
    /// A run's report from its journal: `--html`, the run's timeline as one
    /// self-contained page (a row per host, a bar per step).
    Report(ReportArgs),
    // init, completions, man, help: they read no inventory.
    #[command(flatten)]
    Setup(SetupCommand),
}

/// Options every command that works on hosts in parallel takes: the
/// selection ([`Hosts`]) and `--forks`.
#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    pub hosts: Hosts,
    /// How many hosts work at once.
    #[arg(short = 'f', long, value_name = "N", default_value_t = DEFAULT_FORKS, env = "FERRY_FORKS")]
    pub forks: usize,
}

/// Options every command that reads an inventory takes: the environment
/// and which of its hosts. Alone (without `--forks`) for the commands where
/// a number of hosts at once means nothing (check, lock, unlock, history).
#[derive(Debug, Args)]
pub struct Hosts {
    /// The environment: inventories/<ENV>.yml.
    pub env: String,
    /// Read this inventory file instead of inventories/<ENV>.yml.
    #[arg(short = 'i', long = "inventory", value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Extra variable, over every other var (repeatable).
    #[arg(short = 'e', long = "extra-var", value_name = "KEY=VALUE")]
    pub extra_vars: Vec<String>,
    /// Select hosts: names, groups, globs, `!` to exclude (`web*,!web3`).
    #[arg(short = 'l', long, value_name = "PATTERN", env = "FERRY_LIMIT")]
    pub limit: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputArg {
    #[default]
    Human,
    Json,
}

/// `--rollback`: the clap side of [`crate::rollout::RollbackScope`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RollbackArg {
    /// Every host switched in this run (the default).
    #[default]
    All,
    /// Only the hosts that failed (they are put back as they fail).
    Failed,
    /// Nobody: leave every host where it is.
    None,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub common: Common,
    /// The playbook with the deploy stages (`before_switch`, `after_switch`,
    /// `linked_dirs`); default: playbooks/deploy.yml when it exists.
    pub playbook: Option<String>,
    /// The artifact (a tarball) to ship.
    #[arg(long, value_name = "PATH", required_unless_present = "artifact_url")]
    pub artifact: Option<PathBuf>,
    /// Let every host fetch the artifact itself (curl or wget), checked against --sha256.
    #[arg(
        long,
        value_name = "URL",
        requires = "sha256",
        conflicts_with = "artifact"
    )]
    pub artifact_url: Option<String>,
    /// The artifact's sha256 (with --artifact-url).
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// The release id; default: the artifact's name plus 8 hex of its sha256.
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

/// How a release rolls out: shared by `deploy` and `promote`.
#[derive(Debug, Args)]
// Each bool is one independent command-line switch, as clap models them.
#[allow(clippy::struct_excessive_bools)]
pub struct RolloutArgs {
    #[command(flatten)]
    pub audit: AuditArgs,
    /// Record the run as a hotfix in the hosts' history (no check is skipped).
    #[arg(long)]
    pub hotfix: bool,
    /// Deploy outside the inventory's windows or during a freeze (needs --reason; recorded).
    #[arg(long, requires = "reason")]
    pub outside_window: bool,
    /// Why (with --outside-window); recorded in the hosts' history.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Releases to keep per host (default: the playbook's `keep_releases`, else 5).
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Print the batches and every rendered step, without connecting.
    #[arg(long)]
    pub plan: bool,
    /// Batch size: a count, a percent, or a ramp `1,10%,50%` (last repeats).
    #[arg(long, value_name = "SIZE", value_parser = parse_batch, env = "FERRY_BATCH")]
    pub batch: Option<BatchSpec>,
    /// Size of a first, canary batch (0: none, over the inventory's).
    #[arg(long, value_name = "N")]
    pub canary: Option<u32>,
    /// Hosts (count or percent) that may fail before the rollout stops.
    #[arg(long, value_name = "N|P%", value_parser = parse_amount)]
    pub max_failures: Option<Amount>,
    /// Wait this long between batches.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub pause: Option<std::time::Duration>,
    /// Whom to roll back when the rollout stops: every host switched in this
    /// run (all), only failed hosts (failed), or nobody (none).
    #[arg(long, value_enum, default_value_t = RollbackArg::All)]
    pub rollback: RollbackArg,
    /// Same as --rollback none.
    #[arg(long)]
    pub no_rollback: bool,
    /// Deploy the reachable hosts even when some cannot be reached (they
    /// count as failures otherwise); the fleet is then mixed (exit 1).
    #[arg(long)]
    pub skip_unreachable: bool,
    /// Refuse (exit 2) when the deploy playbook has no `health:` checks, as
    /// `rollout.require_health: true` in the inventory does.
    #[arg(long)]
    pub require_health: bool,
    /// End after one healthy batch, a canary (1 host unless --canary or the
    /// inventory says), with exit 5; the same deploy without this flag goes on.
    #[arg(long)]
    pub stop_after_canary: bool,
    /// Ask on the terminal whether to go on after a healthy canary.
    #[arg(long, conflicts_with = "stop_after_canary")]
    pub pause_after_canary: bool,
    /// Answer yes to --pause-after-canary (CI).
    #[arg(long)]
    pub yes: bool,
    /// Wait this long for another run's lock instead of failing (exit 4).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "FERRY_LOCK_WAIT")]
    pub lock_wait: Option<std::time::Duration>,
}

/// The record of a run, for CI and audit: shared by `deploy`, `promote`,
/// `rollback` and `run`, so each takes the same flags.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// `json`: one JSON event per line on stdout (schema ferry.events/1);
    /// human text and host output go to stderr.
    #[arg(long, value_enum, default_value_t = OutputArg::Human, env = "FERRY_OUTPUT")]
    pub output: OutputArg,
    /// Write a `JUnit` XML report (one test case per host), or with a FILE
    /// ending in `.html` the run's timeline (as `ferry report --html`).
    #[arg(long, value_name = "FILE", env = "FERRY_REPORT")]
    pub report: Option<PathBuf>,
    /// POST a JSON summary here on start, success and failure (Slack-compatible).
    #[arg(long, value_name = "URL", env = "FERRY_NOTIFY")]
    pub notify: Option<String>,
    #[command(flatten)]
    pub logs: LogDir,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The environment whose running release is shipped (inventories/<FROM>.yml).
    pub from: String,
    /// The target environment and its options.
    #[command(flatten)]
    pub common: Common,
    /// Read the source inventory from this file instead of inventories/<FROM>.yml.
    #[arg(long, value_name = "FILE")]
    pub from_inventory: Option<PathBuf>,
    /// The deploy playbook for the target (default: playbooks/deploy.yml when it exists).
    #[arg(long, value_name = "PLAYBOOK")]
    pub playbook: Option<String>,
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

fn parse_batch(text: &str) -> Result<BatchSpec, String> {
    let steps = text
        .split(',')
        .map(crate::config::values::parse_amount)
        .collect::<Result<Vec<_>, _>>()?;
    if steps.iter().any(|a| a.of(100) == 0) {
        return Err("a batch must be at least 1 host".into());
    }
    Ok(match steps.as_slice() {
        [one] => BatchSpec::Fixed(*one),
        _ => BatchSpec::Ramp(steps),
    })
}

fn parse_amount(text: &str) -> Result<Amount, String> {
    crate::config::values::parse_amount(text)
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub common: Common,
    /// The playbook whose `after_switch` tasks run after the switch; default:
    /// playbooks/deploy.yml when it exists.
    pub playbook: Option<String>,
    /// Roll back to this release (it must still be on each host).
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
    /// Break any lock first (the 3 a.m. case); recorded in the history.
    #[arg(long)]
    pub force_unlock: bool,
    /// Wait this long for another run's lock instead of failing (exit 4).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "FERRY_LOCK_WAIT")]
    pub lock_wait: Option<std::time::Duration>,
    /// Every host at once, without the playbook's drain and undrain (faster;
    /// requests to the hosts may fail). Default: drained batches of the
    /// rollout's batch size.
    #[arg(long)]
    pub now: bool,
    #[command(flatten)]
    pub audit: AuditArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: Common,
    /// The playbook whose `health:` checks run; default: playbooks/deploy.yml.
    pub playbook: Option<String>,
    /// Wait this long for another run's lock instead of failing (exit 4).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "FERRY_LOCK_WAIT")]
    pub lock_wait: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(flatten)]
    pub common: Hosts,
    /// Why (shown to whoever finds the environment locked).
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub common: Hosts,
    /// Also remove a run's lock whose lease has expired (its holder is gone).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: Common,
    /// `json`: one JSON document on stdout.
    #[arg(long, value_enum, default_value_t = OutputArg::Human, env = "FERRY_OUTPUT")]
    pub output: OutputArg,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The environment and its hosts (`-l` selects them, as everywhere).
    #[command(flatten)]
    pub common: Hosts,
    /// Show the newest N entries.
    #[arg(short = 'n', long = "last", value_name = "N", default_value_t = 20)]
    pub last: usize,
    /// `json`: one JSON object per entry on stdout.
    #[arg(long, value_enum, default_value_t = OutputArg::Human, env = "FERRY_OUTPUT")]
    pub output: OutputArg,
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
    #[command(flatten)]
    pub audit: AuditArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: Hosts,
    /// The playbook to check (a name in playbooks/ or a file); default: site.
    pub playbook: Option<String>,
    /// Print each host's effective SSH settings and where each came from
    /// (host entry, inventory `ssh:`, an `ssh_config` line, default).
    #[arg(long, conflicts_with = "playbook")]
    pub ssh: bool,
    /// With --ssh: `json` prints one JSON document on stdout.
    #[arg(long, value_enum, default_value_t = OutputArg::Human, requires = "ssh")]
    pub output: OutputArg,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::config::values::parse_duration(text)
}

#[cfg(test)]
mod tests;

#[derive(Debug, Args)]
pub struct KnownHostsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Show each host's key fingerprint and whether the known hosts files agree (the default).
    #[arg(long, conflicts_with = "update")]
    pub scan: bool,
    /// Replace changed keys and add unknown ones, after confirmation.
    #[arg(long)]
    pub update: bool,
    /// With --update: do not ask.
    #[arg(long, short = 'y', requires = "update")]
    pub yes: bool,
}
