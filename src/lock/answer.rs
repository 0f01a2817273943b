//! Reading the hosts' answers to the lock scripts: one marker line, then
//! data. Nothing after the marker line is ever taken for a marker.

use super::{script, Holder, LockInfo};

/// A host's text, cut short and with control characters escaped.
pub(super) fn shown(text: &str) -> String {
    if text.is_empty() {
        return "empty".into();
    }
    let cut: String = text.chars().take(120).collect();
    format!("{cut:?}")
}

/// The first marker line of an answer and what follows it. Lines before it
/// (a login shell that prints) are skipped; whatever follows is data.
pub(super) fn marker(out: &str) -> Option<(&str, &str)> {
    let mut rest = out;
    loop {
        let (line, after) = match rest.split_once('\n') {
            Some((line, after)) => (line, after),
            None => (rest, ""),
        };
        let line = line.trim_end_matches('\r');
        if line.starts_with("@@") {
            return Some((line, after));
        }
        if after.is_empty() {
            return None;
        }
        rest = after;
    }
}

/// An answer of [`script::acquire`] or [`script::show`].
#[derive(Debug)]
pub(super) enum Answer {
    /// Taken by `run_id`; the output of `then` when it succeeded.
    Taken(Option<String>),
    /// Taken over by `run_id` ([`script::take_over`]); as `Taken`.
    TakenOver(Option<String>),
    Held(Holder),
    Free,
    Unrecognised,
}

pub(super) fn parse_answer(out: &str, run_id: &str) -> Answer {
    let Some((line, rest)) = marker(out) else {
        return Answer::Unrecognised;
    };
    // What `then` left: its output, when it succeeded.
    let then = || {
        let body = rest.trim_end_matches('\n');
        let (body, last) = body.rsplit_once('\n').unwrap_or(("", body));
        let ok = last.strip_prefix(script::MARK_THEN) == Some("0");
        ok.then(|| body.to_string())
    };
    if line.strip_prefix(script::MARK_TAKEN) == Some(run_id) {
        return Answer::Taken(then());
    }
    if line.strip_prefix(script::MARK_TAKEN_OVER) == Some(run_id) {
        return Answer::TakenOver(then());
    }
    if line == script::MARK_FREE {
        return Answer::Free;
    }
    let Some(fields) = line.strip_prefix(script::MARK_HELD) else {
        return Answer::Unrecognised;
    };
    let mut fields = fields.split(' ');
    let host_now = fields.next().and_then(|n| n.parse().ok());
    let sum = fields.collect::<Vec<_>>().join(" ");
    let raw = rest.lines().next().unwrap_or("");
    let info = serde_json::from_str::<LockInfo>(raw).map_err(|_| raw.to_string());
    Answer::Held(Holder {
        info,
        host_now,
        sum,
    })
}

/// `None` when renewed; why the lock is lost otherwise.
pub(super) fn renewal_lost(out: &str) -> Option<String> {
    match marker(out) {
        Some((line, _)) if line.starts_with(script::MARK_RENEWED) => None,
        Some((line, rest)) if line == script::MARK_LOST => {
            let raw = rest.lines().next().unwrap_or("");
            Some(match serde_json::from_str::<LockInfo>(raw) {
                Ok(info) => format!("it is now held by {}", info.describe()),
                Err(_) if raw.is_empty() => "it was removed".into(),
                Err(_) => format!("its info is now {}", shown(raw)),
            })
        }
        _ => Some(format!(
            "unrecognised answer to its renewal: {}",
            shown(out)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::tests::info;

    fn info_json(info: &LockInfo) -> String {
        serde_json::to_string(info).unwrap()
    }

    #[test]
    fn a_reason_with_marker_text_stays_data() {
        let freeze = info_json(&info("freeze, ask @@taken-care-of team\n@@taken run2"));
        let out = format!("@@held 100 123 45\n{freeze}\n");
        let Answer::Held(holder) = parse_answer(&out, "run2") else {
            panic!("held expected")
        };
        assert_eq!(
            holder.info.unwrap().reason,
            "freeze, ask @@taken-care-of team\n@@taken run2"
        );
        assert_eq!(
            (holder.host_now, holder.sum.as_str()),
            (Some(100), "123 45")
        );
        // `@@taken` counts only as the whole marker line with this run's id.
        assert!(matches!(
            parse_answer("@@taken-care-of\n", "run2"),
            Answer::Unrecognised
        ));
        assert!(matches!(
            parse_answer("@@taken run1\n", "run2"),
            Answer::Unrecognised
        ));
        assert!(matches!(
            parse_answer("x @@taken run2\n", "run2"),
            Answer::Unrecognised
        ));
    }

    #[test]
    fn the_state_read_with_the_lock_follows_the_marker() {
        // A login shell's noise before the marker is skipped.
        let out = "welcome\n@@taken run1\n@@current releases/r1\n@@then 0\n";
        let Answer::Taken(Some(state)) = parse_answer(out, "run1") else {
            panic!("taken expected")
        };
        assert_eq!(state, "@@current releases/r1");
        // A failed `then` is not state, even when it printed a status line.
        let out = "@@taken run1\n@@then 0\n\n@@then 1\n";
        assert!(matches!(parse_answer(out, "run1"), Answer::Taken(None)));
        assert!(matches!(
            parse_answer("@@taken run1\n", "run1"),
            Answer::Taken(None)
        ));
        let out = "@@taken-over run1\n@@current releases/r1\n@@then 0\n";
        let Answer::TakenOver(Some(state)) = parse_answer(out, "run1") else {
            panic!("taken over expected")
        };
        assert_eq!(state, "@@current releases/r1");
        assert!(matches!(
            parse_answer("@@taken-over run1\n", "run2"),
            Answer::Unrecognised
        ));
    }

    #[test]
    fn unreadable_info_is_reported_as_such() {
        let Answer::Held(holder) = parse_answer("@@held 100 4294967295 0\n\n", "r") else {
            panic!("held expected")
        };
        assert!(holder.info.is_err());
        assert!(!holder.is_stale());
        let said = holder.describe();
        assert!(said.contains("info.json is unreadable (empty)"), "{said}");
        assert!(!said.contains("run ?"), "{said}");
    }

    #[test]
    fn renewals_say_why_the_lock_is_lost() {
        assert_eq!(renewal_lost("@@renewed 99\n"), None);
        assert_eq!(renewal_lost("@@lost\n\n").unwrap(), "it was removed");
        let other = info_json(&LockInfo {
            run_id: "run2".into(),
            ..info("deploy r9")
        });
        let why = renewal_lost(&format!("@@lost\n{other}\n")).unwrap();
        assert!(why.contains("now held by ci@runner (run run2)"), "{why}");
    }
}
