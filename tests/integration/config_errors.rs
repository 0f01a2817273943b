//! Bad input is refused before anything connects, with the place and the fix.

use crate::support::project::Project;

const INVENTORY: &str = "hosts:\n  web1: { address: 127.0.0.1, port: 1 }\n  web2: { address: 127.0.0.1, port: 1 }\ngroups:\n  web: { hosts: [web1, web2] }\n";

#[test]
fn an_unknown_key_names_file_line_and_nearest_key() {
    let project = Project::empty();
    project.write(
        "inventories/prod.yml",
        "rollout:\n  canary: 1\n  batchsize: 3\nhosts:\n  web1: {}\n",
    );
    project
        .ferry(&["check", "prod"])
        .expect_code(2)
        .stderr_has(
            "error: unknown key `batchsize` in inventories/prod.yml:3:3, did you mean `batch`?",
        )
        .stderr_has("3 |   batchsize: 3");
}

#[test]
fn an_undefined_variable_names_file_task_host_and_variable() {
    let project = Project::empty();
    project.write("inventories/prod.yml", INVENTORY);
    project.write(
        "playbooks/site.yml",
        "tasks:\n  - name: ok\n    run: echo fine\n  - name: restart\n    run: systemctl restart {{ service_name }}\n",
    );
    project
        .ferry(&["check", "prod"])
        .expect_code(2)
        .stderr_has("playbooks/site.yml:4: task `restart` (run) on host `web1`: undefined variable")
        .stderr_has("service_name");
    // The same with `run`: refused before any connection (port 1 would refuse).
    project
        .ferry(&["run", "prod"])
        .expect_code(2)
        .stderr_has("undefined variable");
}

#[test]
fn malformed_yaml_names_line_and_column() {
    let project = Project::empty();
    project.write(
        "inventories/prod.yml",
        "hosts:\n  web1: { address: [1, 2 }\n",
    );
    let run = project.ferry(&["check", "prod"]);
    run.expect_code(2).stderr_has("inventories/prod.yml:2:");
}

#[test]
fn duplicate_hosts_bad_ports_and_empty_selections_are_errors() {
    let project = Project::empty();
    project.write("inventories/dup.yml", "hosts:\n  web1: {}\n  web1: {}\n");
    project
        .ferry(&["check", "dup"])
        .expect_code(2)
        .stderr_has("inventories/dup.yml:3:3")
        .stderr_has("duplicate");
    project.write("inventories/port.yml", "hosts:\n  web1: { port: 70000 }\n");
    project
        .ferry(&["check", "port"])
        .expect_code(2)
        .stderr_has("inventories/port.yml:2:");
    project.write("inventories/prod.yml", INVENTORY);
    project.write(
        "playbooks/site.yml",
        "tasks:\n  - { name: a, run: 'true' }\n",
    );
    project
        .ferry(&["check", "prod", "--limit", "wbe1"])
        .expect_code(2)
        .stderr_has("`wbe1` in pattern `wbe1` names no host or group, did you mean `web1`?");
    project
        .ferry(&["check", "prod", "--limit", "web,!web*"])
        .expect_code(2)
        .stderr_has("selects no host");
    project
        .ferry(&["check", "nosuchenv"])
        .expect_code(2)
        .stderr_has("inventories/nosuchenv.yml does not exist");
}

#[test]
fn check_prints_what_would_run_where() {
    let project = Project::empty();
    project.write(
        "inventories/prod.yml",
        &format!("vars:\n  deploy_to: /srv/app\n{INVENTORY}"),
    );
    project.write("playbooks/files/app.conf", "x\n");
    project.write(
        "playbooks/deploy.yml",
        "tasks:\n\
         \x20 - { name: migrate, run: './migrate {{ deploy_to | quote }}', run_once: true }\n\
         \x20 - { name: conf, upload: { src: files/app.conf, dest: '{{ deploy_to }}/app.conf', mode: '0644' } }\n\
         \x20 - { name: restart, run: 'systemctl restart app', sudo: true, when: \"host.name != 'web2'\" }\n",
    );
    project
        .ferry(&["check", "prod", "deploy"])
        .expect_code(0)
        .stdout_has("web1 (")
        .stdout_has("  run      migrate: ./migrate /srv/app")
        .stdout_has("  skip     migrate (run_once: runs on web1)")
        .stdout_has("  upload   conf: playbooks/files/app.conf -> /srv/app/app.conf mode 0644")
        .stdout_has("  run      restart [sudo]: systemctl restart app")
        .stdout_has("  skip     restart (when: host.name != 'web2')")
        .stderr_has("2 hosts, 4 task runs");
}

#[test]
fn check_renders_the_deploy_stages_and_health_checks_too() {
    let project = Project::empty();
    project.write(
        "inventories/prod.yml",
        &format!("vars:\n  deploy_to: /srv/app\n{INVENTORY}"),
    );
    project.write(
        "playbooks/deploy.yml",
        "after_switch:\n  - { name: restart, run: 'systemctl restart {{ service }}' }\n\
         health:\n  - { name: up, http: { url: 'http://{{ host.address }}:8080/' } }\n",
    );
    project
        .ferry(&["check", "prod", "deploy"])
        .expect_code(2)
        .stderr_has(
            "playbooks/deploy.yml:2: task `restart` (run) on host `web1`: undefined variable",
        );
    project
        .ferry(&["check", "prod", "deploy", "-e", "service=shop"])
        .expect_code(0)
        .stdout_has("[after_switch] run      restart: systemctl restart shop")
        .stdout_has("[health] up: http http://127.0.0.1:8080/ -> 200");
}

#[test]
fn a_duration_past_30_days_is_refused_with_its_place() {
    let project = Project::empty();
    project.write("inventories/prod.yml", INVENTORY);
    project.write(
        "playbooks/site.yml",
        "tasks:\n  - name: restart\n    run: 'true'\n    timeout: 18446744073709551615\n",
    );
    project
        .ferry(&["check", "prod"])
        .expect_code(2)
        .stderr_has("playbooks/site.yml:4:")
        .stderr_has("duration `18446744073709551615` is too long: at most 30 days");
    project.write(
        "playbooks/site.yml",
        "tasks:\n  - { name: restart, run: 'true', timeout: 31d }\n",
    );
    project
        .ferry(&["check", "prod"])
        .expect_code(2)
        .stderr_has("playbooks/site.yml:2:")
        .stderr_has("too long");
    // On the command line: a clear error, exit 2, never a panic.
    project
        .ferry(&["rollback", "prod", "--lock-wait", "500000000000y"])
        .expect_code(2)
        .stderr_has("duration `500000000000y` is too long");
}
