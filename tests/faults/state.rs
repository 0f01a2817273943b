//! The check every scenario ends with: what ferry reported (its
//! `ferry.events/1` journal and the summary on stderr) against each host's
//! real state: where `current` points, the host's own history, and whether
//! its lock folder is still there.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::lab::Lab;

/// What a finished run said about each host.
#[derive(Debug)]
pub(crate) struct Reported {
    /// host -> (`outcome`, `current`) from its `host_result` event.
    pub hosts: BTreeMap<String, (String, Option<String>)>,
    /// Hosts named under "could not release the lock on N host(s)".
    pub kept_locks: Vec<String>,
    /// `run_finished`'s counts.
    pub counts: BTreeMap<String, u64>,
}

impl Reported {
    /// Read the report of a run that ended (it must have `run_finished`).
    #[track_caller]
    pub(crate) fn of(events: &[Value], stderr: &str) -> Reported {
        let finished: Vec<&Value> = events
            .iter()
            .filter(|e| e["event"] == "run_finished")
            .collect();
        assert_eq!(finished.len(), 1, "one run_finished event\n{stderr}");
        let counts = finished[0]["counts"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        let hosts = events
            .iter()
            .filter(|e| e["event"] == "host_result")
            .map(|e| {
                (
                    e["host"].as_str().expect("host").to_string(),
                    (
                        e["outcome"].as_str().expect("outcome").to_string(),
                        e["current"].as_str().map(str::to_string),
                    ),
                )
            })
            .collect();
        Reported {
            hosts,
            kept_locks: kept_locks(stderr),
            counts,
        }
    }

    /// Read the report of a command without `--output json` (`ferry
    /// rollback`) from its summary on stderr: one `  <host>: <line>` per
    /// host (src/commands/results.rs), then the counts line.
    #[track_caller]
    pub(crate) fn summary(stderr: &str) -> Reported {
        let mut hosts = BTreeMap::new();
        let mut counts = BTreeMap::new();
        for line in stderr.lines() {
            if let Some(rest) = line
                .split_once("  (")
                .and_then(|(c, _)| c.split_once(": done "))
            {
                // "rollback: done 9  skipped 0  failed 1  unreachable 0  not started 0"
                let text = format!("done {}", rest.1);
                for (name, key) in [
                    ("done", "done"),
                    ("skipped", "skipped"),
                    ("failed", "failed"),
                    ("unreachable", "unreachable"),
                    ("not started", "not_started"),
                ] {
                    let n = text
                        .split("  ")
                        .find_map(|part| part.strip_prefix(&format!("{name} ")))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("counts line {line:?}"));
                    counts.insert(key.to_string(), n);
                }
                continue;
            }
            let Some(entry) = line.strip_prefix("  ") else {
                continue;
            };
            let Some((host, what)) = entry.split_once(": ") else {
                continue;
            };
            if host.contains(' ') || host.starts_with(' ') {
                continue;
            }
            let parsed = if let Some(to) = what.strip_prefix("rolled back to ") {
                ("rolled_back", Some(to.split(' ').next().unwrap_or(to)))
            } else if let Some(on) = what.strip_prefix("FAILED, current: ") {
                ("failed", (on != "nothing").then_some(on))
            } else if let Some(on) = what.strip_prefix("skipped: already on ") {
                ("skipped", Some(on))
            } else if let Some(r) = what.strip_prefix("deployed ") {
                ("deployed", Some(r.split(' ').next().unwrap_or(r)))
            } else if what == "not started" {
                ("not_started", None)
            } else if what.starts_with("UNREACHABLE") {
                ("unreachable", None)
            } else {
                continue;
            };
            hosts.insert(
                host.to_string(),
                (parsed.0.to_string(), parsed.1.map(str::to_string)),
            );
        }
        assert!(!counts.is_empty(), "no summary on stderr\n{stderr}");
        Reported {
            hosts,
            kept_locks: kept_locks(stderr),
            counts,
        }
    }

    /// The outcome reported for `host`.
    #[track_caller]
    pub(crate) fn outcome(&self, host: &str) -> &str {
        &self
            .hosts
            .get(host)
            .unwrap_or_else(|| panic!("no host_result for {host}"))
            .0
    }

    /// Hosts whose outcome is `outcome`, in name order.
    pub(crate) fn with(&self, outcome: &str) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|(_, (o, _))| o == outcome)
            .map(|(h, _)| h.clone())
            .collect()
    }
}

/// "could not release the lock on 2 host(s) (...):\n  h1: why\n  h2: why"
fn kept_locks(stderr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = stderr.lines();
    while let Some(line) = lines.next() {
        if line.contains("could not release the lock on ") {
            for next in lines.by_ref() {
                let Some(entry) = next.strip_prefix("  ") else {
                    break;
                };
                if let Some((host, _)) = entry.split_once(':') {
                    out.push(host.trim().to_string());
                }
            }
        }
    }
    out
}

/// Where host `i`'s `current` points now ("r2"), None when it has none.
pub(crate) fn real_current(lab: &Lab, i: usize) -> Option<String> {
    std::fs::read_link(lab.path(i, "current")).ok().map(|t| {
        let t = t.to_string_lossy().into_owned();
        t.strip_prefix("releases/")
            .map_or(t.clone(), str::to_string)
    })
}

/// Every host's `current` now.
pub(crate) fn snapshot(lab: &Lab) -> Vec<Option<String>> {
    (0..lab.hosts()).map(|i| real_current(lab, i)).collect()
}

/// The release the host's own history says `current` was last moved to.
fn history_current(lab: &Lab, i: usize) -> Option<String> {
    let text = std::fs::read_to_string(lab.path(i, ".ferry/history.jsonl")).unwrap_or_default();
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| (e["event"] == "switched" || e["event"] == "rolled_back") && e["outcome"] == "ok")
        .and_then(|e| e["release"].as_str().map(str::to_string))
}

/// The final-state check: for every host, the report of the run that
/// ended (`reported`) matches the host. `before`: every host's `current`
/// before the run; `release`: the run's target (a deploy's release, None
/// for a rollback); `silent`: hosts that were killed or frozen (their lock
/// may stay: nobody could remove it).
#[track_caller]
pub(crate) fn check_final(
    lab: &Lab,
    reported: &Reported,
    before: &[Option<String>],
    release: Option<&str>,
    silent: &[usize],
) {
    let mut problems = Vec::new();
    let counted: u64 = reported.counts.values().sum();
    if counted != lab.hosts() as u64 {
        problems.push(format!(
            "the counts name {counted} hosts of {}: {:?}",
            lab.hosts(),
            reported.counts
        ));
    }
    for (i, h) in lab.fleet.hosts().iter().enumerate() {
        let real = real_current(lab, i);
        let Some((outcome, current)) = reported.hosts.get(&h.name) else {
            problems.push(format!("{}: no host_result", h.name));
            continue;
        };
        if let Some(current) = current {
            if real.as_deref() != Some(current.as_str()) {
                problems.push(format!(
                    "{}: reported on {current}, really on {real:?}",
                    h.name
                ));
            }
        } else if real != before[i] {
            problems.push(format!(
                "{}: reported with no release ({outcome}), but `current` moved from {:?} to {real:?}",
                h.name, before[i]
            ));
        }
        match outcome.as_str() {
            "deployed" | "skipped" => {
                if let Some(release) = release {
                    if real.as_deref() != Some(release) {
                        problems.push(format!("{}: {outcome}, but on {real:?}", h.name));
                    }
                }
            }
            "unreachable" | "not_started" if real != before[i] => {
                problems.push(format!(
                    "{}: {outcome}, but `current` moved from {:?} to {real:?}",
                    h.name, before[i]
                ));
            }
            _ => {}
        }
        if real.is_some() && history_current(lab, i) != real {
            problems.push(format!(
                "{}: on {real:?}, but its history says {:?}",
                h.name,
                history_current(lab, i)
            ));
        }
        let locked = std::fs::symlink_metadata(lab.path(i, ".ferry/lock")).is_ok();
        if locked && !reported.kept_locks.contains(&h.name) && !silent.contains(&i) {
            problems.push(format!(
                "{}: still locked, and the report does not say so",
                h.name
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the report does not match the hosts:\n  {}\nreported: {reported:?}",
        problems.join("\n  ")
    );
}
