//! `ferry check`: load, select and render everything for every host without
//! connecting; print what would run where.

use crate::cli::CheckArgs;
use crate::config::{self, Playbook};
use crate::exit::ExitStatus;
use crate::render::{Action, Step};
use crate::report::Printer;

use super::{load_playbook, prepare, Prepared};

pub fn check(args: CheckArgs) -> anyhow::Result<ExitStatus> {
    let names: Vec<String> = args.playbook.into_iter().collect();
    // Without a playbook named and no site.yml, check the inventory alone.
    let inventory_only = names.is_empty() && !config::playbook_path("site").exists();
    let Prepared {
        loaded,
        plans,
        secrets,
    } = prepare(&args.common, || {
        if inventory_only {
            Ok(Playbook::empty())
        } else {
            load_playbook(&names)
        }
    })?;
    let printer = Printer::new(secrets);
    let mut runs = 0;
    for plan in &plans {
        let h = &plan.host;
        printer.out(&format!("{} ({}@{}:{})", h.name, h.user, h.address, h.port));
        for step in &plan.steps {
            if matches!(step, Step::Run(_)) {
                runs += 1;
            }
            printer.out(&format!("  {}", describe(step)));
        }
    }
    printer.note(&format!(
        "ok: {} and {} valid; {} hosts, {} task runs",
        loaded.inventory.path.display(),
        loaded.playbook.path.display(),
        plans.len(),
        runs
    ));
    Ok(ExitStatus::Success)
}

pub(super) fn describe(step: &Step) -> String {
    let task = match step {
        Step::Skip { name, reason } => return format!("skip     {name} ({reason})"),
        Step::Run(task) => task,
    };
    let sudo = if task.sudo { " [sudo]" } else { "" };
    let mode = |m: &Option<u32>| m.map(|m| format!(" mode {m:04o}")).unwrap_or_default();
    match &task.action {
        Action::Run(cmd) => format!("run      {}{sudo}: {}", task.name, one_line(cmd)),
        Action::Local(cmd) => format!("local    {}: {}", task.name, one_line(cmd)),
        Action::WaitFor(w) => format!(
            "wait_for {}: {} (up to {:?})",
            task.name,
            w.probe.describe(),
            w.timeout
        ),
        Action::Upload { src, dest, mode: m } => {
            format!(
                "upload   {}{sudo}: {} -> {dest}{}",
                task.name,
                src.display(),
                mode(m)
            )
        }
        Action::Write {
            src,
            dest,
            mode: m,
            content,
        } => format!(
            "template {}{sudo}: {} -> {dest}{} ({} bytes)",
            task.name,
            src.display(),
            mode(m),
            content.len()
        ),
    }
}

fn one_line(cmd: &str) -> String {
    cmd.trim().replace('\n', "; ")
}
