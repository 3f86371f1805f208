//! Off-site copies (DESIGN.md §10, the contract of issue 15 in
//! notes/offsite-contract.md): `svgauto run` with `after_run`, `svgauto
//! offsite push | status | restore`, against a real S3 server (`rclone serve
//! s3`, harness/s3.rs), through the fault proxy (`s3_proxy.py`) where a test
//! needs failures or a byte count, the copies read back with the real `age`.
//!
//! What it covers: a push after a run and a quiet night that sends nothing;
//! every version decrypting to its archive under the contract's key; the
//! server killed in the middle of a multipart upload (run in error, mail,
//! local archives untouched, nothing visible, completed by the next push);
//! svgauto killed in the middle of one (the next push resumes); wrong
//! credentials, a missing bucket, transient and permanent server errors;
//! `offsite restore` of a deleted dossier; retention over 400 simulated days
//! against restic's rules computed here; two bases under two prefixes of one
//! bucket seen by `offsite status --url`; `offsite status --base`; the
//! restore drill (`offsite verify`), the version it verified surviving
//! retention, and `offsite restore --at`; and a self-test of the harness
//! with rclone as the client.
//!
//! Every test needs rclone and age: `#[ignore]`d for a plain `cargo test`,
//! run by scripts/test, failing (never skipping) without them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{Datelike, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use crate::harness::*;
use crate::smtp::{Mode, Server as SmtpServer};

const BUCKET: &str = "sauvegardes";
const PREFIX: &str = "cab1";
/// Nights of the tests, local time (`SVGAUTO_NOW`).
const NIGHT_1: &str = "2026-03-02T21:00:00";
const NIGHT_2: &str = "2026-03-03T21:00:00";
const NIGHT_3: &str = "2026-03-04T21:00:00";
/// The report line of a dossier the push could not copy, up to the reason.
const COPY_FAILED: &str = "Echec de la copie externalisée.";
/// The contract's part size: archives larger go up by multipart upload.
const PART: u64 = 8 * 1024 * 1024;
/// Request bodies that are not object bytes (CompleteMultipartUpload's
/// list of parts), in the proxy's counts.
const XML_SLACK: u64 = 64 * 1024;
/// What "bounded time" means for a push against a server that never works.
const BOUNDED: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// The stamp of a version backed up at `local` (`SVGAUTO_NOW` form): UTC,
/// `YYYYMMDD-HHMMSS`.
fn stamp(local: &str) -> String {
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S").unwrap();
    Local
        .from_local_datetime(&naive)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
        .format("%Y%m%d-%H%M%S")
        .to_string()
}

/// The key of a version, as the contract says.
fn key(prefix: &str, code: &str, stamp: &str) -> String {
    if prefix.is_empty() {
        format!("{code}/{stamp}/B{code}.SVG.age")
    } else {
        format!("{prefix}/{code}/{stamp}/B{code}.SVG.age")
    }
}

/// A base of collaborator `COMPT` (every right) whose `[offsite]` reaches
/// `endpoint` at `s3://BUCKET/<prefix>`, encrypting to `age`.
fn offsite_base(endpoint: &str, prefix: &str, age: &AgeKey) -> Base {
    let base = Base::new().collaborator("COMPT", "*");
    let url = if prefix.is_empty() {
        format!("s3://{BUCKET}")
    } else {
        format!("s3://{BUCKET}/{prefix}")
    };
    base.set_offsite(endpoint, &url, &[&age.recipient]);
    base
}

/// `svgauto run --user COMPT` at `now`, with the test credentials and `env`.
fn run_at(base: &Base, now: &str, env: &[(&str, &str)]) -> Out {
    Out::of(
        base.command(&base.run_args(&["--user", "COMPT"]))
            .env("SVGAUTO_NOW", now)
            .envs(S3_KEYS)
            .envs(env.iter().copied()),
    )
}

/// `svgauto offsite <sub> --base <base> <args…>` with the test credentials
/// and `env`.
fn offsite(base: &Base, sub: &str, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut a = vec!["offsite", sub, "--base", base.root().to_str().unwrap()];
    a.extend_from_slice(args);
    Out::of(base.command(&a).envs(S3_KEYS).envs(env.iter().copied()))
}

/// `svgauto offsite push --base <base> --json`: the output and its JSON.
fn push_json(base: &Base, env: &[(&str, &str)]) -> (Out, Value) {
    let out = offsite(base, "push", &["--json"], env);
    let json = parse_json(&out);
    assert_eq!(
        json["format"], 1,
        "`offsite push --json`: format\n{json:#}\n{out}"
    );
    assert_eq!(
        json["exit_code"].as_i64().map(|c| c as i32),
        out.code,
        "`offsite push --json`: exit_code is not the exit code\n{out}"
    );
    (out, json)
}

#[track_caller]
fn parse_json(out: &Out) -> Value {
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object: {e}\n{out}"))
}

/// The entry of `code` in a push's JSON `dossiers`; panics if absent.
#[track_caller]
fn pushed<'a>(json: &'a Value, code: &str) -> &'a Value {
    json["dossiers"]
        .as_array()
        .unwrap_or_else(|| panic!("no `dossiers` array\n{json:#}"))
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("dossier {code} is not in the push's JSON\n{json:#}"))
}

/// The codes in a push's JSON `dossiers`.
fn pushed_codes(json: &Value) -> BTreeSet<String> {
    json["dossiers"]
        .as_array()
        .unwrap_or_else(|| panic!("no `dossiers` array\n{json:#}"))
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts the object `key` decrypts (`age -d`) to `archive` byte for
/// byte, and that its `x-amz-meta-sha256` is the SHA-256 of its bytes.
#[track_caller]
fn assert_object_is(server: &S3Server, age: &AgeKey, key: &str, archive: &[u8]) {
    assert_object_bytes(server, age, key, archive);
    let meta = server.metadata(key);
    assert_eq!(
        meta["sha256"].as_str(),
        Some(sha256_hex(&server.object_path(key)).as_str()),
        "{key}: x-amz-meta-sha256 is not the SHA-256 of the object\n{meta:#}"
    );
}

/// [`assert_object_is`] without the metadata, for an object written before
/// the server restarted (rclone keeps metadata in memory only).
#[track_caller]
fn assert_object_bytes(server: &S3Server, age: &AgeKey, key: &str, archive: &[u8]) {
    let p = server.object_path(key);
    assert!(
        p.is_file(),
        "no object {key} in the bucket: {:?}",
        server.objects()
    );
    let enc = fs::read(&p).unwrap();
    assert!(
        enc.starts_with(b"age-encryption.org/v1\n"),
        "{key}: not in age's binary format (starts with {:?})",
        escaped(&enc[..enc.len().min(40)])
    );
    let plain = age.decrypt(&p);
    assert!(
        plain == archive,
        "{key} decrypts to {} bytes, the archive has {} (first difference at {})",
        plain.len(),
        archive.len(),
        first_difference(&plain, archive)
    );
}

/// Hex SHA-256 of a file (coreutils' `sha256sum`).
fn sha256_hex(p: &Path) -> String {
    let o = std::process::Command::new("sha256sum")
        .arg(p)
        .stdin(Stdio::null())
        .output()
        .expect("sha256sum");
    assert!(o.status.success(), "sha256sum {}", p.display());
    String::from_utf8(o.stdout).unwrap()[..64].to_owned()
}

/// The bytes of every `B*.SVG` at the top of `sauve/`.
fn local_archives(base: &Base) -> BTreeMap<String, Vec<u8>> {
    base.archived()
        .into_iter()
        .map(|c| {
            let bytes = fs::read(base.archive(&c)).unwrap();
            (c, bytes)
        })
        .collect()
}

/// The files left in the staging folder `sauve/offsite/`.
fn staged(base: &Base) -> Vec<String> {
    let dir = base.sauve().join("offsite");
    let mut out = Vec::new();
    walk_files(&dir, &mut |p| {
        out.push(p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned());
    });
    out
}

/// The report line `Dossier <code> : Echec de la copie externalisée. <why>`
/// of the newest report; panics with the report if there is none. Returns
/// the reason.
#[track_caller]
fn copy_failed_reason(base: &Base, code: &str) -> String {
    let report = base.report();
    let prefix = format!("Dossier {code} : {COPY_FAILED}");
    let line = report
        .lines()
        .into_iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("the report has no line `{prefix} …`\n{report}"))
        .to_owned();
    let why = line[prefix.len()..].trim().to_owned();
    assert!(!why.is_empty(), "the line gives no reason: {line}");
    for raw in ["Err(", "Some(", "Error {", "{ kind"] {
        assert!(
            !why.contains(raw),
            "the reason is a debug dump, not a sentence: {line}"
        );
    }
    why
}

/// A local time `days` days after `start` at 21:00, in `SVGAUTO_NOW` form.
fn night(start: NaiveDate, days: i64) -> String {
    (start + chrono::Duration::days(days))
        .and_hms_opt(21, 0, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

// ---------------------------------------------------------------------------
// pushing
// ---------------------------------------------------------------------------

/// A run with `after_run = true` copies every archive it wrote; a second
/// night without change makes no version, and a push then sends nothing.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn a_run_pushes_its_archives_and_a_quiet_night_sends_nothing() {
    let server = S3Server::start(BUCKET);
    let age = AgeKey::new();
    let base = offsite_base(&server.endpoint(), PREFIX, &age);
    base.set("offsite", "after_run", "true");
    base.dossier("821516")
        .file("compta/ecritures.dat", text_bytes(1, 60_000));
    base.dossier("PRESSE")
        .file("compta/ecritures.dat", text_bytes(2, 20_000))
        .file("paie/bulletins.pdf", random_bytes(3, 30_000));

    let out = run_at(&base, NIGHT_1, &[]);
    out.code(0);
    let report = base.report();
    for code in ["821516", "PRESSE"] {
        assert!(
            report.lines().contains(&saved_line(code).as_str()),
            "{report}"
        );
    }
    assert!(!report.text.contains(COPY_FAILED), "{report}");
    // The JSON twin has the push, as schemas/run-report.schema.json says.
    let twin = base.report_json().value;
    assert_eq!(
        twin["offsite"]["dossiers"].as_array().map(Vec::len),
        Some(2),
        "{twin:#}"
    );
    #[cfg(unix)]
    crate::schemas::assert_valid("run-report", &twin, "the JSON twin of a run that pushed");
    let s1 = stamp(NIGHT_1);
    let want: BTreeSet<String> = ["821516", "PRESSE"]
        .iter()
        .map(|c| key(PREFIX, c, &s1))
        .collect();
    let objects = server.objects();
    assert_eq!(
        objects.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "objects after the first run\n{out}"
    );
    let archives = local_archives(&base);
    for (code, bytes) in &archives {
        assert_object_is(&server, &age, &key(PREFIX, code, &s1), bytes);
    }
    assert_eq!(staged(&base), Vec::<String>::new(), "staged copies left");

    // The next night: nothing changed, nothing saved, nothing sent.
    let out = run_at(&base, NIGHT_2, &[]);
    out.code(0);
    assert_eq!(
        server.objects(),
        objects,
        "a quiet night changed the bucket\n{out}"
    );
    let (out, json) = push_json(&base, &[]);
    out.code(0);
    assert_eq!(
        json["bytes_sent"], 0,
        "bytes sent on a quiet night\n{json:#}"
    );
    assert_eq!(
        pushed_codes(&json),
        BTreeSet::new(),
        "dossiers already off-site are not listed\n{json:#}"
    );
    assert_eq!(server.objects(), objects, "the push changed the bucket");
    assert_eq!(
        local_archives(&base),
        archives,
        "the local archives changed"
    );
}

/// Each night a dossier changes, its new archive becomes a new version
/// under `<PREFIX>/<CODE>/<UTC stamp>/B<CODE>.SVG.age`, which `age -d`
/// turns back into that night's archive byte for byte, with its SHA-256
/// in the object's metadata; an empty prefix puts the codes at the top of
/// the bucket; `offsite push` by itself reports what it copied.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn every_version_decrypts_to_its_archive_under_the_contract_key() {
    let age = AgeKey::new();
    for prefix in ["agences/lyon", ""] {
        // A bucket each: an empty prefix owns its whole bucket.
        let server = S3Server::start(BUCKET);
        let base = offsite_base(&server.endpoint(), prefix, &age);
        base.set("offsite", "after_run", "false");
        base.dossier("821516")
            .file("compta/ecritures.dat", text_bytes(11, 50_000));
        base.dossier("ZB").file("doc.bin", random_bytes(12, 10_000));
        let mut versions: Vec<(String, String, Vec<u8>)> = Vec::new();
        for (i, now) in [NIGHT_1, NIGHT_2, NIGHT_3].into_iter().enumerate() {
            if i > 0 {
                base.append(
                    "821516",
                    "compta/ecritures.dat",
                    text_bytes(20 + i as u64, 5_000),
                );
            }
            run_at(&base, now, &[]).code(0);
            let (out, json) = push_json(&base, &[]);
            out.code(0);
            let concerned: Vec<&str> = if i == 0 {
                vec!["821516", "ZB"]
            } else {
                vec!["821516"]
            };
            assert_eq!(
                pushed_codes(&json),
                concerned.iter().map(|c| c.to_string()).collect(),
                "night {now}\n{json:#}"
            );
            let mut sent = 0;
            for code in &concerned {
                let k = key(prefix, code, &stamp(now));
                let d = pushed(&json, code);
                assert_eq!(d["state"], "copied", "{json:#}");
                assert_eq!(d["key"], k.as_str(), "{json:#}");
                assert_eq!(d["resumed"], false, "{json:#}");
                assert_eq!(d["error"], Value::Null, "{json:#}");
                assert_eq!(
                    d["size"].as_u64(),
                    server.objects().get(&k).copied(),
                    "size of {k}\n{json:#}"
                );
                sent += d["bytes_sent"].as_u64().unwrap();
                versions.push((
                    code.to_string(),
                    k.clone(),
                    fs::read(base.archive(code)).unwrap(),
                ));
            }
            assert_eq!(json["bytes_sent"].as_u64(), Some(sent), "{json:#}");
        }
        let want: BTreeSet<String> = versions.iter().map(|(_, k, _)| k.clone()).collect();
        let got: BTreeSet<String> = server.objects().into_keys().collect();
        assert_eq!(got, want, "versions under {prefix:?}");
        for (_, k, archive) in &versions {
            assert_object_is(&server, &age, k, archive);
        }
    }

    // The text output: one line a dossier, then the summary.
    let server = S3Server::start(BUCKET);
    let base = offsite_base(&server.endpoint(), "texte", &age);
    base.set("offsite", "after_run", "false");
    base.dossier("T1").file("a.dat", text_bytes(30, 5_000));
    run_at(&base, NIGHT_1, &[]).code(0);
    let out = offsite(&base, "push", &[], &[]);
    out.code(0).stdout_has(&[
        &format!(
            "Dossier T1 : Copie externalisée réussie (s3://{BUCKET}/{})",
            key("texte", "T1", &stamp(NIGHT_1))
        ),
        "1 / 1 archive(s) copiée(s)",
    ]);
}

/// The server dies (SIGKILL, with the proxy in front of it: every
/// connection cut at once) while a run pushes a 40 MiB archive in parts:
/// the run ends in error with the off-site line of that dossier and its
/// mail, the local archives are those the batch wrote, the bucket shows no
/// object of that version; once the server is back, `offsite push`
/// completes it.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn server_killed_mid_multipart_fails_the_run_and_the_next_push_completes_it() {
    let mut server = S3Server::start(BUCKET);
    let mut proxy = S3Proxy::start(&server);
    let smtp = SmtpServer::start(Mode::Plain, None, None);
    let age = AgeKey::new();
    let base = offsite_base(&proxy.endpoint(), PREFIX, &age);
    base.set("offsite", "after_run", "true");
    base.set("offsite", "bandwidth", "\"8MB/s\"");
    base.set("report", "recipients", "[\"expert@cabinet.fr\"]");
    base.set("smtp", "email", "\"svgauto@cabinet.fr\"");
    base.set("smtp", "server", "\"127.0.0.1\"");
    base.set("smtp", "port", &smtp.port.to_string());
    base.set("smtp", "delay_s", "0");
    // Incompressible: the archive is as big as the file, ~5 s at 8 MB/s.
    base.dossier("GROS")
        .file("ged/scan.bin", random_bytes(41, 40 << 20));
    base.dossier("PETIT")
        .file("compta/ecritures.dat", text_bytes(42, 20_000));

    let running = base.spawn_env(
        &base.run_args(&["--user", "COMPT"]),
        &[S3_KEYS[0], S3_KEYS[1], ("SVGAUTO_NOW", NIGHT_1)],
        "run",
    );
    // In the middle of the multipart upload: a part stored, more to come.
    assert!(
        poll_every(Duration::from_millis(20), Duration::from_secs(60), || proxy
            .stats()
            .parts_done
            >= 1),
        "no part of GROS reached the server within 60 s\n--- proxy ---\n{}",
        proxy.log()
    );
    let before = local_archives(&base);
    assert_eq!(
        before.keys().map(String::as_str).collect::<Vec<_>>(),
        ["GROS", "PETIT"],
        "the batch made both archives before pushing"
    );
    proxy.kill();
    server.kill();
    let started = Instant::now();
    let out = running.wait();
    assert!(
        started.elapsed() < BOUNDED,
        "the run took {:?} after the server died\n{out}",
        started.elapsed()
    );
    out.code(1);
    let report = base.report();
    assert!(
        report.lines().contains(&saved_line("GROS").as_str()),
        "the batch saved GROS\n{report}"
    );
    copy_failed_reason(&base, "GROS");
    #[cfg(unix)]
    crate::schemas::assert_valid(
        "run-report",
        &base.report_json().value,
        "the JSON twin of a run whose push failed",
    );
    assert_eq!(
        local_archives(&base),
        before,
        "the push touched the local archives"
    );
    base.assert_archive_matches("GROS", false);
    let s1 = stamp(NIGHT_1);
    assert_eq!(
        server.keys_under(&format!("{PREFIX}/GROS")),
        Vec::<String>::new(),
        "an object of the interrupted version is visible"
    );
    // The mail of a run in error went out, with the report.
    let mails = smtp.messages();
    assert_eq!(
        mails.len(),
        1,
        "one mail for the run in error\n{}",
        smtp.log()
    );
    assert!(
        mails[0].attachments.iter().any(|a| {
            String::from_utf8_lossy(&a.bytes()).contains(&format!("Dossier GROS : {COPY_FAILED}"))
        }),
        "the mail's report has the off-site line of GROS: {:?}",
        mails[0].eml
    );

    // The server is back (it forgot the upload): the push completes it.
    server.restart();
    proxy.restart();
    let (out, json) = push_json(&base, &[]);
    out.code(0);
    let k = key(PREFIX, "GROS", &s1);
    assert_eq!(pushed(&json, "GROS")["state"], "copied", "{json:#}");
    assert_eq!(pushed(&json, "GROS")["key"], k.as_str(), "{json:#}");
    assert_object_is(&server, &age, &k, &before["GROS"]);
    // PETIT may have gone up before the server died: its metadata then
    // died with it.
    assert_object_bytes(&server, &age, &key(PREFIX, "PETIT", &s1), &before["PETIT"]);
    assert_eq!(staged(&base), Vec::<String>::new(), "staged copies left");
    assert_eq!(
        local_archives(&base),
        before,
        "the push touched the local archives"
    );
}

/// A base whose dossier GROS (`size` random bytes from `seed`) was saved
/// on NIGHT_1, and a push of it (through a proxy, at 8 MB/s) killed
/// (SIGKILL) once the server holds `parts` parts of it: no object is
/// visible yet. Returns the server, the proxy, the key and the base.
fn push_killed_after_parts(
    seed: u64,
    size: usize,
    parts: u64,
) -> (S3Server, S3Proxy, AgeKey, Base) {
    let server = S3Server::start(BUCKET);
    let proxy = S3Proxy::start(&server);
    let age = AgeKey::new();
    let base = offsite_base(&proxy.endpoint(), PREFIX, &age);
    base.set("offsite", "after_run", "false");
    base.set("offsite", "bandwidth", "\"8MB/s\"");
    base.dossier("GROS")
        .file("ged/scan.bin", random_bytes(seed, size));
    run_at(&base, NIGHT_1, &[]).code(0);

    let push = base.spawn_env(
        &[
            "offsite",
            "push",
            "--base",
            base.root().to_str().unwrap(),
            "--json",
        ],
        &S3_KEYS,
        "push",
    );
    assert!(
        poll_every(Duration::from_millis(20), Duration::from_secs(60), || proxy
            .stats()
            .parts_done
            >= parts),
        "{parts} part(s) of GROS did not reach the server within 60 s\n--- proxy ---\n{}",
        proxy.log()
    );
    let (code, said) = push.kill9_said();
    assert_eq!(code, None, "the push ended before it was killed\n{said}");
    assert!(
        server.keys_under(PREFIX).is_empty(),
        "an object is visible before the upload completed"
    );
    (server, proxy, age, base)
}

/// The firm changes its keys (one was on a stolen laptop) while an upload
/// is cut: the copy under way, sealed for the old keys, is not resumed —
/// the upload is aborted and the archive sealed again for the new keys
/// only. The same when `allow_plain` copies are given keys: nothing plain
/// goes up after the keys are there.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn an_upload_cut_before_the_keys_changed_is_sealed_again_for_the_new_keys() {
    let (server, proxy, _old, base) = push_killed_after_parts(58, 30 << 20, 1);
    let new = AgeKey::new();
    base.set("offsite", "recipients", &format!("[\"{}\"]", new.recipient));
    proxy.reset();
    let (out, json) = push_json(&base, &[]);
    out.code(0);
    let d = pushed(&json, "GROS");
    assert_eq!(
        (&d["state"], &d["resumed"]),
        (&Value::from("copied"), &Value::from(false)),
        "{json:#}"
    );
    let k = key(PREFIX, "GROS", &stamp(NIGHT_1));
    assert_object_is(&server, &new, &k, &fs::read(base.archive("GROS")).unwrap());
    assert_eq!(
        server.unfinished_uploads(),
        Vec::<PathBuf>::new(),
        "the old upload is left open"
    );
    assert_eq!(staged(&base), Vec::<String>::new(), "staged copies left");
}

/// A multipart upload the catalog lost (svgauto killed mid-upload, then
/// the catalog's record of it gone: a catalog rebuilt, a base restored) is
/// left alone for a day, then aborted by the next push — and the version
/// itself went up anew meanwhile.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn an_upload_the_catalog_lost_is_aborted_after_a_day() {
    let (server, proxy, _age, base) = push_killed_after_parts(57, 30 << 20, 1);
    // "A day" is by the server's clock, which stamped the upload: the
    // times svgauto is given below are counted from the upload's file
    // (rclone is a Go program, which faketime does not move; file times
    // are real in both passes of scripts/test).
    let files = server.unfinished_uploads();
    assert!(!files.is_empty(), "no upload under way on the server");
    let stamped: chrono::DateTime<Local> =
        fs::metadata(&files[0]).unwrap().modified().unwrap().into();
    let at = |t: chrono::DateTime<Local>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let within_the_day = at(stamped + chrono::Duration::hours(1));
    let two_days_later = at(stamped + chrono::Duration::days(2));
    // The catalog forgets the upload (Debian's python, standard library).
    let catalog = base.root().join(".svgauto").join("catalog.sqlite");
    sh(
        "/usr/bin/python3",
        &[
            "-c".as_ref(),
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('DELETE FROM offsite_part'); c.execute('DELETE FROM offsite_upload'); c.commit()".as_ref(),
            catalog.as_os_str(),
        ],
    );

    proxy.reset();
    let (out, json) = push_json(&base, &[("SVGAUTO_NOW", &within_the_day)]);
    out.code(0);
    assert_eq!(pushed(&json, "GROS")["resumed"], false, "{json:#}");
    assert_eq!(
        json["aborted_uploads"],
        serde_json::json!([]),
        "aborted within the day\n{json:#}"
    );
    assert!(
        !server.unfinished_uploads().is_empty(),
        "the lost upload went away by itself"
    );

    let (out, json) = push_json(&base, &[("SVGAUTO_NOW", &two_days_later)]);
    out.code(0);
    let k = key(PREFIX, "GROS", &stamp(NIGHT_1));
    assert_eq!(json["aborted_uploads"], serde_json::json!([k]), "{json:#}");
    assert_eq!(server.unfinished_uploads(), Vec::<PathBuf>::new());
    assert_eq!(
        server.keys_under(PREFIX),
        vec![k],
        "the version itself is kept"
    );
}

/// svgauto is killed (SIGKILL) while `offsite push` sends a 40 MiB archive
/// in parts, the server staying up: the next push resumes the upload — it
/// sends less than the object, says `resumed`, and the object is the
/// archive.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn svgauto_killed_mid_upload_the_next_push_resumes() {
    let (server, proxy, age, base) = push_killed_after_parts(51, 40 << 20, 2);
    let archive = fs::read(base.archive("GROS")).unwrap();

    proxy.reset();
    let (out, json) = push_json(&base, &[]);
    out.code(0);
    let k = key(PREFIX, "GROS", &stamp(NIGHT_1));
    let d = pushed(&json, "GROS");
    assert_eq!(d["state"], "copied", "{json:#}");
    assert_eq!(d["resumed"], true, "{json:#}");
    let size = server.objects()[&k];
    assert_eq!(d["size"].as_u64(), Some(size), "{json:#}");
    let sent = d["bytes_sent"].as_u64().unwrap();
    let received = proxy.stats().body_bytes;
    // Two parts were stored before the kill: a resumed upload sends them
    // no more (the proxy also counts the small XML bodies of the requests
    // that complete the upload).
    assert!(
        sent + 2 * PART <= size,
        "the resumed push says it sent {sent} of {size} bytes\n{json:#}"
    );
    assert!(
        received + 2 * PART <= size + XML_SLACK,
        "the server received {received} bytes of request bodies for an object of {size}\n{json:#}\n--- proxy ---\n{}",
        proxy.log()
    );
    assert_eq!(json["bytes_sent"].as_u64(), Some(sent), "{json:#}");
    assert_object_is(&server, &age, &k, &archive);
    assert_eq!(staged(&base), Vec::<String>::new(), "staged copies left");
}

// ---------------------------------------------------------------------------
// what the server refuses
// ---------------------------------------------------------------------------

/// Wrong keys: exit 2, the message names the variables, never a secret;
/// a variable not set: exit 2 naming it.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn wrong_credentials_exit_2_naming_the_variables_never_the_secret() {
    let server = S3Server::start(BUCKET);
    let age = AgeKey::new();
    let base = offsite_base(&server.endpoint(), PREFIX, &age);
    base.set("offsite", "after_run", "false");
    base.dossier("A").file("a.dat", text_bytes(61, 5_000));
    run_at(&base, NIGHT_1, &[]).code(0);

    const WRONG: &str = "not-the-secret-Qx7Vb92mLk";
    let out = offsite(&base, "push", &[], &[(SECRET_ENV, WRONG)]);
    out.code(2).stderr_has(&[ACCESS_ENV, SECRET_ENV]);
    for secret in [WRONG, SECRET] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "a secret key is printed\n{out}"
        );
    }
    let out = offsite(&base, "push", &[], &[(ACCESS_ENV, "unknownaccesskey")]);
    out.code(2).stderr_has(&[ACCESS_ENV]);
    assert!(!out.stderr.contains(SECRET), "{out}");

    let out = Out::of(
        base.command(&["offsite", "push", "--base", base.root().to_str().unwrap()])
            .env(ACCESS_ENV, ACCESS)
            .env_remove(SECRET_ENV),
    );
    out.code(2).stderr_has(&[SECRET_ENV]);
    assert!(server.objects().is_empty(), "{:?}", server.objects());
}

/// A bucket that does not exist: exit 2, naming it; nothing created.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn a_missing_bucket_exits_2_naming_it() {
    let server = S3Server::start(BUCKET);
    let age = AgeKey::new();
    let base = offsite_base(&server.endpoint(), PREFIX, &age);
    base.set("offsite", "url", "\"s3://seau-absent/cab1\"");
    base.set("offsite", "after_run", "false");
    base.dossier("A").file("a.dat", text_bytes(62, 5_000));
    run_at(&base, NIGHT_1, &[]).code(0);
    let before = local_archives(&base);
    let out = offsite(&base, "push", &[], &[]);
    out.code(2).stderr_has(&["seau-absent"]);
    assert!(server.objects().is_empty(), "{:?}", server.objects());
    assert_eq!(local_archives(&base), before);
}

/// A server answering 500 then 503 a few times: the push retries and
/// succeeds.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn transient_500_and_503_are_retried() {
    let server = S3Server::start(BUCKET);
    let proxy = S3Proxy::start(&server);
    let age = AgeKey::new();
    let base = offsite_base(&proxy.endpoint(), PREFIX, &age);
    base.set("offsite", "after_run", "false");
    base.dossier("A").file("a.dat", text_bytes(63, 30_000));
    run_at(&base, NIGHT_1, &[]).code(0);
    let archive = fs::read(base.archive("A")).unwrap();

    proxy.fail_next(500, 2);
    proxy.fail_next(503, 2);
    let (out, json) = push_json(&base, &[]);
    out.code(0);
    let stats = proxy.stats();
    assert_eq!(
        (stats.failed, stats.pending),
        (4, 0),
        "every injected error was met and retried\n{}",
        proxy.log()
    );
    let k = key(PREFIX, "A", &stamp(NIGHT_1));
    assert_eq!(pushed(&json, "A")["state"], "copied", "{json:#}");
    assert_object_is(&server, &age, &k, &archive);
}

/// A server answering 503 to everything: the run still makes its local
/// backups, ends in bounded time with exit 1 and the off-site line of each
/// dossier; `offsite push` alone ends in bounded time with 1 or 2 and a
/// message.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn a_server_always_503_fails_in_bounded_time_after_the_local_backups() {
    let server = S3Server::start(BUCKET);
    let proxy = S3Proxy::start(&server);
    let age = AgeKey::new();
    let base = offsite_base(&proxy.endpoint(), PREFIX, &age);
    base.set("offsite", "after_run", "true");
    base.dossier("A").file("a.dat", text_bytes(64, 30_000));
    base.dossier("B").file("b.dat", text_bytes(65, 10_000));
    proxy.fail_always(503);

    let started = Instant::now();
    let out = run_at(&base, NIGHT_1, &[]);
    let took = started.elapsed();
    assert!(took < BOUNDED, "the run took {took:?}\n{out}");
    out.code(1);
    assert_eq!(base.archived(), set(&["A", "B"]), "local backups\n{out}");
    base.assert_archive_matches("A", false);
    base.assert_archive_matches("B", false);
    let report = base.report();
    for code in ["A", "B"] {
        assert!(
            report.lines().contains(&saved_line(code).as_str()),
            "the batch saved {code}\n{report}"
        );
        copy_failed_reason(&base, code);
    }
    assert!(proxy.stats().failed > 0, "the push never reached the proxy");

    let started = Instant::now();
    let (out, json) = push_json(&base, &[]);
    let took = started.elapsed();
    assert!(took < BOUNDED, "the push took {took:?}\n{out}");
    assert!(
        matches!(out.code, Some(1 | 2)),
        "exit 1 (dossiers not copied) or 2 (bucket unusable)\n{out}"
    );
    if out.code == Some(1) {
        for code in ["A", "B"] {
            let d = pushed(&json, code);
            assert_eq!(d["state"], "error", "{json:#}");
            assert!(
                d["error"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "{json:#}"
            );
        }
    } else {
        assert!(
            !out.stderr.trim().is_empty(),
            "exit 2 without a message\n{out}"
        );
    }
    assert!(server.objects().is_empty(), "{:?}", server.objects());
}

// ---------------------------------------------------------------------------
// restore
// ---------------------------------------------------------------------------

/// The local archive and the dossier both gone: `offsite restore` fetches
/// the version, decrypts it, and the dossier comes back as it was.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn offsite_restore_brings_back_a_dossier_whose_archive_is_gone() {
    let server = S3Server::start(BUCKET);
    let age = AgeKey::new();
    let base = offsite_base(&server.endpoint(), PREFIX, &age);
    base.set("offsite", "after_run", "true");
    base.dossier("821516")
        .file("compta/ecritures.dat", text_bytes(71, 40_000))
        .file("compta/2025/balance.dat", text_bytes(72, 8_000))
        .file("ged/Relevé été.pdf", random_bytes(73, 20_000))
        .empty_dir("ged/vide");
    base.dossier("AUTRE").file("a.dat", text_bytes(74, 3_000));
    run_at(&base, NIGHT_1, &[]).code(0);
    let want = base.dossier_snapshot("821516", false);
    let other = base.dossier_snapshot("AUTRE", false);
    assert_eq!(server.keys_under(&format!("{PREFIX}/821516")).len(), 1);

    fs::remove_file(base.archive("821516")).unwrap();
    fs::remove_dir_all(base.dossier_dir("821516")).unwrap();
    let out = offsite(
        &base,
        "restore",
        &[
            "--dossier",
            "821516",
            "--identity",
            age.identity.to_str().unwrap(),
        ],
        &[],
    );
    out.code(0);
    assert_same_snapshot(
        &want,
        &base.dossier_snapshot("821516", false),
        "the dossier restored from off-site",
    );
    assert_same_snapshot(
        &other,
        &base.dossier_snapshot("AUTRE", false),
        "another dossier",
    );
    base.assert_no_restore_leftovers();
}

// ---------------------------------------------------------------------------
// retention
// ---------------------------------------------------------------------------

/// The period of a version a retention rule counts (day, ISO week, month).
type Period = fn(&NaiveDateTime) -> String;

/// restic's `forget --keep-daily d --keep-weekly w --keep-monthly m`, on
/// local times: the newest version of each of the last `d` days that have
/// versions, likewise ISO weeks and months, the union; the newest always.
fn restic_keep(
    versions: &BTreeSet<NaiveDateTime>,
    d: usize,
    w: usize,
    m: usize,
) -> BTreeSet<NaiveDateTime> {
    let newest_first: Vec<&NaiveDateTime> = versions.iter().rev().collect();
    let mut keep = BTreeSet::new();
    if let Some(n) = newest_first.first() {
        keep.insert(**n);
    }
    let rules: [(usize, Period); 3] = [
        (d, |t| t.format("%Y-%m-%d").to_string()),
        (w, |t| {
            format!("{}-{:02}", t.iso_week().year(), t.iso_week().week())
        }),
        (m, |t| t.format("%Y-%m").to_string()),
    ];
    for (count, period) in rules {
        let mut left = count;
        let mut last: Option<String> = None;
        for t in &newest_first {
            if left == 0 {
                break;
            }
            let p = period(t);
            if last.as_ref() != Some(&p) {
                keep.insert(**t);
                left -= 1;
                last = Some(p);
            }
        }
    }
    keep
}

/// 400 nights, one dossier changed every day, each run pushing: after every
/// push the versions off-site are exactly those restic's rules keep
/// (7 daily, 4 weekly, 12 monthly), computed here on the versions the
/// previous pushes left.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn retention_over_400_days_keeps_what_restic_would() {
    let server = S3Server::start(BUCKET);
    let age = AgeKey::new();
    let base = offsite_base(&server.endpoint(), PREFIX, &age);
    base.set("offsite", "after_run", "true");
    base.set("offsite", "keep_daily", "7");
    base.set("offsite", "keep_weekly", "4");
    base.set("offsite", "keep_monthly", "12");
    base.dossier("D").file("journal.dat", "jour 0\n");
    // A fixed start (a Thursday), so no run depends on today's date.
    let start = NaiveDate::from_ymd_opt(2025, 1, 2).unwrap();
    let mut kept: BTreeSet<NaiveDateTime> = BTreeSet::new();
    let begun = Instant::now();
    for day in 0..400 {
        let now = night(start, day);
        base.write("D", "journal.dat", format!("jour {day}\n"));
        // No settle: a file changed just before the run is saved anyway,
        // which is what this test wants every night.
        let out = Out::of(
            base.command_unsettled(&base.run_args(&["--user", "COMPT"]))
                .env("SVGAUTO_NOW", &now)
                .envs(S3_KEYS),
        );
        out.code(0);
        kept.insert(NaiveDateTime::parse_from_str(&now, "%Y-%m-%dT%H:%M:%S").unwrap());
        kept = restic_keep(&kept, 7, 4, 12);
        let want: Vec<String> = kept
            .iter()
            .map(|t| {
                key(
                    PREFIX,
                    "D",
                    &stamp(&t.format("%Y-%m-%dT%H:%M:%S").to_string()),
                )
            })
            .collect();
        let got = server.keys_under(&format!("{PREFIX}/D"));
        assert!(
            got == want,
            "day {day} ({now}): versions off-site differ from restic's\n{}\n{out}",
            line_diff(
                &want.iter().map(String::as_str).collect::<Vec<_>>(),
                &got.iter().map(String::as_str).collect::<Vec<_>>()
            )
        );
    }
    // 7 days, 4 weeks (the last 3 beyond the days), 12 months: at most 23.
    assert!((12..=23).contains(&kept.len()), "{kept:?}");
    eprintln!("400 nights in {:?}", begun.elapsed());
}

// ---------------------------------------------------------------------------
// several servers, one bucket
// ---------------------------------------------------------------------------

/// Two bases push to one bucket under two prefixes; `offsite status --url
/// s3://BUCKET --json`, with only a workstation file, lists both prefixes
/// and their dossiers.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn two_bases_under_two_prefixes_are_both_listed_by_status_url() {
    let server = S3Server::start(BUCKET);
    let age = AgeKey::new();
    let paris = offsite_base(&server.endpoint(), "paris", &age);
    paris.set("offsite", "after_run", "true");
    paris.dossier("821516").file("a.dat", text_bytes(81, 5_000));
    paris.dossier("PRESSE").file("b.dat", text_bytes(82, 5_000));
    let lyon = offsite_base(&server.endpoint(), "agences/lyon", &age);
    lyon.set("offsite", "after_run", "true");
    lyon.dossier("821370").file("c.dat", text_bytes(83, 5_000));
    run_at(&paris, NIGHT_1, &[]).code(0);
    run_at(&lyon, NIGHT_1, &[]).code(0);
    lyon.write("821370", "c.dat", text_bytes(84, 6_000));
    run_at(&lyon, NIGHT_2, &[]).code(0);

    // From another machine: no base, a workstation file.
    let ws = Base::new();
    let config = ws.config_file("poste.toml", &offsite_workstation_toml(&server.endpoint()));
    let out = Out::of(
        ws.command(&[
            "offsite",
            "status",
            "--url",
            &format!("s3://{BUCKET}"),
            "--json",
            "--config",
            config.to_str().unwrap(),
        ])
        // The day of the last push: nothing is late yet, whatever today is.
        .env("SVGAUTO_NOW", NIGHT_2)
        .envs(S3_KEYS),
    );
    out.code(0);
    let json = parse_json(&out);
    assert_eq!(json["format"], 1, "{json:#}");
    let prefixes: BTreeMap<String, &Value> = json["prefixes"]
        .as_array()
        .unwrap_or_else(|| panic!("no `prefixes` array\n{json:#}"))
        .iter()
        .map(|p| (p["prefix"].as_str().unwrap().to_owned(), p))
        .collect();
    assert_eq!(
        prefixes.keys().map(String::as_str).collect::<Vec<_>>(),
        ["agences/lyon", "paris"],
        "{json:#}"
    );
    let dossiers = |prefix: &str| -> BTreeMap<String, (Vec<String>, String)> {
        prefixes[prefix]["dossiers"]
            .as_array()
            .unwrap_or_else(|| panic!("{prefix}: no `dossiers`\n{json:#}"))
            .iter()
            .map(|d| {
                let mut versions: Vec<String> = d["versions"]
                    .as_array()
                    .unwrap_or_else(|| panic!("no `versions`: {d}"))
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect();
                versions.sort();
                (
                    d["code"].as_str().unwrap().to_owned(),
                    (
                        versions,
                        d["newest"].as_str().unwrap_or_default().to_owned(),
                    ),
                )
            })
            .collect()
    };
    let (s1, s2) = (stamp(NIGHT_1), stamp(NIGHT_2));
    assert_eq!(
        dossiers("paris"),
        BTreeMap::from([
            ("821516".to_owned(), (vec![s1.clone()], s1.clone())),
            ("PRESSE".to_owned(), (vec![s1.clone()], s1.clone())),
        ]),
        "{json:#}"
    );
    assert_eq!(
        dossiers("agences/lyon"),
        BTreeMap::from([(
            "821370".to_owned(),
            (vec![s1.clone(), s2.clone()], s2.clone())
        )]),
        "{json:#}"
    );
}

// ---------------------------------------------------------------------------
// the harness itself
// ---------------------------------------------------------------------------

/// The test server, the proxy and the keys, with rclone as the S3 client
/// and `age -e` as the encrypter: what the tests above rely on works
/// without svgauto (a failure here is the harness', not the product's).
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn the_harness_server_proxy_and_keys_work_with_a_real_client() {
    let mut server = S3Server::start(BUCKET);
    let proxy = S3Proxy::start(&server);
    let age = AgeKey::new();
    let scratch = tempfile::tempdir().unwrap();
    let plain = scratch.path().join("plain.bin");
    let sealed = scratch.path().join("sealed.age");
    let data = random_bytes(91, 20 << 20);
    fs::write(&plain, &data).unwrap();
    let o = std::process::Command::new("age")
        .args(["-e", "-r", &age.recipient, "-o"])
        .arg(&sealed)
        .arg(&plain)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let size = fs::metadata(&sealed).unwrap().len();
    let sha = sha256_hex(&sealed);
    // rclone uploads it through the proxy, in 8 MiB parts, with metadata,
    // past two injected errors.
    proxy.fail_next(500, 1);
    proxy.fail_next(503, 1);
    let k = "cab1/X/20260302-200000/BX.SVG.age";
    let copy = |endpoint: &str, from: &Path, to: &str| {
        std::process::Command::new(rclone())
            .args(["copyto", "--config", "/dev/null", "--s3-chunk-size", "8M"])
            .args(["--s3-upload-cutoff", "8M", "--metadata", "--metadata-set"])
            .arg(format!("sha256={sha}"))
            .arg(from)
            .arg(format!(":s3:{to}"))
            .env("RCLONE_S3_PROVIDER", "Other")
            .env("RCLONE_S3_ENDPOINT", endpoint)
            .env("RCLONE_S3_ACCESS_KEY_ID", ACCESS)
            .env("RCLONE_S3_SECRET_ACCESS_KEY", SECRET)
            .env("RCLONE_S3_FORCE_PATH_STYLE", "true")
            .output()
            .unwrap()
    };
    let o = copy(&proxy.endpoint(), &sealed, &format!("{BUCKET}/{k}"));
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        proxy.log()
    );
    let stats = proxy.stats();
    assert_eq!((stats.failed, stats.pending), (2, 0), "{stats:?}");
    assert!(stats.parts_done >= 3, "{stats:?}\n{}", proxy.log());
    assert!(stats.body_bytes >= size, "{stats:?}");
    assert_eq!(server.objects(), BTreeMap::from([(k.to_owned(), size)]));
    assert_eq!(server.metadata(k)["sha256"].as_str(), Some(sha.as_str()));
    assert!(
        age.decrypt(&server.object_path(k)) == data,
        "age round trip"
    );
    // Killed and restarted on the same port: the objects are still there.
    server.kill();
    assert!(server.metadata_fails(k));
    server.restart();
    assert_eq!(server.keys_under("cab1"), [k]);
    // A wrong key is refused.
    let o = std::process::Command::new(rclone())
        .args([
            "lsf",
            "--config",
            "/dev/null",
            "--low-level-retries",
            "1",
            "--retries",
            "1",
        ])
        .arg(format!(":s3:{BUCKET}"))
        .env("RCLONE_S3_PROVIDER", "Other")
        .env("RCLONE_S3_ENDPOINT", server.endpoint())
        .env("RCLONE_S3_ACCESS_KEY_ID", ACCESS)
        .env("RCLONE_S3_SECRET_ACCESS_KEY", "wrong-secret-key-0000")
        .env("RCLONE_S3_FORCE_PATH_STYLE", "true")
        .output()
        .unwrap();
    assert!(!o.status.success(), "a wrong secret was accepted");
    // Always 403 through the proxy: refused too.
    proxy.reset();
    proxy.fail_always(403);
    let o = copy(&proxy.endpoint(), &plain, &format!("{BUCKET}/autre"));
    assert!(!o.status.success());
    assert!(proxy.stats().failed >= 1);
}

// ---------------------------------------------------------------------------
// status of a base, drills, older versions
// ---------------------------------------------------------------------------

/// `offsite status --base --json`: per dossier the newest local backup, the
/// newest off-site version and their count, late when the newest local
/// backup is not off-site.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn status_of_a_base_says_which_dossiers_are_late() {
    let server = S3Server::start(BUCKET);
    let age = AgeKey::new();
    let base = offsite_base(&server.endpoint(), PREFIX, &age);
    base.set("offsite", "after_run", "true");
    base.dossier("A").file("a.dat", text_bytes(101, 5_000));
    base.dossier("B").file("b.dat", text_bytes(102, 5_000));
    run_at(&base, NIGHT_1, &[]).code(0);
    // The next night B changes, and the push is not done.
    base.set("offsite", "after_run", "false");
    base.write("B", "b.dat", text_bytes(103, 6_000));
    run_at(&base, NIGHT_2, &[]).code(0);

    let status = |now: &str| {
        let out = Out::of(
            base.command(&[
                "offsite",
                "status",
                "--base",
                base.root().to_str().unwrap(),
                "--json",
            ])
            .env("SVGAUTO_NOW", now)
            .envs(S3_KEYS),
        );
        let json = parse_json(&out);
        assert_eq!(json["format"], 1, "{out}");
        let dossiers: BTreeMap<String, Value> = json["dossiers"]
            .as_array()
            .unwrap_or_else(|| panic!("no `dossiers`\n{out}"))
            .iter()
            .map(|d| (d["code"].as_str().unwrap().to_owned(), d.clone()))
            .collect();
        (out, json, dossiers)
    };
    let (out, json, d) = status(NIGHT_2);
    out.exited_0_or_1();
    assert_eq!(json["url"], server.url(PREFIX).as_str(), "{json:#}");
    assert_eq!(d.keys().map(String::as_str).collect::<Vec<_>>(), ["A", "B"]);
    assert_eq!(
        (&d["A"]["offsite"], &d["A"]["versions"], &d["A"]["late"]),
        (
            &Value::from(stamp(NIGHT_1)),
            &Value::from(1),
            &Value::from(false)
        ),
        "{json:#}"
    );
    assert_eq!(
        (&d["B"]["offsite"], &d["B"]["versions"], &d["B"]["late"]),
        (
            &Value::from(stamp(NIGHT_1)),
            &Value::from(1),
            &Value::from(true)
        ),
        "{json:#}"
    );
    for code in ["A", "B"] {
        assert!(d[code]["local"].is_string(), "{json:#}");
        assert_eq!(d[code]["verified_at"], Value::Null, "{json:#}");
    }
    // Late dossiers first.
    assert_eq!(json["dossiers"][0]["code"], "B", "{json:#}");

    // Pushed: nobody late.
    push_json(&base, &[]).0.code(0);
    let (out, json, d) = status(NIGHT_2);
    out.code(0);
    assert_eq!(
        (&d["B"]["offsite"], &d["B"]["versions"], &d["B"]["late"]),
        (
            &Value::from(stamp(NIGHT_2)),
            &Value::from(2),
            &Value::from(false)
        ),
        "{json:#}"
    );
}

/// `offsite verify` (the restore drill) downloads, decrypts and checks a
/// version: exit 0 on a sound copy; a byte changed in the stored object is
/// found (exit 1). The version a drill verified is never deleted by
/// retention, and `offsite restore --at` fetches it.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn a_drill_verified_version_is_kept_and_restore_at_fetches_it() {
    let server = S3Server::start(BUCKET);
    let age = AgeKey::new();
    let base = offsite_base(&server.endpoint(), PREFIX, &age);
    base.set("offsite", "after_run", "true");
    base.set("offsite", "keep_daily", "1");
    base.set("offsite", "keep_weekly", "0");
    base.set("offsite", "keep_monthly", "0");
    base.dossier("D")
        .file("journal.dat", text_bytes(111, 8_000));
    run_at(&base, NIGHT_1, &[]).code(0);
    let day1 = base.dossier_snapshot("D", false).without_times();
    let identity = age.identity.to_str().unwrap();
    let drill = |env: &[(&str, &str)]| {
        offsite(
            &base,
            "verify",
            &["--sample", "1", "--identity", identity],
            env,
        )
    };
    drill(&[("SVGAUTO_NOW", "2026-03-02T22:00:00")]).code(0);

    for (i, now) in [NIGHT_2, NIGHT_3].into_iter().enumerate() {
        base.write("D", "journal.dat", text_bytes(112 + i as u64, 9_000));
        run_at(&base, now, &[]).code(0);
    }
    // keep_daily 1 keeps the newest; the drill's version stays too.
    assert_eq!(
        server.keys_under(PREFIX),
        [
            key(PREFIX, "D", &stamp(NIGHT_1)),
            key(PREFIX, "D", &stamp(NIGHT_3))
        ],
        "versions left"
    );

    let to = base.scratch("ailleurs");
    fs::create_dir_all(&to).unwrap();
    let out = offsite(
        &base,
        "restore",
        &[
            "--dossier",
            "D",
            "--identity",
            identity,
            "--at",
            &stamp(NIGHT_1),
            "--to",
            to.to_str().unwrap(),
        ],
        &[],
    );
    out.code(0);
    assert_same_snapshot(
        &day1,
        &snapshot(&to.join("D"), &|rel| rel == "dossier.lock").without_times(),
        "version of the first night, restored elsewhere",
    );

    // A byte of the newest object changed on the server's disk: the drill
    // of that dossier fails.
    let newest = server.object_path(&key(PREFIX, "D", &stamp(NIGHT_3)));
    let mut bytes = fs::read(&newest).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    fs::write(&newest, &bytes).unwrap();
    let out = drill(&[]);
    out.code(1);
}

/// `offsite push --max-duration`: past the budget no part starts; the
/// dossier is `deferred`, nothing is visible, and the next push resumes
/// the upload where it stopped.
#[test]
#[ignore = "needs rclone and age (scripts/test installs them)"]
fn a_push_past_its_max_duration_defers_and_the_next_resumes() {
    let server = S3Server::start(BUCKET);
    let proxy = S3Proxy::start(&server);
    let age = AgeKey::new();
    let base = offsite_base(&proxy.endpoint(), PREFIX, &age);
    base.set("offsite", "after_run", "false");
    base.set("offsite", "bandwidth", "\"8MB/s\"");
    base.dossier("GROS")
        .file("ged/scan.bin", random_bytes(121, 40 << 20));
    run_at(&base, NIGHT_1, &[]).code(0);
    let archive = fs::read(base.archive("GROS")).unwrap();

    let started = Instant::now();
    let out = offsite(&base, "push", &["--json", "--max-duration", "2s"], &[]);
    let took = started.elapsed();
    let json = parse_json(&out);
    // Not copied, if only deferred: DESIGN §10's exit 1.
    out.code(1);
    let d = pushed(&json, "GROS");
    assert_eq!(d["state"], "deferred", "{json:#}");
    let first = d["bytes_sent"].as_u64().unwrap();
    assert!(
        first >= PART && first < archive.len() as u64,
        "the first push sent {first} bytes\n{json:#}"
    );
    // The part in flight at the deadline ends (at 8 MB/s, ~1 s a part).
    assert!(took < Duration::from_secs(20), "the push took {took:?}");
    assert!(
        server.keys_under(PREFIX).is_empty(),
        "{:?}",
        server.objects()
    );

    proxy.reset();
    let (out, json) = push_json(&base, &[]);
    out.code(0);
    let d = pushed(&json, "GROS");
    assert_eq!(
        (&d["state"], &d["resumed"]),
        (&Value::from("copied"), &Value::from(true)),
        "{json:#}"
    );
    let size = d["size"].as_u64().unwrap();
    let sent = d["bytes_sent"].as_u64().unwrap();
    assert!(
        sent + PART <= size,
        "the second push sent {sent} of {size}\n{json:#}"
    );
    assert!(
        proxy.stats().body_bytes + PART <= size + XML_SLACK,
        "{:?}",
        proxy.stats()
    );
    assert_object_is(
        &server,
        &age,
        &key(PREFIX, "GROS", &stamp(NIGHT_1)),
        &archive,
    );
}
