//! Rewriting a `known_hosts` file after a host key rotation
//! (`ferry known-hosts --update`): the host's old lines are replaced by one
//! line with its new key, in place; every other line, comment and hashed
//! entry stays byte for byte. The file is replaced atomically (a temporary
//! file in the same folder, renamed over it) and keeps its mode.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::{lookup_name, parse_line, HostKey, Marker, Names};

/// One host's new key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub host: String,
    pub port: u16,
    pub key: HostKey,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(
        "{}:{line} names other hosts too (`{names}`), so ferry will not change it for {host}: \
         edit that line by hand",
        file.display()
    )]
    Shared {
        file: PathBuf,
        line: usize,
        names: String,
        host: String,
    },
    #[error("cannot write {}: {source}", file.display())]
    Write {
        file: PathBuf,
        source: std::io::Error,
    },
}

/// What [`apply`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Hosts whose old key lines were replaced.
    pub replaced: usize,
    /// Hosts that had no line and got one.
    pub added: usize,
}

/// `SHA256:...` of a key as written in `known_hosts`, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &HostKey) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    match b64.decode(&key.blob) {
        Ok(blob) => format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(blob))
        ),
        Err(_) => format!("(unreadable {} key)", key.algorithm),
    }
}

/// The text of `file` with `edits` made; `None` lines are kept as they are.
fn edit_text(file: &Path, text: &str, edits: &[Edit]) -> Result<(String, Applied), UpdateError> {
    let mut lines: Vec<Option<String>> = text
        .split_inclusive('\n')
        .map(|l| Some(l.to_string()))
        .collect();
    let mut appended = String::new();
    let mut applied = Applied::default();
    for edit in edits {
        let name = lookup_name(&edit.host, edit.port);
        let new_line = |names: &str| format!("{names} {} {}\n", edit.key.algorithm, edit.key.blob);
        let mut first: Option<(usize, String)> = None;
        let mut already = false;
        for (i, slot) in lines.iter_mut().enumerate() {
            let Some(line) = slot.as_deref() else {
                continue;
            };
            let Some(entry) = parse_line(file, i + 1, line) else {
                continue;
            };
            if entry.marker != Marker::None || !entry.names.matches(&name) {
                continue;
            }
            if entry.key == edit.key {
                already = true;
                continue;
            }
            let names = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            let own = match &entry.names {
                Names::Hashed { .. } => true,
                Names::Patterns(p) => p.len() == 1 && p[0] == name.to_lowercase(),
            };
            if !own {
                return Err(UpdateError::Shared {
                    file: file.to_path_buf(),
                    line: i + 1,
                    names,
                    host: name,
                });
            }
            *slot = None;
            if first.is_none() {
                first = Some((i, names));
            }
        }
        match first {
            Some((i, names)) => {
                if !already {
                    lines[i] = Some(new_line(&names));
                }
                applied.replaced += 1;
            }
            None if !already => {
                appended.push_str(&new_line(&name));
                applied.added += 1;
            }
            None => {}
        }
    }
    let mut out: String = lines.into_iter().flatten().collect();
    if !appended.is_empty() && !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&appended);
    Ok((out, applied))
}

/// Make `edits` in `file` (created, 0600, when missing), atomically.
pub fn apply(file: &Path, edits: &[Edit]) -> Result<Applied, UpdateError> {
    use std::os::unix::fs::PermissionsExt as _;
    let write_err = |source| UpdateError::Write {
        file: file.to_path_buf(),
        source,
    };
    // A symlinked file is rewritten where it points, and stays a link.
    let target = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let (text, mode) = match std::fs::read_to_string(&target) {
        Ok(text) => {
            let mode = std::fs::metadata(&target)
                .map_err(write_err)?
                .permissions()
                .mode();
            (text, mode & 0o7777)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), 0o600),
        Err(e) => return Err(write_err(e)),
    };
    let (new_text, applied) = edit_text(file, &text, edits)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(write_err)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".known_hosts.ferry-")
        .tempfile_in(&dir)
        .map_err(write_err)?;
    tmp.write_all(new_text.as_bytes()).map_err(write_err)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(&target).map_err(|e| write_err(e.error))?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(blob: &str) -> HostKey {
        HostKey {
            algorithm: "ssh-ed25519".into(),
            blob: blob.into(),
        }
    }

    fn edit(host: &str, blob: &str) -> Edit {
        Edit {
            host: host.into(),
            port: 2222,
            key: key(blob),
        }
    }

    #[test]
    fn a_changed_key_is_replaced_in_place_and_everything_else_kept() {
        // `|1|...`: [127.0.0.9]:2222 hashed (salt "salt"), untouched.
        let text = "# fleet\n[127.0.0.1]:2222 ssh-ed25519 OLD1 comment\n\
                    |1|c2FsdA==|0CWkrnF7AQ0n8WySjOa0jkpXndQ= ssh-ed25519 NINE\n\
                    [127.0.0.1]:2222 ssh-rsa OLDRSA\n\
                    @revoked [127.0.0.1]:2222 ssh-ed25519 BAD\n\
                    [127.0.0.2]:2222 ssh-ed25519 TWO";
        let (out, applied) = edit_text(
            Path::new("kh"),
            text,
            &[edit("127.0.0.1", "NEW1"), edit("127.0.0.3", "THREE")],
        )
        .unwrap();
        assert_eq!(
            out,
            "# fleet\n[127.0.0.1]:2222 ssh-ed25519 NEW1\n\
             |1|c2FsdA==|0CWkrnF7AQ0n8WySjOa0jkpXndQ= ssh-ed25519 NINE\n\
             @revoked [127.0.0.1]:2222 ssh-ed25519 BAD\n\
             [127.0.0.2]:2222 ssh-ed25519 TWO\n[127.0.0.3]:2222 ssh-ed25519 THREE\n"
        );
        assert_eq!(
            applied,
            Applied {
                replaced: 1,
                added: 1
            }
        );
    }

    #[test]
    fn a_hashed_entry_stays_hashed_and_a_shared_line_is_refused() {
        use hmac::{Hmac, Mac};
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"salt").unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hashed = format!(
            "|1|{}|{}",
            b64.encode("salt"),
            b64.encode(mac.finalize().into_bytes())
        );
        let (out, _) = edit_text(
            Path::new("kh"),
            &format!("{hashed} ssh-ed25519 OLD\n"),
            &[edit("127.0.0.1", "NEW")],
        )
        .unwrap();
        assert_eq!(out, format!("{hashed} ssh-ed25519 NEW\n"));

        let err = edit_text(
            Path::new("kh"),
            "# x\n[127.0.0.*]:2222 ssh-ed25519 OLD\n",
            &[edit("127.0.0.1", "NEW")],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "kh:2 names other hosts too (`[127.0.0.*]:2222`), so ferry will not change it for \
             [127.0.0.1]:2222: edit that line by hand"
        );
    }

    #[test]
    fn the_file_is_replaced_with_its_mode_and_no_temporary_left() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, "[127.0.0.1]:2222 ssh-ed25519 OLD\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        apply(&file, &[edit("127.0.0.1", "NEW")]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "[127.0.0.1]:2222 ssh-ed25519 NEW\n"
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["known_hosts"]);

        let fresh = dir.path().join("sub/new_hosts");
        apply(&fresh, &[edit("127.0.0.5", "FIVE")]).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn fingerprints_read_like_ssh_keygen() {
        // ssh-keygen -lf of this key prints this fingerprint.
        let k = HostKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        )
        .unwrap();
        assert_eq!(
            fingerprint(&k),
            "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
        );
    }
}
