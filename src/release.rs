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
    /// The run that deployed the release in `source_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_run: Option<String>,
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
    /// This run took over the lock of a run that is gone (its lease had
    /// expired); `detail` names the old holder and run, `release` is what
    /// `current` pointed at. Says nothing about any release.
    LockTakenOver,
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
    /// A promoted release's switch: the environment it came from and the
    /// run that deployed it there (the lineage, also in the release's
    /// `.ferry-release.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_run: Option<String>,
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

    /// The newest health result of `current` since it last became current
    /// (from a deploy, a rollback or `ferry verify`): `None` when unchecked.
    pub fn current_health(&self) -> Option<EventOutcome> {
        let current = self.current.as_ref()?;
        let last_switch = self.history.iter().rposition(|e| {
            &e.release == current && matches!(e.event, EventKind::Switched | EventKind::RolledBack)
        });
        self.history
            .iter()
            .enumerate()
            .rev()
            .find(|(i, e)| {
                e.event == EventKind::Health && &e.release == current && Some(*i) > last_switch
            })
            .map(|(_, e)| e.outcome)
    }

    /// The switch that put `current` where it is: the newest deploy switch
    /// or rollback that landed on it (`None`: not known to the history).
    pub fn last_switch(&self) -> Option<&HistoryEvent> {
        let current = self.current.as_ref()?;
        self.history.iter().rev().find(|e| {
            &e.release == current
                && e.outcome.is_ok()
                && matches!(e.event, EventKind::Switched | EventKind::RolledBack)
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
            // A lock's takeover says nothing of a release's age.
            if e.event == EventKind::LockTakenOver {
                continue;
            }
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
    #[error("no previous release to roll back to (current: {})", .current.as_ref().map_or("none".into(), std::string::ToString::to_string))]
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
mod tests;
