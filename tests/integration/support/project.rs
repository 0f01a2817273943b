//! A throwaway ferry project folder (inventories/, playbooks/, files, release
//! tarballs) and the domain verbs that start a `Ferry` run inside it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::ferry::Ferry;
use super::fleet::Fleet;

/// The environment every `Project::new` inventory is written as.
pub(crate) const ENV: &str = "test";

pub(crate) struct Project {
    dir: tempfile::TempDir,
}

/// The `index.html` each test release carries.
pub(crate) fn page(id: &str) -> String {
    format!("<h1>release {id}</h1>\n")
}

impl Project {
    /// The events of the newest run's journal in this project. Run ids of
    /// runs in the same second do not sort by time: the first event's
    /// timestamp does.
    pub(crate) fn newest_journal(&self) -> Vec<serde_json::Value> {
        std::fs::read_dir(self.path().join(".ferry/runs"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path().join("journal.jsonl")).ok())
            .map(|text| {
                text.lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect::<Vec<serde_json::Value>>()
            })
            .filter(|events| !events.is_empty())
            .max_by_key(|events| events[0]["at_ms"].as_u64().unwrap())
            .expect("a run journal")
    }

    /// An empty project with `inventories/test.yml` for `fleet`, `extra`
    /// appended to the inventory.
    pub(crate) fn new(fleet: &Fleet, extra: &str) -> Project {
        let project = Project::empty();
        project.write("inventories/test.yml", &fleet.inventory_yaml(extra));
        project
    }

    pub(crate) fn empty() -> Project {
        Project {
            dir: tempfile::Builder::new()
                .prefix("ferry-project-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write file");
        path
    }

    /// `<id>.tar.gz` in the project, made with `tar -czf` from `files`
    /// (relative path, content); returns its path.
    pub(crate) fn tarball(&self, id: &str, files: &[(&str, &[u8])]) -> PathBuf {
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

    /// A release tarball whose only file is `index.html` = `page(id)`.
    pub(crate) fn release_tarball(&self, id: &str) -> PathBuf {
        self.tarball(id, &[("index.html", page(id).as_bytes())])
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).expect("read file")
    }

    /// `ferry ARGS`.
    pub(crate) fn ferry<I>(&self, args: I) -> Ferry<'_>
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        Ferry::new(self).args(args)
    }

    /// `ferry deploy test --artifact ARTIFACT --release RELEASE`.
    pub(crate) fn deploy(&self, artifact: impl AsRef<Path>, release: &str) -> Ferry<'_> {
        self.ferry(["deploy", ENV, "--artifact"])
            .arg(artifact.as_ref())
            .args(["--release", release])
    }

    /// `ferry rollback test`.
    pub(crate) fn rollback(&self) -> Ferry<'_> {
        self.ferry(["rollback", ENV])
    }

    /// `ferry status test`.
    pub(crate) fn status(&self) -> Ferry<'_> {
        self.ferry(["status", ENV])
    }

    /// `ferry history test`.
    pub(crate) fn history(&self) -> Ferry<'_> {
        self.ferry(["history", ENV])
    }

    /// `ferry lock test --reason REASON`.
    pub(crate) fn lock(&self, reason: &str) -> Ferry<'_> {
        self.ferry(["lock", ENV, "--reason", reason])
    }

    /// `ferry unlock test`.
    pub(crate) fn unlock(&self) -> Ferry<'_> {
        self.ferry(["unlock", ENV])
    }

    /// `ferry run test --cmd CMD`.
    pub(crate) fn run_cmd(&self, cmd: &str) -> Ferry<'_> {
        self.ferry(["run", ENV, "--cmd", cmd])
    }
}
