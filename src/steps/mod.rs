//! What a host runs, as data. Each builder returns the exact shell text sent
//! over SSH; unit tests compare it by string. Interpolated values are quoted
//! here and nowhere else.

use std::fmt::Write as _;
use std::time::Duration;

/// Extra seconds the remote `timeout` waits after TERM before it sends KILL.
const KILL_AFTER_SECS: u64 = 5;

/// Exit status of GNU `timeout` when the command ran out of time.
pub const TIMEOUT_EXIT: u32 = 124;

pub mod drain;
pub mod fold;
pub mod lock;
pub mod receive;
pub mod release;

/// Quote one value for a POSIX shell.
pub fn quote(value: &str) -> String {
    shell_escape::unix::escape(value.into()).into_owned()
}

/// A shell script to run on a host, with how to run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteCommand {
    pub script: String,
    /// Run through sudo, as this user.
    pub sudo: Option<Become>,
    pub timeout: Option<Duration>,
}

/// How a command goes through sudo: as whom, and whether sudo is fed a
/// password on stdin (the password itself is never part of the command).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Become {
    pub user: String,
    pub password: bool,
}

impl Become {
    pub fn root() -> Become {
        Become {
            user: "root".into(),
            password: false,
        }
    }
}

impl RemoteCommand {
    pub fn new(script: impl Into<String>) -> Self {
        RemoteCommand {
            script: script.into(),
            sudo: None,
            timeout: None,
        }
    }

    #[must_use]
    pub fn sudo(mut self, sudo: Option<Become>) -> Self {
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
        match &self.sudo {
            // `-n`: a sudo that wants a password fails at once instead of
            // waiting for one that never comes.
            Some(Become {
                user,
                password: false,
            }) => {
                let _ = write!(line, "sudo -n -u {} -- ", quote(user));
            }
            // `-S -p ''`: the password comes on stdin, without a prompt.
            // When sudo needs none it stays unread on stdin: the script's
            // stdin is /dev/null, so it can never read the password.
            Some(Become {
                user,
                password: true,
            }) => {
                let _ = write!(line, "sudo -S -p '' -u {} -- ", quote(user));
                line.push_str("sh -c ");
                line.push_str(&quote(&format!("exec </dev/null; {}", self.script)));
                return line;
            }
            None => {}
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

/// sudo's own refusal in a failed command's output, in ferry's words, or
/// `None` when the command itself failed. sudo says why on stderr (its
/// messages, as of sudo 1.9) and exits 1; a missing sudo is the shell's 127.
pub fn sudo_refusal(host: &str, exit: Option<u32>, stderr: &str) -> Option<String> {
    let said = |needle: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with("sudo: ") && l.contains(needle))
            .map(str::trim)
    };
    if exit == Some(127) && stderr.contains("sudo: not found") {
        return Some(format!("sudo is not installed on {host}"));
    }
    if exit != Some(1) {
        return None;
    }
    if let Some(line) = said("a password is required") {
        return Some(format!(
            "sudo needs a password on {host}: {line} (give the task `become_password:`, \
             or allow the command with NOPASSWD in the host's sudoers)"
        ));
    }
    if let Some(line) = said("incorrect password").or_else(|| said("no password was provided")) {
        return Some(format!("sudo refused the password on {host}: {line}"));
    }
    // These come with or without the `sudo: ` prefix ("Sorry, user app is
    // not allowed to execute ...").
    [
        "is not in the sudoers file",
        "is not allowed to execute",
        "may not run sudo",
        "you must have a tty to run sudo",
    ]
    .into_iter()
    .find_map(|needle| stderr.lines().find(|l| l.contains(needle)).map(str::trim))
    .map(|line| format!("sudo refused on {host}: {line}"))
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
/// `owner` (`user`, `user:group` or `:group`) is given by `chown` first.
pub fn install_file(tmp: &str, dest: &str, mode: Option<u32>, owner: Option<&str>) -> String {
    let tmp = quote(tmp);
    let dest_q = quote(dest);
    format!(
        "set -e; {}chmod {} {tmp}; mv -f {tmp} {dest_q}; sha256sum {dest_q}",
        chown(owner, &tmp),
        mode_arg(mode)
    )
}

/// `chown OWNER FILE; ` or nothing; `file` is already shell text.
fn chown(owner: Option<&str>, file: &str) -> String {
    owner.map_or_else(String::new, |o| format!("chown {} {file}; ", quote(o)))
}

/// A private folder (0700, unpredictable name) for an upload that a
/// privileged step installs: the login user writes there, root copies from
/// there. Prints its path.
pub const PRIVATE_TEMP_DIR: &str = "mktemp -d \"${TMPDIR:-/tmp}/ferry-upload.XXXXXXXXXX\"";

/// Install an upload as root (run with sudo): copy it into a new file
/// beside `dest` (root's, 0600 from `mktemp`), give that its mode, rename
/// it over `dest`, and remove the private folder. The file is then root's,
/// not the login user's.
/// `owner` as in [`install_file`].
pub fn install_file_as_root(
    dir: &str,
    tmp: &str,
    dest: &str,
    mode: Option<u32>,
    owner: Option<&str>,
) -> String {
    let dest_dir = match dest.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((d, _)) => d,
        None => ".",
    };
    let dest_q = quote(dest);
    format!(
        "set -e; t=$(mktemp {}/.ferry-tmp-XXXXXXXXXX); trap 'rm -f \"$t\"' EXIT; \
         cat {} > \"$t\"; {}chmod {} \"$t\"; mv -f \"$t\" {dest_q}; rm -rf {}; sha256sum {dest_q}",
        quote(dest_dir),
        quote(tmp),
        chown(owner, "\"$t\""),
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
            .sudo(Some(Become::root()))
            .timeout(Some(Duration::from_secs(30)));
        assert_eq!(
            cmd.to_shell(),
            r"timeout -k 5 30 sudo -n -u root -- sh -c 'echo '\''hi'\''; sleep 9'"
        );
        assert_eq!(cmd.client_deadline(), Some(Duration::from_secs(40)));
    }

    #[test]
    fn sudo_refusals_are_told_apart_from_the_command_failing() {
        assert_eq!(
            sudo_refusal("web3", Some(1), "sudo: a password is required\n").as_deref(),
            Some(
                "sudo needs a password on web3: sudo: a password is required (give the task \
                 `become_password:`, or allow the command with NOPASSWD in the host's sudoers)"
            )
        );
        assert_eq!(
            sudo_refusal(
                "web3",
                Some(1),
                "Sorry, try again.\nsudo: 1 incorrect password attempt\n"
            )
            .as_deref(),
            Some("sudo refused the password on web3: sudo: 1 incorrect password attempt")
        );
        assert_eq!(
            sudo_refusal("h", Some(127), "sh: 1: sudo: not found\n").as_deref(),
            Some("sudo is not installed on h")
        );
        assert_eq!(
            sudo_refusal("h", Some(1), "Sorry, user app is not allowed to execute '/bin/sh -c id' as nobody on h.\n")
                .as_deref(),
            Some("sudo refused on h: Sorry, user app is not allowed to execute '/bin/sh -c id' as nobody on h.")
        );
        // The command's own failure, even one that mentions a password.
        assert_eq!(
            sudo_refusal("h", Some(1), "grep: a password is required\n"),
            None
        );
        assert_eq!(
            sudo_refusal("h", Some(2), "sudo: a password is required\n"),
            None
        );
    }

    #[test]
    fn become_user_and_password_on_stdin() {
        let app = |password| {
            RemoteCommand::new("id -un")
                .sudo(Some(Become {
                    user: "app user".into(),
                    password,
                }))
                .to_shell()
        };
        assert_eq!(app(false), "sudo -n -u 'app user' -- sh -c 'id -un'");
        assert_eq!(
            app(true),
            "sudo -S -p '' -u 'app user' -- sh -c 'exec </dev/null; id -un'"
        );
    }

    #[test]
    fn install_file_quotes_paths_and_sets_mode() {
        assert_eq!(
            install_file("/srv/a b/.x.tmp", "/srv/a b/x", Some(0o644), None),
            "set -e; chmod 0644 '/srv/a b/.x.tmp'; mv -f '/srv/a b/.x.tmp' '/srv/a b/x'; sha256sum '/srv/a b/x'"
        );
        assert_eq!(
            install_file("/srv/.x.tmp", "/srv/x", None, Some("app:web")),
            "set -e; chown 'app:web' /srv/.x.tmp; chmod \"$(printf %o $((0666 & ~0$(umask))))\" /srv/.x.tmp; mv -f /srv/.x.tmp /srv/x; sha256sum /srv/x"
        );
    }

    #[test]
    fn install_as_root_copies_into_a_new_private_file_beside_dest() {
        assert_eq!(
            install_file_as_root("/tmp/ferry-upload.Ab1", "/tmp/ferry-upload.Ab1/upload", "/etc/app b.env", Some(0o600), Some("app")),
            "set -e; t=$(mktemp /etc/.ferry-tmp-XXXXXXXXXX); trap 'rm -f \"$t\"' EXIT; \
             cat /tmp/ferry-upload.Ab1/upload > \"$t\"; chown app \"$t\"; chmod 0600 \"$t\"; mv -f \"$t\" '/etc/app b.env'; \
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
            sh(&install_file(tmp.to_str().unwrap(), dest_s, asked, None));
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
                None,
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
