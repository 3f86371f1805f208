//! Opening the catalog: for writing (created owner-only if need be; an
//! unreadable one set aside and rebuilt, unless the command may not), or
//! only to read it (`status`, `run --dry-run`: nothing created, nothing
//! written beside it, an older catalog brought up to date in memory).

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::migrations::{MIGRATIONS, OpenFail, check, has_table, migrate, user_version};
use super::{Catalog, CatalogError};

impl Catalog {
    /// Opens (creating if needed) the catalog in `state_dir`.
    ///
    /// A catalog that is not a database, is damaged (SQLite's
    /// `quick_check`) or lacks svgauto's tables is set aside as
    /// `catalog.sqlite.illisible-YYYYMMDD-HHMMSS` and rebuilt empty, and
    /// [`Catalog::rebuilt`] says so: every dossier is then "never saved" and
    /// saved again — the safe side, nothing is wrongly skipped. Any other
    /// failure (locked, permissions, full disk) stops the command and
    /// touches nothing.
    pub fn open(state_dir: &Path) -> Result<Catalog, CatalogError> {
        Self::open_with(state_dir, true)
    }

    /// [`Catalog::open`] for a command that does not hold the base's run
    /// lock (`save`): an unreadable catalog is `CatalogError::Unusable`,
    /// never set aside under a run that may be writing into it.
    pub fn open_without_rebuild(state_dir: &Path) -> Result<Catalog, CatalogError> {
        Self::open_with(state_dir, false)
    }

    fn open_with(state_dir: &Path, rebuild: bool) -> Result<Catalog, CatalogError> {
        crate::sys::owner_only::create_dir_all(state_dir).map_err(|source| CatalogError::Dir {
            path: state_dir.to_owned(),
            source,
        })?;
        let path = state_dir.join(Self::FILE);
        let why = match Self::open_at(&path, MIGRATIONS) {
            Ok(c) => return Ok(c),
            Err(OpenFail::Unusable(why)) if rebuild => why,
            Err(fail) => return Err(failed(path, fail)),
        };
        let aside = set_aside(state_dir, &path)?;
        let mut c = Self::open_at(&path, MIGRATIONS).map_err(|fail| failed(path.clone(), fail))?;
        c.rebuilt = Some(format!(
            "catalogue {} illisible ({why}) : mis de côté sous {} et reconstruit ; \
             tous les dossiers sont considérés comme jamais sauvegardés et sont sauvegardés à nouveau",
            path.display(),
            aside.display()
        ));
        Ok(c)
    }

    /// Opens, checks and brings up to date the catalog at `path`, whose
    /// schema is `migrations` (a parameter for the tests of future steps).
    ///
    /// A new catalog is created owner-only (`owner_only::FILE_MODE`, an
    /// empty file SQLite takes as an empty database); SQLite gives its
    /// `-wal` and `-shm` files the permissions of the database.
    pub(super) fn open_at(path: &Path, migrations: &[&str]) -> Result<Catalog, OpenFail> {
        // Any failure here (the file exists, a read-only or full disk) is
        // left to SQLite's own opening, which says it as it always has.
        let _ = crate::sys::owner_only::create_new(path);
        let conn = Connection::open_with_flags_and_vfs(
            sqlite_path(path),
            rusqlite::OpenFlags::default(),
            VFS,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Checked before anything is written into it: a file set aside, or
        // refused as a newer release's, is kept exactly as it was found.
        check(&conn, migrations)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        migrate(&conn, migrations)?;
        Ok(Catalog {
            conn,
            path: path.to_owned(),
            rebuilt: None,
        })
    }

    /// Opens the catalog only to read it, creating nothing (`status`,
    /// `run --dry-run`): `None` when the base has never been saved.
    ///
    /// A catalog the next run would rebuild is [`CatalogError::Unusable`],
    /// one of a newer release [`CatalogError::Newer`]. One of an older
    /// release is read as the next run will see it: copied into memory and
    /// brought up to date there, the file left as it is.
    pub fn open_read_only(state_dir: &Path) -> Result<Option<Catalog>, CatalogError> {
        Self::open_read_only_with(state_dir, MIGRATIONS)
    }

    pub(super) fn open_read_only_with(
        state_dir: &Path,
        migrations: &[&str],
    ) -> Result<Option<Catalog>, CatalogError> {
        let path = state_dir.join(Self::FILE);
        if !path.exists() {
            return Ok(None);
        }
        let err = |cause| CatalogError::Sqlite {
            path: path.clone(),
            cause,
        };
        let conn = Self::connect_read_only(state_dir).map_err(err)?;
        let version = check(&conn, migrations).map_err(|fail| failed(path.clone(), fail))?;
        if version == 0 && !has_table(&conn, "dossier").map_err(err)? {
            // An empty database: as good as none.
            return Ok(None);
        }
        if version == migrations.len() as i64 {
            return Ok(Some(Catalog {
                conn,
                path,
                rebuilt: None,
            }));
        }
        let mut copy = Connection::open_in_memory().map_err(err)?;
        rusqlite::backup::Backup::new(&conn, &mut copy)
            .and_then(|b| b.run_to_completion(i32::MAX, std::time::Duration::from_millis(10), None))
            .map_err(err)?;
        drop(conn);
        migrate(&copy, migrations).map_err(|fail| failed(path.clone(), fail))?;
        Ok(Some(Catalog {
            conn: copy,
            path,
            rebuilt: None,
        }))
    }

    /// A read-only connection to the catalog of `state_dir`, which exists.
    fn connect_read_only(state_dir: &Path) -> rusqlite::Result<Connection> {
        use rusqlite::OpenFlags;
        let path = state_dir.join(Self::FILE);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // A catalog at rest has no `-wal` file (the last connection folded
        // it into the database): opened "immutable", SQLite then creates no
        // `-wal`/`-shm` beside it either, so `status` and `--dry-run` write
        // nothing. While a run has it open, the usual read-only open reads
        // the run's latest commits (and the `-shm` the run already made).
        let wal = state_dir.join(format!("{}-wal", Self::FILE));
        let conn = if wal.exists() {
            Connection::open_with_flags_and_vfs(sqlite_path(&path), flags, VFS)
        } else {
            let uri = file_uri(&sqlite_path(&path))
                .ok_or_else(|| rusqlite::Error::InvalidPath(path.clone()))?;
            Connection::open_with_flags_and_vfs(
                format!("{uri}?immutable=1"),
                flags | OpenFlags::SQLITE_OPEN_URI,
                VFS,
            )
        }?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    /// Refuses, before a command writes anything, a catalog written by a
    /// newer release ([`CatalogError::Newer`]); reads only its version. No
    /// catalog, or one that cannot be read, is no reason to refuse: the
    /// command's own opening of the catalog deals with those.
    pub fn refuse_newer(state_dir: &Path) -> Result<(), CatalogError> {
        let path = state_dir.join(Self::FILE);
        if !path.is_file() {
            return Ok(());
        }
        let found = Self::connect_read_only(state_dir).and_then(|c| user_version(&c));
        match found {
            Ok(found) if found > MIGRATIONS.len() as i64 => Err(newer(path, found)),
            _ => Ok(()),
        }
    }
}

/// The command's error for a catalog at `path` that could not be opened.
fn failed(path: PathBuf, fail: OpenFail) -> CatalogError {
    match fail {
        OpenFail::Unusable(why) => CatalogError::Unusable { path, why },
        OpenFail::Newer(found) => newer(path, found),
        OpenFail::Other(cause) => CatalogError::Sqlite { path, cause },
    }
}

/// Renames the unusable catalog at `path` (in `state_dir`) to
/// `catalog.sqlite.illisible-YYYYMMDD-HHMMSS` — never over an earlier one:
/// `-2`, `-3`… within the same second — with its `-wal` and `-shm` files
/// beside it. Returns the new name.
fn set_aside(state_dir: &Path, path: &Path) -> Result<PathBuf, CatalogError> {
    let file = Catalog::FILE;
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let aside = (1..)
        .map(|n| {
            let suffix = if n == 1 {
                String::new()
            } else {
                format!("-{n}")
            };
            state_dir.join(format!("{file}.illisible-{stamp}{suffix}"))
        })
        .find(|p| !p.exists())
        .expect("a free name");
    std::fs::rename(path, &aside).map_err(|source| CatalogError::SetAside {
        path: path.to_owned(),
        aside: aside.clone(),
        source,
    })?;
    for suffix in ["-wal", "-shm"] {
        let side = state_dir.join(format!("{file}{suffix}"));
        if side.exists() {
            // Named from the path's own bytes, not a text copy of it (a
            // base whose path is not UTF-8). SQLite usually removes them
            // itself when it closes the damaged file.
            let mut side_aside = aside.clone().into_os_string();
            side_aside.push(suffix);
            let _ = std::fs::rename(&side, side_aside);
        }
    }
    Ok(aside)
}

/// The error of a catalog written by a newer release.
fn newer(path: PathBuf, found: i64) -> CatalogError {
    CatalogError::Newer {
        path,
        found,
        known: MIGRATIONS.len() as i64,
    }
}

/// The SQLite VFS the catalog is opened with. On Windows, SQLite's default
/// VFS ("win32") stops at `MAX_PATH` (260 characters:
/// `SQLITE_WIN32_MAX_PATH_CHARS` in its `os_win.c`) and hands the path to
/// `CreateFileW` as given; its "win32-longpath" VFS takes paths of up to
/// 32,767 characters, given with the `\\?\` prefix ([`sqlite_path`]). Unix:
/// the default VFS.
#[cfg(windows)]
const VFS: &str = "win32-longpath";
#[cfg(not(windows))]
const VFS: &str = "unix";

/// The name SQLite is given for `path`. On Windows the absolute path with
/// the `\\?\` prefix (`\\?\UNC\server\share\…` for a share), as Rust's
/// standard library does for its own file operations, so that a base deeper
/// than 260 characters opens its catalog; elsewhere `path` itself.
fn sqlite_path(path: &Path) -> PathBuf {
    #[cfg(windows)]
    {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let Some(s) = abs.to_str() else {
            return abs;
        };
        if s.starts_with(r"\\?\") || s.starts_with(r"\\.\") {
            abs
        } else if let Some(unc) = s.strip_prefix(r"\\") {
            PathBuf::from(format!(r"\\?\UNC\{unc}"))
        } else {
            PathBuf::from(format!(r"\\?\{s}"))
        }
    }
    #[cfg(not(windows))]
    {
        path.to_owned()
    }
}

/// `file:` URI of a path for SQLite (<https://www.sqlite.org/uri.html>),
/// from the path's own bytes: every byte but unreserved characters and `/`
/// is percent-encoded (SQLite decodes `%HH` back into that byte), so a path
/// that is not UTF-8 (a Latin-1 share name) names the same file as it does
/// to the system. An absolute path gets an empty authority (`file:///a`,
/// and `file:////x` for `//x`, which would otherwise read as a host).
/// Windows: the path as [`sqlite_path`] gives it (`\\?\C:\x`), each `\`
/// percent-encoded like any other byte, which SQLite decodes back; `None`
/// for a path that is not valid Unicode there, which SQLite cannot open
/// under any name (nor, then, can `run`).
fn file_uri(path: &Path) -> Option<String> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = path.to_str()?.as_bytes().to_vec();
    let mut uri = String::from("file:");
    let drive = bytes.get(1) == Some(&b':') && bytes[0].is_ascii_alphabetic();
    if bytes.first() == Some(&b'/') {
        uri.push_str("//");
    } else if drive && cfg!(windows) {
        uri.push('/');
    }
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) || (i == 1 && drive && cfg!(windows))
        {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    Some(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_catalog_is_set_aside_and_rebuilt() {
        for garbage in [
            &b"garbage garbage garbage"[..],
            &[0u8; 8192][..],
            b"SQLite format 3\0 then nothing that makes sense",
        ] {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join(Catalog::FILE), garbage).unwrap();
            let c = Catalog::open(d.path()).unwrap();
            let msg = c.rebuilt.clone().expect("rebuilt");
            assert!(msg.contains("illisible"), "{msg}");
            assert!(c.states().unwrap().is_empty());
            let aside: Vec<_> = std::fs::read_dir(d.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("catalog.sqlite.illisible-"))
                .collect();
            assert_eq!(aside.len(), 1, "{aside:?}");
            drop(c);
            assert!(Catalog::open(d.path()).unwrap().rebuilt.is_none());
        }
        // A database that is not svgauto's catalog.
        let d = tempfile::tempdir().unwrap();
        let other = Connection::open(d.path().join(Catalog::FILE)).unwrap();
        other
            .execute_batch("CREATE TABLE dossier (code TEXT PRIMARY KEY, autre TEXT);")
            .unwrap();
        drop(other);
        assert!(Catalog::open(d.path()).unwrap().rebuilt.is_some());
    }

    #[test]
    fn read_only_open_writes_nothing_beside_a_catalog_at_rest() {
        let d = tempfile::tempdir().unwrap();
        // `?` cannot be in a Windows file name; `#` and `%` can, and must
        // be escaped in the catalog's URI there too.
        let dir = d.path().join(if cfg!(windows) {
            "état #%"
        } else {
            "état ?#%"
        });
        assert!(Catalog::open_read_only(&dir).unwrap().is_none());
        let c = Catalog::open(&dir).unwrap();
        let now = chrono::Local::now();
        let run = c.begin_run(now, "COMPT", "r.txt").unwrap();
        c.record_success("A", Some(run), "fp", now, "sauve/BA.SVG", 1)
            .unwrap();
        drop(c);
        let files = || {
            let mut v: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            v.sort();
            v
        };
        let before = files();
        let r = Catalog::open_read_only(&dir).unwrap().unwrap();
        assert_eq!(r.states().unwrap()["A"].fingerprint.as_deref(), Some("fp"));
        drop(r);
        assert_eq!(files(), before);
        #[cfg(windows)]
        assert_eq!(
            file_uri(&sqlite_path(Path::new("C:\\a b"))).unwrap(),
            "file:%5C%5C%3F%5CC%3A%5Ca%20b"
        );
        #[cfg(windows)]
        assert_eq!(
            sqlite_path(Path::new(r"\\serveur\partage\base")),
            Path::new(r"\\?\UNC\serveur\partage\base")
        );
    }

    /// The read-only catalog is found from the path's bytes: a folder name
    /// that is not UTF-8, or holds what a URI gives a meaning to.
    #[cfg(unix)]
    #[test]
    fn read_only_open_from_any_path_bytes() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(
            file_uri(Path::new(std::ffi::OsStr::from_bytes(b"/b\xe9/c d?#%:\\"))).unwrap(),
            "file:///b%E9/c%20d%3F%23%25%3A%5C"
        );
        assert_eq!(file_uri(Path::new("//x/y")).unwrap(), "file:////x/y");
        assert_eq!(file_uri(Path::new("rel/C:a")).unwrap(), "file:rel/C%3Aa");
        let d = tempfile::tempdir().unwrap();
        for name in [&b"Cabinet\xe9"[..], b"a?immutable=0#x", b"100% \\ :"] {
            let dir = d
                .path()
                .join(std::ffi::OsStr::from_bytes(name))
                .join(".svgauto");
            let c = Catalog::open(&dir).unwrap();
            c.record_success("A", None, "fp", chrono::Local::now(), "sauve/BA.SVG", 1)
                .unwrap();
            drop(c);
            let r = Catalog::open_read_only(&dir).unwrap().expect("found");
            assert_eq!(r.states().unwrap()["A"].fingerprint.as_deref(), Some("fp"));
        }
    }
}
