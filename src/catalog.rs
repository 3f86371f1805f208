//! The catalog: `<base>/.svgauto/catalog.sqlite`, the tool's memory between
//! runs — per dossier the fingerprint and time of its last successful backup,
//! where that archive is, the last result and its error, and an "in
//! progress" marker; plus the history of runs.
//!
//! Only the run's single writer thread owns a `Catalog`. A fingerprint is
//! stored only after its archive was flushed, renamed into place and its
//! folder flushed, so whatever the catalog claims is on disk. The database is
//! in WAL mode with `synchronous = NORMAL`: a power cut may lose its last
//! transactions but never corrupts it, and losing a "saved" record only
//! means the dossier is saved again — the order of the flushes, not the
//! catalog's own fsync, is what keeps it from claiming a backup that is not
//! there. The in-progress marker is set before an archive is started; a
//! leftover `.partial` tells the same if the marker was lost.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CatalogError {
    /// The cause is said once, in French when it is the full disk (not a
    /// `source`: SQLite's own chain repeats it).
    #[error("catalogue {} : {}", path.display(), describe(cause))]
    Sqlite {
        path: PathBuf,
        cause: rusqlite::Error,
    },
    #[error("catalogue {} illisible : {why}", path.display())]
    Unusable { path: PathBuf, why: String },
    #[error("catalogue {} illisible, et impossible à mettre de côté sous {}", path.display(), aside.display())]
    SetAside {
        path: PathBuf,
        aside: PathBuf,
        source: std::io::Error,
    },
    #[error("catalogue {} : création du répertoire impossible", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The last result of a dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastResult {
    Ok,
    Error,
    /// Not started before the run stopped: goes first next time.
    Deferred,
}

/// What the catalog knows of one dossier.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DossierState {
    /// Fingerprint at the last successful backup.
    pub fingerprint: Option<String>,
    pub last_backup_at: Option<String>,
    pub last_archive: Option<String>,
    /// Size in bytes of `last_archive` when it was written (`None` in
    /// catalogs that did not record it).
    pub last_bytes: Option<u64>,
    pub last_result: Option<LastResult>,
    pub last_error: Option<String>,
    /// Set while a backup of this dossier is under way (the run's id).
    pub in_progress_run: Option<i64>,
}

impl DossierState {
    pub fn failed_last_time(&self) -> bool {
        self.last_result == Some(LastResult::Error)
    }
}

pub struct Catalog {
    conn: Connection,
    path: PathBuf,
    /// Set when the catalog found was unreadable and was rebuilt empty: the
    /// sentence saying so, for stderr and the JSON report.
    pub rebuilt: Option<String>,
}

/// Why a catalog file could not be opened.
enum OpenFail {
    /// Not a database, damaged, or not svgauto's: set aside and rebuilt.
    Unusable(String),
    /// Anything else (locked, no permission, disk full): the command stops,
    /// nothing is set aside.
    Other(rusqlite::Error),
}

impl From<rusqlite::Error> for OpenFail {
    fn from(e: rusqlite::Error) -> OpenFail {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match e.sqlite_error_code() {
            Some(NotADatabase | DatabaseCorrupt) => OpenFail::Unusable(describe(&e)),
            _ => OpenFail::Other(e),
        }
    }
}

/// The columns svgauto reads, table by table: a database where one is
/// missing is not svgauto's catalog.
const COLUMNS: [(&str, &str); 4] = [
    (
        "dossier",
        "code, fingerprint, last_backup_at, last_archive, last_bytes, last_result, last_error, last_run, in_progress_run",
    ),
    (
        "run",
        "id, started_at, finished_at, user, report, concerned, saved, errors, exit_code",
    ),
    ("restore", "id, at, code, archive, source, result, error"),
    (
        "event",
        "id, at, code, event, user, archive, bytes, result, error",
    ),
];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dossier (
    code            TEXT PRIMARY KEY,
    fingerprint     TEXT,
    last_backup_at  TEXT,
    last_archive    TEXT,
    last_bytes      INTEGER,
    last_result     TEXT,
    last_error      TEXT,
    last_run        INTEGER,
    in_progress_run INTEGER
);
CREATE TABLE IF NOT EXISTS run (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    user        TEXT NOT NULL,
    report      TEXT,
    concerned   INTEGER,
    saved       INTEGER,
    errors      INTEGER,
    exit_code   INTEGER
);
CREATE TABLE IF NOT EXISTS restore (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    code     TEXT,
    archive  TEXT NOT NULL,
    source   TEXT NOT NULL,   -- 'restore' | 'import'
    result   TEXT NOT NULL,   -- 'ok' | 'error'
    error    TEXT
);
CREATE TABLE IF NOT EXISTS event (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    code     TEXT NOT NULL,
    event    TEXT NOT NULL,   -- 'exit' | 'provider-exchange' | 'closing'
    user     TEXT NOT NULL,
    archive  TEXT NOT NULL,
    bytes    INTEGER,
    result   TEXT NOT NULL,   -- 'ok' | 'error'
    error    TEXT
);
";

impl Catalog {
    pub const FILE: &'static str = "catalog.sqlite";

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
        std::fs::create_dir_all(state_dir).map_err(|source| CatalogError::Dir {
            path: state_dir.to_owned(),
            source,
        })?;
        let path = state_dir.join(Self::FILE);
        let err = |cause| CatalogError::Sqlite {
            path: path.clone(),
            cause,
        };
        let why = match Self::open_at(&path) {
            Ok(c) => return Ok(c),
            Err(OpenFail::Other(e)) => return Err(err(e)),
            Err(OpenFail::Unusable(why)) if !rebuild => {
                return Err(CatalogError::Unusable { path, why });
            }
            Err(OpenFail::Unusable(why)) => why,
        };
        // Never over an earlier one: `-2`, `-3`… within the same second.
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        let aside = (1..)
            .map(|n| {
                let suffix = if n == 1 {
                    String::new()
                } else {
                    format!("-{n}")
                };
                state_dir.join(format!("{}.illisible-{stamp}{suffix}", Self::FILE))
            })
            .find(|p| !p.exists())
            .expect("a free name");
        std::fs::rename(&path, &aside).map_err(|source| CatalogError::SetAside {
            path: path.clone(),
            aside: aside.clone(),
            source,
        })?;
        for suffix in ["-wal", "-shm"] {
            let side = state_dir.join(format!("{}{suffix}", Self::FILE));
            if side.exists() {
                let _ = std::fs::rename(&side, format!("{}{suffix}", aside.display()));
            }
        }
        let mut c = match Self::open_at(&path) {
            Ok(c) => c,
            Err(OpenFail::Other(e)) => return Err(err(e)),
            Err(OpenFail::Unusable(why)) => return Err(CatalogError::Unusable { path, why }),
        };
        c.rebuilt = Some(format!(
            "catalogue {} illisible ({why}) : mis de côté sous {} et reconstruit ; \
             tous les dossiers sont considérés comme jamais sauvegardés et sont sauvegardés à nouveau",
            path.display(),
            aside.display()
        ));
        Ok(c)
    }

    fn open_at(path: &Path) -> Result<Catalog, OpenFail> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Checked before anything is written into it: a file set aside is
        // kept exactly as it was found.
        check_tables(&conn)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Catalog {
            conn,
            path: path.to_owned(),
            rebuilt: None,
        })
    }

    /// Opens the catalog only to read it, creating nothing (`status`,
    /// `run --dry-run`): `None` when the base has never been saved.
    pub fn open_read_only(state_dir: &Path) -> Result<Option<Catalog>, CatalogError> {
        let path = state_dir.join(Self::FILE);
        if !path.exists() {
            return Ok(None);
        }
        let err = |cause| CatalogError::Sqlite {
            path: path.clone(),
            cause,
        };
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // A catalog at rest has no `-wal` file (the last connection folded
        // it into the database): opened "immutable", SQLite then creates no
        // `-wal`/`-shm` beside it either, so `status` and `--dry-run` write
        // nothing. While a run has it open, the usual read-only open reads
        // the run's latest commits (and the `-shm` the run already made).
        let wal = state_dir.join(format!("{}-wal", Self::FILE));
        let conn = if wal.exists() {
            Connection::open_with_flags(&path, flags)
        } else {
            Connection::open_with_flags(
                format!("{}?immutable=1", file_uri(&path)),
                flags | OpenFlags::SQLITE_OPEN_URI,
            )
        }
        .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        // The checks of `open`: a catalog the next run would rebuild is
        // `CatalogError::Unusable`, so the caller can say so.
        match check_tables(&conn) {
            Ok(()) => {}
            Err(OpenFail::Unusable(why)) => return Err(CatalogError::Unusable { path, why }),
            Err(OpenFail::Other(e)) => return Err(err(e)),
        }
        let has_dossiers: bool = conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'dossier'",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if !has_dossiers {
            // An empty database: as good as none.
            return Ok(None);
        }
        Ok(Some(Catalog {
            conn,
            path,
            rebuilt: None,
        }))
    }

    fn err(&self, source: rusqlite::Error) -> CatalogError {
        CatalogError::Sqlite {
            path: self.path.clone(),
            cause: source,
        }
    }

    /// Starts a transaction grouping the next changes; see [`Catalog::commit`].
    pub fn transaction(&self) -> Result<rusqlite::Transaction<'_>, CatalogError> {
        self.conn.unchecked_transaction().map_err(|e| self.err(e))
    }

    pub fn commit(&self, tx: rusqlite::Transaction<'_>) -> Result<(), CatalogError> {
        tx.commit().map_err(|e| self.err(e))
    }

    /// Every dossier the catalog knows, by code.
    pub fn states(&self) -> Result<std::collections::HashMap<String, DossierState>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT code, fingerprint, last_backup_at, last_archive, last_result, last_error, in_progress_run, last_bytes FROM dossier",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let result: Option<String> = r.get(4)?;
                Ok((
                    r.get::<_, String>(0)?,
                    DossierState {
                        fingerprint: r.get(1)?,
                        last_backup_at: r.get(2)?,
                        last_archive: r.get(3)?,
                        last_result: result.map(|s| match s.as_str() {
                            "ok" => LastResult::Ok,
                            "deferred" => LastResult::Deferred,
                            _ => LastResult::Error,
                        }),
                        last_error: r.get(5)?,
                        in_progress_run: r.get(6)?,
                        last_bytes: r.get::<_, Option<i64>>(7)?.map(|b| b as u64),
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub fn begin_run(
        &self,
        started_at: &str,
        user: &str,
        report: &str,
    ) -> Result<i64, CatalogError> {
        self.conn
            .execute(
                "INSERT INTO run (started_at, user, report) VALUES (?1, ?2, ?3)",
                params![started_at, user, report],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn end_run(
        &self,
        run: i64,
        finished_at: &str,
        counts: (usize, usize, usize),
        exit_code: i32,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "UPDATE run SET finished_at = ?2, concerned = ?3, saved = ?4, errors = ?5, exit_code = ?6 WHERE id = ?1",
                params![run, finished_at, counts.0 as i64, counts.1 as i64, counts.2 as i64, exit_code],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Marks a dossier's backup as under way, before its archive is started.
    pub fn mark_in_progress(&self, code: &str, run: i64) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO dossier (code, in_progress_run) VALUES (?1, ?2)
                 ON CONFLICT(code) DO UPDATE SET in_progress_run = ?2",
                params![code, run],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records a successful backup: called only once the archive is renamed
    /// into place and its folder flushed. `run` is `None` for an event
    /// backup (`svgauto save --event exit`).
    pub fn record_success(
        &self,
        code: &str,
        run: Option<i64>,
        fingerprint: &str,
        at: &str,
        archive: &str,
        bytes: u64,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO dossier (code, fingerprint, last_backup_at, last_archive, last_bytes, last_result, last_error, last_run, in_progress_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'ok', NULL, ?6, NULL)
                 ON CONFLICT(code) DO UPDATE SET fingerprint = ?2, last_backup_at = ?3, last_archive = ?4,
                   last_bytes = ?5, last_result = 'ok', last_error = NULL, last_run = ?6, in_progress_run = NULL",
                params![code, fingerprint, at, archive, bytes as i64, run],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// After a restore of the dossier's last backup (`recorded` is the
    /// fingerprint that backup recorded): records the restored files'
    /// fingerprint, so the next run does not save the same state again.
    /// Does nothing when the dossier's last backup is another one.
    pub fn refresh_fingerprint(
        &self,
        code: &str,
        recorded: &str,
        fingerprint: &str,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "UPDATE dossier SET fingerprint = ?3 WHERE code = ?1 AND fingerprint = ?2",
                params![code, recorded, fingerprint],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records a failure; the last good backup's fingerprint is kept.
    pub fn record_error(
        &self,
        code: &str,
        run: Option<i64>,
        error: &str,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO dossier (code, last_result, last_error, last_run, in_progress_run)
                 VALUES (?1, 'error', ?2, ?3, NULL)
                 ON CONFLICT(code) DO UPDATE SET last_result = 'error', last_error = ?2, last_run = ?3, in_progress_run = NULL",
                params![code, error, run],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records a dossier the run did not start (Ctrl-C): it goes first
    /// next time; its last good backup is kept.
    pub fn record_deferred(&self, code: &str, run: i64) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO dossier (code, last_result, last_run) VALUES (?1, 'deferred', ?2)
                 ON CONFLICT(code) DO UPDATE SET last_result = 'deferred', last_run = ?2",
                params![code, run],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records an event backup (`svgauto save`), successful or not. For the
    /// `exit` event, [`Catalog::record_success`] or [`Catalog::record_error`]
    /// records it as the dossier's last backup too.
    #[allow(clippy::too_many_arguments)]
    pub fn record_event(
        &self,
        at: &str,
        code: &str,
        event: &str,
        user: &str,
        archive: &str,
        bytes: Option<u64>,
        error: Option<&str>,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO event (at, code, event, user, archive, bytes, result, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![at, code, event, user, archive, bytes.map(|b| b as i64), if error.is_some() { "error" } else { "ok" }, error],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records a restore or an import, successful or refused.
    pub fn record_restore(
        &self,
        at: &str,
        code: Option<&str>,
        archive: &str,
        source: &str,
        error: Option<&str>,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO restore (at, code, archive, source, result, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![at, code, archive, source, if error.is_some() { "error" } else { "ok" }, error],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

/// Whether an existing database can be svgauto's catalog, reading only:
/// SQLite's `quick_check`, no table but svgauto's, and svgauto's columns in
/// those present (an older catalog may lack a table: it is created).
fn check_tables(conn: &Connection) -> Result<(), OpenFail> {
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(OpenFail::Unusable(format!("quick_check : {check}")));
    }
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )?;
    let tables = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for table in tables {
        let Some((_, columns)) = COLUMNS.iter().find(|(t, _)| *t == table) else {
            return Err(OpenFail::Unusable(format!(
                "table {table} inconnue : ce n'est pas un catalogue de svgauto"
            )));
        };
        if let Err(e) = conn.prepare(&format!("SELECT {columns} FROM {table} LIMIT 0")) {
            return Err(OpenFail::Unusable(format!(
                "table {table} inattendue : {}",
                describe(&e)
            )));
        }
    }
    Ok(())
}

/// SQLite's cause in one phrase; a full disk in French (SQLite says "disk
/// I/O error" when it cannot even size its shared-memory file).
fn describe(e: &rusqlite::Error) -> String {
    const SQLITE_IOERR_SHMSIZE: std::ffi::c_int = 4874;
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            if f.code == rusqlite::ErrorCode::DiskFull || f.extended_code == SQLITE_IOERR_SHMSIZE {
                "Espace disque insuffisant".to_owned()
            } else {
                msg.clone().unwrap_or_else(|| f.to_string())
            }
        }
        other => other.to_string(),
    }
}

/// `file:` URI of a path for SQLite (RFC 3986 percent-encoding of anything
/// but unreserved characters and separators; `C:\x` becomes `file:/C:/x`).
fn file_uri(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let mut uri = String::from("file:");
    if text.as_bytes().get(1) == Some(&b':') {
        uri.push('/');
    }
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~:".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_error_and_progress_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let c = Catalog::open(d.path()).unwrap();
        let run = c
            .begin_run("2026-11-28T21:00:00", "COMPT", "r.txt")
            .unwrap();
        c.mark_in_progress("A", run).unwrap();
        c.record_success("B", Some(run), "fp-b", "t", "sauve/BB.SVG", 10)
            .unwrap();
        c.record_error("B", Some(run), "en cours d'utilisation")
            .unwrap();
        drop(c);
        let c = Catalog::open(d.path()).unwrap();
        let s = c.states().unwrap();
        assert_eq!(s["A"].in_progress_run, Some(run));
        assert_eq!(
            s["B"].fingerprint.as_deref(),
            Some("fp-b"),
            "an error keeps the last good fingerprint"
        );
        assert!(s["B"].failed_last_time());
    }

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
        let dir = d.path().join("état ?#%");
        assert!(Catalog::open_read_only(&dir).unwrap().is_none());
        let c = Catalog::open(&dir).unwrap();
        let run = c.begin_run("t", "COMPT", "r.txt").unwrap();
        c.record_success("A", Some(run), "fp", "t", "sauve/BA.SVG", 1)
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
        assert_eq!(file_uri(Path::new("C:\\a b")), "file:/C:/a%20b");
    }
}
