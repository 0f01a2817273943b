//! Where ferry keeps things on a host, under `deploy_to` (Capistrano's
//! layout), in one place: the release scripts, the lock scripts, the deploy
//! stages' vars, `--plan`, `check` and `promote` all name paths through it.
//!
//! ```text
//! <deploy_to>/
//!   releases/<id>/               one folder per release (.ferry-release.json inside)
//!   current -> releases/<id>     switched by renaming a new link over it
//!   shared/                      linked into every release (linked_dirs, linked_files)
//!   .ferry/history.jsonl         what happened on this host, one JSON line per event
//!   .ferry/artifacts/<id>.artifact   the artifact of each kept release
//!   .ferry/lock/info.json        the environment's lock
//! ```

use crate::config::Vars;
use crate::release::ReleaseId;

pub const RELEASES: &str = "releases";
pub const CURRENT: &str = "current";
pub const SHARED: &str = "shared";
/// ferry's own state on the host.
pub const STATE: &str = ".ferry";
pub const HISTORY: &str = ".ferry/history.jsonl";
pub const ARTIFACTS: &str = ".ferry/artifacts";
pub const LOCK: &str = ".ferry/lock";
/// A release's metadata, inside its folder.
pub const META: &str = ".ferry-release.json";

/// `releases/<id>`, relative to `deploy_to`.
pub fn release(id: &ReleaseId) -> String {
    format!("{RELEASES}/{id}")
}

/// `.ferry/artifacts/<id>.artifact`, relative to `deploy_to`.
pub fn artifact(id: &ReleaseId) -> String {
    format!("{ARTIFACTS}/{id}.artifact")
}

/// `<deploy_to>/<rel>`.
pub fn under(deploy_to: &str, rel: &str) -> String {
    format!("{}/{rel}", deploy_to.trim_end_matches('/'))
}

/// The vars the deploy stages see besides the usual ones: `release_id`,
/// `release_path` and `previous_release` ("" when there is none). `check`
/// and `--plan` pass placeholders (`<release>`).
pub fn release_vars(extra: &Vars, deploy_to: &str, release: &str, previous: &str) -> Vars {
    let mut vars = extra.clone();
    let text = |s: String| serde_json::Value::String(s);
    vars.insert("release_id".into(), text(release.to_string()));
    vars.insert(
        "release_path".into(),
        text(under(deploy_to, &format!("{RELEASES}/{release}"))),
    );
    vars.insert("previous_release".into(), text(previous.to_string()));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_deploy_to() {
        let id = ReleaseId::parse("r1").unwrap();
        assert_eq!(release(&id), "releases/r1");
        assert_eq!(artifact(&id), ".ferry/artifacts/r1.artifact");
        assert_eq!(under("/srv/app/", &release(&id)), "/srv/app/releases/r1");
        let vars = release_vars(&Vars::new(), "/srv/app", "r1", "");
        assert_eq!(vars["release_path"], "/srv/app/releases/r1");
        assert_eq!(vars["previous_release"], "");
    }
}
