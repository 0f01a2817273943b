//! Environment lock scripts: `mkdir <deploy_to>/.ferry/lock` is atomic on
//! every POSIX filesystem, so two runs can never both hold a host.

use super::quote;

pub const MARK_TAKEN: &str = "@@taken";
pub const MARK_HELD: &str = "@@held ";
pub const MARK_THEN_FAILED: &str = "@@then-failed";

/// Take the lock or report who holds it (one line of JSON after the mark).
/// `then` runs once the lock is taken, in the same round trip: its output
/// follows the mark (a deploy reads the host's state there).
pub fn acquire(deploy_to: &str, info_json: &str, then: Option<&str>) -> String {
    let then = then
        .map(|t| format!(" ( {t} ) || echo {MARK_THEN_FAILED};"))
        .unwrap_or_default();
    format!(
        "d={d}; cd \"$d/.ferry\" 2>/dev/null || {{ mkdir -p \"$d/.ferry\" && cd \"$d/.ferry\"; }} || exit 1; \
         if mkdir lock 2>/dev/null; then printf '%s\\n' {info} > lock/info.json; echo {MARK_TAKEN};{then} \
         else printf '{MARK_HELD}'; cat lock/info.json 2>/dev/null || echo '{{}}'; fi",
        d = quote(deploy_to),
        info = quote(info_json),
    )
}

/// Renew the lease: rewrite the info, only while this run holds the lock.
pub fn renew(deploy_to: &str, run_id: &str, info_json: &str) -> String {
    format!(
        "cd {d}/.ferry/lock 2>/dev/null && grep -qF {run} info.json && printf '%s\\n' {info} > info.json.new && mv -f info.json.new info.json",
        d = quote(deploy_to),
        run = quote(&format!("\"run_id\":\"{run_id}\"")),
        info = quote(info_json),
    )
}

/// Release the lock if `run_id` holds it (or any holder with `run_id` None).
pub fn release(deploy_to: &str, run_id: Option<&str>) -> String {
    let guard = match run_id {
        Some(run) => format!(
            "IFS= read -r held 2>/dev/null < lock/info.json; case $held in *{}*) ;; *) exit 0;; esac; ",
            quote(&format!("\"run_id\":\"{run}\""))
        ),
        None => String::new(),
    };
    format!(
        "cd {d}/.ferry 2>/dev/null || exit 0; {guard}rm -rf lock; true",
        d = quote(deploy_to)
    )
}

/// Print the lock's info, if any.
pub fn show(deploy_to: &str) -> String {
    format!(
        "cd {d}/.ferry/lock 2>/dev/null || exit 0; printf '{MARK_HELD}'; cat info.json 2>/dev/null || echo '{{}}'",
        d = quote(deploy_to)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquire_is_one_mkdir() {
        assert_eq!(
            acquire("/srv/app", "{\"run_id\":\"r\"}", None),
            "d=/srv/app; cd \"$d/.ferry\" 2>/dev/null || { mkdir -p \"$d/.ferry\" && cd \"$d/.ferry\"; } || exit 1; \
             if mkdir lock 2>/dev/null; then printf '%s\\n' '{\"run_id\":\"r\"}' > lock/info.json; echo @@taken; \
             else printf '@@held '; cat lock/info.json 2>/dev/null || echo '{}'; fi"
        );
    }

    #[test]
    fn acquire_runs_then_only_once_taken() {
        let script = acquire("/srv/app", "{}", Some("echo state"));
        assert!(
            script.contains(
                "echo @@taken; ( echo state ) || echo @@then-failed; else printf '@@held '"
            ),
            "{script}"
        );
    }

    #[test]
    fn release_only_removes_our_lock() {
        assert_eq!(
            release("/srv/app", Some("run1")),
            "cd /srv/app/.ferry 2>/dev/null || exit 0; IFS= read -r held 2>/dev/null < lock/info.json; case $held in *'\"run_id\":\"run1\"'*) ;; *) exit 0;; esac; rm -rf lock; true"
        );
    }
}
