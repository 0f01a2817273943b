//! Documents generated from the clap definitions, so they cannot drift from
//! the command line: shell completions (`clap_complete`) and manual pages
//! (`clap_mangen`). Rendered in memory here; the `generate` command writes them.

use clap::CommandFactory as _;

use super::{Cli, ShellArg};

/// What to write: one document on stdout, or named files in a folder.
#[derive(Debug)]
pub enum Generated {
    Stdout(String),
    Files {
        dir: std::path::PathBuf,
        files: Vec<(String, Vec<u8>)>,
    },
}

/// The completion script for `shell`.
pub fn completions(shell: ShellArg) -> String {
    let shell = match shell {
        ShellArg::Bash => clap_complete::Shell::Bash,
        ShellArg::Zsh => clap_complete::Shell::Zsh,
        ShellArg::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ferry", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `ferry.1`, the page of the whole command (its commands listed).
pub fn man_page() -> String {
    String::from_utf8_lossy(&render(&clap_mangen::Man::new(Cli::command()))).into_owned()
}

/// `ferry.1` and one `ferry-<command>.1` per command, named as
/// `clap_mangen::generate_to` names them.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    fn walk(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, pages);
        }
        let man = clap_mangen::Man::new(cmd.clone());
        pages.push((man.get_filename(), render(&man)));
    }
    let mut cmd = Cli::command();
    // Gives the subcommands their display names: `ferry-deploy`, ...
    cmd.build();
    let mut pages = Vec::new();
    walk(&cmd, &mut pages);
    pages
}

fn render(man: &clap_mangen::Man) -> Vec<u8> {
    let mut page = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = man.render(&mut page);
    page
}

/// `ferry --help`'s text.
pub fn help() -> String {
    Cli::command().render_long_help().to_string()
}
