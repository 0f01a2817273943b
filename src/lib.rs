//! ferry: agentless fleet deploys over plain SSH.
//!
//! # Layout
//! The modules follow the data flow of a run: CLI → settings → load →
//! render → plan → per-host state machine → execute over SSH → events →
//! reporter.
//!
//! - [`cli`]: clap definitions only.
//! - [`settings`]: the command line settled into plain settings per command;
//!   nothing below it sees clap.
//! - [`commands`]: one module per subcommand; glue between the stages.
//! - [`config`]: LOAD inventory and playbook YAML into typed, validated values.
//! - [`select`]: pick hosts from an inventory by `--limit` pattern.
//! - [`render`]: RENDER every string as a strict minijinja template per host.
//! - [`secrets`]: values read through `env()`; the one place they are masked.
//! - [`artifact`]: the tarball a deploy ships, mapped once for all hosts.
//! - [`layout`]: where releases, `current`, history, artifacts and the lock
//!   live on a host.
//! - [`release`]: release ids, metadata, host history; decisions about bad,
//!   previous and prunable releases (pure).
//! - [`rollout`]: PLAN batches and DECIDE each step of a rollout (pure).
//! - [`machine`]: DECIDE each host's pipeline: a pure state machine.
//! - [`window`]: deploy windows and freezes.
//! - [`context`]: what a release command runs in.
//! - [`deploy`]: the engine: read hosts, prepare jobs, run each host's
//!   pipeline, drive the batches, roll back.
//! - [`lock`]: environment locks with leases on the hosts' clocks.
//! - [`steps`]: what a host runs, as data ([`steps::RemoteCommand`]); pure.
//! - [`probe`]: `wait_for` and health conditions.
//! - [`executor`]: EXECUTE rendered tasks on hosts concurrently over the SSH sessions.
//! - [`ssh`]: the only module that talks SSH (russh): connect, host keys, exec, upload.
//! - [`events`]: the `ferry.events/1` schema as a type: every event a run emits.
//! - [`journal`]: the run's journal file and `--output json` stream.
//! - [`report`]: every byte the user sees; masks secrets. A release run's
//!   engine emits events to its [`report::Reporter`], which feeds every sink.
//! - [`notify`], [`http`]: webhook notifications; HTTP(S) from the controller.
//! - [`failure`]: why a command failed, by kind; each kind is an exit code.
//! - [`exit`]: outcomes and their exit codes.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod artifact;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod deploy;
pub mod drain;
pub mod events;
pub mod executor;
pub mod exit;
pub mod failure;
pub mod http;
pub mod journal;
pub mod layout;
pub mod lock;
pub mod machine;
pub mod notify;
pub mod probe;
#[cfg(test)]
mod prop_support;
pub mod release;
pub mod render;
pub mod report;
pub mod rollout;
pub mod secrets;
pub mod select;
pub mod settings;
pub mod ssh;
pub mod steps;
pub mod window;

use std::ffi::OsString;
use std::io::IsTerminal as _;

use clap::Parser;

use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::settings::Settings;

/// Parse the arguments, run the command, and return the process exit code.
pub fn run<I, T>(args: I) -> ExitStatus
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let status = if err.use_stderr() {
                ExitStatus::Invalid
            } else {
                ExitStatus::Success
            };
            let _ = err.print();
            return status;
        }
    };
    if let cli::Command::Setup(cli::SetupCommand::Help(help)) = &cli.command {
        return run(help.argv());
    }
    report::style::choose(match cli.color {
        cli::ColorWhen::Auto => report::style::ColorChoice::Auto,
        cli::ColorWhen::Always => report::style::ColorChoice::Always,
        cli::ColorWhen::Never => report::style::ColorChoice::Never,
    });
    match execute(cli) {
        Ok(status) => status,
        Err(failure) => {
            report::Printer::plain().error(&failure);
            failure.status()
        }
    }
}

/// Up the soft limit on open files to the hard one: a run holds a socket
/// and a log file per host, and the usual soft limit of 1,024 would fail
/// a 2,000-host run part-way. Left as it is when it cannot be read.
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        // (an unlimited hard limit is capped: the kernel refuses it as soft)
        let want = hard.min(1 << 20);
        if soft < want {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, want, hard);
        }
    }
}

/// Settle the command line, then run the command on a runtime built here.
fn execute(cli: cli::Cli) -> Result<ExitStatus, Failure> {
    let settings = Settings::from_cli(cli, std::io::stdin().is_terminal())?;
    raise_open_files_limit();
    // One thread: ferry's own work is small (encrypting the artifact for
    // every host is most of it, ~3 ms per 5 MiB with AES-GCM), and with no
    // second worker racing russh's session loop its output buffers stay
    // near one message per host (peak RSS, BENCHMARKS.md). Hashing and key
    // loading still go to the blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(commands::dispatch(settings));
    // Stray SSH tasks must not keep the process alive after the answer is known.
    runtime.shutdown_background();
    result
}
