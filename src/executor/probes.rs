//! `wait_for` tasks and health checks: probes polled until they pass or
//! time out.

use std::time::{Duration, Instant};

use super::{Echo, Executor, TaskFailure};
use crate::config::values::MAX_DURATION;
use crate::probe::{self, HealthCheck, Wait};
use crate::ssh::{ExitKind, Keep, Session, KEEP_BYTES};
use crate::steps::RemoteCommand;

impl Executor {
    /// Poll until the condition holds. On the host it is one script that
    /// polls there; from the controller, a loop here.
    pub async fn wait_for(
        &self,
        host: &str,
        session: Option<&Session>,
        task: &str,
        wait: &Wait,
    ) -> Result<(), TaskFailure> {
        let what = wait.probe.describe();
        let outcome = if wait.probe.on_host() {
            let Some(session) = session else {
                return Err(TaskFailure::plain(host, task, "no SSH session"));
            };
            let script = probe::host_poll_script(&wait.probe, wait.timeout, wait.interval);
            let cmd = RemoteCommand::new(script)
                .timeout(Some(wait.timeout.saturating_add(Duration::from_secs(15))));
            match self
                .run_remote(
                    host,
                    session,
                    task,
                    &cmd,
                    Echo::Quiet,
                    None,
                    Keep::Tail(KEEP_BYTES),
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(f) if f.exit == Some(ExitKind::Code(probe::POLL_TIMEOUT_EXIT)) => Err(None),
                Err(f) => Err(Some(f)),
            }
        } else {
            let deadline = Instant::now() + wait.timeout.min(MAX_DURATION);
            loop {
                let attempt = wait
                    .interval
                    .clamp(Duration::from_millis(500), Duration::from_secs(5));
                if probe::check_from_controller(&wait.probe, attempt)
                    .await
                    .is_ok()
                {
                    break Ok(());
                }
                if Instant::now() >= deadline {
                    break Err(None);
                }
                tokio::time::sleep(wait.interval).await;
            }
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(Some(failure)) => Err(failure),
            Err(None) if wait.continue_on_timeout => {
                self.printer.host_event(
                    host,
                    &format!("`{task}`: {what} still not true after {:?}; going on (on_timeout: continue)", wait.timeout),
                );
                Ok(())
            }
            Err(None) => Err(TaskFailure::plain(
                host,
                task,
                &format!("waited {:?} for {what}: it never held", wait.timeout),
            )),
        }
    }

    /// Run health checks in order; each gets `retries` more attempts.
    pub async fn health(
        &self,
        host: &str,
        session: &Session,
        checks: &[HealthCheck],
    ) -> Result<(), TaskFailure> {
        for check in checks {
            let mut last = String::new();
            let mut passed = false;
            for attempt in 0..=check.retries {
                if attempt > 0 {
                    tokio::time::sleep(check.interval).await;
                }
                let result = if check.probe.on_host() {
                    let script = probe::host_script(&check.probe, check.timeout);
                    let cmd = RemoteCommand::new(script)
                        .timeout(Some(check.timeout.saturating_add(Duration::from_secs(5))));
                    self.run_remote(
                        host,
                        session,
                        &check.name,
                        &cmd,
                        Echo::Quiet,
                        None,
                        Keep::Tail(KEEP_BYTES),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|f| {
                        if f.stderr_tail.is_empty() {
                            f.reason
                        } else {
                            f.stderr_tail
                        }
                    })
                } else {
                    probe::check_from_controller(&check.probe, check.timeout)
                        .await
                        .map_err(|e| e.to_string())
                };
                match result {
                    Ok(()) => {
                        passed = true;
                        break;
                    }
                    Err(reason) => last = reason,
                }
            }
            if !passed {
                return Err(TaskFailure::plain(
                    host,
                    &check.name,
                    &format!(
                        "health check failed after {} attempts: {} ({last})",
                        check.retries + 1,
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
