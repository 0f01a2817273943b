//! Hostile `ssh_config` text: any text reads to items or is an error with a
//! place, and resolving and applying any name answers, never panics or
//! hangs (issue 13; the style of issue 12, item 6). `fuzz/run.sh
//! ssh_config` runs these for longer.

use std::path::Path;

use proptest::prelude::*;

use super::apply::{self, HostEntry, InventorySsh, Local};
use super::SshConfig;
use crate::prop_support::{config, corpus, corpus_text, guarded, mutated};

/// Read `text` as a config file (with a throwaway home holding a few files
/// for `Include` to find), then resolve and apply `name` and every word of
/// the text that could be a host name (so patterns and jumps are hit).
fn check(text: String, name: String) {
    guarded(move || {
        let home = tempfile::tempdir().expect("temp home");
        let ssh = home.path().join(".ssh");
        std::fs::create_dir_all(ssh.join("conf.d")).expect("mkdir");
        std::fs::write(ssh.join("conf.d/a.conf"), "Host a*\n  User inc\n").expect("write");
        std::fs::write(ssh.join("self"), "Include self self\n").expect("write");
        let Ok(c) = SshConfig::from_text(Path::new("cfg"), &text, home.path()) else {
            return;
        };
        let local = Local {
            config: &c,
            home: home.path(),
            login: "me",
            default_user: "me",
        };
        let names = std::iter::once(name.as_str()).chain(
            text.split(|ch: char| ch.is_whitespace() || ch == ',' || ch == '=')
                .filter(|w| !w.is_empty())
                .take(24),
        );
        for n in names {
            let _ = c.resolve(n);
            let entry = HostEntry {
                name: n,
                address: None,
                port: None,
                user: None,
            };
            let _ = apply::apply(&local, &InventorySsh::default(), &entry);
        }
    });
}

/// Lines that look like `ssh_config`: real keywords, odd separators,
/// quotes, patterns, `%` tokens, jumps and includes.
fn ssh_configish() -> impl Strategy<Value = String> {
    let keyword = prop_oneof![
        Just("Host".to_string()),
        Just("Match".to_string()),
        Just("Include".to_string()),
        Just("HostName".to_string()),
        Just("User".to_string()),
        Just("Port".to_string()),
        Just("IdentityFile".to_string()),
        Just("IdentitiesOnly".to_string()),
        Just("ProxyJump".to_string()),
        Just("UserKnownHostsFile".to_string()),
        Just("StrictHostKeyChecking".to_string()),
        Just("ConnectTimeout".to_string()),
        Just("ServerAliveInterval".to_string()),
        Just("ServerAliveCountMax".to_string()),
        Just("IgnoreUnknown".to_string()),
        Just("ProxyCommand".to_string()),
        Just("ForwardAgent".to_string()),
        Just("AddressFamily".to_string()),
        Just("Bogus".to_string()),
        Just("#".to_string()),
        "[A-Za-z]{0,12}",
    ];
    let sep = prop_oneof![
        Just(" ".to_string()),
        Just("=".to_string()),
        Just(" = ".to_string()),
        Just("\t".to_string()),
        Just(String::new())
    ];
    let value = prop_oneof![
        "[a-z0-9.*?!,-]{0,20}",
        "(all|host|originalhost|exec|!host|canonical) [a-z*,!]{0,10}",
        "[a-z]{0,5}@[a-z.]{0,8}:[0-9]{0,6}(,[a-z]{1,4}){0,3}",
        "(~/|%h|%r|%p|%u|%%|%x|\"|'|\\\\|#| )+",
        "conf.d/\\*.conf|self|~/.ssh/self|nope/\\*",
        "[0-9]{0,12}[smhdwx]?",
        "(\\*[a-z?]){1,100}",
        any::<String>(),
    ];
    let line = (
        prop_oneof![Just(""), Just("  "), Just("\t")],
        keyword,
        sep,
        value,
    )
        .prop_map(|(indent, k, s, v)| format!("{indent}{k}{s}{v}"));
    proptest::collection::vec(line, 0..24).prop_map(|lines| lines.join("\n"))
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9.-]{0,20}", "[A-Za-z*?!%]{0,10}", any::<String>()]
}

#[test]
fn prop_corpus_ssh_config() {
    for (_, bytes) in corpus("ssh_config") {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        check(text, "web1".into());
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn prop_ssh_config_any_text(text in any::<String>(), name in name()) {
        check(text, name);
    }

    #[test]
    fn prop_ssh_config_linewise(text in ssh_configish(), name in name()) {
        check(text, name);
    }

    #[test]
    fn prop_ssh_config_mutated_corpus(
        text in mutated(corpus_text("ssh_config"), ssh_configish()),
        name in name(),
    ) {
        check(text, name);
    }
}
