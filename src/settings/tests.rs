use clap::Parser as _;

use super::*;

fn settle(args: &[&str], terminal: bool) -> Result<Settings, Invalid> {
    let cli = cli::Cli::try_parse_from(std::iter::once("ferry").chain(args.iter().copied()))
        .expect("the test's command line parses");
    Settings::from_cli(cli, terminal)
}

fn ship(args: &[&str], terminal: bool) -> ShipSettings {
    let mut line = vec!["deploy", "prod", "--artifact", "a.tar.gz"];
    line.extend_from_slice(args);
    match settle(&line, terminal) {
        Ok(Settings::Deploy(d)) => d.ship,
        other => panic!("not a deploy: {other:?}"),
    }
}

#[test]
fn canary_flags_fold_into_one_gate() {
    let cases: [(&[&str], bool, CanaryGate); 6] = [
        (&[], false, CanaryGate::Go),
        (&["--stop-after-canary"], false, CanaryGate::Stop),
        (&["--pause-after-canary"], true, CanaryGate::Ask),
        (&["--pause-after-canary", "--yes"], false, CanaryGate::Go),
        (&["--stop-after-canary", "--yes"], false, CanaryGate::Stop),
        (&["--yes"], false, CanaryGate::Go),
    ];
    for (args, terminal, gate) in cases {
        assert_eq!(ship(args, terminal).canary, gate, "{args:?}");
    }
}

#[test]
fn a_question_needs_a_terminal() {
    let got = settle(
        &["deploy", "prod", "--artifact", "a", "--pause-after-canary"],
        false,
    );
    assert!(
        matches!(got, Err(Invalid::PromptWithoutTerminal)),
        "{got:?}"
    );
}

#[test]
fn no_rollback_wins_over_the_scope() {
    assert_eq!(ship(&[], false).rollback, RollbackScope::All);
    assert_eq!(
        ship(&["--rollback", "failed"], false).rollback,
        RollbackScope::Failed
    );
    assert_eq!(
        ship(&["--rollback", "failed", "--no-rollback"], false).rollback,
        RollbackScope::None
    );
}

#[test]
fn outside_window_carries_its_reason() {
    assert_eq!(ship(&[], false).outside_window, None);
    assert_eq!(
        ship(&["--outside-window", "--reason", "fix"], false).outside_window,
        Some("fix".to_string())
    );
    assert_eq!(ship(&["--reason", "fix"], false).outside_window, None);
}

#[test]
fn a_bad_release_id_is_refused_before_the_canary_flags() {
    let got = settle(
        &[
            "deploy",
            "prod",
            "--artifact",
            "a",
            "--release",
            ".hidden",
            "--pause-after-canary",
        ],
        false,
    );
    assert!(matches!(got, Err(Invalid::ReleaseId(_))), "{got:?}");
}

#[test]
fn history_selects_by_limit_and_counts_by_last_with_the_default_forks() {
    let Ok(Settings::History(h)) = settle(&["history", "prod", "-l", "web*", "-n", "3"], false)
    else {
        panic!("not history");
    };
    assert_eq!(h.common.limit.as_deref(), Some("web*"));
    assert_eq!(h.common.forks, DEFAULT_FORKS);
    assert_eq!(h.entries, 3);
    let Ok(Settings::History(h)) =
        settle(&["history", "prod", "--limit", "db", "--last", "7"], false)
    else {
        panic!("not history");
    };
    assert_eq!((h.common.limit.as_deref(), h.entries), (Some("db"), 7));
    let Ok(Settings::History(h)) = settle(&["history", "prod"], false) else {
        panic!("not history");
    };
    assert_eq!((h.common.limit, h.entries), (None, 20));
}

#[test]
fn promote_reads_the_source_with_the_targets_vars_and_forks() {
    let Ok(Settings::Promote(p)) = settle(
        &[
            "promote",
            "staging",
            "prod",
            "-e",
            "a=1",
            "-f",
            "3",
            "-l",
            "web1",
            "--from-inventory",
            "s.yml",
        ],
        false,
    ) else {
        panic!("not promote");
    };
    assert_eq!(p.source.env, "staging");
    assert_eq!(p.source.inventory, Some(PathBuf::from("s.yml")));
    assert_eq!(p.source.extra_vars, ["a=1"]);
    assert_eq!(p.source.forks, 3);
    assert_eq!(p.source.limit, None);
    assert_eq!(p.target.env, "prod");
    assert_eq!(p.target.limit.as_deref(), Some("web1"));
}

#[test]
fn a_report_ending_in_html_is_the_timeline_else_junit() {
    let html = ship(&["--report", "out/Run.HTML"], false);
    assert_eq!(html.audit.timeline, Some(PathBuf::from("out/Run.HTML")));
    assert_eq!(html.audit.report, None);
    let junit = ship(&["--report", "junit.xml"], false);
    assert_eq!(junit.audit.report, Some(PathBuf::from("junit.xml")));
    assert_eq!(junit.audit.timeline, None);
}
