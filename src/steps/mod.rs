//! What a host runs, as data. Each builder returns the exact shell text sent
//! over SSH; unit tests compare it by string. Interpolated values are quoted
//! here and nowhere else.

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

    pub fn sudo(mut self, sudo: bool) -> Self {
        self.sudo = sudo;
        self
    }

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
            line.push_str(&format!("timeout -k {KILL_AFTER_SECS} {secs} "));
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

/// Move a freshly written temporary file into place with its mode, then
/// print its sha256 so the controller can verify what landed.
pub fn install_file(tmp: &str, dest: &str, mode: Option<u32>) -> String {
    let tmp = quote(tmp);
    let dest_q = quote(dest);
    let mut script = String::from("set -e; ");
    if let Some(mode) = mode {
        script.push_str(&format!("chmod {mode:04o} {tmp}; "));
    }
    script.push_str(&format!("mv -f {tmp} {dest_q}; sha256sum {dest_q}"));
    script
}

/// Remove a temporary file left by a failed upload.
pub fn remove_file(path: &str) -> String {
    format!("rm -f {}", quote(path))
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
            r#"timeout -k 5 30 sudo -n sh -c 'echo '\''hi'\''; sleep 9'"#
        );
        assert_eq!(cmd.client_deadline(), Some(Duration::from_secs(40)));
    }

    #[test]
    fn install_file_quotes_paths_and_sets_mode() {
        assert_eq!(
            install_file("/srv/a b/.x.tmp", "/srv/a b/x", Some(0o644)),
            "set -e; chmod 0644 '/srv/a b/.x.tmp'; mv -f '/srv/a b/.x.tmp' '/srv/a b/x'; sha256sum '/srv/a b/x'"
        );
    }
}
