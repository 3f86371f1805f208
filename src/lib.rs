//! svgauto: "Sauvegarde des dossiers modifiés". Every dossier of a base
//! modified since its last backup goes into its own archive `B<CODE>.SVG`,
//! in parallel, with a report per run. See `DESIGN.md` for the contract;
//! `main.rs` only parses arguments and maps outcomes to exit codes.

pub mod archive;
pub mod base;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod error;
pub mod exit;
pub mod notify;
pub mod options;
pub mod progress;
pub mod report;
pub mod restore;
pub mod run;
pub mod scan;
pub mod state;
pub mod sys;
