//! `svgauto save --event …` (DESIGN.md §8): one dossier saved on an
//! application event, into the folder of that event, governed by its
//! setting, under the same lock and atomic write as the batch.

use std::path::Path;

use crate::harness::*;

fn base() -> Base {
    let base = Base::new()
        .collaborator("COMPT", "*")
        .collaborator("DLEROY", "AUTRE");
    base.dossier("PRESSE")
        .file("compta/ecritures.dat", text_bytes(1, 30_000))
        .file("paie/bulletins.dat", random_bytes(2, 5_000));
    base.dossier("AUTRE")
        .file("compta/ecritures.dat", text_bytes(3, 8_000));
    base
}

fn save(base: &Base, user: &str, code: &str, event: &str) -> Out {
    base.svgauto(&[
        "save",
        "--base",
        base.root().to_str().unwrap(),
        "--user",
        user,
        "--dossier",
        code,
        "--event",
        event,
    ])
}

/// `svgauto verify` and `7zz t` on an event archive, and its content equals
/// the dossier.
fn assert_event_archive_matches(base: &Base, archive: &Path, code: &str) {
    base.svgauto(&["verify", archive.to_str().unwrap()]).code(0);
    sevenz_test(archive);
    let x = base.scratch(&format!(
        "x-{code}-{}",
        archive
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
    ));
    sevenz_extract(archive, &x);
    let got = read_tree(&x, &|rel| rel == ".svgauto" || rel.starts_with(".svgauto/"));
    assert_same_tree(&base.dossier_tree(code, false), &got, "event archive");
}

#[test]
fn provider_exchange_and_closing_write_their_folders_even_unmodified() {
    let base = base();
    base.run_compt(&[]).code(0);
    let stamps = base.stamps();

    let out = save(&base, "COMPT", "PRESSE", "provider-exchange");
    out.code(0).stdout_has(&[
        "Dossier PRESSE : Traitement réussi",
        "EchangePrest/BPRESSE.SVG",
    ]);
    let exchange = base.sauve().join("EchangePrest/BPRESSE.SVG");
    assert_event_archive_matches(&base, &exchange, "PRESSE");

    save(&base, "COMPT", "PRESSE", "closing")
        .code(0)
        .stdout_has(&["Cloture/BPRESSE.SVG"]);
    assert_event_archive_matches(&base, &base.sauve().join("Cloture/BPRESSE.SVG"), "PRESSE");

    // The normal archives are not touched, no partial is left.
    stamps.assert_untouched(&base.stamps());
    assert!(base.partials().is_empty(), "{:?}", base.partials());
}

#[test]
fn provider_exchange_does_not_count_as_the_last_backup() {
    let base = base();
    base.run_compt(&[]).code(0);
    base.append("PRESSE", "compta/ecritures.dat", "nouvelle écriture\n");
    save(&base, "COMPT", "PRESSE", "provider-exchange").code(0);
    save(&base, "COMPT", "PRESSE", "closing").code(0);

    // The batch still sees PRESSE as modified since its last backup.
    let before = base.stamps();
    base.run_compt(&[]).code(0);
    before.assert_rewritten(&base.stamps(), &["PRESSE"]);
    base.report()
        .assert_lines_unordered(&[saved_line("PRESSE")]);
}

#[test]
fn exit_is_off_by_default_and_says_so() {
    let base = base();
    let out = save(&base, "COMPT", "PRESSE", "exit");
    out.code(0)
        .stdout_has(&["désactivée", "events.on_exit = false", "PRESSE"]);
    assert!(
        !base.sauve().exists(),
        "a disabled event writes nothing: {:?}",
        list_dir(base.root())
    );
}

#[test]
fn disabled_provider_exchange_and_closing_do_nothing() {
    let base = base()
        .setting("events", "before_provider_exchange", "false")
        .setting("events", "before_closing", "false");
    save(&base, "COMPT", "PRESSE", "provider-exchange")
        .code(0)
        .stdout_has(&["désactivée", "events.before_provider_exchange = false"]);
    save(&base, "COMPT", "PRESSE", "closing")
        .code(0)
        .stdout_has(&["désactivée", "events.before_closing = false"]);
    assert!(!base.sauve().exists(), "nothing written");
}

#[test]
fn exit_writes_the_normal_archive_and_counts_as_the_last_backup() {
    let base = base().setting("events", "on_exit", "true");
    base.run_compt(&[]).code(0);
    let before = base.stamps();

    // Unmodified: saved all the same.
    save(&base, "COMPT", "PRESSE", "exit")
        .code(0)
        .stdout_has(&["Dossier PRESSE : Traitement réussi", "BPRESSE.SVG"]);
    before.assert_rewritten(&base.stamps(), &["PRESSE"]);

    // Modified, then saved on exit: the night's batch has nothing to do.
    base.append("PRESSE", "compta/ecritures.dat", "écriture du soir\n");
    save(&base, "COMPT", "PRESSE", "exit").code(0);
    base.assert_archive_matches("PRESSE", false);
    let after_event = base.stamps();
    base.run_compt(&[]).code(0);
    after_event.assert_untouched(&base.stamps());
    base.report().assert_no_dossier_lines();
}

#[test]
fn a_dossier_in_use_is_exit_1_with_the_contract_message_and_nothing_written() {
    let base = base();
    base.run_compt(&[]).code(0);
    let before = base.stamps();
    let held = base.hold("PRESSE");
    let out = save(&base, "COMPT", "PRESSE", "provider-exchange");
    out.code(1).stderr_has(&[&in_use_line("PRESSE")]);
    held.release();
    assert!(
        !base.sauve().join("EchangePrest/BPRESSE.SVG").exists(),
        "no archive for a dossier in use"
    );
    assert!(base.partials().is_empty(), "{:?}", base.partials());
    before.assert_untouched(&base.stamps());

    // Once closed, the same command works.
    save(&base, "COMPT", "PRESSE", "provider-exchange").code(0);
}

#[test]
fn rights_users_and_codes_are_checked() {
    let base = base();
    save(&base, "DLEROY", "PRESSE", "closing")
        .code(1)
        .stderr_has(&[&no_rights_line("PRESSE", "DLEROY")]);
    save(&base, "DLEROY", "AUTRE", "closing").code(0);
    save(&base, "INCONNU", "PRESSE", "closing")
        .code(2)
        .stderr_has(&["INCONNU"]);
    save(&base, "COMPT", "ABSENT", "closing")
        .code(2)
        .stderr_has(&["dossier introuvable", "ABSENT"]);
    save(&base, "COMPT", "../PRESSE", "closing")
        .code(2)
        .stderr_has(&["code de dossier invalide"]);
    let out = base.svgauto(&[
        "save",
        "--base",
        base.root().to_str().unwrap(),
        "--user",
        "COMPT",
        "--dossier",
        "PRESSE",
        "--event",
        "sortie",
    ]);
    out.code(2)
        .stderr_has(&["sortie", "exit", "provider-exchange", "closing"]);
}

#[test]
fn an_event_saves_a_dossier_the_batch_excludes() {
    // The application asked for this dossier: étalon, test and
    // non-transferable dossiers are saved on an event.
    let base = base();
    base.dossier("ETALON")
        .kind("etalon")
        .file("plan.dat", "plan comptable\n");
    save(&base, "COMPT", "ETALON", "closing").code(0);
    assert_event_archive_matches(&base, &base.sauve().join("Cloture/BETALON.SVG"), "ETALON");
    base.run_compt(&[]).code(0);
    base.report_json().assert_excluded_with_reason(&["ETALON"]);
}

#[test]
fn a_run_keeps_a_dossiers_event_archive_and_its_own_apart() {
    // Event folders are not mistaken for rotation folders: the batch's
    // archives stay in sauve/, the verify of the whole folder sees all.
    let base = base();
    save(&base, "COMPT", "PRESSE", "provider-exchange").code(0);
    base.run_compt(&[]).code(0);
    assert_eq!(base.archived(), set(&["AUTRE", "PRESSE"]));
    let out = base.svgauto(&["verify", base.sauve().to_str().unwrap()]);
    out.code(0);
    assert!(
        out.stdout.contains("EchangePrest"),
        "verify of sauve/ checks the event archives too\n{out}"
    );
}
