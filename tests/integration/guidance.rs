//! Names that name nothing, and settings a command would not use: refused or
//! warned about in ferry's words, before anything connects.

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
