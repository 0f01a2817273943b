//! Outcomes of a run and their exit codes: the contract with CI, documented in
//! the README. Every command returns one of these; nothing else picks a code.

use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything asked for succeeded on every selected host.
    Success,
    /// The run worked but some host failed or was unreachable.
    Failed,
    /// Invalid input: configuration, template or command line. Nothing was touched.
    Invalid,
    /// A host could not be put back on its previous release: mixed releases.
    RollbackFailed,
    /// The environment is locked by another run (or by hand).
    Locked,
    /// A safety check refused the run (promote: source not uniform, not
    /// healthy, or not soaked long enough).
    Refused,
    /// Stopped after a healthy canary as asked (`--stop-after-canary`).
    PausedAfterCanary,
    /// Interrupted (Ctrl-C / SIGTERM) after reaching a safe state.
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failed => 1,
            ExitStatus::Invalid => 2,
            ExitStatus::RollbackFailed => 3,
            ExitStatus::Locked => 4,
            ExitStatus::PausedAfterCanary => 5,
            ExitStatus::Refused => 6,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus;

    /// Every status; the match makes a new variant a compile error here.
    fn all() -> Vec<ExitStatus> {
        let every = [
            ExitStatus::Success,
            ExitStatus::Failed,
            ExitStatus::Invalid,
            ExitStatus::RollbackFailed,
            ExitStatus::Locked,
            ExitStatus::Refused,
            ExitStatus::PausedAfterCanary,
            ExitStatus::Interrupted,
        ];
        for status in every {
            match status {
                ExitStatus::Success
                | ExitStatus::Failed
                | ExitStatus::Invalid
                | ExitStatus::RollbackFailed
                | ExitStatus::Locked
                | ExitStatus::Refused
                | ExitStatus::PausedAfterCanary
                | ExitStatus::Interrupted => {}
            }
        }
        every.to_vec()
    }

    #[test]
    fn docs_exit_codes_lists_every_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/exit-codes.md");
        let doc = std::fs::read_to_string(path).expect("docs/exit-codes.md");
        let mut documented: Vec<u8> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| "))
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect();
        let mut codes: Vec<u8> = all().into_iter().map(ExitStatus::code).collect();
        documented.sort_unstable();
        codes.sort_unstable();
        assert_eq!(documented, codes, "docs/exit-codes.md against src/exit.rs");
    }
}
