//! svgauto: "Sauvegarde des dossiers modifiés". Every dossier of a base
//! modified since its last backup goes into its own archive `B<CODE>.SVG`,
//! in parallel, with a report per run. See `DESIGN.md` for the contract;
//! `main.rs` only parses arguments and maps outcomes to exit codes.

pub mod archive;
pub mod base;
pub mod before_restore;
pub mod catalog;
pub mod cleanup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod event;
pub mod exit;
pub mod lock;
pub mod notify;
pub mod owner_only;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod restore;
pub mod scan;
pub mod schedule;
pub mod select;
pub mod settle;
pub mod status;
pub mod tree;
pub mod verify;
pub mod zipout;
