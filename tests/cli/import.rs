//! `svgauto import` (DESIGN.md §8): every `B*.SVG` dropped into `maj/` is
//! restored, then filed under `maj/done/`, or under `maj/failed/` with a
//! `.txt` saying why; a second import has nothing to do.

use std::fs;
use std::time::{Duration, SystemTime};

use crate::harness::*;

/// Changes to A and C after their backup, so a restore shows.
fn modify(base: &Base) {
    base.write("A", "compta/ecritures.dat", "réécrit après la sauvegarde\n");
    base.write("A", "compta/nouveau.dat", "ajouté\n");
    base.remove("A", "notes.txt");
    base.set_mtime(
        "A",
        "vide.dat",
        SystemTime::UNIX_EPOCH + Duration::new(1_750_000_000, 5),
    );
    base.write("C", "compta/ecritures.dat", "C modifié\n");
}

#[test]
fn import_restores_each_dropped_archive_and_files_it_under_done_or_failed() {
    let base = restorable_base("zstd");
    let saved_a = base.dossier_snapshot("A", false);
    modify(&base);
    let live_c = base.dossier_snapshot("C", true);

    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    fs::copy(base.archive("A"), maj.join("BA.SVG")).unwrap();
    fs::copy(base.archive("C"), maj.join("BC.SVG")).unwrap();
    cut_in_half(&maj.join("BC.SVG"));
    let damaged_c = fs::read(maj.join("BC.SVG")).unwrap();

    let out = base.import();
    out.code(1).restored("A", "BA.SVG");
    assert_eq!(
        list_dir(&maj),
        ["done", "failed"],
        "maj/ after the import\n{out}"
    );
    assert_eq!(list_dir(&maj.join("done")), ["BA.SVG"], "maj/done/\n{out}");
    assert_eq!(
        fs::read(maj.join("done/BA.SVG")).unwrap(),
        fs::read(base.archive("A")).unwrap(),
        "maj/done/BA.SVG is the file dropped, as it was"
    );
    assert_eq!(
        list_dir(&maj.join("failed")),
        ["BC.SVG", "BC.SVG.txt"],
        "maj/failed/\n{out}"
    );
    assert_eq!(
        fs::read(maj.join("failed/BC.SVG")).unwrap(),
        damaged_c,
        "maj/failed/BC.SVG is the file dropped, as it was"
    );
    let why = read_to_string(&maj.join("failed/BC.SVG.txt"));
    assert!(
        why.contains("illisible"),
        "maj/failed/BC.SVG.txt should say why (illisible):\n{why}"
    );

    assert_same_snapshot(
        &saved_a,
        &base.dossier_snapshot("A", false),
        "dossier A imported vs A when saved",
    );
    assert_same_snapshot(&live_c, &base.dossier_snapshot("C", true), "dossier C");
    base.assert_no_restore_leftovers();

    // Again: nothing left to import, nothing moves, nothing changes.
    let before = base.everything();
    let again = base.import();
    again.code(0);
    assert_same_snapshot(
        &before,
        &base.everything(),
        "the base after a second import",
    );
}

#[test]
fn import_leaves_alone_what_is_not_a_b_svg_file() {
    // Only `B*.SVG` files are for import (DESIGN.md §8): an `S*.SVG` or a
    // note dropped beside them stays where it is, and is no failure.
    let base = restorable_base("zstd");
    let saved_a = base.dossier_snapshot("A", false);
    modify(&base);
    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    fs::copy(base.archive("A"), maj.join("BA.SVG")).unwrap();
    fs::write(maj.join("lisez-moi.txt"), "dépôt des mises à jour\n").unwrap();
    fs::copy(base.archive("A"), maj.join("SA.SVG")).unwrap();

    let out = base.import();
    out.code(0).restored("A", "BA.SVG");
    let mut left = list_dir(&maj);
    left.retain(|n| n != "failed"); // an empty failed/ would be harmless
    assert_eq!(
        left,
        ["SA.SVG", "done", "lisez-moi.txt"],
        "maj/ after the import\n{out}"
    );
    assert_eq!(list_dir(&maj.join("done")), ["BA.SVG"], "maj/done/\n{out}");
    assert_same_snapshot(&saved_a, &base.dossier_snapshot("A", false), "dossier A");
}

#[test]
fn import_of_good_archives_exits_0_and_recreates_a_deleted_dossier() {
    let base = restorable_base("deflate");
    let saved_a = base.dossier_snapshot("A", false);
    let saved_c = base.dossier_snapshot("C", false);
    modify(&base);
    fs::remove_dir_all(base.dossier_dir("A")).unwrap();
    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    for code in ["A", "C"] {
        fs::copy(base.archive(code), maj.join(format!("B{code}.SVG"))).unwrap();
    }

    base.import()
        .code(0)
        .restored("A", "BA.SVG")
        .restored("C", "BC.SVG");
    assert_eq!(
        list_dir(&maj.join("done")),
        ["BA.SVG", "BC.SVG"],
        "maj/done/"
    );
    assert_eq!(list_dir(&maj), ["done"], "maj/ after the import");
    assert_same_snapshot(&saved_a, &base.dossier_snapshot("A", false), "dossier A");
    assert_same_snapshot(&saved_c, &base.dossier_snapshot("C", false), "dossier C");
    base.assert_no_restore_leftovers();

    let before = base.everything();
    base.import().code(0);
    assert_same_snapshot(
        &before,
        &base.everything(),
        "the base after a second import",
    );
}

#[test]
fn import_files_a_dossier_in_use_under_failed_and_leaves_it_alone() {
    let base = restorable_base("zstd");
    modify(&base);
    let live_a = base.dossier_snapshot("A", true);
    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    fs::copy(base.archive("A"), maj.join("BA.SVG")).unwrap();

    let holder = base.hold("A");
    let out = base.import();
    out.code(1);
    holder.release();
    assert_eq!(
        list_dir(&maj.join("failed")),
        ["BA.SVG", "BA.SVG.txt"],
        "maj/failed/\n{out}"
    );
    let why = read_to_string(&maj.join("failed/BA.SVG.txt"));
    assert!(
        why.contains("utilisées par un utilisateur"),
        "maj/failed/BA.SVG.txt should say the dossier is in use:\n{why}"
    );
    assert_same_snapshot(&live_a, &base.dossier_snapshot("A", true), "dossier A");
    base.assert_no_restore_leftovers();
}

#[test]
fn import_with_nothing_to_do_exits_0() {
    let base = restorable_base("zstd");
    // No maj/ folder at all, then an empty one. (Creating maj/done/ and
    // maj/failed/ on the way would be harmless: only files are compared.)
    for what in ["no maj/", "an empty maj/"] {
        if what == "an empty maj/" {
            fs::create_dir_all(base.maj()).unwrap();
        }
        let before = base.everything();
        let out = base.import();
        out.code(0);
        let after = base.everything();
        assert!(
            before.files() == after.files(),
            "{what}: import changed files
{out}"
        );
    }
}
