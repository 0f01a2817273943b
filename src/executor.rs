//! EXECUTE: run each host's rendered steps over its SSH session. Hosts work
//! concurrently, bounded by `--forks`; a failing host stops only itself.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt as _;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::values::MAX_DURATION;
use crate::config::Host;
use crate::probe::{self, HealthCheck, Wait};
use crate::render::{Action, HostPlan, RenderedTask, Step};
use crate::report::{tail, Printer};
use crate::ssh::{
    Connector, ExitKind, Keep, LineBuffer, Session, SshError, Stream, Target, UploadSource,
    KEEP_BYTES,
};
use crate::steps::{self, RemoteCommand, TIMEOUT_EXIT};

/// Lines of stderr quoted in a failure.
const STDERR_TAIL_LINES: usize = 10;

/// Why a task failed on a host, with everything needed to act on it.
#[derive(Clone, Debug, thiserror::Error)]
#[error("task `{task}` failed on {host}: {reason}{}{}", command_block(.command), stderr_block(.stderr_tail))]
pub struct TaskFailure {
    pub host: String,
    pub task: String,
    pub command: String,
    /// How the command ended, when it ran at all.
    pub exit: Option<ExitKind>,
    pub reason: String,
    pub stderr_tail: String,
}

impl TaskFailure {
    pub fn new(host: &str, task: &str, command: &str, reason: impl Into<String>) -> TaskFailure {
        TaskFailure {
            host: host.into(),
            task: task.into(),
            command: command.into(),
            exit: None,
            reason: reason.into(),
            stderr_tail: String::new(),
        }
    }

    /// A failure of ferry's own logic on a host, with no command behind it.
    pub fn plain(host: &str, task: &str, reason: &str) -> TaskFailure {
        TaskFailure::new(host, task, "", reason)
    }

    fn exit(mut self, exit: Option<ExitKind>) -> TaskFailure {
        self.exit = exit;
        self
    }

    fn stderr(mut self, stderr: &str) -> TaskFailure {
        self.stderr_tail = tail(stderr, STDERR_TAIL_LINES);
        self
    }
}

/// ferry's own scripts run to a kilobyte; the start names what they do.
const SHOWN_COMMAND_CHARS: usize = 240;

fn command_block(command: &str) -> String {
    if command.is_empty() {
        return String::new();
    }
    let total = command.chars().count();
    if total <= SHOWN_COMMAND_CHARS {
        return format!("\n  command: {command}");
    }
    let start: String = command.chars().take(SHOWN_COMMAND_CHARS).collect();
    format!("\n  command: {start}… ({total} characters)")
}

fn stderr_block(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n  stderr:\n    {}", tail.replace('\n', "\n    "))
    }
}

#[derive(Clone, Debug)]
pub enum HostStatus {
    Ok,
    Failed(Box<TaskFailure>),
    Unreachable(String),
}

#[derive(Clone, Debug)]
pub struct HostReport {
    pub host: String,
    pub status: HostStatus,
    pub tasks_run: usize,
    pub tasks_skipped: usize,
    pub elapsed: Duration,
}

/// What ferry's own scripts return of their stdout: all of it up to here.
/// They print their status lines first and bound what follows (the
/// history read by `inspect` is at most `steps::release::HISTORY_BYTES`),
/// so host text never pushes those lines out.
const SCRIPT_KEEP: Keep = Keep::Head(4 * 1024 * 1024);

/// Whether a command's output lines are shown: ferry's own plumbing is not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Echo {
    Lines,
    Quiet,
}

pub struct Executor {
    connector: Connector,
    printer: Arc<Printer>,
    /// sha256 of uploaded controller files, computed once per run.
    checksums: Mutex<HashMap<PathBuf, String>>,
    /// One open session per host, reused by every step of the run.
    sessions: Mutex<HashMap<String, Session>>,
}

impl Executor {
    pub fn new(connector: Connector, printer: Arc<Printer>) -> Executor {
        Executor {
            connector,
            printer,
            checksums: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Run `work` for every host, at most `forks` at once, with the host's SSH
    /// session when `connect` says so (opened once, kept for later steps until
    /// [`Executor::close_all`]). Results come back in the hosts' order; a host
    /// that cannot be reached gets its status instead.
    pub async fn each_host<T, F, Fut>(
        self: &Arc<Self>,
        hosts: Vec<Host>,
        forks: usize,
        connect: impl Fn(&Host) -> bool,
        work: F,
    ) -> Vec<(Host, Result<T, HostStatus>)>
    where
        T: Send + 'static,
        F: Fn(Arc<Executor>, Host, Option<Session>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let slots = Arc::new(Semaphore::new(forks.max(1)));
        let work = Arc::new(work);
        let mut set = JoinSet::new();
        for (index, host) in hosts.into_iter().enumerate() {
            let (this, slots, work) = (self.clone(), slots.clone(), work.clone());
            let wants_session = connect(&host);
            set.spawn(async move {
                let _slot = slots.acquire_owned().await.expect("semaphore never closes");
                let run = async {
                    let session = if wants_session {
                        Some(this.connect(&host).await?)
                    } else {
                        None
                    };
                    Ok(work(this.clone(), host.clone(), session).await)
                };
                // A host task that panics is a failed host, never a host
                // missing from the results (which would count as success).
                let result = match AssertUnwindSafe(run).catch_unwind().await {
                    Ok(result) => result,
                    Err(panic) => Err(crashed(&host.name, panic.as_ref())),
                };
                (index, host, result)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(result) => results.push(result),
                // Unwinding is caught in the task: this is a task cancelled
                // by the runtime shutting down, with no host left to report.
                Err(e) => self
                    .printer
                    .note(&format!("internal error: a host task ended: {e}")),
            }
        }
        results.sort_by_key(|(i, _, _)| *i);
        results.into_iter().map(|(_, h, r)| (h, r)).collect()
    }

    pub fn printer(&self) -> &Arc<Printer> {
        &self.printer
    }

    /// Copy a host file into a controller file over the host's session.
    pub async fn download(
        &self,
        host: &Host,
        remote: &str,
        local: &mut tokio::fs::File,
    ) -> Result<u64, String> {
        let session = self.connect(host).await.map_err(|s| status_reason(&s))?;
        session
            .download(remote, local)
            .await
            .map_err(|e| e.to_string())
    }

    /// Close every open session.
    pub async fn close_all(&self) {
        let sessions: Vec<Session> = {
            let mut map = self.sessions.lock().expect("sessions lock");
            map.drain().map(|(_, s)| s).collect()
        };
        futures::future::join_all(sessions.iter().map(Session::close)).await;
    }

    /// Run one of ferry's scripts on every host (each its own script, by
    /// host name), at most `forks` at once; stdout per host.
    pub async fn script_each(
        self: &Arc<Self>,
        hosts: &[Host],
        forks: usize,
        step: &'static str,
        scripts: HashMap<String, String>,
    ) -> Vec<(Host, Result<String, HostStatus>)> {
        let scripts = Arc::new(scripts);
        self.each_host(
            hosts.to_vec(),
            forks,
            |_| true,
            move |exec, host, session| {
                let scripts = scripts.clone();
                async move {
                    let session = session.expect("script_each connects");
                    exec.script(
                        &host.name,
                        &session,
                        step,
                        scripts[&host.name].clone(),
                        None,
                    )
                    .await
                    .map_err(|f| HostStatus::Failed(Box::new(f)))
                }
            },
        )
        .await
        .into_iter()
        .map(|(host, result)| (host, result.and_then(|r| r)))
        .collect()
    }

    async fn connect(&self, host: &Host) -> Result<Session, HostStatus> {
        if let Some(session) = self.sessions.lock().expect("sessions lock").get(&host.name) {
            if !session.is_closed() {
                return Ok(session.clone());
            }
        }
        let session = self.open(host).await?;
        self.sessions
            .lock()
            .expect("sessions lock")
            .insert(host.name.clone(), session.clone());
        Ok(session)
    }

    async fn open(&self, host: &Host) -> Result<Session, HostStatus> {
        let target = Target {
            address: host.address.clone(),
            port: host.port,
            user: host.user.clone(),
        };
        self.connector.connect(&target).await.map_err(|err| {
            let status = connect_failure(&host.name, err);
            match &status {
                HostStatus::Unreachable(reason) => self
                    .printer
                    .host_event(&host.name, &format!("UNREACHABLE: {reason}")),
                HostStatus::Failed(f) => {
                    self.printer.host_event(&host.name, &format!("FAILED: {f}"))
                }
                HostStatus::Ok => {}
            }
            status
        })
    }

    /// Run every host's plan; reports come back in the plans' order.
    pub async fn run(self: Arc<Self>, plans: Vec<HostPlan>, forks: usize) -> Vec<HostReport> {
        let started = Instant::now();
        let hosts = plans.iter().map(|p| p.host.clone()).collect();
        let plans: Arc<HashMap<String, Vec<Step>>> =
            Arc::new(plans.into_iter().map(|p| (p.host.name, p.steps)).collect());
        let needs_ssh = {
            let plans = plans.clone();
            move |host: &Host| plans[&host.name].iter().any(is_remote)
        };
        let results = self
            .each_host(hosts, forks, needs_ssh, move |this, host, session| {
                let plans = plans.clone();
                async move {
                    this.run_steps(&host.name, session.as_ref(), &plans[&host.name])
                        .await
                }
            })
            .await;
        results
            .into_iter()
            .map(|(host, result)| match result {
                Ok(report) => report,
                Err(status) => HostReport {
                    host: host.name,
                    status,
                    tasks_run: 0,
                    tasks_skipped: 0,
                    elapsed: started.elapsed(),
                },
            })
            .collect()
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

    /// Run one of ferry's own scripts (no retries; output shown only if asked).
    pub async fn script(
        &self,
        host: &str,
        session: &Session,
        step: &str,
        script: String,
        input: Option<Bytes>,
    ) -> Result<String, TaskFailure> {
        let cmd = RemoteCommand::new(script);
        self.run_remote(host, session, step, &cmd, Echo::Quiet, input, SCRIPT_KEEP)
            .await
    }

    async fn run_with_retries(
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

    async fn run_task(
        &self,
        host: &str,
        session: Option<&Session>,
        task: &RenderedTask,
    ) -> Result<(), TaskFailure> {
        // Test hook: a crashing host task (no input makes one crash today).
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
                    .sudo(task.sudo)
                    .timeout(task.timeout);
                self.run_remote(
                    host,
                    session,
                    &task.name,
                    &cmd,
                    Echo::Lines,
                    None,
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

    /// Run one remote command; a non-zero exit is a failure.
    #[allow(clippy::too_many_arguments)]
    async fn run_remote(
        &self,
        host: &str,
        session: &Session,
        task: &str,
        cmd: &RemoteCommand,
        echo: Echo,
        input: Option<Bytes>,
        keep: Keep,
    ) -> Result<String, TaskFailure> {
        let shell = cmd.to_shell();
        let printer = self.printer.clone();
        let name = host.to_string();
        let mut on_line = move |stream: Stream, line: &str| {
            if echo == Echo::Lines {
                printer.host_line(&name, stream == Stream::Stderr, line)
            }
        };
        let failure = |exit: Option<ExitKind>, reason: String, stderr: &str| {
            TaskFailure::new(host, task, &cmd.script, reason)
                .exit(exit)
                .stderr(stderr)
        };
        match session
            .exec_with_input(&shell, input, cmd.client_deadline(), keep, &mut on_line)
            .await
        {
            Ok(out) if out.exit.success() => Ok(out.stdout),
            Ok(out) => {
                let timed_out = cmd.timeout.is_some()
                    && matches!(out.exit, ExitKind::Code(c) if c == TIMEOUT_EXIT || c == 128 + 9);
                let reason = match cmd.timeout {
                    Some(t) if timed_out => format!("timed out after {t:?} (killed on the host)"),
                    _ => out.exit.to_string(),
                };
                Err(failure(Some(out.exit), reason, &out.stderr))
            }
            Err(err) => Err(failure(None, err.to_string(), "")),
        }
    }

    /// Upload to a new private file (0600, see `Session::upload`), then
    /// install it with its final mode and verify the sha256 of what landed.
    /// Without sudo the file is written beside `dest` and renamed; with
    /// sudo it is written in a private folder the host makes (`mktemp -d`)
    /// and installed by root as root's.
    #[allow(clippy::too_many_arguments)]
    async fn put(
        &self,
        host: &str,
        session: &Session,
        task: &RenderedTask,
        source: UploadSource<'_>,
        dest: &str,
        mode: Option<u32>,
        expected: &str,
    ) -> Result<(), TaskFailure> {
        let fail = |reason: String| {
            TaskFailure::new(host, &task.name, &format!("upload to {dest}"), reason)
        };
        let private_dir = if task.sudo {
            let made = RemoteCommand::new(steps::PRIVATE_TEMP_DIR).timeout(task.timeout);
            let out = self
                .run_remote(
                    host,
                    session,
                    &task.name,
                    &made,
                    Echo::Quiet,
                    None,
                    Keep::Tail(KEEP_BYTES),
                )
                .await?;
            match out.trim() {
                dir if dir.starts_with('/') && !dir.contains('\n') => Some(dir.to_string()),
                other => return Err(fail(format!("mktemp -d printed `{other}`, not a folder"))),
            }
        } else {
            None
        };
        let (tmp, install, cleanup) = match &private_dir {
            Some(dir) => {
                let tmp = format!("{dir}/upload");
                let install = steps::install_file_as_root(dir, &tmp, dest, mode);
                (tmp, install, steps::remove_dir(dir))
            }
            None => {
                let tmp = temp_path(dest);
                let install = steps::install_file(&tmp, dest, mode);
                let cleanup = steps::remove_file(&tmp);
                (tmp, install, cleanup)
            }
        };
        let clean_up = || async {
            let _ = session
                .exec(
                    &RemoteCommand::new(cleanup.clone()).to_shell(),
                    None,
                    &mut |_, _| {},
                )
                .await;
        };
        if let Err(e) = session.upload(source, &tmp).await {
            clean_up().await;
            return Err(fail(e.to_string()));
        }
        // Test hook: hold the written, not yet installed file until this
        // path exists, so a test can look at it on the host.
        if let Ok(flag) = std::env::var("FERRY_TEST_HOLD_UPLOAD") {
            while !Path::new(&flag).exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let install = RemoteCommand::new(install)
            .sudo(task.sudo)
            .timeout(task.timeout);
        let stdout = match self
            .run_remote(
                host,
                session,
                &task.name,
                &install,
                Echo::Quiet,
                None,
                Keep::Tail(KEEP_BYTES),
            )
            .await
        {
            Ok(stdout) => stdout,
            Err(failure) => {
                clean_up().await;
                return Err(failure);
            }
        };
        let landed = stdout.split_whitespace().next().unwrap_or_default();
        if landed != expected {
            return Err(fail(format!(
                "checksum mismatch on the host: expected sha256 {expected}, found {landed}"
            )));
        }
        self.printer.host_event(
            host,
            &format!("{dest} written (sha256 {})", &expected[..12]),
        );
        Ok(())
    }

    async fn checksum_of(&self, path: &Path) -> Result<String, String> {
        if let Some(sum) = self.checksums.lock().expect("checksum lock").get(path) {
            return Ok(sum.clone());
        }
        let owned = path.to_path_buf();
        let sum = tokio::task::spawn_blocking(move || sha256_file(&owned))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        self.checksums
            .lock()
            .expect("checksum lock")
            .insert(path.to_path_buf(), sum.clone());
        Ok(sum)
    }

    async fn run_local(
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
            Some(code) => ExitKind::Code(code as u32),
            None => ExitKind::Signal("(local)".into()),
        };
        Err(failure(Some(exit.clone()), exit.to_string(), &stderr))
    }
}

/// Read what is there from a child's pipe; `None` at its end.
async fn read_some<R: tokio::io::AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> Option<usize> {
    use tokio::io::AsyncReadExt as _;
    match pipe.as_mut()?.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// The status of a host whose task panicked.
fn crashed(host: &str, panic: &(dyn std::any::Any + Send)) -> HostStatus {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    HostStatus::Failed(Box::new(TaskFailure::plain(
        host,
        "ferry",
        &format!("internal error: the host's task crashed: {message}"),
    )))
}

fn status_reason(status: &HostStatus) -> String {
    match status {
        HostStatus::Unreachable(reason) => reason.clone(),
        HostStatus::Failed(f) => f.reason.clone(),
        HostStatus::Ok => String::new(),
    }
}

fn is_remote(step: &Step) -> bool {
    matches!(step, Step::Run(t) if !matches!(t.action, Action::Local(_)))
}

fn connect_failure(host: &str, err: SshError) -> HostStatus {
    if err.is_unreachable() {
        HostStatus::Unreachable(err.to_string())
    } else {
        HostStatus::Failed(Box::new(TaskFailure::new(
            host,
            "connect",
            "",
            err.to_string(),
        )))
    }
}

/// A temporary name in the destination's folder, so the final move is a
/// rename on one filesystem. Unpredictable, and created with O_EXCL.
fn temp_path(dest: &str) -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    // Randomly keyed per process (std's SipHash keys): no extra dependency.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let unique = format!(".ferry-tmp-{}-{random:016x}", std::process::id());
    match dest.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/{unique}-{name}"),
        None => format!("{unique}-{dest}"),
    }
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_path_stays_beside_dest() {
        let tmp = temp_path("/srv/app/config.yml");
        assert!(tmp.starts_with("/srv/app/.ferry-tmp-"), "{tmp}");
        assert!(tmp.ends_with("-config.yml"), "{tmp}");
        assert_ne!(tmp, temp_path("/srv/app/config.yml"));
    }

    #[test]
    fn failure_shows_host_task_command_status_and_stderr() {
        let failure = TaskFailure {
            host: "web1".into(),
            task: "migrate".into(),
            command: "./migrate".into(),
            exit: Some(ExitKind::Code(3)),
            reason: "exit status 3".into(),
            stderr_tail: "boom\nbang".into(),
        };
        assert_eq!(
            failure.to_string(),
            "task `migrate` failed on web1: exit status 3\n  command: ./migrate\n  stderr:\n    boom\n    bang"
        );
    }
}
