//! Deploy windows and freezes: refused outside them (exit 6) with the next
//! opening named, allowed with --outside-window --reason (recorded);
//! rollback is always allowed.

use crate::support::fleet::Fleet;
use crate::support::host::history_text;
use crate::support::project::Project;

fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
}

/// When tomorrow opens, as ferry names the next window ("Wed 2026-12-02 00:00 UTC").
fn tomorrow_opens() -> String {
    let tomorrow = today().tomorrow().unwrap();
    format!("{} 00:00 UTC", tomorrow.strftime("%a %Y-%m-%d"))
}

/// A window on tomorrow's weekday only (UTC): closed now, whatever the time.
fn closed_window() -> String {
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let today = today().weekday();
    let tomorrow = days[(usize::try_from(today.to_monday_zero_offset()).expect("0..=6") + 1) % 7];
    format!("{tomorrow} 00:00-23:59 UTC")
}

#[test]
fn a_deploy_outside_the_window_is_refused_then_allowed_with_a_recorded_reason() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let (r1, r2) = (project.release_tarball("r1"), project.release_tarball("r2"));
    project.deploy(&r1, "r1").run();
    let window = closed_window();
    project.write(
        "inventories/test.yml",
        &fleet.inventory_yaml(&format!("windows: [\"{window}\"]\n")),
    );
    project
        .deploy(&r2, "r2")
        .code(6)
        .stderr(format!(
            "error: refused: test in inventories/test.yml: outside the deploy windows ({window}); \
             the next window opens {} (or use --outside-window --reason \"...\")\n",
            tomorrow_opens()
        ))
        .run();
    project
        .deploy(&r2, "r2")
        .args(["--outside-window", "--reason", "security fix CVE-1"])
        .run();
    let history = history_text(&fleet, 0);
    assert!(
        history.contains("outside window: security fix CVE-1"),
        "{history}"
    );
    project
        .history()
        .stdout_has("outside window: security fix CVE-1")
        .run();
    // Rollback ignores the window.
    project.rollback().run();
}

#[test]
fn a_freeze_refuses_deploys_and_names_its_reason() {
    let fleet = Fleet::start(1);
    let today = today();
    let project = Project::new(
        &fleet,
        &format!("freezes:\n  - {{ from: {today}, to: {today}, reason: launch day }}\n"),
    );
    let r1 = project.release_tarball("r1");
    project
        .ferry(&["deploy", "test", "--artifact", r1.to_str().unwrap()])
        .code(6)
        .stderr(format!(
            "error: refused: test in inventories/test.yml: frozen from {today} to {today}: launch day; \
             the next window opens {} (or use --outside-window --reason \"...\")\n",
            tomorrow_opens()
        ))
        .run();
}
