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

    /// `<id>.tar.gz` in the project, made with `tar -czf` from `files`
    /// (relative path, content); returns its path.
    pub fn tarball(&self, id: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let src = self.dir.path().join("build").join(id);
        for (rel, content) in files {
            let path = src.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, content).expect("write file");
        }
        let out = self.dir.path().join(format!("{id}.tar.gz"));
        let status = Command::new("tar")
            .arg("-czf")
            .arg(&out)
            .arg("-C")
            .arg(&src)
            .arg(".")
            .status()
            .expect("run tar");
        assert!(status.success(), "tar -czf {}", out.display());
        out
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).expect("read file")
    }

    /// Run `ferry ARGS` in the project folder, with no ssh-agent, so only the
    /// inventory's identity files count.
    pub fn ferry(&self, args: &[&str]) -> Run {
        self.ferry_env(args, &[])
    }

    /// `ferry ARGS` with extra environment variables; FERRY_* settings of the
    /// test process itself never leak in.
    pub fn ferry_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("SSH_AUTH_SOCK");
        for (key, _) in std::env::vars() {
            if key.starts_with("FERRY_") {
                cmd.env_remove(key);
            }
        }
        let out = cmd.envs(env.iter().copied()).output().expect("run ferry");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
