//! Uploads: a file or rendered template sent over SFTP to a private temporary
//! file beside its destination, then installed with its mode and checked.

use std::path::Path;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::{Echo, Executor, TaskFailure};
use crate::render::{RenderedTask, SudoPassword};
use crate::ssh::{Keep, Session, UploadSource, KEEP_BYTES};
use crate::steps::{self, Become, RemoteCommand};

impl Executor {
    /// Upload to a new private file (0600, see `Session::upload`), then
    /// install it with its final mode and verify the sha256 of what landed.
    /// Without sudo the file is written beside `dest` and renamed; with
    /// sudo it is written in a private folder the host makes (`mktemp -d`)
    /// and installed by root as root's.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn put(
        &self,
        host: &str,
        session: &Session,
        task: &RenderedTask,
        source: UploadSource<'_>,
        dest: &str,
        mode: Option<u32>,
        expected: &str,
    ) -> Result<(), TaskFailure> {
        let fail = |reason: String| {
            TaskFailure::new(host, &task.name, &format!("upload to {dest}"), reason)
        };
        let private_dir = if task.sudo {
            let mktemp = RemoteCommand::new(steps::PRIVATE_TEMP_DIR).timeout(task.timeout);
            let out = self
                .run_remote(
                    host,
                    session,
                    &task.name,
                    &mktemp,
                    Echo::Quiet,
                    None,
                    Keep::Tail(KEEP_BYTES),
                )
                .await?;
            match out.trim() {
                dir if dir.starts_with('/') && !dir.contains('\n') => Some(dir.to_string()),
                other => return Err(fail(format!("mktemp -d printed `{other}`, not a folder"))),
            }
        } else {
            None
        };
        let (tmp, install, cleanup) = if let Some(dir) = &private_dir {
            let tmp = format!("{dir}/upload");
            let install = steps::install_file_as_root(dir, &tmp, dest, mode, task.owner.as_deref());
            (tmp, install, steps::remove_dir(dir))
        } else {
            let tmp = temp_path(dest);
            let install = steps::install_file(&tmp, dest, mode, task.owner.as_deref());
            let cleanup = steps::remove_file(&tmp);
            (tmp, install, cleanup)
        };
        let remove_temp = || async {
            let _ = session
                .exec(
                    &RemoteCommand::new(cleanup.clone()).to_shell(),
                    None,
                    &mut |_, _| {},
                )
                .await;
        };
        if let Err(e) = session.upload(source, &tmp).await {
            remove_temp().await;
            return Err(fail(e.to_string()));
        }
        // Test hook: hold the written, not yet installed file until this
        // path exists, so a test can look at it on the host.
        if let Ok(flag) = std::env::var("FERRY_TEST_HOLD_UPLOAD") {
            while !Path::new(&flag).exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Installed by root (the private folder is the login user's; root
        // reads it), then given to the owner asked for or the become user.
        let install = RemoteCommand::new(install)
            .sudo(task.sudo.then(|| Become {
                user: "root".into(),
                password: task.become_password.is_some(),
            }))
            .timeout(task.timeout);
        let stdout = match self
            .run_remote(
                host,
                session,
                &task.name,
                &install,
                Echo::Quiet,
                task.become_password.as_ref().map(SudoPassword::stdin_line),
                Keep::Tail(KEEP_BYTES),
            )
            .await
        {
            Ok(stdout) => stdout,
            Err(failure) => {
                remove_temp().await;
                return Err(failure);
            }
        };
        let landed = stdout.split_whitespace().next().unwrap_or_default();
        if landed != expected {
            return Err(fail(format!(
                "checksum mismatch on the host: expected sha256 {expected}, found {landed}"
            )));
        }
        self.printer.host_event(
            host,
            &format!("{dest} written (sha256 {})", &expected[..12]),
        );
        Ok(())
    }

    pub(super) async fn checksum_of(&self, path: &Path) -> Result<String, String> {
        if let Some(sum) = self.checksums.lock().expect("checksum lock").get(path) {
            return Ok(sum.clone());
        }
        let owned = path.to_path_buf();
        let sum = tokio::task::spawn_blocking(move || sha256_file(&owned))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        self.checksums
            .lock()
            .expect("checksum lock")
            .insert(path.to_path_buf(), sum.clone());
        Ok(sum)
    }
}

/// A temporary name in the destination's folder, so the final move is a
/// rename on one filesystem. Unpredictable, and created with `O_EXCL`.
pub(super) fn temp_path(dest: &str) -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    // Randomly keyed per process (std's SipHash keys): no extra dependency.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let unique = format!(".ferry-tmp-{}-{random:016x}", std::process::id());
    match dest.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/{unique}-{name}"),
        None => format!("{unique}-{dest}"),
    }
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_path_stays_beside_dest() {
        let tmp = temp_path("/srv/app/config.yml");
        assert!(tmp.starts_with("/srv/app/.ferry-tmp-"), "{tmp}");
        assert!(tmp.ends_with("-config.yml"), "{tmp}");
        assert_ne!(tmp, temp_path("/srv/app/config.yml"));
    }
}
