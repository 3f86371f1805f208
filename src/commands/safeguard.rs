//! Before a restore replaces a live dossier of a base (`restore --base`,
//! `import`, and any later command restoring into a base): its current
//! state is saved first when no archive holds it, so a restore never
//! destroys work that was never backed up.
//!
//! An archive holds the live state when the catalog's record of the
//! dossier's last backup proves it: a fingerprint recorded
//! (`DossierState::fingerprint`) that the dossier, scanned now under its
//! lock, [matches](crate::scan::Fingerprint::matches) (a record marked
//! unproven, `2?…`, never does), and that backup's archive still in place.
//! Anything else — a dossier never saved, changed since, a catalog rebuilt
//! or unreadable, the last archive gone — and the state is saved, with the
//! batch's safety (`.partial`, flush, read back, rename, folder flush), into
//! `<backup.dir>/AvantRemontee/<YYYYMMDD-HHMMSS>/B<CODE>.SVG` (the time of
//! the command's clock; `-2`, `-3`… when that name is taken): an ordinary
//! archive, which `verify` checks and `restore` brings back, under its
//! ordinary name. The batch never takes it for the dossier's backup: it is
//! not recorded as one, and runs, `status` and the catalog know only the
//! archives they recorded.
//!
//! When the archive being restored holds associated documents
//! (`documents/`) and the base's backups do not, the catalog cannot vouch
//! for the live documents the restore would replace: a live document at a
//! path the archive holds makes the state unproven too, and the save then
//! includes the documents. If the save fails, the restore is refused and
//! nothing changes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::archive::{self, Manifest};
use crate::base::{Base, DOCUMENTS, SAFEGUARD_DIR};
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::exit::Line;
use crate::restore::Guard;
use crate::run::save::{SoloPool, saveable};
use crate::scan::{self, DossierScan};
use crate::sys::lock;

/// What a restore into a base needs to save a live state first: the base
/// (its backup folder and archive settings), its catalog (the last
/// backups' fingerprints, read at each restore: an earlier restore of the
/// same command may have refreshed one), and the command's clock (the
/// folder's name, the archive's backup time).
pub struct Safeguard<'a> {
    /// The base restored into.
    pub base: &'a Base,
    /// Its catalog.
    pub catalog: &'a Catalog,
    /// The command's clock.
    pub clock: &'a dyn Clock,
}

impl Guard for Safeguard<'_> {
    /// Called holding the lock `held` of the live dossier `live` (code
    /// `code`), before the switch to the archive whose manifest is
    /// `incoming`. `Ok(None)`: an archive holds the live state, nothing was
    /// written. `Ok(Some(path))`: the state is now in the archive at `path`.
    /// `Err`: the French reason it could not be saved (the restore must not
    /// go on); nothing is left behind but, at worst, an empty folder.
    fn keep_live_state(
        &self,
        code: &str,
        live: &Path,
        held: &lock::Held,
        incoming: &Manifest,
    ) -> Result<Option<PathBuf>, String> {
        let settings = &self.base.effective.settings;
        let include_documents = settings.backup.include_documents;
        let now = held
            .file_system_now()
            .unwrap_or_else(std::time::SystemTime::now);
        let scan = scan::scan_dossier_at(code, live, include_documents, now);
        if self.held_by_archive(code, &scan, include_documents, incoming) {
            return Ok(None);
        }
        // What the restore may replace: documents too when the archive
        // holds them.
        let documents = include_documents || incoming.documents_included;
        let scan = if documents == include_documents {
            scan
        } else {
            scan::scan_dossier_at(code, live, documents, now)
        };
        let identity = saveable(&scan).map_err(|e| e.to_string())?;
        let (target, created) = self
            .target(code)
            .map_err(|(path, e)| format!("Ecriture impossible de {} : {e}.", path.display()))?;
        // The only copy of this state once the restore is done: read back
        // before it counts.
        let pool = SoloPool::new(settings);
        let ctx = pool.context(settings, self.clock, documents, true);
        if let Err(e) = ctx.write(&scan, identity, &target, &()) {
            // The folders this save created, deepest first, as they were.
            for d in &created {
                let _ = fs::remove_dir(d);
            }
            return Err(e.to_string());
        }
        Ok(Some(target))
    }
}

impl Safeguard<'_> {
    /// Whether the catalog proves that an archive holds the state `scan`
    /// found (see the module's documentation).
    fn held_by_archive(
        &self,
        code: &str,
        scan: &DossierScan,
        include_documents: bool,
        incoming: &Manifest,
    ) -> bool {
        if scan.identity.is_err() || scan.walk_error.is_some() {
            return false;
        }
        // A catalog that cannot be read proves nothing.
        let Ok(states) = self.catalog.states() else {
            return false;
        };
        let Some(state) = states.get(code) else {
            return false;
        };
        let Some(fingerprint) = &state.fingerprint else {
            return false;
        };
        // The last archive must be there and be the file written (its
        // recorded size): an emptied or truncated one proves nothing.
        scan.fingerprint.matches(fingerprint)
            && crate::run::select::LastArchive::of(&self.base.root, Some(state))
                == crate::run::select::LastArchive::Present
            && !(incoming.documents_included
                && !include_documents
                && replaces_documents(&scan.dir, incoming))
    }

    /// A free `<backup.dir>/AvantRemontee/<stamp>[-N]/B<CODE>.SVG`, its
    /// folder created and made durable (each folder created flushed in its
    /// parent: a power cut after the restore must not lose the archive's
    /// folder), and the folders created, deepest first. An error names the
    /// folder.
    fn target(&self, code: &str) -> Result<(PathBuf, Vec<PathBuf>), (PathBuf, io::Error)> {
        let root = self.base.backup_dir().join(SAFEGUARD_DIR);
        let stamp = self.clock.now().format("%Y%m%d-%H%M%S").to_string();
        let name = crate::base::file_name(code);
        let dir = (1u32..)
            .map(|n| match n {
                1 => root.join(&stamp),
                n => root.join(format!("{stamp}-{n}")),
            })
            .find(|d| {
                let t = d.join(&name);
                fs::symlink_metadata(&t).is_err()
                    && fs::symlink_metadata(archive::partial_path(&t)).is_err()
            })
            .expect("a free number");
        let created: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|a| fs::symlink_metadata(a).is_err())
            .map(Path::to_owned)
            .collect();
        let undo = |e: io::Error, at: PathBuf| {
            for d in &created {
                let _ = fs::remove_dir(d);
            }
            (at, e)
        };
        crate::sys::owner_only::create_dir_all(&dir).map_err(|e| undo(e, dir.clone()))?;
        for d in &created {
            let parent = d.parent().unwrap_or(Path::new("."));
            crate::sys::fs::sync_dir(parent).map_err(|e| undo(e, parent.to_owned()))?;
        }
        Ok((dir.join(name), created))
    }
}

/// Whether the live dossier `live` has a file under `documents/` at a path
/// the archive holds (a restore would replace it).
fn replaces_documents(live: &Path, incoming: &Manifest) -> bool {
    let prefix = format!("{DOCUMENTS}/");
    incoming
        .entries
        .iter()
        .filter(|e| e.kind == archive::ManifestKind::File)
        .filter_map(|e| e.name_bytes().ok())
        .filter(|name| name.starts_with(prefix.as_bytes()))
        .any(|name| fs::symlink_metadata(live.join(scan::names::os_path(&name))).is_ok())
}

/// Removes what a restore killed while saving a live state left in
/// `<backup_dir>/AvantRemontee/`: `.partial` files, and the folders they
/// leave empty. The caller holds the base's run lock (only restores, under
/// it, write there). One line each: stdout removed, stderr still there.
pub fn remove_interrupted(backup_dir: &Path) -> Vec<Line> {
    let mut said = Vec::new();
    let Ok(rd) = fs::read_dir(backup_dir.join(SAFEGUARD_DIR)) else {
        return said;
    };
    let mut dirs: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        let mut partials: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".partial"))
            .collect();
        if partials.is_empty() {
            continue;
        }
        partials.sort();
        for p in partials {
            said.push(match fs::remove_file(&p) {
                Ok(()) => Line::Stdout(format!(
                    "sauvegarde avant remontée interrompue précédemment : {} supprimé",
                    p.display()
                )),
                Err(e) => Line::Stderr(format!(
                    "sauvegarde avant remontée interrompue précédemment : {} non supprimé ({e}) ; supprimez-le à la main",
                    p.display()
                )),
            });
        }
        let _ = fs::remove_dir(&dir);
    }
    said
}
