//! The report a person reads (DESIGN.md §7), pinned by a snapshot: the clock
//! is fixed with `SVGAUTO_NOW` and `--threads 1` makes the order of the lines
//! the order of the work (previously failed first, then largest first).

use crate::harness::*;

const NOW: &str = "2026-11-28T21:00:00";

fn run_at_now(base: &Base) -> Out {
    Out::of(
        base.command(&base.run_args(&["--user", "COMPT", "--threads", "1"]))
            .env("SVGAUTO_NOW", NOW),
    )
}

#[test]
fn report_text_snapshot() {
    let base = Base::new().collaborator("COMPT", "*");
    // Sizes far apart, so "largest first" leaves no doubt.
    base.dossier("GRAND")
        .file("compta/ecritures.dat", text_bytes(1, 80_000));
    base.dossier("OCCUPE")
        .file("compta/ecritures.dat", text_bytes(2, 60_000));
    base.dossier("MOYEN")
        .file("compta/ecritures.dat", text_bytes(3, 40_000));
    base.dossier("COPIE")
        .status("copie")
        .file("compta/ecritures.dat", text_bytes(4, 20_000));
    base.dossier("PETIT")
        .file("compta/ecritures.dat", text_bytes(5, 5_000));
    base.excluded_dossiers();
    base.dossier("CASSE")
        .raw_toml(Some("code = \"CASSEE\"\n"))
        .file("plan.dat", "plan\n");

    let first = {
        let _held = base.hold("OCCUPE");
        run_at_now(&base)
    };
    first.code(1);
    let first = base.report();

    // OCCUPE is closed, CASSE repaired, PETIT modified.
    std::fs::write(base.path("CASSE", "dossier.toml"), "code = \"CASSE\"\n").unwrap();
    base.append("PETIT", "compta/ecritures.dat", "ajout\n");
    run_at_now(&base).code(0);
    let second = base.report();

    // Same clock, so the second report got the `-2` name; each has its twin.
    let mut logs = list_dir(&base.log_dir());
    logs.sort();
    assert_eq!(
        logs,
        [
            "Svgauto-DossiersEnErreur.isa",
            "svgauto-20261128-210000-2.json",
            "svgauto-20261128-210000-2.txt",
            "svgauto-20261128-210000.json",
            "svgauto-20261128-210000.txt",
        ],
        "files in sauve/log"
    );
    assert!(
        first.path.ends_with("svgauto-20261128-210000.txt"),
        "{}",
        first.path.display()
    );
    assert!(
        second.path.ends_with("svgauto-20261128-210000-2.txt"),
        "{}",
        second.path.display()
    );

    let root = base.root().to_str().unwrap();
    let shown = format!(
        "=== first run: OCCUPE in use, CASSE with a wrong code ===\n{}=== second run ===\n{}",
        first.text.replace("\r\n", "\n").replace(root, "[BASE]"),
        second.text.replace("\r\n", "\n").replace(root, "[BASE]"),
    );
    insta::assert_snapshot!("report_two_runs", shown);

    // What the snapshot must show, checked here too so that accepting a
    // wrong snapshot is not enough.
    first.assert_line("OCCUPE", &in_use_line("OCCUPE"));
    assert!(
        first
            .line("CASSE")
            .starts_with("Dossier CASSE : Echec du traitement. ")
            && first.line("CASSE").contains("dossier.toml"),
        "{first}"
    );
    let saved: Vec<String> = ["GRAND", "MOYEN", "COPIE", "PETIT"]
        .iter()
        .map(|c| saved_line(c))
        .collect();
    let mut in_order: Vec<&str> = first
        .dossier_lines()
        .into_iter()
        .filter(|l| l.ends_with(SAVED))
        .collect();
    in_order.retain(|l| saved.iter().any(|s| s == l));
    assert_eq!(in_order, saved, "saved dossiers, largest first\n{first}");
    for excluded in ["ETALON", "TEST01", "CONFID"] {
        assert!(
            !first.codes().iter().any(|c| c == excluded),
            "{excluded} must not be in the text report\n{first}"
        );
    }
    first.assert_summary(4, 2, 6);
    assert_eq!(
        second.codes()[2],
        "PETIT",
        "previously failed first, then the others\n{second}"
    );
    second.assert_summary(3, 0, 3);
}

/// The harness' "latest report" is the last run's, whatever time svgauto
/// put in its name: runs pinned far ahead, on the real clock, and pinned
/// far back, in that order (regression: the harness took the newest by
/// name, so a test mixing a pinned run with a real-clock one passed or
/// failed depending on the day it ran).
#[test]
fn the_latest_report_is_the_last_runs_whatever_date_its_name_holds() {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("A").file("compta/ecritures.dat", "écriture\n");
    let pinned = |now: &str| {
        Out::of(
            base.command(&base.run_args(&["--user", "COMPT"]))
                .env("SVGAUTO_NOW", now),
        )
        .code(0);
    };
    let name = |p: &std::path::Path| p.file_name().unwrap().to_str().unwrap().to_owned();

    pinned("2099-01-01T21:00:00");
    assert_eq!(name(&base.report().path), "svgauto-20990101-210000.txt");

    base.append("A", "compta/ecritures.dat", "écriture du jour\n");
    base.run_compt(&[]).code(0);
    let real = name(&base.report().path);
    assert!(
        !real.starts_with("svgauto-2099") && !real.starts_with("svgauto-2001"),
        "the real-clock run's report: {real}"
    );
    base.report().assert_lines_unordered(&[saved_line("A")]);

    pinned("2001-01-01T21:00:00");
    assert_eq!(name(&base.report().path), "svgauto-20010101-210000.txt");
    base.report().assert_no_dossier_lines();
    let order: Vec<String> = base.reports().iter().map(|p| name(p)).collect();
    assert_eq!(
        order,
        [
            "svgauto-20990101-210000.txt".to_owned(),
            real,
            "svgauto-20010101-210000.txt".to_owned()
        ],
        "reports in the order the runs wrote them"
    );
}
