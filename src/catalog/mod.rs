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
//!
//! Times and results are typed at this boundary: a time is stored as RFC
//! 3339 text ([`crate::clock::rfc3339`]) and read back as a
//! `DateTime<FixedOffset>` (the offset it was recorded with), a last result
//! by [`LastResult`]'s own text. A row holding a value that reads as
//! neither is left out and said ([`Unreadable`]): nothing is guessed from
//! it, and its dossier is saved again, which writes the row anew.
//!
//! Here: the catalog's rows and what the commands record; off-site
//! copies' rows in `offsite.rs`; opening it in `open.rs`; its schema,
//! versions and the check that a database is svgauto's catalog in
//! `migrations.rs`.

mod migrations;
mod offsite;
mod open;

pub use offsite::{Drill, OffsiteVersion, PendingUpload};

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Local};
use rusqlite::{Connection, params};
use thiserror::Error;

use crate::clock::rfc3339;
use crate::state::LastResult;

/// Why the catalog could not be opened, read or written (French, for
/// the user).
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

/// A dossier's row holding, in `column`, a value this release cannot read
/// (`expected`: what it can) — put there by hand or by another program, as
/// no release writes one. The row is left out of what the catalog knows,
/// so the dossier is taken for never saved (saved again if the run
/// concerns it), and the run erases the value with the row's fingerprint
/// ([`Catalog::forget`]): it is said once by the run (stderr, JSON
/// warnings), and by `status` and `--dry-run` until a run has erased it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "catalogue {} : valeur illisible dans la colonne {column} du dossier {code} : {value:?} \
     (attendu : {expected}) ; le traitement efface cette valeur et tient le dossier pour \
     jamais sauvegardé",
    path.display()
)]
pub struct Unreadable {
    /// The catalog file.
    pub path: PathBuf,
    /// The dossier whose row it is.
    pub code: String,
    /// The column.
    pub column: &'static str,
    /// The value found there.
    pub value: String,
    /// What this release reads there.
    pub expected: String,
}

/// Every dossier the catalog knows, by code, and the rows it could not
/// read ([`Unreadable`]), left out of `known`.
#[derive(Debug, Default)]
pub struct States {
    /// What the catalog knows of each dossier.
    pub known: std::collections::HashMap<String, DossierState>,
    /// The rows left out, in the order of their codes.
    pub unreadable: Vec<Unreadable>,
}

/// What the catalog knows of one dossier.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DossierState {
    /// Fingerprint at the last successful backup.
    pub fingerprint: Option<String>,
    /// When that backup was taken, with the offset it was recorded with.
    pub last_backup_at: Option<DateTime<FixedOffset>>,
    /// Where that backup's archive is, relative to the base when inside it.
    pub last_archive: Option<String>,
    /// Size in bytes of `last_archive` when it was written (`None` in
    /// catalogs that did not record it).
    pub last_bytes: Option<u64>,
    /// How the dossier's last backup attempt ended.
    pub last_result: Option<LastResult>,
    /// Why it failed, when it did (French).
    pub last_error: Option<String>,
    /// Set while a backup of this dossier is under way (the run's id).
    pub in_progress_run: Option<i64>,
}

impl DossierState {
    /// Whether the dossier's last backup attempt failed.
    pub fn failed_last_time(&self) -> bool {
        self.last_result == Some(LastResult::Error)
    }
}

/// A run that ended, as the catalog's `run` table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedRun {
    /// When it started and ended.
    pub started_at: DateTime<FixedOffset>,
    pub finished_at: DateTime<FixedOffset>,
    /// Dossiers concerned, saved, in error.
    pub concerned: usize,
    pub saved: usize,
    pub errors: usize,
    /// Its exit code.
    pub exit_code: i32,
}

/// An event backup (`svgauto save --event …`) as the catalog's `event`
/// table records it.
#[derive(Debug, Clone, Copy)]
pub struct EventRecord<'a> {
    /// When the backup was taken.
    pub at: DateTime<Local>,
    /// The dossier's code.
    pub code: &'a str,
    /// The event's name: `exit`, `provider-exchange` or `closing`.
    pub event: &'a str,
    /// The collaborator who asked for it.
    pub user: &'a str,
    /// The archive's path, relative to the base when inside it.
    pub archive: &'a str,
    /// `Ok`: the archive's size in bytes; `Err`: why it was not written
    /// (French).
    pub result: Result<u64, &'a str>,
}

/// The catalog: one SQLite connection, owned by one thread at a time (the
/// run's writer thread during a run).
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
    /// Set when the catalog found was unreadable and was rebuilt empty: the
    /// sentence saying so, for stderr and the JSON report.
    pub rebuilt: Option<String>,
}

impl Catalog {
    /// The catalog's file name, in the base's state folder.
    pub const FILE: &'static str = "catalog.sqlite";

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

    /// Commits the changes grouped by [`Catalog::transaction`].
    pub fn commit(&self, tx: rusqlite::Transaction<'_>) -> Result<(), CatalogError> {
        tx.commit().map_err(|e| self.err(e))
    }

    /// Every dossier the catalog knows, by code; a row holding a value no
    /// release writes is left out (see [`Catalog::read_states`]).
    pub fn states(&self) -> Result<std::collections::HashMap<String, DossierState>, CatalogError> {
        Ok(self.read_states()?.known)
    }

    /// Every dossier the catalog knows, and the rows it could not read (an
    /// unknown last result, a time that is not RFC 3339): those are left
    /// out, so their dossiers are saved again, and the caller says them.
    pub fn read_states(&self) -> Result<States, CatalogError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT code, fingerprint, last_backup_at, last_archive, last_result, last_error, in_progress_run, last_bytes FROM dossier ORDER BY code",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Row {
                    code: r.get(0)?,
                    fingerprint: r.get(1)?,
                    last_backup_at: r.get(2)?,
                    last_archive: r.get(3)?,
                    last_result: r.get(4)?,
                    last_error: r.get(5)?,
                    in_progress_run: r.get(6)?,
                    last_bytes: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let mut states = States::default();
        for row in rows {
            let row = row.map_err(|e| self.err(e))?;
            match row.typed() {
                Ok(state) => {
                    states.known.insert(row.code, state);
                }
                Err((column, value, expected)) => states.unreadable.push(Unreadable {
                    path: self.path.clone(),
                    code: row.code,
                    column,
                    value,
                    expected,
                }),
            }
        }
        Ok(states)
    }

    /// Records the start of a run (its start time, its collaborator, its
    /// report's path); returns the run's id.
    pub fn begin_run(
        &self,
        started_at: DateTime<Local>,
        user: &str,
        report: &str,
    ) -> Result<i64, CatalogError> {
        self.conn
            .execute(
                "INSERT INTO run (started_at, user, report) VALUES (?1, ?2, ?3)",
                params![rfc3339::text(&started_at), user, report],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records the end of run `run`: its end time, how many dossiers it
    /// concerned, saved and failed (`counts`, in that order), and its exit
    /// code.
    pub fn end_run(
        &self,
        run: i64,
        finished_at: DateTime<Local>,
        counts: (usize, usize, usize),
        exit_code: i32,
    ) -> Result<(), CatalogError> {
        let finished_at = rfc3339::text(&finished_at);
        self.conn
            .execute(
                "UPDATE run SET finished_at = ?2, concerned = ?3, saved = ?4, errors = ?5, exit_code = ?6 WHERE id = ?1",
                params![run, finished_at, counts.0 as i64, counts.1 as i64, counts.2 as i64, exit_code],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// The last run that ended (`status --textfile`).
    pub fn last_ended_run(&self) -> Result<Option<EndedRun>, CatalogError> {
        use rusqlite::OptionalExtension;
        let row = self
            .conn
            .query_row(
                "SELECT started_at, finished_at, concerned, saved, errors, exit_code FROM run
                 WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<i64>>(2)?.unwrap_or(0) as usize,
                        r.get::<_, Option<i64>>(3)?.unwrap_or(0) as usize,
                        r.get::<_, Option<i64>>(4)?.unwrap_or(0) as usize,
                        r.get::<_, Option<i64>>(5)?.unwrap_or(2) as i32,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(row.and_then(|(s, f, concerned, saved, errors, exit_code)| {
            Some(EndedRun {
                started_at: DateTime::parse_from_rfc3339(&s).ok()?,
                finished_at: DateTime::parse_from_rfc3339(&f).ok()?,
                concerned,
                saved,
                errors,
                exit_code,
            })
        }))
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
        at: DateTime<Local>,
        archive: &str,
        bytes: u64,
    ) -> Result<(), CatalogError> {
        let ok = LastResult::Ok.as_str();
        self.conn
            .execute(
                "INSERT INTO dossier (code, fingerprint, last_backup_at, last_archive, last_bytes, last_result, last_error, last_run, in_progress_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?7, NULL, ?6, NULL)
                 ON CONFLICT(code) DO UPDATE SET fingerprint = ?2, last_backup_at = ?3, last_archive = ?4,
                   last_bytes = ?5, last_result = ?7, last_error = NULL, last_run = ?6, in_progress_run = NULL",
                params![code, fingerprint, rfc3339::text(&at), archive, bytes as i64, run, ok],
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

    /// Erases an unreadable value ([`Unreadable`]) with its row's
    /// fingerprint, so the row reads again, as a dossier never saved (its
    /// last archive, if any, kept: a dossier since deleted is still listed
    /// as such). The run does this once it has said them.
    pub fn forget(&self, unreadable: &[Unreadable]) -> Result<(), CatalogError> {
        for u in unreadable {
            // `column` is one of this file's own names, never input.
            let sql = format!(
                "UPDATE dossier SET fingerprint = NULL, {} = NULL WHERE code = ?1",
                u.column
            );
            self.conn
                .execute(&sql, params![u.code])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
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
                 VALUES (?1, ?4, ?2, ?3, NULL)
                 ON CONFLICT(code) DO UPDATE SET last_result = ?4, last_error = ?2, last_run = ?3, in_progress_run = NULL",
                params![code, error, run, LastResult::Error.as_str()],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records a dossier the run did not start (Ctrl-C): it goes first
    /// next time; its last good backup is kept.
    pub fn record_deferred(&self, code: &str, run: i64) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO dossier (code, last_result, last_run) VALUES (?1, ?3, ?2)
                 ON CONFLICT(code) DO UPDATE SET last_result = ?3, last_run = ?2",
                params![code, run, LastResult::Deferred.as_str()],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records an event backup (`svgauto save`), successful or not. For the
    /// `exit` event, [`Catalog::record_success`] or [`Catalog::record_error`]
    /// records it as the dossier's last backup too.
    pub fn record_event(&self, e: &EventRecord<'_>) -> Result<(), CatalogError> {
        let (bytes, error) = match e.result {
            Ok(bytes) => (Some(bytes as i64), None),
            Err(why) => (None, Some(why)),
        };
        self.conn
            .execute(
                "INSERT INTO event (at, code, event, user, archive, bytes, result, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![rfc3339::text(&e.at), e.code, e.event, e.user, e.archive, bytes, if error.is_some() { "error" } else { "ok" }, error],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records a restore or an import, successful or refused.
    pub fn record_restore(
        &self,
        at: DateTime<Local>,
        code: Option<&str>,
        archive: &str,
        source: &str,
        error: Option<&str>,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO restore (at, code, archive, source, result, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![rfc3339::text(&at), code, archive, source, if error.is_some() { "error" } else { "ok" }, error],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

/// A row of `dossier` as SQLite holds it, before its values are typed.
struct Row {
    code: String,
    fingerprint: Option<String>,
    last_backup_at: Option<String>,
    last_archive: Option<String>,
    last_result: Option<String>,
    last_error: Option<String>,
    in_progress_run: Option<i64>,
    last_bytes: Option<i64>,
}

impl Row {
    /// The row's state, its time and result typed; else the column, the
    /// value and what was expected there.
    fn typed(&self) -> Result<DossierState, (&'static str, String, String)> {
        let last_backup_at = match &self.last_backup_at {
            None => None,
            Some(t) => Some(DateTime::parse_from_rfc3339(t).map_err(|_| {
                let expected = "une date RFC 3339, comme 2026-11-28T21:00:05+01:00";
                ("last_backup_at", t.clone(), expected.to_owned())
            })?),
        };
        let last_result = match &self.last_result {
            None => None,
            Some(r) => Some(
                r.parse::<LastResult>()
                    .map_err(|_| ("last_result", r.clone(), LastResult::expected()))?,
            ),
        };
        Ok(DossierState {
            fingerprint: self.fingerprint.clone(),
            last_backup_at,
            last_archive: self.last_archive.clone(),
            last_bytes: self.last_bytes.map(|b| b as u64),
            last_result,
            last_error: self.last_error.clone(),
            in_progress_run: self.in_progress_run,
        })
    }
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

#[cfg(test)]
mod tests {
    use chrono::Timelike;

    use super::*;

    #[test]
    fn success_error_and_progress_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let c = Catalog::open(d.path()).unwrap();
        let run = c.begin_run(chrono::Local::now(), "COMPT", "r.txt").unwrap();
        c.mark_in_progress("A", run).unwrap();
        c.record_success(
            "B",
            Some(run),
            "fp-b",
            chrono::Local::now(),
            "sauve/BB.SVG",
            10,
        )
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

    /// Times are stored as they always were (RFC 3339 text with the offset
    /// of the machine that recorded them) and read back with that offset.
    #[test]
    fn a_time_is_stored_as_text_and_read_back_with_its_offset() {
        use chrono::TimeZone;
        let d = tempfile::tempdir().unwrap();
        let c = Catalog::open(d.path()).unwrap();
        let at = Local
            .with_ymd_and_hms(2026, 11, 28, 21, 0, 5)
            .unwrap()
            .with_nanosecond(120_000_000)
            .unwrap();
        c.record_success("A", None, "fp", at, "sauve/BA.SVG", 1)
            .unwrap();
        let stored: String = c
            .conn
            .query_row("SELECT last_backup_at FROM dossier", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, at.to_rfc3339());
        let read = c.states().unwrap()["A"].last_backup_at.unwrap();
        assert_eq!(read, at);
        assert_eq!(rfc3339::text(&read), stored);
        // Recorded elsewhere, with another offset: kept as recorded.
        c.conn
            .execute(
                "UPDATE dossier SET last_backup_at = '2026-07-01T21:00:05+02:00'",
                [],
            )
            .unwrap();
        let read = c.states().unwrap()["A"].last_backup_at.unwrap();
        assert_eq!(rfc3339::text(&read), "2026-07-01T21:00:05+02:00");
    }

    /// A value no release writes, in a column read back, is refused and
    /// named: not read as an error (a retry) nor as "never saved".
    #[test]
    fn a_value_no_release_writes_leaves_its_row_out_and_is_said() {
        let d = tempfile::tempdir().unwrap();
        let c = Catalog::open(d.path()).unwrap();
        c.record_success("A", None, "fp", Local::now(), "sauve/BA.SVG", 1)
            .unwrap();
        c.record_success("B", None, "fp", Local::now(), "sauve/BB.SVG", 1)
            .unwrap();
        c.conn
            .execute(
                "UPDATE dossier SET last_result = 'skipped' WHERE code = 'A'",
                [],
            )
            .unwrap();
        let read = c.read_states().unwrap();
        assert_eq!(read.known.keys().collect::<Vec<_>>(), ["B"]);
        let [u] = &read.unreadable[..] else {
            panic!("{:?}", read.unreadable)
        };
        assert_eq!(
            (u.code.as_str(), u.column, u.value.as_str()),
            ("A", "last_result", "skipped")
        );
        let path = d.path().join(Catalog::FILE);
        assert_eq!(
            u.to_string(),
            format!(
                "catalogue {} : valeur illisible dans la colonne last_result du dossier A : \"skipped\" \
                 (attendu : 'ok', 'error' ou 'deferred') ; le traitement efface cette valeur et \
                 tient le dossier pour jamais sauvegardé",
                path.display(),
            )
        );
        assert!(!c.states().unwrap().contains_key("A"));
        c.conn
            .execute(
                "UPDATE dossier SET last_result = 'ok', last_backup_at = 'hier soir' WHERE code = 'A'",
                [],
            )
            .unwrap();
        let e = c.read_states().unwrap().unreadable[0].to_string();
        assert!(
            e.contains(
                "colonne last_backup_at du dossier A : \"hier soir\" (attendu : une date RFC 3339"
            ),
            "{e}"
        );
        // Erased, the row reads again: never saved, its archive kept.
        let read = c.read_states().unwrap();
        c.forget(&read.unreadable).unwrap();
        let read = c.read_states().unwrap();
        assert!(read.unreadable.is_empty(), "{:?}", read.unreadable);
        assert_eq!(read.known["A"].fingerprint, None);
        assert_eq!(
            read.known["A"].last_archive.as_deref(),
            Some("sauve/BA.SVG")
        );
        // Saving the dossier again writes its row anew.
        c.record_success("A", None, "fp2", Local::now(), "sauve/BA.SVG", 1)
            .unwrap();
        let read = c.read_states().unwrap();
        assert!(read.unreadable.is_empty(), "{:?}", read.unreadable);
        assert_eq!(read.known["A"].fingerprint.as_deref(), Some("fp2"));
    }

    /// An event backup is one row: its size when saved, its reason when
    /// not, never both.
    #[test]
    fn event_backups_record_a_size_or_a_reason() {
        let d = tempfile::tempdir().unwrap();
        let c = Catalog::open(d.path()).unwrap();
        let event = |result| EventRecord {
            at: chrono::Local::now(),
            code: "A",
            event: "closing",
            user: "COMPT",
            archive: "sauve/Cloture/BA.SVG",
            result,
        };
        c.record_event(&event(Ok(10))).unwrap();
        c.record_event(&event(Err("en cours d'utilisation")))
            .unwrap();
        let rows: Vec<(Option<i64>, String, Option<String>)> = c
            .conn
            .prepare("SELECT bytes, result, error FROM event ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                (Some(10), "ok".into(), None),
                (None, "error".into(), Some("en cours d'utilisation".into()))
            ]
        );
    }
}
