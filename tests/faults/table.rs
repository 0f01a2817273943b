//! `docs/reliability.md` and the suite in step (no fleet): every scenario
//! (`#[test] fn` in tests/faults/*.rs) has a row in the table, and every
//! row names scenarios that exist. The checker's own tests and this one
//! are not scenarios: `invariant.rs` and `table.rs` are left out.

use std::collections::BTreeSet;
use std::path::Path;

/// Files whose tests are not fault scenarios.
const NOT_SCENARIOS: [&str; 2] = ["invariant.rs", "table.rs"];

/// The names in backticks in the last column of every row of the table.
fn rows(doc: &str) -> Vec<(String, Vec<String>)> {
    doc.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| fault "))
        .map(|l| {
            let cells: Vec<&str> = l.trim_end().trim_end_matches('|').split('|').collect();
            let last = cells.last().copied().unwrap_or_default();
            let names = last
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            (
                cells.get(1).copied().unwrap_or_default().trim().to_string(),
                names,
            )
        })
        .collect()
}

/// `#[test] fn NAME` in every scenario file of tests/faults.
fn scenarios(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("tests/faults") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.extension().is_none_or(|e| e != "rs") || NOT_SCENARIOS.contains(&name.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let mut lines = text.lines().map(str::trim);
        while let Some(line) = lines.next() {
            if line != "#[test]" {
                continue;
            }
            // Attributes may follow (`#[ignore = ...]`); then the fn.
            for next in lines.by_ref() {
                if let Some(rest) = next.strip_prefix("fn ") {
                    let fn_name = rest.split('(').next().unwrap_or_default();
                    out.insert(fn_name.to_string());
                    break;
                }
            }
        }
    }
    out
}

#[test]
fn every_scenario_has_a_row_and_every_row_a_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc =
        std::fs::read_to_string(root.join("docs/reliability.md")).expect("docs/reliability.md");
    let rows = rows(&doc);
    let tests = scenarios(&root.join("tests/faults"));
    assert!(tests.len() >= 10, "too few scenarios found: {tests:?}");
    let mut problems = Vec::new();
    let mut named = BTreeSet::new();
    for (fault, names) in &rows {
        if names.is_empty() {
            problems.push(format!("the row {fault:?} names no scenario"));
        }
        for name in names {
            if !tests.contains(name) {
                problems.push(format!(
                    "the row {fault:?} names `{name}`, which is no scenario"
                ));
            }
            named.insert(name.clone());
        }
    }
    for test in tests.difference(&named) {
        problems.push(format!(
            "the scenario `{test}` has no row in docs/reliability.md"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checks above can fail: a made-up table and a made-up file.
#[test]
fn the_table_check_sees_missing_and_unknown_names() {
    let doc = "| fault | a | b | c | scenario |\n|---|---|---|---|---|\n| x | y | z | 1 | `one`, `two` |\n| w | y | z | 1 | |\n";
    let rows = rows(doc);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].1, ["one", "two"]);
    assert!(rows[1].1.is_empty());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.rs"),
        "#[test]\n#[ignore = \"bug\"]\nfn one() {}\n\n#[test]\nfn three() {}\nfn helper() {}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("table.rs"),
        "#[test]\nfn not_a_scenario() {}\n",
    )
    .unwrap();
    let found = scenarios(dir.path());
    assert_eq!(
        found,
        ["one", "three"].iter().map(ToString::to_string).collect()
    );
}
