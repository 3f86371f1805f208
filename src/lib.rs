//! svgauto: "Sauvegarde des dossiers modifiés". Every dossier of a base
//! modified since its last backup goes into its own archive `B<CODE>.SVG`,
//! in parallel, with a report per run. `DESIGN.md` is the contract;
//! `main.rs` only parses arguments, calls one function here and maps its
//! outcome to an exit code.
//!
//! # Code map
//!
//! Arrows point down only: a module names only the modules below it, along
//! the arrows or further down
//! (`tests/architecture.rs` fails on any import cycle between these
//! top-level modules).
//!
//! ```text
//! main ─► commands ─► options ─► cli
//!            │   │       │
//!            │   └─► error (CommandError: base, catalog)
//!            ▼           │
//!           run ◄────────┘ (RunOptions)
//!            │
//!            ├─► offsite ──┐ (the push after a run; commands::offsite)
//!            ├─► restore ──┴► report ─► notify
//!            ▼      │
//!         archive ◄─┘
//!            │
//!            ▼
//!          scan ─► base ─► config
//!
//! catalog: named by run, commands, offsite and error, names only what is
//! below
//! below everything: state, sys, clock, progress, exit
//! ```
//!
//! - [`cli`] holds the clap types and the original product's `/P: /C:`
//!   command line; [`options`] turns them into validated options. No clap
//!   type goes further.
//! - [`commands`]: one module per subcommand that does a base's work
//!   other than `run` — `save` (on an event), `restore`, `import`,
//!   `verify`, `status`, `schedule`, `hold`, `offsite` — and `safeguard`, the save
//!   before a restore (`mail-test` is in [`notify`], `config` in [`config`],
//!   `completions` and `man` in [`cli`]). Each returns what it has to say
//!   ([`exit::Output`]) or its typed error.
//! - [`run`]: the batch (DESIGN §3), one file per stage: `prepare` (open,
//!   lock, recover, catalog, report, leftovers) → `plan` (scan, `select`,
//!   order) → `pool` (the dossier loops, each dossier's archive staged by
//!   `save`, shared with `svgauto save` and the safeguard) → `writer` (the
//!   one thread that owns catalog, report and progress; it puts the staged
//!   archives in place in groups, `commit`) → `finish`. `dry_run` computes
//!   the same plan and writes nothing.
//! - [`restore`]: an archive put in place of a live dossier atomically,
//!   and what a killed restore left settled (`switch`). The save before a
//!   restore comes in as a [`restore::Guard`], so the run can call
//!   [`restore::recover`] without the restore depending on the run.
//! - [`offsite`]: off-site copies (DESIGN §10) — each archive sealed with
//!   age to the firm's public keys (`seal`), sent to S3-compatible storage
//!   by resumable multipart uploads (`s3`, `upload`, state in the
//!   catalog), checked, then pruned by restic's rules (`retention`);
//!   `push` drives it, for `offsite push` and the end of a run.
//! - [`monitoring`]: the pings of `[monitoring] ping_url` (healthchecks.io
//!   and Uptime Kuma conventions), sent by `run`, `offsite push`, `import`.
//! - [`report`]: the report files, their JSON twin and the error list
//!   (DESIGN §7); [`notify`]: the mail.
//! - [`archive`]: the `B<CODE>.SVG` format (DESIGN §5), both directions —
//!   `manifest`, `codec`, `zip_writer`, `write` (the chunked parallel
//!   writer), `read` (check and extract).
//! - [`scan`]: a dossier as svgauto sees it — the walk, its entries, the
//!   one rule on entry names (`scan::names`, which the writer and the
//!   reader apply too) and the fingerprint. Below `archive` rather than a
//!   stage of `run`: the archive writer takes a scan, and `status` and the
//!   safeguard make one.
//! - [`catalog`]: the SQLite state (per-dossier state, run history, schema
//!   versions); [`base`]: the base's layout on disk (every name of it a
//!   constant there), its identity files and collaborators (DESIGN §2);
//!   [`config`]: the layered settings (DESIGN §6).
//! - [`state`]: where a dossier stands — why it is saved or skipped, how
//!   it ended, its last result in the catalog — with the French words for
//!   each, once. Selection's `Decision` and `Refusal` (typed by cause) are
//!   in `run::select`, above the errors a refusal carries.
//! - [`sys`]: OS primitives (locks, flushing, positioned reads, file
//!   times, owner-only modes, removing and walking trees); [`clock`]: the
//!   injected clock and durations; [`progress`]: the progress trait;
//!   [`exit`]: exit codes and what a command says.

pub mod archive;
pub mod base;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod error;
pub mod exit;
pub mod monitoring;
pub mod notify;
pub mod offsite;
pub mod options;
pub mod progress;
pub mod report;
pub mod restore;
pub mod run;
pub mod scan;
pub mod state;
pub mod sys;
