//! The artifact a deploy ships: a controller file mapped once and shared by
//! every host's upload, or a URL the hosts fetch themselves.

use std::fmt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::Digest as _;

/// A sha256 as 64 lowercase hex digits. Checked before it is compared or
/// becomes part of a path: a host's metadata is remote text (`promote`
/// names its cache files after it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid sha256 `{0}`: want 64 lowercase hex digits")]
pub struct InvalidSha256(pub String);

impl Sha256 {
    pub fn parse(text: &str) -> Result<Sha256, InvalidSha256> {
        if text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Sha256(text.to_string()))
        } else {
            Err(InvalidSha256(text.chars().take(80).collect()))
        }
    }

    /// The checksum of what `hasher` has read.
    pub fn of(hasher: sha2::Sha256) -> Sha256 {
        Sha256(hex::encode(hasher.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An optional field read from a host: an invalid value reads as absent
    /// (the rest of the record stays usable).
    pub fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Sha256>, D::Error> {
        let text = Option::<serde_json::Value>::deserialize(d)?;
        Ok(text
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .and_then(|t| Sha256::parse(t).ok()))
    }
}

impl std::ops::Deref for Sha256 {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sha256 {
    type Error = InvalidSha256;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Sha256::parse(&s)
    }
}

impl From<Sha256> for String {
    fn from(s: Sha256) -> String {
        s.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Sha256 {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// The artifact, with its checksum.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub source: ArtifactSource,
    pub name: String,
    pub sha256: Sha256,
}

#[derive(Clone, Debug)]
pub enum ArtifactSource {
    /// A controller file, streamed to each host over its SSH session. Its
    /// bytes are mapped once and shared by every host's upload.
    File { path: PathBuf, bytes: Bytes },
    /// A URL every host fetches itself (curl or wget), so a large fleet does
    /// not pull every byte through the controller.
    Url(String),
}

impl Artifact {
    pub async fn open(path: &Path) -> std::io::Result<Artifact> {
        let owned = path.to_path_buf();
        let (bytes, sha256) = tokio::task::spawn_blocking(move || map_and_hash(&owned))
            .await
            .map_err(std::io::Error::other)??;
        Ok(Artifact {
            source: ArtifactSource::File {
                path: path.to_path_buf(),
                bytes,
            },
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256,
        })
    }

    /// An artifact the hosts download; `sha256` is checked on each host.
    pub fn remote(url: &str, sha256: Sha256) -> Artifact {
        let name = url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .filter(|n| !n.is_empty())
            .unwrap_or("artifact")
            .to_string();
        Artifact {
            source: ArtifactSource::Url(url.to_string()),
            name,
            sha256,
        }
    }
}

/// Map the file (one copy in memory however many hosts receive it) and hash it.
fn map_and_hash(path: &Path) -> std::io::Result<(Bytes, Sha256)> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Err(std::io::Error::other("the artifact is empty"));
    }
    // SAFETY: the map is read-only and private to this process; a file
    // changed under it mid-deploy fails the sha256 check on the hosts.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    let sha256 = Sha256::of(sha2::Sha256::new_with_prefix(&map[..]));
    Ok((Bytes::from_owner(map), sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_64_lowercase_hex_before_it_becomes_a_path() {
        let good = "ab".repeat(32);
        assert_eq!(Sha256::parse(&good).unwrap().as_str(), good);
        for bad in [
            "",
            "abc",
            &"AB".repeat(32),
            &"a".repeat(65),
            &format!("/../../{}", "a".repeat(58)),
            &format!("{}/x", "a".repeat(62)),
        ] {
            assert!(Sha256::parse(bad).is_err(), "{bad:?} accepted");
        }
        let from_json: Result<Sha256, _> = serde_json::from_str("\"abc\"");
        assert!(from_json.is_err());
    }
}
