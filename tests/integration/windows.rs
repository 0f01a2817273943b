//! Deploy windows and freezes: refused outside them (exit 6) with the next
//! opening named, allowed with --outside-window --reason (recorded);
//! rollback is always allowed.

use crate::support::fleet::Fleet;
use crate::support::project::Project;

fn tarball(project: &Project, id: &str) -> std::path::PathBuf {
    project.tarball(
        id,
        &[(
            "index.html",
            format!(
                "{id}
"
            )
            .as_bytes(),
        )],
    )
}

/// A window on tomorrow's weekday only (UTC): closed now, whatever the time.
fn closed_window() -> String {
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .weekday();
    let tomorrow = days[(today.to_monday_zero_offset() as usize + 1) % 7];
    format!("{tomorrow} 00:00-23:59 UTC")
}

#[test]
fn a_deploy_outside_the_window_is_refused_then_allowed_with_a_recorded_reason() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    let (r1, r2) = (tarball(&project, "r1"), tarball(&project, "r2"));
    let deploy = |artifact: &std::path::Path, id: &str, extra: &[&str]| {
        let mut args = vec![
            "deploy",
            "test",
            "--artifact",
            artifact.to_str().unwrap(),
            "--release",
            id,
        ];
        args.extend_from_slice(extra);
        project.ferry(&args)
    };
    deploy(&r1, "r1", &[]).expect_code(0);
    let window = closed_window();
    project.write(
        "inventories/test.yml",
        &fleet.inventory_yaml(&format!("windows: [\"{window}\"]\n")),
    );
    deploy(&r2, "r2", &[])
        .expect_code(6)
        .stderr_has(&format!("outside the deploy windows ({window})"))
        .stderr_has("the next window opens");
    deploy(
        &r2,
        "r2",
        &["--outside-window", "--reason", "security fix CVE-1"],
    )
    .expect_code(0);
    let h = &fleet.hosts()[0];
    let history =
        std::fs::read_to_string(fleet.on_host(0, &format!("{}/.ferry/history.jsonl", h.deploy_to)))
            .unwrap();
    assert!(
        history.contains("outside window: security fix CVE-1"),
        "{history}"
    );
    project
        .ferry(&["history", "test"])
        .expect_code(0)
        .stdout_has("outside window: security fix CVE-1");
    // Rollback ignores the window.
    project.ferry(&["rollback", "test"]).expect_code(0);
}

#[test]
fn a_freeze_refuses_deploys_and_names_its_reason() {
    let fleet = Fleet::start(1);
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let project = Project::new(
        &fleet,
        &format!("freezes:\n  - {{ from: {today}, to: {today}, reason: launch day }}\n"),
    );
    let r1 = tarball(&project, "r1");
    project
        .ferry(&["deploy", "test", "--artifact", r1.to_str().unwrap()])
        .expect_code(6)
        .stderr_has(&format!("frozen from {today} to {today}: launch day"));
}
