use super::*;
use crate::config::source::parse_yaml;

fn playbook(text: &str) -> Result<Playbook, ConfigError> {
    let path = Path::new("playbooks/site.yml");
    from_file(path, parse_yaml(path, text)?)
}

#[test]
fn tasks_keep_order_kind_and_line() {
    let pb = playbook(
        "tasks:\n  - name: a\n    run: uptime\n  - name: b\n    upload: { src: f, dest: /tmp/f, mode: '0644' }\n",
    )
    .unwrap();
    assert_eq!(pb.tasks[0].kind, TaskKind::Run("uptime".into()));
    assert_eq!(pb.tasks[1].line, 4);
    assert!(matches!(pb.tasks[1].kind, TaskKind::Upload(_)));
}

#[test]
fn deploy_stages_and_links_parse() {
    let pb = playbook(
        "linked_dirs: [log]\nkeep_releases: 3\n\
         before_switch:\n  - { name: build, run: make }\n\
         after_switch:\n  - { name: restart, run: 'systemctl restart app' }\n",
    )
    .unwrap();
    assert_eq!(pb.before_switch[0].name, "build");
    assert_eq!(pb.after_switch[0].name, "restart");
    assert_eq!(
        (pb.linked_dirs.as_slice(), pb.keep_releases),
        (&["log".to_string()][..], 3)
    );
    assert!(playbook("linked_dirs: [../etc]\n").is_err());
}

#[test]
fn a_task_needs_exactly_one_kind() {
    let err = playbook("tasks:\n  - name: a\n    run: x\n    local: y\n").unwrap_err();
    assert!(err.message.contains("found: run, local"), "{err}");
    assert_eq!(err.line, Some(2));
}

#[test]
fn unknown_task_key_suggests() {
    let err = playbook("tasks:\n  - name: a\n    run: x\n    timout: 3s\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unknown key `timout` in playbooks/site.yml:4:5, did you mean `timeout`?"),
        "{err}"
    );
}

#[test]
fn become_user_implies_sudo_and_the_playbook_password_is_a_default() {
    let pb = playbook(
        "become_password: \"{{ env('P') }}\"\ntasks:\n  - { name: a, run: x, become_user: app }\n  \
         - { name: b, run: y }\n  - { name: c, run: z, sudo: true, become_password: own }\n",
    )
    .unwrap();
    let t = &pb.tasks;
    assert!(t[0].sudo);
    assert_eq!(t[0].become_user.as_deref(), Some("app"));
    assert_eq!(t[0].become_password.as_deref(), Some("{{ env('P') }}"));
    assert_eq!((t[1].sudo, t[1].become_password.as_deref()), (false, None));
    assert_eq!(t[2].become_password.as_deref(), Some("own"));
    let err = playbook("tasks:\n  - { name: a, run: x, become_password: p }\n").unwrap_err();
    assert!(err.message.contains("needs `sudo: true`"), "{err}");
    let err = playbook("tasks:\n  - { name: a, local: x, sudo: true }\n").unwrap_err();
    assert!(err.message.contains("runs on the controller"), "{err}");
}

#[test]
fn tasks_are_picked_by_name() {
    let pb = playbook("tasks:\n  - { name: a, run: x }\n  - { name: b, run: y }\n").unwrap();
    let only = pb.clone().only(&["b".into()]).unwrap();
    assert_eq!(only.tasks.len(), 1);
    let err = pb.only(&["c".into()]).unwrap_err();
    assert!(err.message.starts_with("no task named `c`"), "{err}");
}

#[test]
fn each_command_names_the_keys_it_ignores() {
    use super::Use::{Check, Release, Run};
    let path = Path::new("playbooks/pb.yml");
    let pb = |text: &str| Playbook::load_from_str(path, text).unwrap();
    let tasks = pb("tasks:\n  - { name: a, run: 'true' }\n  - { name: b, run: 'true' }\n");
    let deploy = pb(
        "after_switch:\n  - { name: r, run: 'true' }\nhealth:\n  - { name: up, command: 'true' }\n",
    );
    let mixed = pb("tasks:\n  - { name: a, run: 'true' }\nhealth:\n  - { name: up, command: 'true' }\nkeep_releases: 3\n");
    let table: &[(&Playbook, super::Use, Option<&str>)] = &[
        (&tasks, Run, None),
        (&tasks, Check, None),
        (&tasks, Release, Some("warning: playbooks/pb.yml: deploy, promote and rollback ignore `tasks:` (a, b): they run with `ferry run`; steps of a deploy go under `before_switch:` or `after_switch:`")),
        (&deploy, Release, None),
        (&deploy, Check, None),
        (&deploy, Run, Some("warning: playbooks/pb.yml has no `tasks:`, so `ferry run` runs nothing: `after_switch:`, `health:` are deploy keys, used by `ferry deploy`")),
        (&mixed, Run, Some("warning: playbooks/pb.yml: `ferry run` ignores `health:`, `keep_releases:` (deploy keys, used by `ferry deploy`)")),
        (&mixed, Release, Some("warning: playbooks/pb.yml: deploy, promote and rollback ignore `tasks:` (a): they run with `ferry run`; steps of a deploy go under `before_switch:` or `after_switch:`")),
        (&mixed, Check, Some("warning: playbooks/pb.yml mixes `tasks:` (run by `ferry run`) with `health:`, `keep_releases:` (used by `ferry deploy`): each command ignores the other's keys")),
        (&Playbook::empty(), Run, None),
        (&Playbook::empty(), Release, None),
    ];
    for (playbook, by, want) in table {
        assert_eq!(
            playbook.ignored_keys_warning(*by).as_deref(),
            *want,
            "{by:?}"
        );
    }
}
