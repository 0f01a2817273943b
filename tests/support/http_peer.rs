//! The far side of ferry's HTTP calls in tests, shared by the unit tests of
//! src/http and the integration tests (webhooks, https health checks): a
//! test CA made by Debian's openssl, and reading one request's body.

use std::io::BufRead;
use std::path::Path;
use std::process::Command;

/// Reads one HTTP request's head and returns its body (by Content-Length);
/// a connection that ends early gives what arrived.
pub(crate) fn read_request_body(reader: &mut impl BufRead) -> Vec<u8> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        // A refused handshake or a closed connection ends here.
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    body
}

/// Writes `ca.pem`, `ca-key.pem`, `cert.pem` and `key.pem` into `dir`.
pub(crate) fn make_test_ca(dir: &Path) {
    let openssl = |args: &[&str]| {
        let made = Command::new("openssl")
            .args(["req", "-x509", "-nodes", "-days", "2", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(args)
            .current_dir(dir)
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
}
