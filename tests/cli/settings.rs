//! Settings that change what a run saves (DESIGN.md §6), their three layers,
//! and `svgauto config`.

use crate::harness::*;

fn two_originals_one_copy() -> Base {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("ORIG1")
        .file("compta/ecritures.dat", text_bytes(1, 12_000));
    base.dossier("ORIG2")
        .file("compta/ecritures.dat", text_bytes(2, 9_000));
    base.dossier("COPIE")
        .status("copie")
        .file("compta/ecritures.dat", text_bytes(3, 6_000));
    base
}

#[test]
fn modified_only_false_resaves_every_dossier() {
    let base = two_originals_one_copy();
    base.run_compt(&[]).code(0);
    let before = base.stamps();

    // From the workstation file given with --config…
    let poste = base.config_file("poste.toml", "[backup]\nmodified_only = false\n");
    base.run_compt(&["--config", poste.to_str().unwrap()])
        .code(0);
    let after = base.stamps();
    before.assert_rewritten(&after, &["ORIG1", "ORIG2", "COPIE"]);
    base.report().assert_summary(3, 0, 3);

    // …from $SVGAUTO_CONFIG…
    let out = Out::of(
        base.command(&base.run_args(&["--user", "COMPT"]))
            .env("SVGAUTO_CONFIG", &poste),
    );
    out.code(0);
    let after2 = base.stamps();
    after.assert_rewritten(&after2, &["ORIG1", "ORIG2", "COPIE"]);

    // …and from base.toml.
    base.set("backup", "modified_only", "false");
    base.run_compt(&[]).code(0);
    after2.assert_rewritten(&base.stamps(), &["ORIG1", "ORIG2", "COPIE"]);
}

#[test]
fn the_workstation_file_wins_over_base_toml() {
    let base = two_originals_one_copy().setting("backup", "dossiers", "\"copies\"");
    let poste = base.config_file("poste.toml", "[backup]\ndossiers = \"originals\"\n");
    base.run_compt(&["--config", poste.to_str().unwrap()])
        .code(0);
    assert_eq!(
        base.archived(),
        set(&["ORIG1", "ORIG2"]),
        "archives in sauve/"
    );
}

#[test]
fn dossiers_originals_skips_the_copies() {
    let base = two_originals_one_copy().setting("backup", "dossiers", "\"originals\"");
    base.run_compt(&[]).code(0);
    assert_eq!(
        base.archived(),
        set(&["ORIG1", "ORIG2"]),
        "archives in sauve/"
    );
    let report = base.report();
    report.assert_lines_unordered(&[saved_line("ORIG1"), saved_line("ORIG2")]);
    report.assert_summary(2, 0, 2);
    base.report_json().assert_outcomes(&[
        ("ORIG1", "saved"),
        ("ORIG2", "saved"),
        ("COPIE", "excluded"),
    ]);

    // Still skipped when forced.
    base.run_compt(&["--all"]).code(0);
    assert_eq!(
        base.archived(),
        set(&["ORIG1", "ORIG2"]),
        "archives in sauve/ after --all"
    );
}

#[test]
fn dossiers_copies_skips_the_originals() {
    let base = two_originals_one_copy().setting("backup", "dossiers", "\"copies\"");
    base.run_compt(&[]).code(0);
    assert_eq!(base.archived(), set(&["COPIE"]), "archives in sauve/");
    base.report().assert_lines_unordered(&[saved_line("COPIE")]);
    base.report_json().assert_outcomes(&[
        ("ORIG1", "excluded"),
        ("ORIG2", "excluded"),
        ("COPIE", "saved"),
    ]);
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn documents_are_archived_only_when_include_documents_is_set() {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("PRESSE")
        .file("compta/ecritures.dat", text_bytes(1, 10_000))
        .file("documents/statuts.txt", "Statuts de la SARL\n")
        .file("documents/factures/2025-03.txt", "Facture n° F2025-0312\n");
    base.run_compt(&[]).code(0);
    let x = base.assert_archive_matches("PRESSE", false);
    assert!(
        !x.join("documents").exists(),
        "documents/ must not be archived by default"
    );

    let poste = base.config_file("poste.toml", "[backup]\ninclude_documents = true\n");
    base.run_compt(&["--all", "--config", poste.to_str().unwrap()])
        .code(0);
    base.assert_archive_matches("PRESSE", true);
}

#[test]
fn backup_dir_elsewhere_receives_the_archives_and_the_reports() {
    let base = two_originals_one_copy();
    let elsewhere = base.scratch("ailleurs");
    let poste = base.config_file(
        "poste.toml",
        &format!("[backup]\ndir = '{}'\n", elsewhere.display()),
    );
    base.run_compt(&["--config", poste.to_str().unwrap()])
        .code(0);
    let mut names = list_dir(&elsewhere);
    names.retain(|n| n.ends_with(".SVG"));
    assert_eq!(
        names,
        ["BCOPIE.SVG", "BORIG1.SVG", "BORIG2.SVG"],
        "archives in {}",
        elsewhere.display()
    );
    assert!(
        list_dir(&elsewhere.join("log"))
            .iter()
            .any(|n| n.starts_with("svgauto-") && n.ends_with(".txt")),
        "no report in {}/log: {:?}",
        elsewhere.display(),
        list_dir(&elsewhere.join("log"))
    );
    assert!(
        base.archived().is_empty(),
        "nothing should be written in <base>/sauve"
    );
}

#[test]
fn config_shows_each_value_and_its_layer() {
    let base = Base::new()
        .collaborator("COMPT", "*")
        .setting("archive", "method", "\"deflate\"")
        .setting("backup", "modified_only", "true");
    let poste = base.config_file("poste.toml", "[backup]\nmodified_only = false\n");
    let out = base.svgauto(&[
        "config",
        "--base",
        base.root().to_str().unwrap(),
        "--config",
        poste.to_str().unwrap(),
    ]);
    out.code(0);

    let line = |key: &str| -> String {
        let prefix = format!("{key} = ");
        let found: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .collect();
        assert!(found.len() == 1, "expected one line `{key} = …`\n{out}");
        found[0].to_owned()
    };
    let keys = [
        "backup.dir",
        "backup.subdir",
        "backup.dossiers",
        "backup.modified_only",
        "backup.include_documents",
        "events.on_exit",
        "events.before_provider_exchange",
        "events.before_closing",
        "report.recipients",
        "smtp.name",
        "smtp.email",
        "smtp.server",
        "smtp.port",
        "smtp.username",
        "smtp.password_env",
        "smtp.tls",
        "smtp.delay_s",
        "archive.method",
        "archive.level",
        "run.threads",
        "run.io_jobs",
    ];
    for k in keys {
        line(k);
    }
    let dir = line("backup.dir");
    assert!(
        dir.contains("sauve") && dir.ends_with("  (défaut)"),
        "{dir}\n{out}"
    );
    let method = line("archive.method");
    assert!(
        method.contains("deflate") && method.ends_with("  (base.toml)"),
        "{method}\n{out}"
    );
    let mo = line("backup.modified_only");
    assert!(
        mo.contains("false") && mo.ends_with(')') && mo.contains(poste.to_str().unwrap()),
        "the workstation file must win and be named: {mo}\n{out}"
    );
}
