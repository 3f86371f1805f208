//! An upgrade must not forget: the catalog (`.svgauto/catalog.sqlite`) of
//! the releases before the catalog had a schema version — built here from a
//! fixture of their schema and rows — is adopted as it is by `status`,
//! `run --dry-run` and `run`: every dossier's state and all history kept,
//! nothing set aside, unchanged dossiers not saved again. A catalog of a
//! newer release (a schema version this one does not know) is refused by
//! every command that opens it, exit 2, and left byte for byte as it was.
//! (A damaged catalog is still set aside and rebuilt: `disk.rs`.)

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite::types::Value;

use crate::harness::*;

/// The schema of the releases before versions, word for word as they
/// created it (`user_version` stayed 0). Frozen here: this is what
/// catalogs in the field hold, whatever later releases add.
const SCHEMA_BEFORE_VERSIONS: &str = "
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

/// Three nights of history, a restore, a refused import, a closing backup.
const HISTORY: &str = "
INSERT INTO run VALUES (1, '2026-11-25T21:00:00+01:00', '2026-11-25T21:00:12+01:00', 'COMPT', 'sauve/log/svgauto-20261125-210000.txt', 5, 5, 0, 0);
INSERT INTO run VALUES (2, '2026-11-26T21:00:00+01:00', '2026-11-26T21:00:03+01:00', 'COMPT', 'sauve/log/svgauto-20261126-210000.txt', 2, 2, 0, 0);
INSERT INTO run VALUES (3, '2026-11-27T21:00:00+01:00', '2026-11-27T21:00:07+01:00', 'COMPT', 'sauve/log/svgauto-20261127-210000.txt', 3, 0, 1, 130);
INSERT INTO restore VALUES (1, '2026-11-26T10:12:00+01:00', 'A', 'sauve/BA.SVG', 'restore', 'ok', NULL);
INSERT INTO restore VALUES (2, '2026-11-26T10:20:00+01:00', NULL, 'maj/BX.SVG', 'import', 'error', 'archive tronquée');
INSERT INTO event VALUES (1, '2026-11-26T18:30:00+01:00', 'A', 'closing', 'COMPT', 'sauve/Cloture/BA.SVG', 1234, 'ok', NULL);
";

/// The last backup times the fixture records, per dossier.
const BACKED_UP_AT: [(&str, &str); 5] = [
    ("A", "2026-11-25T21:00:04+01:00"),
    ("B", "2026-11-25T21:00:05+01:00"),
    ("C", "2026-11-26T21:00:02+01:00"),
    ("D", "2026-11-25T21:00:07+01:00"),
    ("PARTI", "2026-11-25T21:00:09+01:00"),
];

/// `B`'s error at run 3, as the catalog records it.
const B_ERROR: &str = "Les données concernées sont utilisées par un utilisateur. Ce ou ces utilisateurs doivent fermer les fenêtres ouvertes.";

fn catalog(base: &Base) -> PathBuf {
    base.root().join(".svgauto/catalog.sqlite")
}

/// A base saved by a release before versions, as its catalog tells it after
/// the night of run 3: `A` saved and unchanged since; `B` failed (in use);
/// `C` was being saved when run 3 was killed; `D` was left for later
/// (Ctrl-C); `PARTI`'s folder was deleted since, its archive kept. The
/// archives are real (made by a first run, whose catalog is then replaced
/// by the fixture); the fixture records their fingerprints, read from their
/// manifests, as that release would have.
fn base_saved_before_versions() -> Base {
    let base = Base::new().collaborator("COMPT", "*");
    for (i, (code, _)) in BACKED_UP_AT.iter().enumerate() {
        base.dossier(code).file(
            "compta/ecritures.dat",
            text_bytes(i as u64, 3_000 + i * 1_000),
        );
    }
    base.run_compt(&[]).code(0);
    fs::remove_dir_all(base.dossier_dir("PARTI")).unwrap();
    for name in list_dir(&base.root().join(".svgauto")) {
        if name.starts_with("catalog.sqlite") {
            fs::remove_file(base.root().join(".svgauto").join(name)).unwrap();
        }
    }
    let db = Connection::open(catalog(&base)).unwrap();
    // The releases before versions set WAL mode, as this one does.
    db.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    db.execute_batch(SCHEMA_BEFORE_VERSIONS).unwrap();
    db.execute_batch(HISTORY).unwrap();
    for (code, at) in BACKED_UP_AT {
        let archive = base.archive(code);
        let fingerprint = read_manifest(&archive)["fingerprint"]
            .as_str()
            .expect("the manifest's fingerprint")
            .to_owned();
        let (result, error, in_progress): (&str, Option<&str>, Option<i64>) = match code {
            "B" => ("error", Some(B_ERROR), None),
            "C" => ("ok", None, Some(3)),
            "D" => ("deferred", None, None),
            _ => ("ok", None, None),
        };
        db.execute(
            "INSERT INTO dossier VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            rusqlite::params![
                code,
                fingerprint,
                at,
                format!("sauve/B{code}.SVG"),
                fs::metadata(&archive).unwrap().len() as i64,
                result,
                error,
                if code == "C" { 2 } else { 3 },
                in_progress
            ],
        )
        .unwrap();
    }
    drop(db);
    assert!(
        !base.root().join(".svgauto/catalog.sqlite-wal").exists(),
        "the fixture catalog is at rest"
    );
    base
}

/// Every row of `table`, in the columns the fixture's schema has (a later
/// release may add columns: the old ones must keep their values).
fn rows(db: &Path, table: &str) -> Vec<Vec<Value>> {
    let db = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let fixture = Connection::open_in_memory().unwrap();
    fixture.execute_batch(SCHEMA_BEFORE_VERSIONS).unwrap();
    let columns: Vec<String> = fixture
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut stmt = db
        .prepare(&format!(
            "SELECT {} FROM {table} ORDER BY rowid",
            columns.join(", ")
        ))
        .unwrap();
    stmt.query_map([], |r| {
        (0..columns.len())
            .map(|i| r.get::<_, Value>(i))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The whole history the catalog holds: table → rows.
fn history(db: &Path) -> BTreeMap<&'static str, Vec<Vec<Value>>> {
    ["dossier", "run", "restore", "event"]
        .into_iter()
        .map(|t| (t, rows(db, t)))
        .collect()
}

fn user_version(db: &Path) -> i64 {
    Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// What is in `.svgauto/` besides the run lock, with contents.
fn state_files(base: &Base) -> BTreeMap<String, Vec<u8>> {
    let dir = base.root().join(".svgauto");
    list_dir(&dir)
        .into_iter()
        .filter(|n| n != "run.lock")
        .map(|n| {
            let bytes = fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

fn json(out: &Out) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{out}"))
}

fn entry<'a>(list: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("{code} not in {list:#}"))
}

#[test]
fn a_catalog_of_the_release_before_versions_keeps_every_state_and_all_history() {
    let base = base_saved_before_versions();
    let db = catalog(&base);
    let before = history(&db);
    let at_rest = state_files(&base);
    let stamps = base.stamps();
    assert_eq!(user_version(&db), 0);

    // `status` reads it as it is, and writes nothing.
    let out = base.svgauto(&["status", "--base", base.root().to_str().unwrap(), "--json"]);
    out.code(1);
    assert!(out.stderr.is_empty(), "{out}");
    let j = json(&out);
    let d = |code| entry(&j["dossiers"], code);
    for (code, at) in BACKED_UP_AT.iter().filter(|(c, _)| *c != "PARTI") {
        assert_eq!(d(code)["last_backup_at"], *at, "{code}\n{out}");
        assert_eq!(d(code)["archive_present"], true, "{code}");
    }
    assert_eq!(d("A")["state"], "up-to-date", "{out}");
    assert_eq!(d("A")["attention"], serde_json::json!([]));
    assert_eq!(d("B")["attention"], serde_json::json!(["error"]));
    assert_eq!(d("B")["last_error"], B_ERROR);
    assert_eq!(d("C")["attention"], serde_json::json!(["interrupted"]));
    assert_eq!(d("D")["last_result"], "deferred");
    let parti = entry(&j["deleted"], "PARTI");
    assert_eq!(parti["last_backup_at"], "2026-11-25T21:00:09+01:00");
    assert_eq!(parti["last_archive"], "sauve/BPARTI.SVG");
    assert_eq!(state_files(&base), at_rest, "status wrote into .svgauto/");

    // The dry run plans from the same states, and writes nothing.
    let out = base.run_compt(&["--dry-run", "--json"]);
    out.code(0);
    let plan = json(&out);
    let p = |code| entry(&plan["dossiers"], code);
    assert_eq!(p("A")["action"], "skip", "{out}");
    assert_eq!(p("A")["reason"], "unchanged");
    assert_eq!(p("B")["why"], "retry");
    assert_eq!(p("C")["why"], "interrupted");
    assert_eq!(p("D")["why"], "deferred");
    assert_eq!(
        state_files(&base),
        at_rest,
        "the dry run wrote into .svgauto/"
    );

    // The run: nothing set aside or rebuilt, A not saved again, B, C and D
    // saved as the states say (retry, resume, deferred).
    let out = base.run_compt(&[]);
    out.code(0);
    assert!(!out.stderr.contains("illisible"), "{out}");
    assert_eq!(
        base.report_json().value["warnings"],
        serde_json::json!([]),
        "{out}"
    );
    assert!(
        !list_dir(&base.root().join(".svgauto"))
            .iter()
            .any(|n| n.contains("illisible")),
        "set aside: {:?}",
        list_dir(&base.root().join(".svgauto"))
    );
    stamps.assert_rewritten(&base.stamps(), &["B", "C", "D"]);
    let report = base.report();
    let mut codes = report.codes();
    codes.sort();
    assert_eq!(codes, ["B", "C", "D"], "{report}");
    assert!(report.line("C").contains("reprise"), "{report}");
    let json_report = base.report_json();
    assert_eq!(json_report.dossier("A")["outcome"], "unchanged");

    // All history kept, row for row; the run added its own.
    let after = history(&db);
    assert!(user_version(&db) >= 1, "the catalog now has a version");
    for table in ["restore", "event"] {
        assert_eq!(after[table], before[table], "table {table}");
    }
    assert_eq!(after["run"][..3], before["run"][..], "runs 1-3");
    assert_eq!(after["run"].len(), 4, "run 4 added");
    assert_eq!(after["run"][3][0], Value::Integer(4));
    for code in ["A", "PARTI"] {
        let row = |rows: &[Vec<Value>]| {
            rows.iter()
                .find(|r| r[0] == Value::Text(code.to_owned()))
                .cloned()
        };
        assert_eq!(
            row(&after["dossier"]),
            row(&before["dossier"]),
            "dossier {code}, untouched by the run"
        );
    }

    // And then nothing to do.
    let stamps = base.stamps();
    base.run_compt(&[]).code(0);
    base.report().assert_no_dossier_lines();
    stamps.assert_untouched(&base.stamps());
}

/// Every command that opens the catalog, on a catalog of a newer release:
/// exit 2, a French message saying so and what to do, and nothing changed
/// anywhere (no file set aside, written, moved or removed; the catalog
/// byte for byte), whatever the newer schema holds.
#[test]
fn a_catalog_of_a_newer_release_is_refused_by_every_command_and_left_as_it_is() {
    let base = base_saved_before_versions();
    let db = catalog(&base);
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "ALTER TABLE dossier ADD COLUMN ctime_ns INTEGER;
             CREATE TABLE verification (id INTEGER PRIMARY KEY, at TEXT NOT NULL, archive TEXT);
             INSERT INTO verification VALUES (1, '2027-03-01T21:00:00+01:00', 'sauve/BA.SVG');
             PRAGMA user_version = 1000;",
        )
        .unwrap();
    base.write("A", "compta/ecritures.dat", "modifié depuis\n");
    let archive = base.copy_archive("A", "copies", "BA.SVG");
    fs::create_dir_all(base.maj()).unwrap();
    fs::copy(base.archive("C"), base.maj().join("BC.SVG")).unwrap();
    let root = base.root().to_str().unwrap().to_owned();
    let everything = || snapshot(base.top(), &|rel| rel == "base/.svgauto/run.lock");
    let before = everything();

    let commands: Vec<Vec<&str>> = vec![
        vec!["run", "--base", &root, "--user", "COMPT", "--no-progress"],
        vec!["run", "--base", &root, "--user", "COMPT", "--dry-run"],
        vec!["status", "--base", &root],
        vec!["status", "--base", &root, "--json"],
        vec![
            "save",
            "--base",
            &root,
            "--user",
            "COMPT",
            "--dossier",
            "A",
            "--event",
            "closing",
        ],
        vec!["restore", "--base", &root, archive.to_str().unwrap()],
        vec!["import", "--base", &root],
    ];
    for args in commands {
        let out = base.svgauto(&args);
        out.code(2).stderr_has(&[
            &db.display().to_string(),
            "version plus récente de svgauto",
            "schéma 1000",
            "Installez la version de svgauto qui l'a écrit",
        ]);
        assert!(!out.stderr.contains("illisible"), "{out}");
        assert_same_snapshot(&before, &everything(), &args.join(" "));
    }
    assert_eq!(user_version(&db), 1000);
}

/// A dossier's row holding a value no release writes (a last result or a
/// time another program put there) never stops the nightly run: the row is
/// left out, the dossier taken for never saved and saved again — which
/// writes its row anew — and `status`, `--dry-run` and the run say so,
/// naming the catalog, the dossier, the column and the value. The run
/// erases such a value (a deleted dossier's too, which stays listed as
/// deleted), so it is said until a run, not every night. The other
/// dossiers keep their states.
#[test]
fn a_catalog_row_no_release_writes_is_said_and_its_dossier_saved_again() {
    let base = base_saved_before_versions();
    let db = catalog(&base);
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "UPDATE dossier SET last_result = 'ignoré' WHERE code = 'A';
             UPDATE dossier SET last_backup_at = 'hier' WHERE code = 'PARTI';",
        )
        .unwrap();
    let root = base.root().to_str().unwrap().to_owned();
    let said = format!(
        "catalogue {} : valeur illisible dans la colonne last_result du dossier A : \"ignoré\" \
         (attendu : 'ok', 'error' ou 'deferred') ; le traitement efface cette valeur et tient le \
         dossier pour jamais sauvegardé",
        db.display()
    );

    let out = base.svgauto(&["status", "--base", &root]);
    out.stdout_has(&[&format!("Attention : {said}")]);
    let out = base.svgauto(&["status", "--base", &root, "--json"]);
    let j = json(&out);
    assert_eq!(j["base_attention"][0]["kind"], "catalog-value", "{out}");
    assert_eq!(j["base_attention"][1]["kind"], "catalog-value", "{out}");
    assert_eq!(j["base_attention"][0]["message"], said.as_str(), "{out}");
    assert_eq!(
        entry(&j["dossiers"], "A")["last_backup_at"],
        serde_json::Value::Null
    );
    assert_eq!(entry(&j["dossiers"], "B")["last_error"], B_ERROR, "{out}");

    let out = base.svgauto(&["run", "--base", &root, "--user", "COMPT", "--dry-run"]);
    out.code(0)
        .stdout_has(&[&said, "Dossier A : jamais sauvegardé"]);

    let out = base.run_compt(&[]);
    out.code(0)
        .stderr_has(&[&said, "colonne last_backup_at du dossier PARTI : \"hier\""]);
    let report = base.report();
    assert!(
        report
            .dossier_lines()
            .contains(&"Dossier A : Traitement réussi"),
        "{}",
        report.text
    );
    // Said once: the run erased both values. The deleted dossier is still
    // listed as such, its archive kept.
    let out = base.svgauto(&["status", "--base", &root, "--json"]);
    assert!(!out.stdout.contains("illisible"), "{out}");
    let j = json(&out);
    assert_eq!(
        entry(&j["deleted"], "PARTI")["last_archive"],
        "sauve/BPARTI.SVG",
        "{out}"
    );
    let out = base.run_compt(&[]);
    assert!(!out.stderr.contains("illisible"), "{out}");
}
