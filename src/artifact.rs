//! The artifact a deploy ships: a controller file mapped once and shared by
//! every host's upload, or a URL the hosts fetch themselves.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// The artifact, with its checksum.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub source: ArtifactSource,
    pub name: String,
    pub sha256: String,
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
    pub fn remote(url: &str, sha256: &str) -> Artifact {
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
            sha256: sha256.to_ascii_lowercase(),
        }
    }
}

/// Map the file (one copy in memory however many hosts receive it) and hash it.
fn map_and_hash(path: &Path) -> std::io::Result<(Bytes, String)> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Err(std::io::Error::other("the artifact is empty"));
    }
    // SAFETY: the map is read-only and private to this process; a file
    // changed under it mid-deploy fails the sha256 check on the hosts.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    let sha256 = hex::encode(Sha256::digest(&map[..]));
    Ok((Bytes::from_owner(map), sha256))
}
