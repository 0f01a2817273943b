//! "Did you mean ...?" across kinds of names: a playbook, a task, a group or
//! a host. The command lists the kind it takes first, so that on a tie the
//! kind it expects wins (`check ENV deploi` → the playbook `deploy`;
//! `--limit dbs` → the group `db` before the host `db1`), and the hint says
//! which kind the name is.

use super::source::nearest;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Playbook,
    Task,
    Group,
    Host,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Playbook => "playbook",
            Kind::Task => "task",
            Kind::Group => "group",
            Kind::Host => "host",
        }
    }
}

/// The nearest name and its kind; on a tie, the earlier candidate.
pub fn nearest_named<'a>(word: &str, candidates: &[(Kind, &'a str)]) -> Option<(Kind, &'a str)> {
    let names: Vec<&str> = candidates.iter().map(|(_, n)| *n).collect();
    let best = nearest(word, &names)?;
    // Stricter than for keys: across kinds, a far guess misleads (`nope` is
    // not `site`). A shared stem, or about one edit in three letters.
    let (w, b) = (word.to_lowercase(), best.to_lowercase());
    let stem = b.len() >= 3 && (w.starts_with(&b) || b.starts_with(&w));
    let close = strsim::damerau_levenshtein(&w, &b) <= (w.len().max(b.len()) / 3).max(1);
    if !stem && !close {
        return None;
    }
    candidates.iter().find(|(_, n)| *n == best).copied()
}

/// `, did you mean the playbook `deploy`?`, or nothing when no name is near.
pub fn did_you_mean(word: &str, candidates: &[(Kind, &str)]) -> String {
    nearest_named(word, candidates)
        .map(|(kind, name)| format!(", did you mean the {} `{name}`?", kind.noun()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row<'a> = (&'a str, &'a [(Kind, &'a str)], &'a str);

    #[test]
    fn the_nearest_name_of_any_kind_with_the_first_kind_winning_ties() {
        let names = [
            (Kind::Playbook, "deploy"),
            (Kind::Playbook, "site"),
            (Kind::Task, "uptime"),
            (Kind::Task, "motd"),
        ];
        let groups_first = [
            (Kind::Group, "web"),
            (Kind::Group, "db"),
            (Kind::Host, "db1"),
            (Kind::Host, "web1"),
        ];
        let table: &[Row] = &[
            ("deploi", &names, ", did you mean the playbook `deploy`?"),
            ("uptme", &names, ", did you mean the task `uptime`?"),
            ("zzzzzz", &names, ""),
            // Three edits from `site` and `motd`: no guess.
            ("nope", &names, ""),
            // `dbs` is one edit from both: the group wins the tie.
            ("dbs", &groups_first, ", did you mean the group `db`?"),
            // The host when it is the closer one.
            ("wbe1", &groups_first, ", did you mean the host `web1`?"),
        ];
        for (word, candidates, want) in table {
            assert_eq!(did_you_mean(word, candidates), *want, "{word}");
        }
    }
}
