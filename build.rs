//! `ferry --version` names the git revision it was built from:
//! `ferry 0.1.0 (3eb1023)`. Outside a git checkout (a source tarball, a
//! crate) or without git it is the bare version. `FERRY_GIT_REV` set by a
//! packager wins.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=FERRY_GIT_REV");
    let rev = std::env::var("FERRY_GIT_REV")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(git_rev);
    let version = env!("CARGO_PKG_VERSION");
    let full = match rev {
        Some(rev) => format!("{version} ({rev})"),
        None => version.to_string(),
    };
    println!("cargo:rustc-env=FERRY_VERSION={full}");
}

/// `git rev-parse --short HEAD`, and a rebuild when HEAD moves: HEAD itself
/// (a checkout), the branch's ref file (a commit) and packed-refs (a gc).
/// In a worktree HEAD lives in the worktree's git dir, refs in the common one.
fn git_rev() -> Option<String> {
    let rev = git(&["rev-parse", "--short", "HEAD"])?;
    if let Some(dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) {
        watch(&dir.join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]).map(PathBuf::from) {
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(&common.join(head_ref));
        }
        watch(&common.join("packed-refs"));
    }
    Some(rev)
}

/// Only files that exist: cargo reruns a build script on every build when
/// a watched path is missing.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}
