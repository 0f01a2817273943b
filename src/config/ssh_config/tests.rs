//! The reader and resolver by table, and against `ssh -G` itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::apply::{self, HostEntry, InventorySsh, Local, Origin};
use super::resolve::{glob, Strict};
use super::{Source, SshConfig, SshConfigError};
use crate::config::HostKeyPolicy;

fn config(text: &str) -> SshConfig {
    SshConfig::from_text(Path::new("cfg"), text, Path::new("/home/u")).unwrap()
}

fn resolve_err(text: &str, name: &str) -> String {
    match SshConfig::from_text(Path::new("cfg"), text, Path::new("/home/u")) {
        Err(e) => e.to_string(),
        Ok(c) => c.resolve(name).unwrap_err().to_string(),
    }
}

pub(super) const TRICKY: &str = "\
# web hosts, but not the bad one
Host web-* !web-bad
  HostName 127.0.0.%h
  User=app
  IdentityFile ~/.ssh/id_%h_%r
Host = db1 db2
  Port 2222
  User dba
Match host 127.0.0.*
  IdentitiesOnly yes
  ProxyJump ops@bastion:2200,b2
Match originalhost DB2
  ConnectTimeout 1m30
Host *
  User nobody
  IdentityFile \"/keys/with space\"
  UserKnownHostsFile ~/kh1 /x/kh2
  ServerAliveInterval 20
  ServerAliveCountMax 4
  StrictHostKeyChecking accept-new
  SendEnv LANG LC_*
";

#[test]
fn first_value_wins_and_identity_files_add_up() {
    let r = config(TRICKY).resolve("web-1").unwrap();
    assert_eq!(r.hostname_for("web-1").unwrap(), "127.0.0.web-1");
    assert_eq!(r.user.as_ref().unwrap().value, "app");
    assert_eq!(r.user.as_ref().unwrap().at.line, 4);
    let files: Vec<&str> = r.identity_files.iter().map(|f| f.value.as_str()).collect();
    assert_eq!(files, ["~/.ssh/id_%h_%r", "/keys/with space"]);
    assert!(r.identities_only.as_ref().unwrap().value);
    let hops = &r.proxy_jump.as_ref().unwrap().value;
    assert_eq!(
        (hops[0].user.as_deref(), hops[0].host.as_str(), hops[0].port),
        (Some("ops"), "bastion", Some(2200))
    );
    assert_eq!((hops[1].host.as_str(), hops[1].port), ("b2", None));
    assert_eq!(r.keepalive.as_ref().unwrap().value, Duration::from_secs(20));
    assert_eq!(r.keepalive_count.as_ref().unwrap().value, 4);
    assert_eq!(r.strict.as_ref().unwrap().value, Strict::AcceptNew);
    let ignored: Vec<&str> = r.ignored.iter().map(|s| s.value.as_str()).collect();
    assert_eq!(ignored, ["SendEnv"]);
}

#[test]
fn negation_match_host_and_originalhost() {
    let c = config(TRICKY);
    let bad = c.resolve("web-bad").unwrap();
    assert_eq!(bad.hostname, None);
    assert_eq!(bad.user.unwrap().value, "nobody");
    assert_eq!(bad.identities_only, None, "Match host sees no HostName");
    let db2 = c.resolve("db2").unwrap();
    assert_eq!(db2.port.unwrap().value, 2222);
    // `Match originalhost` compares lowercased, `Host` patterns do not.
    assert_eq!(db2.connect_timeout.unwrap().value, Duration::from_secs(90));
    assert_eq!(c.resolve("DB2").unwrap().port, None);
}

#[test]
fn lexing_follows_openssh() {
    use super::parse::split_args;
    let table: &[(&str, Result<Vec<&str>, ()>)] = &[
        ("a b", Ok(vec!["a", "b"])),
        ("\"a b\" c", Ok(vec!["a b", "c"])),
        ("'a \"b' c", Ok(vec!["a \"b", "c"])),
        ("a\\ b", Ok(vec!["a b"])),
        ("a\\q", Ok(vec!["a\\q"])),
        ("a #comment", Ok(vec!["a"])),
        ("a#b", Ok(vec!["a#b"])),
        ("x\"y z\"", Ok(vec!["xy z"])),
        ("\"open", Err(())),
    ];
    for (text, want) in table {
        let got = split_args(text).map_err(|_| ());
        let want = want
            .clone()
            .map(|v| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>());
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn errors_name_file_and_line() {
    let table = [
        ("Host a\n  Bogus 1\n", "x", "cfg:2: unknown keyword `Bogus`"),
        (
            "Host a\n  ProxyCommand nc %h %p\n",
            "a",
            "cfg:2: `ProxyCommand nc %h %p` applies to `a`",
        ),
        (
            "Match exec \"true\"\n  User x\n",
            "a",
            "cfg:1: `Match exec` is not supported",
        ),
        (
            "Match user x\n",
            "a",
            "cfg:1: `Match user` is not supported",
        ),
        ("Host a\n  Port 0\n", "b", "cfg:2: bad port `0`"),
        (
            "Host a\n  User x y\n",
            "a",
            "cfg:2: `user` takes one value, not 2",
        ),
        (
            "Host a\n  User\n",
            "a",
            "cfg:2: no argument after keyword `user`",
        ),
        ("Host a\n  User \"x\n", "a", "cfg:2: unterminated \" quote"),
        (
            "Host a\n  HostName %l.x\n",
            "a",
            "cfg:2: HostName: `%l` is not supported",
        ),
        ("Host a\n  ConnectTimeout 5x\n", "a", "cfg:2: bad time `5x`"),
        (
            "Host a\n  ServerAliveInterval 0\n",
            "a",
            "cfg:2: `ServerAliveInterval 0`",
        ),
        (
            "Host a\n  ProxyJump u@:22\n",
            "a",
            "cfg:2: ProxyJump hop `u@:22`",
        ),
        (
            "Match all host a\n",
            "a",
            "cfg:1: `Match all` cannot be combined",
        ),
        (
            "Host *\n  StrictHostKeyChecking maybe\n",
            "a",
            "cfg:2: `StrictHostKeyChecking maybe`",
        ),
        (
            "Host a\n  UserKnownHostsFile none\n",
            "b",
            "cfg:2: `UserKnownHostsFile none`",
        ),
    ];
    for (text, name, want) in table {
        let got = resolve_err(text, name);
        assert!(got.starts_with(want), "{text:?}: {got}");
    }
}

#[test]
fn refused_keywords_only_stop_the_hosts_they_apply_to() {
    let c = config(
        "Host github.com\n  ProxyCommand nc %h %p\nHost *\n  AddressFamily any\n  Tunnel no\n",
    );
    assert!(c.resolve("web1").is_ok());
    assert!(c.resolve("github.com").is_err());
    let c = config("Host *\n  AddressFamily inet6\n");
    assert!(c.resolve("web1").is_err());
}

#[test]
fn ignore_unknown_lets_other_ssh_keywords_pass() {
    let c = config("IgnoreUnknown UseKeychain,AddKeysToAgent\nHost *\n  UseKeychain yes\n");
    assert!(c.resolve("a").is_ok());
    assert!(resolve_err(
        "Host *\n  UseKeychain yes\nIgnoreUnknown UseKeychain\n",
        "a"
    )
    .contains("unknown keyword `UseKeychain`"));
}

#[test]
fn globs_are_openssh_globs() {
    let table = [
        ("web1", "web*", true),
        ("web1", "w?b1", true),
        ("web1", "*1", true),
        ("web1", "*2", false),
        ("", "*", true),
        ("a", "", false),
        ("abcabc", "*a*c", true),
        ("web1.example.com", "*.example.com", true),
        (
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
            "*a*a*a*a*a*a*a*a*a*a*a*c",
            false,
        ),
    ];
    for (text, pattern, want) in table {
        assert_eq!(glob(text, pattern), want, "{text} ~ {pattern}");
    }
}

#[test]
fn include_globs_are_relative_to_dot_ssh_and_keep_their_block() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".ssh/conf.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("b.conf"), "Host b\n  User from-b\n").unwrap();
    std::fs::write(dir.join("a.conf"), "User from-a\nHost zz\n").unwrap();
    std::fs::write(dir.join("c.txt"), "Bogus\n").unwrap();
    let text = "Host x b\n  Include conf.d/*.conf\n  Port 7\nHost *\n  User last\n";
    let c = SshConfig::from_text(Path::new("cfg"), text, home.path()).unwrap();
    let x = c.resolve("x").unwrap();
    // a.conf's top lines apply inside the including block; its `Host zz`
    // does not leak out: `Port 7` still applies to x.
    assert_eq!(x.user.unwrap().value, "from-a");
    assert_eq!(x.port.unwrap().value, 7);
    let other = c.resolve("other").unwrap();
    assert_eq!(other.user.unwrap().value, "last");
    assert_eq!(other.port, None);
    let place = c.resolve("b").unwrap().user.unwrap().at;
    assert_eq!(place.file.as_path(), dir.join("a.conf"));
}

#[test]
fn include_loops_are_errors_not_hangs() {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("loop"), "Include loop loop\n").unwrap();
    let err = SshConfig::from_text(Path::new("cfg"), "Include loop\n", home.path()).unwrap_err();
    assert!(
        matches!(err, SshConfigError::At { .. } | SshConfigError::Read { .. }),
        "{err}"
    );
}

fn local(config: &SshConfig) -> Local<'_> {
    Local {
        config,
        home: Path::new("/home/u"),
        login: "me",
        default_user: "me",
    }
}

fn inv() -> InventorySsh {
    InventorySsh {
        path: PathBuf::from("inventories/prod.yml"),
        ..InventorySsh::default()
    }
}

fn entry(name: &str) -> HostEntry<'_> {
    HostEntry {
        name,
        address: None,
        port: None,
        user: None,
    }
}

#[test]
fn precedence_host_entry_then_inventory_then_ssh_config_then_default() {
    let c = config(
        "Host web1\n  User cfg\n  Port 2200\n  IdentityFile ~/.ssh/%r@%h:%p\n  ConnectTimeout 3\n",
    );
    let e = apply::apply(&local(&c), &inv(), &entry("web1")).unwrap();
    assert_eq!((e.user.as_str(), e.port), ("cfg", 2200));
    assert_eq!(e.origin.user.to_string(), "cfg:2");
    assert_eq!(
        e.ssh.identity_files,
        [PathBuf::from("/home/u/.ssh/cfg@web1:2200")]
    );
    assert_eq!(e.ssh.connect_timeout, Some(Duration::from_secs(3)));
    assert_eq!(e.origin.keepalive, Origin::Default);

    let with_inv = InventorySsh {
        user: Some("inv".into()),
        identity_files: true,
        connect_timeout: true,
        ..inv()
    };
    let e = apply::apply(&local(&c), &with_inv, &entry("web1")).unwrap();
    assert_eq!(e.user, "inv");
    assert_eq!(e.origin.user.to_string(), "inventories/prod.yml ssh:");
    assert!(e.ssh.identity_files.is_empty(), "the inventory's keys win");
    assert_eq!(e.ssh.connect_timeout, None);

    let own = HostEntry {
        user: Some("own"),
        port: Some(22),
        ..entry("web1")
    };
    let e = apply::apply(&local(&c), &with_inv, &own).unwrap();
    assert_eq!((e.user.as_str(), e.port), ("own", 22));
    assert_eq!(e.origin.port.to_string(), "inventory host entry");
}

#[test]
fn the_address_is_looked_up_when_given_and_hostname_replaces_it() {
    let c = config("Host alias\n  HostName 127.0.0.9\n");
    let with_address = HostEntry {
        address: Some("alias"),
        ..entry("web1")
    };
    let e = apply::apply(&local(&c), &inv(), &with_address).unwrap();
    assert_eq!(e.address, "127.0.0.9");
    assert_eq!(e.origin.lookup, "alias");
    let e = apply::apply(&local(&c), &inv(), &entry("web1")).unwrap();
    assert_eq!(
        (e.address.as_str(), &e.origin.address),
        ("web1", &Origin::HostEntry)
    );
}

#[test]
fn strict_host_key_checking_no_is_refused_unless_allowed() {
    let c = config("Host *\n  StrictHostKeyChecking no\n");
    let err = apply::apply(&local(&c), &inv(), &entry("a")).unwrap_err();
    assert!(
        err.to_string()
            .contains("allow_strict_host_key_checking_no"),
        "{err}"
    );
    let allowed = InventorySsh {
        allow_no_check: true,
        ..inv()
    };
    let e = apply::apply(&local(&c), &allowed, &entry("a")).unwrap();
    assert_eq!(e.ssh.host_key_policy, Some(HostKeyPolicy::AcceptNew));
    let pinned = InventorySsh {
        host_key_policy: true,
        ..inv()
    };
    let e = apply::apply(&local(&c), &pinned, &entry("a")).unwrap();
    assert_eq!(e.ssh.host_key_policy, None, "the inventory's policy wins");
}

#[test]
fn proxy_jump_hops_are_resolved_and_chained() {
    let c = config(
        "Host web*\n  ProxyJump inner\nHost inner\n  HostName 127.1.0.1\n  User jump\n  ProxyJump outer:2222\n\
         Host outer\n  HostName 127.0.0.1\n  IdentityFile /k/outer\nHost direct\n  ProxyJump none\n",
    );
    let e = apply::apply(&local(&c), &inv(), &entry("web1")).unwrap();
    let hops: Vec<(&str, &str, u16, &str)> = e
        .ssh
        .jumps
        .iter()
        .map(|j| (j.name.as_str(), j.address.as_str(), j.port, j.user.as_str()))
        .collect();
    assert_eq!(
        hops,
        [
            ("outer:2222", "127.0.0.1", 2222, "me"),
            ("inner", "127.1.0.1", 22, "jump")
        ]
    );
    assert_eq!(
        e.ssh.jumps[0].ssh.identity_files,
        [PathBuf::from("/k/outer")]
    );
    let e = apply::apply(&local(&c), &inv(), &entry("direct")).unwrap();
    assert!(e.ssh.jumps.is_empty());
    let looped = config("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n");
    let err = apply::apply(&local(&looped), &inv(), &entry("a")).unwrap_err();
    assert!(err.to_string().contains("ProxyJump loop"), "{err}");
}

#[test]
fn a_missing_default_file_is_fine_a_named_one_is_not() {
    let home = tempfile::tempdir().unwrap();
    let none = Path::new("/nonexistent/ssh_config");
    assert!(SshConfig::load_with_system(&Source::Default, home.path(), none).is_ok());
    let named = Source::Files(vec![home.path().join("nope")]);
    let err = SshConfig::load_with_system(&named, home.path(), none).unwrap_err();
    assert!(matches!(err, SshConfigError::Missing(_)), "{err}");
    let off =
        SshConfig::load_with_system(&Source::Off, home.path(), Path::new("/etc/ssh/ssh_config"));
    assert!(off.unwrap().read.is_empty());
}

#[test]
fn an_inventory_proxy_jump_is_resolved_through_ssh_config() {
    let c = config("Host bastion\n  HostName 127.0.0.1\n  User ops\n  Port 2200\n");
    let hops = apply::jumps(
        &local(&c),
        &inv(),
        "web1",
        "bastion,me@inner:22",
        Path::new("inv.yml"),
    )
    .unwrap();
    let got: Vec<(&str, &str, u16, &str)> = hops
        .iter()
        .map(|j| (j.name.as_str(), j.address.as_str(), j.port, j.user.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("bastion", "127.0.0.1", 2200, "ops"),
            ("me@inner:22", "inner", 22, "me")
        ]
    );
    let err = apply::jumps(
        &local(&c),
        &inv(),
        "web1",
        "bastion,,x",
        Path::new("inv.yml"),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("inv.yml: ProxyJump hop"),
        "{err}"
    );
}
