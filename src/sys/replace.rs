//! Putting a finished file in place over the older one (a rename), and, on
//! Windows, waiting a little for a program that holds the older one open.
//!
//! On Windows a file open in another program without delete sharing cannot
//! be replaced: the rename fails with `ERROR_ACCESS_DENIED` or
//! `ERROR_SHARING_VIOLATION` for as long as it is open. The programs that do
//! this to a `B<CODE>.SVG` are an antivirus scanning the new archive's
//! predecessor, the search indexer, a backup agent, or a user's Explorer
//! window showing the archive's preview: the first ones let go within a
//! second or two. So the rename is retried for [`PATIENCE`], and then fails
//! with [`Held`], naming the programs when Windows' Restart Manager (the API
//! installers use to find who holds a file) can tell. The older file is never
//! touched: it stays the dossier's backup until the next run replaces it.

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

/// How long [`replace`] keeps retrying while the target is held (Windows):
/// long enough for an antivirus or an indexer, short enough that a window
/// left open does not stall a night of thousands of archives.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// Why [`replace`] failed.
#[derive(Debug)]
pub enum ReplaceError {
    /// The rename failed for another reason (the error as it came).
    Io(io::Error),
    /// Windows: the target stayed open in another program, without delete
    /// sharing, for the whole [`PATIENCE`].
    Held(Held),
}

/// The target of a [`replace`] another program kept open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The programs holding it, as the Restart Manager names them
    /// (`"explorer.exe (pid 4312)"`); empty when it cannot tell (under Wine,
    /// or a program of another session the account may not see).
    pub holders: Vec<String>,
    /// How long the rename was retried.
    pub waited: Duration,
}

impl fmt::Display for Held {
    /// The French clause of the report: "ouvert par un autre programme
    /// (explorer.exe (pid 4312)) …".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = if self.holders.is_empty() {
            "un antivirus, l'indexation ou une fenêtre de l'Explorateur ?".to_owned()
        } else {
            self.holders.join(", ")
        };
        write!(
            f,
            "ouvert par un autre programme ({who}) qui en empêche le remplacement (réessayé pendant {} s)",
            self.waited.as_secs()
        )
    }
}

/// Renames `from` over `to`, replacing it. On Unix one `rename(2)`. On
/// Windows, while `to` is held open by another program (the two errors
/// above, and `to` not read-only), the rename is retried for [`PATIENCE`],
/// every 50 ms at first and then every 500 ms; after that, [`ReplaceError::Held`].
/// `from` and `to` are left as they were on any error.
pub fn replace(from: &Path, to: &Path) -> Result<(), ReplaceError> {
    replace_within(from, to, PATIENCE)
}

/// [`replace`] with a given patience (the tests use a short one).
pub fn replace_within(from: &Path, to: &Path, patience: Duration) -> Result<(), ReplaceError> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let e = match std::fs::rename(from, to) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if !held(&e, to) {
            return Err(ReplaceError::Io(e));
        }
        let waited = started.elapsed();
        if waited >= patience {
            return Err(ReplaceError::Held(Held {
                holders: holders(to),
                waited,
            }));
        }
        std::thread::sleep(pause.min(patience - waited));
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Whether a failed rename over `to` means another program holds `to`
/// open: on Windows `ERROR_ACCESS_DENIED` (5) or `ERROR_SHARING_VIOLATION`
/// (32) or `ERROR_LOCK_VIOLATION` (33) while `to` exists and is not
/// read-only (a read-only target is refused as access denied too, and
/// waiting would not change it). Never on Unix, where an open file does not
/// prevent its replacement.
fn held(e: &io::Error, to: &Path) -> bool {
    if !cfg!(windows) || !matches!(e.raw_os_error(), Some(5 | 32 | 33)) {
        return false;
    }
    std::fs::symlink_metadata(to).is_ok_and(|m| m.is_file() && !m.permissions().readonly())
}

/// The programs holding `path` open, as Windows' Restart Manager lists
/// them; empty when it cannot tell.
#[cfg(windows)]
fn holders(path: &Path) -> Vec<String> {
    let list = || -> Result<Vec<String>, restart_manager::Error> {
        let mut session = restart_manager::RestartSession::new()?;
        session.register_files([path])?;
        let apps = session.affected_applications()?;
        let names = apps
            .iter()
            .map(|a| {
                let name = a.display_name().to_string_lossy().into_owned();
                match a.process() {
                    Some(p) => format!("{name} (pid {})", p.pid()),
                    None => name,
                }
            })
            .collect();
        session.end()?;
        Ok(names)
    };
    list().unwrap_or_default()
}

#[cfg(not(windows))]
fn holders(_path: &Path) -> Vec<String> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain replacement; a missing source is an ordinary error, not a
    /// held target, and changes nothing.
    #[test]
    fn replaces_and_reports_other_errors_as_they_are() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a.partial"), d.path().join("B.SVG"));
        std::fs::write(&a, b"new").unwrap();
        std::fs::write(&b, b"old").unwrap();
        replace(&a, &b).unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"new");
        assert!(!a.exists());
        match replace_within(&a, &b, Duration::from_millis(10)) {
            Err(ReplaceError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
            other => panic!("expected the rename's own error, got {other:?}"),
        }
        assert_eq!(std::fs::read(&b).unwrap(), b"new");
    }

    /// The report's clause names the holders, or says who usually holds an
    /// archive when Windows cannot tell.
    #[test]
    fn the_message_names_the_holders_or_the_usual_suspects() {
        let named = Held {
            holders: vec!["explorer.exe (pid 4312)".into()],
            waited: Duration::from_millis(5_020),
        };
        assert_eq!(
            named.to_string(),
            "ouvert par un autre programme (explorer.exe (pid 4312)) qui en empêche le remplacement (réessayé pendant 5 s)"
        );
        let unknown = Held {
            holders: vec![],
            waited: PATIENCE,
        };
        assert!(unknown.to_string().contains("antivirus"));
    }

    /// On Windows, a target open without delete sharing is waited for, and
    /// replaced as soon as it is let go.
    #[cfg(windows)]
    #[test]
    fn a_target_let_go_within_the_patience_is_replaced() {
        use std::os::windows::fs::OpenOptionsExt;
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a.partial"), d.path().join("B.SVG"));
        std::fs::write(&a, b"new").unwrap();
        std::fs::write(&b, b"old").unwrap();
        const FILE_SHARE_READ: u32 = 1;
        let holder = std::fs::OpenOptions::new()
            .read(true)
            .share_mode(FILE_SHARE_READ)
            .open(&b)
            .unwrap();
        match replace_within(&a, &b, Duration::from_millis(300)) {
            Err(ReplaceError::Held(h)) => assert!(h.waited >= Duration::from_millis(300)),
            other => panic!("expected a held target, got {other:?}"),
        }
        assert_eq!(std::fs::read(&b).unwrap(), b"old");
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(holder);
        });
        replace_within(&a, &b, Duration::from_secs(5)).unwrap();
        t.join().unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"new");
    }
}
