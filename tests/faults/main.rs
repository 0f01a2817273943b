//! The fault-injection suite (issue 12, item 5): real sshd fleets of 10 to
//! 50 hosts on loopback, one fault per scenario, and for each one
//! - an invariant checker sampling every host's `current` throughout
//!   (`invariant`): the switch stays atomic whatever breaks;
//! - a final-state check (`state`): what ferry reported matches every
//!   host's real `current`, history and lock;
//! - a wall-time bound derived from the lab's documented timeouts (`lab`).
//!
//! `docs/reliability.md` has one row per scenario; `table` keeps the two
//! in step. Run alone with `cargo test --test faults`.

// The shared support is written for the integration target; this one uses
// part of it.
#[allow(dead_code)]
#[path = "../integration/support/mod.rs"]
mod support;

mod invariant;
mod lab;
mod state;

mod controller_faults;
mod fleet_faults;
mod health_faults;
mod host_faults;
mod table;
