//! Integration tests of `svgauto`: the real binary, run on bases built in
//! temp folders, checked against the contract of DESIGN.md.
//!
//! A plain `cargo test` runs, as any user, the tests that need nothing but
//! the binary. The others are `#[ignore = "needs …: scripts/test"]` or
//! `#[ignore = "large …"]`, so cargo lists them as ignored: those that need
//! root (tmpfs and loop mounts, `setpriv` to `nobody`), 7-Zip (`7zz` or
//! `7z`, found on the PATH), Info-ZIP `unzip`, strace, aiosmtpd, FUSE
//! (fusepy), rclone and age (the off-site tests), and the largest. `scripts/test` installs the tools and runs
//! everything (`cargo test -- --include-ignored`); a test run without what
//! it needs fails and says what is missing, it never skips.

mod harness;

mod archive;
mod badinput;
mod budget;
mod concurrent;
mod disk;
mod docs;
mod dryrun;
mod example;
mod hostile;
mod hunt;
mod hunt2;
mod import;
mod kill;
mod leftout;
mod leftovers;
mod mail;
mod monitoring;
mod offsite;
mod powercut;
mod racy;
mod report;
mod restore;
mod rotation;
mod run;
mod safeguard;
mod save;
mod schedule;
#[cfg(unix)]
mod schemas;
mod settings;
mod smtp;
mod status;
mod task_schema;
mod torture;
mod upgrade;
mod verify;
