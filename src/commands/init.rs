//! `ferry init [DIR]`: a project to start from. The files are templates kept
//! beside this module (`init/*.yml`); `ferry check` accepts each of them
//! (tests/integration/cli.rs checks the written project with the real binary).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::exit::ExitStatus;
use crate::failure::{Failure, Invalid};
use crate::report::Printer;
use crate::settings::InitSettings;

/// Each file, relative to the project folder, and its text.
const FILES: [(&str, &str); 4] = [
    ("inventories/staging.yml", include_str!("init/staging.yml")),
    (
        "inventories/production.yml",
        include_str!("init/production.yml"),
    ),
    ("playbooks/site.yml", include_str!("init/site.yml")),
    ("playbooks/deploy.yml", include_str!("init/deploy.yml")),
];

pub(super) fn init(args: &InitSettings) -> Result<ExitStatus, Failure> {
    let existing = existing(&args.dir);
    // All or nothing: a half-written project would mix old and new files.
    if !existing.is_empty() && !args.force {
        return Err(Invalid::InitExists(existing).into());
    }
    let printer = Printer::plain();
    for (rel, text) in FILES {
        let path = in_dir(&args.dir, rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        printer.note(&format!("wrote {}", path.display()));
    }
    let cd = if args.dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", args.dir.display())
    };
    printer.note(&format!(
        "next: put your hosts in inventories/staging.yml, then `{cd}ferry check staging` \
         (no connection), `ferry run staging`, `ferry deploy staging --artifact FILE.tar.gz`"
    ));
    Ok(ExitStatus::Success)
}

/// `rel` in `dir`, without a leading `./` for the current folder (the
/// names the messages show).
fn in_dir(dir: &Path, rel: &str) -> PathBuf {
    if dir == Path::new(".") {
        PathBuf::from(rel)
    } else {
        dir.join(rel)
    }
}

/// The files `init` would write that are there already.
fn existing(dir: &Path) -> Vec<PathBuf> {
    FILES
        .iter()
        .map(|(rel, _)| in_dir(dir, rel))
        .filter(|p| p.symlink_metadata().is_ok())
        .collect()
}
