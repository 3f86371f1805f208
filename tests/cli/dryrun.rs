//! `svgauto run --dry-run [--json]`: the plan of the run — every dossier,
//! what would happen and why, in the order it would run, with the bytes to
//! read — without writing anything; and the run that follows does exactly
//! that.

use crate::harness::*;

const NOW: &str = "2026-11-28T21:00:00";

/// `svgauto run <args>` with the clock pinned at [`NOW`]. A test that pins
/// the clock pins it for every run: a run on the real clock beside pinned
/// ones makes the order of their reports, and so which one is the latest,
/// depend on the day the test runs.
fn run_at_now(base: &Base, args: &[&str]) -> Out {
    Out::of(base.command(&base.run_args(args)).env("SVGAUTO_NOW", NOW))
}

/// Every kind of case: modified, unchanged, new, étalon, test,
/// non-transferable, a copy (excluded by a setting), failed last time, in
/// use now, no rights, a broken dossier.toml.
fn mixed_base() -> Base {
    let base = Base::new()
        .collaborator("COMPT", "*")
        .collaborator("DLEROY", "GRAND,MOYEN,PETIT,OCCUPE,ECHEC,NOUVEAU,FIGE");
    base.dossier("GRAND")
        .file("compta/ecritures.dat", text_bytes(1, 90_000));
    base.dossier("MOYEN")
        .file("compta/ecritures.dat", text_bytes(2, 50_000));
    base.dossier("PETIT")
        .file("compta/ecritures.dat", text_bytes(3, 5_000));
    base.dossier("FIGE")
        .file("compta/ecritures.dat", text_bytes(4, 20_000));
    base.dossier("OCCUPE")
        .file("compta/ecritures.dat", text_bytes(5, 30_000));
    base.dossier("ECHEC")
        .file("compta/ecritures.dat", text_bytes(6, 1_000));
    base.dossier("HORSDROIT")
        .file("compta/ecritures.dat", text_bytes(7, 2_000));
    base.excluded_dossiers();
    base
}

fn json_plan(out: &Out) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("--dry-run --json is not JSON: {e}\n{out}"))
}

/// `(code, action)` in the order of the plan.
fn actions(plan: &serde_json::Value) -> Vec<(String, String)> {
    plan["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_owned(),
                d["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Everything under the base, with contents: to prove nothing was written.
fn whole_base(base: &Base) -> Snapshot {
    snapshot(base.root(), &|_| false).without_times()
}

#[test]
fn a_dry_run_before_the_first_run_writes_nothing() {
    let base = mixed_base();
    let before = whole_base(&base);
    let out = base.run_compt(&["--dry-run"]);
    out.code(0).stdout_has(&[
        "rien n'est écrit",
        "Dossier GRAND : jamais sauvegardé",
        "Dossier ETALON : dossier étalon",
        "7 dossier(s) à sauvegarder",
    ]);
    base.run_compt(&["--dry-run", "--json"]).code(0);
    assert_same_snapshot(&before, &whole_base(&base), "the base after --dry-run");
    assert!(!base.root().join(".svgauto").exists());
}

#[test]
fn the_plan_is_what_the_run_then_does() {
    let base = mixed_base();
    // A first run, with ECHEC in use: it fails and must be retried first.
    let held = base.hold("ECHEC");
    run_at_now(&base, &["--user", "COMPT"]).code(1);
    held.release();
    // Then: MOYEN and PETIT modified, NOUVEAU created, FIGE untouched,
    // OCCUPE open right now, HORSDROIT modified (DLEROY has no rights).
    base.append("MOYEN", "compta/ecritures.dat", "écriture\n");
    base.append("PETIT", "compta/ecritures.dat", "écriture\n");
    base.append("HORSDROIT", "compta/ecritures.dat", "écriture\n");
    base.append("OCCUPE", "compta/ecritures.dat", "écriture\n");
    base.dossier("NOUVEAU")
        .file("compta/ecritures.dat", text_bytes(8, 70_000));
    base.dossier("CASSE")
        .raw_toml(Some("code = \"CASSE\"\nstatus = \"brouillon\"\n"));
    let held = base.hold("OCCUPE");

    let before = whole_base(&base);
    let args = ["--user", "DLEROY", "--threads", "1"];
    let mut dry = args.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let out = run_at_now(&base, &dry);
    out.code(0);
    let plan = json_plan(&out);
    assert_same_snapshot(&before, &whole_base(&base), "the base after --dry-run");

    // The plan: the retried dossier first, then the largest first; then the
    // errors; then the others, by code.
    assert_eq!(
        actions(&plan),
        [
            ("ECHEC", "save"),
            ("NOUVEAU", "save"),
            ("MOYEN", "save"),
            ("OCCUPE", "save"),
            ("PETIT", "save"),
            ("CASSE", "error"),
            ("HORSDROIT", "error"),
            ("CONFID", "skip"),
            ("ETALON", "skip"),
            ("FIGE", "skip"),
            ("GRAND", "skip"),
            ("TEST01", "skip"),
        ]
        .map(|(c, a)| (c.to_owned(), a.to_owned())),
        "{}",
        out.stdout
    );
    let d = |code: &str| {
        plan["dossiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["code"] == code)
            .unwrap()
            .clone()
    };
    assert_eq!(d("ECHEC")["why"], "retry");
    assert!(
        d("ECHEC")["last_error"]
            .as_str()
            .unwrap()
            .contains("utilisées par un utilisateur"),
        "the retry says which error: {}",
        d("ECHEC")
    );
    assert_eq!(d("NOUVEAU")["why"], "new");
    assert_eq!(d("MOYEN")["why"], "modified");
    assert_eq!(d("OCCUPE")["in_use"], true);
    assert_eq!(d("PETIT")["in_use"], false);
    assert_eq!(d("FIGE")["reason"], "unchanged");
    assert_eq!(d("ETALON")["reason"], "etalon");
    assert_eq!(d("CONFID")["reason"], "non-transferable");
    assert!(
        d("HORSDROIT")["detail"]
            .as_str()
            .unwrap()
            .contains("n'a pas les droits"),
        "{}",
        d("HORSDROIT")
    );
    let to_read: u64 = ["ECHEC", "NOUVEAU", "MOYEN", "OCCUPE", "PETIT"]
        .iter()
        .map(|c| d(c)["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(plan["totals"]["bytes"], to_read);
    assert_eq!(plan["totals"]["to_save"], 5);
    assert_eq!(plan["totals"]["in_use"], 1);
    assert_eq!(plan["totals"]["errors"], 2);

    // The run: one thread, so the report's lines come in plan order.
    let out = run_at_now(&base, &args);
    out.code(1);
    held.release();
    let report = base.report();
    assert_eq!(
        report.codes(),
        [
            "CASSE",
            "HORSDROIT",
            "ECHEC",
            "NOUVEAU",
            "MOYEN",
            "OCCUPE",
            "PETIT"
        ],
        "errors found by the selection first, then the plan's order\n{report}"
    );
    report.assert_line("OCCUPE", &in_use_line("OCCUPE"));
    base.report_json().assert_outcomes(&[
        ("ECHEC", "saved"),
        ("NOUVEAU", "saved"),
        ("MOYEN", "saved"),
        ("OCCUPE", "error"),
        ("PETIT", "saved"),
        ("CASSE", "error"),
        ("HORSDROIT", "error"),
        ("CONFID", "excluded"),
        ("ETALON", "excluded"),
        ("FIGE", "unchanged"),
        ("GRAND", "unchanged"),
        ("TEST01", "excluded"),
    ]);
    let read: u64 = ["ECHEC", "NOUVEAU", "MOYEN", "PETIT"]
        .iter()
        .map(|c| base.report_json().dossier(c)["bytes_in"].as_u64().unwrap())
        .sum();
    assert_eq!(read + d("OCCUPE")["bytes"].as_u64().unwrap(), to_read);
}

#[test]
fn dry_run_text_snapshot() {
    let base = mixed_base();
    let held = base.hold("ECHEC");
    run_at_now(&base, &["--user", "COMPT"]).code(1);
    held.release();
    base.append("MOYEN", "compta/ecritures.dat", "écriture\n");
    base.append("OCCUPE", "compta/ecritures.dat", "écriture\n");
    base.append("HORSDROIT", "compta/ecritures.dat", "écriture\n");
    base.dossier("NOUVEAU")
        .file("compta/ecritures.dat", text_bytes(8, 70_000));
    let _held = base.hold("OCCUPE");
    let out = run_at_now(
        &base,
        &["--user", "DLEROY", "--dry-run", "--max-duration", "2h30m"],
    );
    out.code(0);
    let text = out.stdout.replace(base.root().to_str().unwrap(), "[BASE]");
    insta::assert_snapshot!(text);
}

#[test]
fn json_needs_dry_run_and_fatal_errors_are_the_runs() {
    let base = mixed_base();
    base.run_compt(&["--json"])
        .code(2)
        .stderr_has(&["--dry-run"]);
    base.run(&["--user", "INCONNU", "--dry-run"])
        .code(2)
        .stderr_has(&["INCONNU"]);
    // The mail settings a run refuses, its simulation refuses too.
    base.set("report", "recipients", "[\"compta@cabinet.example\"]");
    base.run_compt(&["--dry-run"])
        .code(2)
        .stderr_has(&["smtp."]);
    assert!(!base.root().join(".svgauto").exists());
}
