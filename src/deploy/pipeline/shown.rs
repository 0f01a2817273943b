//! What a step ran, as its `step_finished` event's `commands`: one line
//! per task or check, for the hover of the run's timeline
//! (`ferry report --html`). The reporter masks them with the whole event.

use crate::drain::Drainer;
use crate::probe::HealthCheck;
use crate::release::ReleaseId;
use crate::render::{Action, Step};

/// Characters kept of one command, and commands of one step: a hover, not
/// a listing (every host's every step is in the journal).
const CHARS: usize = 300;
const COMMANDS: usize = 20;

fn cut(text: &str) -> String {
    let line = text.trim().replace('\n', "; ");
    if line.chars().count() <= CHARS {
        return line;
    }
    let mut short: String = line.chars().take(CHARS).collect();
    short.push('…');
    short
}

/// A task list (`before_switch`, `after_switch`, a playbook's drain).
pub(super) fn tasks(steps: &[Step]) -> Vec<String> {
    let mut shown: Vec<String> = steps
        .iter()
        .take(COMMANDS)
        .map(|step| {
            let task = match step {
                Step::Skip { name, reason } => return cut(&format!("skip {name} ({reason})")),
                Step::Run(task) => task,
            };
            let name = &task.name;
            cut(&match &task.action {
                Action::Run(cmd) => format!("{name}: {cmd}"),
                Action::Local(cmd) => format!("{name} (local): {cmd}"),
                Action::WaitFor(wait) => format!("{name}: wait for {}", wait.probe.describe()),
                Action::Upload { src, dest, .. } | Action::Write { src, dest, .. } => {
                    format!("{name}: {} -> {dest}", src.display())
                }
            })
        })
        .collect();
    if steps.len() > COMMANDS {
        shown.push(format!("... and {} more", steps.len() - COMMANDS));
    }
    shown
}

pub(super) fn checks(checks: &[HealthCheck]) -> Vec<String> {
    checks
        .iter()
        .map(|c| cut(&format!("{}: {}", c.name, c.probe.describe())))
        .collect()
}

pub(super) fn receive(artifact: &str, release: &ReleaseId) -> Vec<String> {
    vec![cut(&format!(
        "receive {artifact}, check its sha256, unpack into releases/{release}"
    ))]
}

pub(super) fn switch(deploy_to: &str, to: Option<&ReleaseId>) -> Vec<String> {
    to.map(|to| cut(&format!("{deploy_to}/current -> releases/{to}")))
        .into_iter()
        .collect()
}

pub(super) fn drainer(drainer: &Drainer, out: bool) -> Vec<String> {
    let line = match (drainer, out) {
        (
            Drainer::Haproxy {
                backend, server, ..
            },
            _,
        ) => format!(
            "haproxy: set server {backend}/{server} state {}",
            if out { "drain" } else { "ready" }
        ),
        (Drainer::HealthFile { path, .. }, true) => format!("health_file: remove {path}"),
        (Drainer::HealthFile { path, .. }, false) => format!("health_file: create {path}"),
    };
    vec![cut(&line)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_cut_to_one_line() {
        assert_eq!(cut("  a\nb  "), "a; b");
        let long = "x".repeat(CHARS + 10);
        let shown = cut(&long);
        assert_eq!(shown.chars().count(), CHARS + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn a_long_task_list_is_cut() {
        let steps: Vec<Step> = (0..COMMANDS + 3)
            .map(|i| Step::Skip {
                name: format!("t{i}"),
                reason: "when".into(),
            })
            .collect();
        let shown = tasks(&steps);
        assert_eq!(shown.len(), COMMANDS + 1);
        assert_eq!(shown[0], "skip t0 (when)");
        assert_eq!(shown[COMMANDS], "... and 3 more");
    }

    #[test]
    fn a_switch_names_where_current_goes() {
        let to = ReleaseId::parse("r2").unwrap();
        assert_eq!(
            switch("/srv/app", Some(&to)),
            ["/srv/app/current -> releases/r2"]
        );
        assert!(switch("/srv/app", None).is_empty());
    }
}
