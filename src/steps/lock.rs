//! Environment lock scripts: `mkdir <deploy_to>/.ferry/lock` is atomic on
//! every POSIX filesystem, so two runs can never both hold a host.
//!
//! Every answer starts with one fixed marker line; what follows it (the
//! holder's info.json, the output of `then`) is data and never read as a
//! marker. The holder's info is one line of JSON; a run's lease there is in
//! the host's own clock (`date +%s`), which is also the clock that judges it.

use super::quote;
use crate::layout::{CURRENT, HISTORY};

/// First line of [`acquire`] once taken: `@@taken <run_id>`.
pub const MARK_TAKEN: &str = "@@taken ";
/// First line when someone holds the lock: `@@held <host now> <cksum of
/// info.json>`, then the info.json line itself (data).
pub const MARK_HELD: &str = "@@held ";
/// First line of [`take_over`] once taken over: `@@taken-over <run_id>`.
pub const MARK_TAKEN_OVER: &str = "@@taken-over ";
/// [`show`]: no lock.
pub const MARK_FREE: &str = "@@free";
/// Last line of [`acquire`] with a `then` script: `@@then <exit status>`.
pub const MARK_THEN: &str = "@@then ";
/// [`renew`]: `@@renewed <lease_until>`, or `@@lost` then the info line.
pub const MARK_RENEWED: &str = "@@renewed ";
pub const MARK_LOST: &str = "@@lost";
/// [`remove_if`]: removed, found changed since it was inspected, or gone.
pub const MARK_REMOVED: &str = "@@removed";
pub const MARK_CHANGED: &str = "@@changed";
pub const MARK_GONE: &str = "@@gone";
/// Said by [`release`] when the lock it removes is this run's: still this
/// run's at the end (no other run had taken it over). Said before the `rm`,
/// which stays the script's last command (the shell runs it without a fork).
pub const MARK_RELEASED: &str = "@@released";

/// How long a lease lasts on the host without renewal, in seconds.
pub const LEASE_SECS: u64 = 60;

/// Exit status of a fenced script (the switch) when this run no longer
/// holds an unexpired lease on the host.
pub const LOST_LOCK_EXIT: u32 = 75;

/// The lock's info to write: fixed JSON (a manual lock), or a run's JSON
/// whose `lease_until` the host fills in from its own clock.
#[derive(Clone, Copy, Debug)]
pub enum Info<'a> {
    Manual(&'a str),
    /// The JSON up to and including `"lease_until":`; the host appends
    /// `<now + LEASE_SECS>}`.
    Leased(&'a str),
}

/// `j=<the info line>` (cwd-independent).
fn set_info(info: Info) -> String {
    match info {
        Info::Manual(json) => format!("j={}", quote(json)),
        Info::Leased(prefix) => format!(
            "l=$(( $(date +%s) + {LEASE_SECS} )); j={}\"$l\"'}}'",
            quote(prefix)
        ),
    }
}

/// Sets `r` to the `run_id` field of the JSON line in `$i`, and `u` to its
/// `lease_until` (digits, or empty). In JSON as serde writes it a `"` inside
/// a string is always escaped, so `"run_id":"` occurs only as the field
/// itself: a reason or holder that contains it cannot match.
const FIELDS: &str = "r=${i#*'\"run_id\":\"'}; r=${r%%'\"'*}; \
                      u=${i##*'\"lease_until\":'}; u=${u%%[!0-9]*}";

/// `$i` = the first line of `lock/info.json` (cwd: `.ferry`), empty if none.
const READ_INFO: &str = "i=; IFS= read -r i 2>/dev/null < lock/info.json";

/// Report the holder (cwd: `.ferry`, `lock` exists): host clock, checksum
/// of info.json (`- -` when unreadable), then its first line as data.
const HELD: &str = "c=$(cksum 2>/dev/null < lock/info.json) || c='- -'; \
                    i=; IFS= read -r i 2>/dev/null < lock/info.json; \
                    printf '@@held %s %s\\n%s\\n' \"$(date +%s)\" \"$c\" \"$i\"";

/// Take the lock or report who holds it. The info is written and read back
/// before the lock counts as taken: a lock whose info cannot be written
/// (disk full) is removed again and the script fails. `then` runs once the
/// lock is taken, in the same round trip: its output follows the marker
/// line and ends with `@@then <status>` (a deploy reads the host's state there).
pub fn acquire(deploy_to: &str, run_id: &str, info: Info, then: Option<&str>) -> String {
    let then = then
        .map(|t| format!(" ( {t} ); s=$?; echo; echo \"{MARK_THEN}$s\";"))
        .unwrap_or_default();
    format!(
        "d={d}; cd \"$d/.ferry\" 2>/dev/null || {{ mkdir -p \"$d/.ferry\" && cd \"$d/.ferry\"; }} || exit 1; \
         if mkdir lock 2>/dev/null; then {set}; \
         if printf '%s\\n' \"$j\" > lock/info.json && IFS= read -r w < lock/info.json && [ \"$w\" = \"$j\" ]; \
         then echo {taken};{then} \
         else rm -rf lock; echo 'cannot write .ferry/lock/info.json (disk full?): the lock was not taken' >&2; exit 1; fi; \
         else {HELD}; fi",
        d = quote(deploy_to),
        set = set_info(info),
        taken = quote(&format!("{MARK_TAKEN}{run_id}")),
    )
}

/// Take over a run's lock whose lease has expired by the host's clock:
/// compare and swap on the host, in one script. `mkdir lock/.takeover`
/// (atomic) lets one run at a time try; the info is replaced (written
/// beside it, read back, renamed over it) only while its checksum is still
/// `sum`, the one inspected, and its lease has still expired: a lock renewed,
/// released, taken or taken over since is never replaced, and a manual lock
/// (no lease) never. Answers `@@taken-over <run_id>` (then `then` as in
/// [`acquire`]) or, changed, [`MARK_HELD`] with the lock found. A lock gone
/// meanwhile is taken as [`acquire`] takes it. The takeover is appended to
/// the host's history as `history` = (JSON up to the release, JSON after
/// it), the release being the one `current` points at; a host with no
/// release yet has no history to add it to (the report still names it). A
/// takeover killed midway leaves `lock/.takeover`; one older than a minute
/// (a takeover takes milliseconds) is cleared, so a later run takes the lock
/// over with no human; a younger one leaves the lock to its taker. Should two
/// runs ever both replace the info, the fence of every switch lets only the
/// one named in it change the host.
pub fn take_over(
    deploy_to: &str,
    run_id: &str,
    info: Info,
    sum: &str,
    history: (&str, &str),
    then: Option<&str>,
) -> String {
    let then_part = then
        .map(|t| format!(" ( {t} ); s=$?; echo; echo \"{MARK_THEN}$s\";"))
        .unwrap_or_default();
    format!(
        "d={d}; cd \"$d/.ferry\" 2>/dev/null || exit 1; \
         find lock -maxdepth 1 -name .takeover -type d -mmin +1 -exec rm -rf {{}} + 2>/dev/null || :; \
         if mkdir lock/.takeover 2>/dev/null; then \
         c=$(cksum 2>/dev/null < lock/info.json) || c='- -'; {READ_INFO}; {FIELDS}; n=$(date +%s) || n=; \
         if [ \"$c\" = {sum} ] && [ -n \"$u\" ] && [ \"$u\" -lt \"$n\" ] 2>/dev/null; then {set}; \
         if printf '%s\\n' \"$j\" > lock/.takeover/info.json && IFS= read -r w < lock/.takeover/info.json && [ \"$w\" = \"$j\" ] \
         && mv -f lock/.takeover/info.json lock/info.json; then rmdir lock/.takeover; \
         k=$(readlink \"$d\"/{CURRENT} 2>/dev/null) || k=; k=${{k%/}}; k=${{k##*/}}; \
         case $k in ''|.*|*[!A-Za-z0-9._-]*) ;; *) [ ${{#k}} -gt 64 ] || {{ h=\"$d\"/{HISTORY}; \
         {{ [ ! -s \"$h\" ] || [ -z \"$(tail -c 1 \"$h\")\" ] || echo; printf '%s%s%s\\n' {pre} \"$k\" {post}; }} >> \"$h\"; }} || :;; esac; \
         echo {taken};{then_part} \
         else rm -rf lock/.takeover; echo 'cannot write .ferry/lock/info.json (disk full?): the lock was not taken over' >&2; exit 1; fi; \
         else rmdir lock/.takeover; {HELD}; fi; \
         elif [ -d lock ]; then {HELD}; else {acquire}; fi",
        d = quote(deploy_to),
        sum = quote(sum),
        set = set_info(info),
        pre = quote(history.0),
        post = quote(history.1),
        taken = quote(&format!("{MARK_TAKEN_OVER}{run_id}")),
        acquire = acquire(deploy_to, run_id, info, then),
    )
}

/// Renew the lease: rewrite the info, only while `run_id` holds the lock.
/// Answers `@@renewed <lease_until>`, or `@@lost` and the info line found.
pub fn renew(deploy_to: &str, run_id: &str, leased_prefix: &str) -> String {
    format!(
        "cd {d}/.ferry 2>/dev/null || {{ echo {MARK_LOST}; exit 0; }}; {READ_INFO}; {FIELDS}; \
         if [ \"$r\" != {run} ]; then printf '{MARK_LOST}\\n%s\\n' \"$i\"; exit 0; fi; \
         {set}; printf '%s\\n' \"$j\" > lock/info.json.new && mv -f lock/info.json.new lock/info.json \
         || {{ rm -f lock/info.json.new; exit 1; }}; echo \"{MARK_RENEWED}$l\"",
        d = quote(deploy_to),
        run = quote(run_id),
        set = set_info(Info::Leased(leased_prefix)),
    )
}

/// Release the lock if `run_id` holds it, saying [`MARK_RELEASED`] first.
pub fn release(deploy_to: &str, run_id: &str) -> String {
    format!(
        "cd {d}/.ferry 2>/dev/null || exit 0; {READ_INFO}; {FIELDS}; \
         [ \"$r\" = {run} ] || exit 0; echo {MARK_RELEASED}; rm -rf lock",
        d = quote(deploy_to),
        run = quote(run_id),
    )
}

/// [`release`] after `tail` (a host's last history lines and prune, see
/// `steps::release::tail`), in one round trip: whatever the tail does, the
/// lock is released as [`release`] releases it.
pub fn release_after(tail: &str, deploy_to: &str, run_id: &str) -> String {
    if tail.is_empty() {
        return release(deploy_to, run_id);
    }
    // Each part of the tail ends in `|| echo MARK` (groups, not subshells:
    // no fork), so the release below always runs.
    format!("{tail}; {}", release(deploy_to, run_id))
}

/// Remove the lock whoever holds it, but only if its info.json is still the
/// one inspected (`sum`: its checksum from [`show`]): a lock taken or
/// renewed since is left alone.
pub fn remove_if(deploy_to: &str, sum: &str) -> String {
    format!(
        "cd {d}/.ferry 2>/dev/null && [ -d lock ] || {{ echo {MARK_GONE}; exit 0; }}; \
         c=$(cksum 2>/dev/null < lock/info.json) || c='- -'; \
         if [ \"$c\" = {sum} ]; then rm -rf lock && echo {MARK_REMOVED}; else echo {MARK_CHANGED}; fi",
        d = quote(deploy_to),
        sum = quote(sum),
    )
}

/// Print the lock's holder (see [`MARK_HELD`]), or `@@free`.
pub fn show(deploy_to: &str) -> String {
    format!(
        "d={d}; [ -d \"$d/.ferry/lock\" ] || {{ echo {MARK_FREE}; exit 0; }}; cd \"$d/.ferry\" || exit 1; {HELD}",
        d = quote(deploy_to)
    )
}

/// The fence of a change that needs the run's lock (cwd: `deploy_to`): go on
/// only while `run_id` holds the lock with a lease not yet expired by the
/// host's clock; otherwise say why on stderr and exit [`LOST_LOCK_EXIT`].
pub fn fence(run_id: &str) -> String {
    format!(
        "i=; IFS= read -r i 2>/dev/null < .ferry/lock/info.json || :; {FIELDS}; n=$(date +%s) || :; \
         if [ -z \"$i\" ]; then echo 'lost the lock: it was removed (or its info is unreadable); not changed' >&2; exit {LOST_LOCK_EXIT}; fi; \
         if [ \"$r\" != {run} ]; then echo \"lost the lock: it is now held by run $r; not changed\" >&2; exit {LOST_LOCK_EXIT}; fi; \
         if [ -n \"$u\" ] && [ \"$u\" -ge \"$n\" ] 2>/dev/null; then :; \
         else echo \"lost the lock: its lease expired (lease_until ${{u:-none}}, host clock $n); not changed\" >&2; exit {LOST_LOCK_EXIT}; fi",
        run = quote(run_id),
    )
}

#[cfg(test)]
mod tests;
