//! Bad input: a run that cannot take place stops with exit code 2 and a
//! message naming what is wrong, touching no backup; a dossier whose
//! `dossier.toml` is wrong is an error line, and the run goes on.

use crate::harness::*;

/// A base already backed up once, with one dossier modified since: a run
/// that wrongly went on would rewrite `A`.
fn saved_base() -> (Base, Stamps) {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("A")
        .file("compta/ecritures.dat", text_bytes(1, 10_000));
    base.dossier("B")
        .file("compta/ecritures.dat", text_bytes(2, 10_000));
    base.run_compt(&[]).code(0);
    base.append("A", "compta/ecritures.dat", "ajout\n");
    let stamps = base.stamps();
    (base, stamps)
}

#[test]
fn missing_base() {
    let base = Base::new();
    let missing = base.scratch("pas-de-base");
    let out = base.svgauto(&[
        "run",
        "--base",
        missing.to_str().unwrap(),
        "--user",
        "COMPT",
        "--no-progress",
    ]);
    out.code(2).stderr_has(&["pas-de-base"]);
    assert!(!missing.exists(), "the missing base must not be created");
}

#[test]
fn missing_base_in_the_original_form() {
    let base = Base::new();
    let missing = base.scratch("pas-de-base");
    let out = base.svgauto(&[
        &format!("/P:{}", missing.display()),
        "/C:COMPT",
        "/CO.BATCH.SAUVEGARDEAUTO",
    ]);
    out.code(2).stderr_has(&["pas-de-base"]);
}

#[test]
fn unknown_user() {
    let (base, before) = saved_base();
    base.run(&["--user", "INCONNU"])
        .code(2)
        .stderr_has(&["INCONNU"]);
    before.assert_untouched(&base.stamps());
}

#[test]
fn settings_file_with_an_unknown_key() {
    let (base, before) = saved_base();
    let poste = base.config_file("poste.toml", "[backup]\nmodifed_only = false\n");
    base.run_compt(&["--config", poste.to_str().unwrap()])
        .code(2)
        .stderr_has(&["modifed_only", "poste.toml"]);
    before.assert_untouched(&base.stamps());
}

#[test]
fn settings_file_with_an_unknown_section() {
    let (base, before) = saved_base();
    let poste = base.config_file("poste.toml", "[sauvegarde]\nmodified_only = false\n");
    base.run_compt(&["--config", poste.to_str().unwrap()])
        .code(2)
        .stderr_has(&["sauvegarde", "poste.toml"]);
    before.assert_untouched(&base.stamps());
}

#[test]
fn settings_file_with_a_bad_value() {
    let (base, before) = saved_base();
    let poste = base.config_file("poste.toml", "[archive]\nmethod = \"rar\"\n");
    base.run_compt(&["--config", poste.to_str().unwrap()])
        .code(2)
        .stderr_has(&["method", "rar", "poste.toml"]);
    before.assert_untouched(&base.stamps());
}

#[test]
fn settings_file_with_a_value_of_the_wrong_type() {
    let (base, before) = saved_base();
    let poste = base.config_file("poste.toml", "[backup]\nmodified_only = \"oui\"\n");
    base.run_compt(&["--config", poste.to_str().unwrap()])
        .code(2)
        .stderr_has(&["modified_only", "poste.toml"]);
    before.assert_untouched(&base.stamps());
}

#[test]
fn settings_file_that_does_not_exist() {
    let (base, before) = saved_base();
    let poste = base.scratch("absent.toml");
    base.run_compt(&["--config", poste.to_str().unwrap()])
        .code(2)
        .stderr_has(&["absent.toml"]);
    before.assert_untouched(&base.stamps());
}

#[test]
fn base_toml_with_a_bad_value() {
    let (base, before) = saved_base();
    base.set("archive", "method", "\"rar\"");
    base.run_compt(&[])
        .code(2)
        .stderr_has(&["method", "rar", "base.toml"]);
    before.assert_untouched(&base.stamps());
}

#[test]
fn base_toml_that_is_not_toml() {
    let (base, before) = saved_base();
    let p = base.root().join("base.toml");
    let mut text = read_to_string(&p);
    text.push_str("\n[backup\nmodified_only = \n");
    std::fs::write(&p, text).unwrap();
    base.run_compt(&[]).code(2).stderr_has(&["base.toml"]);
    before.assert_untouched(&base.stamps());
}

#[test]
fn backup_dir_that_is_a_regular_file() {
    let (base, before) = saved_base();
    let file = base.scratch("sauve-fichier");
    std::fs::write(&file, "je suis un fichier\n").unwrap();
    let poste = base.config_file(
        "poste.toml",
        &format!("[backup]\ndir = '{}'\n", file.display()),
    );
    base.run_compt(&["--config", poste.to_str().unwrap()])
        .code(2)
        .stderr_has(&["sauve-fichier"]);
    assert_eq!(
        read_to_string(&file),
        "je suis un fichier\n",
        "the regular file must be left as it was"
    );
    before.assert_untouched(&base.stamps());
}

#[test]
fn a_bad_dossier_toml_is_an_error_line_and_the_others_are_saved() {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("BON")
        .file("compta/ecritures.dat", text_bytes(1, 8_000));
    base.dossier("SYNTAXE")
        .raw_toml(Some("code = \"SYNTAXE\nstatus = original\n"))
        .file("a.dat", "a\n");
    base.dossier("MAUVAIS")
        .raw_toml(Some("code = \"AUTRE\"\n"))
        .file("a.dat", "a\n");
    base.dossier("SANSTOML").raw_toml(None).file("a.dat", "a\n");
    base.dossier("GENRE")
        .raw_toml(Some("code = \"GENRE\"\nkind = \"bof\"\n"))
        .file("a.dat", "a\n");
    base.run_compt(&[]).code(1);

    assert_eq!(base.archived(), set(&["BON"]), "archives in sauve/");
    let report = base.report();
    report.assert_line("BON", &saved_line("BON"));
    for (code, also) in [
        ("SYNTAXE", None),
        ("MAUVAIS", Some("AUTRE")),
        ("SANSTOML", None),
        ("GENRE", Some("bof")),
    ] {
        let line = report.line(code);
        let prefix = format!("Dossier {code} : Echec du traitement. ");
        assert!(
            line.starts_with(&prefix)
                && line.contains("dossier.toml")
                && also.is_none_or(|a| line.contains(a)),
            "line of {code} should start with {prefix:?}, name dossier.toml{}\n{report}",
            also.map(|a| format!(" and say {a:?}")).unwrap_or_default()
        );
    }
    report.assert_summary(1, 4, 5);
    base.report_json().assert_outcomes(&[
        ("BON", "saved"),
        ("SYNTAXE", "error"),
        ("MAUVAIS", "error"),
        ("SANSTOML", "error"),
        ("GENRE", "error"),
    ]);
    let mut isa = base.errors_isa();
    isa.sort();
    assert_eq!(
        isa,
        ["GENRE", "MAUVAIS", "SANSTOML", "SYNTAXE"],
        "Svgauto-DossiersEnErreur.isa"
    );
}

#[test]
fn a_dossier_toml_broken_after_a_backup_keeps_the_previous_archive() {
    let (base, before) = saved_base();
    std::fs::write(
        base.path("B", "dossier.toml"),
        "code = \"B\"\ntransferable = peut-être\n",
    )
    .unwrap();
    base.run_compt(&[]).code(1);
    before.assert_rewritten(&base.stamps(), &["A"]);
    let report = base.report();
    report.assert_line("A", &saved_line("A"));
    assert!(report.line("B").contains("dossier.toml"), "{report}");
    report.assert_summary(1, 1, 2);
}

/// Regression guard: an error whose cause is an I/O error must show that
/// cause once, not once in the message and again in the chain.
#[test]
fn error_messages_do_not_repeat_their_cause() {
    let (base, _) = saved_base();
    let missing = base.scratch("pas-de-base");
    let file = base.scratch("sauve-fichier");
    std::fs::write(&file, "").unwrap();
    let poste = base.config_file(
        "poste.toml",
        &format!("[backup]\ndir = '{}'\n", file.display()),
    );
    let outs = [
        base.svgauto(&[
            "run",
            "--base",
            missing.to_str().unwrap(),
            "--user",
            "COMPT",
            "--no-progress",
        ]),
        base.run_compt(&["--config", poste.to_str().unwrap()]),
        base.run_compt(&["--config", base.scratch("absent.toml").to_str().unwrap()]),
    ];
    let mut bad = String::new();
    for out in &outs {
        out.code(2);
        for line in out.stderr.lines() {
            if let Some(i) = line.find("(os error ") {
                let cause = &line[i..line[i..].find(')').map_or(line.len(), |j| i + j + 1)];
                if line.matches(cause).count() > 1 {
                    bad += &format!("  {cause} repeated in: {line}\n");
                }
            }
        }
    }
    assert!(bad.is_empty(), "messages repeat their cause:\n{bad}");
}

/// The messages an administrator reads when a run cannot take place, as
/// they read them (temp paths redacted). Each names the file, the key or the
/// collaborator, and prints each cause once.
#[test]
fn fatal_messages_snapshot() {
    let (base, _) = saved_base();
    let tmp = base.scratch("");
    let tmp = tmp.to_str().unwrap().trim_end_matches('/');
    let mut shown = String::new();
    let mut show = |title: &str, out: Out| {
        assert_eq!(out.code, Some(2), "{title}: {out}");
        shown.push_str(&format!(
            "--- {title}\n{}",
            out.stderr.replace(tmp, "[TMP]")
        ));
    };
    let missing = base.scratch("pas-de-base");
    show(
        "missing base",
        base.svgauto(&[
            "run",
            "--base",
            missing.to_str().unwrap(),
            "--user",
            "COMPT",
        ]),
    );
    show("unknown user", base.run(&["--user", "INCONNU"]));
    for (name, text) in [
        ("unknown key", "[backup]\nmodifed_only = false\n"),
        ("unknown section", "[sauvegarde]\nmodified_only = false\n"),
        ("bad value", "[archive]\nmethod = \"rar\"\n"),
        (
            "level out of range",
            "[archive]\nmethod = \"deflate\"\nlevel = 12\n",
        ),
        ("not toml", "[backup\n"),
    ] {
        let poste = base.config_file("poste.toml", text);
        show(name, base.run_compt(&["--config", poste.to_str().unwrap()]));
    }
    let absent = base.scratch("absent.toml");
    show(
        "missing settings file",
        base.run_compt(&["--config", absent.to_str().unwrap()]),
    );
    // Replace the errno text, which differs between systems.
    let shown = shown.replace("No such file or directory (os error 2)", "[ENOENT]");
    insta::assert_snapshot!(shown);
}
