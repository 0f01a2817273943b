//! https against a real TLS server on 127.0.0.1 with a certificate of a
//! test CA (made by Debian's openssl): trusted only through the CA file.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{Client, HttpError};

const TIMEOUT: Duration = Duration::from_secs(5);

/// A test CA and a certificate for 127.0.0.1 it signed, by Debian's
/// openssl: (dir, ca.pem, cert.pem, key.pem).
fn test_ca() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let openssl = |args: &[&str]| {
        let made = std::process::Command::new("openssl")
            .args(["req", "-x509", "-nodes", "-days", "2"])
            .args(ec)
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl (Debian package openssl)");
        assert!(made.status.success(), "{made:?}");
    };
    openssl(&[
        "-subj",
        "/CN=ferry test CA",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
    ]);
    let (ca, cert, key) = (at("ca.pem"), at("cert.pem"), at("key.pem"));
    (dir, ca, cert, key)
}

/// Serve every connection one answer over TLS: `body` with status 200, and
/// send the request's body (after its head) back through the channel.
fn tls_server(
    cert: &Path,
    key: &Path,
    body: &'static str,
) -> (u16, std::sync::mpsc::Receiver<String>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut reader = BufReader::new(&mut tls);
            let mut length = 0;
            loop {
                let mut line = String::new();
                // A refused handshake ends here: next connection.
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut got = vec![0; length];
            let _ = reader.read_exact(&mut got);
            let _ = tx.send(String::from_utf8_lossy(&got).into_owned());
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = tls.write_all(head.as_bytes());
            let _ = tls.write_all(body.as_bytes());
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (port, rx)
}

#[tokio::test]
async fn https_works_with_the_ca_file_and_is_refused_without_it() {
    let (_dir, ca, cert, key) = test_ca();
    let (port, bodies) = tls_server(&cert, &key, "release r2\n");
    let url = format!("https://127.0.0.1:{port}/health");

    let trusting = Client::new(Some(&ca)).unwrap();
    let got = trusting.request(&url, None, TIMEOUT).await.unwrap();
    assert_eq!(got, (200, "release r2\n".to_string()));
    let posted = trusting
        .request(
            &url,
            Some(("application/json", b"{\"a\":1}".to_vec())),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(posted.0, 200);
    let seen: Vec<String> = bodies.try_iter().collect();
    assert_eq!(seen, ["", "{\"a\":1}"]);

    // Verification is on by default: the system's roots do not know it.
    let refused = Client::new(None)
        .unwrap()
        .request(&url, None, TIMEOUT)
        .await
        .unwrap_err();
    let text = refused.to_string();
    assert!(matches!(refused, HttpError::Failed { .. }), "{text}");
    assert!(
        text.contains(&url) && text.contains("certificate"),
        "{text}"
    );
}

#[tokio::test]
async fn a_bad_ca_file_or_url_is_named() {
    let missing = Client::new(Some(Path::new("/nonexistent/ca.pem")))
        .err()
        .unwrap();
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/ca.pem (FERRY_CA_FILE): "),
        "{missing}"
    );
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = Client::new(Some(&empty)).err().unwrap();
    assert!(
        err.to_string()
            .ends_with("no PEM certificate in it (-----BEGIN CERTIFICATE-----)"),
        "{err}"
    );
    let ftp = Client::new(None)
        .unwrap()
        .request("ftp://127.0.0.1/x", None, TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        ftp.to_string(),
        "ftp://127.0.0.1/x: only http:// and https:// URLs are supported here"
    );
}
