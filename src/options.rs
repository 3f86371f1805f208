//! The second stage of the arguments: clap's types (`cli.rs`) turned into
//! what each command reads — [`RunRequest`], [`Event`], [`ScheduleOptions`],
//! [`Format`]. No clap type goes past this file: commands and the run take
//! these, so a change of the command line's spelling stays in `cli.rs` and
//! here (ripgrep's `lowargs` → `hiargs`, fd's `cli.rs` → `config.rs`).
//!
//! Everything clap already checks (required arguments, value ranges, the
//! `HH:MM` and duration syntaxes) is not checked again. What needs the base
//! (a collaborator that exists, a path a scheduler can hold) is checked by
//! the command, after the base opens, so that its messages keep their order.
//!
//! `RunOptions` is still defined by the run (`run/mod.rs`), which is why this
//! file names `crate::run`; the run must not name this file until it moves
//! here.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli;
use crate::run::RunOptions;

/// How a command prints what it found: for a person, or as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lines of French text.
    Text,
    /// One pretty-printed JSON document.
    Json,
}

impl Format {
    /// [`Format::Json`] when `--json` is given.
    pub fn json_if(json: bool) -> Format {
        if json { Format::Json } else { Format::Text }
    }
}

/// `svgauto run`: the batch's options, and how the command line wants it
/// shown.
#[derive(Debug)]
pub struct RunRequest {
    /// What the run (or the dry run) does.
    pub options: RunOptions,
    /// A progress bar is allowed (`--no-progress` not given); it is shown
    /// only on a terminal.
    pub progress: bool,
    /// `--dry-run`: print the plan in this format instead of running.
    pub dry_run: Option<Format>,
}

impl From<cli::RunArgs> for RunRequest {
    fn from(a: cli::RunArgs) -> RunRequest {
        RunRequest {
            options: RunOptions {
                base: a.base,
                workstation: a.settings.file,
                user: a.user,
                force_all: a.all,
                threads: a.threads.map(usize::from),
                verify: a.verify,
                max_duration: a.max_duration,
            },
            progress: !a.no_progress,
            dry_run: a.dry_run.then_some(Format::json_if(a.json)),
        }
    }
}

/// The application event behind `svgauto save` (DESIGN §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The user leaves the dossier: the normal `B<CODE>.SVG`.
    Exit,
    /// Before receiving a provider exchange: `EchangePrest/B<CODE>.SVG`.
    ProviderExchange,
    /// Before closing a fiscal year: `Cloture/B<CODE>.SVG`.
    Closing,
}

impl From<cli::Event> for Event {
    fn from(e: cli::Event) -> Event {
        match e {
            cli::Event::Exit => Event::Exit,
            cli::Event::ProviderExchange => Event::ProviderExchange,
            cli::Event::Closing => Event::Closing,
        }
    }
}

impl Event {
    /// The name stored in the catalog.
    pub fn name(self) -> &'static str {
        match self {
            Event::Exit => "exit",
            Event::ProviderExchange => "provider-exchange",
            Event::Closing => "closing",
        }
    }

    /// The event in the original product's words.
    pub fn label(self) -> &'static str {
        match self {
            Event::Exit => "à la sortie du dossier",
            Event::ProviderExchange => "avant réception d'un échange prestataire",
            Event::Closing => "avant clôture du dossier",
        }
    }

    /// The setting that enables it.
    pub fn setting(self) -> &'static str {
        match self {
            Event::Exit => "events.on_exit",
            Event::ProviderExchange => "events.before_provider_exchange",
            Event::Closing => "events.before_closing",
        }
    }
}

/// The scheduler an entry is printed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    /// A crontab line.
    Cron,
    /// A systemd service and timer pair.
    Systemd,
    /// The Windows Task Scheduler `schtasks /Create` command.
    Schtasks,
}

impl Scheduler {
    /// This system's: schtasks on Windows, cron elsewhere.
    pub fn native() -> Scheduler {
        if cfg!(windows) {
            Scheduler::Schtasks
        } else {
            Scheduler::Cron
        }
    }
}

impl From<cli::ScheduleFormat> for Scheduler {
    fn from(f: cli::ScheduleFormat) -> Scheduler {
        match f {
            cli::ScheduleFormat::Cron => Scheduler::Cron,
            cli::ScheduleFormat::Systemd => Scheduler::Systemd,
            cli::ScheduleFormat::Schtasks => Scheduler::Schtasks,
        }
    }
}

/// `svgauto schedule`: the entry asked for.
#[derive(Debug, Clone)]
pub struct ScheduleOptions {
    /// The base the batch saves, as given.
    pub base: PathBuf,
    /// The workstation settings file (`--config`), as given.
    pub workstation: Option<PathBuf>,
    /// The collaborator code the batch runs as.
    pub user: String,
    /// Time of day (hour, minute).
    pub at: (u8, u8),
    /// Which scheduler's entry.
    pub scheduler: Scheduler,
    /// The dedicated system account the task runs as.
    pub account: String,
    /// The svgauto program the task runs; `None`: this one.
    pub exe: Option<PathBuf>,
    /// Passed to `run --max-duration`.
    pub max_duration: Option<Duration>,
}

impl From<cli::ScheduleArgs> for ScheduleOptions {
    fn from(a: cli::ScheduleArgs) -> ScheduleOptions {
        ScheduleOptions {
            base: a.base,
            workstation: a.settings.file,
            user: a.user,
            at: a.at,
            scheduler: a.format.map_or_else(Scheduler::native, Scheduler::from),
            account: a.account,
            exe: a.exe,
            max_duration: a.max_duration,
        }
    }
}
