//! Running a host's rendered tasks: retries, timeouts, `sudo`, delegation,
//! and `local:` tasks on the controller.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use super::{is_remote, status_reason, Echo, Executor, HostReport, HostStatus, TaskFailure};
use crate::config::Host;
use crate::render::{Action, HostPlan, RenderedTask, Step, SudoPassword};
use crate::ssh::{ExitKind, Keep, LineBuffer, Session, UploadSource, KEEP_BYTES};
use crate::steps::RemoteCommand;

impl Executor {
    /// Run every host's plan; reports come back in the plans' order.
    pub async fn run(self: Arc<Self>, plans: Vec<HostPlan>, forks: usize) -> Vec<HostReport> {
        self.run_until(plans, forks, Arc::default()).await.0
    }

    /// As [`Executor::run`], starting no new host once `stop` is set (a
    /// signal): hosts in flight finish. The hosts never started come back
    /// by name, apart from the reports.
    pub async fn run_until(
        self: Arc<Self>,
        plans: Vec<HostPlan>,
        forks: usize,
        stop: Arc<AtomicBool>,
    ) -> (Vec<HostReport>, Vec<String>) {
        let started = Instant::now();
        let hosts = plans.iter().map(|p| p.host.clone()).collect();
        let plans: Arc<HashMap<String, Vec<Step>>> =
            Arc::new(plans.into_iter().map(|p| (p.host.name, p.steps)).collect());
        let needs_ssh = {
            let plans = plans.clone();
            move |host: &Host| plans[&host.name].iter().any(is_remote)
        };
        // A bar of hosts done, on a terminal only; an unreachable host is
        // done too, so the session is asked for here, not by `each_host`.
        self.printer.progress_start(plans.len());
        self.printer.progress_message("running");
        let results = self
            .each_host(
                hosts,
                forks,
                |_| false,
                move |this, host, _| {
                    let plans = plans.clone();
                    let needs_ssh = needs_ssh.clone();
                    let stop = stop.clone();
                    async move {
                        if stop.load(Ordering::SeqCst) {
                            this.printer.progress_hosts_done(1);
                            return None;
                        }
                        let session = if needs_ssh(&host) {
                            Some(this.connect(&host).await)
                        } else {
                            None
                        };
                        let report = match session.transpose() {
                            Ok(session) => Ok(this
                                .run_steps(&host.name, session.as_ref(), &plans[&host.name])
                                .await),
                            Err(status) => Err(status),
                        };
                        this.printer.progress_hosts_done(1);
                        Some(report)
                    }
                },
            )
            .await;
        self.printer.progress_finish();
        let mut not_started = Vec::new();
        let mut reports = Vec::with_capacity(results.len());
        for (host, result) in results {
            let result = match result {
                Ok(None) => {
                    not_started.push(host.name);
                    continue;
                }
                Ok(Some(r)) => r,
                Err(status) => Err(status),
            };
            reports.push(match result {
                Ok(report) => report,
                Err(status) => HostReport {
                    host: host.name,
                    status,
                    tasks_run: 0,
                    tasks_skipped: 0,
                    elapsed: started.elapsed(),
                },
            });
        }
        (reports, not_started)
    }

    /// Run steps in order on one host; the first failure stops the host.
    pub async fn run_steps(
        &self,
        host: &str,
        session: Option<&Session>,
        steps: &[Step],
    ) -> HostReport {
        let started = Instant::now();
        let mut report = HostReport {
            host: host.to_string(),
            status: HostStatus::Ok,
            tasks_run: 0,
            tasks_skipped: 0,
            elapsed: Duration::ZERO,
        };
        for step in steps {
            match step {
                Step::Skip { name, reason } => {
                    report.tasks_skipped += 1;
                    self.printer
                        .host_event(host, &format!("skip `{name}` ({reason})"));
                }
                Step::Run(task) => {
                    self.printer
                        .host_event(host, &format!("task `{}`", task.name));
                    if let Err(failure) = self.run_with_retries(host, session, task).await {
                        self.printer.host_event(host, &format!("FAILED: {failure}"));
                        report.status = HostStatus::Failed(Box::new(failure));
                        break;
                    }
                    report.tasks_run += 1;
                }
            }
        }
        report.elapsed = started.elapsed();
        report
    }

    pub(super) async fn run_with_retries(
        &self,
        host: &str,
        session: Option<&Session>,
        task: &RenderedTask,
    ) -> Result<(), TaskFailure> {
        let mut attempt = 0;
        loop {
            match self.run_task(host, session, task).await {
                Ok(()) => return Ok(()),
                Err(failure) if attempt < task.retries => {
                    attempt += 1;
                    self.printer.host_event(
                        host,
                        &format!(
                            "retry {attempt}/{} of `{}`: {}",
                            task.retries, task.name, failure.reason
                        ),
                    );
                    tokio::time::sleep(task.retry_delay).await;
                }
                Err(failure) => return Err(failure),
            }
        }
    }

    pub(super) async fn run_task(
        &self,
        host: &str,
        session: Option<&Session>,
        task: &RenderedTask,
    ) -> Result<(), TaskFailure> {
        // Test hook: a crashing host task (no input makes one crash today).
        // A deliberate crash, not an assertion about ferry's state.
        #[allow(clippy::manual_assert)]
        if std::env::var("FERRY_TEST_PANIC_HOST").is_ok_and(|h| h == host) {
            panic!("FERRY_TEST_PANIC_HOST={host}");
        }
        let fail =
            |command: &str, reason: String| TaskFailure::new(host, &task.name, command, reason);
        let delegated;
        let session = match &task.delegate {
            Some(delegate) => {
                delegated = self.connect(delegate).await.map_err(|status| {
                    fail(
                        "",
                        format!(
                            "delegate host `{}`: {}",
                            delegate.name,
                            status_reason(&status)
                        ),
                    )
                })?;
                self.printer.host_event(
                    host,
                    &format!("`{}` delegated to {}", task.name, delegate.name),
                );
                Some(&delegated)
            }
            None => session,
        };
        match (&task.action, session) {
            (Action::Local(script), _) => self.run_local(host, task, script).await,
            (Action::WaitFor(wait), session) => {
                self.wait_for(host, session, &task.name, wait).await
            }
            (Action::Run(script), Some(session)) => {
                let cmd = RemoteCommand::new(script.clone())
                    .sudo(task.run_as())
                    .timeout(task.timeout);
                self.run_remote(
                    host,
                    session,
                    &task.name,
                    &cmd,
                    Echo::Lines,
                    task.become_password.as_ref().map(SudoPassword::stdin_line),
                    Keep::Tail(KEEP_BYTES),
                )
                .await
                .map(|_| ())
            }
            (Action::Upload { src, dest, mode }, Some(session)) => {
                let expected = self
                    .checksum_of(src)
                    .await
                    .map_err(|e| fail(&format!("upload {}", src.display()), e))?;
                self.put(
                    host,
                    session,
                    task,
                    UploadSource::File(src),
                    dest,
                    *mode,
                    &expected,
                )
                .await
            }
            (
                Action::Write {
                    content,
                    dest,
                    mode,
                    ..
                },
                Some(session),
            ) => {
                let expected = hex::encode(Sha256::digest(content));
                self.put(
                    host,
                    session,
                    task,
                    UploadSource::Bytes(content),
                    dest,
                    *mode,
                    &expected,
                )
                .await
            }
            (_, None) => Err(fail("", "no SSH session".into())),
        }
    }

    pub(super) async fn run_local(
        &self,
        host: &str,
        task: &RenderedTask,
        script: &str,
    ) -> Result<(), TaskFailure> {
        let failure = |exit: Option<ExitKind>, reason: String, stderr: &str| {
            TaskFailure::new(&format!("{host} (local)"), &task.name, script, reason)
                .exit(exit)
                .stderr(stderr)
        };
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("FERRY_HOST", host)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failure(None, format!("cannot start sh: {e}"), ""))?;
        // Streamed line by line like a host's output, with the same bounds:
        // a command that prints without end costs bounded memory.
        let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
        let work = async {
            let mut lines = [
                LineBuffer::new(Keep::Tail(KEEP_BYTES)),
                LineBuffer::new(Keep::Tail(KEEP_BYTES)),
            ];
            let (mut out_buf, mut err_buf) = (vec![0u8; 32 * 1024], vec![0u8; 32 * 1024]);
            while out.is_some() || err.is_some() {
                let (stream, read) = tokio::select! {
                    n = read_some(&mut out, &mut out_buf), if out.is_some() => (0, n),
                    n = read_some(&mut err, &mut err_buf), if err.is_some() => (1, n),
                };
                let data = if stream == 0 { &out_buf } else { &err_buf };
                match read {
                    Some(n) => lines[stream]
                        .push(&data[..n], |l| self.printer.host_line(host, stream == 1, l)),
                    None if stream == 0 => out = None,
                    None => err = None,
                }
            }
            lines[0].finish(|l| self.printer.host_line(host, false, l));
            let stderr = lines[1].finish(|l| self.printer.host_line(host, true, l));
            (child.wait().await, stderr)
        };
        let (status, stderr) = match task.timeout {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(result) => result,
                Err(_) => return Err(failure(None, format!("timed out after {limit:?}"), "")),
            },
            None => work.await,
        };
        let status = status.map_err(|e| failure(None, format!("cannot wait for sh: {e}"), ""))?;
        if status.success() {
            return Ok(());
        }
        let exit = match status.code() {
            Some(code) => ExitKind::Code(code.cast_unsigned()),
            None => ExitKind::Signal("(local)".into()),
        };
        Err(failure(Some(exit.clone()), exit.to_string(), &stderr))
    }
}

/// Read what is there from a child's pipe; `None` at its end.
pub(super) async fn read_some<R: tokio::io::AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> Option<usize> {
    use tokio::io::AsyncReadExt as _;
    match pipe.as_mut()?.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}
