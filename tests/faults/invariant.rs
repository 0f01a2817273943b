//! The invariant every fault must keep: on every host, once `current`
//! exists it always names a complete release folder under `releases/`.
//!
//! A background thread samples every host's `<deploy_to>/current` every
//! 10 ms from before the scenario's ferry run until it is stopped, and
//! collects a violation (host, time, what it saw) when `current` is missing
//! after it existed, dangles, points anywhere but `releases/<id>`, or names
//! a release that lacks any file of the lab's known set (`payload/*`,
//! `index.html`, `LAST`, the release metadata): a half-extracted release.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::lab::{Lab, LAST, PAYLOAD_FILES};
use crate::support::fleet::Fleet;

const EVERY: Duration = Duration::from_millis(10);
/// ferry's metadata file in every release folder (README, Releases).
const META: &str = ".ferry-release.json";

/// What the checker needs of each host, taken before the thread starts.
struct Target {
    name: String,
    pid: u32,
    deploy_to: String,
    /// `deploy_to` as the controller sees the host's own folder (used once
    /// the host's sshd, and so its namespace, is gone).
    fallback: PathBuf,
}

pub(crate) struct Invariant {
    stop: Arc<AtomicBool>,
    /// Rounds taken so far.
    taken: Arc<AtomicU64>,
    thread: Option<JoinHandle<(u64, Vec<String>)>>,
}

impl Invariant {
    /// Start sampling every host of `lab` now.
    pub(crate) fn start(lab: &Lab) -> Invariant {
        let targets = targets(&lab.fleet);
        let stop = Arc::new(AtomicBool::new(false));
        let taken = Arc::new(AtomicU64::new(0));
        let (flag, count) = (stop.clone(), taken.clone());
        let thread = std::thread::Builder::new()
            .name("invariant".into())
            .spawn(move || sample(&targets, &flag, &count))
            .expect("spawn the invariant checker");
        Invariant {
            stop,
            taken,
            thread: Some(thread),
        }
    }

    /// Stop sampling; fail on any violation, or when fewer than
    /// `min_samples` rounds were taken (a checker that never ran proves nothing).
    #[track_caller]
    pub(crate) fn assert_held(self, min_samples: u64) -> u64 {
        let (samples, violations) = self.stop();
        assert!(
            violations.is_empty(),
            "the switch was not atomic ({} violation(s) in {samples} samples):\n{}",
            violations.len(),
            violations.join("\n")
        );
        assert!(
            samples >= min_samples,
            "the invariant checker took {samples} samples, fewer than {min_samples}: it proves nothing"
        );
        samples
    }
}

impl Invariant {
    /// Wait until `n` more rounds have been taken (at most 30 s).
    #[cfg(test)]
    fn wait_rounds(&self, n: u64) {
        let until = self.taken.load(Ordering::SeqCst) + n;
        crate::support::host::wait_until(Duration::from_secs(30), "the checker stalled", || {
            self.taken.load(Ordering::SeqCst) >= until
        });
    }

    /// Stop sampling: how many rounds were taken, and the violations seen.
    fn stop(mut self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .expect("started")
            .join()
            .expect("the invariant checker panicked")
    }
}

impl Drop for Invariant {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn targets(fleet: &Fleet) -> Vec<Target> {
    fleet
        .hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| Target {
            name: h.name.clone(),
            pid: h.pid,
            deploy_to: h.deploy_to.trim_end_matches('/').to_string(),
            fallback: fleet.on_host(i, &h.deploy_to),
        })
        .collect()
}

impl Target {
    /// The host's `deploy_to` as it sees it now (see `lab::host_path`).
    fn base(&self) -> PathBuf {
        let ns = PathBuf::from(format!("/proc/{}/root{}", self.pid, self.deploy_to));
        if PathBuf::from(format!("/proc/{}/root/srv", self.pid)).exists() {
            ns
        } else {
            self.fallback.clone()
        }
    }
}

fn sample(targets: &[Target], stop: &AtomicBool, taken: &AtomicU64) -> (u64, Vec<String>) {
    let started = Instant::now();
    let mut seen = vec![false; targets.len()];
    let mut violations = Vec::new();
    let mut samples = 0;
    while !stop.load(Ordering::SeqCst) {
        for (t, seen) in targets.iter().zip(seen.iter_mut()) {
            if let Err(what) = check(t, seen) {
                // Keep the first few per host: one bug repeats every 10 ms.
                if violations.len() < 50 {
                    violations.push(format!(
                        "{} at {:.3}s: {what}",
                        t.name,
                        started.elapsed().as_secs_f64()
                    ));
                }
            }
        }
        samples += 1;
        taken.store(samples, Ordering::SeqCst);
        std::thread::sleep(EVERY);
    }
    (samples, violations)
}

/// One look at one host; `seen`: `current` has existed before.
fn check(t: &Target, seen: &mut bool) -> Result<(), String> {
    let base = t.base();
    let link = base.join("current");
    let target = match std::fs::read_link(&link) {
        Ok(target) => target,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // The namespace may have gone between `base` and the read (the
            // sshd was killed): look again from the host's own folder.
            if t.base() != base {
                return Ok(());
            }
            return if *seen {
                Err("`current` is missing after it existed".into())
            } else {
                Ok(())
            };
        }
        Err(e) => {
            if t.base() != base {
                return Ok(());
            }
            return Err(format!("`current` is not a symlink: {e}"));
        }
    };
    *seen = true;
    let shown = target.to_string_lossy().into_owned();
    let Some(id) = shown.strip_prefix("releases/") else {
        return Err(format!("`current` -> {shown:?}: not under releases/"));
    };
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Err(format!("`current` -> {shown:?}: not a release folder"));
    }
    let release = base.join(&target);
    let complete = || -> Result<(), String> {
        if !release.is_dir() {
            return Err(format!("`current` -> {shown:?}: dangling"));
        }
        for file in [LAST, "index.html", META] {
            if !release.join(file).is_file() {
                return Err(format!("`current` -> {shown:?}: lacks {file} (half-made)"));
            }
        }
        let payload = std::fs::read_dir(release.join("payload")).map_or(0, Iterator::count);
        if payload != PAYLOAD_FILES {
            return Err(format!(
                "`current` -> {shown:?}: {payload} of {PAYLOAD_FILES} payload files (half-made)"
            ));
        }
        Ok(())
    };
    match complete() {
        Ok(()) => Ok(()),
        // `current` moved on while the folder was read (and the old one
        // may be pruned since): that is no violation, the next sample looks.
        Err(_) if std::fs::read_link(&link).ok().as_ref() != Some(&target) => Ok(()),
        Err(_) if t.base() != base => Ok(()),
        Err(e) => Err(e),
    }
}

/// The checker can fail: each thing it looks for, made by hand on a host
/// (no ferry run), is reported with the host and what was seen.
#[cfg(test)]
mod tests {
    use super::Invariant;
    use crate::lab::{Lab, LAST, PAYLOAD_FILES};

    /// A release folder `releases/<id>` on host 0, with every file of the
    /// known set when `complete`, else without `LAST`.
    fn release(lab: &Lab, id: &str, complete: bool) {
        let dir = lab.path(0, &format!("releases/{id}"));
        std::fs::create_dir_all(dir.join("payload")).unwrap();
        for k in 0..PAYLOAD_FILES {
            std::fs::write(dir.join(format!("payload/{k:03}")), "x").unwrap();
        }
        for file in ["index.html", super::META] {
            std::fs::write(dir.join(file), "x").unwrap();
        }
        if complete {
            std::fs::write(dir.join(LAST), "x").unwrap();
        }
    }

    /// Point host 0's `current` at `target` atomically (as ferry does).
    fn point(lab: &Lab, target: &str) {
        let tmp = lab.path(0, ".current.tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).unwrap();
        std::fs::rename(&tmp, lab.path(0, "current")).unwrap();
    }

    /// Run the checker while `fault` is done to host 0, then return what
    /// it saw (5 rounds before the fault, 5 after).
    fn seen(lab: &Lab, fault: impl FnOnce()) -> Vec<String> {
        release(lab, "good", true);
        point(lab, "releases/good");
        let invariant = Invariant::start(lab);
        invariant.wait_rounds(5);
        fault();
        invariant.wait_rounds(5);
        invariant.stop().1
    }

    #[test]
    fn the_checker_sees_a_half_made_release_missing_and_dangling_current() {
        let lab = Lab::start(1, "", "");
        let violations = seen(&lab, || {
            release(&lab, "half", false);
            point(&lab, "releases/half");
        });
        assert!(
            violations
                .iter()
                .any(|v| v.starts_with("h1 at ") && v.contains("lacks LAST (half-made)")),
            "{violations:?}"
        );

        let violations = seen(&lab, || {
            std::fs::remove_file(lab.path(0, "current")).unwrap();
        });
        assert!(
            violations
                .iter()
                .any(|v| v.contains("`current` is missing after it existed")),
            "{violations:?}"
        );

        let violations = seen(&lab, || point(&lab, "releases/gone"));
        assert!(
            violations.iter().any(|v| v.contains("dangling")),
            "{violations:?}"
        );

        let violations = seen(&lab, || {
            std::fs::create_dir_all(lab.path(0, "releases/.r2.x.tmp")).unwrap();
            point(&lab, "releases/.r2.x.tmp");
        });
        assert!(
            violations
                .iter()
                .any(|v| v.contains("not a release folder")),
            "{violations:?}"
        );
    }
}
