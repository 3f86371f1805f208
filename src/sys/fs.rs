//! File primitives the run, the restore and the locks share: opening a
//! file without following a link or blocking on a FIFO, positioned reads,
//! and flushing a folder's entries (with the file systems that cannot).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Opens a file the scan saw as a regular file, `None` if it no longer is
/// one. On Unix the open neither blocks (a FIFO put in its place since the
/// scan would hang the run in `open` until someone writes to it) nor
/// follows a symbolic link put in its place (links are never followed).
pub fn open_regular(path: &Path) -> io::Result<Option<File>> {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let f = match o.open(path) {
        Ok(f) => f,
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(f.metadata()?.is_file().then_some(f))
}

/// Reads `buf.len()` bytes of `f` at `offset`, leaving the file's offset
/// alone (a positioned read: several threads read chunks of one file at
/// once). An `UnexpectedEof` error if the file is shorter.
pub fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(f, buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Flushes a folder's entry list, so a rename in it survives a power cut.
///
/// Some file systems cannot flush a folder and say so: `fsync` on a folder
/// fails with `EINVAL` on CIFS/SMB before Linux 4.17 and on FUSE file
/// systems without that operation, `ENOTSUP`/`EOPNOTSUPP` or `ENOSYS` on
/// others. Callers flush a file itself before renaming it, so such a
/// refusal is not an error: `Ok(Flushed::Unsupported)`, and the folder is
/// remembered for [`unflushed_warnings`]. Any other failure (`EIO`,
/// `ENOSPC`, no permission to open the folder…) is returned as it is.
pub fn sync_dir(dir: &Path) -> io::Result<Flushed> {
    #[cfg(unix)]
    {
        match File::open(dir)?.sync_all() {
            Ok(()) => Ok(Flushed::Done),
            Err(e) if flush_unsupported(&e) => {
                remember_unflushed(dir, &e);
                Ok(Flushed::Unsupported)
            }
            Err(e) => Err(e),
        }
    }
    #[cfg(windows)]
    {
        // A folder opens as a file with FILE_FLAG_BACKUP_SEMANTICS. NTFS
        // journals renames itself, and some file systems refuse to flush a
        // folder: a refusal here is not an error.
        use std::os::windows::fs::OpenOptionsExt;
        const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
        if let Ok(f) = File::options()
            .read(true)
            .write(true)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
            .open(dir)
        {
            let _ = f.sync_all();
        }
        Ok(Flushed::Done)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
        Ok(Flushed::Done)
    }
}

/// What [`sync_dir`] could do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// The folder's entries are on disk.
    Done,
    /// The file system does not flush folders (see [`sync_dir`]).
    Unsupported,
}

/// Whether a folder flush failed because the file system does not offer
/// it, rather than because something went wrong.
#[cfg(unix)]
fn flush_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(c) if c == libc::EINVAL || c == libc::ENOTSUP || c == libc::EOPNOTSUPP || c == libc::ENOSYS
    )
}

/// The folders that could not be flushed since the last
/// [`unflushed_warnings`], by file system (device number), with the first
/// error of each file system.
#[cfg(unix)]
type Unflushed = Vec<(u64, String, std::collections::BTreeSet<std::path::PathBuf>)>;

#[cfg(unix)]
static UNFLUSHED: std::sync::Mutex<Unflushed> = std::sync::Mutex::new(Vec::new());

#[cfg(unix)]
fn remember_unflushed(dir: &Path, e: &io::Error) {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(dir).map(|m| m.dev()).unwrap_or(0);
    let mut seen = UNFLUSHED.lock().unwrap_or_else(|p| p.into_inner());
    match seen.iter_mut().find(|(d, ..)| *d == dev) {
        Some((.., dirs)) => {
            dirs.insert(dir.to_owned());
        }
        None => seen.push((dev, e.to_string(), [dir.to_owned()].into())),
    }
}

/// One sentence per file system whose folders could not be flushed since
/// the last call (see [`sync_dir`]), naming the topmost such folder (the
/// backup folder, or where a restore went) and how many others; empty when
/// every flush worked. A command says them once, on stderr (and a run
/// in its JSON report's `warnings`).
pub fn unflushed_warnings() -> Vec<String> {
    #[cfg(unix)]
    {
        let seen = std::mem::take(&mut *UNFLUSHED.lock().unwrap_or_else(|p| p.into_inner()));
        seen.into_iter()
            .map(|(_, why, dirs)| {
                let dir = dirs
                    .iter()
                    .min_by_key(|d| (d.components().count(), d.as_os_str().len()))
                    .cloned()
                    .unwrap_or_default();
                let others = match dirs.len() {
                    1 => String::new(),
                    n => format!(
                        " (et {} autre(s) répertoire(s) du même système de fichiers)",
                        n - 1
                    ),
                };
                format!(
                    "le système de fichiers de {}{others} refuse de vider un répertoire sur disque ({why}) : \
                     les fichiers y ont été écrits et vidés sur disque avant d'être renommés, mais ce \
                     système seul garantit qu'un renommage y survit à une coupure de courant",
                    dir.display()
                )
            })
            .collect()
    }
    #[cfg(not(unix))]
    {
        Vec::new()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::fs;

    #[cfg(unix)]
    #[test]
    fn a_file_turned_into_a_fifo_or_a_link_is_not_opened_through() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Would block forever without O_NONBLOCK.
        assert!(open_regular(&fifo).unwrap().is_none());
        fs::write(d.path().join("vrai.txt"), b"x").unwrap();
        std::os::unix::fs::symlink("vrai.txt", d.path().join("lien")).unwrap();
        assert!(open_regular(&d.path().join("lien")).unwrap().is_none());
        assert!(open_regular(&d.path().join("vrai.txt")).unwrap().is_some());
    }

    /// A folder flush the file system does not offer is not an error; a
    /// flush that went wrong is.
    #[cfg(unix)]
    #[test]
    fn a_folder_flush_refused_as_unsupported_is_not_an_error() {
        for code in [libc::EINVAL, libc::ENOTSUP, libc::EOPNOTSUPP, libc::ENOSYS] {
            assert!(
                flush_unsupported(&io::Error::from_raw_os_error(code)),
                "{code}"
            );
        }
        for code in [
            libc::EIO,
            libc::ENOSPC,
            libc::EDQUOT,
            libc::EACCES,
            libc::EROFS,
        ] {
            assert!(
                !flush_unsupported(&io::Error::from_raw_os_error(code)),
                "{code}"
            );
        }
        assert!(!flush_unsupported(&io::Error::other("x")));
        let d = tempfile::tempdir().unwrap();
        assert_eq!(sync_dir(d.path()).unwrap(), Flushed::Done);
        assert!(sync_dir(&d.path().join("absent")).is_err());
    }
}
