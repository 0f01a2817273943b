//! EXECUTE: run each host's rendered steps over its SSH session. Hosts work
//! concurrently, bounded by `--forks`; a failing host stops only itself.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::FutureExt as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::Host;
use crate::render::{Action, Step};
use crate::report::Printer;
use crate::ssh::{Connector, ExitKind, Keep, Session, SshError, Stream, Target};
use crate::steps::{self, RemoteCommand, TIMEOUT_EXIT};

mod connect;
mod failure;
mod probes;
mod tasks;
mod upload;

pub use connect::Connecting;
pub use failure::{HostReport, HostStatus, TaskFailure};
pub use upload::sha256_file;

/// How long a host whose connection was lost mid-run is given to answer
/// again when a later step needs it.
const AGAIN: std::time::Duration = std::time::Duration::from_secs(2);

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
    /// Hosts whose connection failed in this run, and why: asked again, they
    /// answer at once, so a host costs one connect timeout per run and is
    /// reported once.
    failed: Mutex<HashMap<String, HostStatus>>,
    /// Where probe progress goes as events (a release run's reporter);
    /// without one (`ferry run`) it is printed as the terminal line.
    progress: Mutex<Option<ProgressSink>>,
}

/// Receives the executor's progress events (see [`Executor::report_to`]).
pub type ProgressSink = Arc<dyn Fn(&crate::events::Event) + Send + Sync>;

impl Executor {
    pub fn new(connector: Connector, printer: Arc<Printer>) -> Executor {
        Executor {
            connector,
            printer,
            checksums: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            progress: Mutex::new(None),
        }
    }

    /// Send probe progress (`probe_retry`) to `sink` from now on.
    pub fn report_to(&self, sink: ProgressSink) {
        *self.progress.lock().expect("progress lock") = Some(sink);
    }

    /// A progress event: to the run's reporter, else its terminal line.
    pub fn progress(&self, event: &crate::events::Event) {
        use crate::report::human::{human, HumanLine, Seen};
        let sink = self.progress.lock().expect("progress lock").clone();
        if let Some(sink) = sink {
            sink(event);
            return;
        }
        for line in human(event, &Seen::default()) {
            match line {
                HumanLine::Host { host, text } => self.printer.host_event(&host, &text),
                HumanLine::Run(text) => self.printer.note(&text),
            }
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

    /// Each open session's round trips so far, by host name, sorted.
    pub fn trips(&self) -> Vec<(String, crate::ssh::Trips)> {
        let mut trips: Vec<(String, crate::ssh::Trips)> = self
            .sessions
            .lock()
            .expect("sessions lock")
            .iter()
            .map(|(host, session)| (host.clone(), session.trips()))
            .collect();
        trips.sort_by(|a, b| a.0.cmp(&b.0));
        trips
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
        let mut lost = false;
        if let Some(session) = self.sessions.lock().expect("sessions lock").get(&host.name) {
            if !session.is_closed() {
                return Ok(session.clone());
            }
            lost = true;
        }
        if let Some(status) = self.failed.lock().expect("failed lock").get(&host.name) {
            return Err(status.clone());
        }
        // A host whose connection was lost mid-run (it stopped answering its
        // keepalives, or its sshd went away) is given one short try: back at
        // once, it goes on; frozen, it costs [`AGAIN`], not a connect
        // timeout, and is not tried again in this run.
        let opened = if lost {
            if let Ok(opened) = tokio::time::timeout(AGAIN, self.open(host)).await {
                opened
            } else {
                let reason = format!(
                    "its connection was lost during the run and it did not answer again within {} s",
                    AGAIN.as_secs()
                );
                self.printer
                    .host_event(&host.name, &format!("UNREACHABLE: {reason}"));
                Err(HostStatus::Unreachable(reason))
            }
        } else {
            self.open(host).await
        };
        let session = opened.inspect_err(|status| {
            self.failed
                .lock()
                .expect("failed lock")
                .insert(host.name.clone(), status.clone());
        })?;
        self.sessions
            .lock()
            .expect("sessions lock")
            .insert(host.name.clone(), session.clone());
        Ok(session)
    }

    /// Open a session; a failure is said as it happens.
    async fn open(&self, host: &Host) -> Result<Session, HostStatus> {
        let target = Target {
            address: host.address.clone(),
            port: host.port,
            user: host.user.clone(),
            ssh: host.ssh.clone(),
        };
        self.connector.connect(&target).await.map_err(|err| {
            let status = connect_failure(&host.name, &err);
            match &status {
                HostStatus::Unreachable(reason) => self
                    .printer
                    .host_event(&host.name, &format!("UNREACHABLE: {reason}")),
                HostStatus::Failed(f) => {
                    self.printer.host_event(&host.name, &format!("FAILED: {f}"));
                }
                HostStatus::Ok => {}
            }
            status
        })
    }

    /// One of ferry's scripts on another inventory host, for `host` (a drain
    /// provider's `via`): its session is opened once and reused.
    pub async fn script_via(
        &self,
        host: &str,
        via: &Host,
        step: &str,
        script: String,
    ) -> Result<String, TaskFailure> {
        let session = self.connect(via).await.map_err(|status| {
            TaskFailure::new(
                host,
                step,
                "",
                format!("`via` host `{}`: {}", via.name, status_reason(&status)),
            )
        })?;
        self.script(host, &session, step, script, None).await
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
                printer.host_line(&name, stream == Stream::Stderr, line);
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
                let refused = cmd
                    .sudo
                    .as_ref()
                    .and_then(|_| steps::sudo_refusal(host, out.exit.code(), &out.stderr));
                let reason = match (refused, cmd.timeout) {
                    (Some(refused), _) => refused,
                    (None, Some(t)) if timed_out => {
                        format!("timed out after {t:?} (killed on the host)")
                    }
                    (None, _) => out.exit.to_string(),
                };
                Err(failure(Some(out.exit), reason, &out.stderr))
            }
            Err(err) => Err(failure(None, err.to_string(), "")),
        }
    }
}

/// The status of a host whose task panicked.
fn crashed(host: &str, panic: &(dyn std::any::Any + Send)) -> HostStatus {
    let message = panic
        .downcast_ref::<&str>()
        .map(std::string::ToString::to_string)
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

fn connect_failure(host: &str, err: &SshError) -> HostStatus {
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
