//! What ferry itself calls over HTTP(S): controller-side health endpoints and
//! notification webhooks, through ureq with rustls (on ring, which russh
//! already builds). ureq is blocking: a request runs on tokio's blocking
//! pool, bounded by its timeout there too.
//!
//! Certificates are always verified, against the system's trust store
//! (`SSL_CERT_FILE` / `SSL_CERT_DIR` replace it, as with OpenSSL) plus the
//! PEM certificates of `FERRY_CA_FILE` (an internal CA, a self-signed
//! endpoint). There is no switch to turn verification off.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// The environment variable naming extra trusted CA certificates (PEM).
pub const CA_FILE_ENV: &str = "FERRY_CA_FILE";

/// At most this much of a response body is read (the rest is ignored).
const BODY_LIMIT: u64 = 1 << 20;

/// Why a request got no HTTP answer; each names the URL (or the CA file).
#[derive(Clone, Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: only http:// and https:// URLs are supported here")]
    NotHttp { url: String },
    /// Connecting, TLS, sending or reading failed.
    #[error("{url}: {problem}")]
    Failed { url: String, problem: String },
    #[error("no answer from {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("{} ({CA_FILE_ENV}): {problem}", path.display())]
    CaFile { path: PathBuf, problem: String },
}

/// An HTTP client with its trust roots loaded.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    /// A client trusting the system's roots and the certificates of `ca_file`.
    ///
    /// # Errors
    /// `ca_file` cannot be read or holds no PEM certificate.
    pub fn new(ca_file: Option<&Path>) -> Result<Client, HttpError> {
        let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        if let Some(path) = ca_file {
            roots.extend(read_ca_file(path)?);
        }
        let roots = if roots.is_empty() {
            // No system store at all (a bare container): Mozilla's roots.
            RootCerts::WebPki
        } else {
            RootCerts::new_with_certs(&roots)
        };
        let config = ureq::Agent::config_builder()
            // The caller judges the status: a health check may want a 503.
            .http_status_as_error(false)
            // A health check asks exactly its URL; a webhook is not moved.
            .max_redirects(0)
            // Straight to the endpoint, as before: a health check of a
            // host on the private network must not go through a proxy.
            .proxy(None)
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build();
        Ok(Client {
            agent: config.new_agent(),
        })
    }

    /// The process's client: trust as `FERRY_CA_FILE` says, loaded once.
    ///
    /// # Errors
    /// `FERRY_CA_FILE` names a file that cannot be used.
    pub fn shared() -> Result<&'static Client, HttpError> {
        static SHARED: OnceLock<Result<Client, HttpError>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let ca = std::env::var_os(CA_FILE_ENV).filter(|v| !v.is_empty());
                Client::new(ca.as_deref().map(Path::new))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Send one request (a POST when there is a `body`: content type and
    /// bytes) within `timeout`; returns the status code and the body (at
    /// most 1 MiB of it, lossy UTF-8).
    ///
    /// # Errors
    /// No HTTP answer: a URL ferry cannot call, the connection or TLS
    /// failed, or no answer within `timeout`.
    pub async fn request(
        &self,
        url: &str,
        body: Option<(&str, Vec<u8>)>,
        timeout: Duration,
    ) -> Result<(u16, String), HttpError> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(HttpError::NotHttp { url: url.into() });
        }
        let (agent, owned_url) = (self.agent.clone(), url.to_string());
        let body = body.map(|(content_type, bytes)| (content_type.to_string(), bytes));
        let call = tokio::task::spawn_blocking(move || {
            let response = match body {
                Some((content_type, bytes)) => agent
                    .post(&owned_url)
                    .header("Content-Type", content_type)
                    .config()
                    .timeout_global(Some(timeout))
                    .build()
                    .send(&bytes[..]),
                None => agent
                    .get(&owned_url)
                    .config()
                    .timeout_global(Some(timeout))
                    .build()
                    .call(),
            }?;
            let code = response.status().as_u16();
            let mut bytes = Vec::new();
            response
                .into_body()
                .into_reader()
                .take(BODY_LIMIT)
                .read_to_end(&mut bytes)?;
            Ok::<_, ureq::Error>((code, String::from_utf8_lossy(&bytes).into_owned()))
        });
        match call.await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(ureq::Error::Timeout(_))) => Err(HttpError::Timeout {
                url: url.into(),
                timeout,
            }),
            Ok(Err(error)) => Err(HttpError::Failed {
                url: url.into(),
                problem: describe(&error),
            }),
            Err(join) => Err(HttpError::Failed {
                url: url.into(),
                problem: join.to_string(),
            }),
        }
    }
}

/// Send one request with the process's client; see [`Client::request`].
///
/// # Errors
/// As [`Client::request`], or `FERRY_CA_FILE` cannot be used.
pub async fn request(
    url: &str,
    body: Option<(&str, Vec<u8>)>,
    timeout: Duration,
) -> Result<(u16, String), HttpError> {
    Client::shared()?.request(url, body, timeout).await
}

fn read_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, HttpError> {
    let problem = |problem: String| HttpError::CaFile {
        path: path.to_path_buf(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|e| problem(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert.to_owned()),
            Ok(_) => {}
            Err(e) => return Err(problem(e.to_string())),
        }
    }
    if certs.is_empty() {
        return Err(problem(
            "no PEM certificate in it (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certs)
}

/// ureq's error with its causes (rustls says why a certificate is refused).
fn describe(error: &ureq::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests;
