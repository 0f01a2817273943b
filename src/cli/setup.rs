//! The commands that set ferry up rather than touch hosts: `init`,
//! `completions`, `man`, `help`, and `report` (a run's timeline).

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// The commands that need no environment.
#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Start a project: commented inventories (staging, production) and
    /// playbooks (site.yml, deploy.yml) that `ferry check` accepts.
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    ///
    /// bash: `ferry completions bash > ~/.local/share/bash-completion/completions/ferry`;
    /// zsh: into a directory on $fpath as `_ferry`; fish: `~/.config/fish/completions/ferry.fish`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout, or with --dir write one page per command.
    ///
    /// `ferry man | man -l -`; `ferry man --dir ~/.local/share/man/man1`.
    Man(ManArgs),
    /// Print this help, or the help of the given command(s).
    Help(HelpArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run's folder (`.ferry/runs/<run id>`), or a run id in --log-dir.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// Write the run's timeline as one self-contained HTML page.
    #[arg(long, required = true)]
    pub html: bool,
    /// Where the page goes (default: timeline.html in the run's folder).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub logs: LogDir,
}

/// `--log-dir`: where run logs go, and where `ferry report` finds a run by id.
#[derive(Debug, Args)]
pub struct LogDir {
    /// Where run logs are (journal.jsonl and one log per host).
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".ferry/runs",
        env = "FERRY_LOG_DIR"
    )]
    pub log_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project folder (created when missing).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite files that exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: ShellArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write ferry.1 and ferry-<command>.1 for every command into DIR
    /// instead of printing ferry.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HelpArgs {
    /// The command whose help to print (e.g. `deploy`); none: ferry's.
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl HelpArgs {
    /// `ferry help CMD..` means `ferry CMD.. --help`: clap's own help text,
    /// and its own error (with a suggestion) for a command that is not one.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once("ferry".to_string())
            .chain(self.command.iter().cloned())
            .chain(std::iter::once("--help".to_string()))
            .collect()
    }
}
