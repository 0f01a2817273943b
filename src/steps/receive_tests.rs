use std::path::Path;
use std::process::{Command, Output, Stdio};

use sha2::Digest as _;

use super::*;

fn id(s: &str) -> ReleaseId {
    ReleaseId::parse(s).unwrap()
}

fn plain(sha256: &str, compression: Compression) -> Receive<'_> {
    Receive {
        deploy_to: "/srv/app",
        id: Box::leak(Box::new(id("r1"))),
        sha256,
        meta_json: "{}",
        linked_dirs: &[],
        linked_files: &[],
        tag: "t1",
        fetch_url: None,
        compression,
    }
}

#[test]
fn receive_by_exact_string() {
    assert_eq!(
        receive(&plain("abc", Compression::Gzip)),
        format!(
            "set -e; umask 022; d=/srv/app; w=.ferry/artifacts/.r1.t1.partial; t=releases/.r1.t1.tmp; \
             perl -e 'fcntl(STDIN, 1031, 1048576)' 2>/dev/null || :; \
             mkdir -p \"$d\"/shared \"$d/$w\" \"$d/$t\"; cd \"$d\"; trap 'rm -rf \"$w\" \"$t\"' EXIT; {clean}; \
             mkfifo \"$w/h\" \"$w/x\" \"$w/y\"; \
             if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r < \"$w/h\" > \"$w/sum\" & \
             else sha256sum < \"$w/h\" > \"$w/sum\" & fi; ph=$!; \
             if command -v zstd >/dev/null 2>&1; then zstd -dcq --format=gzip < \"$w/x\" > \"$w/y\" & \
             elif command -v pigz >/dev/null 2>&1; then pigz -dc < \"$w/x\" > \"$w/y\" & \
             else gzip -dc < \"$w/x\" > \"$w/y\" & fi; pz=$!; tar -xf - -C \"$t\" < \"$w/y\" & px=$!; \
             e=0; if command -v perl >/dev/null 2>&1; then perl -e '{FAN_OUT}' \"$w/a\" \"$w/x\" > \"$w/h\" || e=$?; \
             else tee -p \"$w/a\" \"$w/x\" > \"$w/h\" || e=$?; fi; u=0; x=0; \
             wait $px || x=$?; wait $pz || x=$?; \
             got=; wait $ph && read -r got _ < \"$w/sum\" || :; [ $u = 0 ] || exit $u; \
             if [ \"$got\" != abc ]; then echo \"checksum mismatch: expected sha256 abc, the host received $got\" >&2; exit 65; fi; \
             [ $e = 0 ] || exit $e; [ $x = 0 ] || tar -xf \"$w/a\" -C \"$t\"; \
             printf '%s\\n' '{{}}' > \"$t/.ferry-release.json\"; \
             mv -f \"$w/a\" .ferry/artifacts/r1.artifact; \
             if [ -e releases/r1 ]; then \
             if [ current -ef releases/r1 ]; then echo 'release r1 is the one `current` points at: it is never replaced' >&2; exit 66; fi; \
             mv -T releases/r1 releases/.r1.t1.old; fi; \
             mv -T \"$t\" releases/r1; trap - EXIT; rm -rf \"$w\" releases/.r1.t1.old",
            clean = clean_stale("t1"),
        )
    );
}

#[test]
fn an_unknown_compression_is_unpacked_from_the_checked_copy() {
    let script = receive(&plain("abc", Compression::Unknown));
    assert!(script.contains("mkfifo \"$w/h\"; "), "{script}");
    assert!(
        script.contains("else tee -p \"$w/a\" > \"$w/h\" || e=$?; fi"),
        "{script}"
    );
    let check = script.find("checksum mismatch").unwrap();
    let extract = script.find("tar -xf \"$w/a\" -C \"$t\"; ").unwrap();
    let publish = script.find("mv -T \"$t\" releases/r1").unwrap();
    assert!(check < extract && extract < publish, "{script}");
}

#[test]
fn a_url_is_downloaded_into_the_same_pipe() {
    let mut r = plain("abc", Compression::None);
    r.fetch_url = Some("https://ci/a b.tar");
    let script = receive(&r);
    let fan_out = format!(
        "perl -e '{FAN_OUT}' \"$w/a\" \"$w/x\" > \"$w/h\" < \"$w/c\" || e=$?; \
         else tee -p \"$w/a\" \"$w/x\" > \"$w/h\" < \"$w/c\" || e=$?; fi; u=0; x=0; wait $pf || u=$?; "
    );
    for part in [
        "if command -v curl >/dev/null 2>&1; then f=curl; elif command -v wget",
        "mkfifo \"$w/h\" \"$w/x\" \"$w/c\"; ",
        "tar -xf - -C \"$t\" < \"$w/x\" & px=$!; ",
        "if [ $f = curl ]; then curl -fsSL --retry 2 'https://ci/a b.tar' > \"$w/c\" & \
         else wget -q -O - 'https://ci/a b.tar' > \"$w/c\" & fi; pf=$!; ",
        fan_out.as_str(),
    ] {
        assert!(script.contains(part), "{part}\n{script}");
    }
    // The downloader is chosen before any fifo has a reader waiting.
    assert!(script.find("f=curl").unwrap() < script.find("mkfifo").unwrap());
}

#[test]
fn linked_paths_take_one_mkdir_one_rm_and_one_ln_each() {
    let dirs = ["log".to_string()];
    let files = ["config/app env".to_string()];
    let mut r = plain("abc", Compression::Gzip);
    r.linked_dirs = &dirs;
    r.linked_files = &files;
    let script = receive(&r);
    assert!(
        script.contains(
            "mkdir -p \"$d\"/shared \"$d/$w\" \"$d/$t\" \"$d\"/shared/log \"$d\"/shared/config \"$d/$t\"/config; "
        ),
        "{script}"
    );
    assert!(
        script.contains(
            "rm -rf \"$t\"/log \"$t\"/'config/app env'; \
             ln -s \"$PWD\"/shared/log \"$t\"/log; \
             ln -s \"$PWD\"/shared/'config/app env' \"$t\"/'config/app env'; mv -f"
        ),
        "{script}"
    );
    assert_eq!(parent("a/b/c"), Some("a/b"));
    assert_eq!(parent("a/"), None);
    assert_eq!(parent("a"), None);
}

/// A tar.gz of one file `blob` with `content`, and its sha256.
fn tarball(dir: &Path, content: &[u8], gzip: bool) -> (Vec<u8>, String) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("blob"), content).unwrap();
    let out = dir.join("a.tar");
    let status = Command::new("tar")
        .arg(if gzip { "-czf" } else { "-cf" })
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .arg("blob")
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&out).unwrap();
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    (bytes, sha)
}

/// Run `script` with `shell`, `input` on its stdin and `path` as PATH.
fn run(shell: &str, script: &str, input: &[u8], path: &str) -> Output {
    let mut child = Command::new(shell)
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread: the script may stop reading early.
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The script, run by dash and bash on a local folder: with OpenSSL and
/// with only coreutils' sha256sum; gzip, plain and unknown-to-ferry
/// archives. The release, its metadata and the stored copy are in place,
/// and nothing temporary is left.
/// A PATH with only coreutils' tools, gzip and tar: no OpenSSL, no perl
/// (so `tee` fans out), no zstd.
fn only_coreutils() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for tool in [
        "sha256sum",
        "tee",
        "tar",
        "gzip",
        "mkdir",
        "mkfifo",
        "mv",
        "rm",
    ] {
        std::os::unix::fs::symlink(Path::new("/usr/bin").join(tool), dir.path().join(tool))
            .unwrap();
    }
    dir
}

#[test]
fn receive_run_by_a_real_shell_unpacks_checks_and_keeps_the_artifact() {
    let only_coreutils = only_coreutils();
    let no_openssl = only_coreutils.path().to_str().unwrap().to_string();
    // A zstd that cannot read gzip (built without zlib): the host unpacks
    // the checked stored copy instead.
    let broken = tempfile::tempdir().unwrap();
    let zstd = broken.path().join("zstd");
    std::fs::write(
        &zstd,
        "#!/bin/sh\necho 'zstd: unsupported format' >&2; exit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&zstd, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let broken_zstd = format!("{}:/usr/bin:/bin", broken.path().display());
    for shell in ["/bin/sh", "/bin/bash"] {
        for path in ["/usr/bin:/bin", no_openssl.as_str(), broken_zstd.as_str()] {
            for compression in [Compression::Gzip, Compression::None, Compression::Unknown] {
                let dir = tempfile::tempdir().unwrap();
                let content = b"ferry one pass".repeat(10_000);
                let (bytes, sha) = tarball(dir.path(), &content, compression != Compression::None);
                let deploy_to = dir.path().join("app");
                let mut r = plain(&sha, compression);
                let deploy = deploy_to.to_str().unwrap().to_string();
                r.deploy_to = &deploy;
                r.meta_json = "{\"id\":\"r1\"}";
                let out = run(shell, &receive(&r), &bytes, path);
                let what = format!("{shell} PATH={path} {compression:?}: {out:?}");
                assert!(out.status.success(), "{what}");
                assert_eq!(
                    std::fs::read(deploy_to.join("releases/r1/blob")).unwrap(),
                    content,
                    "{what}"
                );
                assert_eq!(
                    std::fs::read_to_string(deploy_to.join("releases/r1/.ferry-release.json"))
                        .unwrap(),
                    "{\"id\":\"r1\"}\n"
                );
                assert_eq!(
                    std::fs::read(deploy_to.join(".ferry/artifacts/r1.artifact")).unwrap(),
                    bytes,
                    "{what}"
                );
                assert_eq!(names(&deploy_to.join("releases")), ["r1"], "{what}");
                assert_eq!(
                    names(&deploy_to.join(".ferry/artifacts")),
                    ["r1.artifact"],
                    "{what}"
                );
            }
        }
    }
}

/// A wrong digest (bytes appended, as `FERRY_TEST_CORRUPT_UPLOAD` does; a
/// stream cut short; a wrong expected sha) exits 65, says so, and leaves
/// neither the release's temporary folder nor the work folder; an older
/// release of the same id stays.
#[test]
fn a_wrong_digest_removes_everything_temporary() {
    let only_coreutils = only_coreutils();
    let paths = ["/usr/bin:/bin", only_coreutils.path().to_str().unwrap()];
    for (shell, path) in [
        ("/bin/sh", paths[0]),
        ("/bin/bash", paths[0]),
        ("/bin/sh", paths[1]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let content = b"x".repeat(300_000);
        let (bytes, sha) = tarball(dir.path(), &content, true);
        let deploy_to = dir.path().join("app");
        std::fs::create_dir_all(deploy_to.join("releases/r1")).unwrap();
        let deploy = deploy_to.to_str().unwrap().to_string();
        let corrupt = [&bytes[..], b"corruption"].concat();
        let cut = &bytes[..bytes.len() / 2];
        for (input, expect) in [
            (&corrupt[..], sha.as_str()),
            (cut, sha.as_str()),
            (&bytes[..], &"0".repeat(64)[..]),
        ] {
            let mut r = plain(expect, Compression::Gzip);
            r.deploy_to = &deploy;
            let out = run(shell, &receive(&r), input, path);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(65), "{shell} {path}: {stderr}");
            assert!(
                stderr.contains(&format!("checksum mismatch: expected sha256 {expect}")),
                "{stderr}"
            );
            assert_eq!(names(&deploy_to.join("releases")), ["r1"], "{shell}");
            assert!(names(&deploy_to.join(".ferry/artifacts")).is_empty());
            assert!(names(&deploy_to.join("releases/r1")).is_empty());
        }
    }
}

/// A tarball that is no tar (digest right): `tar`'s error, its status, and
/// nothing left.
#[test]
fn a_broken_archive_with_the_right_digest_fails_on_tar() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = b"not a tarball at all".repeat(100);
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let deploy_to = dir.path().join("app");
    let deploy = deploy_to.to_str().unwrap().to_string();
    let only_coreutils = only_coreutils();
    let no_perl = only_coreutils.path().to_str().unwrap();
    for (compression, path) in [
        (Compression::Gzip, "/usr/bin:/bin"),
        (Compression::None, "/usr/bin:/bin"),
        (Compression::Gzip, no_perl),
    ] {
        let mut r = plain(&sha, compression);
        r.deploy_to = &deploy;
        let out = run("/bin/sh", &receive(&r), &bytes, path);
        assert!(!out.status.success(), "{out:?}");
        assert_ne!(out.status.code(), Some(65), "{out:?}");
        assert!(names(&deploy_to.join("releases")).is_empty());
        assert!(names(&deploy_to.join(".ferry/artifacts")).is_empty());
    }
}

#[test]
fn clean_stale_by_exact_string() {
    assert_eq!(
        clean_stale("t1"),
        "if [ -f .ferry/lock/info.json ]; then set --; \
         for f in .ferry/artifacts/.*.partial releases/.*.tmp releases/.*.old .current.*; do \
         case $f in *.t1.*) continue;; releases/* | .ferry/artifacts/*) [ -e \"$f\" ] || continue;; *) [ -L \"$f\" ] || continue;; esac; \
         [ \"$f\" -nt .ferry/lock/info.json ] || set -- \"$@\" \"$f\"; done; \
         [ $# = 0 ] || rm -rf -- \"$@\" || :; fi"
    );
    let script = receive(&plain("abc", Compression::Gzip));
    // Before this run's own fifos exist.
    assert!(
        script.find(&clean_stale("t1")).unwrap() < script.find("mkfifo").unwrap(),
        "{script}"
    );
}

/// Run by dash: only stale names older than the lock go (a work folder, an
/// old-style partial file, temporary folders, a link); a newer one, this
/// run's own, a release and the kept artifact stay; no lock, no cleanup.
#[test]
fn clean_stale_removes_only_old_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |script: &str| {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    run(
        "mkdir -p .ferry/artifacts/.r6.x.partial releases/r1 releases/.r9.x.tmp/a releases/.r8.x.old \
         releases/.r5.t1.tmp && touch .ferry/artifacts/.r9.x.partial .ferry/artifacts/r1.artifact \
         && ln -s releases/r1 .current.x",
    );
    run(&clean_stale("t1"));
    assert!(d.join("releases/.r9.x.tmp").exists(), "no lock: left alone");
    run("touch -d '1 hour ago' releases/.r9.x.tmp releases/.r8.x.old .ferry/artifacts/.r9.x.partial \
         .ferry/artifacts/.r6.x.partial releases/.r5.t1.tmp releases/r1 \
         && touch -h -d '1 hour ago' .current.x \
         && mkdir .ferry/lock && touch .ferry/lock/info.json \
         && touch -d '1 hour' .ferry/artifacts/.r7.y.partial");
    run(&clean_stale("t1"));
    for gone in [
        ".ferry/artifacts/.r9.x.partial",
        ".ferry/artifacts/.r6.x.partial",
        "releases/.r9.x.tmp",
        "releases/.r8.x.old",
        ".current.x",
    ] {
        assert!(std::fs::symlink_metadata(d.join(gone)).is_err(), "{gone}");
    }
    for kept in [
        ".ferry/artifacts/.r7.y.partial",
        ".ferry/artifacts/r1.artifact",
        "releases/r1",
        "releases/.r5.t1.tmp",
    ] {
        assert!(d.join(kept).exists(), "{kept}");
    }
}

/// The wide pipe is really set on the script's stdin (Linux, with perl,
/// which Debian always has): `F_GETPIPE_SZ` (1032) reads it back.
#[test]
fn the_pipe_from_sshd_is_made_one_mib_wide() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{WIDE_PIPE}perl -e 'print fcntl(STDIN, 1032, 0)'"))
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1048576");
}

/// The perl fan-out behaves as `tee -p`: a full disk on one output is said,
/// makes the status 1 and the other outputs still get every byte; a pipe
/// closed early (`tar` that stopped) is dropped without an error.
#[test]
fn the_fan_out_feeds_every_output_to_the_end_as_tee_p_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let input = b"0123456789".repeat(300_000);
    let fan_out = format!("perl -e '{FAN_OUT}'");
    for tee in [fan_out.as_str(), "tee -p"] {
        let out = run(
            "/bin/sh",
            &format!("{tee} /dev/full {d}/x > {d}/h"),
            &input,
            "/usr/bin:/bin",
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{tee}: {stderr}");
        assert!(
            stderr.contains("/dev/full: No space left on device"),
            "{tee}: {stderr}"
        );
        assert_eq!(std::fs::read(dir.path().join("x")).unwrap(), input, "{tee}");
        assert_eq!(std::fs::read(dir.path().join("h")).unwrap(), input, "{tee}");
        let out = run(
            "/bin/sh",
            &format!("{{ {tee} {d}/a; echo $? > {d}/status; }} | head -c 10 > /dev/null"),
            &input,
            "/usr/bin:/bin",
        );
        let status = std::fs::read_to_string(dir.path().join("status")).unwrap();
        assert_eq!(status, "0\n", "{tee}: {out:?}");
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), input, "{tee}");
    }
}
