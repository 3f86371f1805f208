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
    /// The Windows Task Scheduler XML that `schtasks /Create /XML` imports.
    SchtasksXml,
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
            cli::ScheduleFormat::SchtasksXml => Scheduler::SchtasksXml,
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
    /// Where the entry is written (`--output`); `None`: printed.
    pub output: Option<PathBuf>,
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
            output: a.output,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn command(args: &[&str]) -> cli::Command {
        let args = std::iter::once("svgauto").chain(args.iter().copied());
        cli::Cli::try_parse_from(args).unwrap().command
    }

    #[test]
    fn run_options_come_from_the_run_arguments() {
        let cli::Command::Run(a) = command(&[
            "run",
            "--base",
            "/b",
            "--user",
            "U",
            "--all",
            "--threads",
            "3",
            "--no-progress",
            "--dry-run",
            "--json",
            "--max-duration",
            "1h",
        ]) else {
            panic!("not run")
        };
        let r = RunRequest::from(a);
        assert_eq!(r.options.base, PathBuf::from("/b"));
        assert_eq!(r.options.user, "U");
        assert!(r.options.force_all && !r.options.verify);
        assert_eq!(r.options.threads, Some(3));
        assert_eq!(r.options.max_duration, Some(Duration::from_secs(3600)));
        assert!(!r.progress);
        assert_eq!(r.dry_run, Some(Format::Json));
        let cli::Command::Run(a) = command(&["run", "--base", "/b", "--user", "U"]) else {
            panic!("not run")
        };
        let r = RunRequest::from(a);
        assert!(r.progress && r.dry_run.is_none() && r.options.threads.is_none());
    }

    #[test]
    fn schedule_options_default_to_this_system_s_scheduler() {
        let cli::Command::Schedule(a) =
            command(&["schedule", "--base", "b", "--user", "U", "--at", "7:05"])
        else {
            panic!("not schedule")
        };
        let o = ScheduleOptions::from(a);
        assert_eq!((o.at, o.account.as_str()), ((7, 5), "svgauto"));
        assert_eq!(o.scheduler, Scheduler::native());
        let cli::Command::Schedule(a) = command(&[
            "schedule", "--base", "b", "--user", "U", "--at", "21:00", "--format", "systemd",
        ]) else {
            panic!("not schedule")
        };
        assert_eq!(ScheduleOptions::from(a).scheduler, Scheduler::Systemd);
    }

    #[test]
    fn events_keep_their_names() {
        for (given, name) in [
            ("exit", "exit"),
            ("provider-exchange", "provider-exchange"),
            ("closing", "closing"),
        ] {
            let cli::Command::Save { event, .. } = command(&[
                "save",
                "--base",
                "b",
                "--user",
                "U",
                "--dossier",
                "A",
                "--event",
                given,
            ]) else {
                panic!("not save")
            };
            let event = Event::from(event);
            assert_eq!(event.name(), name);
            assert!(event.setting().starts_with("events."));
        }
    }
}
