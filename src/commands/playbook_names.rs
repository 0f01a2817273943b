//! What a name on the command line that names nothing gets: a playbook
//! path that does not exist says so; a word that is neither a playbook nor
//! a task of site.yml gets the nearest playbook or task, saying which.

use std::path::Path;

use crate::config::suggest::{did_you_mean, Kind};
use crate::config::{self, Playbook};
use crate::failure::Invalid;

/// `ferry check ENV pb/nope.yml`: the file is missing.
pub(super) fn no_file(name: &str) -> Invalid {
    let stem = Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name);
    let playbooks = config::playbook_names();
    let candidates: Vec<(Kind, &str)> = playbooks
        .iter()
        .map(|p| (Kind::Playbook, p.as_str()))
        .collect();
    let mut hint = did_you_mean(stem, &candidates);
    if hint.is_empty() {
        hint = format!(
            " (name a playbook of playbooks/: {})",
            if playbooks.is_empty() {
                "there are none".into()
            } else {
                playbooks.join(", ")
            }
        );
    }
    Invalid::NoPlaybookFile {
        path: name.into(),
        hint,
    }
}

/// `ferry check ENV deploi`: neither `playbooks/deploi.yml` nor a task of
/// `site` (which may not exist: then `site_tasks` is `None`).
pub(super) fn unknown(name: &str, site: &Path, site_tasks: Option<&Playbook>) -> Invalid {
    let playbooks = config::playbook_names();
    // Playbooks first: a command's first name is a playbook more often.
    let candidates: Vec<(Kind, &str)> = playbooks
        .iter()
        .map(|p| (Kind::Playbook, p.as_str()))
        .chain(
            site_tasks
                .into_iter()
                .flat_map(|pb| pb.tasks.iter().map(|t| (Kind::Task, t.name.as_str()))),
        )
        .collect();
    let mut hint = did_you_mean(name, &candidates);
    if hint.is_empty() {
        let list = |kind: Kind| -> String {
            let names: Vec<&str> = candidates
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, n)| *n)
                .collect();
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        };
        hint = format!(
            " (playbooks: {}; tasks: {})",
            list(Kind::Playbook),
            list(Kind::Task)
        );
    }
    let tasks_of = if site_tasks.is_some() {
        format!("a task of {}", site.display())
    } else {
        format!("a task ({} does not exist)", site.display())
    };
    Invalid::UnknownPlaybookOrTask {
        name: name.into(),
        tasks_of,
        hint,
    }
}
