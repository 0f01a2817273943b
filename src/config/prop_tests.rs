//! Hostile input for the inventory and playbook loaders: any text, and any
//! bytes read from a file, is an `Ok` or a `ConfigError`, never a panic or a
//! hang (issue 12, item 6). `fuzz/run.sh` runs these for longer.

use std::path::Path;

use proptest::prelude::*;

use super::{Inventory, Playbook};
use crate::prop_support::{config, corpus, corpus_text, guarded, mutated, yamlish};

fn inventory(text: String) {
    guarded(move || {
        let _ = Inventory::load_from_str(Path::new("inventories/fuzz.yml"), &text);
    });
}

fn playbook(text: String) {
    guarded(move || {
        let _ = Playbook::load_from_str(Path::new("playbooks/fuzz.yml"), &text);
    });
}

/// Bytes as a file on disk, through the loaders' own reading (non-UTF-8 is
/// only possible there).
fn from_file(bytes: Vec<u8>) {
    guarded(move || {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fuzz.yml");
        std::fs::write(&path, &bytes).expect("write input");
        let _ = Inventory::load(&path);
        let _ = Playbook::load(&path);
    });
}

#[test]
fn prop_corpus_inventory() {
    for (path, bytes) in corpus("inventory") {
        from_file(bytes.clone());
        inventory(String::from_utf8_lossy(&bytes).into_owned());
        // The real files in the corpus must stay valid, or they test nothing.
        if path.file_name().is_some_and(|n| n == "staging.yml") {
            let text = String::from_utf8(bytes).unwrap();
            Inventory::load_from_str(&path, &text).unwrap();
        }
    }
}

#[test]
fn prop_corpus_playbook() {
    for (path, bytes) in corpus("playbook") {
        from_file(bytes.clone());
        playbook(String::from_utf8_lossy(&bytes).into_owned());
        if path.file_name().is_some_and(|n| n == "deploy.yml") {
            let text = String::from_utf8(bytes).unwrap();
            Playbook::load_from_str(&path, &text).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn prop_inventory_any_text(text in any::<String>()) {
        inventory(text);
    }

    #[test]
    fn prop_inventory_yamlish(text in yamlish()) {
        inventory(text);
    }

    #[test]
    fn prop_inventory_mutated_corpus(text in mutated(corpus_text("inventory"), yamlish())) {
        inventory(text);
    }

    #[test]
    fn prop_playbook_any_text(text in any::<String>()) {
        playbook(text);
    }

    #[test]
    fn prop_playbook_yamlish(text in yamlish()) {
        playbook(text);
    }

    #[test]
    fn prop_playbook_mutated_corpus(text in mutated(corpus_text("playbook"), yamlish())) {
        playbook(text);
    }
}

proptest! {
    // Each case writes a file: fewer of them in the short pass.
    #![proptest_config(config(32))]

    #[test]
    fn prop_config_file_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        from_file(bytes);
    }
}
