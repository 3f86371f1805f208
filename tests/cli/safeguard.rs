//! A restore into a base never destroys a state no archive holds (hunt
//! item H5; README, "Restore"): before the switch, holding the dossier's
//! lock, a live dossier the catalog cannot prove held by its last backup is
//! saved into `<backup.dir>/AvantRemontee/<YYYYMMDD-HHMMSS>/B<CODE>.SVG`,
//! and the restore's line says where; if that save fails, the restore is
//! refused and nothing changes.
//!
//! The hunt's input: `run`, then entries appended to `ecritures.dat` and a
//! new `exports/facture-du-jour.csv`; the old `B821516.SVG` dropped into
//! `maj/` and `import`: exit 0, and the entries and the file existed
//! nowhere any more. Same with `restore --base`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::harness::*;

const MORNING: &str =
    "OD;20261130;OD001400;411000;ECRITURE SAISIE CE MATIN, JAMAIS SAUVEGARDEE;0.00;1250.00\n";
const SAVED_IN: &str = "état précédent sauvegardé dans ";

/// Dossier 821516 (entries, an export, settings), saved by a run.
fn saved_821516() -> Base {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("821516")
        .file("compta/ecritures.dat", text_bytes(5, 30_000))
        .file("exports/balance.csv", "compte;solde\n411000;0\n")
        .file("parametres.ini", "[exercice]\ndebut=2026-01-01\n");
    base.run_compt(&[]).code(0);
    assert_eq!(base.archived(), set(&["821516"]));
    base
}

/// The morning's work, never saved: entries appended, a new file.
fn morning_work(base: &Base) {
    base.append("821516", "compta/ecritures.dat", MORNING);
    base.write(
        "821516",
        "exports/facture-du-jour.csv",
        "nouvelle facture\n",
    );
}

/// `import`, judging the dropped files at once (they are complete).
fn import_now(base: &Base) -> Out {
    Out::of(
        base.command(&["import", "--base"])
            .arg(base.root())
            .env("SVGAUTO_IMPORT_QUIET", "0"),
    )
}

/// The archives under `sauve/AvantRemontee/`, sorted.
fn aside(base: &Base) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let dir = base.sauve().join("AvantRemontee");
    if dir.exists() {
        walk_files(&dir, &mut |p| found.push(p.to_owned()));
    }
    found.sort();
    found
}

/// The archive the restore line of `code` says the previous state went to.
#[track_caller]
fn saved_in(out: &Out, code: &str) -> PathBuf {
    let line = out
        .stdout_lines()
        .into_iter()
        .find(|l| l.starts_with(&format!("Dossier {code} : remonté depuis ")))
        .unwrap_or_else(|| panic!("no restore line for {code}\n{out}"));
    let at = line
        .find(SAVED_IN)
        .unwrap_or_else(|| panic!("the line should say {SAVED_IN:?}: {line}\n{out}"));
    let rest = &line[at + SAVED_IN.len()..];
    PathBuf::from(rest.split(" ; ").next().unwrap())
}

/// `restore --to` of `archive` gives back exactly `want` (a dossier
/// snapshot without documents).
#[track_caller]
fn assert_holds(base: &Base, archive: &Path, want: &Snapshot, what: &str) {
    let to = base.scratch(&format!("regard-{}", unique()));
    base.restore_to(&to, &[archive]).code(0);
    let code = fs::read_dir(&to)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let got = snapshot(&to.join(code), &|rel| {
        rel == "documents" || rel.starts_with("documents/")
    });
    assert_same_snapshot(want, &got, what);
}

/// The catalog's record of `code` as `status --json` shows it.
fn status_of(base: &Base, code: &str) -> serde_json::Value {
    let out = base.svgauto(&["status", "--json", "--base", base.root().to_str().unwrap()]);
    let j: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    j["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in status\n{out}"))
        .clone()
}

/// What both commands must do with the hunt's input: the old state in
/// place, the morning's work in a verified archive of `AvantRemontee/`
/// named in the line, which brings it back; that archive is never taken
/// for the dossier's backup.
#[track_caller]
fn assert_morning_kept(base: &Base, out: &Out, before: &Snapshot, old: &Snapshot) {
    let saved = saved_in(out, "821516");
    assert_eq!(aside(base), vec![saved.clone()], "{out}");
    assert!(
        saved.starts_with(base.sauve().join("AvantRemontee")),
        "{}",
        saved.display()
    );
    // The restore took place: the old state, without the morning's work.
    assert_same_snapshot(
        old,
        &base.dossier_snapshot("821516", false),
        "dossier 821516",
    );
    // The morning's work is in that archive, which checks.
    base.verify(&[&base.sauve()])
        .code(0)
        .stdout_has(&[&format!("OK {}", saved.display())]);
    assert_holds(base, &saved, before, "the archive saved before the restore");

    // Not the dossier's backup: the catalog's last archive is still the
    // batch's, and a run has nothing to save (the dossier is the state of
    // its last backup again).
    assert_eq!(
        status_of(base, "821516")["last_archive"],
        "sauve/B821516.SVG"
    );
    base.run_compt(&[])
        .code(0)
        .stdout_has(&["0 / 0 dossier(s) traité(s)"]);

    // Restoring it brings the pre-restore state back (the live state being
    // the last backup's, nothing more is saved aside)…
    let back = base.restore(&[&saved]);
    back.code(0)
        .stdout_has(&["Dossier 821516 : remonté depuis "]);
    assert!(!back.stdout.contains(SAVED_IN), "{back}");
    assert_eq!(aside(base), vec![saved.clone()]);
    assert_same_snapshot(
        before,
        &base.dossier_snapshot("821516", false),
        "dossier 821516",
    );
    // … and the batch saves that state into its own archive.
    base.run_compt(&[])
        .code(0)
        .stdout_has(&["1 / 1 dossier(s) traité(s)"]);
    assert_holds(base, &base.archive("821516"), before, "sauve/B821516.SVG");
}

#[test]
fn import_over_unsaved_work_saves_it_first_and_says_where() {
    let base = saved_821516();
    let old = base.dossier_snapshot("821516", false);
    morning_work(&base);
    let before = base.dossier_snapshot("821516", false);
    fs::create_dir_all(base.maj()).unwrap();
    fs::copy(base.archive("821516"), base.maj().join("B821516.SVG")).unwrap();

    let out = import_now(&base);
    out.code(0)
        .stdout_has(&["Dossier 821516 : remonté depuis ", "rangé dans ", SAVED_IN]);
    assert!(out.stderr.is_empty(), "{out}");
    assert_morning_kept(&base, &out, &before, &old);
}

#[test]
fn restore_base_over_unsaved_work_saves_it_first_and_says_where() {
    let base = saved_821516();
    let old = base.dossier_snapshot("821516", false);
    let archive = base.copy_archive("821516", "cle-usb", "B821516.SVG");
    morning_work(&base);
    let before = base.dossier_snapshot("821516", false);

    let out = base.restore(&[&archive]);
    out.code(0)
        .stdout_has(&["Dossier 821516 : remonté depuis ", SAVED_IN]);
    assert!(out.stderr.is_empty(), "{out}");
    assert_morning_kept(&base, &out, &before, &old);
}

/// A dossier in the state of its last backup is restored without an extra
/// archive, also twice in one command; once changed, the next restore of
/// the same backup saves the change (the fingerprint a restore records does
/// not hide later changes), and leaves the dossier up to date.
#[test]
fn a_dossier_equal_to_its_last_backup_is_restored_without_an_extra_archive() {
    let base = saved_821516();
    let copy = base.copy_archive("821516", "copie", "B821516.SVG");
    let out = base.restore(&[&base.archive("821516"), &copy]);
    out.code(0);
    assert!(!out.stdout.contains(SAVED_IN), "{out}");
    assert!(
        !base.sauve().join("AvantRemontee").exists(),
        "nothing saved aside\n{out}"
    );

    base.write("821516", "parametres.ini", "[exercice]\ndebut=2027-01-01\n");
    let changed = base.dossier_snapshot("821516", false);
    let out = base.restore(&[&copy]);
    let saved = saved_in(&out, "821516");
    assert_holds(&base, &saved, &changed, "the change saved aside");
    // The dossier is its last backup again: up to date, nothing to save.
    assert_eq!(status_of(&base, "821516")["modified_since"], false);
    base.run_compt(&[])
        .code(0)
        .stdout_has(&["0 / 0 dossier(s) traité(s)"]);
    let again = base.restore(&[&copy]);
    again.code(0);
    assert!(!again.stdout.contains(SAVED_IN), "{again}");
    assert_eq!(aside(&base), vec![saved]);
}

/// Nothing proves an archive holds the live state — the catalog is gone
/// (rebuilt empty), or the last backup's archive is — so it is saved, even
/// though it is in fact the archive's.
#[test]
fn without_proof_from_the_catalog_the_live_state_is_saved_first() {
    let base = saved_821516();
    let copy = base.copy_archive("821516", "copie", "B821516.SVG");
    fs::remove_file(base.root().join(".svgauto/catalog.sqlite")).unwrap();
    let out = base.restore(&[&copy]);
    out.code(0);
    assert_eq!(aside(&base), vec![saved_in(&out, "821516")]);

    let base = saved_821516();
    let copy = base.copy_archive("821516", "copie", "B821516.SVG");
    fs::remove_file(base.archive("821516")).unwrap();
    let out = base.restore(&[&copy]);
    out.code(0);
    assert_eq!(aside(&base), vec![saved_in(&out, "821516")]);
}

/// The archive restored holds associated documents, the base's backups do
/// not: the catalog says nothing of the live documents the restore would
/// replace, so a changed one is saved first, with the documents.
#[test]
fn documents_the_archive_would_replace_are_saved_first() {
    let base = saved_821516().setting("backup", "include_documents", "true");
    base.write("821516", "documents/statuts.txt", "statuts 2025\n");
    base.run_compt(&[]).code(0);
    let with_documents = base.copy_archive("821516", "avec-documents", "B821516.SVG");
    base.set("backup", "include_documents", "false");
    // The base's fingerprint now leaves documents out: saved again.
    base.run_compt(&[])
        .code(0)
        .stdout_has(&["1 / 1 dossier(s) traité(s)"]);
    base.write("821516", "documents/statuts.txt", "statuts 2026, signés\n");

    let out = base.restore(&[&with_documents]);
    out.code(0);
    let saved = saved_in(&out, "821516");
    assert_eq!(
        read_to_string(&base.path("821516", "documents/statuts.txt")),
        "statuts 2025\n",
        "the archive's document is restored"
    );
    let to = base.scratch("regard");
    base.restore_to(&to, &[&saved]).code(0);
    assert_eq!(
        read_to_string(&to.join("821516/documents/statuts.txt")),
        "statuts 2026, signés\n",
        "the replaced document is in the archive saved first"
    );
}

/// Two states saved in the same second (two archives of one dossier
/// restored by one command, the clock pinned by `SVGAUTO_NOW`): the
/// second goes to `<stamp>-2/`.
#[test]
fn two_saves_in_the_same_second_get_distinct_folders_named_by_the_commands_clock() {
    let base = saved_821516();
    let first = base.copy_archive("821516", "v1", "B821516.SVG");
    base.write("821516", "parametres.ini", "v2\n");
    base.run_compt(&[]).code(0);
    let second = base.copy_archive("821516", "v2", "B821516.SVG");
    morning_work(&base);
    let morning = base.dossier_snapshot("821516", false);

    let out = Out::of(
        base.command(&["restore", "--base"])
            .arg(base.root())
            .arg(&first)
            .arg(&second)
            .env("SVGAUTO_NOW", "2026-11-30T12:34:56"),
    );
    out.code(0);
    let aside_dir = base.sauve().join("AvantRemontee");
    assert_eq!(
        aside(&base),
        vec![
            aside_dir.join("20261130-123456/B821516.SVG"),
            aside_dir.join("20261130-123456-2/B821516.SVG"),
        ],
        "{out}"
    );
    assert_holds(
        &base,
        &aside(&base)[0],
        &morning,
        "the state before the first restore",
    );
    let v1 = base.scratch("v1-restauree");
    base.restore_to(&v1, &[&first]).code(0);
    assert_holds(
        &base,
        &aside(&base)[1],
        &snapshot(&v1.join("821516"), &|_| false),
        "the state before the second restore: the first archive's",
    );
}

/// The save fails — `AvantRemontee` cannot be a folder (a file holds the
/// name) — so the restore is refused, naming why, and nothing changes.
#[test]
fn a_save_that_fails_refuses_the_restore_and_nothing_changes() {
    let base = saved_821516();
    let copy = base.copy_archive("821516", "copie", "B821516.SVG");
    morning_work(&base);
    fs::write(base.sauve().join("AvantRemontee"), "pas un dossier\n").unwrap();
    let before = base.everything();
    let out = base.restore(&[&copy]);
    out.code(1).refused(
        "B821516.SVG",
        &["n'a pas pu être sauvegardé", "AvantRemontee"],
    );
    assert_same_snapshot(&before, &base.everything(), "the base after the refusal");
    base.assert_no_restore_leftovers();

    // By import: refused the same way, filed under failed/ with why.
    fs::create_dir_all(base.maj()).unwrap();
    fs::copy(&copy, base.maj().join("B821516.SVG")).unwrap();
    let live = base.dossier_snapshot("821516", true);
    let out = import_now(&base);
    out.code(1)
        .stderr_has(&["B821516.SVG : refusé : ", "n'a pas pu être sauvegardé"]);
    assert_same_snapshot(
        &live,
        &base.dossier_snapshot("821516", true),
        "dossier 821516",
    );
    assert!(
        read_to_string(&base.maj().join("failed/B821516.SVG.txt"))
            .contains("n'a pas pu être sauvegardé")
    );
}

/// A file the account running the restore cannot read (root's, mode 0600,
/// and the restore run as `nobody`): the state cannot be saved, the restore
/// is refused naming it, and nothing changes. Root makes the file; as
/// another account, [`snapshot`] could not read it to prove nothing changed.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs root: scripts/test"]
fn an_unreadable_file_refuses_the_restore_and_nothing_changes() {
    use std::os::unix::fs::PermissionsExt;
    let base = saved_821516();
    assert!(
        running_as_root(&base),
        "this test needs root: it runs the restore as `nobody` (setpriv)"
    );
    let copy = base.copy_archive("821516", "copie", "B821516.SVG");
    morning_work(&base);
    sh(
        "chown",
        &[
            "-R".as_ref(),
            "nobody:nogroup".as_ref(),
            base.top().as_ref(),
        ],
    );
    fs::set_permissions(base.top(), fs::Permissions::from_mode(0o755)).unwrap();
    // Root's: written after the backup.
    base.write("821516", "compta/salaires.dat", "confidentiel\n");
    let secret = base.path("821516", "compta/salaires.dat");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let before = base.everything();
    let mut c = base.command_as_nobody();
    c.args(["restore", "--base"]).arg(base.root()).arg(&copy);
    let out = Out::of(&mut c);
    out.code(1).refused(
        "B821516.SVG",
        &["n'a pas pu être sauvegardé", "compta/salaires.dat"],
    );
    assert_same_snapshot(&before, &base.everything(), "the base after the refusal");
    base.assert_no_restore_leftovers();
}

/// A `.partial` left by a restore killed while it saved a state is the
/// batch's concern in no way (a run neither removes it nor takes it for an
/// interrupted backup); the next restore removes it and says so.
#[test]
fn a_partial_left_in_avantremontee_is_removed_by_the_next_restore() {
    let base = saved_821516();
    let dir = base.sauve().join("AvantRemontee/20261129-080000");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("B821516.SVG.partial"), "moitié").unwrap();
    let run = base.run_compt(&[]);
    run.code(0).stdout_has(&["0 / 0 dossier(s) traité(s)"]);
    assert!(run.stderr.is_empty(), "{run}");
    base.svgauto(&["status", "--base", base.root().to_str().unwrap()])
        .code(0)
        .stdout_has(&["Tout est sauvegardé."]);

    let out = base.restore(&[&base.archive("821516")]);
    out.code(0).stdout_has(&[
        "sauvegarde avant remontée interrompue précédemment",
        "B821516.SVG.partial supprimé",
    ]);
    assert!(!dir.exists(), "{out}");
}

/// A restore refused after the live state was saved (here: a FIFO, which
/// no archive holds, inside a folder where the archive has a file) says
/// where that state is; the dossier is unchanged.
#[cfg(unix)]
#[test]
fn a_restore_refused_after_the_save_says_where_the_state_is() {
    let base = saved_821516();
    let copy = base.copy_archive("821516", "copie", "B821516.SVG");
    base.remove("821516", "parametres.ini");
    fs::create_dir(base.path("821516", "parametres.ini")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(base.path("821516", "parametres.ini/tube"))
        .status()
        .unwrap();
    assert!(made.success());
    let live = base.dossier_snapshot("821516", true);
    let out = base.restore(&[&copy]);
    out.code(1).refused(
        "B821516.SVG",
        &[
            "parametres.ini/tube",
            "l'état actuel du dossier, sauvegardé avant, est dans ",
            "AvantRemontee",
        ],
    );
    assert_same_snapshot(
        &live,
        &base.dossier_snapshot("821516", true),
        "dossier 821516",
    );
    base.assert_no_restore_leftovers();
    assert_eq!(aside(&base).len(), 1);
}
