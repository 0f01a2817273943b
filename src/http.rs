//! A minimal HTTP/1.0 client for what ferry itself calls over HTTP: health
//! endpoints and notification webhooks on plain `http://` URLs. (https
//! health checks run through curl on the host: `from: host`.)

use std::fmt::Write as _;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a request got no HTTP answer; each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: only http:// URLs are supported here")]
    NotHttp { url: String },
    #[error("{url}: bad port")]
    BadPort { url: String },
    /// Connecting, sending or reading failed.
    #[error("{url}: {error}")]
    Io { url: String, error: std::io::Error },
    #[error("{url}: not an HTTP response")]
    NotAResponse { url: String },
}

/// Send one request; returns the status code and the body (at most 1 MiB).
///
/// # Errors
/// No HTTP answer: a URL ferry cannot call, or the connection failed.
pub async fn request(
    method: &str,
    url: &str,
    body: Option<(&str, &[u8])>,
) -> Result<(u16, String), HttpError> {
    let io = |error| HttpError::Io {
        url: url.to_string(),
        error,
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HttpError::NotHttp { url: url.into() })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| HttpError::BadPort { url: url.into() })?,
        ),
        None => (authority, 80),
    };
    let mut stream = TcpStream::connect((host, port)).await.map_err(io)?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: ferry\r\nConnection: close\r\n");
    if let Some((content_type, bytes)) = body {
        let _ = write!(
            head,
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            bytes.len()
        );
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.map_err(io)?;
    if let Some((_, bytes)) = body {
        stream.write_all(bytes).await.map_err(io)?;
    }
    let mut response = Vec::new();
    stream
        .take(1 << 20)
        .read_to_end(&mut response)
        .await
        .map_err(io)?;
    let text = String::from_utf8_lossy(&response);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| HttpError::NotAResponse { url: url.into() })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}
