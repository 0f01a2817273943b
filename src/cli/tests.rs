use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser as _};

use super::Cli;

fn parse(args: &[&str]) -> Result<Cli, ErrorKind> {
    Cli::try_parse_from(std::iter::once("ferry").chain(args.iter().copied())).map_err(|e| e.kind())
}

/// Every command with an ENV and the arguments it needs besides.
const WITH_ENV: [(&str, &[&str]); 11] = [
    ("run", &[]),
    ("check", &[]),
    ("deploy", &["--artifact", "a.tar.gz"]),
    ("rollback", &[]),
    ("status", &[]),
    ("verify", &[]),
    ("history", &[]),
    ("promote", &["prod"]),
    ("lock", &["--reason", "r"]),
    ("unlock", &[]),
    ("known-hosts", &[]),
];

fn line<'a>(command: &'a str, rest: &'a [&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut line = vec![command, "staging"];
    line.extend_from_slice(rest);
    line.extend_from_slice(extra);
    line
}

#[test]
fn limit_is_a_host_pattern_in_every_command() {
    for (command, rest) in WITH_ENV {
        for flag in ["-l", "--limit"] {
            let got = parse(&line(command, rest, &[flag, "web*,!web3"]));
            assert!(got.is_ok(), "{command} {flag} PATTERN: {got:?}");
        }
    }
}

#[test]
fn forks_only_where_hosts_work_at_once() {
    let forks = |command: &str| !matches!(command, "check" | "lock" | "unlock" | "history");
    for (command, rest) in WITH_ENV {
        let got = parse(&line(command, rest, &["-f", "3"]));
        if forks(command) {
            assert!(got.is_ok(), "{command} -f 3: {got:?}");
        } else {
            assert_eq!(
                got.err(),
                Some(ErrorKind::UnknownArgument),
                "{command} -f 3"
            );
        }
    }
}

#[test]
fn history_counts_with_n_and_last() {
    for args in [&["-n", "5"][..], &["--last", "5"]] {
        assert!(parse(&line("history", &[], args)).is_ok(), "{args:?}");
    }
    // `--limit` is a pattern there too, not a count.
    assert!(parse(&["history", "staging", "--limit", "web"]).is_ok());
    assert_eq!(
        parse(&["history", "staging", "--host", "web"]).err(),
        Some(ErrorKind::UnknownArgument)
    );
}

#[test]
fn every_option_and_argument_has_help_text() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.get_help().is_none() && !matches!(id, "help" | "version") {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&Cli::command(), "ferry", &mut missing);
    assert!(missing.is_empty(), "no help text: {missing:?}");
}

#[test]
fn help_of_a_command_is_that_commands_help() {
    let Ok(cli) = parse(&["help", "deploy"]) else {
        panic!("help deploy parses");
    };
    let super::Command::Setup(super::SetupCommand::Help(help)) = cli.command else {
        panic!("not help");
    };
    assert_eq!(help.argv(), ["ferry", "deploy", "--help"]);
    assert_eq!(
        parse(&help.argv().iter().map(String::as_str).collect::<Vec<_>>()[1..]).err(),
        Some(ErrorKind::DisplayHelp)
    );
    // Its own help, which clap's built-in `help` refused.
    assert_eq!(
        parse(&["help", "--help"]).err(),
        Some(ErrorKind::DisplayHelp)
    );
}

#[test]
fn the_definitions_hold_together() {
    Cli::command().debug_assert();
}

#[test]
fn every_lock_wait_reads_ferry_lock_wait() {
    let cmd = Cli::command();
    for name in ["deploy", "rollback", "verify", "promote"] {
        let sub = cmd.find_subcommand(name).expect(name);
        let arg = sub
            .get_arguments()
            .find(|a| a.get_id() == "lock_wait")
            .expect("--lock-wait");
        assert_eq!(
            arg.get_env(),
            Some(std::ffi::OsStr::new("FERRY_LOCK_WAIT")),
            "{name}"
        );
    }
}

#[test]
fn status_and_history_output_read_ferry_output() {
    let cmd = Cli::command();
    for name in ["status", "history"] {
        let sub = cmd.find_subcommand(name).expect(name);
        let arg = sub
            .get_arguments()
            .find(|a| a.get_id() == "output")
            .expect("--output");
        assert_eq!(
            arg.get_env(),
            Some(std::ffi::OsStr::new("FERRY_OUTPUT")),
            "{name}"
        );
    }
}
