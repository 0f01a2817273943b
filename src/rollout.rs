//! PLAN and DECIDE for rolling deploys: which hosts go in which batch, and
//! after each batch whether the rollout goes on, stops, and whom to roll
//! back. Plain Rust: no I/O, no async, unit-tested.

use std::collections::HashSet;
use std::time::Duration;

use crate::config::values::{Amount, BatchSpec};
use crate::config::{Inventory, RolloutSettings};
use crate::machine::End;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// 1-based, as shown to users.
    pub number: usize,
    pub hosts: Vec<String>,
    pub canary: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub batches: Vec<Batch>,
    /// Hosts that may fail before the rollout stops.
    pub max_failures: usize,
    pub pause: Duration,
    pub timeout: Option<Duration>,
}

/// The settings for a selection: inventory-wide, overridden by the first
/// group (inventory order) that holds every selected host, then by `cli`.
pub fn settings_for(
    inv: &Inventory,
    selected: &[String],
    cli: &RolloutSettings,
) -> RolloutSettings {
    let mut s = inv.rollout.clone();
    let group = inv.groups.iter().find(|g| {
        g.rollout.is_some() && {
            // A set per group: `Vec::contains` per selected host was O(N²).
            let members: HashSet<&str> = g.hosts.iter().map(String::as_str).collect();
            selected.iter().all(|h| members.contains(h.as_str()))
        }
    });
    if let Some(r) = group.and_then(|g| g.rollout.as_ref()) {
        merge(&mut s, r);
    }
    merge(&mut s, cli);
    s
}

fn merge(base: &mut RolloutSettings, over: &RolloutSettings) {
    if over.batch.is_some() {
        base.batch.clone_from(&over.batch);
    }
    if over.canary.is_some() {
        base.canary = over.canary;
    }
    if over.max_failures.is_some() {
        base.max_failures = over.max_failures;
    }
    if over.pause.is_some() {
        base.pause = over.pause;
    }
    if over.timeout.is_some() {
        base.timeout = over.timeout;
    }
    if over.require_health.is_some() {
        base.require_health = over.require_health;
    }
}

/// Split `hosts` (in rollout order) into batches. Percents are of `total`,
/// the number of selected hosts (hosts skipped as already done count too, so
/// a resumed rollout keeps its batch sizes). Without `batch`, one batch.
pub fn plan(hosts: &[String], total: usize, settings: &RolloutSettings, with_canary: bool) -> Plan {
    let mut batches = Vec::new();
    let mut rest = hosts;
    // `canary: 0` (or `--canary 0` over an inventory's canary) means none.
    if let (Some(canary), true) = (settings.canary, with_canary) {
        let take = (canary as usize).min(rest.len());
        if take > 0 {
            batches.push(batch(batches.len(), &rest[..take], true));
            rest = &rest[take..];
        }
    }
    let mut step = 0;
    while !rest.is_empty() {
        let size = batch_size(settings.batch.as_ref(), step, total).clamp(1, rest.len());
        batches.push(batch(batches.len(), &rest[..size], false));
        rest = &rest[size..];
        step += 1;
    }
    Plan {
        batches,
        max_failures: settings.max_failures.map_or(0, |a| floor_of(a, total)),
        pause: settings.pause.map_or(Duration::ZERO, |p| p.0),
        timeout: settings.timeout.map(|t| t.0),
    }
}

fn batch(index: usize, hosts: &[String], canary: bool) -> Batch {
    Batch {
        number: index + 1,
        hosts: hosts.to_vec(),
        canary,
    }
}

fn batch_size(spec: Option<&BatchSpec>, step: usize, total: usize) -> usize {
    match spec {
        None => usize::MAX,
        Some(BatchSpec::Fixed(a)) => a.of(total).max(1),
        Some(BatchSpec::Ramp(steps)) => steps[step.min(steps.len() - 1)].of(total).max(1),
    }
}

/// Failures allowed: a percent rounds down (10% of 5 hosts allows none).
// A percent is 0 to 100 (`parse_amount`), so the result is 0..=total;
// host counts are far below f64's 2^53 exact integers.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
fn floor_of(amount: Amount, total: usize) -> usize {
    match amount {
        Amount::Count(n) => n as usize,
        Amount::Percent(p) => ((total as f64) * p / 100.0).floor() as usize,
    }
}

/// `ferry rollback`'s batches: the rollout's batch size (`batch` of the
/// `total` selected hosts), never a canary. Every batch runs, whatever the
/// earlier ones ended with: an emergency rollback goes on for the other
/// hosts (a host whose rollback fails goes back by its own pipeline). With
/// `now` (`--now`), one batch of every host.
pub fn rollback_batches(
    hosts: &[String],
    total: usize,
    batch: Option<&BatchSpec>,
    now: bool,
) -> Vec<Vec<String>> {
    if hosts.is_empty() {
        return Vec::new();
    }
    let settings = RolloutSettings {
        batch: if now { None } else { batch.cloned() },
        ..RolloutSettings::default()
    };
    plan(hosts, total, &settings, false)
        .batches
        .into_iter()
        .map(|b| b.hosts)
        .collect()
}

/// Whom to roll back when a rollout stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RollbackScope {
    /// Every host switched in this run (the default).
    #[default]
    All,
    /// Only the hosts that failed (they are put back as they fail).
    Failed,
    /// Nobody: leave every host where it is.
    None,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start the next batch.
    Continue,
    /// Stop: no new host starts; roll these hosts back (switched in this run
    /// and still on the new release).
    Stop {
        reason: String,
        roll_back: Vec<String>,
    },
}

/// The rollout's memory: who switched, who failed (each host once).
#[derive(Debug, Default)]
pub struct Rollout {
    max_failures: usize,
    failed: std::collections::BTreeSet<String>,
    /// Hosts on the new release because of this run, in switch order.
    switched: Vec<String>,
}

impl Rollout {
    pub fn new(max_failures: usize) -> Rollout {
        Rollout {
            max_failures,
            ..Rollout::default()
        }
    }

    pub fn failures(&self) -> usize {
        self.failed.len()
    }

    /// Hosts known to have failed before batch 1 (unreachable, staging
    /// failed): they count like any failed host, once.
    pub fn failed_before(&mut self, hosts: &[String]) -> Decision {
        self.failed.extend(hosts.iter().cloned());
        if self.failed.len() <= self.max_failures {
            return Decision::Continue;
        }
        Decision::Stop {
            reason: format!(
                "{} host(s) failed before batch 1, more than max_failures {} ({}); nothing was switched",
                self.failed.len(),
                self.max_failures,
                hosts.join(", ")
            ),
            roll_back: Vec::new(),
        }
    }

    /// Feed the end of each host of a finished batch; decide what comes next.
    pub fn on_batch(
        &mut self,
        batch: &Batch,
        ends: &[(String, End)],
        scope: RollbackScope,
    ) -> Decision {
        for (host, end) in ends {
            match end {
                End::Done => self.switched.push(host.clone()),
                // Never started: neither switched nor failed.
                End::NotStarted => {}
                _ => {
                    self.failed.insert(host.clone());
                }
            }
        }
        if self.failed.len() <= self.max_failures {
            return Decision::Continue;
        }
        let failed: Vec<&str> = ends
            .iter()
            .filter(|(_, e)| e.failed() && *e != End::NotStarted)
            .map(|(h, _)| h.as_str())
            .collect();
        let reason = format!(
            "{} host(s) failed, more than max_failures {} (batch {}{}: {})",
            self.failed.len(),
            self.max_failures,
            batch.number,
            if batch.canary { ", the canary" } else { "" },
            failed.join(", ")
        );
        let roll_back = match scope {
            RollbackScope::All => std::mem::take(&mut self.switched),
            RollbackScope::Failed | RollbackScope::None => Vec::new(),
        };
        Decision::Stop { reason, roll_back }
    }
}

/// What the driver does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Run this batch (its index in the plan).
    Batch(usize),
    /// Wait this long, then ask [`Driver::paused`].
    Pause(Duration),
    /// Stop: no new host starts; put these hosts back.
    Stop {
        reason: String,
        roll_back: Vec<String>,
    },
    /// `--stop-after-canary`: the first batch is healthy; stop as asked.
    PausedAfterCanary,
    /// Ctrl-C / SIGTERM: no new batch starts.
    Interrupted,
    /// Every batch ran.
    Done,
}

/// The run-level decisions of a rollout, as plain data: which batch runs
/// next, the canary gate, pauses, interrupts, when to stop and whom to put
/// back, and which hosts never started. The driver only carries them out.
pub struct Driver {
    plan: Plan,
    rollout: Rollout,
    scope: RollbackScope,
    stop_after_canary: bool,
    /// Batches started so far.
    started: usize,
}

impl Driver {
    pub fn new(plan: Plan, scope: RollbackScope, stop_after_canary: bool) -> Driver {
        Driver {
            rollout: Rollout::new(plan.max_failures),
            plan,
            scope,
            stop_after_canary,
            started: 0,
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The first batch, unless the hosts that already failed (unreachable,
    /// staging failed) are more than the rollout allows.
    pub fn start(&mut self, failed_before: &[String], interrupted: bool) -> Next {
        if let Decision::Stop { reason, roll_back } = self.rollout.failed_before(failed_before) {
            return Next::Stop { reason, roll_back };
        }
        self.go_on(interrupted)
    }

    /// Feed the end of every host of the batch just run.
    pub fn batch_done(&mut self, ends: &[(String, End)], interrupted: bool) -> Next {
        let batch = &self.plan.batches[self.started - 1];
        if let Decision::Stop { reason, roll_back } = self.rollout.on_batch(batch, ends, self.scope)
        {
            return Next::Stop { reason, roll_back };
        }
        if self.started >= self.plan.batches.len() {
            Next::Done
        } else if self.stop_after_canary {
            Next::PausedAfterCanary
        } else if interrupted {
            Next::Interrupted
        } else if !self.plan.pause.is_zero() {
            Next::Pause(self.plan.pause)
        } else {
            self.go_on(interrupted)
        }
    }

    /// After a pause.
    pub fn paused(&mut self, interrupted: bool) -> Next {
        self.go_on(interrupted)
    }

    fn go_on(&mut self, interrupted: bool) -> Next {
        if self.started >= self.plan.batches.len() {
            Next::Done
        } else if interrupted {
            Next::Interrupted
        } else {
            self.started += 1;
            Next::Batch(self.started - 1)
        }
    }

    /// The hosts of the batches that never started.
    pub fn not_started(&self) -> Vec<String> {
        self.plan.batches[self.started..]
            .iter()
            .flat_map(|b| b.hosts.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests;
