//! File primitives the run, the restore and the locks share: opening a
//! file without following a link or blocking on a FIFO, positioned reads,
//! flushing a group of files at once, and flushing a folder's entries
//! (with the file systems that cannot).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Opens a file the scan saw as a regular file, `None` if it no longer is
/// one. On Unix the open neither blocks (a FIFO put in its place since the
/// scan would hang the run in `open` until someone writes to it) nor
/// follows a symbolic link put in its place (links are never followed).
pub fn open_regular(path: &Path) -> io::Result<Option<File>> {
    let Some(f) = open_unchecked(path)? else {
        return Ok(None);
    };
    Ok(f.metadata()?.is_file().then_some(f))
}

/// Opens `path` for reading as [`open_regular`] does (no link followed, no
/// wait on a FIFO; `None` for a link), without checking what was opened:
/// for a caller that checks the open file's metadata itself after reading
/// it (one `fstat` instead of two). A read of a folder or a FIFO fails.
pub fn open_unchecked(path: &Path) -> io::Result<Option<File>> {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    match o.open(path) {
        Ok(f) => Ok(Some(f)),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads `buf.len()` bytes of `f` at `offset`, leaving the file's offset
/// alone (a positioned read: several threads read chunks of one file at
/// once). An `UnexpectedEof` error, worded in French for the report, if
/// the file is shorter.
pub fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let (len, start) = (buf.len(), offset);
    let short = move || {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("fichier plus court que prévu : {len} octets attendus à la position {start}"),
        )
    };
    #[cfg(unix)]
    {
        match std::os::unix::fs::FileExt::read_exact_at(f, buf, offset) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(short()),
            r => r,
        }
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(f, buf, offset) {
                Ok(0) => return Err(short()),
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

/// Flushes the data of several files at once (a group commit): on return,
/// each file whose result is `Ok` has its data on disk, as after its own
/// `fsync`. The result at index `i` is that of `files[i]`.
///
/// Where every file is on one local disk file system whose `syncfs(2)`
/// waits for the data and the device's cache (ext2/3/4, XFS, Btrfs: their
/// `sync_fs` commits the journal or issues the cache flush), the group is
/// flushed by one `syncfs`: one write-back and one cache flush for the
/// whole group instead of one per file. Since Linux 5.8 `syncfs` reports
/// the write-back errors of the file system (`errseq`, see syncfs(2));
/// an error is then given to every file of the group. Anywhere else
/// (network shares, whose `syncfs` may not reach the server's disk; FUSE;
/// other systems), each file is flushed with its own `sync_all`.
pub fn flush_files(files: &[&File]) -> Vec<io::Result<()>> {
    #[cfg(target_os = "linux")]
    if let Some(first) = files.first()
        && files.len() > 1
        && one_syncfs_flushes_all(files)
    {
        return match rustix::fs::syncfs(first) {
            Ok(()) => files.iter().map(|_| Ok(())).collect(),
            Err(e) => {
                let e = io::Error::from(e);
                files
                    .iter()
                    .map(|_| Err(io::Error::new(e.kind(), e.to_string())))
                    .collect()
            }
        };
    }
    files.iter().map(|f| f.sync_all()).collect()
}

/// Whether every file of `files` is on the same file system, of a kind
/// whose `syncfs` is as durable as an `fsync` of each file (see
/// [`flush_files`]): the magic numbers of statfs(2).
#[cfg(target_os = "linux")]
fn one_syncfs_flushes_all(files: &[&File]) -> bool {
    use std::os::unix::fs::MetadataExt;
    const EXT234: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const BTRFS: i64 = 0x9123_683E;
    let Some(first) = files.first() else {
        return false;
    };
    let Ok(st) = rustix::fs::fstatfs(first) else {
        return false;
    };
    // `f_type`'s integer type differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    let kind = st.f_type as i64;
    if ![EXT234, XFS, BTRFS].contains(&kind) {
        return false;
    }
    let dev = |f: &File| f.metadata().map(|m| m.dev()).ok();
    let d0 = dev(first);
    d0.is_some() && files[1..].iter().all(|f| dev(f) == d0)
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

    /// A group of files on one disk file system, and a group of one: one
    /// result per file, each `Ok`, and the data are there to read back.
    #[test]
    fn a_group_of_files_is_flushed_with_one_result_each() {
        let d = tempfile::tempdir().unwrap();
        let files: Vec<File> = (0..5)
            .map(|i| {
                let mut f = File::create(d.path().join(format!("f{i}"))).unwrap();
                io::Write::write_all(&mut f, &[i as u8; 10_000]).unwrap();
                f
            })
            .collect();
        let refs: Vec<&File> = files.iter().collect();
        let results = flush_files(&refs);
        assert_eq!(results.len(), 5);
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        assert!(flush_files(&refs[..1]).pop().unwrap().is_ok());
        assert!(flush_files(&[]).is_empty());
        for i in 0..5u8 {
            assert_eq!(
                fs::read(d.path().join(format!("f{i}"))).unwrap(),
                [i; 10_000]
            );
        }
    }

    /// `syncfs` is taken only for a group on one local disk file system
    /// (the test's temporary folder: whatever its kind, the answer must
    /// match what `statfs` says of it), never for files on two.
    #[cfg(target_os = "linux")]
    #[test]
    fn syncfs_is_chosen_only_for_one_disk_file_system() {
        let d = tempfile::tempdir().unwrap();
        let a = File::create(d.path().join("a")).unwrap();
        let b = File::create(d.path().join("b")).unwrap();
        let kind = rustix::fs::fstatfs(&a).unwrap().f_type as i64;
        let disk = [0xEF53, 0x5846_5342, 0x9123_683E].contains(&kind);
        assert_eq!(one_syncfs_flushes_all(&[&a, &b]), disk);
        // /proc is never a disk file system.
        let p = File::open("/proc/self/status").unwrap();
        assert!(!one_syncfs_flushes_all(&[&p, &a]));
        assert!(!one_syncfs_flushes_all(&[&a, &p]));
    }

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
