//! `ferry check`: load, select and render everything for every host without
//! connecting; print what would run where.

use crate::config::playbook::Use;
use crate::config::Host;
use crate::config::{self, Playbook};
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::render::{render_health, render_plan, Action, Renderer, Secrets, Step};
use crate::report::Printer;
use crate::settings::CheckSettings;

use super::{load_playbook, prepare, Prepared};

pub(super) fn check(args: CheckSettings) -> Result<ExitStatus, Failure> {
    if args.ssh {
        return super::check_ssh::check_ssh(&args);
    }
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
    let stages = render_deploy_stages(&loaded, &plans, &secrets)?;
    let printer = Printer::new(secrets);
    if let Some(warning) = loaded.playbook.ignored_keys_warning(Use::Check) {
        printer.note(&warning);
    }
    // A deploy playbook with no health checks: what `deploy` would warn.
    if !loaded.playbook.deploy_keys().is_empty() {
        if let Ok(Some(warning)) = super::health_gate::check(&loaded.playbook, None) {
            printer.note(&warning);
        }
    }
    let mut runs = 0;
    for (i, plan) in plans.iter().enumerate() {
        let h = &plan.host;
        printer.out(&format!("{} ({}@{}:{})", h.name, h.user, h.address, h.port));
        for step in &plan.steps {
            if matches!(step, Step::Run(_)) {
                runs += 1;
            }
            printer.out(&format!("  {}", describe(step)));
        }
        for (stage, per_host) in &stages {
            for line in &per_host[i] {
                printer.out(&format!("  [{stage}] {line}"));
            }
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

/// A stage's name and, per host (in plan order), its described steps.
type StageLines = (&'static str, Vec<Vec<String>>);

/// The deploy stages and health checks, rendered per host with placeholder
/// release facts (`<release>`, `<previous>`): every template is checked.
fn render_deploy_stages(
    loaded: &super::Loaded,
    plans: &[crate::render::HostPlan],
    secrets: &Secrets,
) -> Result<Vec<StageLines>, Failure> {
    let pb = &loaded.playbook;
    let renderer = Renderer::new(secrets.clone());
    let hosts: Vec<&Host> = plans.iter().map(|p| &p.host).collect();
    let vars = |h: &Host| {
        let deploy_to = renderer
            .host_context(&loaded.inventory, h, &pb.vars, &loaded.extra)
            .ok()
            .and_then(|v| v.get_attr("deploy_to").ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "<deploy_to>".into());
        crate::layout::release_vars(&loaded.extra, &deploy_to, "<release>", "<previous>")
    };
    // A drain provider: one line per host saying what it will do.
    let provided = |name: &'static str| -> Result<Option<StageLines>, Failure> {
        let Some(provider) = &pb.drain_provider else {
            return Ok(None);
        };
        let mut per_host = Vec::new();
        for h in &hosts {
            let ctx = renderer
                .host_context(&loaded.inventory, h, &pb.vars, &vars(h))
                .map_err(|e| vec![e])?;
            let place = format!("{}: drain on host `{}`", pb.path.display(), h.name);
            let drainer =
                crate::drain::render(&renderer, &loaded.inventory, &place, provider, &ctx)
                    .map_err(|e| vec![e])?;
            per_host.push(vec![drainer.describe(name == "drain")]);
        }
        Ok(Some((name, per_host)))
    };
    let tasks = |name: &'static str, tasks: &[crate::config::Task]| -> Result<_, Failure> {
        if tasks.is_empty() {
            return Ok(None);
        }
        let plans = render_plan(&renderer, &loaded.inventory, &hosts, pb, tasks, &vars)?;
        Ok(Some((
            name,
            plans
                .iter()
                .map(|p| p.steps.iter().map(describe).collect())
                .collect(),
        )))
    };
    // In the order a deploy runs them on a host (the switch between drain
    // and after_switch): health before undrain.
    let mut out: Vec<Option<StageLines>> = vec![
        tasks("before_switch", &pb.before_switch)?,
        if pb.drain_provider.is_some() {
            provided("drain")?
        } else {
            tasks("drain", &pb.drain)?
        },
        tasks("after_switch", &pb.after_switch)?,
    ];
    let mut per_host = Vec::new();
    for h in hosts.iter().filter(|_| !pb.health.is_empty()) {
        let ctx = renderer
            .host_context(&loaded.inventory, h, &pb.vars, &vars(h))
            .map_err(|e| vec![e])?;
        let checks = render_health(&renderer, pb, h, &ctx).map_err(|e| vec![e])?;
        per_host.push(
            checks
                .iter()
                .map(|c| format!("{}: {}", c.name, c.probe.describe()))
                .collect(),
        );
    }
    out.push((!pb.health.is_empty()).then_some(("health", per_host)));
    out.push(if pb.drain_provider.is_some() {
        provided("undrain")?
    } else {
        tasks("undrain", &pb.undrain)?
    });
    Ok(out.into_iter().flatten().collect())
}

pub(super) fn describe(step: &Step) -> String {
    let task = match step {
        Step::Skip { name, reason } => return format!("skip     {name} ({reason})"),
        Step::Run(task) => task,
    };
    let sudo = match (&task.sudo, &task.become_user) {
        (true, Some(user)) => format!(" [sudo -u {user}]"),
        (true, None) => " [sudo]".to_string(),
        (false, _) => String::new(),
    };
    let on = task
        .delegate
        .as_ref()
        .map(|d| format!(" (on {})", d.name))
        .unwrap_or_default();
    let mode = |m: &Option<u32>| m.map(|m| format!(" mode {m:04o}")).unwrap_or_default();
    match &task.action {
        Action::Run(cmd) => format!("run      {}{sudo}{on}: {}", task.name, one_line(cmd)),
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
