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
    pub compression: Compression,
}

/// How an artifact's tar stream is compressed: read from its first bytes
/// (a controller file) or its name (a URL). GNU tar recognises compression
/// only in an archive it can read twice, never in a pipe, so a host that
/// unpacks while it receives is told which decompressor to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar archive.
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    /// Not recognised: the host's `tar` reads the stored copy and decides.
    Unknown,
}

/// How a host unpacks the artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unpack {
    /// While it streams in: `tar` reads the output of the first of these
    /// decompressors the host has (none: the stream itself).
    Stream(&'static [&'static str]),
    /// From the stored copy, once its digest is checked.
    Stored,
}

impl Compression {
    /// From the magic numbers at the start of the file.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.get(257..262) == Some(b"ustar") {
            Compression::None
        } else {
            Compression::Unknown
        }
    }

    /// From a file name (`shop.tar.gz`, `shop.tgz`, ...).
    pub fn from_name(name: &str) -> Compression {
        let name = name.to_ascii_lowercase();
        let ends = |suffixes: &[&str]| suffixes.iter().any(|s| name.ends_with(s));
        if ends(&[".tar.gz", ".tgz"]) {
            Compression::Gzip
        } else if ends(&[".tar.bz2", ".tbz2", ".tbz"]) {
            Compression::Bzip2
        } else if ends(&[".tar.xz", ".txz"]) {
            Compression::Xz
        } else if ends(&[".tar.zst", ".tzst"]) {
            Compression::Zstd
        } else if ends(&[".tar"]) {
            Compression::None
        } else {
            Compression::Unknown
        }
    }

    pub fn unpack(self) -> Unpack {
        match self {
            Compression::None => Unpack::Stream(&[]),
            // zstd reads gzip through zlib, whose inflate is 4x faster than
            // gzip's own (5 MiB: 7.5 ms against 33 ms here, the largest
            // part of a host's CPU per deploy); pigz uses zlib too. A zstd
            // built without zlib fails, and the host unpacks the stored copy.
            Compression::Gzip => {
                Unpack::Stream(&["zstd -dcq --format=gzip", "pigz -dc", "gzip -dc"])
            }
            Compression::Bzip2 => Unpack::Stream(&["bzip2 -dc"]),
            Compression::Xz => Unpack::Stream(&["xz -dc"]),
            Compression::Zstd => Unpack::Stream(&["zstd -dcq"]),
            Compression::Unknown => Unpack::Stored,
        }
    }
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
            compression: Compression::sniff(&bytes),
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
            compression: Compression::from_name(&name),
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
    fn compression_from_magic_and_from_name() {
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        for (head, want) in [
            (&[0x1f, 0x8b, 8][..], Compression::Gzip),
            (b"BZh91AY", Compression::Bzip2),
            (&[0xfd, b'7', b'z', b'X', b'Z', 0, 0][..], Compression::Xz),
            (&[0x28, 0xb5, 0x2f, 0xfd, 0][..], Compression::Zstd),
            (&tar[..], Compression::None),
            (b"PK\x03\x04", Compression::Unknown),
            (b"", Compression::Unknown),
        ] {
            assert_eq!(Compression::sniff(head), want, "{head:?}");
        }
        for (name, want) in [
            ("shop-1.4.tar.gz", Compression::Gzip),
            ("SHOP.TGZ", Compression::Gzip),
            ("a.tar.xz", Compression::Xz),
            ("a.tar.zst", Compression::Zstd),
            ("a.tar.bz2", Compression::Bzip2),
            ("a.tar", Compression::None),
            ("artifact", Compression::Unknown),
        ] {
            assert_eq!(Compression::from_name(name), want, "{name}");
        }
        assert_eq!(
            Compression::Gzip.unpack(),
            Unpack::Stream(&["zstd -dcq --format=gzip", "pigz -dc", "gzip -dc"])
        );
        assert_eq!(Compression::Unknown.unpack(), Unpack::Stored);
    }

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
