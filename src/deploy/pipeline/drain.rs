//! Running a built-in drain provider for one host: `HAProxy` from the
//! controller (every socket together), `health_file` on the host.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::drain::DrainWait;
use crate::config::probe::OnTimeout;
use crate::drain::{haproxy, Drainer};
use crate::executor::TaskFailure;
use crate::machine::Stage;
use crate::steps::drain as cmd;

use super::Pipeline;

impl Pipeline<'_> {
    /// Drain (`out`) or undrain the host with its provider; emitted as a step.
    pub(super) async fn provider(
        &self,
        stage: Stage,
        drainer: &Drainer,
        out: bool,
    ) -> Result<(), TaskFailure> {
        self.step_started(stage, None);
        let result = match (drainer, out) {
            (Drainer::Haproxy { .. }, _) => self.haproxy(drainer, out).await,
            (Drainer::HealthFile { path, .. }, false) => self
                .script("undrain", cmd::create_health_file(path))
                .await
                .map(drop),
            (Drainer::HealthFile { .. }, true) => self.health_file_drain(drainer).await,
        };
        self.step_finished(stage, result.is_ok(), super::shown::drainer(drainer, out));
        result
    }

    fn drain_failure(&self, command: &str, reason: impl Into<String>) -> TaskFailure {
        TaskFailure::new(self.name(), "drain", command, reason)
    }

    async fn haproxy(&self, drainer: &Drainer, out: bool) -> Result<(), TaskFailure> {
        let Drainer::Haproxy {
            sockets,
            via,
            backend,
            server,
            wait,
        } = drainer
        else {
            return Ok(());
        };
        let state = if out { "drain" } else { "ready" };
        let command = haproxy::set_state(backend, server, state);
        let label = if out { "drain" } else { "undrain" };
        let set = sockets.iter().map(|socket| async {
            let answer = self.ask(via.as_deref(), socket, &command, label).await?;
            haproxy::check_set(socket, &command, backend, server, &answer)
                .map_err(|e| TaskFailure::new(self.name(), label, &command, e.to_string()))
        });
        for result in futures::future::join_all(set).await {
            result?;
        }
        if !out {
            return Ok(());
        }
        // Sessions and queue on every HAProxy, until all reach 0.
        self.until_idle(wait, "show stat", || async {
            let loads = futures::future::join_all(sockets.iter().map(|socket| async {
                let answer = self
                    .ask(via.as_deref(), socket, "show stat", "drain wait")
                    .await
                    .map_err(|f| f.reason)?;
                haproxy::parse_stat(socket, backend, server, &answer).map_err(|e| e.to_string())
            }))
            .await;
            let mut left = 0;
            for load in loads {
                let load = load?;
                left += load.sessions + load.queued;
            }
            Ok(left)
        })
        .await
    }

    /// One command to one admin socket: from the controller, or on `via`.
    async fn ask(
        &self,
        via: Option<&crate::config::Host>,
        socket: &str,
        command: &str,
        label: &str,
    ) -> Result<String, TaskFailure> {
        match via {
            None => haproxy::ask(socket, command)
                .await
                .map_err(|e| TaskFailure::new(self.name(), label, command, e.to_string())),
            Some(via) => self
                .exec
                .script_via(self.name(), via, label, cmd::haproxy_ask(socket, command))
                .await
                .map_err(|mut f| {
                    f.reason = format!("HAProxy at {socket} via {}: {}", via.name, f.reason);
                    f
                }),
        }
    }

    async fn health_file_drain(&self, drainer: &Drainer) -> Result<(), TaskFailure> {
        let Drainer::HealthFile {
            path,
            grace,
            port,
            wait,
        } = drainer
        else {
            return Ok(());
        };
        self.script("drain", cmd::remove_health_file(path)).await?;
        // The balancer notices the missing file only after its checks fail.
        tokio::time::sleep(*grace).await;
        let count = cmd::established(*port);
        self.until_idle(wait, &count, || async {
            let out = self
                .script("drain wait", count.clone())
                .await
                .map_err(|f| f.reason)?;
            Ok(cmd::count_established(&out) as u64)
        })
        .await
    }

    /// Poll `left` until it is 0, bounded by the wait's timeout.
    async fn until_idle<F, Fut>(
        &self,
        wait: &DrainWait,
        what: &str,
        left: F,
    ) -> Result<(), TaskFailure>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<u64, String>>,
    {
        let deadline = Instant::now() + wait.timeout;
        // Polls that fit in the timeout, for "attempt k of n".
        let attempts =
            u32::try_from(wait.timeout.as_millis() / wait.interval.as_millis().max(1) + 1)
                .unwrap_or(u32::MAX);
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            let n = left().await.map_err(|e| self.drain_failure(what, e))?;
            if n == 0 {
                return Ok(());
            }
            // Progress, as an event (journal, --output json) and a line:
            // the wait, apart from the drain command that preceded it.
            self.exec.progress(&crate::events::Event::ProbeRetry {
                host: self.name().to_string(),
                kind: crate::events::ProbeKind::Drain,
                probe: what.to_string(),
                attempt,
                attempts,
                retry_in_ms: u64::try_from(wait.interval.as_millis()).unwrap_or(u64::MAX),
                reason: format!("{n} sessions left"),
            });
            if Instant::now() >= deadline {
                let reason = format!(
                    "{n} sessions still open after {}",
                    humantime::format_duration(wait.timeout)
                );
                return match wait.on_timeout {
                    OnTimeout::Fail => Err(self.drain_failure(what, reason)),
                    OnTimeout::Continue => {
                        self.warn(&format!("drain: {reason}; going on (on_timeout: continue)"));
                        Ok(())
                    }
                };
            }
            let nap = wait
                .interval
                .min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(10));
            tokio::time::sleep(nap).await;
        }
    }
}
