//! How many direct-tcpip channels one SSH connection to an OpenSSH sshd
//! carries at once (the measurement behind `ssh::jump`'s channel cap).
//!
//! ```text
//! cargo run --example fleet -- up --hosts 1 --dir /tmp/cap
//! cargo run --example tunnel_cap -- /tmp/cap [COUNT]
//! ```
//!
//! Logs in to the fleet's first host with its key (host key checked against
//! the fleet's `known_hosts`), then opens COUNT (default 2000) tunnels to
//! a TCP listener of its own on 127.0.0.1, one after the other, all kept
//! open; prints how many opened, how many the listener accepted, and the
//! first refusal.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use russh::client;
use russh::keys::{check_known_hosts_path, load_secret_key, PrivateKeyWithHashAlg};

struct Checked {
    host: String,
    port: u16,
    known_hosts: PathBuf,
}

impl client::Handler for Checked {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Ok(false);
        };
        Ok(check_known_hosts_path(&self.host, self.port, key, &self.known_hosts).unwrap_or(false))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: tunnel_cap FLEET_DIR [COUNT]")?);
    let want: usize = args.next().map_or(Ok(2000), |n| n.parse())?;
    let inventory = std::fs::read_to_string(dir.join("inventory.yaml"))?;
    let address = inventory
        .split("address: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .ok_or("no host address in the inventory")?
        .to_string();
    let port = 2222;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let target_port = listener.local_addr()?.port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });

    let handler = Checked {
        host: address.clone(),
        port,
        known_hosts: dir.join("known_hosts"),
    };
    let config = Arc::new(client::Config::default());
    let mut handle = client::connect(config, (address.as_str(), port), handler).await?;
    let key = load_secret_key(dir.join("id_ed25519"), None)?;
    let auth = handle
        .authenticate_publickey("root", PrivateKeyWithHashAlg::new(Arc::new(key), None))
        .await?;
    if !auth.success() {
        return Err("login refused".into());
    }
    let mut open = Vec::new();
    let mut refusal = None;
    for _ in 0..want {
        match handle
            .channel_open_direct_tcpip("127.0.0.1", u32::from(target_port), "127.0.0.1", 0)
            .await
        {
            Ok(channel) => open.push(channel),
            Err(e) => {
                refusal = Some(e.to_string());
                break;
            }
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    println!(
        "{address}:{port}: asked {want}, opened {} channels on one connection, listener accepted {}; first refusal: {}",
        open.len(),
        accepted.load(Ordering::SeqCst),
        refusal.as_deref().unwrap_or("none")
    );
    Ok(())
}
