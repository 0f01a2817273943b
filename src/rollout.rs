//! PLAN and DECIDE for rolling deploys: which hosts go in which batch, and
//! after each batch whether the rollout goes on, stops, and whom to roll
//! back. Plain Rust: no I/O, no async, unit-tested.

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
    let group = inv
        .groups
        .iter()
        .find(|g| g.rollout.is_some() && selected.iter().all(|h| g.hosts.contains(h)));
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

/// The rollout's memory: who switched, how many failed.
#[derive(Debug, Default)]
pub struct Rollout {
    max_failures: usize,
    failures: usize,
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
        self.failures
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
                _ => self.failures += 1,
            }
        }
        if self.failures <= self.max_failures {
            return Decision::Continue;
        }
        let failed: Vec<&str> = ends
            .iter()
            .filter(|(_, e)| e.failed())
            .map(|(h, _)| h.as_str())
            .collect();
        let reason = format!(
            "{} host(s) failed, more than max_failures {} (batch {}{}: {})",
            self.failures,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::values::{parse_amount, Span};

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    fn sizes(p: &Plan) -> Vec<usize> {
        p.batches.iter().map(|b| b.hosts.len()).collect()
    }

    fn settings(
        batch: Option<BatchSpec>,
        canary: Option<u32>,
        max: Option<&str>,
    ) -> RolloutSettings {
        RolloutSettings {
            batch,
            canary,
            max_failures: max.map(|m| parse_amount(m).unwrap()),
            pause: Some(Span(Duration::from_secs(2))),
            timeout: None,
        }
    }

    #[test]
    fn canary_then_percent_batches_in_order() {
        let s = settings(Some(BatchSpec::Fixed(Amount::Percent(25.0))), Some(1), None);
        let p = plan(&names(10), 10, &s, true);
        assert_eq!(sizes(&p), [1, 3, 3, 3]);
        assert!(p.batches[0].canary && !p.batches[1].canary);
        assert_eq!(p.batches[1].hosts, ["h2", "h3", "h4"]);
        assert_eq!(p.pause, Duration::from_secs(2));
    }

    #[test]
    fn a_ramp_repeats_its_last_step() {
        let ramp = BatchSpec::Ramp(vec![
            Amount::Count(1),
            Amount::Percent(10.0),
            Amount::Percent(50.0),
        ]);
        let p = plan(&names(20), 20, &settings(Some(ramp), None, None), true);
        assert_eq!(sizes(&p), [1, 2, 10, 7]);
    }

    #[test]
    fn no_batch_setting_means_all_at_once_and_resume_skips_the_canary() {
        assert_eq!(
            sizes(&plan(&names(5), 5, &settings(None, None, None), true)),
            [5]
        );
        let s = settings(Some(BatchSpec::Fixed(Amount::Count(2))), Some(1), None);
        assert_eq!(sizes(&plan(&names(4), 5, &s, false)), [2, 2]);
    }

    #[test]
    fn canary_zero_means_no_canary_batch() {
        let s = settings(Some(BatchSpec::Fixed(Amount::Count(2))), Some(0), None);
        let p = plan(&names(4), 4, &s, true);
        assert_eq!(sizes(&p), [2, 2]);
        assert!(p.batches.iter().all(|b| !b.canary));
    }

    #[test]
    fn max_failures_percent_rounds_down() {
        assert_eq!(
            plan(&names(5), 5, &settings(None, None, Some("10%")), true).max_failures,
            0
        );
        assert_eq!(
            plan(&names(20), 20, &settings(None, None, Some("10%")), true).max_failures,
            2
        );
        assert_eq!(
            plan(&names(3), 3, &settings(None, None, Some("1")), true).max_failures,
            1
        );
    }

    #[test]
    fn a_failure_over_the_limit_stops_and_rolls_back_every_switched_host() {
        let p = plan(
            &names(6),
            6,
            &settings(Some(BatchSpec::Fixed(Amount::Count(2))), Some(1), None),
            true,
        );
        let mut r = Rollout::new(p.max_failures);
        let done = |h: &str| (h.to_string(), End::Done);
        assert_eq!(
            r.on_batch(&p.batches[0], &[done("h1")], RollbackScope::All),
            Decision::Continue
        );
        let ends = [done("h2"), ("h3".to_string(), End::Restored)];
        match r.on_batch(&p.batches[1], &ends, RollbackScope::All) {
            Decision::Stop { roll_back, reason } => {
                assert_eq!(roll_back, ["h1", "h2"]);
                assert!(reason.contains("batch 2: h3"), "{reason}");
            }
            Decision::Continue => panic!("the rollout went on; it should stop"),
        }
    }

    #[test]
    fn failures_within_max_go_on_and_scope_limits_rollback() {
        let mut r = Rollout::new(1);
        let b = Batch {
            number: 1,
            hosts: names(2),
            canary: true,
        };
        let ends = [
            ("h1".to_string(), End::Done),
            ("h2".to_string(), End::FailedBeforeSwitch),
        ];
        assert_eq!(
            r.on_batch(&b, &ends, RollbackScope::All),
            Decision::Continue
        );
        let ends = [("h3".to_string(), End::Restored)];
        match r.on_batch(&b, &ends, RollbackScope::Failed) {
            Decision::Stop { roll_back, .. } => assert!(roll_back.is_empty()),
            Decision::Continue => panic!("the rollout went on; it should stop"),
        }
    }
}
