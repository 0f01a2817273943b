//! Steps sent together: when nothing stands between two steps on the
//! controller, the second one's script follows the first in the same shell
//! and the same round trip (one SSH command, one session on the host, not
//! two). A marker says where the first ended, so each step's result is told
//! apart as if it had been sent alone.

/// On stderr between [`receive_then_switch`]'s two parts: the receive (its
/// digest checked, the release in place) succeeded.
pub const MARK_RECEIVED: &str = "@@received";
/// On stdout before a folded check's output ([`then_check`]).
pub const MARK_CHECK_OUTPUT: &str = "@@check-output";
/// On stdout after it, with the check's exit status.
pub const MARK_CHECK: &str = "@@check ";

/// `receive`, then, once it succeeded, `switch`; both run under `set -e`, so
/// a failure of either ends the script with its own status, and nothing is
/// switched unless the whole receive succeeded.
pub fn receive_then_switch(receive: &str, switch: &str) -> String {
    format!("{receive}\necho {MARK_RECEIVED} >&2\n{switch}")
}

/// `script`, then, once it succeeded, one attempt of a health check (its
/// command line, bounded on the host by its own `timeout`). The attempt never
/// fails the script: its stderr and exit status come on stdout between
/// [`MARK_CHECK_OUTPUT`] and [`MARK_CHECK`].
pub fn then_check(script: &str, check: &str) -> String {
    format!(
        "{script}\necho {MARK_CHECK_OUTPUT}; c=0; {check} </dev/null 2>&1 >/dev/null || c=$?; echo \"{MARK_CHECK}$c\""
    )
}

/// What a failed [`receive_then_switch`] left on stderr after the receive
/// succeeded: the switch's own stderr; `None` when the receive failed.
pub fn after_received(stderr: &str) -> Option<&str> {
    let mut at = 0;
    let mut found = None;
    for line in stderr.split_inclusive('\n') {
        at += line.len();
        if line.trim_end_matches('\n') == MARK_RECEIVED {
            found = Some(at);
        }
    }
    found.map(|i| &stderr[i..])
}

/// A folded check's exit status and what it said on stderr, from the
/// script's stdout; `None` when the markers are not both there (the attempt
/// is then made on its own).
pub fn check_result(stdout: &str) -> Option<(u32, &str)> {
    let mut at = 0;
    let mut output = None;
    let mut result = None;
    for line in stdout.split_inclusive('\n') {
        let text = line.trim_end_matches('\n');
        if text == MARK_CHECK_OUTPUT {
            output = Some(at + line.len());
            result = None;
        } else if let (Some(start), Some(code)) = (output, text.strip_prefix(MARK_CHECK)) {
            if let Ok(code) = code.parse::<u32>() {
                result = Some((code, &stdout[start..at]));
            }
        }
        at += line.len();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_follows_a_receive_after_its_marker() {
        assert_eq!(
            receive_then_switch("set -e; receive", "set -e; switch"),
            "set -e; receive\necho @@received >&2\nset -e; switch"
        );
    }

    #[test]
    fn a_check_follows_and_never_fails_the_script() {
        assert_eq!(
            then_check("set -e; switch", "timeout -k 5 5 sh -c 'test -f x'"),
            "set -e; switch\necho @@check-output; c=0; timeout -k 5 5 sh -c 'test -f x' </dev/null 2>&1 >/dev/null || c=$?; echo \"@@check $c\""
        );
    }

    #[test]
    fn the_switch_stderr_is_what_follows_the_last_marker() {
        let table: [(&str, Option<&str>); 5] = [
            ("tar: bad\n", None),
            ("", None),
            (
                "@@received\nlost the lock: it was removed\n",
                Some("lost the lock: it was removed\n"),
            ),
            ("tar: note\n@@received\n", Some("")),
            // Host text that looks like the marker before the real one.
            (
                "@@received\nx\n@@received\nmv: failed\n",
                Some("mv: failed\n"),
            ),
        ];
        for (stderr, switch) in table {
            assert_eq!(after_received(stderr), switch, "{stderr:?}");
        }
        assert_eq!(after_received("x@@received\n"), None);
    }

    #[test]
    fn a_check_result_is_read_between_its_markers() {
        let table: [(&str, Option<(u32, &str)>); 7] = [
            ("@@check-output\n@@check 0\n", Some((0, ""))),
            (
                "receive says\n@@check-output\nno page\n@@check 1\n",
                Some((1, "no page\n")),
            ),
            ("@@check-output\n@@check 124\n", Some((124, ""))),
            // The check's own text that looks like the end: the last one counts.
            (
                "@@check-output\n@@check 0\n@@check 1\n",
                Some((1, "@@check 0\n")),
            ),
            // Cut before the end (more than the kept output): made again.
            ("@@check-output\nlots\n", None),
            ("", None),
            ("@@check 0\n", None),
        ];
        for (stdout, result) in table {
            assert_eq!(check_result(stdout), result, "{stdout:?}");
        }
    }
}
