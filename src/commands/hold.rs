//! `svgauto hold --base B --dossier C` (DESIGN §4): takes a dossier's lock
//! as an application that opened it would, for tests and demonstrations.
//! The caller says so and keeps the lock until it is killed.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::base::{LOCK_FILE, valid_code};
use crate::sys::lock;

/// Why the lock could not be taken (exit 2).
#[derive(Debug, Error)]
pub enum HoldError {
    /// Not a dossier code (DESIGN §1).
    #[error("code de dossier invalide : {0}")]
    InvalidCode(String),
    /// No such dossier folder.
    #[error("dossier introuvable : {}", .0.display())]
    NotFound(PathBuf),
    /// The lock file could not be opened or locked.
    #[error("verrou {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

/// Takes the exclusive lock of dossier `code` of the base at `base`,
/// waiting for it if an application holds it; the lock lasts as long as
/// the value returned.
pub fn hold(base: &Path, code: &str) -> Result<lock::Held, HoldError> {
    if !valid_code(code) {
        return Err(HoldError::InvalidCode(code.to_owned()));
    }
    let dir = base.join(crate::base::DOSSIERS_DIR).join(code);
    if !dir.is_dir() {
        return Err(HoldError::NotFound(dir));
    }
    let path = dir.join(LOCK_FILE);
    lock::exclusive(&path).map_err(|source| HoldError::Lock { path, source })
}
