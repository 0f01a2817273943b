//! A deploy whose playbook has no `health:` checks: its canary and batches
//! are gated by nothing. ferry warns; `--require-health` (deploy, promote)
//! or the inventory's `rollout.require_health: true` makes it an error
//! (exit 2), decided before anything connects.

use crate::config::playbook::Use;
use crate::config::{Host, Inventory, Playbook, RolloutSettings};
use crate::failure::Invalid;
use crate::settings::ShipSettings;

/// Refuse a deploy of `hosts` with `ctx`'s playbook when health checks
/// are required and it has none: before anything connects.
pub(super) fn gate(
    ctx: &crate::deploy::Context,
    hosts: &[Host],
    args: &ShipSettings,
) -> Result<(), Invalid> {
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let settings = crate::rollout::settings_for(&ctx.inventory, &names, &args.rollout);
    match required_by(&args.rollout, &settings, &ctx.inventory) {
        Some(by) => check(&ctx.playbook, Some(by)).map(|_| ()),
        None => Ok(()),
    }
}

/// The warnings of a deploy or promote that goes on: keys it ignores, no
/// health checks (through the reporter).
pub(super) fn warn(ctx: &crate::deploy::Context) {
    let printer = ctx.executor.printer();
    let warnings = [
        ctx.playbook.ignored_keys_warning(Use::Release),
        check(&ctx.playbook, None).ok().flatten(),
    ];
    for warning in warnings.iter().flatten() {
        printer.note(warning);
    }
}

/// Who requires health checks for this deploy, in words; `None`: nobody.
pub(super) fn required_by(
    cli: &RolloutSettings,
    merged: &RolloutSettings,
    inventory: &Inventory,
) -> Option<String> {
    if cli.require_health == Some(true) {
        return Some("--require-health".into());
    }
    (merged.require_health == Some(true)).then(|| {
        format!(
            "`rollout.require_health: true` in {}",
            inventory.path.display()
        )
    })
}

/// `Ok(None)`: the playbook has health checks. `Ok(Some(warning))`: it has
/// none and nobody requires them. `Err`: it has none and they are required.
pub(super) fn check(
    playbook: &Playbook,
    required_by: Option<String>,
) -> Result<Option<String>, Invalid> {
    if !playbook.health.is_empty() {
        return Ok(None);
    }
    let what = if playbook.path == Playbook::empty().path {
        "no deploy playbook (playbooks/deploy.yml does not exist), so no health checks".to_string()
    } else {
        format!("{} has no `health:` checks", playbook.path.display())
    };
    match required_by {
        Some(by) => Err(Invalid::HealthRequired { what, by }),
        None => Ok(Some(format!(
            "warning: {what}: nothing gates the canary and the batches; add `health:` checks \
             (--require-health or `rollout.require_health: true` refuses such a deploy)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn playbook(text: &str) -> Playbook {
        Playbook::load_from_str(Path::new("playbooks/deploy.yml"), text).unwrap()
    }

    #[test]
    fn warns_or_refuses_a_deploy_without_health_checks() {
        let healthy = playbook("health:\n  - { name: up, command: 'true' }\n");
        let blind = playbook("after_switch:\n  - { name: restart, run: 'true' }\n");
        let by = || Some("--require-health".to_string());
        assert_eq!(check(&healthy, None).unwrap(), None);
        assert_eq!(check(&healthy, by()).unwrap(), None);
        assert_eq!(
            check(&blind, None).unwrap().as_deref(),
            Some(
                "warning: playbooks/deploy.yml has no `health:` checks: nothing gates the canary \
                 and the batches; add `health:` checks (--require-health or \
                 `rollout.require_health: true` refuses such a deploy)"
            )
        );
        assert_eq!(
            check(&Playbook::empty(), by()).unwrap_err().to_string(),
            "no deploy playbook (playbooks/deploy.yml does not exist), so no health checks: \
             refusing to deploy (--require-health); add `health:` checks to the deploy playbook"
        );
    }
}
