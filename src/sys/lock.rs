//! Locks (DESIGN.md §4): a dossier's `dossier.lock`, and the base's run lock.
//!
//! An application holds an OS lock (shared or exclusive) on
//! `<dossier>/dossier.lock` while the dossier is open. svgauto takes the
//! exclusive lock with `try_lock` — flock on Unix, LockFileEx on Windows,
//! through std — so it never waits and never saves an open dossier; while it
//! holds the lock, the application cannot open the dossier. The lock is
//! released when the [`Held`] value is dropped (the file is closed).
//!
//! The run lock (`<base>/.svgauto/run.lock`) is the same mechanism, so two
//! runs on one base cannot overlap and a killed run leaves no stale lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// An exclusive lock, held until dropped.
#[derive(Debug)]
pub struct Held {
    _file: File,
    /// The lock file.
    pub path: PathBuf,
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Someone else holds it.
    Busy,
    /// The lock file could not be opened or locked.
    Io(io::Error),
}

impl Held {
    /// The file system's own clock, now: the change time the lock file gets
    /// when its modification time is set (its content is not touched). A
    /// file server stamps files with its clock, which may be off from this
    /// machine's; a file's stamps are compared with this one (see
    /// `scan::Mtime::is_racy`). `None` when the lock file cannot be
    /// touched (read-only): the caller then takes this machine's clock.
    pub fn file_system_now(&self) -> Option<std::time::SystemTime> {
        self._file.set_modified(std::time::SystemTime::now()).ok()?;
        let meta = self._file.metadata().ok()?;
        Some(crate::sys::time::Mtime::changed(&meta).to_system())
    }
}

/// Takes the exclusive lock on `path` without waiting, creating the file if
/// needed (its content is never read or written).
pub fn try_exclusive(path: &Path) -> Result<Held, LockError> {
    let file = open(path).map_err(LockError::Io)?;
    match file.try_lock() {
        Ok(()) => Ok(Held {
            _file: file,
            path: path.to_owned(),
        }),
        Err(TryLockError::WouldBlock) => Err(LockError::Busy),
        Err(TryLockError::Error(e)) => Err(LockError::Io(e)),
    }
}

/// Whether someone holds a lock on `path` now, without creating the file (a
/// dossier without a lock file is not in use): `run --dry-run` and
/// `status` ask this. The exclusive lock is taken and released at once.
/// When it cannot be told (the file cannot be opened, is not a plain file:
/// a FIFO would block a plain open forever), the answer is "in use", the
/// careful one.
pub fn in_use(path: &Path) -> bool {
    match crate::sys::fs::open_regular(path) {
        Ok(Some(f)) => !matches!(f.try_lock(), Ok(())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        _ => true,
    }
}

/// Takes the exclusive lock on `path`, waiting for it (used by `svgauto hold`).
pub fn exclusive(path: &Path) -> io::Result<Held> {
    let file = open(path)?;
    file.lock()?;
    Ok(Held {
        _file: file,
        path: path.to_owned(),
    })
}

/// Opens (creating if needed) a lock file. An existing lock file that is
/// read-only for us is opened for reading: the OS lock works on it too.
fn open(path: &Path) -> io::Result<File> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
    {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && path.is_file() => File::open(path),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_is_refused_until_release() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("dossier.lock");
        let held = try_exclusive(&p).unwrap();
        assert!(matches!(try_exclusive(&p), Err(LockError::Busy)));
        // A shared lock (an application opening the dossier) is refused too.
        let f = File::open(&p).unwrap();
        assert!(matches!(f.try_lock_shared(), Err(TryLockError::WouldBlock)));
        drop(held);
        assert!(try_exclusive(&p).is_ok());
    }
}
