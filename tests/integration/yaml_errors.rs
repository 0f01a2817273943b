//! YAML mistakes from the first-hour report, through the real binary: each
//! names `file:line:col`, shows the line with a caret, and says what to write.
//! Nothing connects (exit 2 before any SSH).

use crate::support::project::Project;

const SITE: &str = "tasks:\n  - { name: a, run: 'true' }\n";

/// `ferry check ENV` of an inventory made of `text`: exactly `want` on stderr.
fn inventory_says(text: &str, want: &str) {
    let project = Project::empty();
    project.write("inventories/prod.yml", text);
    project.write("playbooks/site.yml", SITE);
    project.ferry(["check", "prod"]).code(2).stderr(want).run();
}

#[test]
fn an_empty_inventory_says_what_it_needs() {
    inventory_says(
        "",
        "error: inventories/prod.yml:1:1: the file is empty: an inventory needs at least `hosts:` with one host under it, a playbook `tasks:` or a deploy stage such as `health:`\n",
    );
}

#[test]
fn hosts_with_nothing_under_it_and_a_host_with_no_value() {
    inventory_says(
        "hosts:\n",
        "error: inventories/prod.yml:1:6: `hosts:` has no value, but a mapping is expected: write its `key: value` lines below it, indented (or `hosts: {}` for an empty one)
  |
1 | hosts:
  |      ^
",
    );
    inventory_says(
        "hosts:\n  web1: {}\n  web2:\n",
        "error: inventories/prod.yml:3:7: `web2:` has no value, but a mapping is expected: write its `key: value` lines below it, indented (or `web2: {}` for an empty one)
  |
3 |   web2:
  |       ^
",
    );
    inventory_says(
        "hosts: web1\n",
        "error: inventories/prod.yml:1:8: `hosts` needs a mapping (write its `key: value` lines below the key, indented), found `web1`
  |
1 | hosts: web1
  |        ^
",
    );
}

#[test]
fn ports_out_of_range_by_name_or_zero_name_their_line() {
    inventory_says(
        "hosts:\n  web1: { port: ssh }\n",
        "error: inventories/prod.yml:2:17: port `ssh` is not a number: write the port number (e.g. `22` for ssh)
  |
2 |   web1: { port: ssh }
  |                 ^
",
    );
    inventory_says(
        "hosts:\n  web1:\n    address: 127.0.0.1\n    port: 0\n",
        "error: inventories/prod.yml:4:11: port `0` is out of range: write a port number from 1 to 65535 (SSH listens on 22 unless told otherwise)
  |
4 |     port: 0
  |           ^
",
    );
}

#[test]
fn two_documents_point_at_the_second_marker() {
    inventory_says(
        "hosts:\n  web1: {}\n---\nhosts:\n  web2: {}\n",
        "error: inventories/prod.yml:3:1: a second YAML document starts here: ferry reads one document per file; remove this `---` line (or move what follows it to a file of its own)
  |
3 | ---
  | ^
",
    );
}

#[test]
fn a_key_not_indented_under_vars_says_to_indent_it() {
    inventory_says(
        "hosts:\n  web1:\n    address: 127.0.0.1\n    vars:\n    deploy_to: /srv/app\n",
        "error: inventories/prod.yml:4:9: `vars:` has no value, but a mapping is expected: write its `key: value` lines below it, indented (or `vars: {}` for an empty one); `deploy_to:` on line 5 is at the same indentation as `vars:`; to put it under `vars:`, indent it by two more spaces
  |
4 |     vars:
  |         ^
",
    );
}

#[test]
fn a_tab_in_a_playbook_is_reported_on_its_own_line() {
    let project = Project::empty();
    project.write("inventories/prod.yml", "hosts:\n  web1: {}\n");
    // Line 13 starts with a tab (the report's case); the scanner names line 12.
    let text = "tasks:\n".to_string()
        + &"  - name: t\n    run: 'true'\n".repeat(5)
        + "  - name: last\n\t  run: 'true'\n";
    project.write("playbooks/tab.yml", &text);
    project
        .ferry(["check", "prod", "tab"])
        .code(2)
        .stderr(
            "error: playbooks/tab.yml:13:1: a tab in the indentation: YAML indents with spaces only; replace the tab with spaces
   |
13 | \t  run: 'true'
   | ^
",
        )
        .run();
}
