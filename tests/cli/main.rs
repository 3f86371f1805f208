//! Integration tests of `svgauto`: the real binary, run on bases built in
//! temp folders, checked against the contract of DESIGN.md.
//!
//! External tools: 7-Zip (`7zz` or `7z`) and Info-ZIP `unzip` must be on the
//! PATH — the tests that need them fail, they do not skip.

mod harness;

mod archive;
mod badinput;
mod before_restore;
mod budget;
mod concurrent;
mod disk;
mod dryrun;
mod event;
mod example;
mod hostile;
mod hunt;
mod hunt2;
mod import;
mod kill;
mod leftout;
mod leftovers;
mod mail;
mod powercut;
mod racy;
mod report;
mod restore;
mod rotation;
mod run;
mod schedule;
mod settings;
mod smtp;
mod status;
mod torture;
mod upgrade;
mod verify;
