//! The JSON Schemas of `schemas/` (issue 16): the run's JSON twin,
//! `status --json` and `run --dry-run --json`, checked against what the real
//! binary writes on bases covering their variety (saved, error, excluded,
//! unchanged, deferred, retried, invalid, deleted, archive missing), each
//! schema itself a valid 2020-12 schema, and the check shown able to fail.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::harness::*;

/// `schemas/<name>.schema.json`, parsed.
fn schema(name: &str) -> Value {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "schemas",
        &format!("{name}.schema.json"),
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", p.display()))
}

const SCHEMAS: [&str; 3] = ["run-report", "status", "dry-run"];

/// The errors of `doc` against `schemas/<name>.schema.json` (formats such
/// as `date-time` checked too); empty when it is valid.
fn errors(name: &str, doc: &Value) -> Vec<String> {
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema(name))
        .unwrap_or_else(|e| panic!("schemas/{name}.schema.json does not compile: {e}"));
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// `doc` is valid against `schemas/<name>.schema.json`, and says its
/// `schema_version`.
pub(crate) fn assert_valid(name: &str, doc: &Value, what: &str) {
    let errs = errors(name, doc);
    assert!(
        errs.is_empty(),
        "{what} does not match schemas/{name}.schema.json:\n{}\n{doc:#}",
        errs.join("\n")
    );
    assert_eq!(doc["schema_version"], 1, "{what}: {doc:#}");
}

fn assert_invalid(name: &str, doc: &Value, what: &str) {
    assert!(
        !errors(name, doc).is_empty(),
        "{what}: schemas/{name}.schema.json accepts it\n{doc:#}"
    );
}

fn status_json(base: &Base) -> Value {
    let out = base.svgauto(&["status", "--base", base.root().to_str().unwrap(), "--json"]);
    out.exited_0_or_1();
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON: {e}\n{out}"))
}

fn dry_run_json(base: &Base, args: &[&str]) -> Value {
    let mut a = vec!["--user", "COMPT", "--dry-run", "--json"];
    a.extend_from_slice(args);
    let out = base.run(&a);
    out.code(0);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("--dry-run --json is not JSON: {e}\n{out}"))
}

/// The outcomes of a run report, sorted, without repeats.
fn outcomes(report: &Value) -> Vec<String> {
    let mut v: Vec<String> = report["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A base with every kind of dossier: normal ones, the three excluded
/// kinds, a copy and one whose `dossier.toml` is broken.
fn varied_base() -> Base {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("GRAND")
        .file("compta/ecritures.dat", text_bytes(1, 40_000));
    base.dossier("PETIT")
        .file("compta/ecritures.dat", text_bytes(2, 3_000));
    base.dossier("ECHEC")
        .file("compta/ecritures.dat", text_bytes(3, 1_000));
    base.dossier("PARTI")
        .file("compta/ecritures.dat", text_bytes(4, 1_000));
    base.excluded_dossiers();
    base
}

#[test]
fn every_schema_is_a_valid_2020_12_schema() {
    for name in SCHEMAS {
        let s = schema(name);
        if let Err(e) = jsonschema::draft202012::meta::validate(&s) {
            panic!("schemas/{name}.schema.json is not a valid 2020-12 schema: {e}");
        }
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "schemas/{name}.schema.json"
        );
    }
    // And the meta-check can fail.
    let bad = json!({"type": "objet"});
    assert!(jsonschema::draft202012::meta::validate(&bad).is_err());
}

#[test]
fn every_output_of_a_base_through_its_nights_matches_its_schema() {
    let base = varied_base();

    // Before any run.
    let status = status_json(&base);
    assert_valid("status", &status, "status before any run");
    let plan = dry_run_json(&base, &[]);
    assert_valid("dry-run", &plan, "the dry run before any run");

    // First run: ECHEC in use (an error line), the others saved, the
    // excluded kinds excluded.
    let held = base.hold("ECHEC");
    base.run_compt(&[]).code(1);
    held.release();
    let first = base.report_json().value;
    assert_valid("run-report", &first, "the first run's report");
    assert_eq!(
        outcomes(&first),
        ["error", "excluded", "saved"],
        "{first:#}"
    );
    let status = status_json(&base);
    assert_valid("status", &status, "status after a run with an error");

    // Then: PETIT modified, PARTI deleted, a broken dossier.toml, GRAND's
    // archive gone; the dry run and the status say so.
    base.append("PETIT", "compta/ecritures.dat", "écriture\n");
    std::fs::remove_dir_all(base.dossier_dir("PARTI")).unwrap();
    base.dossier("CASSE")
        .raw_toml(Some("code = \"CASSE\"\nstatus = \"brouillon\"\n"));
    std::fs::remove_file(base.archive("GRAND")).unwrap();
    let status = status_json(&base);
    assert_valid(
        "status",
        &status,
        "status with changes, a deletion, an invalid dossier and an archive missing",
    );
    let states: Vec<&str> = status["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    for s in ["modified", "invalid", "excluded"] {
        assert!(states.contains(&s), "no {s} dossier in {status:#}");
    }
    assert_eq!(status["totals"]["deleted"], 1, "{status:#}");
    let plan = dry_run_json(&base, &["--max-duration", "1h"]);
    assert_valid("dry-run", &plan, "the dry run of the second night");
    let actions: Vec<&str> = plan["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["action"].as_str().unwrap())
        .collect();
    for a in ["save", "error", "skip"] {
        assert!(actions.contains(&a), "no {a} line in {plan:#}");
    }
    assert!(
        plan["dossiers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["why"] == "retry" && d["last_error"].is_string()),
        "no retried dossier with its last error in {plan:#}"
    );

    // A budget already spent: what was to be saved is deferred.
    base.run_compt(&["--max-duration", "0s"]).exited_0_or_1();
    let deferred = base.report_json().value;
    assert_valid("run-report", &deferred, "the report of a run out of time");
    assert!(
        outcomes(&deferred).contains(&"deferred".to_owned()),
        "{deferred:#}"
    );
    assert_eq!(deferred["max_duration_reached"], true);

    // The next run takes them; then one with nothing to do.
    base.run_compt(&[]).exited_0_or_1();
    let retried = base.report_json().value;
    assert_valid("run-report", &retried, "the report of the run after");
    base.run_compt(&[]).exited_0_or_1();
    let quiet = base.report_json().value;
    assert_valid(
        "run-report",
        &quiet,
        "the report of a run with nothing to save",
    );
    assert!(
        outcomes(&quiet).contains(&"unchanged".to_owned()),
        "{quiet:#}"
    );
    let status = status_json(&base);
    assert_valid("status", &status, "status after the runs");
    let plan = dry_run_json(&base, &[]);
    assert_valid("dry-run", &plan, "the dry run after the runs");
}

/// The check can fail: a required field missing, an unknown outcome, state
/// or action, a property no version writes, a time that is not one.
#[test]
fn outputs_the_schemas_do_not_describe_are_refused() {
    let base = varied_base();
    let held = base.hold("ECHEC");
    base.run_compt(&[]).code(1);
    held.release();
    let report = base.report_json().value;
    assert_valid("run-report", &report, "the run's report");
    let status = status_json(&base);
    assert_valid("status", &status, "status");
    let plan = dry_run_json(&base, &[]);
    assert_valid("dry-run", &plan, "the dry run");

    let changed = |doc: &Value, f: &dyn Fn(&mut Value)| {
        let mut d = doc.clone();
        f(&mut d);
        d
    };
    let remove = |key: &'static str| {
        move |d: &mut Value| {
            d.as_object_mut().unwrap().remove(key);
        }
    };

    // The run's report.
    for key in ["summary", "schema_version", "dossiers", "exit_code"] {
        assert_invalid("run-report", &changed(&report, &remove(key)), key);
    }
    assert_invalid(
        "run-report",
        &changed(&report, &|d| d["dossiers"][0]["outcome"] = "lost".into()),
        "an unknown outcome",
    );
    assert_invalid(
        "run-report",
        &changed(&report, &|d| d["dossiers"][0]["colour"] = "bleu".into()),
        "an unknown property of a dossier",
    );
    assert_invalid(
        "run-report",
        &changed(&report, &|d| d["schema_version"] = 2.into()),
        "another schema_version",
    );
    assert_invalid(
        "run-report",
        &changed(&report, &|d| d["started_at"] = "hier soir".into()),
        "a time that is not one",
    );
    let saved = report["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .position(|d| d["outcome"] == "saved")
        .unwrap();
    assert_invalid(
        "run-report",
        &changed(&report, &|d| {
            d["dossiers"][saved]
                .as_object_mut()
                .unwrap()
                .remove("archive");
        }),
        "a saved dossier without its archive",
    );
    assert_invalid(
        "run-report",
        &changed(&report, &|d| d["dossiers"][saved]["why"] = "whim".into()),
        "an unknown save reason",
    );

    // The status.
    assert_invalid("status", &changed(&status, &remove("totals")), "totals");
    assert_invalid(
        "status",
        &changed(&status, &|d| d["dossiers"][0]["state"] = "bogus".into()),
        "an unknown state",
    );
    assert_invalid(
        "status",
        &changed(&status, &|d| {
            d["dossiers"][0]
                .as_object_mut()
                .unwrap()
                .remove("attention");
        }),
        "a dossier without attention",
    );

    // The dry run.
    assert_invalid("dry-run", &changed(&plan, &remove("totals")), "totals");
    assert_invalid(
        "dry-run",
        &changed(&plan, &|d| d["dossiers"][0]["action"] = "maybe".into()),
        "an unknown action",
    );
    assert_invalid(
        "dry-run",
        &changed(&plan, &|d| d["dry_run"] = false.into()),
        "dry_run false",
    );
    let skip = plan["dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .position(|d| d["action"] == "skip")
        .unwrap();
    assert_invalid(
        "dry-run",
        &changed(&plan, &|d| d["dossiers"][skip]["last_error"] = "x".into()),
        "a last error on a dossier not retried",
    );
    assert_invalid(
        "dry-run",
        &changed(&plan, &|d| {
            d["dossiers"][skip]
                .as_object_mut()
                .unwrap()
                .remove("reason");
        }),
        "a skipped dossier without its reason",
    );
}

/// The parts of a run report the tests without a server or a mail
/// recipient do not reach — the off-site push (`offsite`) and the mail
/// (`mail`) — as the program's own types serialize them, in a real report:
/// a field added to those types without the schema fails here.
#[test]
fn the_offsite_push_and_the_mail_of_a_run_report_match_its_schema() {
    use svgauto::notify::Sent;
    use svgauto::offsite::{DossierPush, PushReport, Pushed};

    let base = varied_base();
    base.run_compt(&[]).code(0);
    let mut report = base.report_json().value;
    let push = |code: &str, state, error: Option<&str>| DossierPush {
        code: code.into(),
        state,
        key: format!("svgauto/{code}/20261128T210000Z.SVG.age"),
        size: 1234,
        bytes_sent: 1234,
        resumed: state == Pushed::Copied,
        error: error.map(Into::into),
    };
    let pushed = PushReport {
        dossiers: vec![
            push("GRAND", Pushed::Copied, None),
            push("PETIT", Pushed::Error, Some("le serveur a répondu 503")),
            push("ECHEC", Pushed::Deferred, None),
        ],
        deleted: vec!["svgauto/GRAND/20261001T210000Z.SVG.age".into()],
        aborted_uploads: vec!["svgauto/PETIT/20261127T210000Z.SVG.age".into()],
        bytes_sent: 3702,
        warnings: vec!["suppression refusée".into()],
    };
    report["offsite"] = serde_json::to_value(&pushed).unwrap();
    report["mail"] = serde_json::to_value([
        Sent {
            to: "associe@cabinet.example".into(),
            error: None,
        },
        Sent {
            to: "it@cabinet.example".into(),
            error: Some("connexion refusée".into()),
        },
    ])
    .unwrap();
    assert_valid("run-report", &report, "a run report with a push and a mail");

    let mut bad = report.clone();
    bad["offsite"]["dossiers"][0]["state"] = "lost".into();
    assert_invalid("run-report", &bad, "an unknown off-site state");
    let mut bad = report.clone();
    bad["offsite"].as_object_mut().unwrap().remove("bytes_sent");
    assert_invalid("run-report", &bad, "a push without bytes_sent");
    let mut bad = report;
    bad["mail"][0]["sent"] = true.into();
    assert_invalid("run-report", &bad, "an unknown property of a mail");
}
