#[path = "../../support/fleet.rs"]
pub mod fleet;

pub mod ferry;
pub mod host;
pub mod project;
