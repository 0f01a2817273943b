//! Writing a file to a host over SFTP, streamed from disk or memory.

use std::path::Path;

use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};
use tokio::io::{AsyncRead, AsyncWriteExt};

use super::{Session, SshError};

pub enum UploadSource<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

impl Session {
    /// An SFTP session on a new channel of this host's connection.
    async fn sftp(&self) -> Result<SftpSession, SshError> {
        let channel = self.channel().await?;
        channel.request_subsystem(true, "sftp").await?;
        self.count_wait();
        SftpSession::new(channel.into_stream())
            .await
            .map_err(|e| SshError::Upload(format!("cannot start SFTP: {e}")))
    }

    /// Write `source` to `remote_path`, a new file only its owner can read
    /// (see [`create_private`]). The caller moves it into place and gives it
    /// its final mode afterwards: SFTP rename cannot replace an existing file.
    pub async fn upload(
        &self,
        source: UploadSource<'_>,
        remote_path: &str,
    ) -> Result<u64, SshError> {
        let sftp = self.sftp().await?;
        // As for exec's input: a write waiting for window space is never
        // woken when the connection ends, so the end is watched too.
        let result = tokio::select! {
            written = write_file(&sftp, source, remote_path) => written,
            () = self.closed() => Err(SshError::Upload("the connection was lost".into())),
        };
        if !self.is_closed() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), sftp.close()).await;
        }
        result
    }
}

async fn write_file(
    sftp: &SftpSession,
    source: UploadSource<'_>,
    remote_path: &str,
) -> Result<u64, SshError> {
    let (flags, attributes) = create_private();
    let mut remote = sftp
        .open_with_flags_and_attributes(remote_path, flags, attributes)
        .await
        .map_err(|e| SshError::Upload(format!("cannot create {remote_path}: {e}")))?;
    let written = match source {
        UploadSource::File(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| SshError::Upload(format!("cannot read {}: {e}", path.display())))?;
            copy(file, &mut remote, remote_path).await?
        }
        UploadSource::Bytes(bytes) => copy(bytes, &mut remote, remote_path).await?,
    };
    remote
        .shutdown()
        .await
        .map_err(|e| SshError::Upload(format!("cannot finish {remote_path}: {e}")))?;
    Ok(written)
}

/// How an upload's temporary file is opened: created here, never an
/// existing file or a planted link (`O_EXCL`), with mode 0600 from its first
/// byte on. A secret with `mode: "0600"` is never readable by others, even
/// while it is written; the install step then sets the final mode.
fn create_private() -> (OpenFlags, FileAttributes) {
    let attributes = FileAttributes {
        permissions: Some(0o600),
        ..FileAttributes::empty()
    };
    (
        OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE,
        attributes,
    )
}

async fn copy(
    mut from: impl AsyncRead + Unpin,
    to: &mut russh_sftp::client::fs::File,
    remote_path: &str,
) -> Result<u64, SshError> {
    tokio::io::copy(&mut from, to)
        .await
        .map_err(|e| SshError::Upload(format!("writing {remote_path}: {e}")))
}

impl Session {
    /// Copy a host file into `file` (opened by the caller, who chose its
    /// name and mode) over SFTP, streamed.
    pub async fn download(
        &self,
        remote_path: &str,
        file: &mut tokio::fs::File,
    ) -> Result<u64, SshError> {
        let sftp = self.sftp().await?;
        let result = async {
            let mut remote = sftp
                .open(remote_path)
                .await
                .map_err(|e| SshError::Upload(format!("cannot open {remote_path}: {e}")))?;
            let n = tokio::io::copy(&mut remote, file)
                .await
                .map_err(|e| SshError::Upload(format!("reading {remote_path}: {e}")))?;
            file.sync_all()
                .await
                .map_err(|e| SshError::Upload(format!("writing the local copy: {e}")))?;
            Ok(n)
        }
        .await;
        let _ = sftp.close().await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_is_created_new_and_private() {
        let (flags, attributes) = create_private();
        assert!(flags.contains(OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE));
        assert!(!flags.contains(OpenFlags::TRUNCATE));
        assert_eq!(attributes.permissions, Some(0o600));
    }
}
