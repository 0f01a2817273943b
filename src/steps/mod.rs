//! What a host runs, as data. Each builder returns the exact shell text sent
//! over SSH; unit tests compare it by string. Interpolated values are quoted
//! here and nowhere else.

use std::fmt::Write as _;
use std::time::Duration;

/// Extra seconds the remote `timeout` waits after TERM before it sends KILL.
const KILL_AFTER_SECS: u64 = 5;

/// Exit status of GNU `timeout` when the command ran out of time.
pub const TIMEOUT_EXIT: u32 = 124;

pub mod lock;
pub mod release;

/// Quote one value for a POSIX shell.
pub fn quote(value: &str) -> String {
    shell_escape::unix::escape(value.into()).into_owned()
}

/// A shell script to run on a host, with how to run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteCommand {
    pub script: String,
    pub sudo: bool,
    pub timeout: Option<Duration>,
}

impl RemoteCommand {
    pub fn new(script: impl Into<String>) -> Self {
        RemoteCommand {
            script: script.into(),
            sudo: false,
            timeout: None,
        }
    }

    #[must_use]
    pub fn sudo(mut self, sudo: bool) -> Self {
        self.sudo = sudo;
        self
    }

    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command line sent in the SSH exec request.
    ///
    /// A timeout runs on the host through GNU `timeout`, because closing the
    /// channel does not stop the remote process; `timeout` signals its whole
    /// process group, so children of the script stop too.
    pub fn to_shell(&self) -> String {
        let mut line = String::new();
        if let Some(t) = self.timeout {
            let secs = t.as_secs().max(1);
            let _ = write!(line, "timeout -k {KILL_AFTER_SECS} {secs} ");
        }
        if self.sudo {
            line.push_str("sudo -n ");
        }
        if line.is_empty() {
            return self.script.clone();
        }
        line.push_str("sh -c ");
        line.push_str(&quote(&self.script));
        line
    }

    /// How long the controller waits before it gives up on the channel:
    /// the remote timeout plus its kill grace and a margin for the network.
    pub fn client_deadline(&self) -> Option<Duration> {
        self.timeout
            .map(|t| t.saturating_add(Duration::from_secs(KILL_AFTER_SECS + 5)))
    }
}

/// The mode a new file gets on the host when the task gives none: the
/// default for new files there (0666 minus the umask), as before uploads were
/// written privately. Shell text, for `chmod`.
const DEFAULT_MODE: &str = "\"$(printf %o $((0666 & ~0$(umask))))\"";

fn mode_arg(mode: Option<u32>) -> String {
    mode.map_or_else(|| DEFAULT_MODE.to_string(), |m| format!("{m:04o}"))
}

/// Move a freshly written temporary file (private, 0600) into place with
/// its final mode, then print its sha256 so the controller can verify what
/// landed. With no mode given, the file gets the host's default for new
/// files (0666 minus the umask): the mode it would have had if created there.
pub fn install_file(tmp: &str, dest: &str, mode: Option<u32>) -> String {
    let tmp = quote(tmp);
    let dest_q = quote(dest);
    format!(
        "set -e; chmod {} {tmp}; mv -f {tmp} {dest_q}; sha256sum {dest_q}",
        mode_arg(mode)
    )
}

/// A private folder (0700, unpredictable name) for an upload that a
/// privileged step installs: the login user writes there, root copies from
/// there. Prints its path.
pub const PRIVATE_TEMP_DIR: &str = "mktemp -d \"${TMPDIR:-/tmp}/ferry-upload.XXXXXXXXXX\"";

/// Install an upload as root (run with sudo): copy it into a new file
/// beside `dest` (root's, 0600 from `mktemp`), give that its mode, rename
/// it over `dest`, and remove the private folder. The file is then root's,
/// not the login user's.
pub fn install_file_as_root(dir: &str, tmp: &str, dest: &str, mode: Option<u32>) -> String {
    let dest_dir = match dest.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((d, _)) => d,
        None => ".",
    };
    let dest_q = quote(dest);
    format!(
        "set -e; t=$(mktemp {}/.ferry-tmp-XXXXXXXXXX); trap 'rm -f \"$t\"' EXIT; \
         cat {} > \"$t\"; chmod {} \"$t\"; mv -f \"$t\" {dest_q}; rm -rf {}; sha256sum {dest_q}",
        quote(dest_dir),
        quote(tmp),
        mode_arg(mode),
        quote(dir)
    )
}

/// Remove a temporary file left by a failed upload.
pub fn remove_file(path: &str) -> String {
    format!("rm -f {}", quote(path))
}

/// Remove a private upload folder left by a failed upload.
pub fn remove_dir(path: &str) -> String {
    format!("rm -rf {}", quote(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_command_is_sent_as_is() {
        assert_eq!(RemoteCommand::new("uptime").to_shell(), "uptime");
    }

    #[test]
    fn timeout_and_sudo_wrap_a_quoted_script() {
        let cmd = RemoteCommand::new("echo 'hi'; sleep 9")
            .sudo(true)
            .timeout(Some(Duration::from_secs(30)));
        assert_eq!(
            cmd.to_shell(),
            r"timeout -k 5 30 sudo -n sh -c 'echo '\''hi'\''; sleep 9'"
        );
        assert_eq!(cmd.client_deadline(), Some(Duration::from_secs(40)));
    }

    #[test]
    fn install_file_quotes_paths_and_sets_mode() {
        assert_eq!(
            install_file("/srv/a b/.x.tmp", "/srv/a b/x", Some(0o644)),
            "set -e; chmod 0644 '/srv/a b/.x.tmp'; mv -f '/srv/a b/.x.tmp' '/srv/a b/x'; sha256sum '/srv/a b/x'"
        );
        assert_eq!(
            install_file("/srv/.x.tmp", "/srv/x", None),
            "set -e; chmod \"$(printf %o $((0666 & ~0$(umask))))\" /srv/.x.tmp; mv -f /srv/.x.tmp /srv/x; sha256sum /srv/x"
        );
    }

    #[test]
    fn install_as_root_copies_into_a_new_private_file_beside_dest() {
        assert_eq!(
            install_file_as_root("/tmp/ferry-upload.Ab1", "/tmp/ferry-upload.Ab1/upload", "/etc/app b.env", Some(0o600)),
            "set -e; t=$(mktemp /etc/.ferry-tmp-XXXXXXXXXX); trap 'rm -f \"$t\"' EXIT; \
             cat /tmp/ferry-upload.Ab1/upload > \"$t\"; chmod 0600 \"$t\"; mv -f \"$t\" '/etc/app b.env'; \
             rm -rf /tmp/ferry-upload.Ab1; sha256sum '/etc/app b.env'"
        );
    }

    /// Both install scripts, run by a local `sh` as the host would: the
    /// final mode is the one asked for, or the umask default; no temporary
    /// file is left.
    #[test]
    fn install_scripts_give_the_final_mode_and_leave_nothing() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let sh = |script: &str| {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("umask 027; {script}"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let dest = root.path().join("dest");
        let dest_s = dest.to_str().unwrap();
        for (asked, want) in [(Some(0o640), 0o640), (None, 0o640 & !0o027)] {
            let tmp = root.path().join(".ferry-tmp-x");
            std::fs::write(&tmp, "secret").unwrap();
            sh(&install_file(tmp.to_str().unwrap(), dest_s, asked));
            assert_eq!(mode(&dest), want);

            let dir = root.path().join("private");
            std::fs::create_dir(&dir).unwrap();
            let tmp = dir.join("upload");
            std::fs::write(&tmp, "secret").unwrap();
            sh(&install_file_as_root(
                dir.to_str().unwrap(),
                tmp.to_str().unwrap(),
                dest_s,
                asked,
            ));
            assert_eq!(mode(&dest), want);
            assert_eq!(std::fs::read_to_string(&dest).unwrap(), "secret");
            assert!(!dir.exists());
            let names: Vec<_> = std::fs::read_dir(root.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["dest"]);
        }
    }
}
