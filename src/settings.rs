//! The settings stage between clap and the commands (just's `Arguments →
//! Config`, ripgrep's `LowArgs → HiArgs`, uv's `Cli → Settings`): what was
//! typed ([`crate::cli`]) becomes what to do, as plain types. Flags that only
//! mean something together are folded here (`--stop-after-canary`,
//! `--pause-after-canary` and `--yes` into one [`CanaryGate`]; `--no-rollback`
//! into the [`RollbackScope`]), and ids are parsed, so no command reads a clap
//! struct and nothing below this module derives a clap trait.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli;
use crate::config::values::Span;
use crate::config::RolloutSettings;
use crate::failure::Invalid;
use crate::release::ReleaseId;
use crate::rollout::RollbackScope;

pub use crate::cli::DEFAULT_FORKS;

/// One command and everything it needs to know from the command line.
#[derive(Debug)]
pub enum Settings {
    Run(RunSettings),
    Check(CheckSettings),
    Deploy(DeploySettings),
    Rollback(RollbackSettings),
    Status(StatusSettings),
    Verify(VerifySettings),
    History(HistorySettings),
    Promote(PromoteSettings),
    Lock(LockSettings),
    Unlock(UnlockSettings),
    KnownHosts(KnownHostsSettings),
    Report(ReportSettings),
    Init(InitSettings),
    /// Completions, manual pages or help, rendered from the clap definitions.
    Generate(cli::generate::Generated),
}

/// `ferry report`: which run, and where its page goes.
#[derive(Debug)]
pub struct ReportSettings {
    /// A run's folder, or a run id in `log_dir`.
    pub run: PathBuf,
    pub out: Option<PathBuf>,
    pub log_dir: PathBuf,
}

/// Where the hosts come from: the environment, its inventory and the selection.
#[derive(Clone, Debug)]
pub struct CommonSettings {
    /// The environment: inventories/<ENV>.yml unless `inventory` says.
    pub env: String,
    pub inventory: Option<PathBuf>,
    /// `-e key=value` pairs, parsed once the inventory is read (its errors
    /// come first).
    pub extra_vars: Vec<String>,
    /// A host pattern (`--limit`); `None`: every host.
    pub limit: Option<String>,
    /// How many hosts work at once.
    pub forks: usize,
}

impl CommonSettings {
    /// Every host of `env`, no extra vars, the default forks.
    #[must_use]
    pub fn env(env: &str, inventory: Option<PathBuf>) -> CommonSettings {
        CommonSettings {
            env: env.to_string(),
            inventory,
            extra_vars: Vec::new(),
            limit: None,
            forks: DEFAULT_FORKS,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Text for a person.
    #[default]
    Human,
    /// JSON on stdout (human text goes to stderr).
    Json,
}

/// What `ferry run` runs.
#[derive(Debug)]
pub enum Work {
    /// A playbook name or file, then task names from it (see `load_playbook`).
    Playbook(Vec<String>),
    /// One shell command on every host.
    Command {
        cmd: String,
        timeout: Option<Duration>,
        sudo: bool,
    },
}

#[derive(Debug)]
pub struct RunSettings {
    pub common: CommonSettings,
    pub work: Work,
    pub audit: AuditSettings,
}

#[derive(Debug)]
pub struct CheckSettings {
    pub common: CommonSettings,
    pub playbook: Option<String>,
    /// `--ssh`: the SSH settings report instead of the plan.
    pub ssh: bool,
    pub json: bool,
}

/// Where the artifact a deploy ships comes from.
#[derive(Debug)]
pub enum ArtifactSource {
    /// A tarball on the controller.
    File(PathBuf),
    /// Every host fetches it; `sha256` as typed, checked when the deploy
    /// starts (after the inventory, as before this stage existed).
    Url { url: String, sha256: String },
}

#[derive(Debug)]
pub struct DeploySettings {
    pub common: CommonSettings,
    pub playbook: Option<String>,
    pub artifact: ArtifactSource,
    /// `--release`, parsed; `None`: derived from the artifact.
    pub release: Option<ReleaseId>,
    pub ship: ShipSettings,
}

#[derive(Debug)]
pub struct PromoteSettings {
    /// The source environment: its inventory, the target's extra vars and
    /// forks, every host.
    pub source: CommonSettings,
    /// The target environment and its selection.
    pub target: CommonSettings,
    pub playbook: Option<String>,
    pub ship: ShipSettings,
}

/// What to do after a healthy canary batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CanaryGate {
    /// Go on with the other batches.
    #[default]
    Go,
    /// End the run (exit 5): `--stop-after-canary`.
    Stop,
    /// Ask on the terminal: `--pause-after-canary` without `--yes`.
    Ask,
}

/// `--yes` answers the question before it is asked; a question needs a
/// terminal to be asked on.
fn canary_gate(args: &cli::RolloutArgs, terminal: bool) -> Result<CanaryGate, Invalid> {
    let ask = args.pause_after_canary && !args.yes;
    Ok(match (args.stop_after_canary, ask) {
        (true, _) => CanaryGate::Stop,
        (false, true) if !terminal => return Err(Invalid::PromptWithoutTerminal),
        (false, true) => CanaryGate::Ask,
        (false, false) => CanaryGate::Go,
    })
}

/// The record of a run (deploy, promote, rollback, run): its journal and
/// host logs, `--output json`, the `JUnit` report and the webhook.
#[derive(Debug)]
pub struct AuditSettings {
    pub output: OutputFormat,
    /// A `JUnit` XML report to write.
    pub report: Option<PathBuf>,
    /// The run's timeline to write (`--report` ending in `.html`).
    pub timeline: Option<PathBuf>,
    /// A webhook over the inventory's.
    pub notify: Option<String>,
    pub log_dir: PathBuf,
}

/// How a release rolls out: what `ship` reads, for deploy and promote.
#[derive(Debug)]
pub struct ShipSettings {
    pub audit: AuditSettings,
    pub hotfix: bool,
    /// `Some(reason)`: deploy even outside the windows or in a freeze.
    pub outside_window: Option<String>,
    /// Releases to keep per host, over the playbook's.
    pub keep: Option<usize>,
    /// Print the plan; connect to nothing.
    pub plan: bool,
    /// Batch, canary, max failures and pause, over the inventory's.
    pub rollout: RolloutSettings,
    pub rollback: RollbackScope,
    pub canary: CanaryGate,
    /// Hosts unreachable at the start do not count towards `max_failures`.
    pub skip_unreachable: bool,
    pub lock_wait: Option<Duration>,
}

#[derive(Debug)]
pub struct RollbackSettings {
    pub common: CommonSettings,
    pub playbook: Option<String>,
    /// `--to`, parsed; `None`: each host's previous good release.
    pub to: Option<ReleaseId>,
    pub force_unlock: bool,
    pub lock_wait: Option<Duration>,
    /// `--now`: every host at once, undrained.
    pub now: bool,
    pub audit: AuditSettings,
}

#[derive(Debug)]
pub struct VerifySettings {
    pub common: CommonSettings,
    pub playbook: Option<String>,
    pub lock_wait: Option<Duration>,
}

#[derive(Debug)]
pub struct StatusSettings {
    pub common: CommonSettings,
    pub output: OutputFormat,
}

#[derive(Debug)]
pub struct HistorySettings {
    /// `-l/--limit` is the selection.
    pub common: CommonSettings,
    /// At most this many entries.
    pub entries: usize,
    pub output: OutputFormat,
}

#[derive(Debug)]
pub struct LockSettings {
    pub common: CommonSettings,
    pub reason: String,
}

#[derive(Debug)]
pub struct UnlockSettings {
    pub common: CommonSettings,
    /// Also remove a run's lock whose lease has expired.
    pub force: bool,
}

/// `ferry init`: where to write the project, and whether over existing files.
#[derive(Debug)]
pub struct InitSettings {
    pub dir: PathBuf,
    pub force: bool,
}

#[derive(Debug)]
pub struct KnownHostsSettings {
    pub common: CommonSettings,
    /// `--update`: record changed and unknown keys.
    pub update: bool,
    /// Without asking (`--yes`); otherwise asked on the terminal.
    pub yes: bool,
}

impl Settings {
    /// Settle the command line. `terminal`: whether stdin is one (a question
    /// can be asked). Checked in the order the commands always did: the
    /// release id, then the canary flags, before any file is read.
    ///
    /// # Errors
    /// A release id that is not one, or `--pause-after-canary` without a
    /// terminal to ask on (and without `--yes`).
    pub fn from_cli(cli: cli::Cli, terminal: bool) -> Result<Settings, Invalid> {
        Ok(match cli.command {
            cli::Command::Run(args) => Settings::Run(RunSettings {
                common: args.common.into(),
                work: match args.cmd {
                    Some(cmd) => Work::Command {
                        cmd,
                        timeout: args.timeout,
                        sudo: args.sudo,
                    },
                    None => Work::Playbook(args.names),
                },
                audit: args.audit.into(),
            }),
            cli::Command::Check(args) => Settings::Check(CheckSettings {
                common: args.common.into(),
                playbook: args.playbook,
                ssh: args.ssh,
                json: args.output == cli::OutputArg::Json,
            }),
            cli::Command::Deploy(args) => {
                let release = args.release.as_deref().map(ReleaseId::parse).transpose()?;
                let ship = ShipSettings::from_args(args.rollout, terminal)?;
                let artifact = match (args.artifact, args.artifact_url, args.sha256) {
                    (Some(path), _, _) => ArtifactSource::File(path),
                    (None, Some(url), Some(sha256)) => ArtifactSource::Url { url, sha256 },
                    // clap requires one of the two, and --sha256 with a URL.
                    _ => return Err(Invalid::NoArtifact),
                };
                Settings::Deploy(DeploySettings {
                    common: args.common.into(),
                    playbook: args.playbook,
                    artifact,
                    release,
                    ship,
                })
            }
            cli::Command::Rollback(args) => Settings::Rollback(RollbackSettings {
                to: args.to.as_deref().map(ReleaseId::parse).transpose()?,
                common: args.common.into(),
                playbook: args.playbook,
                force_unlock: args.force_unlock,
                lock_wait: args.lock_wait,
                now: args.now,
                audit: args.audit.into(),
            }),
            cli::Command::Verify(args) => Settings::Verify(VerifySettings {
                common: args.common.into(),
                playbook: args.playbook,
                lock_wait: args.lock_wait,
            }),
            cli::Command::Status(args) => Settings::Status(StatusSettings {
                common: args.common.into(),
                output: args.output.into(),
            }),
            cli::Command::History(args) => Settings::History(HistorySettings {
                common: args.common.into(),
                entries: args.last,
                output: args.output.into(),
            }),
            cli::Command::Promote(args) => {
                let ship = ShipSettings::from_args(args.rollout, terminal)?;
                let target = CommonSettings::from(args.common);
                Settings::Promote(PromoteSettings {
                    source: CommonSettings {
                        extra_vars: target.extra_vars.clone(),
                        forks: target.forks,
                        ..CommonSettings::env(&args.from, args.from_inventory)
                    },
                    target,
                    playbook: args.playbook,
                    ship,
                })
            }
            cli::Command::Lock(args) => Settings::Lock(LockSettings {
                common: args.common.into(),
                reason: args.reason,
            }),
            cli::Command::Unlock(args) => Settings::Unlock(UnlockSettings {
                common: args.common.into(),
                force: args.force,
            }),
            cli::Command::KnownHosts(args) => {
                if args.update && !args.yes && !terminal {
                    return Err(Invalid::ConfirmWithoutTerminal);
                }
                Settings::KnownHosts(KnownHostsSettings {
                    common: args.common.into(),
                    update: args.update,
                    yes: args.yes,
                })
            }
            cli::Command::Report(args) => Settings::Report(ReportSettings {
                run: args.run,
                out: args.out,
                log_dir: args.logs.log_dir,
            }),
            cli::Command::Setup(command) => command.into(),
        })
    }
}

/// `--report` names an HTML page (the timeline), not a `JUnit` file.
fn is_html(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"))
}

impl From<cli::SetupCommand> for Settings {
    fn from(command: cli::SetupCommand) -> Settings {
        use cli::generate::{self, Generated};
        match command {
            cli::SetupCommand::Init(args) => Settings::Init(InitSettings {
                dir: args.dir,
                force: args.force,
            }),
            cli::SetupCommand::Completions(args) => {
                Settings::Generate(Generated::Stdout(generate::completions(args.shell)))
            }
            cli::SetupCommand::Man(args) => Settings::Generate(match args.dir {
                Some(dir) => Generated::Files {
                    dir,
                    files: generate::man_pages(),
                },
                None => Generated::Stdout(generate::man_page()),
            }),
            // `lib::run` answers `help` before this (as `CMD --help`); what
            // `ferry help` alone means, for any other caller.
            cli::SetupCommand::Help(_) => Settings::Generate(Generated::Stdout(generate::help())),
        }
    }
}

impl ShipSettings {
    fn from_args(args: cli::RolloutArgs, terminal: bool) -> Result<ShipSettings, Invalid> {
        let canary = canary_gate(&args, terminal)?;
        Ok(ShipSettings {
            audit: args.audit.into(),
            hotfix: args.hotfix,
            // clap requires --reason with --outside-window.
            outside_window: args.outside_window.then(|| args.reason.unwrap_or_default()),
            keep: args.keep,
            plan: args.plan,
            rollout: RolloutSettings {
                batch: args.batch,
                canary: args.canary,
                max_failures: args.max_failures,
                pause: args.pause.map(Span),
                timeout: None,
                require_health: args.require_health.then_some(true),
            },
            rollback: if args.no_rollback {
                RollbackScope::None
            } else {
                args.rollback.into()
            },
            canary,
            skip_unreachable: args.skip_unreachable,
            lock_wait: args.lock_wait,
        })
    }
}

impl From<cli::Common> for CommonSettings {
    fn from(common: cli::Common) -> CommonSettings {
        CommonSettings {
            forks: common.forks,
            ..common.hosts.into()
        }
    }
}

/// No `--forks` on the command line: the default.
impl From<cli::Hosts> for CommonSettings {
    fn from(hosts: cli::Hosts) -> CommonSettings {
        CommonSettings {
            extra_vars: hosts.extra_vars,
            limit: hosts.limit,
            ..CommonSettings::env(&hosts.env, hosts.inventory)
        }
    }
}

impl From<cli::AuditArgs> for AuditSettings {
    fn from(args: cli::AuditArgs) -> AuditSettings {
        AuditSettings {
            output: args.output.into(),
            timeline: args.report.clone().filter(|p| is_html(p)),
            report: args.report.filter(|p| !is_html(p)),
            notify: args.notify,
            log_dir: args.logs.log_dir,
        }
    }
}

impl From<cli::OutputArg> for OutputFormat {
    fn from(output: cli::OutputArg) -> OutputFormat {
        match output {
            cli::OutputArg::Human => OutputFormat::Human,
            cli::OutputArg::Json => OutputFormat::Json,
        }
    }
}

impl From<cli::RollbackArg> for RollbackScope {
    fn from(scope: cli::RollbackArg) -> RollbackScope {
        match scope {
            cli::RollbackArg::All => RollbackScope::All,
            cli::RollbackArg::Failed => RollbackScope::Failed,
            cli::RollbackArg::None => RollbackScope::None,
        }
    }
}

#[cfg(test)]
mod tests;
