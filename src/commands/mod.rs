//! The subcommands other than the run.

pub mod import;
pub mod restore;
pub mod safeguard;
pub mod save;
pub mod schedule;
pub mod settle;
pub mod status;
pub mod verify;
