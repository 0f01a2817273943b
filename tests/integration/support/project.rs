//! A throwaway ferry project folder (inventories/, playbooks/, files) and a
//! runner for the real `ferry` binary inside it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::fleet::Fleet;

pub struct Project {
    dir: tempfile::TempDir,
}

/// What a `ferry` run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n--- stderr\n{}\n--- stdout\n{}",
            self.stderr,
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Project {
    /// An empty project with `inventories/test.yml` for `fleet`, `extra`
    /// appended to the inventory.
    pub fn new(fleet: &Fleet, extra: &str) -> Project {
        let project = Project::empty();
        project.write("inventories/test.yml", &fleet.inventory_yaml(extra));
        project
    }

    pub fn empty() -> Project {
        Project {
            dir: tempfile::Builder::new()
                .prefix("ferry-project-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write file");
        path
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).expect("read file")
    }

    /// Run `ferry ARGS` in the project folder, with no ssh-agent, so only the
    /// inventory's identity files count.
    pub fn ferry(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("FERRY_LIMIT")
            .env_remove("FERRY_FORKS")
            .output()
            .expect("run ferry");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
