//! `backup.subdir` (DESIGN.md §6): the run's start date chooses the
//! rotation folder; reports stay in `<backup.dir>/log/`; "modified since the
//! last backup" means since the last backup in any folder.

use crate::harness::*;

/// 2026-11-28 is a Saturday.
const SATURDAY: &str = "2026-11-28T21:00:00";
const SUNDAY: &str = "2026-11-29T21:00:00";

fn base(subdir: &str) -> Base {
    let base = Base::new().collaborator("COMPT", "*").setting(
        "backup",
        "subdir",
        &format!("\"{subdir}\""),
    );
    base.dossier("GRAND")
        .file("compta/ecritures.dat", text_bytes(1, 40_000));
    base.dossier("PETIT")
        .file("compta/ecritures.dat", text_bytes(2, 4_000));
    base
}

fn run_at(base: &Base, now: &str) -> Out {
    let out = Out::of(
        base.command(&base.run_args(&["--user", "COMPT"]))
            .env("SVGAUTO_NOW", now),
    );
    out.code(0);
    out
}

#[test]
fn each_setting_names_its_folder_from_the_start_date() {
    for (subdir, folder) in [
        ("weekday", "Samedi"),
        ("monthday", "28"),
        ("month", "11"),
        ("date", "2026-11-28"),
    ] {
        let base = base(subdir);
        run_at(&base, SATURDAY);
        assert_eq!(
            list_dir(&base.sauve().join(folder)),
            ["BGRAND.SVG", "BPETIT.SVG"],
            "backup.subdir = {subdir}: sauve/ holds {:?}",
            list_dir(&base.sauve())
        );
        assert!(
            base.archived().is_empty(),
            "no archive directly in sauve/ with subdir = {subdir}"
        );
        assert_eq!(base.reports().len(), 1, "the report stays in sauve/log/");
        let json = base.report_json();
        assert_eq!(
            json.dossier("GRAND")["archive"],
            format!("sauve/{folder}/BGRAND.SVG"),
            "the report says where the archive is"
        );
        let out = base.svgauto(&["verify", base.sauve().to_str().unwrap()]);
        out.code(0);
    }
}

#[test]
fn weekday_rotation_keeps_seven_generations_and_saves_only_what_changed() {
    let base = base("weekday");
    run_at(&base, SATURDAY);
    // Sunday: only PETIT changed; GRAND's last backup (Saturday's) holds its
    // state, so it is not written again into Dimanche/.
    base.append("PETIT", "compta/ecritures.dat", "écriture du dimanche\n");
    run_at(&base, SUNDAY);
    assert_eq!(list_dir(&base.sauve().join("Dimanche")), ["BPETIT.SVG"]);
    assert_eq!(
        list_dir(&base.sauve().join("Samedi")),
        ["BGRAND.SVG", "BPETIT.SVG"],
        "Saturday's generation is kept as it was"
    );
    base.report().assert_lines_unordered(&[saved_line("PETIT")]);
    assert_eq!(base.reports().len(), 2);

    // The next Saturday overwrites the Saturday folder: seven generations.
    base.append(
        "GRAND",
        "compta/ecritures.dat",
        "écriture du samedi suivant\n",
    );
    let before = std::fs::read(base.sauve().join("Samedi/BGRAND.SVG")).unwrap();
    run_at(&base, "2026-12-05T21:00:00");
    let after = std::fs::read(base.sauve().join("Samedi/BGRAND.SVG")).unwrap();
    assert_ne!(before, after, "Samedi/BGRAND.SVG is the new generation");
    assert_eq!(
        list_dir(&base.sauve()),
        ["Dimanche", "Samedi", "log"],
        "nothing else in sauve/"
    );
}

#[test]
fn the_dry_run_names_the_rotation_folder() {
    let base = base("date");
    let out = Out::of(
        base.command(&base.run_args(&["--user", "COMPT", "--dry-run"]))
            .env("SVGAUTO_NOW", SATURDAY),
    );
    out.code(0).stdout_has(&["sauve/2026-11-28"]);
    assert!(!base.sauve().exists(), "a dry run writes nothing");
}
