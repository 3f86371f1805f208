//! The catalog's schema and its versions: SQLite's `PRAGMA user_version`
//! and the steps of [`MIGRATIONS`] that bring an older catalog up to date;
//! the check that an existing database can be svgauto's catalog at all.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;

use super::describe;

/// Why a catalog file could not be opened.
#[derive(Debug)]
pub(super) enum OpenFail {
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
/// What step 1's columns hold, where its SQL (shipped) says nothing:
/// `dossier.last_result` is `'ok' | 'error' | 'deferred'`
/// (`state::LastResult::as_str`, the only values any release wrote); times
/// (`last_backup_at`, `started_at`, `finished_at`, `at`) are RFC 3339 text
/// with their offset (`clock::rfc3339`). A value read back that is neither
/// is refused by name (`CatalogError::Value`), never guessed.
///
/// Why `user_version` by hand and not the `rusqlite_migration` crate, which
/// does the same (a list of SQL steps, the version in `user_version`): its
/// last release (2.6.0) requires rusqlite 0.40, svgauto uses 0.43, and two
/// rusqlite versions cannot be linked into one program (each bundles SQLite
/// under the same `links = "sqlite3"` key).
pub(super) const MIGRATIONS: &[&str] = &[
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
    // 2: off-site copies (DESIGN §10): the versions known to be off-site,
    // the multipart uploads under way with their parts (what a killed push
    // resumes from), and the restore drills (`offsite verify`).
    "
CREATE TABLE offsite_version (
    code        TEXT NOT NULL,
    stamp       TEXT NOT NULL,   -- YYYYMMDD-HHMMSS, the backup time in UTC
    key         TEXT NOT NULL,   -- the object's key, prefix included
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,   -- hex, of the object's bytes
    uploaded_at TEXT NOT NULL,
    verified_at TEXT,            -- last drill that decrypted and checked it
    PRIMARY KEY (code, stamp)
);
CREATE TABLE offsite_upload (
    key        TEXT PRIMARY KEY,
    code       TEXT NOT NULL,
    stamp      TEXT NOT NULL,
    upload_id  TEXT NOT NULL,
    staged     TEXT NOT NULL,    -- the copy being sent: its name in <backup dir>/offsite/
    sealed_for TEXT NOT NULL,    -- who it is encrypted to (offsite::seal::sealed_for)
    size       INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    part_size  INTEGER NOT NULL,
    started_at TEXT NOT NULL
);
CREATE TABLE offsite_part (
    key    TEXT NOT NULL,
    part   INTEGER NOT NULL,     -- 1-based, as S3 numbers them
    etag   TEXT NOT NULL,
    PRIMARY KEY (key, part)
);
CREATE TABLE offsite_drill (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    checked INTEGER NOT NULL,
    damaged INTEGER NOT NULL
);
",
];

/// The schema version of a catalog (`PRAGMA user_version`).
pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

pub(super) fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
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
pub(super) fn check(conn: &Connection, migrations: &[&str]) -> Result<i64, OpenFail> {
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
pub(super) fn migrate(conn: &Connection, migrations: &[&str]) -> Result<(), OpenFail> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, CatalogError};
    use std::path::{Path, PathBuf};

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
            s["A"]
                .last_backup_at
                .map(|t| crate::clock::rfc3339::text(&t)),
            Some("2026-11-27T21:00:05+01:00".to_owned()),
            "read with the offset it was recorded with"
        );
        assert_eq!(s["B"].fingerprint.as_deref(), Some("fp-b"));
        assert_eq!(s["B"].last_error.as_deref(), Some("en cours"));
        for table in ["run", "restore", "event"] {
            assert_eq!(count(&c, table), 1, "{table}");
        }
        assert_eq!(
            c.begin_run(chrono::Local::now(), "COMPT", "r.txt").unwrap(),
            2
        );
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
                let now = chrono::Local::now();
                let run = c.begin_run(now, "COMPT", "r.txt").unwrap();
                c.record_success("A", Some(run), "fp-a", now, "sauve/BA.SVG", 10)
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
