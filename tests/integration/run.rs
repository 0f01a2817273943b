//! `ferry run`: ad-hoc commands, uploads, templates, named tasks, on real sshd.

use std::os::unix::fs::PermissionsExt;

use crate::support::fleet::Fleet;
use crate::support::host::on_host;
use crate::support::project::Project;

#[test]
fn a_command_runs_on_five_hosts() {
    let fleet = Fleet::start(5);
    let project = Project::new(&fleet, "");
    let run = project
        .run_cmd("mkdir -p {{ deploy_to }} && echo {{ host.name | quote }} > {{ deploy_to }}/marker && echo ran on {{ host.name }}")
        .stderr_has("ok: 5  failed: 0  unreachable: 0");
    let run = fleet
        .hosts()
        .iter()
        .enumerate()
        .fold(run, |run, (i, host)| {
            run.file(on_host(&fleet, i, "marker"), format!("{}\n", host.name))
                .stdout_has(format!("{} | ran on {}", host.name, host.name))
        });
    run.run();
}

#[test]
fn an_upload_lands_verified_with_its_mode_on_every_host() {
    let fleet = Fleet::start(3);
    let project = Project::new(&fleet, "");
    let payload: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::create_dir_all(project.path().join("playbooks/files")).unwrap();
    std::fs::write(project.path().join("playbooks/files/blob.bin"), &payload).unwrap();
    project.write(
        "playbooks/site.yml",
        "tasks:\n\
         \x20 - name: prepare\n    run: mkdir -p {{ deploy_to }}\n\
         \x20 - name: ship blob\n    upload: { src: files/blob.bin, dest: '{{ deploy_to }}/blob.bin', mode: '0640' }\n",
    );
    project
        .ferry(&["run", "test"])
        .stderr_has("written (sha256")
        .run();
    for (i, host) in fleet.hosts().iter().enumerate() {
        let landed = on_host(&fleet, i, "blob.bin");
        assert_eq!(
            std::fs::read(&landed).unwrap(),
            payload,
            "content on {}",
            host.name
        );
        let mode = std::fs::metadata(&landed).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640, "mode on {}", host.name);
        let leftovers: Vec<_> = std::fs::read_dir(landed.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("ferry-tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "temporary files left on {}",
            host.name
        );
    }
}

#[test]
fn a_template_is_rendered_with_each_hosts_vars() {
    let fleet = Fleet::start(3);
    let project = Project::new(
        &fleet,
        "vars:\n  app: shop\n  listen: '{{ host.address }}:8080'\n\
         groups:\n  blue: { hosts: [h1, h3], vars: { color: blue } }\n  green: { hosts: [h2], vars: { color: green } }\n",
    );
    project.write(
        "playbooks/templates/app.conf.j2",
        "app={{ app }}\nhost={{ host.name }}\ncolor={{ color }}\nlisten={{ listen }}\n",
    );
    project.write(
        "playbooks/site.yml",
        "tasks:\n\
         \x20 - { name: prepare, run: 'mkdir -p {{ deploy_to }}' }\n\
         \x20 - name: config\n    template: { src: templates/app.conf.j2, dest: '{{ deploy_to }}/app.conf' }\n",
    );
    let run = project.ferry(["run", "test"]);
    let run = fleet
        .hosts()
        .iter()
        .enumerate()
        .fold(run, |run, (i, host)| {
            let color = if host.name == "h2" { "green" } else { "blue" };
            run.file(
                on_host(&fleet, i, "app.conf"),
                format!(
                    "app=shop\nhost={}\ncolor={color}\nlisten={}:8080\n",
                    host.name, host.address
                ),
            )
        });
    run.run();
}

#[test]
fn named_tasks_run_alone_and_a_failure_names_host_task_command_status_and_stderr() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    project.write(
        "playbooks/site.yml",
        "tasks:\n\
         \x20 - { name: hello, run: 'echo hello' }\n\
         \x20 - { name: broken, run: 'echo doomed >&2; exit 3', hosts: h2 }\n\
         \x20 - { name: after, run: 'echo after' }\n",
    );
    project
        .ferry(&["run", "test", "hello"])
        .stdout_has("h1 | hello")
        .stdout_has("h2 | hello")
        .run();
    project
        .ferry(["run", "test"])
        .code(1)
        .stderr_has("ok: 1  failed: 1")
        .stderr_has("h2: task `broken` failed on h2: exit status 3")
        .stderr_has("command: echo doomed >&2; exit 3")
        .stderr_has("doomed")
        .stderr_has("[h1] skip `broken` (not in the task's hosts)")
        // h2 stopped at the failure; h1 went on.
        .stdout_has("h1 | after")
        .stdout_lacks("h2 | after")
        .run();
}

#[test]
fn secrets_from_env_are_masked_in_output() {
    let fleet = Fleet::start(1);
    let project = Project::new(
        &fleet,
        "vars:\n  token: \"{{ env('FERRY_TEST_TOKEN_MASK') }}\"\n",
    );
    project
        .run_cmd("echo token is {{ token }}; false")
        .env("FERRY_TEST_TOKEN_MASK", "hunter2-secret")
        .code(1)
        .stdout_has("token is ****")
        .stderr_has("command: echo token is ****; false")
        .stdout_lacks("hunter2")
        .stderr_lacks("hunter2")
        .run();
}

#[test]
fn a_wait_for_says_each_attempt_until_it_holds() {
    let fleet = Fleet::start(1);
    let project = Project::new(&fleet, "");
    // Holds at the third attempt: each attempt counts itself in a file.
    project.write(
        "playbooks/site.yml",
        "tasks:\n\
         \x20 - { name: prepare, run: 'mkdir -p {{ deploy_to }}' }\n\
         \x20 - name: ready\n    wait_for:\n      command: 'n=$(cat {{ deploy_to }}/n 2>/dev/null || echo 0); echo $((n+1)) > {{ deploy_to }}/n; [ $n -ge 2 ]'\n      timeout: 10s\n      interval: 200ms\n",
    );
    let out = project
        .ferry(["run", "test"])
        .stderr_has("wait_for `ready`: attempt 1 of 51 not yet")
        .stderr_has("wait_for `ready`: attempt 2 of 51 not yet")
        .stderr_has("again in 200ms")
        .run();
    assert!(!out.stderr.contains("attempt 3 of"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(on_host(&fleet, 0, "n")).unwrap(),
        "3\n"
    );
}

/// SIGTERM during `ferry run`: the host in flight finishes, no new host
/// starts, the summary prints and the journal is closed; exit 130.
#[test]
fn a_signal_finishes_the_host_in_flight_and_starts_no_new_one() {
    let fleet = Fleet::start(2);
    let project = Project::new(&fleet, "");
    let mark = project.path().join("went");
    let cmd = format!("touch {}; sleep 1", mark.display());
    let ferry = project
        .ferry(["run", "test", "--forks", "1", "--cmd", &cmd])
        .code(130)
        .stderr_has("signal received: finishing the hosts in flight, starting no new ones")
        .stderr_has("not started: 1")
        .spawn();
    crate::support::host::wait_until(
        std::time::Duration::from_secs(30),
        "no host started",
        || mark.exists(),
    );
    ferry.signal("-TERM");
    ferry.finish();
    let runs = project.path().join(".ferry/runs");
    let dir = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap();
    let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "host_result")
        .map(|e| format!("{}={}", e["host"], e["outcome"]))
        .collect();
    assert_eq!(outcomes, [r#""h1"="ok""#, r#""h2"="not_started""#]);
    let finished = events
        .iter()
        .find(|e| e["event"] == "run_finished")
        .expect("run_finished");
    assert_eq!(finished["interrupted"], true);
}
