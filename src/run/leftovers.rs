//! Leftovers: the `B<CODE>.SVG.partial` files a run that died left in the
//! backup folder. The run claims and removes them (and saves their dossiers
//! again, [`crate::state::SaveReason::Interrupted`]); `status` and the dry run say
//! which the next run will see.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::base::{CLOSING_DIR, EXCHANGE_DIR, LOCK_FILE};
use crate::catalog::{Catalog, CatalogError};
use crate::sys::lock::{self, LockError};

/// What a killed run or `save` left behind: partial archives, claimed by
/// the run `run` (it holds the base's run lock). A partial whose dossier is
/// locked right now is being written by a `save`: left alone. The others
/// are removed under their dossier's lock (so a `save` cannot start writing
/// one in between) — but first recorded in the catalog as in-progress
/// markers when they are the batch's own, so a run killed right after
/// removing them does not forget that those dossiers were under way (they
/// are redone first, their line says "reprise"). Returns the codes of the
/// batch's own partials removed.
pub fn claim_leftovers(
    catalog: &Catalog,
    run: i64,
    backup_dir: &Path,
    dossiers_dir: &Path,
) -> Result<HashSet<String>, CatalogError> {
    let free: Vec<(Partial, Option<lock::Held>)> = find_partials(backup_dir)
        .into_iter()
        .filter_map(|p| {
            match lock::try_exclusive(&dossiers_dir.join(&p.code).join(LOCK_FILE)) {
                Ok(held) => Some((p, Some(held))),
                Err(LockError::Busy) => None,
                // A dossier folder that is gone has no lock to take: its
                // partial is removed all the same.
                Err(LockError::Io(_)) => {
                    (!dossiers_dir.join(&p.code).is_dir()).then_some((p, None))
                }
            }
        })
        .collect();
    mark_in_progress(catalog, run, free.iter().map(|(p, _)| p))?;
    // Each lock is let go once its partial is removed.
    Ok(free
        .into_iter()
        .filter(|(p, _held)| fs::remove_file(&p.path).is_ok() && !p.event)
        .map(|(p, _)| p.code)
        .collect())
}

/// Marks the batch's own partials' dossiers in progress in `run`, in one
/// transaction (none when there are none).
fn mark_in_progress<'a>(
    catalog: &Catalog,
    run: i64,
    partials: impl Iterator<Item = &'a Partial>,
) -> Result<(), CatalogError> {
    let own: Vec<&Partial> = partials.filter(|p| !p.event).collect();
    if own.is_empty() {
        return Ok(());
    }
    let tx = catalog.transaction()?;
    for p in own {
        catalog.mark_in_progress(&p.code, run)?;
    }
    catalog.commit(tx)
}

/// The codes of the batch's own `.partial` files left by a run that died,
/// as the next run will see them (`status`, `run --dry-run`): a partial
/// whose dossier is locked right now is a `save` at work, not a leftover.
pub fn leftovers(backup_dir: &Path, dossiers_dir: &Path) -> HashSet<String> {
    find_partials(backup_dir)
        .into_iter()
        .filter(|p| !p.event && !lock::in_use(&dossiers_dir.join(&p.code).join(LOCK_FILE)))
        .map(|p| p.code)
        .collect()
}

/// A `B<CODE>.SVG.partial` left in the backup folder.
#[derive(Debug, Clone)]
pub struct Partial {
    /// The dossier's code, from the file's name.
    pub code: String,
    /// The file.
    pub path: PathBuf,
    /// In `EchangePrest/` or `Cloture/`: left by an event backup.
    pub event: bool,
}

/// The `*.SVG.partial` files in `dir` and its direct subfolders (rotation,
/// `EchangePrest/`, `Cloture/`).
pub fn find_partials(dir: &Path) -> Vec<Partial> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    if let Ok(rd) = fs::read_dir(dir) {
        dirs.extend(
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    for d in dirs {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        let event = d != dir && (d.ends_with(EXCHANGE_DIR) || d.ends_with(CLOSING_DIR));
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(code) = name
                .strip_suffix(".SVG.partial")
                .and_then(|s| s.strip_prefix('B'))
            {
                found.push(Partial {
                    code: code.to_owned(),
                    path: e.path(),
                    event,
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_partials_are_found_and_named() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("BX1.SVG.partial"), b"").unwrap();
        fs::create_dir(d.path().join("Lundi")).unwrap();
        fs::write(d.path().join("Lundi/BX2.SVG.partial"), b"").unwrap();
        fs::write(d.path().join("BX3.SVG"), b"").unwrap();
        fs::create_dir(d.path().join(CLOSING_DIR)).unwrap();
        fs::write(d.path().join("Cloture/BX4.SVG.partial"), b"").unwrap();
        let mut found: Vec<(String, bool)> = find_partials(d.path())
            .into_iter()
            .map(|p| (p.code, p.event))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                ("X1".to_owned(), false),
                ("X2".to_owned(), false),
                ("X4".to_owned(), true)
            ]
        );
    }
}
