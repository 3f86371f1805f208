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
//!
//! The schema has a version, SQLite's `PRAGMA user_version`, and changes
//! only by the steps of `MIGRATIONS`, applied in one transaction when a
//! catalog older than this release is opened for writing: an upgrade keeps
//! every state and all history. A catalog of a newer release (a version
//! this one does not know) is refused and left as it is.

use std::collections::{BTreeMap, BTreeSet};
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
    /// Written by a newer release: its schema version `found` is above the
    /// last one this release knows, `known`. Nothing is read from it or
    /// written into it, and it is never set aside.
    #[error(
        "catalogue {} écrit par une version plus récente de svgauto (schéma {found}, \
         cette version connaît les schémas 0 à {known}) : il est laissé tel quel et rien n'est fait. \
         Installez la version de svgauto qui l'a écrit, ou une plus récente. Pour revenir malgré tout \
         à cette version, déplacez ce fichier hors de {} : tous les dossiers seront alors \
         sauvegardés à nouveau et son historique ne sera plus lu",
        path.display(),
        path.parent().unwrap_or(Path::new("")).display()
    )]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
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
#[derive(Debug)]
enum OpenFail {
    /// Not a database, damaged, or not svgauto's: set aside and rebuilt.
    Unusable(String),
    /// Written by a newer release (its schema version): refused, kept.
    Newer(i64),
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

/// The steps of the catalog's schema, in order: step `n` (from 1) brings a
/// catalog from version `n - 1` to version `n`, and a catalog's version is
/// SQLite's `PRAGMA user_version`. To change the schema, append a step
/// (`ALTER TABLE dossier ADD COLUMN …`, `CREATE TABLE …`); never edit or
/// remove a step a release has shipped: catalogs in the field are at every
/// version up to the last.
///
/// Step 1 is, word for word, the schema of the releases that had no version
/// (their catalogs are at version 0 with these four tables, or some of
/// them): its `IF NOT EXISTS` adopts them as they are, rows and all.
///
/// Why `user_version` by hand and not the `rusqlite_migration` crate, which
/// does the same (a list of SQL steps, the version in `user_version`): its
/// last release (2.6.0) requires rusqlite 0.40, svgauto uses 0.43, and two
/// rusqlite versions cannot be linked into one program (each bundles SQLite
/// under the same `links = "sqlite3"` key).
const MIGRATIONS: &[&str] = &[
    // 1: the schema before versions.
    "
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
",
];

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
        crate::sys::owner_only::create_dir_all(state_dir).map_err(|source| CatalogError::Dir {
            path: state_dir.to_owned(),
            source,
        })?;
        let path = state_dir.join(Self::FILE);
        let err = |cause| CatalogError::Sqlite {
            path: path.clone(),
            cause,
        };
        let why = match Self::open_at(&path, MIGRATIONS) {
            Ok(c) => return Ok(c),
            Err(OpenFail::Other(e)) => return Err(err(e)),
            Err(OpenFail::Newer(found)) => return Err(newer(path, found)),
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
                // Named from the path's own bytes, not a text copy of it
                // (a base whose path is not UTF-8). SQLite usually removes
                // them itself when it closes the damaged file.
                let mut side_aside = aside.clone().into_os_string();
                side_aside.push(suffix);
                let _ = std::fs::rename(&side, side_aside);
            }
        }
        let mut c = match Self::open_at(&path, MIGRATIONS) {
            Ok(c) => c,
            Err(OpenFail::Other(e)) => return Err(err(e)),
            Err(OpenFail::Newer(found)) => return Err(newer(path, found)),
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

    /// Opens, checks and brings up to date the catalog at `path`, whose
    /// schema is `migrations` (a parameter for the tests of future steps).
    ///
    /// A new catalog is created owner-only (`owner_only::FILE_MODE`, an
    /// empty file SQLite takes as an empty database); SQLite gives its
    /// `-wal` and `-shm` files the permissions of the database.
    fn open_at(path: &Path, migrations: &[&str]) -> Result<Catalog, OpenFail> {
        // Any failure here (the file exists, a read-only or full disk) is
        // left to SQLite's own opening, which says it as it always has.
        let _ = crate::sys::owner_only::create_new(path);
        let conn = Connection::open(path)?;
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

    fn open_read_only_with(
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
        let version = match check(&conn, migrations) {
            Ok(v) => v,
            Err(OpenFail::Unusable(why)) => return Err(CatalogError::Unusable { path, why }),
            Err(OpenFail::Newer(found)) => return Err(newer(path, found)),
            Err(OpenFail::Other(e)) => return Err(err(e)),
        };
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
        match migrate(&copy, migrations) {
            Ok(()) => {}
            Err(OpenFail::Unusable(why)) => return Err(CatalogError::Unusable { path, why }),
            Err(OpenFail::Newer(found)) => return Err(newer(path, found)),
            Err(OpenFail::Other(e)) => return Err(err(e)),
        }
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
            Connection::open_with_flags(&path, flags)
        } else {
            let uri = file_uri(&path).ok_or_else(|| rusqlite::Error::InvalidPath(path.clone()))?;
            Connection::open_with_flags(
                format!("{uri}?immutable=1"),
                flags | OpenFlags::SQLITE_OPEN_URI,
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
    /// fingerprint that backup recorded; `last_archive`: the file restored
    /// is the one the catalog names as the last backup): records the
    /// restored files' fingerprint, so the next run does not save the same
    /// state again. Does nothing when the dossier's last backup is another
    /// one.
    pub fn refresh_fingerprint(
        &self,
        code: &str,
        recorded: &str,
        fingerprint: &str,
        last_archive: bool,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "UPDATE dossier SET fingerprint = ?3 WHERE code = ?1 AND (fingerprint = ?2 OR ?4)",
                params![code, recorded, fingerprint, last_archive],
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

/// The error of a catalog written by a newer release.
fn newer(path: PathBuf, found: i64) -> CatalogError {
    CatalogError::Newer {
        path,
        found,
        known: MIGRATIONS.len() as i64,
    }
}

/// The schema version of a catalog (`PRAGMA user_version`).
fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )
}

/// Table → columns, of every table but SQLite's own.
fn tables(conn: &Connection) -> rusqlite::Result<BTreeMap<String, BTreeSet<String>>> {
    let mut stmt = conn.prepare(
        "SELECT m.name, p.name FROM sqlite_master AS m, pragma_table_info(m.name) AS p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    )?;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (table, column) = row?;
        out.entry(table).or_default().insert(column);
    }
    Ok(out)
}

/// Whether an existing database can be svgauto's catalog, reading only;
/// its schema version if so. In this order: SQLite's `quick_check` (a
/// damaged file is set aside, whatever version it claims); a version above
/// the last of `migrations` is a newer release's ([`OpenFail::Newer`], its
/// tables not even looked at); then the tables must be those the version's
/// steps make, each with at least their columns — except at version 0,
/// where some may be missing (created by step 1), as in the catalogs of the
/// releases before versions.
fn check(conn: &Connection, migrations: &[&str]) -> Result<i64, OpenFail> {
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(OpenFail::Unusable(format!("quick_check : {check}")));
    }
    let version = user_version(conn)?;
    if version > migrations.len() as i64 {
        return Err(OpenFail::Newer(version));
    }
    if version < 0 {
        return Err(OpenFail::Unusable(format!(
            "version de schéma {version} : ce n'est pas un catalogue de svgauto"
        )));
    }
    // What the steps up to this version make, built in memory.
    let model = Connection::open_in_memory()?;
    for step in &migrations[..version.max(1) as usize] {
        model.execute_batch(step)?;
    }
    let want = tables(&model)?;
    let have = tables(conn)?;
    for (table, columns) in &have {
        let Some(wanted) = want.get(table) else {
            return Err(OpenFail::Unusable(format!(
                "table {table} inconnue : ce n'est pas un catalogue de svgauto"
            )));
        };
        if let Some(missing) = wanted.difference(columns).next() {
            return Err(OpenFail::Unusable(format!(
                "table {table} inattendue : colonne {missing} absente"
            )));
        }
    }
    if version > 0
        && let Some(table) = want.keys().find(|t| !have.contains_key(*t))
    {
        return Err(OpenFail::Unusable(format!(
            "table {table} absente d'un catalogue de schéma {version}"
        )));
    }
    Ok(version)
}

/// Brings a checked catalog to the last of `migrations`: the missing steps
/// and the new version in one transaction (a crash leaves the catalog as it
/// was), under SQLite's write lock, its version read again under it (two
/// commands opening the same old catalog apply each step once). Nothing is
/// written when the catalog is up to date.
fn migrate(conn: &Connection, migrations: &[&str]) -> Result<(), OpenFail> {
    let latest = migrations.len() as i64;
    if user_version(conn)? == latest {
        return Ok(());
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let version = user_version(&tx)?;
    if version > latest {
        return Err(OpenFail::Newer(version));
    }
    for step in &migrations[version as usize..] {
        tx.execute_batch(step)?;
    }
    // A PRAGMA takes no parameter; `latest` is a number.
    tx.execute_batch(&format!("PRAGMA user_version = {latest}"))?;
    tx.commit()?;
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

/// `file:` URI of a path for SQLite (<https://www.sqlite.org/uri.html>),
/// from the path's own bytes: every byte but unreserved characters and `/`
/// is percent-encoded (SQLite decodes `%HH` back into that byte), so a path
/// that is not UTF-8 (a Latin-1 share name) names the same file as it does
/// to the system. An absolute path gets an empty authority (`file:///a`,
/// and `file:////x` for `//x`, which would otherwise read as a host).
/// Windows: `\` is the separator and `C:\x` becomes `file:/C:/x`; `None`
/// for a path that is not valid Unicode there, which SQLite cannot open
/// under any name (nor, then, can `run`).
fn file_uri(path: &Path) -> Option<String> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(windows)]
    let bytes = path.to_str()?.replace('\\', "/").into_bytes();
    #[cfg(not(any(unix, windows)))]
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
        #[cfg(windows)]
        assert_eq!(file_uri(Path::new("C:\\a b")).unwrap(), "file:/C:/a%20b");
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
            c.record_success("A", None, "fp", "t", "sauve/BA.SVG", 1)
                .unwrap();
            drop(c);
            let r = Catalog::open_read_only(&dir).unwrap().expect("found");
            assert_eq!(r.states().unwrap()["A"].fingerprint.as_deref(), Some("fp"));
        }
    }

    /// A catalog as the releases before versions wrote it: their schema
    /// (step 1, word for word), `user_version` 0, rows in every table.
    fn legacy_catalog(dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(Catalog::FILE);
        let db = Connection::open(&path).unwrap();
        db.execute_batch(MIGRATIONS[0]).unwrap();
        db.execute_batch(
            "INSERT INTO run VALUES (1, '2026-11-27T21:00:00+01:00', '2026-11-27T21:00:09+01:00', 'COMPT', 'sauve/log/a.txt', 2, 1, 1, 1);
             INSERT INTO dossier VALUES ('A', 'fp-a', '2026-11-27T21:00:05+01:00', 'sauve/BA.SVG', 10, 'ok', NULL, 1, NULL);
             INSERT INTO dossier VALUES ('B', 'fp-b', '2026-11-20T21:00:05+01:00', 'sauve/BB.SVG', 20, 'error', 'en cours', 1, NULL);
             INSERT INTO restore VALUES (1, '2026-11-26T10:00:00+01:00', 'A', 'sauve/BA.SVG', 'restore', 'ok', NULL);
             INSERT INTO event VALUES (1, '2026-11-26T18:00:00+01:00', 'A', 'closing', 'COMPT', 'sauve/Cloture/BA.SVG', 10, 'ok', NULL);",
        )
        .unwrap();
        path
    }

    fn count(c: &Catalog, table: &str) -> i64 {
        c.conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    fn on_disk_version(path: &Path) -> i64 {
        user_version(&Connection::open(path).unwrap()).unwrap()
    }

    /// Every file of a folder with its bytes.
    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn a_catalog_of_the_releases_before_versions_is_adopted_with_all_its_rows() {
        let d = tempfile::tempdir().unwrap();
        let path = legacy_catalog(d.path());
        assert_eq!(on_disk_version(&path), 0);
        // Read-only first (status, dry run): seen up to date, file untouched.
        let before = files(d.path());
        let r = Catalog::open_read_only(d.path()).unwrap().unwrap();
        assert_eq!(
            r.states().unwrap()["A"].fingerprint.as_deref(),
            Some("fp-a")
        );
        drop(r);
        assert_eq!(files(d.path()), before, "a read-only open writes nothing");

        let c = Catalog::open(d.path()).unwrap();
        assert!(c.rebuilt.is_none(), "adopted, not rebuilt: {:?}", c.rebuilt);
        let s = c.states().unwrap();
        assert_eq!(s["A"].fingerprint.as_deref(), Some("fp-a"));
        assert_eq!(
            s["A"].last_backup_at.as_deref(),
            Some("2026-11-27T21:00:05+01:00")
        );
        assert_eq!(s["B"].fingerprint.as_deref(), Some("fp-b"));
        assert_eq!(s["B"].last_error.as_deref(), Some("en cours"));
        for table in ["run", "restore", "event"] {
            assert_eq!(count(&c, table), 1, "{table}");
        }
        assert_eq!(c.begin_run("t", "COMPT", "r.txt").unwrap(), 2);
        drop(c);
        assert_eq!(on_disk_version(&path), MIGRATIONS.len() as i64);
        assert!(
            !files(d.path()).keys().any(|n| n.contains("illisible")),
            "nothing set aside"
        );
    }

    /// An older catalog may lack a table (it was added later): created.
    #[test]
    fn a_catalog_before_versions_without_a_table_gets_it() {
        let d = tempfile::tempdir().unwrap();
        let path = legacy_catalog(d.path());
        Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TABLE event")
            .unwrap();
        let c = Catalog::open(d.path()).unwrap();
        assert!(c.rebuilt.is_none());
        assert_eq!(count(&c, "event"), 0);
        assert_eq!(count(&c, "run"), 1);
    }

    /// A catalog that says it has a version but lacks what that version's
    /// steps make is damaged: set aside, as before versions.
    #[test]
    fn a_versioned_catalog_without_a_table_or_column_of_its_version_is_set_aside() {
        for damage in [
            "DROP TABLE event",
            "ALTER TABLE dossier DROP COLUMN last_error",
        ] {
            let d = tempfile::tempdir().unwrap();
            drop(Catalog::open(d.path()).unwrap());
            let path = d.path().join(Catalog::FILE);
            Connection::open(&path)
                .unwrap()
                .execute_batch(damage)
                .unwrap();
            assert!(matches!(
                Catalog::open_read_only(d.path()),
                Err(CatalogError::Unusable { .. })
            ));
            let c = Catalog::open(d.path()).unwrap();
            let msg = c.rebuilt.clone().expect("set aside and rebuilt");
            assert!(msg.contains("illisible"), "{damage}: {msg}");
        }
    }

    #[test]
    fn a_catalog_of_a_newer_release_is_refused_by_every_open_and_left_as_it_is() {
        let d = tempfile::tempdir().unwrap();
        let path = legacy_catalog(d.path());
        let newer_version = MIGRATIONS.len() as i64 + 5;
        // What a newer release may have: a new table, a new column.
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "ALTER TABLE dossier ADD COLUMN ctime_ns INTEGER;
                 CREATE TABLE verification (id INTEGER PRIMARY KEY, at TEXT NOT NULL);
                 PRAGMA journal_mode = WAL;
                 PRAGMA user_version = {newer_version};"
            ))
            .unwrap();
        let before = files(d.path());
        assert_eq!(before.len(), 1, "a catalog at rest: {:?}", before.keys());
        let is_newer = |e: CatalogError| match e {
            CatalogError::Newer { found, known, .. } => {
                assert_eq!((found, known), (newer_version, MIGRATIONS.len() as i64));
                let msg = e.to_string();
                assert!(msg.contains("version plus récente de svgauto"), "{msg}");
            }
            other => panic!("expected Newer, got {other}"),
        };
        is_newer(Catalog::open(d.path()).err().expect("refused"));
        is_newer(
            Catalog::open_without_rebuild(d.path())
                .err()
                .expect("refused"),
        );
        is_newer(Catalog::open_read_only(d.path()).err().expect("refused"));
        is_newer(Catalog::refuse_newer(d.path()).unwrap_err());
        assert_eq!(
            files(d.path()),
            before,
            "nothing written, nothing set aside"
        );
        // No catalog, or an unreadable one, is not refused by refuse_newer.
        let e = tempfile::tempdir().unwrap();
        Catalog::refuse_newer(e.path()).unwrap();
        std::fs::write(e.path().join(Catalog::FILE), b"garbage garbage").unwrap();
        Catalog::refuse_newer(e.path()).unwrap();
    }

    /// What the next release will do: append a step. Catalogs of every
    /// earlier version are brought to it with their rows; each is checked
    /// against its own version's schema, not the new one; a read-only open
    /// of an older catalog sees the new schema and leaves the file alone.
    #[test]
    fn an_appended_step_upgrades_every_older_catalog_and_keeps_its_rows() {
        let next: Vec<&str> = MIGRATIONS
            .iter()
            .copied()
            .chain(["ALTER TABLE dossier ADD COLUMN ctime_ns INTEGER;
                 CREATE TABLE verification (id INTEGER PRIMARY KEY, at TEXT NOT NULL);"])
            .collect();
        let latest = next.len() as i64;

        // From version 0 (before versions) and from this release's.
        for from_legacy in [true, false] {
            let d = tempfile::tempdir().unwrap();
            let path = if from_legacy {
                legacy_catalog(d.path())
            } else {
                let c = Catalog::open(d.path()).unwrap();
                let run = c.begin_run("t", "COMPT", "r.txt").unwrap();
                c.record_success("A", Some(run), "fp-a", "t", "sauve/BA.SVG", 10)
                    .unwrap();
                drop(c);
                d.path().join(Catalog::FILE)
            };
            let before = files(d.path());
            let r = Catalog::open_read_only_with(d.path(), &next)
                .unwrap()
                .unwrap();
            assert_eq!(
                r.states().unwrap()["A"].fingerprint.as_deref(),
                Some("fp-a")
            );
            r.conn
                .execute_batch("SELECT ctime_ns FROM dossier; SELECT id FROM verification;")
                .expect("the read-only view has the new schema");
            drop(r);
            assert_eq!(files(d.path()), before, "read-only: the file as it was");

            let c = Catalog::open_at(&path, &next).unwrap();
            assert_eq!(
                c.states().unwrap()["A"].fingerprint.as_deref(),
                Some("fp-a")
            );
            assert_eq!(count(&c, "run"), 1);
            c.conn
                .execute("UPDATE dossier SET ctime_ns = 7 WHERE code = 'A'", [])
                .unwrap();
            drop(c);
            assert_eq!(on_disk_version(&path), latest);
            // Opened again: nothing to do, the step is not applied twice.
            drop(Catalog::open_at(&path, &next).unwrap());
            // And this release, older than the catalog now, refuses it.
            assert!(matches!(
                Catalog::open(d.path()),
                Err(CatalogError::Newer { found, .. }) if found == latest
            ));
        }
    }

    /// A step that fails (here: not SQL) leaves the catalog as it was: its
    /// version, its schema; the command stops, nothing is set aside.
    #[test]
    fn a_step_that_fails_leaves_the_catalog_at_its_version() {
        let d = tempfile::tempdir().unwrap();
        drop(Catalog::open(d.path()).unwrap());
        let path = d.path().join(Catalog::FILE);
        let broken: Vec<&str> = MIGRATIONS
            .iter()
            .copied()
            .chain(["ALTER TABLE dossier ADD COLUMN x INTEGER; NOT SQL AT ALL;"])
            .collect();
        assert!(matches!(
            Catalog::open_at(&path, &broken),
            Err(OpenFail::Other(_))
        ));
        assert_eq!(on_disk_version(&path), MIGRATIONS.len() as i64);
        let c = Catalog::open(d.path()).unwrap();
        assert!(c.rebuilt.is_none());
        assert!(
            c.conn.prepare("SELECT x FROM dossier").is_err(),
            "the step's first statement was rolled back"
        );
    }
}
