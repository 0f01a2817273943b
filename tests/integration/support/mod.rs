#[path = "../../support/fleet.rs"]
pub mod fleet;

pub mod project;
