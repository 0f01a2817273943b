//! Why a command could not give its answer, as types: [`Failure`] is what
//! every command returns as its error, and [`Failure::status`] is the one
//! place that picks the exit code for it (just's `Error::code()`). The text
//! of each kind is written once, here or in the leaf error it wraps.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::deploy::PrepareError;
use crate::exit::ExitStatus;
use crate::lock::LockError;
use crate::release::{InvalidReleaseId, ReleaseId};
use crate::render::RenderError;
use crate::select::SelectError;

/// A command's error, by kind; [`Failure::status`] maps each kind to its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad input found before anything was touched: exit 2.
    #[error(transparent)]
    Invalid(Invalid),
    /// A safety check said no: exit 6, nothing touched.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// Another run (or a person) holds the environment's lock: exit 4.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// The controller's own I/O failed: exit 1.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Anything else that broke, with its context: exit 1.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Failure {
    /// The exit code this failure ends the run with.
    #[must_use]
    pub fn status(&self) -> ExitStatus {
        match self {
            Failure::Invalid(_) => ExitStatus::Invalid,
            Failure::Refused(_) => ExitStatus::Refused,
            Failure::Locked(_) => ExitStatus::Locked,
            Failure::Io(_) | Failure::Other(_) => ExitStatus::Failed,
        }
    }

    #[must_use]
    pub fn code(&self) -> u8 {
        self.status().code()
    }
}

/// Input that cannot be used: configuration, templates, the command line.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    #[error("no inventory for environment `{env}`: {} does not exist", path.display())]
    NoInventory { env: String, path: PathBuf },
    #[error("no playbook: {} does not exist (name a playbook in playbooks/ or use --cmd)", .0.display())]
    NoPlaybook(PathBuf),
    /// A playbook named by its path, and no such file.
    #[error("playbook file {} does not exist{hint}", path.display())]
    NoPlaybookFile { path: PathBuf, hint: String },
    /// The first name is neither a playbook nor a task of site.yml.
    #[error("`{name}` is neither a playbook ({} does not exist) nor {tasks_of}{hint}", crate::config::playbook_path(name).display())]
    UnknownPlaybookOrTask {
        name: String,
        /// "a task of playbooks/site.yml", or why there are no tasks.
        tasks_of: String,
        hint: String,
    },
    #[error(transparent)]
    Config(ConfigError),
    #[error(transparent)]
    ExtraVar(crate::config::ExtraVarError),
    #[error(transparent)]
    Select(SelectError),
    /// Every template error of a run, reported together.
    #[error("{}", render_errors(.0))]
    Templates(Vec<RenderError>),
    /// `deploy_to` missing or not rendering. Shown without a cause line:
    /// its text already is the render error's.
    #[error("{0}")]
    Prepare(PrepareError),
    #[error(transparent)]
    ReleaseId(InvalidReleaseId),
    #[error("--pause-after-canary needs a terminal to ask on: use --stop-after-canary (exit 5, re-run to go on) or --yes")]
    PromptWithoutTerminal,
    #[error("known-hosts --update asks before it changes known_hosts, and stdin is not a terminal: pass --yes to update without asking")]
    ConfirmWithoutTerminal,
    #[error("artifact {} is not a file", .0.display())]
    ArtifactNotFile(PathBuf),
    #[error("--sha256 `{0}` is not 64 hex digits")]
    BadSha256(String),
    #[error("give --artifact PATH, or --artifact-url URL with --sha256 HEX")]
    NoArtifact,
    /// A deploy with no health checks, refused by `--require-health` or
    /// the inventory's `rollout.require_health: true`.
    #[error("{what}: refusing to deploy ({by}); add `health:` checks to the deploy playbook")]
    HealthRequired { what: String, by: String },
    #[error("{} has no `health:` checks: nothing to verify (name the playbook that has them: `ferry verify ENV PLAYBOOK`)", .0.display())]
    NoHealthChecks(PathBuf),
    #[error("not overwriting {}: they exist (ferry init --force overwrites them)", render_paths(.0))]
    InitExists(Vec<PathBuf>),
}

fn render_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a safety check refused the run.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Outside the inventory's windows, or in a freeze.
    #[error("{env} in {}: {closed} (or use --outside-window --reason \"...\")", inventory.display())]
    Closed {
        env: String,
        inventory: PathBuf,
        closed: crate::window::Closed,
    },
    /// `promote`: a source host could not be read, or has no release.
    #[error("{env} cannot be read whole: {}", problems.join(", "))]
    Unreadable { env: String, problems: Vec<String> },
    /// `promote`: the source hosts run different releases.
    #[error("{env} is mixed: most hosts run {main}, but {}", odd.join("; "))]
    Mixed {
        env: String,
        main: String,
        odd: Vec<String>,
    },
    /// `promote`: source hosts that did not answer.
    #[error("{env} has unreachable hosts: {}", hosts.join(", "))]
    Unreachable { env: String, hosts: Vec<String> },
    /// `promote`: every problem of the source at once (mixed, unhealthy,
    /// unreachable, unreadable), one line each.
    #[error("{env} cannot be promoted ({} problems):\n  {}", problems.len(), problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Several { env: String, problems: Vec<Refusal> },
    #[error("{env} has no hosts")]
    NoHosts { env: String },
    /// `promote`: the source runs a release id ferry would not deploy.
    #[error(transparent)]
    ReleaseId(InvalidReleaseId),
    #[error("{release} is not healthy in {env}: {}", hosts.join(", "))]
    Unhealthy {
        release: ReleaseId,
        env: String,
        hosts: Vec<String>,
    },
    #[error("{release} has run in {env} for {soaked}s, less than min_soak {min}s of {target}")]
    NotSoaked {
        release: ReleaseId,
        env: String,
        soaked: u64,
        min: u64,
        target: String,
    },
    /// `promote`: the bytes fetched from a source host are not the release's.
    #[error("the artifact fetched from {host} has sha256 {got}, expected {want}")]
    ArtifactChanged {
        host: String,
        got: String,
        want: String,
    },
}

fn render_errors(errors: &[RenderError]) -> String {
    let shown: Vec<String> = errors.iter().take(20).map(ToString::to_string).collect();
    let more = errors.len().saturating_sub(shown.len());
    let text = shown.join("\n");
    if more > 0 {
        format!("{text}\n... and {more} more")
    } else {
        text
    }
}

impl From<Invalid> for Failure {
    fn from(invalid: Invalid) -> Failure {
        Failure::Invalid(invalid)
    }
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Failure {
        Failure::Refused(refusal)
    }
}

/// The leaf errors that mean "bad input" convert straight to exit 2, so `?`
/// is all a command writes.
macro_rules! invalid_from {
    ($($leaf:ty => $variant:ident),* $(,)?) => {$(
        impl From<$leaf> for Invalid {
            fn from(e: $leaf) -> Invalid {
                Invalid::$variant(e)
            }
        }
        impl From<$leaf> for Failure {
            fn from(e: $leaf) -> Failure {
                Failure::Invalid(Invalid::$variant(e))
            }
        }
    )*};
}

invalid_from! {
    ConfigError => Config,
    crate::config::ExtraVarError => ExtraVar,
    SelectError => Select,
    Vec<RenderError> => Templates,
    PrepareError => Prepare,
    InvalidReleaseId => ReleaseId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_exit_code() {
        let cases: [(Failure, u8); 5] = [
            (Invalid::PromptWithoutTerminal.into(), 2),
            (Refusal::NoHosts { env: "prod".into() }.into(), 6),
            (
                LockError::Held {
                    env: "prod".into(),
                    info: "x".into(),
                    hosts: "web1".into(),
                    stale: false,
                }
                .into(),
                4,
            ),
            (std::io::Error::other("disk").into(), 1),
            (anyhow::anyhow!("broke").into(), 1),
        ];
        for (failure, code) in cases {
            assert_eq!(failure.code(), code, "{failure}");
        }
    }

    #[test]
    fn refusals_say_refused() {
        let failure = Failure::from(Refusal::NoHosts { env: "prod".into() });
        assert_eq!(failure.to_string(), "refused: prod has no hosts");
    }

    #[test]
    fn many_template_errors_are_cut_at_twenty() {
        let errors: Vec<RenderError> = (0..23)
            .map(|i| RenderError {
                place: format!("t{i}"),
                message: "undefined".into(),
            })
            .collect();
        let text = Failure::from(errors).to_string();
        assert_eq!(text.lines().count(), 21);
        assert!(text.ends_with("t19: undefined\n... and 3 more"), "{text}");
    }
}
