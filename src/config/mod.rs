//! LOAD: YAML files into typed, validated values. No network, no rendering.

pub mod drain;
pub mod host_ssh;
pub mod inventory;
pub mod playbook;
pub mod probe;
#[cfg(test)]
mod prop_tests;
mod proxy_jump;
#[cfg(test)]
mod reference_tests;
pub mod source;
pub mod ssh_config;
pub mod suggest;
pub mod values;
mod yaml_words;

use std::path::{Path, PathBuf};

pub use host_ssh::{HostSsh, Jump, BASTION_CHANNELS};
pub use inventory::{Host, HostKeyPolicy, Inventory, RolloutSettings, SshSettings};
pub use playbook::{FileSpec, Playbook, Task, TaskKind};
pub use source::ConfigError;

/// Variables as written in YAML, in file order.
pub type Vars = indexmap::IndexMap<String, serde_json::Value>;

/// `ferry <cmd> staging` means `inventories/staging.yml`; `-i FILE` overrides.
pub fn inventory_path(env: &str, explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    let as_path = Path::new(env);
    if as_path.extension().is_some() && as_path.exists() {
        return as_path.to_path_buf();
    }
    PathBuf::from("inventories").join(format!("{env}.yml"))
}

/// `site` means `playbooks/site.yml`; a path to an existing file is taken as is.
pub fn playbook_path(name: &str) -> PathBuf {
    let as_path = Path::new(name);
    if is_playbook_path(name) {
        return as_path.to_path_buf();
    }
    PathBuf::from("playbooks").join(format!("{name}.yml"))
}

/// A name written as a path (`pb/deploy.yml`, `deploy.yml`): the file, never
/// a task of site.yml.
pub fn is_playbook_path(name: &str) -> bool {
    name.contains('/') || Path::new(name).extension().is_some()
}

/// The playbooks in `playbooks/` by name (`deploy` for `deploy.yml`), sorted.
pub fn playbook_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("playbooks")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let yml = path.extension().is_some_and(|e| e == "yml");
            yml.then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    names
}

/// A `-e` pair that is not `key=value`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExtraVarError {
    #[error("-e `{0}`: expected key=value")]
    NoEquals(String),
    #[error("-e `{0}`: the key is empty")]
    EmptyKey(String),
}

/// Parse `-e key=value` pairs.
pub fn parse_extra_vars(pairs: &[String]) -> Result<Vars, ExtraVarError> {
    let mut vars = Vars::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| ExtraVarError::NoEquals(pair.clone()))?;
        if key.is_empty() {
            return Err(ExtraVarError::EmptyKey(pair.clone()));
        }
        vars.insert(
            key.to_string(),
            serde_json::Value::String(value.to_string()),
        );
    }
    Ok(vars)
}
