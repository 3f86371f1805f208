//! `svgauto save --event …` (DESIGN.md §8): one dossier saved on an
//! application event, into the folder of that event, governed by its
//! setting, under the same lock and atomic write as the batch.

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

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
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
#[ignore = "needs 7-Zip: scripts/test"]
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
#[ignore = "needs 7-Zip: scripts/test"]
fn an_event_does_not_save_etalon_test_or_non_transferable_dossiers() {
    // Their own flags hold for events too (a non-transferable dossier never
    // leaves its server); a copy is saved whatever `backup.dossiers` says.
    let base = base().setting("backup", "dossiers", "\"originals\"");
    base.excluded_dossiers();
    base.dossier("COPIE")
        .status("copie")
        .file("compta/ecritures.dat", "copie\n");
    for (code, what) in [
        ("ETALON", "dossier étalon"),
        ("TEST01", "dossier de test"),
        ("CONFID", "dossier non transférable"),
    ] {
        save(&base, "COMPT", code, "closing")
            .code(0)
            .stdout_has(&[&format!("Dossier {code} non sauvegardé : {what}")]);
    }
    assert!(!base.sauve().exists(), "nothing written");
    save(&base, "COMPT", "COPIE", "closing").code(0);
    assert_event_archive_matches(&base, &base.sauve().join("Cloture/BCOPIE.SVG"), "COPIE");
}

#[cfg(unix)]
#[test]
fn a_link_in_place_of_a_dossier_is_not_followed() {
    let base = base();
    let outside = base.scratch("ailleurs");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("dossier.toml"), "code = \"LIEN\"\n").unwrap();
    std::os::unix::fs::symlink(&outside, base.dossier_dir("LIEN")).unwrap();
    save(&base, "COMPT", "LIEN", "closing")
        .code(1)
        .stderr_has(&["Dossier LIEN : Echec du traitement.", "lien symbolique"]);
    assert!(!base.sauve().join("Cloture/BLIEN.SVG").exists());
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn an_unreadable_catalog_is_not_rebuilt_by_save_and_the_archive_stays() {
    // `save` does not hold the run lock: a run may be writing the catalog.
    let base = base();
    base.run_compt(&[]).code(0);
    let catalog = base.root().join(".svgauto/catalog.sqlite");
    std::fs::write(&catalog, "pas une base de données").unwrap();
    let out = save(&base, "COMPT", "PRESSE", "closing");
    out.code(0)
        .stdout_has(&["Dossier PRESSE : Traitement réussi"])
        .stderr_has(&["sauvegarde non enregistrée au catalogue", "illisible"]);
    assert_event_archive_matches(&base, &base.sauve().join("Cloture/BPRESSE.SVG"), "PRESSE");
    assert_eq!(
        std::fs::read(&catalog).unwrap(),
        b"pas une base de donn\xc3\xa9es",
        "the catalog is left as it was, for the run to set aside"
    );
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
