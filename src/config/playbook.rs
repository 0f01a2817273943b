//! The playbook: an ordered list of named tasks, read from `playbooks/*.yml`.
//! Strings stay raw here; [`crate::render`] renders them per host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::drain::{DrainField, DrainProvider};
use super::probe::{HealthFile, HealthSpec, WaitFile, WaitSpec};
use super::source::{parse_yaml, ConfigError};
use super::values::DurationValue;
use super::Vars;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlaybookFile {
    #[serde(default)]
    vars: Vars,
    #[serde(default)]
    tasks: Vec<Spanned<TaskFile>>,
    #[serde(default)]
    before_switch: Vec<Spanned<TaskFile>>,
    #[serde(default)]
    after_switch: Vec<Spanned<TaskFile>>,
    drain: Option<Spanned<DrainField<TaskFile>>>,
    #[serde(default)]
    undrain: Vec<Spanned<TaskFile>>,
    #[serde(default)]
    health: Vec<Spanned<HealthFile>>,
    #[serde(default)]
    linked_dirs: Vec<String>,
    #[serde(default)]
    linked_files: Vec<String>,
    keep_releases: Option<usize>,
    /// Default `become_password` of every task that runs through sudo.
    become_password: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFile {
    name: String,
    run: Option<String>,
    upload: Option<FileSpec>,
    template: Option<FileSpec>,
    local: Option<String>,
    wait_for: Option<WaitFile>,
    /// Run on this inventory host instead (e.g. the load balancer).
    delegate_to: Option<String>,
    when: Option<String>,
    timeout: Option<DurationValue>,
    #[serde(default)]
    retries: u32,
    retry_delay: Option<DurationValue>,
    #[serde(default)]
    sudo: bool,
    become_user: Option<String>,
    become_password: Option<String>,
    hosts: Option<String>,
    #[serde(default)]
    run_once: bool,
}

/// A file to put on the host: `src` on the controller (relative to the
/// playbook's folder), `dest` on the host, `mode` in octal.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub src: String,
    pub dest: String,
    pub mode: Option<String>,
    /// Who owns the installed file (`chown`): usually with `sudo`.
    pub owner: Option<String>,
    pub group: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// A shell command on the host.
    Run(String),
    /// A controller file copied to the host.
    Upload(FileSpec),
    /// A controller template rendered per host and written to the host.
    Template(FileSpec),
    /// A shell command on the controller.
    Local(String),
    /// Poll a condition until it holds or the wait times out.
    WaitFor(WaitSpec),
}

impl TaskKind {
    pub fn label(&self) -> &'static str {
        match self {
            TaskKind::Run(_) => "run",
            TaskKind::Upload(_) => "upload",
            TaskKind::Template(_) => "template",
            TaskKind::Local(_) => "local",
            TaskKind::WaitFor(_) => "wait_for",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Task {
    pub name: String,
    pub kind: TaskKind,
    /// A template expression; the task is skipped on hosts where it is false.
    pub when: Option<String>,
    /// Fixed, or a template rendered per host (see [`DurationValue`]).
    pub timeout: Option<DurationValue>,
    pub retries: u32,
    pub retry_delay: DurationValue,
    /// Through sudo (`sudo: true`, or implied by `become_user`).
    pub sudo: bool,
    /// Whom sudo runs the task as (root when not given).
    pub become_user: Option<String>,
    /// A template giving sudo's password (fed on stdin, never in argv).
    pub become_password: Option<String>,
    /// A host pattern narrowing the hosts this task runs on.
    pub hosts: Option<String>,
    /// Run on the first matching host only.
    pub run_once: bool,
    /// An inventory host (a template) that runs the task in this host's stead.
    pub delegate_to: Option<String>,
    /// Line of the task in the playbook file, for errors.
    pub line: u64,
}

#[derive(Clone, Debug)]
pub struct Playbook {
    pub path: PathBuf,
    pub vars: Vars,
    /// What `ferry run` runs.
    pub tasks: Vec<Task>,
    /// Deploy stages: in the new release before `current` moves, and after.
    pub before_switch: Vec<Task>,
    pub after_switch: Vec<Task>,
    /// Rolling deploys: take the host out of the load balancer (and wait until
    /// its sessions end) before its switch, put it back after it is healthy.
    pub drain: Vec<Task>,
    pub undrain: Vec<Task>,
    /// A built-in provider (`drain: { provider: ... }`) instead of the
    /// drain tasks; its undrain is implied.
    pub drain_provider: Option<DrainProvider>,
    /// Checks that must pass after the switch, before undrain.
    pub health: Vec<HealthSpec>,
    /// Paths under `shared/` linked into every release (Capistrano's `linked_dirs`).
    pub linked_dirs: Vec<String>,
    pub linked_files: Vec<String>,
    /// Releases kept on each host (at least current and previous).
    pub keep_releases: usize,
}

pub const DEFAULT_KEEP_RELEASES: usize = 5;

impl Playbook {
    pub fn load(path: &Path) -> Result<Playbook, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, format!("cannot read file: {e}")))?;
        Playbook::load_from_str(path, &text)
    }

    /// Parse playbook text that came from `path` (used in errors only).
    /// An empty (or all-comment) file is an error: it would run nothing
    /// and report ok.
    pub fn load_from_str(path: &Path, text: &str) -> Result<Playbook, ConfigError> {
        if super::yaml_words::is_blank(text) {
            let mut error = ConfigError::new(
                path,
                "the file is empty: a playbook needs `tasks:` (for `ferry run`) or a deploy \
                 stage such as `after_switch:` or `health:` (for `ferry deploy`)",
            );
            error.line = Some(1);
            error.column = Some(1);
            return Err(error);
        }
        from_file(path, parse_yaml(path, text)?)
    }

    /// No tasks: what `ferry check` uses to validate an inventory alone.
    pub fn empty() -> Playbook {
        Playbook {
            path: PathBuf::from("(no playbook)"),
            vars: Vars::new(),
            tasks: Vec::new(),
            before_switch: Vec::new(),
            after_switch: Vec::new(),
            drain: Vec::new(),
            undrain: Vec::new(),
            drain_provider: None,
            health: Vec::new(),
            linked_dirs: Vec::new(),
            linked_files: Vec::new(),
            keep_releases: DEFAULT_KEEP_RELEASES,
        }
    }

    /// A playbook of one ad-hoc command (`ferry run --cmd`).
    pub fn ad_hoc(command: &str, timeout: Option<Duration>, sudo: bool) -> Playbook {
        Playbook {
            path: PathBuf::from("--cmd"),
            tasks: vec![Task {
                name: "cmd".into(),
                kind: TaskKind::Run(command.into()),
                when: None,
                timeout: timeout.map(DurationValue::Fixed),
                retries: 0,
                retry_delay: Duration::from_secs(1).into(),
                sudo,
                become_user: None,
                become_password: None,
                hosts: None,
                run_once: false,
                delegate_to: None,
                line: 1,
            }],
            ..Playbook::empty()
        }
    }

    /// A task asked of a playbook with no `tasks:` (a deploy playbook):
    /// say so, and which deploy stage holds a step of that name.
    fn no_tasks(&self, name: &str) -> String {
        let stage = [
            ("before_switch", &self.before_switch),
            ("after_switch", &self.after_switch),
            ("drain", &self.drain),
            ("undrain", &self.undrain),
        ]
        .into_iter()
        .find(|(_, steps)| steps.iter().any(|t| t.name == name))
        .map(|(stage, _)| stage);
        match stage {
            Some(stage) => format!(
                "has no tasks: `{name}` is an `{stage}` step, and deploy stages run with `ferry deploy`"
            ),
            None => format!(
                "has no tasks, so no task named `{name}`: `ferry run` runs a playbook's `tasks:`; deploy stages run with `ferry deploy`"
            ),
        }
    }

    /// Keep only the named tasks, in the order given (Fabric-style invocation).
    pub fn only(mut self, names: &[String]) -> Result<Playbook, ConfigError> {
        let mut picked = Vec::with_capacity(names.len());
        for name in names {
            let Some(task) = self.tasks.iter().find(|t| &t.name == name) else {
                if self.tasks.is_empty() {
                    return Err(ConfigError::new(&self.path, self.no_tasks(name)));
                }
                let known: Vec<&str> = self.tasks.iter().map(|t| t.name.as_str()).collect();
                let hint = super::source::nearest(name, &known).map_or_else(
                    || format!(" (tasks: {})", known.join(", ")),
                    |n| format!(", did you mean `{n}`?"),
                );
                return Err(ConfigError::new(
                    &self.path,
                    format!("no task named `{name}`{hint}"),
                ));
            };
            picked.push(task.clone());
        }
        self.tasks = picked;
        Ok(self)
    }

    /// The folder that relative `src` paths are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}

fn from_file(path: &Path, file: PlaybookFile) -> Result<Playbook, ConfigError> {
    let stage = |list: Vec<Spanned<TaskFile>>| -> Result<Vec<Task>, ConfigError> {
        let tasks = list
            .into_iter()
            .map(|t| task(path, t, file.become_password.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        reject_duplicate_names(path, &tasks)?;
        Ok(tasks)
    };
    for linked in file.linked_dirs.iter().chain(&file.linked_files) {
        if linked.is_empty() || linked.starts_with('/') || linked.split('/').any(|p| p == "..") {
            return Err(ConfigError::new(
                path,
                format!("linked path `{linked}` must be relative to the release, without `..`"),
            ));
        }
    }
    if file.keep_releases == Some(0) {
        return Err(ConfigError::new(path, "keep_releases must be at least 1"));
    }
    let (drain, drain_provider) = drain_stage(path, file.drain, !file.undrain.is_empty())?;
    Ok(Playbook {
        path: path.to_path_buf(),
        vars: file.vars,
        tasks: stage(file.tasks)?,
        before_switch: stage(file.before_switch)?,
        after_switch: stage(file.after_switch)?,
        drain: stage(drain)?,
        drain_provider,
        undrain: stage(file.undrain)?,
        health: file
            .health
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                let (line, column) = (h.referenced.line(), h.referenced.column());
                h.value
                    .resolve(i)
                    .map_err(|e| ConfigError::at(path, line, column, format!("health check {e}")))
            })
            .collect::<Result<_, _>>()?,
        linked_dirs: file.linked_dirs,
        linked_files: file.linked_files,
        keep_releases: file.keep_releases.unwrap_or(DEFAULT_KEEP_RELEASES),
    })
}

/// The drain tasks, or the provider (then `undrain:` must stay empty).
fn drain_stage(
    path: &Path,
    field: Option<Spanned<DrainField<TaskFile>>>,
    has_undrain: bool,
) -> Result<(Vec<Spanned<TaskFile>>, Option<DrainProvider>), ConfigError> {
    let Some(field) = field else {
        return Ok((Vec::new(), None));
    };
    let (line, column) = (field.referenced.line(), field.referenced.column());
    match field.value {
        DrainField::Tasks(tasks) => Ok((tasks, None)),
        DrainField::Provider(provider) => {
            let provider = provider
                .resolve()
                .map_err(|e| ConfigError::at(path, line, column, e))?;
            if has_undrain {
                return Err(ConfigError::at(
                    path,
                    line,
                    column,
                    "a drain provider implies its undrain: remove `undrain:` (or write `drain:` \
                     as a list of tasks)",
                ));
            }
            Ok((Vec::new(), Some(provider)))
        }
    }
}

fn task(
    path: &Path,
    spanned: Spanned<TaskFile>,
    default_password: Option<&str>,
) -> Result<Task, ConfigError> {
    let line = spanned.referenced.line();
    let column = spanned.referenced.column();
    let t = spanned.value;
    let sudo = t.sudo || t.become_user.is_some();
    if !sudo && t.become_password.is_some() {
        return Err(ConfigError::at(
            path,
            line,
            column,
            format!(
                "task `{}`: become_password needs `sudo: true` or `become_user: USER`",
                t.name
            ),
        ));
    }
    if sudo && t.local.is_some() {
        return Err(ConfigError::at(
            path,
            line,
            column,
            format!(
                "task `{}`: a local task runs on the controller: remove sudo/become_user",
                t.name
            ),
        ));
    }
    let mut kinds = Vec::new();
    if let Some(cmd) = t.run {
        kinds.push(TaskKind::Run(cmd));
    }
    if let Some(spec) = t.upload {
        kinds.push(TaskKind::Upload(spec));
    }
    if let Some(spec) = t.template {
        kinds.push(TaskKind::Template(spec));
    }
    if let Some(cmd) = t.local {
        kinds.push(TaskKind::Local(cmd));
    }
    if let Some(wait) = t.wait_for {
        let spec = wait.resolve().map_err(|e| {
            ConfigError::at(
                path,
                line,
                column,
                format!("task `{}`: wait_for {e}", t.name),
            )
        })?;
        kinds.push(TaskKind::WaitFor(spec));
    }
    if kinds.len() != 1 {
        let found: Vec<&str> = kinds.iter().map(TaskKind::label).collect();
        return Err(ConfigError::at(
            path,
            line,
            column,
            format!(
                "task `{}` needs exactly one of run, upload, template, local, wait_for (found: {})",
                t.name,
                if found.is_empty() {
                    "none".into()
                } else {
                    found.join(", ")
                }
            ),
        ));
    }
    Ok(Task {
        name: t.name,
        kind: kinds.remove(0),
        when: t.when,
        timeout: t.timeout,
        retries: t.retries,
        retry_delay: t
            .retry_delay
            .unwrap_or(DurationValue::Fixed(Duration::from_secs(1))),
        sudo,
        become_password: t
            .become_password
            .or_else(|| default_password.filter(|_| sudo).map(str::to_string)),
        become_user: t.become_user,
        hosts: t.hosts,
        run_once: t.run_once,
        delegate_to: t.delegate_to,
        line,
    })
}

fn reject_duplicate_names(path: &Path, tasks: &[Task]) -> Result<(), ConfigError> {
    for (i, task) in tasks.iter().enumerate() {
        if let Some(first) = tasks[..i].iter().find(|t| t.name == task.name) {
            return Err(ConfigError::at(
                path,
                task.line,
                1,
                format!(
                    "task name `{}` is used twice (first at line {}); names must be unique to invoke tasks by name",
                    task.name, first.line
                ),
            ));
        }
    }
    Ok(())
}

mod ignored;
pub use ignored::Use;

#[cfg(test)]
mod tests;
