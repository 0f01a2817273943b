//! Keys a command does not use: `ferry run` runs `tasks:` only, while the
//! release commands (deploy, promote, rollback) run the deploy stages and
//! health checks only. A playbook written for one and given to the other
//! would otherwise do nothing, or less, silently; each says so in a warning.

use super::{Playbook, DEFAULT_KEEP_RELEASES};

/// Which command reads the playbook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// `ferry run`: `tasks:`.
    Run,
    /// `ferry deploy`, `promote`, `rollback`: the deploy keys.
    Release,
    /// `ferry check`: shows both, so only a mix of the two is worth a word.
    Check,
}

impl Playbook {
    /// The deploy keys written in this playbook, in file-reference order.
    pub fn deploy_keys(&self) -> Vec<&'static str> {
        [
            ("before_switch", !self.before_switch.is_empty()),
            ("after_switch", !self.after_switch.is_empty()),
            (
                "drain",
                !self.drain.is_empty() || self.drain_provider.is_some(),
            ),
            ("undrain", !self.undrain.is_empty()),
            ("health", !self.health.is_empty()),
            ("linked_dirs", !self.linked_dirs.is_empty()),
            ("linked_files", !self.linked_files.is_empty()),
            // Only a value other than the default is known to be written.
            ("keep_releases", self.keep_releases != DEFAULT_KEEP_RELEASES),
        ]
        .into_iter()
        .filter_map(|(key, written)| written.then_some(key))
        .collect()
    }

    /// The warning for keys that `by` ignores, if any.
    pub fn ignored_keys_warning(&self, by: Use) -> Option<String> {
        let path = self.path.display();
        let deploy: Vec<String> = self
            .deploy_keys()
            .iter()
            .map(|k| format!("`{k}:`"))
            .collect();
        let deploy = deploy.join(", ");
        let tasks: Vec<&str> = self.tasks.iter().map(|t| t.name.as_str()).collect();
        match by {
            Use::Run if !deploy.is_empty() && tasks.is_empty() => Some(format!(
                "warning: {path} has no `tasks:`, so `ferry run` runs nothing: {deploy} are \
                 deploy keys, used by `ferry deploy`"
            )),
            Use::Run if !deploy.is_empty() => Some(format!(
                "warning: {path}: `ferry run` ignores {deploy} (deploy keys, used by `ferry deploy`)"
            )),
            Use::Release if !tasks.is_empty() => Some(format!(
                "warning: {path}: deploy, promote and rollback ignore `tasks:` ({}): they run with \
                 `ferry run`; steps of a deploy go under `before_switch:` or `after_switch:`",
                tasks.join(", ")
            )),
            Use::Check if !deploy.is_empty() && !tasks.is_empty() => Some(format!(
                "warning: {path} mixes `tasks:` (run by `ferry run`) with {deploy} (used by \
                 `ferry deploy`): each command ignores the other's keys"
            )),
            _ => None,
        }
    }
}
