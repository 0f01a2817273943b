//! The first hour: `ferry init` writes a project `ferry check` accepts, and
//! completions, manual pages, `--version` and `help` come from the real
//! binary's command line.

use std::process::Command;

use crate::support::project::Project;

const INIT_FILES: [&str; 4] = [
    "inventories/staging.yml",
    "inventories/production.yml",
    "playbooks/site.yml",
    "playbooks/deploy.yml",
];

#[test]
fn init_writes_a_project_that_check_accepts() {
    let project = Project::empty();
    project
        .ferry(["init"])
        .stderr_has("wrote inventories/staging.yml\n")
        .stderr_has("wrote playbooks/deploy.yml\n")
        .run();
    for env in ["staging", "production"] {
        // No playbook named: site.yml.
        project
            .ferry(["check", env])
            .stderr_has(format!(
                "ok: inventories/{env}.yml and playbooks/site.yml valid;"
            ))
            .run();
        for playbook in ["site", "deploy"] {
            project
                .ferry(["check", env, playbook])
                .stderr_has(format!(
                    "ok: inventories/{env}.yml and playbooks/{playbook}.yml valid;"
                ))
                .run();
        }
    }
    // The deploy playbook has a health check, and its drain is there, commented.
    let deploy = project.read("playbooks/deploy.yml");
    assert!(deploy.contains("\nhealth:\n"), "{deploy}");
    assert!(
        deploy.contains("\n# drain:\n#   provider: haproxy\n"),
        "{deploy}"
    );
    project
        .ferry(["check", "staging", "deploy"])
        .stdout_has("  [health] release is live: command `test -e /srv/app/current/`\n")
        .run();
}

#[test]
fn init_writes_into_the_folder_named() {
    let project = Project::empty();
    project.ferry(["init", "shop"]).run();
    for file in INIT_FILES {
        assert!(project.path().join("shop").join(file).is_file(), "{file}");
    }
}

#[test]
fn init_never_overwrites_a_file_unless_forced() {
    let project = Project::empty();
    project.write("inventories/staging.yml", "mine\n");
    project.write("playbooks/deploy.yml", "mine too\n");
    project
        .ferry(["init"])
        .code(2)
        .stderr(
            "error: not overwriting inventories/staging.yml, playbooks/deploy.yml: \
             they exist (ferry init --force overwrites them)\n",
        )
        .file("inventories/staging.yml", "mine\n")
        // All or nothing: no file was written.
        .no_file("inventories/production.yml")
        .no_file("playbooks/site.yml")
        .run();
    project.ferry(["init", "--force"]).run();
    assert!(project
        .read("inventories/staging.yml")
        .starts_with("# The staging environment"));
    project.ferry(["check", "staging"]).run();
}

/// The commands `ferry --help` lists.
fn commands(project: &Project) -> Vec<String> {
    let help = project.ferry(["--help"]).run().stdout;
    let list = help
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands: section")
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .to_string();
    list.lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn bash_completion_is_valid_bash_and_names_every_command() {
    let project = Project::empty();
    let commands = commands(&project);
    assert!(commands.len() >= 15, "{commands:?}");
    let script = project.ferry(["completions", "bash"]).run().stdout;
    let path = project.write("ferry.bash", &script);
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("run bash -n");
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    for command in &commands {
        // clap_complete's bash script: one `ferry,<command>)` case per command.
        assert!(
            script.contains(&format!("ferry,{command})")),
            "{command} not completed"
        );
    }
    // Flags of a command, from its clap definition.
    assert!(script.contains("--stop-after-canary"), "deploy's flags");
}

#[test]
fn zsh_and_fish_completions_name_ferry() {
    let project = Project::empty();
    project
        .ferry(["completions", "zsh"])
        .stdout_has("#compdef ferry\n")
        .stdout_has("'--artifact=[")
        .run();
    project
        .ferry(["completions", "fish"])
        .stdout_has("complete -c ferry ")
        .run();
    project.ferry(["completions", "tcsh"]).code(2).run();
}

#[test]
fn man_renders_one_page_or_one_per_command() {
    let project = Project::empty();
    let page = project
        .ferry(["man"])
        .stdout_has(".TH ferry 1 ")
        .stdout_has("ferry \\- Agentless fleet deploys over plain SSH\n")
        .run()
        .stdout;
    let path = project.write("ferry.1", &page);
    // man-db renders it when installed (CI installs it); the roff header
    // above is checked either way.
    if let Ok(out) = Command::new("man")
        .arg("-l")
        .arg(&path)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "man -l: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("Agentless fleet deploys over plain SSH"),
            "{text}"
        );
    }
    project.ferry(["man", "--dir", "man1"]).run();
    for command in commands(&project) {
        let page = project.read(&format!("man1/ferry-{command}.1"));
        assert!(
            page.contains(&format!(".TH ferry-{command} 1 ")),
            "{command}: {page}"
        );
    }
    assert!(project.read("man1/ferry.1").contains(".TH ferry 1 "));
}

#[test]
fn version_names_the_git_revision() {
    let project = Project::empty();
    let version = env!("CARGO_PKG_VERSION");
    let rev = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let want = match rev {
        Some(rev) => format!("ferry {version} ({rev})\n"),
        None => format!("ferry {version}\n"),
    };
    project.ferry(["--version"]).stdout(want).run();
}

#[test]
fn help_takes_help_and_names_a_command() {
    let project = Project::empty();
    project
        .ferry(["help", "--help"])
        .stdout_has("Usage: ferry help [OPTIONS] [COMMAND]...\n")
        .run();
    let deploy = project.ferry(["deploy", "--help"]).run().stdout;
    project.ferry(["help", "deploy"]).stdout(deploy).run();
    project
        .ferry(["help", "deplyo"])
        .code(2)
        .stderr_has("unrecognized subcommand 'deplyo'")
        .run();
}
