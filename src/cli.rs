//! Command-line arguments, the first of two stages: clap's types live here
//! only (`options.rs` turns them into what each command reads), with what
//! only clap knows how to make (completion scripts, manual pages). Also the
//! original product's form `/P:<base> /C:<user> /CO.BATCH.SAUVEGARDEAUTO`,
//! which is rewritten into `run --base … --user …` before parsing so that
//! existing scheduled tasks keep working.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use thiserror::Error;

use crate::clock::parse_duration;

#[derive(Debug, Parser)]
#[command(
    name = "svgauto",
    version,
    about = "Sauvegarde des dossiers modifiés : chaque dossier modifié dans son archive B<CODE>.SVG"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save every dossier modified since its last backup (the nightly batch).
    Run(RunArgs),
    /// "Remonter": bring dossiers back to the state of their `B<CODE>.SVG`.
    Restore {
        /// The base whose dossiers are restored.
        #[arg(long, required_unless_present = "to")]
        base: Option<PathBuf>,
        /// Restore into `DIR/<CODE>/` instead, without touching any base.
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// The archives.
        #[arg(required = true, value_name = "FILE.SVG")]
        files: Vec<PathBuf>,
    },
    /// Restore every B*.SVG dropped into <base>/maj/, then move it to done/ or failed/.
    Import {
        #[arg(long)]
        base: PathBuf,
    },
    /// Check archives (CRCs and manifest); folders are searched for *.SVG.
    Verify {
        #[arg(required = true, value_name = "FILE.SVG|DIR")]
        paths: Vec<PathBuf>,
    },
    /// Send a test message to the report's recipients with the effective settings.
    MailTest {
        #[arg(long)]
        base: PathBuf,
        #[command(flatten)]
        settings: SettingsArg,
    },
    /// Hold a dossier's lock until killed, as an application that opened it.
    Hold {
        #[arg(long)]
        base: PathBuf,
        #[arg(long)]
        dossier: String,
    },
    /// Print every effective setting and the layer it comes from.
    Config {
        #[arg(long)]
        base: PathBuf,
        #[command(flatten)]
        settings: SettingsArg,
    },
    /// Save one dossier now, on an application event (saved even if unmodified).
    Save {
        #[arg(long)]
        base: PathBuf,
        /// The collaborator the application runs as.
        #[arg(long)]
        user: String,
        /// The dossier's code.
        #[arg(long)]
        dossier: String,
        /// exit: leaving the dossier (normal archive); provider-exchange:
        /// before a provider exchange (EchangePrest/); closing: before closing
        /// a fiscal year (Cloture/).
        #[arg(long, value_enum)]
        event: Event,
        #[command(flatten)]
        settings: SettingsArg,
    },
    /// Per dossier: last backup, last result, modified since; "is everything backed up?".
    Status {
        #[arg(long)]
        base: PathBuf,
        /// The same as JSON.
        #[arg(long)]
        json: bool,
        /// Dossiers not saved for more than this many days stand out.
        #[arg(long, default_value_t = 7, value_name = "DAYS")]
        stale_days: u32,
        /// Also rewrite this Prometheus textfile (node_exporter) with the catalog's metrics.
        #[arg(long, value_name = "FILE")]
        textfile: Option<PathBuf>,
        /// Mail the report's recipients when something needs attention (a daily task of its own).
        #[arg(long)]
        mail_if_attention: bool,
        /// Also write the status as one self-contained HTML page (charts of the last runs).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        #[command(flatten)]
        settings: SettingsArg,
    },
    /// Print, ready to paste, the scheduled task running the batch every day.
    Schedule(ScheduleArgs),
    /// Off-site copies in S3-compatible storage, encrypted with age (`[offsite]`).
    #[command(subcommand)]
    Offsite(OffsiteCommand),
    /// Print the shell completion script (bash, zsh, fish, powershell, elvish).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout, or write one page per command into DIR.
    Man {
        /// Write svgauto.1, svgauto-run.1, … into this folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `svgauto offsite …` (DESIGN §10).
#[derive(Debug, Subcommand)]
pub enum OffsiteCommand {
    /// Copy every archive whose newest version is not off-site yet, then apply retention.
    Push {
        #[arg(long)]
        base: PathBuf,
        /// Start no upload part after this long; the rest resumes next time.
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        max_duration: Option<Duration>,
        /// What was done, as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        settings: SettingsArg,
    },
    /// Per dossier: newest local backup, newest off-site version, late or not.
    Status {
        /// The base (from its catalog, without network).
        #[arg(long, required_unless_present = "url", conflicts_with = "url")]
        base: Option<PathBuf>,
        /// s3://BUCKET[/PREFIX]: every prefix under it and its dossiers (endpoint and keys from --config).
        #[arg(long, value_name = "s3://BUCKET")]
        url: Option<String>,
        /// With --url: dossiers whose newest version is older than this stand out.
        #[arg(long, default_value_t = 7, value_name = "DAYS")]
        stale_days: u32,
        /// The same as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        settings: SettingsArg,
    },
    /// Fetch a version of a dossier, decrypt it, and restore it as `restore` does.
    Restore {
        #[arg(long)]
        base: PathBuf,
        /// The dossier's code.
        #[arg(long)]
        dossier: String,
        /// The age identity file (private key) that decrypts the copies.
        #[arg(long, value_name = "KEY")]
        identity: Option<PathBuf>,
        /// The version: its stamp (YYYYMMDD-HHMMSS, UTC) or a time (the newest at or before it).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Restore into `DIR/<CODE>/` instead of the base.
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        #[command(flatten)]
        settings: SettingsArg,
    },
    /// Restore drill: download N versions, decrypt them and check them as `verify` does.
    Verify {
        #[arg(long)]
        base: PathBuf,
        /// How many dossiers' newest versions to check (never checked first).
        #[arg(long, default_value_t = 3, value_name = "N")]
        sample: usize,
        /// The age identity file (private key).
        #[arg(long, value_name = "KEY")]
        identity: PathBuf,
        #[command(flatten)]
        settings: SettingsArg,
    },
}

/// The application event behind `svgauto save`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Event {
    /// The user leaves the dossier: the normal `B<CODE>.SVG`.
    Exit,
    /// Before receiving a provider exchange: `EchangePrest/B<CODE>.SVG`.
    ProviderExchange,
    /// Before closing a fiscal year: `Cloture/B<CODE>.SVG`.
    Closing,
}

/// The scheduler an entry is printed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleFormat {
    /// A crontab line.
    Cron,
    /// A systemd service and timer pair.
    Systemd,
    /// The Windows Task Scheduler `schtasks /Create` command.
    Schtasks,
    /// The Windows Task Scheduler task definition that `schtasks /Create /XML`
    /// imports (UTF-16, as the Task Scheduler reads it).
    SchtasksXml,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The base the batch saves.
    #[arg(long)]
    pub base: PathBuf,
    /// The collaborator code the batch runs as.
    #[arg(long)]
    pub user: String,
    /// Time of day, HH:MM (24 h).
    #[arg(long, value_parser = parse_time_of_day, value_name = "HH:MM")]
    pub at: (u8, u8),
    /// Default: schtasks on Windows, cron elsewhere.
    #[arg(long, value_enum)]
    pub format: Option<ScheduleFormat>,
    /// The dedicated system account the task runs as.
    #[arg(long, default_value = "svgauto", value_name = "ACCOUNT")]
    pub account: String,
    /// The svgauto program the task runs (default: this one).
    #[arg(long, value_name = "PATH")]
    pub exe: Option<PathBuf>,
    /// Stop starting new dossiers after this long (passed to `run`).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub max_duration: Option<Duration>,
    /// Write the entry into FILE instead of printing it.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub settings: SettingsArg,
}

#[derive(Debug, Args)]
pub struct SettingsArg {
    /// Workstation settings file ("Poste"), over base.toml.
    #[arg(long = "config", env = "SVGAUTO_CONFIG", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The base (folder holding base.toml and dossiers/).
    #[arg(long)]
    pub base: PathBuf,
    /// The collaborator code the batch runs as.
    #[arg(long)]
    pub user: String,
    /// Save every dossier, modified or not (after a mass update).
    #[arg(long)]
    pub all: bool,
    /// Worker threads (overrides run.threads; 0: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub threads: Option<u16>,
    /// Read each archive back and check it before putting it in place.
    #[arg(long)]
    pub verify: bool,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Print what the run would do, and why, without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: the plan as JSON.
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    /// Start no new dossier after this long (e.g. 2h30m, 90m, 45s); the
    /// rest is "reporté" and goes first next time.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub max_duration: Option<Duration>,
    #[command(flatten)]
    pub settings: SettingsArg,
}

/// A time of day the command line cannot read (the text as given).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("heure invalide : {0:?} (attendu HH:MM, par exemple 21:00)")]
pub struct TimeOfDayError(pub String);

/// Parses `HH:MM` (24 h; the hour may have one digit).
pub fn parse_time_of_day(s: &str) -> Result<(u8, u8), TimeOfDayError> {
    let bad = || TimeOfDayError(s.to_owned());
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u8 = h.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok((h, m))
}

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "svgauto", &mut text);
    text
}

/// The manual page of svgauto and its commands, in roff.
pub fn man_page() -> io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    Ok(page)
}

/// Writes `svgauto.1`, `svgauto-run.1`, … into `dir`, which exists.
pub fn write_man_pages(dir: &Path) -> io::Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)
}

/// What is wrong with a command line in the original product's form.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LegacyError {
    /// A `/CO.` command other than the batch (the argument as given).
    #[error("commande d'origine non prise en charge : {0} (seule /CO.BATCH.SAUVEGARDEAUTO l'est)")]
    Unsupported(String),
    /// An argument that is none of `/P:`, `/C:`, `/CO.` (as given).
    #[error("argument inattendu dans la forme d'origine : {0}")]
    Unexpected(String),
    /// A part the batch needs is missing: how it is written.
    #[error("forme d'origine : {0} manquant")]
    Missing(&'static str),
}

/// Rewrites the original command line into the modern one; other command
/// lines are returned unchanged. `/P:` may name the base or a file in it
/// (such as `BZZ.GIW`).
pub fn translate_legacy(args: Vec<OsString>) -> Result<Vec<OsString>, LegacyError> {
    let is_legacy = args.iter().skip(1).any(|a| {
        let s = a.to_string_lossy().to_ascii_uppercase();
        s.starts_with("/P:") || s.starts_with("/C:") || s.starts_with("/CO.")
    });
    if !is_legacy {
        return Ok(args);
    }
    let (mut base, mut user, mut batch) = (None, None, false);
    for a in args.iter().skip(1) {
        let s = a.to_string_lossy();
        let upper = s.to_ascii_uppercase();
        if upper.starts_with("/P:") {
            base = Some(after_switch(a));
        } else if upper.starts_with("/CO.") {
            if upper != "/CO.BATCH.SAUVEGARDEAUTO" {
                return Err(LegacyError::Unsupported(s.into_owned()));
            }
            batch = true;
        } else if upper.starts_with("/C:") {
            user = Some(s[3..].to_string());
        } else {
            return Err(LegacyError::Unexpected(s.into_owned()));
        }
    }
    let base = base.ok_or(LegacyError::Missing("/P:<base commune>"))?;
    let user = user.ok_or(LegacyError::Missing("/C:<code collaborateur>"))?;
    if !batch {
        return Err(LegacyError::Missing("/CO.BATCH.SAUVEGARDEAUTO"));
    }
    let p = Path::new(&base);
    let base = if p.is_file() {
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    } else {
        p.to_path_buf()
    };
    Ok(vec![
        args[0].clone(),
        "run".into(),
        "--base".into(),
        base.into_os_string(),
        "--user".into(),
        user.into(),
    ])
}

/// What follows a three-character switch such as `/P:`, from the
/// argument's own bytes (UTF-16 units on Windows): a base whose path is not
/// UTF-8 is the same base in the original form as with `--base`.
fn after_switch(a: &OsStr) -> OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        OsStr::from_bytes(a.as_bytes().get(3..).unwrap_or_default()).to_owned()
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::{OsStrExt, OsStringExt};
        let units: Vec<u16> = a.encode_wide().skip(3).collect();
        OsString::from_wide(&units)
    }
    #[cfg(not(any(unix, windows)))]
    {
        OsString::from(a.to_string_lossy().get(3..).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn legacy_form_becomes_run() {
        let d = tempfile::tempdir().unwrap();
        let giw = d.path().join("BZZ.GIW");
        std::fs::write(&giw, "").unwrap();
        let args = os(&[
            "svgauto",
            &format!("/P:{}", giw.display()),
            "/C:COMPT",
            "/CO.BATCH.SAUVEGARDEAUTO",
        ]);
        let out = translate_legacy(args).unwrap();
        assert_eq!(out[1], "run");
        assert_eq!(PathBuf::from(&out[3]), d.path());
        assert_eq!(out[5], "COMPT");
    }

    /// `/P:` keeps the path's bytes: a Latin-1 folder name is not turned
    /// into U+FFFD (another path, which does not exist).
    #[cfg(unix)]
    #[test]
    fn legacy_base_path_keeps_its_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let arg = OsStr::from_bytes(b"/p:/srv/Cabinet\xe9").to_owned();
        let out = translate_legacy(vec![
            "svgauto".into(),
            arg,
            "/C:A".into(),
            "/CO.BATCH.SAUVEGARDEAUTO".into(),
        ])
        .unwrap();
        assert_eq!(out[3].as_bytes(), b"/srv/Cabinet\xe9");
    }

    #[test]
    fn times_of_day() {
        assert_eq!(parse_time_of_day("21:00"), Ok((21, 0)));
        assert_eq!(parse_time_of_day("7:05"), Ok((7, 5)));
        for bad in ["24:00", "21:60", "21", "21:0", ":00", "2100", "a:bc"] {
            assert!(parse_time_of_day(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn legacy_form_needs_every_part() {
        assert!(translate_legacy(os(&["svgauto", "/P:x", "/C:COMPT"])).is_err());
        assert!(translate_legacy(os(&["svgauto", "/P:x", "/CO.BATCH.SAUVEGARDEAUTO"])).is_err());
        assert!(translate_legacy(os(&["svgauto", "/P:x", "/C:A", "/CO.AUTRE"])).is_err());
        let modern = os(&["svgauto", "run", "--base", "/b", "--user", "A"]);
        assert_eq!(translate_legacy(modern.clone()).unwrap(), modern);
    }
}
