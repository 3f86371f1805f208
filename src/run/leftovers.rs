//! Leftovers: the `B<CODE>.SVG.partial` files a run that died left in the
//! backup folder. The run claims and removes them (and saves their dossiers
//! again, [`crate::state::Why::Interrupted`]); `status` and the dry run say
//! which the next run will see.

use std::fs;
use std::path::{Path, PathBuf};

use crate::base::{CLOSING_DIR, EXCHANGE_DIR};

/// The codes of the batch's own `.partial` files left by a run that died,
/// as the next run will see them (`status`, `run --dry-run`): a partial
/// whose dossier is locked right now is a `save` at work, not a leftover.
pub fn leftovers(backup_dir: &Path, dossiers_dir: &Path) -> std::collections::HashSet<String> {
    find_partials(backup_dir)
        .into_iter()
        .filter(|p| {
            !p.event
                && !crate::sys::lock::in_use(
                    &dossiers_dir.join(&p.code).join(crate::base::LOCK_FILE),
                )
        })
        .map(|p| p.code)
        .collect()
}

/// A `B<CODE>.SVG.partial` left in the backup folder.
#[derive(Debug, Clone)]
pub struct Partial {
    pub code: String,
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
