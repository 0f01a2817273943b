//! `ferry completions`, `ferry man`: write what the settings stage rendered
//! from the clap definitions (stdout, or one file per page).

use anyhow::Context as _;

use crate::cli::generate::Generated;
use crate::exit::ExitStatus;
use crate::failure::Failure;
use crate::report::Printer;

pub(super) fn generate(generated: Generated) -> Result<ExitStatus, Failure> {
    let printer = Printer::plain();
    match generated {
        Generated::Stdout(text) => printer.out(text.trim_end_matches('\n')),
        Generated::Files { dir, files } => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, bytes) in files {
                let path = dir.join(name);
                std::fs::write(&path, bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                printer.note(&format!("wrote {}", path.display()));
            }
        }
    }
    Ok(ExitStatus::Success)
}
