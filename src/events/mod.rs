//! The `ferry.events/1` schema, as a type: every event a run emits is an
//! [`Event`], serialised with its name in `event` (`snake_case`) next to its
//! fields. This enum *is* the published schema that `--output json` prints
//! and `journal.jsonl` keeps; `schema.snap.jsonl` beside this file pins one
//! line per variant, so a change to a name or a field fails a test instead
//! of silently breaking a CI pipeline that parses the stream.
//!
//! Adding a field or an event is a schema change too: update the snapshot
//! in the same commit (and bump [`SCHEMA`] when a field goes or changes
//! meaning).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::artifact::Sha256;
use crate::machine::Stage;
use crate::release::ReleaseId;

/// The version of the event schema, in every line as `schema`.
pub const SCHEMA: &str = "ferry.events/1";

/// One event of a run. Host events carry the host and its batch (0: the
/// staging phase, a stopped rollout's way back, or a `ferry rollback`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A deploy (or promote) started: who, what, where.
    RunStarted {
        run_id: String,
        /// The controller's command line, as given.
        command: Vec<String>,
        user: String,
        controller: String,
        env: String,
        release: ReleaseId,
        sha256: Sha256,
        artifact: String,
        /// The environment a promotion came from.
        source_env: Option<String>,
        /// The run that deployed the release in `source_env`.
        source_run: Option<String>,
        hotfix: bool,
        hosts: Vec<String>,
    },
    /// A `ferry rollback` started: back to `to` (`None`: each host's
    /// previous good release), drained in batches unless `now`.
    RollbackStarted {
        run_id: String,
        command: Vec<String>,
        user: String,
        controller: String,
        env: String,
        to: Option<ReleaseId>,
        now: bool,
        hosts: Vec<String>,
    },
    /// A `ferry run` started: a playbook's tasks, or one `--cmd`.
    TasksStarted {
        run_id: String,
        command: Vec<String>,
        user: String,
        controller: String,
        env: String,
        /// The playbook file, or `None` for `--cmd`.
        playbook: Option<String>,
        tasks: Vec<String>,
        hosts: Vec<String>,
    },
    /// The rollout's batches (host names in order) and the hosts skipped as
    /// already on the release.
    Plan {
        release: ReleaseId,
        batches: Vec<Vec<String>>,
        max_failures: usize,
        skipped: Vec<String>,
    },
    /// Every host of a rolling deploy receives the release before batch 1.
    StagingStarted {
        hosts: Vec<String>,
    },
    StagingFinished,
    BatchStarted {
        batch: usize,
        canary: bool,
        hosts: Vec<String>,
    },
    /// The release is already `current` on the host (same sha256) but not
    /// known healthy: the host reuses it, without receiving it again.
    Reused {
        host: String,
        batch: usize,
        release: ReleaseId,
    },
    /// A stage of a host's pipeline started; `release` only for `health`
    /// and `switch` (the release `current` goes to: an older one is a
    /// switch back, a rollback).
    StepStarted {
        host: String,
        batch: usize,
        step: Stage,
        #[serde(skip_serializing_if = "Option::is_none")]
        release: Option<ReleaseId>,
    },
    /// A stage ended (`health` too, after its `healthy` or `unhealthy`).
    StepFinished {
        host: String,
        batch: usize,
        step: Stage,
        ok: bool,
        /// What the step ran, one line per task or check (cut), for the
        /// run's timeline (`ferry report --html`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        commands: Vec<String>,
        /// The host's last log lines during the step (its output, cut).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        output: Vec<String>,
    },
    /// `current` now points at the deployed release.
    Switched {
        host: String,
        batch: usize,
        release: ReleaseId,
    },
    /// `current` went back (or a `ferry rollback` moved it) to `release`.
    RolledBack {
        host: String,
        batch: usize,
        release: ReleaseId,
        /// The terminal's reason only, not in the schema: a `ferry
        /// rollback` that came back to `release` because `failed` failed.
        #[serde(skip)]
        failed: Option<ReleaseId>,
    },
    Healthy {
        host: String,
        batch: usize,
        release: ReleaseId,
    },
    Unhealthy {
        host: String,
        batch: usize,
        release: ReleaseId,
    },
    /// A probe's attempt did not hold and the probe tries again after
    /// `retry_in_ms`: a `wait_for` task (`probe` is the task) or a health
    /// check (`probe` is the check). `attempt` of at most `attempts`. No
    /// batch: the executor that polls does not know it (see `host`'s
    /// `step_started`).
    ProbeRetry {
        host: String,
        kind: ProbeKind,
        probe: String,
        attempt: u32,
        attempts: u32,
        retry_in_ms: u64,
        reason: String,
    },
    /// The rollout stopped; `roll_back` are the hosts it puts back.
    Stopped {
        reason: String,
        roll_back: Vec<String>,
    },
    BatchFinished {
        batch: usize,
    },
    /// The rollout waits this long before its next batch.
    Paused {
        duration_ms: u64,
    },
    /// How one host ended; `current` is what it points at as far as ferry
    /// knows, `reason` why it failed.
    HostResult {
        host: String,
        outcome: HostOutcome,
        current: Option<String>,
        reason: Option<String>,
    },
    /// The last event: hosts counted by outcome.
    RunFinished {
        stopped: Option<String>,
        interrupted: bool,
        counts: Counts,
        duration_ms: u64,
    },
    /// A host's lock lease could not be renewed: the host stops taking steps.
    LockLost {
        host: String,
        reason: String,
    },
    /// The host's lock was held by a run that is gone (its lease had
    /// expired by the host's clock): this run took it over.
    LockTakenOver {
        host: String,
        /// The old holder (`user@controller`), its run and since when.
        holder: String,
        run_id: String,
        since: String,
    },
    /// What one host's SSH connection asked of it after login, sent once the
    /// run is over with it (lock released): `round_trips` waited for
    /// (every command's answer, every channel open not made ahead), `execs`
    /// the commands among them.
    SshTrips {
        host: String,
        round_trips: u32,
        execs: u32,
    },
}

/// What kind of probe a `probe_retry` is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    WaitFor,
    Health,
    /// A drain provider waiting for the host's sessions to end.
    Drain,
}

/// How a host ended, as `host_result` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostOutcome {
    Deployed,
    Skipped,
    RolledBack,
    Failed,
    Unreachable,
    NotStarted,
    /// `ferry run`: every task of the host passed.
    Ok,
}

/// Hosts by outcome; outcomes no host had are left out.
pub type Counts = BTreeMap<HostOutcome, u64>;

impl Event {
    /// The line as published: `schema`, `at_ms`, `event` and the fields.
    /// Not yet masked: the journal masks the whole line.
    ///
    /// # Panics
    /// Never: every field is plain data, and every map key a string.
    #[must_use]
    pub fn line(&self, at_ms: u128) -> Value {
        let mut line = json!({ "schema": SCHEMA, "at_ms": at_ms });
        let fields = serde_json::to_value(self).expect("plain data serializes");
        if let (Some(map), Value::Object(fields)) = (line.as_object_mut(), fields) {
            map.extend(fields);
        }
        line
    }
}

#[cfg(test)]
mod tests;
