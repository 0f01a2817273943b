//! `wait_for` tasks and health checks: probes polled from the controller
//! until they pass, their attempts run out, or they time out. Each attempt
//! that does not hold is said (`probe_retry`: attempt k of n, why), so a
//! long wait is never silent; on the host an attempt is one command over
//! the host's session.

use std::time::{Duration, Instant};

use super::{Echo, Executor, TaskFailure};
use crate::config::values::MAX_DURATION;
use crate::events::{Event, ProbeKind};
use crate::probe::{self, HealthCheck, Probe, Wait};
use crate::ssh::{ExitKind, Keep, Session, KEEP_BYTES};

/// Why one attempt did not pass.
enum Miss {
    /// The probe does not hold (yet): why.
    NotYet(String),
    /// The attempt itself broke (the session is gone): waiting is over.
    Broken(TaskFailure),
}

/// How many attempts a wait of `timeout` polling every `interval` makes:
/// one at once, then one per interval until the timeout.
fn wait_attempts(timeout: Duration, interval: Duration) -> u32 {
    let every = interval.as_millis().max(1);
    u32::try_from(timeout.as_millis() / every)
        .unwrap_or(u32::MAX)
        .saturating_add(1)
}

impl Executor {
    /// One attempt of `probe`, bounded by `timeout`.
    async fn probe_once(
        &self,
        host: &str,
        session: Option<&Session>,
        name: &str,
        probe: &Probe,
        timeout: Duration,
    ) -> Result<(), Miss> {
        if !probe.on_host() {
            return probe::check_from_controller(probe, timeout)
                .await
                .map_err(|e| Miss::NotYet(e.to_string()));
        }
        let Some(session) = session else {
            return Err(Miss::Broken(TaskFailure::plain(
                host,
                name,
                "no SSH session",
            )));
        };
        let cmd = probe::host_command(probe, timeout);
        match self
            .run_remote(
                host,
                session,
                name,
                &cmd,
                Echo::Quiet,
                None,
                Keep::Tail(KEEP_BYTES),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(f) if matches!(f.exit, Some(ExitKind::Code(_))) => {
                Err(Miss::NotYet(if f.stderr_tail.trim().is_empty() {
                    f.reason
                } else {
                    f.stderr_tail
                }))
            }
            Err(f) => Err(Miss::Broken(f)),
        }
    }

    /// Poll until the condition holds, every `interval`, for `timeout`.
    pub async fn wait_for(
        &self,
        host: &str,
        session: Option<&Session>,
        task: &str,
        wait: &Wait,
    ) -> Result<(), TaskFailure> {
        let what = wait.probe.describe();
        let timeout = wait.timeout.min(MAX_DURATION);
        let deadline = Instant::now() + timeout;
        let attempts = wait_attempts(timeout, wait.interval);
        // Each attempt gets about one interval: on the host 1 s at least (and
        // never more than the whole wait), from here 0.5 to 5 s.
        let per_attempt = if wait.probe.on_host() {
            wait.interval.max(Duration::from_secs(1)).min(timeout)
        } else {
            wait.interval
                .clamp(Duration::from_millis(500), Duration::from_secs(5))
        };
        let mut attempt = 1;
        loop {
            let reason = match self
                .probe_once(host, session, task, &wait.probe, per_attempt)
                .await
            {
                Ok(()) => return Ok(()),
                Err(Miss::Broken(failure)) => return Err(failure),
                Err(Miss::NotYet(reason)) => reason,
            };
            if attempt >= attempts || Instant::now() + wait.interval > deadline {
                break;
            }
            self.progress(&Event::ProbeRetry {
                host: host.into(),
                kind: ProbeKind::WaitFor,
                probe: task.into(),
                attempt,
                attempts,
                retry_in_ms: millis(wait.interval),
                reason: brief(&reason),
            });
            tokio::time::sleep(wait.interval).await;
            attempt += 1;
        }
        if wait.continue_on_timeout {
            self.printer.host_event(
                host,
                &format!(
                    "`{task}`: {what} still not true after {:?}; going on (on_timeout: continue)",
                    wait.timeout
                ),
            );
            return Ok(());
        }
        Err(TaskFailure::plain(
            host,
            task,
            &format!("waited {:?} for {what}: it never held", wait.timeout),
        ))
    }

    /// Run health checks in order; each gets `retries` more attempts.
    pub async fn health(
        &self,
        host: &str,
        session: &Session,
        checks: &[HealthCheck],
        first: Option<Result<(), String>>,
    ) -> Result<(), TaskFailure> {
        // The first check's first attempt, when an earlier script carried it.
        let mut first = first;
        for check in checks {
            let attempts = check.retries.saturating_add(1);
            let mut last = String::new();
            let mut passed = false;
            for attempt in 1..=attempts {
                if attempt > 1 {
                    self.progress(&Event::ProbeRetry {
                        host: host.into(),
                        kind: ProbeKind::Health,
                        probe: check.name.clone(),
                        attempt: attempt - 1,
                        attempts,
                        retry_in_ms: millis(check.interval),
                        reason: brief(&last),
                    });
                    tokio::time::sleep(check.interval).await;
                }
                let attempted = match first.take() {
                    Some(Ok(())) => Ok(()),
                    Some(Err(why)) => Err(Miss::NotYet(why)),
                    None => {
                        self.probe_once(
                            host,
                            Some(session),
                            &check.name,
                            &check.probe,
                            check.timeout,
                        )
                        .await
                    }
                };
                match attempted {
                    Ok(()) => {
                        passed = true;
                        break;
                    }
                    Err(Miss::NotYet(reason)) => last = reason,
                    Err(Miss::Broken(f)) => last = f.reason,
                }
            }
            if !passed {
                return Err(TaskFailure::plain(
                    host,
                    &check.name,
                    &format!(
                        "health check failed after {}: {} ({last})",
                        crate::report::human::count(attempts as usize, "attempt"),
                        check.probe.describe()
                    ),
                ));
            }
            self.printer
                .host_event(host, &format!("healthy: {}", check.name));
        }
        Ok(())
    }
}

/// A reason short enough for a progress line (a stderr tail can be 64 KiB).
fn brief(reason: &str) -> String {
    reason.trim().chars().take(300).collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_makes_one_attempt_then_one_per_interval() {
        let s = Duration::from_secs;
        let table = [
            (s(60), s(1), 61),
            (s(2), s(1), 3),
            (s(1), s(5), 1),
            (Duration::from_millis(1500), Duration::from_millis(500), 4),
            (s(0), s(1), 1),
            (s(10), Duration::ZERO, 10_001),
        ];
        for (timeout, interval, want) in table {
            assert_eq!(
                wait_attempts(timeout, interval),
                want,
                "{timeout:?} {interval:?}"
            );
        }
    }
}
