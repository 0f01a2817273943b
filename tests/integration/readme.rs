//! The README's examples run, so they cannot drift: every line that starts
//! with `ferry ` in a fenced `sh` block of README.md runs, in README order,
//! in one project, through bash (quotes as a reader's shell reads them),
//! with the real binary first on PATH. The environments are real fleets:
//! `staging` 3 sshd hosts and `production` 2, hosts `web1`... in group
//! `web`; `--artifact NAME` is a release tarball made under that name.
//! `ferry init` writes the project; right after it the test does what the
//! README says next, "put your hosts in inventories/staging.yml".
//! A line's comment that starts with `not run:` skips it (e.g. a URL the
//! test cannot reach), `exit N:` makes N the exit code it must end with;
//! any other line must exit 0.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::support::fleet::Fleet;
use crate::support::host::currents;
use crate::support::project::Project;

/// One example: its README line number, the command, what must come of it.
#[derive(Debug, PartialEq)]
struct Example {
    line: usize,
    command: String,
    expect: Expect,
}

#[derive(Debug, PartialEq)]
enum Expect {
    Exit(i32),
    NotRun,
}

/// The `ferry` lines of the fenced `sh`/`bash`/`console` blocks.
fn examples(readme: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut shell = None;
    for (i, line) in readme.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            shell = match shell {
                Some(_) => None,
                None => Some(matches!(info.trim(), "sh" | "bash" | "console" | "shell")),
            };
            continue;
        }
        if shell != Some(true) || !trimmed.starts_with("ferry ") {
            continue;
        }
        let comment = trimmed.split_once(" # ").map_or("", |(_, c)| c.trim());
        let expect = if comment.starts_with("not run:") {
            Expect::NotRun
        } else if let Some(code) = comment
            .strip_prefix("exit ")
            .and_then(|rest| rest.split(':').next())
        {
            Expect::Exit(code.parse().expect("`exit N:` with a number"))
        } else {
            Expect::Exit(0)
        };
        out.push(Example {
            line: i + 1,
            command: trimmed.to_string(),
            expect,
        });
    }
    out
}

#[test]
fn examples_are_read_with_their_markers() {
    let readme = "text\n```sh\nferry run staging      # all\ncargo test\n  ferry x # not run: needs the internet\n```\n\
                  ```yaml\nferry in yaml\n```\n```sh\nferry lock p # exit 4: locked\n```\n";
    assert_eq!(
        examples(readme),
        [
            Example {
                line: 3,
                command: "ferry run staging      # all".into(),
                expect: Expect::Exit(0)
            },
            Example {
                line: 5,
                command: "ferry x # not run: needs the internet".into(),
                expect: Expect::NotRun
            },
            Example {
                line: 11,
                command: "ferry lock p # exit 4: locked".into(),
                expect: Expect::Exit(4)
            },
        ]
    );
}

/// "Your hosts": the fleet as `web1`..., all in group `web`.
fn inventory(fleet: &Fleet) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "ssh:\n  user: {}", fleet.user());
    let _ = writeln!(
        s,
        "  identity_files: [\"{}\"]",
        fleet.client_key().display()
    );
    let _ = writeln!(s, "  known_hosts: \"{}\"", fleet.known_hosts().display());
    s.push_str("  host_key_policy: strict\n  connect_timeout: 5s\n");
    s.push_str("rollout: { canary: 1, batch: 50% }\nvars: { app_name: app }\nhosts:\n");
    let mut names = Vec::new();
    for (i, h) in fleet.hosts().iter().enumerate() {
        let name = format!("web{}", i + 1);
        let _ = writeln!(
            s,
            "  {name}: {{ address: {}, port: {}, vars: {{ deploy_to: {:?} }} }}",
            h.address, h.port, h.deploy_to
        );
        names.push(name);
    }
    let _ = writeln!(
        s,
        "groups:\n  web: {{ hosts: [{}], vars: {{ http_port: 8080 }} }}",
        names.join(", ")
    );
    s
}

/// A tarball for every `--artifact NAME` the example names, if not made yet.
fn make_artifacts(project: &Project, command: &str) {
    let words: Vec<&str> = command.split_whitespace().collect();
    for pair in words.windows(2) {
        if pair[0] == "--artifact" && !project.path().join(pair[1]).exists() {
            let id = pair[1].trim_end_matches(".tar.gz");
            let made = project.release_tarball(id);
            assert_eq!(
                made,
                project.path().join(pair[1]),
                "artifact names end in .tar.gz"
            );
        }
    }
}

/// `bash -c LINE` in the project, the binary under test first on PATH, no
/// ssh-agent and no FERRY_* setting of the test process.
fn run_line(project: &Project, line: &str) -> std::process::Output {
    let ferry = Path::new(env!("CARGO_BIN_EXE_ferry"));
    let bin_dir = ferry.parent().expect("bin dir");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin_dir.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(line)
        .current_dir(project.path())
        .env("PATH", std::env::join_paths(paths).expect("PATH"))
        .env_remove("SSH_AUTH_SOCK");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FERRY_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("FERRY_CACHE", project.path().join("cache"));
    cmd.output().expect("run bash")
}

#[test]
fn readme_examples_run_against_a_real_fleet() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let examples = examples(&readme);
    assert!(
        examples.iter().any(|e| e.command.starts_with("ferry init")),
        "the README starts a project with `ferry init`"
    );
    let staging = Fleet::start(3);
    let production = Fleet::start(2);
    let project = Project::empty();
    let mut ran = 0;
    for example in &examples {
        let Expect::Exit(code) = example.expect else {
            continue;
        };
        make_artifacts(&project, &example.command);
        let out = run_line(&project, &example.command);
        assert_eq!(
            out.status.code(),
            Some(code),
            "README.md:{} `{}`\nstdout:\n{}\nstderr:\n{}",
            example.line,
            example.command,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        ran += 1;
        if example.command.starts_with("ferry init") {
            project.write("inventories/staging.yml", &inventory(&staging));
            project.write("inventories/production.yml", &inventory(&production));
        }
    }
    assert!(ran >= 15, "only {ran} README examples ran");
    // They did what they say on the hosts: staging was rolled back to the
    // first deploy's release, and promote shipped exactly it to production.
    let first = currents(&staging);
    assert!(
        first.iter().all(|c| c.starts_with("releases/app-1.0-")),
        "{first:?}"
    );
    assert_eq!(
        currents(&production),
        first[..2],
        "production runs staging's release"
    );
}
