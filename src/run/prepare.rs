//! The first stage of a run: everything before the scan. Open the base and
//! check its settings, the mailer and the folders the run writes to
//! (before anything is written), take the run lock, tidy up after a killed
//! restore, open the catalog, refuse a backup or dossiers folder that is
//! not mounted, create the report, record the run's start, and claim the
//! leftovers of a killed run ([`super::leftovers::claim_leftovers`]).
//!
//! The checks that stop a run are here too: `status` and `--dry-run` say
//! with them what would stop it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};

use crate::base::{Base, Rights, display_path, target_dir};
use crate::catalog::{Catalog, DossierState};
use crate::clock::Clock;
use crate::exit::Line;
use crate::notify::Mailer;
use crate::report::Report;
use crate::restore;
use crate::sys::lock;

use super::leftovers::claim_leftovers;
use super::plan::last_archives;
use super::select::LastArchive;
use super::{RunError, RunOptions};

/// What the later stages read of a prepared run.
pub(crate) struct Setup {
    pub base: Base,
    pub rights: Rights,
    pub mailer: Option<Mailer>,
    /// The run's start (its rotation folder, its report's name).
    pub started: DateTime<Local>,
    /// Where the archives go: `backup.dir`, or its rotation subfolder.
    pub target: PathBuf,
    /// The run's id in the catalog.
    pub id: i64,
    /// Read once, before the leftovers were marked in progress.
    pub states: HashMap<String, DossierState>,
    /// What is on disk of each recorded archive.
    pub archives: HashMap<String, LastArchive>,
    /// The dossiers whose `.partial` a killed run left (now removed).
    pub leftovers: HashSet<String>,
    /// Said at the end, before anything else: what the restore recovery
    /// did, and the catalog rebuilt.
    pub warnings: Vec<String>,
    /// The base's run lock, held until the run ends.
    pub _run_lock: lock::Held,
}

/// A prepared run: the catalog and the report go to the writer, the rest
/// is read by every stage.
pub(crate) struct Prepared {
    pub setup: Setup,
    pub catalog: Catalog,
    pub report: Report,
}

/// Prepares a run (see the module's documentation). An error here means
/// nothing was saved; once the report exists, the run is in the catalog.
pub(crate) fn prepare(opts: &RunOptions, clock: &dyn Clock) -> Result<Prepared, RunError> {
    let base = Base::open(&opts.base, opts.workstation.as_deref())?;
    let settings = &base.effective.settings;
    // The run's start date picks its rotation folder; neither that folder,
    // `backup.dir` nor the state folder may be inside `dossiers/`: checked
    // before anything is written.
    let started = clock.now();
    let backup_dir = base.backup_dir();
    let target = target_dir(&backup_dir, settings.backup.subdir, started);
    base.check_outside_dossiers()?;
    base.check_rotation_folder(&target)?;
    let rights = base.rights(&opts.user)?;
    let mailer = Mailer::from_settings(&base.effective)?;

    let run_lock = base.lock_run()?;
    // What a killed restore left beside the dossiers, before they are scanned.
    // Those it could not settle (a tree it cannot remove) are said the same
    // way, and `status` shows them until they are gone.
    let mut warnings: Vec<String> = restore::recover(&base.dossiers_dir())
        .into_iter()
        .map(Line::into_text)
        .collect();
    let catalog = Catalog::open(&base.state_dir())?;
    warnings.extend(catalog.rebuilt.iter().cloned());

    // Every archive the catalog knows gone at once is a backup folder on a
    // NAS that is not mounted (or was emptied), and every dossier it has
    // saved gone from `dossiers/` at once is the dossiers' disk or share
    // not mounted: nothing is written — not even the report.
    // Read once: the in-progress markers set below for leftovers are also
    // in `leftovers`, which selection reads beside these states; one stat
    // per archive serves both the check and the selection.
    let read = catalog.read_states()?;
    warnings.extend(read.unreadable.iter().map(ToString::to_string));
    let states = read.known;
    let archives = last_archives(&base.root, &states);
    if !opts.force_all {
        check_archives_present(&backup_dir, &archives)?;
        let names = dossier_names(&base.dossiers_dir())?;
        check_dossiers_present(&base.dossiers_dir(), &states, |c| names.contains(c))?;
    }
    crate::sys::owner_only::create_dir_all(&target).map_err(|source| RunError::BackupDir {
        path: target.clone(),
        source,
    })?;
    let report =
        Report::create(&backup_dir.join(crate::base::LOG_DIR), started).map_err(|source| {
            RunError::Report {
                path: backup_dir.join(crate::base::LOG_DIR),
                source,
            }
        })?;
    let report_rel = display_path(&report.txt_path, &base.root);
    let id = catalog.begin_run(started, &opts.user, &report_rel)?;
    // Said above; erased now that the run writes (see `catalog::Unreadable`).
    catalog.forget(&read.unreadable)?;
    let leftovers = claim_leftovers(&catalog, id, &backup_dir, &base.dossiers_dir())?;
    let setup = Setup {
        base,
        rights,
        mailer,
        started,
        target,
        id,
        states,
        archives,
        leftovers,
        warnings,
        _run_lock: run_lock,
    };
    Ok(Prepared {
        setup,
        catalog,
        report,
    })
}

/// `Err(ArchivesGone)` when the catalog knows archives and not one of them
/// is on disk.
pub(crate) fn check_archives_present(
    backup_dir: &Path,
    archives: &HashMap<String, LastArchive>,
) -> Result<(), RunError> {
    let known: Vec<&LastArchive> = archives
        .values()
        .filter(|a| **a != LastArchive::Unrecorded)
        .collect();
    if !known.is_empty() && known.iter().all(|a| **a == LastArchive::Missing) {
        return Err(RunError::ArchivesGone {
            dir: backup_dir.to_owned(),
            known: known.len(),
        });
    }
    Ok(())
}

/// `Err(DossiersGone)` when the catalog knows dossiers it has saved and
/// not one of them is under `dossiers/` (`present` says whether a code is
/// there): the dossiers' disk or share is not mounted, or the folder was
/// moved. One dossier deleted among others is a plain deletion.
pub(crate) fn check_dossiers_present(
    dossiers_dir: &Path,
    states: &HashMap<String, DossierState>,
    present: impl Fn(&str) -> bool,
) -> Result<(), RunError> {
    let known: Vec<&str> = states
        .iter()
        .filter(|(_, st)| st.last_archive.is_some() || st.last_backup_at.is_some())
        .map(|(code, _)| code.as_str())
        .collect();
    if !known.is_empty() && !known.iter().any(|c| present(c)) {
        return Err(RunError::DossiersGone {
            dir: dossiers_dir.to_owned(),
            known: known.len(),
        });
    }
    Ok(())
}

/// The names under `dossiers/` that can be dossiers (folders, and links or
/// unreadable entries, which the scan reports), read once without a scan.
fn dossier_names(dossiers_dir: &Path) -> Result<HashSet<String>, RunError> {
    let scan_error = |source| RunError::Scan {
        path: dossiers_dir.to_owned(),
        source,
    };
    let mut names = HashSet::new();
    for entry in std::fs::read_dir(dossiers_dir).map_err(scan_error)? {
        let entry = entry.map_err(scan_error)?;
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            names.insert(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names)
}
