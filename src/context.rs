//! The context a release command runs in: the fleet's executor and forks,
//! the renderer, inventory and playbook, and the run's reporter. `deploy` and
//! `lock` both take it, so neither imports the other.

use std::sync::Arc;

use crate::config::{Inventory, Playbook, Vars};
use crate::executor::Executor;
use crate::render::Renderer;
use crate::report::Reporter;

/// Shared by the hosts of one command.
pub struct Context {
    pub executor: Arc<Executor>,
    pub renderer: Renderer,
    pub inventory: Inventory,
    pub playbook: Playbook,
    pub extra: Vars,
    pub forks: usize,
    /// Where the run's events go: the engine emits, never prints them.
    pub reporter: Reporter,
}
