#[path = "../../support/fleet.rs"]
pub mod fleet;
