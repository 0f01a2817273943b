//! Faults of the app: a health check that flaps, a rollback whose way back
//! fails on one host.

use std::time::{Duration, Instant};

use crate::invariant::Invariant;
use crate::lab::{assert_within, shown, Lab, SLACK};
use crate::state::{check_final, snapshot, Reported};
use crate::support::host::shell_ok;

/// A health check that fails `fails` times on release r2 (counted per host
/// and release in `flaps-<release>`), then passes; other releases pass.
fn flapping(fails: &str, retries: u32) -> String {
    format!(
        "health:\n  - name: up\n    command: 'r=$(readlink {{{{ deploy_to }}}}/current); c={{{{ deploy_to }}}}/flaps-${{r#releases/}}; n=$(( $(cat $c 2>/dev/null || echo 0) + 1 )); echo $n > $c; [ \"$r\" != releases/r2 ] || [ $n -gt {fails} ]'\n    retries: {retries}\n    interval: {INTERVAL_MS}ms\n"
    )
}

const INTERVAL_MS: u64 = 100;

/// Every host's health check fails twice, within its 3 retries: the deploy
/// succeeds everywhere, and each host took exactly three attempts.
#[test]
fn health_flapping_within_retries() {
    let lab = Lab::start(10, "", &flapping("2", 3));
    let (r1, r2) = (lab.release("r1", 0), lab.release("r2", 0));
    let invariant = Invariant::start(&lab);
    lab.deploy(&r1, "r1").ferry.run();
    let before = snapshot(&lab);
    let (out, reported, took) = lab.deploy(&r2, "r2").go(|f| f);
    assert_eq!(reported.with("deployed").len(), 10, "{}", shown(&out));
    check_final(&lab, &reported, &before, Some("r2"), &[]);
    for i in 0..lab.hosts() {
        let attempts = std::fs::read_to_string(lab.path(i, "flaps-r2")).unwrap();
        assert_eq!(attempts.trim(), "3", "h{}: attempts", i + 1);
    }
    assert_within(
        "health flapping within its retries",
        took,
        Duration::from_millis(3 * INTERVAL_MS) + SLACK,
    );
    invariant.assert_held(50);
}

/// h2's health check keeps failing past its 2 retries: h2 is put back on
/// r1 at once (the release marked bad there), alone within
/// `--max-failures 1`; the others stay on r2; exit 1 names h2.
#[test]
fn health_flapping_beyond_retries() {
    let lab = Lab::start(
        10,
        "",
        &flapping("{{ 99 if host.name == \"h2\" else 1 }}", 2),
    );
    let (r1, r2) = (lab.release("r1", 0), lab.release("r2", 0));
    let invariant = Invariant::start(&lab);
    lab.deploy(&r1, "r1").ferry.run();
    let before = snapshot(&lab);
    let (out, reported, took) = lab.deploy(&r2, "r2").go(|f| {
        f.args(["--max-failures", "1"])
            .code(1)
            .stderr_has("h2: FAILED")
    });
    assert_eq!(reported.outcome("h2"), "failed", "{}", shown(&out));
    assert_eq!(
        reported.hosts["h2"].1.as_deref(),
        Some("r1"),
        "{}",
        shown(&out)
    );
    assert_eq!(reported.with("deployed").len(), 9, "{}", shown(&out));
    check_final(&lab, &reported, &before, Some("r2"), &[]);
    let attempts = std::fs::read_to_string(lab.path(1, "flaps-r2")).unwrap();
    assert_eq!(attempts.trim(), "3", "h2: one attempt and two retries");
    assert_within(
        "health flapping beyond its retries",
        took,
        Duration::from_millis(2 * INTERVAL_MS) + SLACK,
    );
    invariant.assert_held(50);
}

/// `ferry rollback` where h4's way back fails: its rollback target's
/// `after_switch` fails there (the app does not start, and it used up the
/// last free inodes of h4's `deploy_to`, a small tmpfs), so the switch back
/// cannot even make its symlink. h4 is left on the release that failed:
/// exit 3, h4 named; every other host is rolled back.
#[test]
fn rollback_switch_back_fails_on_one_host() {
    let playbook = "after_switch:\n  - { name: restart, run: 'test ! -f {{ deploy_to }}/NOSTART || { mkdir -p {{ deploy_to }}/fill; touch $(seq -f {{ deploy_to }}/fill/%g 1 2000) 2>/dev/null; echo app does not start >&2; exit 3; }' }\n";
    let lab = Lab::start(10, "", playbook);
    let victim = 3;
    shell_ok(
        &lab.fleet,
        victim,
        "mkdir -p /srv/app && mount -t tmpfs -o size=16m,nr_inodes=1000 tmpfs /srv/app",
    );
    let (r1, r2) = (lab.release("r1", 0), lab.release("r2", 0));
    let invariant = Invariant::start(&lab);
    lab.deploy(&r1, "r1").ferry.run();
    lab.deploy(&r2, "r2").ferry.run();
    shell_ok(&lab.fleet, victim, "touch /srv/app/NOSTART");
    let before = snapshot(&lab);
    let started = Instant::now();
    let out = lab
        .rollback()
        .code(3)
        .stderr_has("  h4: FAILED, current: r1\n")
        .stderr_has("the fleet is on mixed releases")
        .run();
    // The way back's failure in the host's own words, in the summary.
    assert!(
        out.stderr.lines().any(|l| {
            l.starts_with("    task `restart` failed on h4")
            && l.contains(
                "putting the previous release back failed too: switch back failed: exit status 1: "
            )
            && l.contains("No space left on device")
        }),
        "{}",
        shown(&out)
    );
    let took = started.elapsed();
    let reported = Reported::summary(&out.stderr);
    assert_eq!(reported.with("rolled_back").len(), 9, "{}", shown(&out));
    check_final(&lab, &reported, &before, None, &[]);
    assert_within("a rollback whose way back fails on one host", took, SLACK);
    invariant.assert_held(50);
}
