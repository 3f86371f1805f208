//! The run (DESIGN.md §3), in four stages, one file each:
//!
//! ```text
//! prepare ──────► plan ────► execute ───────────────────────────► finish
//! open the base,  scan,      dossier loops: lock ► rescan ►       exit code,
//! run lock,       select,    archive to .partial (chunks on pool) report's end,
//! catalog,        order        │                                  mail, JSON twin,
//! report,                      ▼ bounded channel                  end_run,
//! leftovers                  writer: group commit (commit.rs),    terminal lines
//!                            catalog, report, progress
//! ```
//!
//! - `prepare.rs`: everything before the scan, and the checks that stop a
//!   run (`status` and `--dry-run` say them too); the leftovers of a killed
//!   run are claimed by [`leftovers`].
//! - `plan.rs`: scan, then the pure rules of [`select`].
//! - `pool.rs` (execute): the compression pool and the dossier loops, each
//!   dossier's archive staged by [`save::stage_dossier`] (shared with
//!   `svgauto save`), every line and staged archive sent to the one writer
//!   (`writer.rs`), which alone owns the catalog, the report and the
//!   progress bar, and puts the staged archives in place in groups
//!   (`commit.rs`).
//! - `offsite.rs`: the push of off-site copies after the dossiers, when
//!   `[offsite]` asks for it (its failures are report lines, exit 1).
//! - `finish.rs`: what the run says at the end.
//!
//! [`dry_run()`] computes the same plan without writing anything.

mod commit;
pub mod dry_run;
mod finish;
pub mod leftovers;
mod offsite;
mod plan;
mod pool;
mod prepare;
pub mod save;
pub mod select;
#[cfg(test)]
mod test_base;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::base::BaseError;
use crate::catalog::CatalogError;
use crate::clock::Clock;
use crate::exit::Exit;
use crate::monitoring::{self, Signal};
use crate::notify::MailSettingsError;
use crate::progress::Progress;
use crate::report::Summary;

pub use dry_run::{DryRun, dry_run};
pub(crate) use plan::{last_archives, twins_of};
pub(crate) use prepare::{check_archives_present, check_dossiers_present};

/// What `svgauto run` was asked to do, once arguments are validated.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `--base`: the base's folder.
    pub base: PathBuf,
    /// `--workstation`: this computer's settings file, over the base's.
    pub workstation: Option<PathBuf>,
    /// `--user`: the collaborator running the batch (his rights apply).
    pub user: String,
    /// `--all`.
    pub force_all: bool,
    /// `--threads`, over `run.threads`.
    pub threads: Option<usize>,
    /// `--verify`: read every archive back before putting it in place.
    pub verify: bool,
    /// `--max-duration`: no dossier is started after this long; the rest is
    /// "reporté" and goes first next time.
    pub max_duration: Option<Duration>,
}

/// A run that could not take place (exit 2).
#[derive(Debug, Error)]
pub enum RunError {
    /// The base, its settings or the collaborator.
    #[error(transparent)]
    Base(#[from] BaseError),
    /// The catalog could not be opened or written.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Mail settings that cannot work.
    #[error(transparent)]
    Mail(#[from] MailSettingsError),
    /// The folder the archives go to could not be created.
    #[error("répertoire de sauvegarde inutilisable (paramètre backup.dir) : {}", path.display())]
    BackupDir {
        /// The folder (with its rotation subfolder).
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not one archive the catalog knows is on disk (without `--all`).
    #[error(
        "aucune des {known} archive(s) que le catalogue connaît n'est sous {} : répertoire de sauvegarde non monté ou vidé ? Rien n'a été écrit. Si c'est voulu (nouveau répertoire de sauvegarde), relancer avec --all",
        dir.display()
    )]
    ArchivesGone {
        /// `backup.dir`.
        dir: PathBuf,
        /// The archives the catalog knows.
        known: usize,
    },
    /// Not one dossier the catalog has saved is under `dossiers/` (without
    /// `--all`).
    #[error(
        "aucun des {known} dossier(s) que le catalogue a déjà sauvegardés n'est sous {} : disque ou partage des dossiers non monté, répertoire déplacé ? Rien n'a été écrit. S'ils ont vraiment tous été supprimés ou remplacés, relancer avec --all",
        dir.display()
    )]
    DossiersGone {
        /// `dossiers/`.
        dir: PathBuf,
        /// The dossiers the catalog has saved.
        known: usize,
    },
    /// The report (or its JSON twin) could not be written.
    #[error("rapport de traitement impossible à écrire dans {}", path.display())]
    Report {
        /// The report's folder or file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `dossiers/` could not be read.
    #[error("lecture impossible des dossiers de la base {}", path.display())]
    Scan {
        /// `dossiers/`.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    /// The exit code it calls for.
    pub exit: Exit,
    /// The counts of the report.
    pub summary: Summary,
    /// The text report's path.
    pub report: PathBuf,
    /// Lines for the terminal (the report's summary and where it is).
    pub lines: Vec<String>,
    /// Lines for stderr: what went wrong besides the dossiers (the mail).
    pub warnings: Vec<String>,
}

/// `svgauto run`: prepare → plan → execute → finish. Dossiers that fail are
/// lines of the report (and exit 1); `Err` is a run that could not take
/// place or could not record what it did (exit 2).
pub fn run(
    opts: &RunOptions,
    clock: &dyn Clock,
    interrupted: &AtomicBool,
    progress: Box<dyn Progress>,
) -> Result<RunOutcome, RunError> {
    let started = Instant::now();
    let prepare::Prepared {
        mut setup,
        catalog,
        report,
    } = match prepare::prepare(opts, clock) {
        Ok(p) => p,
        Err(e) => {
            // A run that cannot start says so to the monitoring too, when
            // the settings can be read.
            if let Ok(base) = crate::base::Base::open(&opts.base, opts.workstation.as_deref())
                && let Ok(Some(p)) = monitoring::pinger(&base.effective.settings.monitoring)
            {
                let _ = p.send(Signal::Fail, &e.to_string());
            }
            return Err(e);
        }
    };
    let pinger = match monitoring::pinger(&setup.base.effective.settings.monitoring) {
        Ok(p) => p,
        Err(w) => {
            setup.warnings.push(w);
            None
        }
    };
    setup
        .warnings
        .extend(monitoring::ping(pinger.as_ref(), Signal::Start, ""));
    let outcome = (|| {
        let plan = plan::plan(opts, &setup)?;
        let writer = writer::Writer::new(catalog, report, progress, setup.id);
        let stops = pool::Stops {
            interrupted,
            max_duration: opts.max_duration,
            started,
        };
        let executed = pool::execute(opts, &setup, clock, plan, writer, &stops);
        finish::finish(
            opts,
            &setup,
            clock,
            interrupted,
            executed,
            started,
            pinger.as_ref(),
        )
    })();
    if let Err(e) = &outcome {
        let _ = monitoring::ping(pinger.as_ref(), Signal::Fail, &e.to_string());
    }
    outcome
}
