use super::*;

fn inventory(text: &str) -> Result<Inventory, ConfigError> {
    Inventory::load_from_str(Path::new("inventories/test.yml"), text)
}

/// A host that stops answering is given up after 3 unanswered
/// keepalives, the first sent one quiet interval after the host's last
/// word: about 4 intervals, 20 s by default, well under a minute (README,
/// SSH; measured by the fault suite's `host_frozen_during_deploy`).
#[test]
fn a_silent_host_is_given_up_within_20_s_by_default() {
    let inv = inventory("hosts:\n  web1: {}\n").unwrap();
    assert_eq!(inv.ssh.keepalive * 4, Duration::from_secs(20));
}

#[test]
fn vars_follow_precedence_host_over_group_over_inventory() {
    let inv = inventory(
        "vars: { a: inv, b: inv, c: inv }\n\
         hosts:\n  web1: { vars: { c: host } }\n  web2: {}\n\
         groups:\n  web: { hosts: [web1, web2], vars: { b: group, c: group } }\n",
    )
    .unwrap();
    let web1 = inv.host("web1").unwrap();
    assert_eq!(web1.vars["a"], "inv");
    assert_eq!(web1.vars["b"], "group");
    assert_eq!(web1.vars["c"], "host");
    assert_eq!(inv.host("web2").unwrap().vars["c"], "group");
    assert_eq!(web1.groups, vec!["web"]);
}

#[test]
fn merge_keys_work() {
    let inv = inventory(
        "hosts:\n  web1: &web { port: 2222, user: app }\n  web2: { <<: *web, address: 127.0.9.2 }\n",
    )
    .unwrap();
    let web2 = inv.host("web2").unwrap();
    assert_eq!(
        (web2.port, web2.user.as_str(), web2.address.as_str()),
        (2222, "app", "127.0.9.2")
    );
}

#[test]
fn duplicate_host_names_are_rejected() {
    let err = inventory("hosts:\n  web1: {}\n  web1: {}\n").unwrap_err();
    assert!(err.to_string().contains("written twice"), "{err}");
    assert_eq!(err.line, Some(3));
}

#[test]
fn unknown_group_member_points_at_it() {
    let err =
        inventory("hosts:\n  web1: {}\ngroups:\n  web:\n    hosts: [web1, wbe2]\n").unwrap_err();
    assert_eq!(
        err.message,
        "group `web` lists unknown host `wbe2`, did you mean `web1`?"
    );
    assert_eq!(err.line, Some(5));
}

#[test]
fn a_group_in_a_group_says_groups_list_hosts_only() {
    let err = inventory(
        "hosts:\n  web1: {}\n  db1: {}\ngroups:\n  web: { hosts: [web1] }\n  db:\n    hosts: [db1, web]\n",
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "group `db` lists unknown host `web`: that is a group, and a group lists hosts only (list its hosts here)"
    );
    assert_eq!(err.line, Some(7));
}

#[test]
fn rollout_typo_suggests_the_key() {
    let err = inventory("rollout:\n  batchsize: 3\nhosts:\n  web1: {}\n").unwrap_err();
    assert!(
        err.to_string().starts_with(
            "unknown key `batchsize` in inventories/test.yml:2:3, did you mean `batch`?"
        ),
        "{err}"
    );
}

#[test]
fn invalid_port_is_an_error() {
    assert!(inventory("hosts:\n  web1: { port: 70000 }\n").is_err());
    let err = inventory("hosts:\n  web1: { port: 0 }\n").unwrap_err();
    assert_eq!(
        err.message,
        "port `0` is out of range: write a port number from 1 to 65535 (SSH listens on 22 unless told otherwise)"
    );
    assert_eq!((err.line, err.column), (Some(2), Some(17)));
}

#[test]
fn rollout_settings_parse() {
    let inv = inventory(
        "rollout: { batch: [1, 10%, 50%], canary: 1, max_failures: 10%, pause: 30s }\n\
         hosts:\n  web1: {}\n",
    )
    .unwrap();
    assert_eq!(
        inv.rollout.batch,
        Some(BatchSpec::Ramp(vec![
            Amount::Count(1),
            Amount::Percent(10.0),
            Amount::Percent(50.0)
        ]))
    );
    assert_eq!(inv.rollout.pause, Some(Span(Duration::from_secs(30))));
    assert!(inventory("rollout: { canary: 0 }\nhosts:\n  web1: {}\n").is_err());
}

#[test]
fn proxy_jump_host_entry_overrides_the_ssh_block() {
    let inv = inventory(
        "ssh: { user: deploy, proxy_jump: \"ops@bastion:2222, inner\" }\n\
         hosts:\n  web1: {}\n  web2: { proxy_jump: none }\n  web3: { proxy_jump: bastion }\n\
         \x20 bastion: { address: 127.0.0.9, port: 2200 }\n  inner: { user: app }\n",
    )
    .unwrap();
    let hops = |name: &str| -> Vec<String> {
        inv.host(name)
            .unwrap()
            .ssh
            .jumps
            .iter()
            .map(|j| format!("{}@{}:{}", j.user, j.address, j.port))
            .collect()
    };
    assert_eq!(hops("web1"), ["ops@127.0.0.9:2222", "app@inner:22"]);
    assert!(hops("web2").is_empty());
    assert_eq!(hops("web3"), ["deploy@127.0.0.9:2200"]);
    // The bastion itself is reached directly; `inner` through the bastion.
    assert!(hops("bastion").is_empty());
    assert_eq!(hops("inner"), ["ops@127.0.0.9:2222"]);
}

#[test]
fn a_bad_proxy_jump_names_the_host_and_the_place() {
    let err = inventory("hosts:\n  web1: { proxy_jump: \"ops@\" }\n").unwrap_err();
    assert_eq!(err.line, Some(2));
    assert!(
        err.to_string().starts_with(
            "inventories/test.yml:2:23: host `web1`: proxy_jump hop `ops@`: the host name is empty; write `[user@]host[:port]`"
        ),
        "{err}"
    );
    let err = inventory("ssh: { proxy_jump: \"a,,b\" }\nhosts:\n  web1: {}\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("ssh: proxy_jump hop ``: empty hop"),
        "{err}"
    );
}
