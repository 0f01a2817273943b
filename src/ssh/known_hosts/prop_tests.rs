//! Hostile `known_hosts` files: any text parses to some entries (bad lines
//! are skipped, as OpenSSH does), and checking any host, port and key against
//! them answers, never panics or hangs; any bytes on disk load or are an I/O
//! error (issue 12, item 6). `fuzz/run.sh` runs these for longer.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use proptest::prelude::*;

use super::{lookup_name, parse, HostKey, Index, KnownHosts};
use crate::prop_support::{config, corpus, corpus_text, guarded, mutated};

/// Parse `text` and check `host`/`port`/`key` against it, and against each
/// line's own first field as a host name (so patterns and hashes are hit).
fn check(text: String, host: String, port: u16, key: String) {
    guarded(move || {
        let entries = parse(Path::new("kh"), &text);
        let kh = KnownHosts {
            files: vec![PathBuf::from("kh")],
            entries: Mutex::new(Index::new(entries.clone())),
        };
        // The index finds exactly the lines a scan of every line finds.
        let agrees = |host: &str, port: u16| {
            let name = lookup_name(host, port);
            let scan: Vec<usize> = entries
                .iter()
                .filter(|e| e.names.matches(&name))
                .map(|e| e.line)
                .collect();
            let index = kh.entries.lock().unwrap();
            let found: Vec<usize> = index.applicable(&name).iter().map(|e| e.line).collect();
            assert_eq!(found, scan, "{name:?} in {text:?}");
        };
        agrees(&host, port);
        let key = HostKey::from_openssh(&key).unwrap_or(HostKey {
            algorithm: "ssh-ed25519".into(),
            blob: key,
        });
        let _ = kh.check(&host, port, &key);
        for name in text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .take(16)
        {
            let _ = kh.check(name, port, &key);
            let _ = kh.check(name.trim_start_matches('!'), 22, &key);
            agrees(name, port);
            agrees(name.trim_start_matches('!'), 22);
        }
    });
}

/// Lines that look like `known_hosts` lines: markers, patterns, hashes.
fn known_hostsish() -> impl Strategy<Value = String> {
    let names = prop_oneof![
        "[a-z0-9.*?!,\\[\\]:-]{0,40}",
        "\\|1\\|[A-Za-z0-9+/=|]{0,40}",
        Just("|1|MDEyMzQ1Njc4OWFiY2RlZmdoaWo=|nVv3IRjUuIRbXCyy6pFcNfR5Klk=".to_string()),
        "(\\*[a-z?]){1,200}",
        any::<String>(),
    ];
    let line = (
        prop_oneof![
            Just(""),
            Just("@revoked "),
            Just("@cert-authority "),
            Just("# ")
        ],
        names,
        prop_oneof![Just(" ssh-ed25519 "), Just("\t"), Just(" "), Just("")],
        "[A-Za-z0-9+/=]{0,60}",
        prop_oneof![Just(""), Just(" comment"), Just(" \0 \u{feff}")],
    )
        .prop_map(|(m, n, a, b, c)| format!("{m}{n}{a}{b}{c}"));
    proptest::collection::vec(line, 0..24).prop_map(|lines| lines.join("\n"))
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9.-]{0,30}", "[a-z*?!\\[\\]:]{0,30}", any::<String>()]
}

#[test]
fn prop_corpus_known_hosts() {
    for (_, bytes) in corpus("known_hosts") {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, &bytes).unwrap();
        guarded(move || {
            // Non-UTF-8 is an I/O error here, not a panic.
            if let Ok(kh) = KnownHosts::load(&[file]) {
                let _ = kh.check(
                    "web1",
                    22,
                    &HostKey::from_openssh("ssh-ed25519 AAAA").unwrap(),
                );
            }
        });
        let text = String::from_utf8_lossy(&bytes).into_owned();
        check(text, "web1".into(), 2222, "ssh-ed25519 AAAA".into());
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn prop_known_hosts_any_text(text in any::<String>(), host in host(), port in any::<u16>(), key in any::<String>()) {
        check(text, host, port, key);
    }

    #[test]
    fn prop_known_hosts_linewise(text in known_hostsish(), host in host(), port in any::<u16>()) {
        check(text, host, port, "ssh-ed25519 AAAA".into());
    }

    #[test]
    fn prop_known_hosts_mutated_corpus(
        text in mutated(corpus_text("known_hosts"), known_hostsish()),
        host in host(),
        port in any::<u16>(),
    ) {
        check(text, host, port, "ssh-ed25519 AAAA".into());
    }
}
