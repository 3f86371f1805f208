//! `svgauto status`: "is everything backed up?" in one command. The clock
//! is pinned with `SVGAUTO_NOW`, for the runs and for the status, and the
//! files changed between runs get pinned modification times, so the
//! snapshots (and staleness) do not depend on the day the tests run.
//!
//! Every status is asked twice, as text and as JSON, and the two must agree
//! (`checked`); the exit code is 0 exactly when nothing needs attention.

use std::fs;
use std::time::SystemTime;

use chrono::{Local, NaiveDateTime, TimeZone};

use crate::harness::*;

const FIRST_RUN: &str = "2026-11-28T21:00:00";

/// A pinned local time, as `SVGAUTO_NOW` takes it, for file times.
fn time(s: &str) -> SystemTime {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap();
    Local.from_local_datetime(&naive).unwrap().into()
}

/// Dates every file of the dossiers before the first run: the files are
/// written at the real time, which may fall after the pinned clock of the
/// runs, and then they would look like changes the backups do not hold.
fn date_files_before_the_first_run(base: &Base) {
    walk_files(&base.root().join("dossiers"), &mut |p| {
        set_mtime(p, time("2026-11-01T12:00:00"))
    });
}

/// `svgauto run --user COMPT` at `now`.
fn run_at(base: &Base, now: &str, args: &[&str]) -> Out {
    let mut a = vec!["--user", "COMPT", "--threads", "1"];
    a.extend_from_slice(args);
    Out::of(base.command(&base.run_args(&a)).env("SVGAUTO_NOW", now))
}

/// `svgauto status --base <base> <args>` at `now`.
fn status_at(base: &Base, now: &str, args: &[&str]) -> Out {
    let mut a = vec!["status", "--base", base.root().to_str().unwrap()];
    a.extend_from_slice(args);
    Out::of(base.command(&a).env("SVGAUTO_NOW", now))
}

/// The text status, with the temp path replaced, for a snapshot.
fn shown(base: &Base, out: &Out) -> String {
    out.stdout
        .replace("\r\n", "\n")
        .replace(base.root().to_str().unwrap(), "[BASE]")
}

/// The status as text and as JSON at `now`; asserts they agree (exit code,
/// counts, which dossiers are marked) and returns both.
#[track_caller]
fn checked(base: &Base, now: &str, args: &[&str]) -> (Out, serde_json::Value) {
    let text = status_at(base, now, args);
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json_out = status_at(base, now, &json_args);
    text.exited_0_or_1();
    assert_eq!(
        text.code, json_out.code,
        "the same exit code with --json\n{text}\n{json_out}"
    );
    assert!(
        text.stderr.is_empty() && json_out.stderr.is_empty(),
        "nothing on stderr\n{text}\n{json_out}"
    );
    let j: serde_json::Value = serde_json::from_str(&json_out.stdout)
        .unwrap_or_else(|e| panic!("--json does not parse: {e}\n{json_out}"));
    let quiet = j["nothing_to_watch"].as_bool().unwrap();
    assert_eq!(
        text.code,
        Some(if quiet { 0 } else { 1 }),
        "exit code 0 exactly when nothing_to_watch\n{json_out}"
    );
    let all = j["all_backed_up"].as_bool().unwrap();
    assert_eq!(
        all,
        quiet && j["totals"]["modified"] == 0,
        "all_backed_up exactly when nothing to watch and nothing modified\n{json_out}"
    );
    assert_eq!(
        text.stdout.contains("Tout est sauvegardé."),
        all,
        "the verdict says all is saved exactly when it is\n{text}"
    );

    // The totals are the dossiers', counted.
    let dossiers = j["dossiers"].as_array().unwrap();
    let t = &j["totals"];
    let count = |state: &str| dossiers.iter().filter(|d| d["state"] == state).count() as u64;
    let flagged = |d: &serde_json::Value| !d["attention"].as_array().unwrap().is_empty();
    let with = |reason: &str| {
        dossiers
            .iter()
            .filter(|d| {
                d["attention"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a == reason)
            })
            .count() as u64
    };
    for (key, state) in [
        ("up_to_date", "up-to-date"),
        ("modified", "modified"),
        ("stale", "stale"),
        ("never_saved", "never-saved"),
        ("invalid", "invalid"),
        ("excluded", "excluded"),
    ] {
        assert_eq!(t[key], count(state), "totals.{key}\n{json_out}");
    }
    for (key, reason) in [
        ("errors", "error"),
        ("interrupted", "interrupted"),
        ("archive_missing", "archive-missing"),
    ] {
        assert_eq!(t[key], with(reason), "totals.{key}\n{json_out}");
    }
    let attention = dossiers.iter().filter(|d| flagged(d)).count() as u64;
    assert_eq!(t["dossiers"], dossiers.len() as u64, "{json_out}");
    assert_eq!(t["attention"], attention, "{json_out}");
    assert_eq!(quiet, attention == 0, "{json_out}");
    assert_eq!(j["stale_days"], args_stale_days(args), "{json_out}");

    // The text says the same: the same total, the same verdict, and a `!`
    // on exactly the dossiers that need attention.
    let lines = text.stdout_lines();
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "{} dossier(s) : {} à jour",
            t["dossiers"], t["up_to_date"]
        ))),
        "the totals line\n{text}"
    );
    let verdict = if all {
        "Tout est sauvegardé.".to_owned()
    } else if quiet {
        format!(
            "Rien à surveiller ; {} dossier(s) modifié(s) depuis leur dernière sauvegarde, que le prochain traitement sauvegardera.",
            t["modified"]
        )
    } else {
        format!("À surveiller : {attention} dossier(s).")
    };
    assert_eq!(lines.last().copied(), Some(verdict.as_str()), "{text}");
    for d in dossiers {
        let code = d["code"].as_str().unwrap();
        let row = lines
            .iter()
            .find(|l| {
                l.get(3..)
                    .is_some_and(|r| r.starts_with(&format!("{code} ")))
            })
            .unwrap_or_else(|| panic!("no table row for {code}\n{text}"));
        assert_eq!(
            row.starts_with('!'),
            flagged(d),
            "the `!` of {code}: {row}\n{json_out}"
        );
    }
    (text, j)
}

fn args_stale_days(args: &[&str]) -> u64 {
    args.iter()
        .position(|a| *a == "--stale-days")
        .map_or(7, |i| args[i + 1].parse().unwrap())
}

/// The JSON line of one dossier.
fn dossier<'a>(j: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    j["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("{code} not in the JSON status"))
}

#[test]
fn status_from_the_first_night_to_a_stale_dossier() {
    let base =
        Base::new()
            .collaborator("COMPT", "*")
            .setting("backup", "dossiers", "\"originals\"");
    base.dossier("821516")
        .file("compta/ecritures.dat", text_bytes(1, 3000));
    base.dossier("PRESSE")
        .file("compta/ecritures.dat", text_bytes(2, 2000));
    // Accents in a name: the columns are aligned by characters.
    base.dossier("ZEBASSE")
        .raw_toml(Some(
            "code = \"ZEBASSE\"\nname = \"Association sportive de Zébasse — Études\"\n",
        ))
        .file("compta/ecritures.dat", text_bytes(3, 1000));
    base.excluded_dossiers();
    base.dossier("TVA")
        .status("copie")
        .file("compta/ecritures.dat", "copie\n");
    date_files_before_the_first_run(&base);

    // Before any run: everything to save, and the base untouched.
    let before = snapshot(base.top(), &|_| false);
    let (out, j) = checked(&base, FIRST_RUN, &[]);
    out.code(1);
    assert_same_snapshot(
        &before,
        &snapshot(base.top(), &|_| false),
        "status writes nothing",
    );
    assert!(!base.root().join(".svgauto").exists(), "no .svgauto/");
    assert!(!base.sauve().exists(), "no sauve/");
    for code in ["821516", "PRESSE", "ZEBASSE"] {
        assert_eq!(
            dossier(&j, code)["attention"],
            serde_json::json!(["never-saved"])
        );
    }
    for (code, reason) in [
        ("ETALON", "etalon"),
        ("TEST01", "test"),
        ("CONFID", "non-transferable"),
        ("TVA", "copie"),
    ] {
        let d = dossier(&j, code);
        assert_eq!(d["excluded"], reason, "{code}");
        assert_eq!(d["attention"], serde_json::json!([]), "{code}");
    }
    insta::assert_snapshot!("before_any_run", shown(&base, &out));

    // After the run: all up to date; still nothing written by status.
    run_at(&base, FIRST_RUN, &[]).code(0);
    let before = snapshot(base.top(), &|_| false);
    let (out, j) = checked(&base, "2026-11-28T22:00:00", &[]);
    out.code(0);
    assert_same_snapshot(
        &before,
        &snapshot(base.top(), &|_| false),
        "status writes nothing, not even in .svgauto/",
    );
    assert_eq!(dossier(&j, "821516")["last_result"], "ok");
    assert_eq!(dossier(&j, "821516")["archive_present"], true);
    assert_eq!(dossier(&j, "821516")["last_archive"], "sauve/B821516.SVG");
    insta::assert_snapshot!("after_a_run", shown(&base, &out));

    // The next morning, 821516 changed: the nightly run takes it, no alarm.
    base.append("821516", "compta/ecritures.dat", "nouvelle écriture\n");
    base.set_mtime(
        "821516",
        "compta/ecritures.dat",
        time("2026-11-29T09:30:00"),
    );
    let (out, j) = checked(&base, "2026-11-29T12:00:00", &[]);
    out.code(0);
    assert_eq!(dossier(&j, "821516")["modified_since"], true);
    assert_eq!(dossier(&j, "821516")["state"], "modified");
    assert_eq!(dossier(&j, "PRESSE")["modified_since"], false);
    insta::assert_snapshot!("one_modified", shown(&base, &out));

    // Eight days later, no run since: 821516's changes are more than 7 days
    // old. PRESSE, untouched for 9 days then changed this morning, is only
    // modified; ZEBASSE, untouched, is backed up whatever the age.
    base.append("PRESSE", "compta/ecritures.dat", "ce matin\n");
    base.set_mtime(
        "PRESSE",
        "compta/ecritures.dat",
        time("2026-12-07T08:15:00"),
    );
    let now = "2026-12-07T12:00:00";
    let (out, j) = checked(&base, now, &[]);
    out.code(1);
    assert_eq!(dossier(&j, "821516")["stale"], true);
    assert_eq!(
        dossier(&j, "821516")["attention"],
        serde_json::json!(["stale"])
    );
    assert_eq!(dossier(&j, "PRESSE")["state"], "modified");
    assert_eq!(dossier(&j, "ZEBASSE")["state"], "up-to-date");
    insta::assert_snapshot!("one_modified_one_stale", shown(&base, &out));

    // --stale-days moves the line: 821516's changes are 8 days and 2½ hours old.
    let (out, j) = checked(&base, now, &["--stale-days", "8"]);
    out.code(1);
    assert_eq!(dossier(&j, "821516")["stale"], true);
    let (out, j) = checked(&base, now, &["--stale-days", "9"]);
    out.code(0);
    assert_eq!(dossier(&j, "821516")["state"], "modified");
    // Nothing to watch, but not "all saved": two dossiers have changes
    // that no archive holds yet.
    out.stdout_has(&["Rien à surveiller ; 2 dossier(s) modifié(s)"]);
    // 0: every change not yet saved needs attention.
    let (out, j) = checked(&base, now, &["--stale-days", "0"]);
    out.code(1);
    assert_eq!(dossier(&j, "PRESSE")["stale"], true);
    assert_eq!(j["totals"]["stale"], 2);
    out.stdout_has(&["2 modifié(s) et non sauvegardé(s),"]);
    // Not a number of days: a usage error.
    status_at(&base, now, &["--stale-days", "-1"]).code(2);
    status_at(&base, now, &["--stale-days", "huit"]).code(2);

    // The next run saves both: all well again.
    run_at(&base, "2026-12-07T21:00:00", &[]).code(0);
    let (out, _) = checked(&base, "2026-12-07T22:00:00", &[]);
    out.code(0);
}

#[test]
fn status_after_errors_deletions_and_missing_archives() {
    let base = Base::new().collaborator("COMPT", "*");
    for code in ["A", "B", "C", "D", "E", "F"] {
        base.dossier(code)
            .file("compta/ecritures.dat", text_bytes(code.len() as u64, 500));
    }
    date_files_before_the_first_run(&base);
    run_at(&base, FIRST_RUN, &[]).code(0);

    // B changed and is open at the next run; D deleted; E's identity broken.
    base.append("B", "compta/ecritures.dat", "ajout\n");
    base.set_mtime("B", "compta/ecritures.dat", time("2026-11-29T10:00:00"));
    fs::remove_dir_all(base.dossier_dir("D")).unwrap();
    fs::write(
        base.path("E", "dossier.toml"),
        "code = \"E\"\nkind = \"bof\"\n",
    )
    .unwrap();
    {
        let _held = base.hold("B");
        run_at(&base, "2026-11-29T21:00:00", &[]).code(1);
    }
    // Then C's archive deleted by hand, and a run died writing F's.
    fs::remove_file(base.archive("C")).unwrap();
    fs::write(base.sauve().join("BF.SVG.partial"), b"PK\x03\x04 cut").unwrap();

    let now = "2026-11-30T08:00:00";
    let (out, j) = checked(&base, now, &[]);
    out.code(1);
    let b = dossier(&j, "B");
    assert_eq!(b["last_result"], "error");
    assert!(
        b["last_error"]
            .as_str()
            .unwrap()
            .starts_with("Les données concernées sont utilisées par un utilisateur"),
        "{b}"
    );
    assert_eq!(b["attention"], serde_json::json!(["error"]));
    assert_eq!(
        dossier(&j, "C")["attention"],
        serde_json::json!(["archive-missing"])
    );
    assert_eq!(dossier(&j, "C")["archive_present"], false);
    let e = dossier(&j, "E");
    assert_eq!(e["state"], "invalid");
    assert!(
        e["invalid"].as_str().unwrap().contains("dossier.toml"),
        "{e}"
    );
    assert_eq!(
        dossier(&j, "F")["attention"],
        serde_json::json!(["interrupted"])
    );
    // D is gone from the base, its backup is not: listed, not a problem.
    assert_eq!(
        j["deleted"],
        serde_json::json!([{
            "code": "D",
            "last_backup_at": j["deleted"][0]["last_backup_at"],
            "last_archive": "sauve/BD.SVG",
            "archive_present": true,
        }])
    );
    assert_eq!(j["totals"]["attention"], 4);
    out.stdout_has(&[
        "en erreur : Les données concernées sont utilisées par un utilisateur",
        "archive absente : sauve/BC.SVG",
        "Supprimés de la base",
    ]);
    insta::assert_snapshot!("errors_deleted_missing", shown(&base, &out));

    // B closed, E repaired, then the run: B, E and F are saved again, and C
    // too, unchanged but its archive gone (regression: the run used to
    // decide from the fingerprint alone and left C without an archive
    // until `run --all`).
    fs::write(base.path("E", "dossier.toml"), "code = \"E\"\n").unwrap();
    run_at(&base, "2026-11-30T21:00:00", &[]).code(0);
    let line = base.report().line("C").to_owned();
    assert!(
        line.contains("l'archive de la sauvegarde précédente avait disparu"),
        "{line}"
    );
    assert!(base.sauve().join("BC.SVG").is_file());
    let (out, j) = checked(&base, "2026-12-02T08:00:00", &[]);
    out.code(0);
    assert_eq!(j["totals"]["deleted"], 1);
    insta::assert_snapshot!("all_well_with_a_deleted_dossier", shown(&base, &out));
}

#[test]
fn a_base_with_only_excluded_dossiers_is_backed_up() {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("ETALON")
        .kind("etalon")
        .file("plan.dat", "plan\n");
    base.dossier("CONFID")
        .transferable(false)
        .file("plan.dat", "plan\n");
    let (out, j) = checked(&base, FIRST_RUN, &[]);
    out.code(0);
    assert_eq!(j["totals"]["excluded"], 2);
    out.stdout_has(&["2 exclu(s) du traitement (1 étalon, 1 non transférable)"]);

    // The workstation settings count, as for the run: with
    // `backup.dossiers = "copies"`, an original never saved is no problem.
    base.dossier("ORIG")
        .file("compta/ecritures.dat", "écritures\n");
    checked(&base, FIRST_RUN, &[]).0.code(1);
    let poste = base.config_file("poste.toml", "[backup]\ndossiers = \"copies\"\n");
    let (out, j) = checked(&base, FIRST_RUN, &["--config", poste.to_str().unwrap()]);
    out.code(0);
    assert_eq!(dossier(&j, "ORIG")["excluded"], "original");
    out.stdout_has(&["1 original : backup.dossiers = copies"]);
}

#[test]
fn status_of_what_is_not_a_base_is_exit_2() {
    let base = Base::new();
    let missing = base.scratch("nulle-part");
    base.svgauto(&["status", "--base", missing.to_str().unwrap()])
        .code(2)
        .stderr_has(&["base introuvable", "nulle-part"]);
    // A catalog that is not one: exit 2 naming it, and left as it is.
    fs::create_dir_all(base.root().join(".svgauto")).unwrap();
    let catalog = base.root().join(".svgauto/catalog.sqlite");
    fs::write(&catalog, "pas une base SQLite").unwrap();
    status_at(&base, FIRST_RUN, &[])
        .code(2)
        .stderr_has(&["catalog.sqlite"]);
    assert_eq!(read_to_string(&catalog), "pas une base SQLite");
}
