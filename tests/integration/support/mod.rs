//! What every integration test shares, defined once:
//! - `fleet`: real sshd hosts on loopback (shared with `examples/`);
//! - `project`: a throwaway project folder, release tarballs, and the domain
//!   verbs (`deploy`, `rollback`, `status`, `history`, `lock`, `unlock`,
//!   `run_cmd`) that start a `Ferry`;
//! - `ferry`: the `Ferry` builder that runs the real binary and checks its
//!   exit code, stdout, stderr and files in one call;
//! - `host`: what a test reads on a host (`current`, history, the lock) and
//!   waiting helpers. No test file imports from another test file.

#[path = "../../support/fleet.rs"]
pub(crate) mod fleet;
#[path = "../../support/http_peer.rs"]
pub(crate) mod http_peer;

pub(crate) mod ferry;
pub(crate) mod host;
pub(crate) mod project;
