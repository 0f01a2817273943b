//! Every YAML error the tests can provoke, through the real library and the
//! real inventory/playbook types: the place and ferry's words, one row each.

use std::path::Path;

use crate::config::{Inventory, Playbook};

/// The first line of the error for an inventory (`inv.yml`) or a playbook
/// (`pb.yml`) made of `text`.
fn first_line(playbook: bool, text: &str) -> String {
    let err = if playbook {
        Playbook::load_from_str(Path::new("pb.yml"), text).err()
    } else {
        Inventory::load_from_str(Path::new("inv.yml"), text).err()
    };
    err.map_or_else(
        || "(no error)".into(),
        |e| e.to_string().lines().next().unwrap_or("").to_string(),
    )
}

#[test]
fn each_library_error_in_ferry_words() {
    let inv = false;
    let pb = true;
    let table: &[(&str, bool, &str, &str)] = &[
        ("empty file", inv, "",
         "inv.yml:1:1: the file is empty: an inventory needs at least `hosts:` with one host under it, a playbook `tasks:` or a deploy stage such as `health:`"),
        ("only comments", inv, "# nothing yet\n",
         "inv.yml:1:1: the file is empty: an inventory needs at least `hosts:` with one host under it, a playbook `tasks:` or a deploy stage such as `health:`"),
        ("an unclosed brace", inv, "hosts:\n  web1: { port: 22\n",
         "inv.yml:2:9: this `{` is never closed: end the value with `}` (on the same line, or on a later line indented deeper than its key)"),
        ("an unclosed quote", pb, "tasks:\n  - { name: a, run: 'true }\n",
         "pb.yml:2:21: this quote is never closed: end the value with the same quote"),
        ("a string for a mapping", inv, "hosts: hello\n",
         "inv.yml:1:8: `hosts` needs a mapping (write its `key: value` lines below the key, indented), found `hello`"),
        ("a scalar document", inv, "hello\n",
         "inv.yml:1:1: the file must be a mapping of `key: value` lines, found `hello`"),
        ("a list document", pb, "- name: a\n  run: 'true'\n",
         "pb.yml:1:1: the file must be a mapping of `key: value` lines, found a list"),
        ("hosts: with nothing under it", inv, "hosts:\n",
         "inv.yml:1:6: `hosts:` has no value, but a mapping is expected: write its `key: value` lines below it, indented (or `hosts: {}` for an empty one)"),
        ("a host with no value", inv, "hosts:\n  web1: {}\n  web2:\n",
         "inv.yml:3:7: `web2:` has no value, but a mapping is expected: write its `key: value` lines below it, indented (or `web2: {}` for an empty one)"),
        ("a string for a list", pb, "tasks: restart\n",
         "pb.yml:1:8: `tasks` needs a list (write its `- item` lines below the key, indented), found `restart`"),
        ("a list for a string", inv, "hosts:\n  web1: { address: [1, 2] }\n",
         "inv.yml:2:20: `address` needs a single value (quote the whole value to make it one string), found a list"),
        ("port out of range", inv, "hosts:\n  web1: { port: 70000 }\n",
         "inv.yml:2:17: port `70000` is out of range: write a port number from 1 to 65535 (SSH listens on 22 unless told otherwise)"),
        ("port by name", inv, "hosts:\n  web1: { port: ssh }\n",
         "inv.yml:2:17: port `ssh` is not a number: write the port number (e.g. `22` for ssh)"),
        ("port 0, with its line", inv, "ssh:\n  port: 0\nhosts:\n  web1: {}\n",
         "inv.yml:2:9: port `0` is out of range: write a port number from 1 to 65535 (SSH listens on 22 unless told otherwise)"),
        ("a word for a count", inv, "rollout:\n  canary: one\nhosts:\n  web1: {}\n",
         "inv.yml:2:11: `canary` must be a whole number from 0 to 4294967295, found `one`"),
        ("a word for a flag", pb, "tasks:\n  - { name: a, run: 'true', sudo: maybe }\n",
         "pb.yml:2:35: `sudo` must be true or false, found `maybe`"),
        ("duplicate host", inv, "hosts:\n  web1: {}\n  web2: {}\n  web1: {}\n",
         "inv.yml:4:3: `web1` is written twice in the same mapping (first at line 2): keep one (merge their settings), or rename this one"),
        ("two documents", inv, "hosts:\n  web1: {}\n---\nhosts:\n  web2: {}\n",
         "inv.yml:3:1: a second YAML document starts here: ferry reads one document per file; remove this `---` line (or move what follows it to a file of its own)"),
        ("deploy_to not indented under vars", inv, "hosts:\n  web1:\n    vars:\n    deploy_to: /srv\n",
         "inv.yml:3:9: `vars:` has no value, but a mapping is expected: write its `key: value` lines below it, indented (or `vars: {}` for an empty one); `deploy_to:` on line 4 is at the same indentation as `vars:`; to put it under `vars:`, indent it by two more spaces"),
        ("indentation that fits nothing", inv, "hosts:\n  web1: {}\nvars:\n  a: 1\n deploy_to: /srv\n",
         "inv.yml:5:2: bad indentation: this line is indented by 1 space, line 4 by 2 spaces; keys of one mapping line up (same number of spaces), a nested one goes deeper than its parent"),
        ("a tab starting line 4 of a playbook", pb, "tasks:\n  - name: a\n    run: echo\n\t  - name: b\n",
         "pb.yml:4:1: a tab in the indentation: YAML indents with spaces only; replace the tab with spaces"),
        ("a tab starting a line of an inventory", inv, "hosts:\n  web1: {}\n\tweb2: {}\n",
         "inv.yml:3:1: a tab in the indentation: YAML indents with spaces only; replace the tab with spaces"),
        ("a second colon", pb, "tasks:\n  - name: a\n    run: echo a: b\n",
         "pb.yml:3:16: a second `: ` on one line: quote a value that contains `: ` (e.g. `run: \"echo a: b\"`), or put a nested key on its own line, indented"),
        ("a list for a mapping, on the next line", inv, "hosts:\n  - web1\n",
         "inv.yml:2:3: `hosts` needs a mapping (write its `key: value` lines below the key, indented), found a list"),
        ("a list for a duration", inv, "hosts:\n  web1: {}\nmin_soak: [1]\n",
         "inv.yml:3:1: `min_soak` expects a duration such as 30s, 5m or 1h, found a list"),
        ("an alias to no anchor", inv, "hosts:\n  web1: &a {}\n  web2: *b\n",
         "inv.yml:3:9: this alias (`*name`) refers to no anchor: define `&name` on a value above it, or write the value here"),
        ("an unknown key keeps its suggestion", inv, "hosts:\n  web1: { adress: x }\n",
         "unknown key `adress` in inv.yml:2:11, did you mean `address`?"),
    ];
    let mut wrong = Vec::new();
    for (case, playbook, text, want) in table {
        let got = first_line(*playbook, text);
        if got != *want {
            wrong.push(format!("{case}:\n  got:  {got}\n  want: {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_moved_place_gets_its_own_snippet() {
    let err = Playbook::load_from_str(
        Path::new("pb.yml"),
        "tasks:\n  - name: a\n    run: echo\n\t  - name: b\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "pb.yml:4:1: a tab in the indentation: YAML indents with spaces only; replace the tab with spaces\n  |\n4 | \t  - name: b\n  | ^"
    );
}
