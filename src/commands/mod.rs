//! The subcommands other than the run, one module each, and what two of
//! them share (`safeguard`: the save before a restore, which `restore` and
//! `import` make; `import::settle` tells whether a file dropped for
//! `import` is still being copied). A command takes options
//! already validated (`options.rs`), never a clap type, and returns what it
//! has to say (`exit::Output`) or a typed error.

pub mod hold;
pub mod import;
pub mod offsite;
pub mod restore;
pub mod safeguard;
pub mod save;
pub mod schedule;
pub mod status;
pub mod verify;
