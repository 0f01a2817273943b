//! Bad input is refused before anything connects, with the place and the fix.
//! Messages are asserted whole, caret included, as just's error tests do.

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
        .ferry(["check", "prod"])
        .code(2)
        .stderr(
            "error: unknown key `batchsize` in inventories/prod.yml:3:3, did you mean `batch`?
  |
3 |   batchsize: 3
  |   ^
",
        )
        .run();
}

#[test]
fn an_undefined_variable_names_file_task_host_and_variable() {
    let project = Project::empty();
    project.write("inventories/prod.yml", INVENTORY);
    project.write(
        "playbooks/site.yml",
        "tasks:\n  - name: ok\n    run: echo fine\n  - name: restart\n    run: systemctl restart {{ service_name }}\n",
    );
    let undefined = "\
error: playbooks/site.yml:4: task `restart` (run) on host `web1`: undefined variable: `service_name` is undefined (template line 1)
playbooks/site.yml:4: task `restart` (run) on host `web2`: undefined variable: `service_name` is undefined (template line 1)
";
    project
        .ferry(["check", "prod"])
        .code(2)
        .stderr(undefined)
        .run();
    // The same with `run`: refused before any connection (port 1 would refuse).
    project
        .ferry(["run", "prod"])
        .code(2)
        .stderr(undefined)
        .run();
}

#[test]
fn malformed_yaml_names_line_and_column() {
    let project = Project::empty();
    project.write(
        "inventories/prod.yml",
        "hosts:\n  web1: { address: [1, 2 }\n",
    );
    project
        .ferry(["check", "prod"])
        .code(2)
        .stderr(
            "error: inventories/prod.yml:2:20: `address` needs a single value (quote the whole value to make it one string), found a list
  |
2 |   web1: { address: [1, 2 }
  |                    ^
",
        )
        .run();
}

#[test]
fn duplicate_hosts_bad_ports_and_empty_selections_are_errors() {
    let project = Project::empty();
    project.write("inventories/dup.yml", "hosts:\n  web1: {}\n  web1: {}\n");
    project
        .ferry(["check", "dup"])
        .code(2)
        .stderr(
            "error: inventories/dup.yml:3:3: `web1` is written twice in the same mapping (first at line 2): keep one (merge their settings), or rename this one
  |
3 |   web1: {}
  |   ^
",
        )
        .run();
    project.write("inventories/port.yml", "hosts:\n  web1: { port: 70000 }\n");
    project
        .ferry(["check", "port"])
        .code(2)
        .stderr(
            "error: inventories/port.yml:2:17: port `70000` is out of range: write a port number from 1 to 65535 (SSH listens on 22 unless told otherwise)
  |
2 |   web1: { port: 70000 }
  |                 ^
",
        )
        .run();
    project.write("inventories/prod.yml", INVENTORY);
    project.write(
        "playbooks/site.yml",
        "tasks:\n  - { name: a, run: 'true' }\n",
    );
    project
        .ferry(["check", "prod", "--limit", "wbe1"])
        .code(2)
        .stderr("error: `wbe1` in pattern `wbe1` names no host or group, did you mean the host `web1`?\n")
        .run();
    project
        .ferry(["check", "prod", "--limit", "web,!web*"])
        .code(2)
        .stderr("error: pattern `web,!web*` selects no host\n")
        .run();
    project
        .ferry(["check", "nosuchenv"])
        .code(2)
        .stderr("error: no inventory for environment `nosuchenv`: inventories/nosuchenv.yml does not exist\n")
        .run();
}

/// The user ferry connects as when the inventory names none.
fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".into())
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
    let user = user();
    project
        .ferry(["check", "prod", "deploy"])
        .stdout(format!(
            "\
web1 ({user}@127.0.0.1:1)
  run      migrate: ./migrate /srv/app
  upload   conf: playbooks/files/app.conf -> /srv/app/app.conf mode 0644
  run      restart [sudo]: systemctl restart app
web2 ({user}@127.0.0.1:1)
  skip     migrate (run_once: runs on web1)
  upload   conf: playbooks/files/app.conf -> /srv/app/app.conf mode 0644
  skip     restart (when: host.name != 'web2')
"
        ))
        .stderr("ok: inventories/prod.yml and playbooks/deploy.yml valid; 2 hosts, 4 task runs\n")
        .run();
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
         health:\n  - { name: up, http: { url: 'http://{{ host.address }}:8080/' } }\n\
         undrain:\n  - { name: lb on, run: 'lb on {{ host.name }}' }\n\
         drain:\n  - { name: lb off, run: 'lb off {{ host.name }}' }\n",
    );
    project
        .ferry(["check", "prod", "deploy"])
        .code(2)
        .stderr(
            "\
error: playbooks/deploy.yml:2: task `restart` (run) on host `web1`: undefined variable: `service` is undefined (template line 1)
playbooks/deploy.yml:2: task `restart` (run) on host `web2`: undefined variable: `service` is undefined (template line 1)
",
        )
        .run();
    let user = user();
    let host = |name: &str| {
        format!(
            "{name} ({user}@127.0.0.1:1)\n\
             \x20 [drain] run      lb off: lb off {name}\n\
             \x20 [after_switch] run      restart: systemctl restart shop\n\
             \x20 [health] up: http http://127.0.0.1:8080/ -> 200\n\
             \x20 [undrain] run      lb on: lb on {name}\n"
        )
    };
    project
        .ferry(["check", "prod", "deploy", "-e", "service=shop"])
        .stdout(host("web1") + &host("web2"))
        .stderr("ok: inventories/prod.yml and playbooks/deploy.yml valid; 2 hosts, 0 task runs\n")
        .run();
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
        .ferry(["check", "prod"])
        .code(2)
        .stderr(
            "error: playbooks/site.yml:4:14: duration `18446744073709551615` is too long: at most 30 days (720h)
  |
4 |     timeout: 18446744073709551615
  |              ^
",
        )
        .run();
    project.write(
        "playbooks/site.yml",
        "tasks:\n  - { name: restart, run: 'true', timeout: 31d }\n",
    );
    project
        .ferry(["check", "prod"])
        .code(2)
        .stderr(
            "error: playbooks/site.yml:2:44: duration `31d` is too long: at most 30 days (720h)
  |
2 |   - { name: restart, run: 'true', timeout: 31d }
  |                                            ^
",
        )
        .run();
    // On the command line: a clear error, exit 2, never a panic.
    project
        .ferry(["rollback", "prod", "--lock-wait", "500000000000y"])
        .code(2)
        .stderr(
            "error: invalid value '500000000000y' for '--lock-wait <DURATION>': duration `500000000000y` is too long: at most 30 days (720h)

For more information, try '--help'.
",
        )
        .run();
}

#[test]
fn durations_from_vars_render_per_host_and_a_bad_one_names_file_and_task() {
    let project = Project::empty();
    project.write(
        "inventories/prod.yml",
        "vars: { drain_timeout: 7s }\nhosts:\n  web1: { address: 127.0.0.1, port: 1 }\n  web2: { address: 127.0.0.1, port: 1, vars: { drain_timeout: 2m } }\n",
    );
    project.write(
        "playbooks/site.yml",
        "tasks:\n  - name: drained\n    wait_for: { command: 'true', timeout: '{{ drain_timeout }}', interval: '{{ 1 }}s' }\n",
    );
    let out = project.ferry(["check", "prod"]).run().stdout;
    assert!(
        out.contains("wait_for drained: command `true` (up to 7s)"),
        "{out}"
    );
    assert!(
        out.contains("wait_for drained: command `true` (up to 120s)"),
        "{out}"
    );
    project.write(
        "playbooks/site.yml",
        "tasks:\n  - { name: slow, run: 'true', timeout: '{{ drain_timeout }}x' }\n",
    );
    project
        .ferry(["check", "prod"])
        .code(2)
        .stderr_has("error: playbooks/site.yml:2: task `slow` (timeout) on host `web1`: `{{ drain_timeout }}x` must render to a duration: invalid duration `7sx`")
        .run();
}
