//! Names that name nothing, and settings a command would not use: refused or
//! warned about in ferry's words, before anything connects.

use crate::support::fleet::Fleet;
use crate::support::project::Project;

const INVENTORY: &str = "hosts:\n  web1: { address: 127.0.0.1, port: 1 }\n  db1: { address: 127.0.0.1, port: 1 }\ngroups:\n  db: { hosts: [db1] }\n";
const SITE: &str = "tasks:\n  - { name: uptime, run: uptime }\n  - { name: motd, run: 'true' }\n";
const DEPLOY: &str = "after_switch:\n  - { name: restart, run: 'true' }\nhealth:\n  - { name: up, command: 'true' }\n";

fn project() -> Project {
    let project = Project::empty();
    project.write("inventories/prod.yml", INVENTORY);
    project.write("playbooks/site.yml", SITE);
    project.write("playbooks/deploy.yml", DEPLOY);
    project
}

#[test]
fn a_playbook_path_that_does_not_exist_says_so() {
    let project = project();
    for command in ["check", "run"] {
        project
            .ferry([command, "prod", "pb/nope.yml"])
            .code(2)
            .stderr("error: playbook file pb/nope.yml does not exist (name a playbook of playbooks/: deploy, site)\n")
            .run();
    }
    project
        .ferry(["check", "prod", "playbooks/deploi.yml"])
        .code(2)
        .stderr("error: playbook file playbooks/deploi.yml does not exist, did you mean the playbook `deploy`?\n")
        .run();
}

#[test]
fn suggestions_say_whether_they_are_a_playbook_a_task_or_a_group() {
    let project = project();
    project
        .ferry(["check", "prod", "deploi"])
        .code(2)
        .stderr("error: `deploi` is neither a playbook (playbooks/deploi.yml does not exist) nor a task of playbooks/site.yml, did you mean the playbook `deploy`?\n")
        .run();
    project
        .ferry(["run", "prod", "uptme"])
        .code(2)
        .stderr("error: `uptme` is neither a playbook (playbooks/uptme.yml does not exist) nor a task of playbooks/site.yml, did you mean the task `uptime`?\n")
        .run();
    project
        .ferry(["check", "prod", "nope"])
        .code(2)
        .stderr("error: `nope` is neither a playbook (playbooks/nope.yml does not exist) nor a task of playbooks/site.yml (playbooks: deploy, site; tasks: uptime, motd)\n")
        .run();
    // `dbs` is one edit from the group `db` and the host `db1`.
    project
        .ferry(["check", "prod", "--limit", "dbs"])
        .code(2)
        .stderr(
            "error: `dbs` in pattern `dbs` names no host or group, did you mean the group `db`?\n",
        )
        .run();
}

const NO_HEALTH: &str =
    "warning: playbooks/deploy.yml has no `health:` checks: nothing gates the canary and the batches; add `health:` checks (--require-health or `rollout.require_health: true` refuses such a deploy)";

#[test]
fn a_deploy_without_health_checks_warns_and_really_deploys() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    project.write(
        "playbooks/deploy.yml",
        "after_switch:\n  - { name: restart, run: 'true' }\n",
    );
    let r1 = project.release_tarball("r1");
    project
        .deploy(&r1, "r1")
        .stderr_has(NO_HEALTH)
        .stderr_has("release r1: done 1")
        .run();
    // With checks, no warning.
    project.write("playbooks/deploy.yml", DEPLOY);
    let r2 = project.release_tarball("r2");
    let out = project.deploy(&r2, "r2").run();
    assert!(!out.stderr.contains("warning:"), "{}", out.stderr);
}

#[test]
fn require_health_refuses_a_deploy_without_checks_before_connecting() {
    let project = project();
    project.write(
        "playbooks/blind.yml",
        "after_switch:\n  - { name: restart, run: 'true' }\n",
    );
    project.write("a.tar.gz", "not really a tarball");
    let refused = "error: playbooks/blind.yml has no `health:` checks: refusing to deploy (--require-health); add `health:` checks to the deploy playbook\n";
    // Port 1 refuses connections: exit 2 means nothing was tried.
    project
        .ferry([
            "deploy",
            "prod",
            "blind",
            "--artifact",
            "a.tar.gz",
            "--require-health",
        ])
        .code(2)
        .stderr(refused)
        .run();
    project.write(
        "inventories/prod.yml",
        &format!("rollout:\n  require_health: true\n{INVENTORY}"),
    );
    project
        .ferry(["deploy", "prod", "blind", "--artifact", "a.tar.gz"])
        .code(2)
        .stderr("error: playbooks/blind.yml has no `health:` checks: refusing to deploy (`rollout.require_health: true` in inventories/prod.yml); add `health:` checks to the deploy playbook\n")
        .run();
    // No deploy playbook at all.
    std::fs::remove_file(project.path().join("playbooks/deploy.yml")).unwrap();
    project
        .ferry(["deploy", "prod", "--artifact", "a.tar.gz"])
        .code(2)
        .stderr("error: no deploy playbook (playbooks/deploy.yml does not exist), so no health checks: refusing to deploy (`rollout.require_health: true` in inventories/prod.yml); add `health:` checks to the deploy playbook\n")
        .run();
    // promote refuses before it reads the source environment.
    project.write("inventories/staging.yml", INVENTORY);
    project
        .ferry([
            "promote",
            "staging",
            "prod",
            "--playbook",
            "blind",
            "--require-health",
        ])
        .code(2)
        .stderr(refused)
        .run();
}

const MIXED: &str =
    "tasks:\n  - { name: hello, run: 'echo hello' }\nhealth:\n  - { name: up, command: 'true' }\n";

#[test]
fn keys_a_command_ignores_are_a_warning() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    project.write("playbooks/mixed.yml", MIXED);
    project.write(
        "playbooks/deploy.yml",
        "after_switch:\n  - { name: restart, run: 'true' }\nhealth:\n  - { name: up, command: 'true' }\n",
    );
    project
        .ferry(["run", "test", "mixed"])
        .stderr_has("warning: playbooks/mixed.yml: `ferry run` ignores `health:` (deploy keys, used by `ferry deploy`)")
        .stdout_has("hello")
        .run();
    project
        .ferry(["run", "test", "deploy"])
        .stderr_has("warning: playbooks/deploy.yml has no `tasks:`, so `ferry run` runs nothing: `after_switch:`, `health:` are deploy keys, used by `ferry deploy`")
        .run();
    let tasks_ignored = "warning: playbooks/mixed.yml: deploy, promote and rollback ignore `tasks:` (hello): they run with `ferry run`; steps of a deploy go under `before_switch:` or `after_switch:`";
    let r1 = project.release_tarball("r1");
    project
        .deploy(&r1, "r1")
        .arg("mixed")
        .stderr_has(tasks_ignored)
        .stderr_has("release r1: done 1")
        .run();
    let r2 = project.release_tarball("r2");
    project.deploy(&r2, "r2").arg("mixed").run();
    project
        .ferry(["rollback", "test", "mixed"])
        .stderr_has(tasks_ignored)
        .run();
    // `check` of a deploy-only playbook says nothing; of a mix, it warns.
    let out = project.ferry(["check", "test", "deploy"]).run();
    assert!(!out.stderr.contains("warning:"), "{}", out.stderr);
    project.write(
        "playbooks/blind.yml",
        "after_switch:\n  - { name: restart, run: 'true' }\n",
    );
    project
        .ferry(["check", "test", "blind"])
        .stderr_has("warning: playbooks/blind.yml has no `health:` checks: nothing gates the canary and the batches")
        .run();
    project
        .ferry(["check", "test", "mixed"])
        .stderr_has("warning: playbooks/mixed.yml mixes `tasks:` (run by `ferry run`) with `health:` (used by `ferry deploy`): each command ignores the other's keys")
        .run();
}

#[test]
fn an_unknown_filter_or_variable_gets_the_nearest_one() {
    let project = project();
    project.write(
        "playbooks/site.yml",
        "vars: { service: shop }\ntasks:\n  - { name: restart, run: 'systemctl restart {{ service | quoted }}' }\n  - { name: who, run: 'echo {{ servce }}', hosts: web1 }\n",
    );
    project
        .ferry(["check", "prod", "--limit", "web1"])
        .code(2)
        .stderr(
            "\
error: playbooks/site.yml:3: task `restart` (run) on host `web1`: unknown filter: filter quoted is unknown (template line 1), did you mean `quote`?
playbooks/site.yml:4: task `who` (run) on host `web1`: undefined variable: `servce` is undefined (template line 1), did you mean `service`?
",
        )
        .run();
}

#[test]
fn rollback_help_says_drained_batches_by_default_and_now_at_once() {
    let project = Project::empty();
    let top = project.ferry(["--help"]).run().stdout;
    let line = top
        .lines()
        .find(|l| l.trim_start().starts_with("rollback "))
        .expect("a rollback line");
    assert!(line.contains("drained batches"), "{line}");
    assert!(!line.contains("every selected host at once"), "{line}");
    project
        .ferry(["rollback", "--help"])
        .stdout_has("in drained batches")
        .stdout_has("--now: every host at once")
        .run();
}

#[test]
fn an_empty_or_all_comment_playbook_is_an_error() {
    let project = project();
    project.write("playbooks/empty.yml", "");
    project.write("playbooks/notes.yml", "# to do\n\n");
    for (name, file) in [("empty", "empty.yml"), ("notes", "notes.yml")] {
        for command in ["check", "run"] {
            project
                .ferry([command, "prod", name])
                .code(2)
                .stderr_has(format!(
                    "error: playbooks/{file}:1:1: the file is empty: a playbook needs `tasks:` \
                     (for `ferry run`) or a deploy stage such as `after_switch:` or `health:` \
                     (for `ferry deploy`)\n"
                ))
                .run();
        }
    }
}

#[test]
fn a_task_asked_of_a_deploy_playbook_names_its_stage() {
    let project = project();
    project
        .ferry(["run", "prod", "deploy", "restart"])
        .code(2)
        .stderr_has("playbooks/deploy.yml")
        .stderr_has(
            "has no tasks: `restart` is an `after_switch` step, and deploy stages run with `ferry deploy`",
        )
        .run();
}

#[test]
fn a_deploy_playbook_name_that_names_no_file_says_so() {
    let project = project();
    project.write("a.tar.gz", "not really a tarball");
    project
        .ferry(["deploy", "prod", "mixed", "--artifact", "a.tar.gz", "--plan"])
        .code(2)
        .stderr("error: playbook file playbooks/mixed.yml does not exist (name a playbook of playbooks/: deploy, site)\n")
        .run();
}
