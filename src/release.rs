//! Releases as data: validated ids, the metadata kept in each release, the
//! history each host keeps, and the decisions made from them (what to
//! prune, where to roll back to). Pure: no I/O here.
//!
//! A host's layout under `deploy_to` (Capistrano's):
//! `releases/<id>/`, `current -> releases/<id>`, `shared/`, and
//! `.ferry/history.jsonl` plus `.ferry/artifacts/<id>.tar`.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::artifact::Sha256;

/// A release id: `[A-Za-z0-9._-]{1,64}`, not starting with `.`. Checked before
/// it becomes part of any path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReleaseId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid release id `{0}`: use 1 to 64 of A-Z a-z 0-9 . _ - , not starting with `.`")]
pub struct InvalidReleaseId(pub String);

impl ReleaseId {
    pub fn parse(text: &str) -> Result<ReleaseId, InvalidReleaseId> {
        let ok = (1..=64).contains(&text.len())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            // A leading dot would hide it among ferry's own temporary folders.
            && !text.starts_with('.');
        if ok {
            Ok(ReleaseId(text.to_string()))
        } else {
            Err(InvalidReleaseId(text.to_string()))
        }
    }

    /// `<artifact stem>-<first 8 hex of sha256>`: `shop-1.4.tar.gz` → `shop-1.4-3fa2c1d9`.
    pub fn derive(artifact_name: &str, sha256: &str) -> Result<ReleaseId, InvalidReleaseId> {
        let stem = artifact_stem(artifact_name);
        let clean: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .take(50)
            .collect();
        let short = &sha256[..sha256.len().min(8)];
        ReleaseId::parse(&format!("{}-{short}", clean.trim_matches('.')))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn artifact_stem(name: &str) -> &str {
    for ext in [".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".tar.bz2", ".tar"] {
        if let Some(stem) = name.strip_suffix(ext) {
            return stem;
        }
    }
    name
}

impl TryFrom<String> for ReleaseId {
    type Error = InvalidReleaseId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ReleaseId::parse(&s)
    }
}

impl From<ReleaseId> for String {
    fn from(id: ReleaseId) -> String {
        id.0
    }
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Written to `releases/<id>/.ferry-release.json` when the release is made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseMeta {
    pub id: ReleaseId,
    pub artifact: String,
    pub sha256: Sha256,
    pub deployed_by: String,
    pub deployed_at: String,
    pub controller: String,
    pub ferry_version: String,
    pub env: String,
    pub run_id: String,
    /// The environment a promotion came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_env: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `current` now points at `release` (a deploy).
    Switched,
    /// `current` went back to `release` from `previous` (a rollback).
    RolledBack,
    /// A deploy of `release` failed before or after its switch.
    Failed,
    /// A health check of `release` ran; see `outcome`.
    Health,
}

/// Whether a history event's step worked, as `"ok"` or `"failed"`.
///
/// Any other value from a host (a later ferry, a hand edit) reads as
/// `Failed` rather than making the line unreadable: a step ferry cannot
/// vouch for never makes a release good, and a `failed` event must keep
/// marking its release bad (the rule was "anything but `ok` is not ok"
/// when this was a string). `ferry history` then shows it as `failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    Ok,
    #[serde(other)]
    Failed,
}

impl EventOutcome {
    #[must_use]
    pub fn is_ok(self) -> bool {
        self == EventOutcome::Ok
    }
}

impl fmt::Display for EventOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventOutcome::Ok => "ok",
            EventOutcome::Failed => "failed",
        })
    }
}

/// One line of `.ferry/history.jsonl` on a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub at: String,
    pub event: EventKind,
    pub release: ReleaseId,
    /// What `current` pointed at before this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<ReleaseId>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "Sha256::lenient"
    )]
    pub sha256: Option<Sha256>,
    pub by: String,
    pub run_id: String,
    pub env: String,
    pub outcome: EventOutcome,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// What a host reported about its releases in one round trip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostState {
    pub current: Option<ReleaseId>,
    /// Metadata of the current release, when readable.
    pub current_meta: Option<ReleaseMeta>,
    /// Release folders on disk.
    pub on_disk: BTreeSet<ReleaseId>,
    /// The history, oldest first.
    pub history: Vec<HistoryEvent>,
}

impl HostState {
    /// Releases known to be bad on this host: a deploy of it failed, its
    /// health check failed (in any command), or it was rolled back from; each
    /// until a later switch or rollback lands on it again or it passes a
    /// health check.
    pub fn bad(&self) -> BTreeSet<ReleaseId> {
        let mut bad = BTreeSet::new();
        for e in &self.history {
            let ok = e.outcome.is_ok();
            match e.event {
                EventKind::Failed => {
                    bad.insert(e.release.clone());
                }
                EventKind::Health if !ok => {
                    bad.insert(e.release.clone());
                }
                EventKind::RolledBack => {
                    if let Some(from) = &e.previous {
                        bad.insert(from.clone());
                    }
                    // Chosen as the way back: good until its health says otherwise.
                    if ok {
                        bad.remove(&e.release);
                    }
                }
                EventKind::Switched | EventKind::Health if ok => {
                    bad.remove(&e.release);
                }
                _ => {}
            }
        }
        bad
    }

    /// The release `current` pointed at before the current one: the last
    /// switch target other than current, not bad, still on disk.
    pub fn previous(&self) -> Option<ReleaseId> {
        let bad = self.bad();
        self.timeline().into_iter().rev().find(|r| {
            Some(r) != self.current.as_ref() && !bad.contains(r) && self.on_disk.contains(r)
        })
    }

    /// The newest release whose last health check passed.
    pub fn last_good(&self) -> Option<ReleaseId> {
        let bad = self.bad();
        self.history
            .iter()
            .rev()
            .filter(|e| e.event == EventKind::Health && e.outcome.is_ok())
            .map(|e| e.release.clone())
            .find(|r| !bad.contains(r))
    }

    /// Releases `current` pointed at, in order (repeats kept).
    fn timeline(&self) -> Vec<ReleaseId> {
        self.history
            .iter()
            .filter(|e| {
                e.outcome.is_ok() && matches!(e.event, EventKind::Switched | EventKind::RolledBack)
            })
            .map(|e| e.release.clone())
            .collect()
    }

    /// Releases on disk, oldest first: by first appearance in the history,
    /// then (unknown to the history) by name.
    fn by_age(&self) -> Vec<ReleaseId> {
        let mut order: Vec<ReleaseId> = Vec::new();
        for e in &self.history {
            if self.on_disk.contains(&e.release) && !order.contains(&e.release) {
                order.push(e.release.clone());
            }
        }
        let unknown: Vec<ReleaseId> = self
            .on_disk
            .iter()
            .filter(|r| !order.contains(r))
            .cloned()
            .collect();
        unknown.into_iter().chain(order).collect()
    }

    /// Which releases to delete to keep `keep` (at least 1): never current,
    /// previous or the last good one; bad releases go first, then the oldest.
    pub fn prune(&self, keep: usize) -> Vec<ReleaseId> {
        let protected: BTreeSet<ReleaseId> =
            [self.current.clone(), self.previous(), self.last_good()]
                .into_iter()
                .flatten()
                .collect();
        let bad = self.bad();
        let mut candidates: Vec<ReleaseId> = self.by_age();
        // Bad first (stable: oldest bad first), then the rest oldest first.
        candidates.sort_by_key(|r| !bad.contains(r));
        let excess = self.on_disk.len().saturating_sub(keep.max(1));
        candidates
            .into_iter()
            .filter(|r| !protected.contains(r))
            .take(excess)
            .collect()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RollbackError {
    #[error("no previous release to roll back to (current: {})", .current.as_ref().map_or("none".into(), |c| c.to_string()))]
    NoPrevious { current: Option<ReleaseId> },
    #[error("release `{0}` is not on this host")]
    Missing(ReleaseId),
    #[error("already on release `{0}`")]
    AlreadyThere(ReleaseId),
}

/// Where `ferry rollback` takes this host: `to`, or the previous good release.
pub fn rollback_target(
    state: &HostState,
    to: Option<&ReleaseId>,
) -> Result<ReleaseId, RollbackError> {
    match to {
        Some(id) if state.current.as_ref() == Some(id) => {
            Err(RollbackError::AlreadyThere(id.clone()))
        }
        Some(id) if !state.on_disk.contains(id) => Err(RollbackError::Missing(id.clone())),
        Some(id) => Ok(id.clone()),
        None => state.previous().ok_or_else(|| RollbackError::NoPrevious {
            current: state.current.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ReleaseId {
        ReleaseId::parse(s).unwrap()
    }

    fn event(
        kind: EventKind,
        release: &str,
        previous: Option<&str>,
        outcome: &str,
    ) -> HistoryEvent {
        HistoryEvent {
            at: "2026-11-23T10:00:00Z".into(),
            event: kind,
            release: id(release),
            previous: previous.map(id),
            sha256: None,
            by: "ci".into(),
            run_id: "run".into(),
            env: "test".into(),
            outcome: if outcome == "ok" {
                EventOutcome::Ok
            } else {
                EventOutcome::Failed
            },
            detail: String::new(),
        }
    }

    fn state(current: &str, disk: &[&str], history: Vec<HistoryEvent>) -> HostState {
        HostState {
            current: Some(id(current)),
            current_meta: None,
            on_disk: disk.iter().map(|s| id(s)).collect(),
            history,
        }
    }

    #[test]
    fn ids_are_validated_before_they_become_paths() {
        assert!(ReleaseId::parse("r42").is_ok());
        assert!(ReleaseId::parse("shop-1.4_rc1").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../etc",
            "a b",
            "x;rm",
            &"a".repeat(65),
        ] {
            assert!(ReleaseId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            ReleaseId::derive("shop 1.4.tar.gz", "3fa2c1d9aaaa")
                .unwrap()
                .as_str(),
            "shop-1.4-3fa2c1d9"
        );
    }

    #[test]
    fn previous_follows_the_history_not_names() {
        use EventKind::*;
        let s = state(
            "b",
            &["a", "b", "z"],
            vec![
                event(Switched, "z", None, "ok"),
                event(Switched, "a", Some("z"), "ok"),
                event(Switched, "b", Some("a"), "ok"),
            ],
        );
        assert_eq!(s.previous(), Some(id("a")));
        assert_eq!(rollback_target(&s, None), Ok(id("a")));
        assert_eq!(rollback_target(&s, Some(&id("z"))), Ok(id("z")));
        assert_eq!(
            rollback_target(&s, Some(&id("q"))),
            Err(RollbackError::Missing(id("q")))
        );
    }

    #[test]
    fn a_rolled_back_release_is_bad_and_skipped() {
        use EventKind::*;
        let s = state(
            "a",
            &["z", "a", "b", "c"],
            vec![
                event(Switched, "z", None, "ok"),
                event(Switched, "a", Some("z"), "ok"),
                event(Switched, "b", Some("a"), "ok"),
                event(RolledBack, "a", Some("b"), "ok"),
                event(Failed, "c", Some("a"), "failed"),
            ],
        );
        assert_eq!(s.bad(), [id("b"), id("c")].into_iter().collect());
        assert_eq!(s.previous(), Some(id("z")));
    }

    /// Each way a release becomes bad on a host, and what clears it.
    #[test]
    fn bad_releases_by_table() {
        use EventKind::*;
        let base = || {
            vec![
                event(Switched, "a", None, "ok"),
                event(Switched, "b", Some("a"), "ok"),
            ]
        };
        let cases: Vec<(&str, Vec<HistoryEvent>, &[&str])> = vec![
            ("nothing happened", vec![], &[]),
            (
                "deploy failed",
                vec![event(Failed, "c", Some("b"), "failed")],
                &["c"],
            ),
            (
                "health failed",
                vec![event(Health, "b", None, "failed")],
                &["b"],
            ),
            (
                "health failed, then passed",
                vec![
                    event(Health, "b", None, "failed"),
                    event(Health, "b", None, "ok"),
                ],
                &[],
            ),
            (
                "rolled back from",
                vec![event(RolledBack, "a", Some("b"), "ok")],
                &["b"],
            ),
            (
                "rollback target failed its health check, host went back",
                vec![
                    event(RolledBack, "a", Some("b"), "ok"),
                    event(Health, "a", None, "failed"),
                    event(RolledBack, "b", Some("a"), "ok"),
                ],
                &["a"],
            ),
            (
                "a fix-forward deploy does not clear an older bad release",
                vec![
                    event(Health, "a", None, "failed"),
                    event(Switched, "c", Some("b"), "ok"),
                ],
                &["a"],
            ),
            (
                "deployed again: a fresh attempt",
                vec![
                    event(Failed, "c", Some("b"), "failed"),
                    event(Switched, "c", Some("b"), "ok"),
                ],
                &[],
            ),
        ];
        for (what, more, want) in cases {
            let mut history = base();
            history.extend(more);
            let s = state("b", &["a", "b", "c"], history);
            let want: BTreeSet<ReleaseId> = want.iter().map(|r| id(r)).collect();
            assert_eq!(s.bad(), want, "{what}");
        }
    }

    /// The issue's scenario: a rollback to `a` failed its health check and
    /// the host went back to `b`; a fix-forward `c` is deployed; the next
    /// rollback must go to `b`, never to the failed `a`.
    #[test]
    fn rollback_never_lands_on_a_release_that_failed_its_health_check() {
        use EventKind::*;
        let s = state(
            "c",
            &["a", "b", "c"],
            vec![
                event(Switched, "a", None, "ok"),
                event(Switched, "b", Some("a"), "ok"),
                event(RolledBack, "a", Some("b"), "ok"),
                event(Health, "a", None, "failed"),
                event(RolledBack, "b", Some("a"), "ok"),
                event(Switched, "c", Some("b"), "ok"),
            ],
        );
        assert_eq!(rollback_target(&s, None), Ok(id("b")));
        let s = state(
            "b",
            &["a", "b"],
            vec![
                event(Switched, "a", None, "ok"),
                event(Switched, "b", Some("a"), "ok"),
                event(RolledBack, "a", Some("b"), "ok"),
                event(Health, "a", None, "failed"),
                event(RolledBack, "b", Some("a"), "ok"),
            ],
        );
        assert_eq!(
            rollback_target(&s, None),
            Err(RollbackError::NoPrevious {
                current: Some(id("b"))
            })
        );
    }

    #[test]
    fn no_previous_is_an_error() {
        let s = state(
            "a",
            &["a"],
            vec![event(EventKind::Switched, "a", None, "ok")],
        );
        assert_eq!(
            rollback_target(&s, None),
            Err(RollbackError::NoPrevious {
                current: Some(id("a"))
            })
        );
    }

    #[test]
    fn prune_keeps_newest_and_protects_current_previous_and_good() {
        use EventKind::*;
        let names = ["r1", "r2", "r3", "r4", "r5", "r6", "r7"];
        let mut history = vec![
            event(Switched, "r1", None, "ok"),
            event(Health, "r1", None, "ok"),
        ];
        for w in names.windows(2) {
            history.push(event(Switched, w[1], Some(w[0]), "ok"));
        }
        let s = state("r7", &names, history);
        // r1 is the last release that passed a health check: kept.
        assert_eq!(s.prune(3), vec![id("r2"), id("r3"), id("r4"), id("r5")]);
    }

    #[test]
    fn prune_takes_bad_releases_first() {
        use EventKind::*;
        let s = state(
            "r3",
            &["r1", "r2", "r3", "rx"],
            vec![
                event(Switched, "r1", None, "ok"),
                event(Switched, "r2", Some("r1"), "ok"),
                event(Switched, "r3", Some("r2"), "ok"),
                event(Failed, "rx", Some("r3"), "failed"),
            ],
        );
        assert_eq!(s.prune(3), vec![id("rx")]);
    }

    /// The history's outcome field keeps its on-disk text; a value ferry
    /// never writes reads as failed, so it cannot make a release good.
    #[test]
    fn history_outcomes_are_ok_or_failed_on_disk() {
        let line = |outcome: &str| {
            format!(
                r#"{{"at":"t","event":"health","release":"r1","by":"ci","run_id":"x","env":"e","outcome":"{outcome}"}}"#
            )
        };
        for (text, outcome) in [("ok", EventOutcome::Ok), ("failed", EventOutcome::Failed)] {
            let event: HistoryEvent = serde_json::from_str(&line(text)).unwrap();
            assert_eq!(event.outcome, outcome);
            assert_eq!(serde_json::to_string(&event).unwrap(), line(text));
            assert_eq!(outcome.to_string(), text);
        }
        let odd: HistoryEvent = serde_json::from_str(&line("maybe")).unwrap();
        assert_eq!(odd.outcome, EventOutcome::Failed);
        let s = state("r0", &["r0", "r1"], vec![odd]);
        assert!(s.bad().contains(&id("r1")));
    }

    /// Metadata with a bad sha256 is unreadable (the host has "no release"
    /// for promote); a history event keeps everything but the bad field.
    #[test]
    fn a_bad_sha256_from_a_host_is_never_kept() {
        let meta = r#"{"id":"r1","artifact":"a.tar","sha256":"/../x","deployed_by":"ci","deployed_at":"t","controller":"c","ferry_version":"0","env":"e","run_id":"x"}"#;
        assert!(serde_json::from_str::<ReleaseMeta>(meta).is_err());
        let event = r#"{"at":"t","event":"failed","release":"r1","sha256":"abc","by":"ci","run_id":"x","env":"e","outcome":"failed"}"#;
        let event: HistoryEvent = serde_json::from_str(event).unwrap();
        assert_eq!(event.sha256, None);
        let good = format!(
            r#"{{"at":"t","event":"failed","release":"r1","sha256":"{}","by":"ci","run_id":"x","env":"e","outcome":"failed"}}"#,
            "0".repeat(64)
        );
        let event: HistoryEvent = serde_json::from_str(&good).unwrap();
        assert_eq!(event.sha256.as_deref(), Some("0".repeat(64).as_str()));
    }
}
