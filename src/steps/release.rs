//! Release scripts: one script per host per step, so each step costs one
//! round trip. Every interpolated value is quoted here.

use super::quote;
use crate::release::ReleaseId;

/// Markers in the output of [`inspect`].
pub const MARK_CURRENT: &str = "@@current ";
pub const MARK_RELEASE: &str = "@@release ";
pub const MARK_META: &str = "@@meta ";
pub const MARK_HISTORY: &str = "@@history";

/// Exit status of [`receive`] when the artifact's checksum is wrong.
pub const CHECKSUM_EXIT: u32 = 65;

/// Report `current`, the release folders, the current release's metadata
/// and the end of the history, in one round trip.
pub fn inspect(deploy_to: &str) -> String {
    format!(
        "d={d}; [ -d \"$d\" ] || exit 0; cd \"$d\" || exit 1; \
         printf '{MARK_CURRENT}%s\\n' \"$(readlink current 2>/dev/null)\"; \
         for r in releases/*/; do [ -d \"$r\" ] || continue; r=${{r%/}}; printf '{MARK_RELEASE}%s\\n' \"${{r##*/}}\"; done; \
         m=; IFS= read -r m 2>/dev/null < current/.ferry-release.json; printf '{MARK_META}%s\\n' \"$m\"; \
         echo {MARK_HISTORY}; tail -n 500 .ferry/history.jsonl 2>/dev/null; true",
        d = quote(deploy_to)
    )
}

/// What [`receive`] needs besides the artifact bytes on stdin.
pub struct Receive<'a> {
    pub deploy_to: &'a str,
    pub id: &'a ReleaseId,
    pub sha256: &'a str,
    /// One line of JSON: the release's `.ferry-release.json`.
    pub meta_json: &'a str,
    pub linked_dirs: &'a [String],
    pub linked_files: &'a [String],
    /// Unique per run, so concurrent or crashed runs never share temp names.
    pub tag: &'a str,
    /// Download from here on the host instead of reading stdin.
    pub fetch_url: Option<&'a str>,
}

/// Read the artifact from stdin into `.ferry/artifacts`, verify its sha256,
/// extract it into a temporary folder, link shared paths, and only then
/// rename the folder to `releases/<id>`: a half-made release is never
/// visible under its name. Anything temporary is removed on failure.
pub fn receive(r: &Receive) -> String {
    let id = r.id.as_str();
    let tag = quote(r.tag);
    let mut s = format!(
        "set -e; umask 022; d={d}; mkdir -p \"$d\"; cd \"$d\"; \
         mkdir -p releases shared .ferry/artifacts; \
         a=.ferry/artifacts/.{id}.{tag}.partial; t=releases/.{id}.{tag}.tmp; \
         trap 'rm -rf \"$a\" \"$t\"' EXIT; \
         {fetch}; \
         {HASH}; \
         if [ \"$got\" != {sha} ]; then echo \"checksum mismatch: expected sha256 {sha_plain}, the host received $got\" >&2; exit {CHECKSUM_EXIT}; fi; \
         mkdir \"$t\"; tar -xf \"$a\" -C \"$t\"; \
         printf '%s\\n' {meta} > \"$t/.ferry-release.json\"; ",
        d = quote(r.deploy_to),
        sha = quote(r.sha256),
        sha_plain = r.sha256,
        meta = quote(r.meta_json),
        fetch = fetch(r.fetch_url),
    );
    for dir in r.linked_dirs {
        let q = quote(dir);
        s.push_str(&format!(
            "mkdir -p shared/{q}; rm -rf \"$t\"/{q}; mkdir -p \"$(dirname \"$t\"/{q})\"; ln -s \"$PWD\"/shared/{q} \"$t\"/{q}; "
        ));
    }
    for file in r.linked_files {
        let q = quote(file);
        s.push_str(&format!(
            "mkdir -p \"$(dirname shared/{q})\"; rm -f \"$t\"/{q}; mkdir -p \"$(dirname \"$t\"/{q})\"; ln -s \"$PWD\"/shared/{q} \"$t\"/{q}; "
        ));
    }
    s.push_str(&format!(
        "mv -f \"$a\" .ferry/artifacts/{id}.artifact; \
         if [ -e releases/{id} ]; then mv -T releases/{id} releases/.{id}.{tag}.old; rm -rf releases/.{id}.{tag}.old; fi; \
         mv -T \"$t\" releases/{id}; trap - EXIT"
    ));
    s
}

/// `got=<sha256 of $a>`. OpenSSL's digest uses the CPU's SHA instructions
/// where coreutils' sha256sum does not (21 ms vs ~4 ms for 5 MiB here): the
/// hash is most of a host's CPU per deploy after unpacking.
const HASH: &str =
    "if command -v openssl >/dev/null 2>&1; then got=$(openssl dgst -sha256 -r \"$a\"); \
     else got=$(sha256sum \"$a\"); fi; got=${got%% *}";

/// Write the artifact to `$a`: from stdin, or downloaded by the host.
fn fetch(url: Option<&str>) -> String {
    let Some(url) = url else {
        return "cat > \"$a\"".into();
    };
    let url = quote(url);
    format!(
        "if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 2 -o \"$a\" {url}; \
         elif command -v wget >/dev/null 2>&1; then wget -q -O \"$a\" {url}; \
         else echo 'neither curl nor wget is installed on the host' >&2; exit 127; fi"
    )
}

/// Point `current` at `releases/<id>` atomically (a new link renamed over the
/// old one, never remove-then-create) and append `history_line`. Fenced:
/// only while run `run_id` holds the host's lock with an unexpired lease
/// (else exit `lock::LOST_LOCK_EXIT`, nothing changed).
pub fn switch(deploy_to: &str, id: &ReleaseId, run_id: &str, history_line: &str) -> String {
    let id = id.as_str();
    format!(
        "set -e; cd {d}; test -d releases/{id}; {fence}; \
         ln -sfn releases/{id} .current.{tag}; mv -T .current.{tag} current; \
         printf '%s\\n' {line} >> .ferry/history.jsonl",
        d = quote(deploy_to),
        fence = super::lock::fence(run_id),
        tag = quote(run_id),
        line = quote(history_line),
    )
}

/// Append one line to the host's history.
pub fn record(deploy_to: &str, history_line: &str) -> String {
    format!(
        "cd {d} && mkdir -p .ferry && printf '%s\\n' {line} >> .ferry/history.jsonl",
        d = quote(deploy_to),
        line = quote(history_line),
    )
}

/// Delete releases (and their kept artifacts).
pub fn prune(deploy_to: &str, ids: &[ReleaseId]) -> String {
    let mut s = format!("cd {} && rm -rf", quote(deploy_to));
    for id in ids {
        s.push_str(&format!(" releases/{id} .ferry/artifacts/{id}.artifact"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ReleaseId {
        ReleaseId::parse(s).unwrap()
    }

    /// The host-side hash, run by a local `sh`: with OpenSSL on PATH, and
    /// with only coreutils' sha256sum (hosts without OpenSSL).
    #[test]
    fn host_hash_matches_with_and_without_openssl() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        std::fs::write(&file, b"ferry").unwrap();
        let want = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(b"ferry"))
        };
        let only_coreutils = dir.path().join("bin");
        std::fs::create_dir(&only_coreutils).unwrap();
        std::os::unix::fs::symlink("/usr/bin/sha256sum", only_coreutils.join("sha256sum")).unwrap();
        for path in ["/usr/bin:/bin", only_coreutils.to_str().unwrap()] {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("{HASH}; printf %s \"$got\""))
                .env("PATH", path)
                .env("a", &file)
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "PATH={path}");
        }
    }

    #[test]
    fn switch_renames_a_new_link_over_current() {
        assert_eq!(
            switch("/srv/my app", &id("r2"), "run1", r#"{"event":"switched"}"#),
            format!(
                "set -e; cd '/srv/my app'; test -d releases/r2; {}; \
             ln -sfn releases/r2 .current.run1; mv -T .current.run1 current; \
             printf '%s\\n' '{{\"event\":\"switched\"}}' >> .ferry/history.jsonl",
                crate::steps::lock::fence("run1")
            )
        );
    }

    #[test]
    fn prune_removes_release_and_artifact() {
        assert_eq!(
            prune("/srv/app", &[id("r1"), id("r2")]),
            "cd /srv/app && rm -rf releases/r1 .ferry/artifacts/r1.artifact releases/r2 .ferry/artifacts/r2.artifact"
        );
    }

    #[test]
    fn receive_verifies_before_extracting_and_renames_last() {
        let script = receive(&Receive {
            deploy_to: "/srv/app",
            id: &id("r1"),
            sha256: "abc",
            meta_json: "{}",
            linked_dirs: &["log".into()],
            linked_files: &["config/app env".into()],
            tag: "t1",
            fetch_url: None,
        });
        let verify = script.find("sha256sum").unwrap();
        let extract = script.find("tar -xf").unwrap();
        let publish = script.find("mv -T \"$t\" releases/r1").unwrap();
        assert!(verify < extract && extract < publish, "{script}");
        assert!(
            script.contains("ln -s \"$PWD\"/shared/log \"$t\"/log"),
            "{script}"
        );
        assert!(script.contains("shared/'config/app env'"), "{script}");
        assert!(script.contains("cat > \"$a\";"), "{script}");
    }
}
