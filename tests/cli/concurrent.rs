//! Concurrent use (DESIGN.md §3–4): a file growing while it is archived,
//! an application grabbing a dossier's lock the moment svgauto lets it go,
//! `svgauto hold` taken or released in the middle of a run, several runs
//! started together, `restore` against `run`, `save --event` against `run`.
//!
//! Whatever the interleaving: every report line is a success or the
//! contract's error, no archive ever holds a state the dossier never had,
//! every archive passes `svgauto verify` and `7zz t`, and once things calm
//! down a run brings every archive up to date.
//!
//! The races are real (threads and processes, no hooks in svgauto); the
//! few waits poll the backup folder for the `.partial` file that says an
//! archive is being written. Random choices come from `SVGAUTO_TEST_SEED`
//! (printed) to replay a failure.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::*;

const POLL_LIMIT: Duration = Duration::from_secs(60);
const OTHER_RUN: &str = "une autre exécution de svgauto travaille déjà sur cette base";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A base whose archives are compressed at zstd level 19: a dossier of
/// 1 MiB of text then takes about half a second to write, which leaves
/// room for the other party of a race to come in.
fn slow_base() -> Base {
    Base::new()
        .collaborator("COMPT", "*")
        .setting("archive", "level", "19")
}

fn partial(base: &Base, code: &str) -> PathBuf {
    base.sauve().join(format!("B{code}.SVG.partial"))
}

/// `svgauto verify` and `7zz t` pass on an archive.
#[track_caller]
fn assert_valid(base: &Base, archive: &Path) {
    base.verify(&[archive])
        .code(0)
        .stdout_has(&[&format!("OK {}", archive.display())]);
    sevenz_test(archive);
}

/// The bytes of one entry of an archive, read by the zip crate (which
/// checks the entry's CRC-32), with its size and CRC from the central
/// directory.
fn entry(archive: &Path, name: &str) -> (Vec<u8>, u64, u32) {
    let mut z = zip::ZipArchive::new(fs::File::open(archive).unwrap()).unwrap();
    let mut e = z
        .by_name(name)
        .unwrap_or_else(|err| panic!("{}: no entry {name}: {err}", archive.display()));
    let (size, crc) = (e.size(), e.crc32());
    let mut data = Vec::new();
    e.read_to_end(&mut data)
        .unwrap_or_else(|err| panic!("{}: entry {name}: {err}", archive.display()));
    (data, size, crc)
}

/// The manifest's record of one entry: size and CRC-32.
fn manifest_entry(archive: &Path, name: &str) -> (u64, String) {
    let m = read_manifest(archive);
    let e = m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == name)
        .unwrap_or_else(|| panic!("{}: {name} not in the manifest", archive.display()));
    (
        e["size"].as_u64().unwrap(),
        e["crc32"].as_str().unwrap().to_owned(),
    )
}

fn save_args<'a>(base: &'a Base, code: &'a str, event: &'a str) -> Vec<&'a str> {
    vec![
        "save",
        "--base",
        base.root().to_str().unwrap(),
        "--user",
        "COMPT",
        "--dossier",
        code,
        "--event",
        event,
    ]
}

// ---------------------------------------------------------------------------
// A file growing while it is archived
// ---------------------------------------------------------------------------

/// The report line of a dossier whose `rel` changed while it was read
/// (src/archive/write.rs, `ArchiveError::ChangedDuringRead`).
fn changed_line(code: &str, rel: &str) -> String {
    format!(
        "Dossier {code} : Echec du traitement. Le fichier {rel} a été modifié pendant sa lecture ; la sauvegarde est abandonnée et sera refaite au prochain traitement."
    )
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn appending_while_a_file_is_archived_gives_an_error_or_an_archive_of_a_real_state() {
    const PAGE: usize = 4096;
    let seed = test_seed();
    let mut rng = Rng::new(seed, 0);
    let base = Base::new().collaborator("COMPT", "*");
    // A multiple of the page size, and appends of one page: a `stat` racing
    // an append sees the size before or after it, never half of it.
    base.dossier("GROS")
        .file("journal.dat", text_bytes(1, 24 << 20))
        .file("parametres.ini", "[dossier]\n");
    base.dossier("AUTRE").file("a.txt", "a\n");
    base.run_compt(&[]).code(0);
    let file = base.path("GROS", "journal.dat");
    // Every size the file has had: an archive may only hold one of them.
    let mut sizes = vec![fs::metadata(&file).unwrap().len()];
    let mut outcomes = Vec::new();
    let mut failed_before = false;
    for round in 0..6u64 {
        // 0: appends every millisecond or so; 1: now and then; 2: bursts.
        let mode = round % 3;
        let stop = Arc::new(AtomicBool::new(false));
        let appends = Arc::new(AtomicU64::new(0));
        let appender = {
            let (stop, appends, file) = (stop.clone(), appends.clone(), file.clone());
            let mut rng = Rng::new(seed, round + 1);
            thread::spawn(move || {
                let mut f = fs::OpenOptions::new().append(true).open(&file).unwrap();
                let mut grown = Vec::new();
                let mut len = f.metadata().unwrap().len();
                for n in 0.. {
                    let mut block = format!("ajout {round} n°{n} ").into_bytes();
                    block.resize(PAGE - 1, b'.');
                    block.push(b'\n');
                    f.write_all(&block).unwrap();
                    len += PAGE as u64;
                    grown.push(len);
                    appends.fetch_add(1, Ordering::SeqCst);
                    let pause = match mode {
                        0 => rng.millis(2),
                        1 => Duration::from_millis(30) + rng.millis(300),
                        _ if rng.below(5) == 0 => rng.millis(400),
                        _ => rng.millis(3),
                    };
                    let until = Instant::now() + pause;
                    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                        thread::sleep(Duration::from_millis(1));
                    }
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                }
                grown
            })
        };
        // At least one append before the run looks: GROS is modified.
        assert!(wait_until(POLL_LIMIT, || appends.load(Ordering::SeqCst) > 0));
        thread::sleep(rng.millis(60));
        let before = base.stamps();
        let out = base.run_compt(&[]);
        stop.store(true, Ordering::SeqCst);
        let grown = appender.join().unwrap();
        let appended = grown.len();
        sizes.extend(grown);
        let now = fs::read(&file).unwrap();
        assert_eq!(now.len() as u64, *sizes.last().unwrap());

        let report = base.report();
        let json = base.report_json();
        if failed_before {
            assert_eq!(
                json.dossier("GROS")["why"],
                "retry",
                "round {round}: GROS failed last time, it is retried\n{report}"
            );
        }
        let line = report.line("GROS");
        let archive = base.archive("GROS");
        if line == saved_line("GROS") {
            out.code(0);
            // The archived file is one of the sizes the file had, and
            // exactly the file's bytes up to there.
            let (data, size, crc) = entry(&archive, "journal.dat");
            let len = data.len() as u64;
            assert_eq!(size, len, "zip entry size");
            assert!(
                sizes.contains(&len),
                "round {round}: BGROS.SVG holds {len} bytes of journal.dat, a size the file never had"
            );
            assert!(
                data[..] == now[..data.len()],
                "round {round}: BGROS.SVG's journal.dat differs from the file at byte {}",
                first_difference(&data, &now)
            );
            assert_eq!(crc, crc32fast::hash(&data), "zip entry CRC-32");
            assert_eq!(
                manifest_entry(&archive, "journal.dat"),
                (len, format!("{crc:08x}")),
                "manifest entry of journal.dat"
            );
            before.assert_rewritten(&base.stamps(), &["GROS"]);
            outcomes.push(format!("saved ({appended} appends in the round)"));
            failed_before = false;
        } else {
            out.code(1);
            assert_eq!(
                line,
                changed_line("GROS", "journal.dat"),
                "round {round}\n{report}"
            );
            json.assert_outcomes(&[("GROS", "error")]);
            assert_eq!(base.errors_isa(), ["GROS"]);
            before.assert_untouched(&base.stamps());
            outcomes.push(format!(
                "error: changed while read ({appended} appends in the round)"
            ));
            failed_before = true;
        }
        assert!(
            base.partials().is_empty(),
            "partials: {:?}",
            base.partials()
        );
        assert_valid(&base, &archive);
    }

    eprintln!("appender rounds: {outcomes:?}");

    // Quiet now: the next run brings GROS up to date — first, if it
    // failed; not at all if the last archive already holds the last append.
    base.run_compt(&[]).code(0);
    let json = base.report_json();
    if failed_before {
        json.assert_outcomes(&[("GROS", "saved")]);
        assert_eq!(json.dossier("GROS")["why"], "retry");
    } else {
        let o = &json.outcomes()["GROS"];
        assert!(o == "saved" || o == "unchanged", "GROS: {o}");
    }
    base.assert_archive_matches("GROS", false);
    let before = base.stamps();
    base.run_compt(&[]).code(0);
    base.report().assert_no_dossier_lines();
    before.assert_untouched(&base.stamps());
}

// ---------------------------------------------------------------------------
// An application grabbing the lock as soon as svgauto lets it go
// ---------------------------------------------------------------------------

/// What an application writes into a dossier, under its lock, at its n-th
/// opening: a counter and a journal that must always agree.
fn app_write(dir: &Path, n: u64) {
    let mut j = fs::OpenOptions::new()
        .append(true)
        .open(dir.join("journal.txt"))
        .unwrap();
    j.write_all(format!("ligne {n}\n").as_bytes()).unwrap();
    fs::write(dir.join("compteur.txt"), format!("{n}\n")).unwrap();
}

/// The counter and journal an archive holds agree: a state the dossier had
/// between two openings, never the middle of one.
#[track_caller]
fn assert_app_state_consistent(archive: &Path) -> u64 {
    let (counter, _, _) = entry(archive, "compteur.txt");
    let counter = String::from_utf8(counter).unwrap();
    let n: u64 = counter
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}: compteur.txt holds {counter:?}", archive.display()));
    let (journal, _, _) = entry(archive, "journal.txt");
    let want: String = (1..=n).map(|i| format!("ligne {i}\n")).collect();
    assert!(
        journal == want.as_bytes(),
        "{}: compteur.txt says {n} but journal.txt holds {} lines: a state the dossier never had",
        archive.display(),
        journal.iter().filter(|b| **b == b'\n').count()
    );
    n
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn an_application_grabbing_the_lock_as_svgauto_releases_it_never_mixes_with_a_backup() {
    let seed = test_seed();
    let base = Base::new().collaborator("COMPT", "*");
    let codes = ["H1", "H2", "H3"];
    for (i, code) in codes.iter().enumerate() {
        base.dossier(code)
            .file("compteur.txt", "0\n")
            .file("journal.txt", "")
            .file("compta/ecritures.dat", text_bytes(i as u64, 2 << 20));
    }
    base.run_compt(&[]).code(0);

    let stop = Arc::new(AtomicBool::new(false));
    let hammers: Vec<_> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let dir = base.dossier_dir(code);
            let stop = stop.clone();
            let mut rng = Rng::new(seed, i as u64 + 1);
            thread::spawn(move || {
                let lock = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(dir.join("dossier.lock"))
                    .unwrap();
                let (mut n, mut refused) = (0u64, 0u64);
                while !stop.load(Ordering::SeqCst) {
                    match lock.try_lock() {
                        Ok(()) => {
                            n += 1;
                            app_write(&dir, n);
                            thread::sleep(rng.millis(3));
                            lock.unlock().unwrap();
                            thread::sleep(rng.millis(3));
                        }
                        Err(fs::TryLockError::WouldBlock) => {
                            refused += 1;
                            thread::yield_now();
                        }
                        Err(fs::TryLockError::Error(e)) => panic!("try_lock: {e}"),
                    }
                }
                (n, refused)
            })
        })
        .collect();

    let (mut saved, mut in_use) = (0, 0);
    for round in 0..6 {
        let out = base.run_compt(&[]);
        out.exited_0_or_1();
        let report = base.report();
        let mut errors = 0;
        for line in report.dossier_lines() {
            let code = line["Dossier ".len()..].split(" : ").next().unwrap();
            if line == saved_line(code) {
                saved += 1;
            } else if line == in_use_line(code) {
                in_use += 1;
                errors += 1;
            } else {
                panic!("round {round}: neither saved nor in use: {line}\n{report}");
            }
        }
        assert_eq!(
            out.code,
            Some(if errors > 0 { 1 } else { 0 }),
            "round {round}: exit code\n{out}\n{report}"
        );
        for code in codes {
            let archive = base.archive(code);
            assert_app_state_consistent(&archive);
            assert_valid(&base, &archive);
        }
        assert!(
            base.partials().is_empty(),
            "partials: {:?}",
            base.partials()
        );
    }
    stop.store(true, Ordering::SeqCst);
    let counts: Vec<(u64, u64)> = hammers.into_iter().map(|h| h.join().unwrap()).collect();

    // Calm again: one run brings every archive up to date.
    base.run_compt(&[]).code(0);
    for line in base.report().dossier_lines() {
        let code = line["Dossier ".len()..].split(" : ").next().unwrap();
        assert_eq!(line, saved_line(code));
    }
    for (code, (n, _)) in codes.iter().zip(&counts) {
        base.assert_archive_matches(code, false);
        assert_eq!(assert_app_state_consistent(&base.archive(code)), *n);
    }
    let before = base.stamps();
    base.run_compt(&[]).code(0);
    base.report().assert_no_dossier_lines();
    before.assert_untouched(&base.stamps());
    eprintln!(
        "lock hammer: {saved} lines saved, {in_use} in use; openings and refusals per dossier {counts:?}"
    );
}

// ---------------------------------------------------------------------------
// `svgauto hold` in the middle of a run
// ---------------------------------------------------------------------------

/// Four dossiers the run takes in this order with `--threads 1` (largest
/// first), each a good fraction of a second to write but `ZPETIT`.
fn ordered_base() -> Base {
    let base = slow_base();
    for (code, kb) in [("D0", 1024), ("D1", 768), ("D2", 512)] {
        base.dossier(code)
            .file("compta/ecritures.dat", text_bytes(kb as u64, kb * 1024));
    }
    base.dossier("ZPETIT").file("notes.txt", "petit\n");
    base.run_compt(&["--threads", "1"]).code(0);
    base
}

fn touch_all(base: &Base, what: &str) {
    for code in ["D0", "D1", "D2"] {
        base.append(code, "compta/ecritures.dat", format!("{what}\n"));
    }
    base.append("ZPETIT", "notes.txt", format!("{what}\n"));
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn a_dossier_opened_mid_run_before_its_turn_is_in_use_keeps_its_archive_and_goes_first_next_run() {
    let base = ordered_base();
    let mut caught = false;
    for attempt in 0..3 {
        touch_all(&base, &format!("essai {attempt}"));
        let before = base.stamps();
        let mut run = base.spawn_run(
            &["--user", "COMPT", "--threads", "1"],
            &format!("r{attempt}"),
        );
        wait_until(POLL_LIMIT, || {
            partial(&base, "D0").exists() || run.has_exited()
        });
        if run.has_exited() {
            eprintln!("attempt {attempt}: the run ended before D0 was seen under way");
            continue;
        }
        // The run is on D0; ZPETIT, last, is not claimed yet.
        let holder = base.hold("ZPETIT");
        let out = run.wait();
        let report = base.report();
        if report.line("ZPETIT") == saved_line("ZPETIT") {
            eprintln!("attempt {attempt}: ZPETIT was claimed before the hold, again");
            continue;
        }
        out.code(1);
        assert_eq!(report.codes(), ["D0", "D1", "D2", "ZPETIT"], "{report}");
        report.assert_line("ZPETIT", &in_use_line("ZPETIT"));
        for code in ["D0", "D1", "D2"] {
            report.assert_line(code, &saved_line(code));
        }
        report.assert_summary(3, 1, 4);
        before.assert_rewritten(&base.stamps(), &["D0", "D1", "D2"]);
        assert!(
            base.partials().is_empty(),
            "partials: {:?}",
            base.partials()
        );
        assert_valid(&base, &base.archive("ZPETIT"));
        holder.release();

        // Closed: the next run saves it first, before a bigger D0.
        base.append("D0", "compta/ecritures.dat", "encore\n");
        base.run_compt(&["--threads", "1"]).code(0);
        let report = base.report();
        assert_eq!(report.codes(), ["ZPETIT", "D0"], "retried first\n{report}");
        assert_eq!(base.report_json().dossier("ZPETIT")["why"], "retry");
        base.assert_archive_matches("ZPETIT", false);
        caught = true;
        break;
    }
    assert!(caught, "never held ZPETIT while the run was under way");
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn a_dossier_closed_mid_run_before_its_turn_is_saved_by_that_run() {
    let base = ordered_base();
    let mut caught = false;
    for attempt in 0..3 {
        touch_all(&base, &format!("essai {attempt}"));
        let holder = base.hold("ZPETIT");
        let mut run = base.spawn_run(
            &["--user", "COMPT", "--threads", "1"],
            &format!("r{attempt}"),
        );
        wait_until(POLL_LIMIT, || {
            partial(&base, "D0").exists() || run.has_exited()
        });
        let under_way = !run.has_exited();
        holder.release();
        let out = run.wait();
        let report = base.report();
        if !under_way || report.line("ZPETIT") != saved_line("ZPETIT") {
            eprintln!(
                "attempt {attempt}: released too late ({}), again",
                report.line("ZPETIT")
            );
            continue;
        }
        out.code(0);
        report.assert_summary(4, 0, 4);
        for code in ["D0", "D1", "D2", "ZPETIT"] {
            base.assert_archive_matches(code, false);
        }
        caught = true;
        break;
    }
    assert!(caught, "never released ZPETIT while the run was under way");
}

/// An application opening a dossier that svgauto is writing waits (its
/// lock call blocks) until the archive is complete and in place.
#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn an_application_opening_a_dossier_being_written_waits_for_the_complete_archive() {
    let base = ordered_base();
    touch_all(&base, "modifié");
    let old = Stamp::of(&base.archive("D0"));
    let run = base.spawn_run(&["--user", "COMPT", "--threads", "1"], "r");
    assert!(
        wait_until(POLL_LIMIT, || partial(&base, "D0").exists()),
        "BD0.SVG.partial never seen"
    );
    // `svgauto hold` waits for the lock, like an application opening D0.
    let mut hold = std::process::Command::new(BIN)
        .args([
            "hold",
            "--base",
            base.root().to_str().unwrap(),
            "--dossier",
            "D0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = hold.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(POLL_LIMIT).unwrap_or_default();
    // The lock is ours: svgauto has finished with D0.
    let partial_left = partial(&base, "D0").exists();
    let now = Stamp::of(&base.archive("D0"));
    let _ = hold.kill();
    let _ = hold.wait();
    assert_eq!(line.trim_end(), "Verrou pris sur le dossier D0");
    assert!(
        !partial_left,
        "the application got D0 while its archive was being written"
    );
    assert!(
        now != old,
        "the application got D0 before its new archive was in place"
    );
    run.wait().code(0);
    base.assert_archive_matches("D0", false);
}

// ---------------------------------------------------------------------------
// Several runs at once
// ---------------------------------------------------------------------------

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn five_runs_started_together_one_does_the_work_the_others_stop_at_once_with_exit_2() {
    let base = slow_base();
    let codes: Vec<String> = (0..8).map(|i| format!("D{i}")).collect();
    for (i, code) in codes.iter().enumerate() {
        base.dossier(code)
            .file("compta/ecritures.dat", text_bytes(i as u64, 256 << 10))
            .file("compta/pieces.bin", random_bytes(i as u64, 64 << 10));
    }
    for wave in 0..2 {
        let mut args = vec!["--user", "COMPT", "--threads", "1"];
        if wave == 1 {
            args.push("--all");
        }
        let reports = base.reports().len();
        let start = Instant::now();
        let mut runs: Vec<Option<Running>> = (0..5)
            .map(|i| Some(base.spawn_run(&args, &format!("w{wave}-{i}"))))
            .collect();
        let mut ended: Vec<Option<(Duration, Out)>> = (0..5).map(|_| None).collect();
        while ended.iter().any(Option::is_none) {
            for (i, r) in runs.iter_mut().enumerate() {
                if r.as_mut().is_some_and(|r| r.has_exited()) {
                    ended[i] = Some((start.elapsed(), r.take().unwrap().wait()));
                }
            }
            assert!(start.elapsed() < POLL_LIMIT * 2, "runs still going");
            thread::sleep(Duration::from_millis(2));
        }
        let ended: Vec<(Duration, Out)> = ended.into_iter().map(Option::unwrap).collect();
        let winners: Vec<&(Duration, Out)> =
            ended.iter().filter(|(_, o)| o.code == Some(0)).collect();
        assert_eq!(
            winners.len(),
            1,
            "wave {wave}: exactly one run works; exit codes {:?}",
            ended.iter().map(|(_, o)| o.code).collect::<Vec<_>>()
        );
        let winner_end = winners[0].0;
        for (t, o) in &ended {
            if o.code == Some(0) {
                continue;
            }
            o.code(2).stderr_has(&[OTHER_RUN]);
            assert!(
                *t < winner_end,
                "wave {wave}: a refused run ended after {t:?}, the working one after {winner_end:?}: not at once\n{o}"
            );
        }
        assert_eq!(base.reports().len(), reports + 1, "one report per wave");
        let report = base.report();
        let want: Vec<String> = codes.iter().map(|c| saved_line(c)).collect();
        report.assert_lines_unordered(&want);
        assert!(
            base.partials().is_empty(),
            "partials: {:?}",
            base.partials()
        );
        for code in &codes {
            base.assert_archive_matches(code, false);
            assert_valid(&base, &base.archive(code));
        }
        eprintln!(
            "wave {wave}: the working run took {winner_end:?}, the others {:?}",
            ended
                .iter()
                .filter(|(_, o)| o.code == Some(2))
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
        );
    }
}

// ---------------------------------------------------------------------------
// restore against run
// ---------------------------------------------------------------------------

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn a_restore_during_a_run_is_refused_and_touches_nothing() {
    let base = slow_base();
    base.dossier("R")
        .file("compta/ecritures.dat", text_bytes(1, 1 << 20))
        .file("notes.txt", "version 1\n");
    base.dossier("S")
        .file("compta/ecritures.dat", text_bytes(2, 1 << 20));
    base.run_compt(&[]).code(0);
    let old = base.copy_archive("R", "anciens", "BR.SVG");
    base.write("R", "notes.txt", "version 2\n");
    base.write("R", "nouveau.txt", "ajouté\n");
    let live = base.dossier_snapshot("R", true);

    let mut run = base.spawn_run(&["--user", "COMPT", "--threads", "1", "--all"], "run");
    assert!(
        wait_until(POLL_LIMIT, || !base.partials().is_empty()
            || run.has_exited())
            && !run.has_exited(),
        "the run ended before an archive was seen under way"
    );
    let out = base.restore(&[&old]);
    let run_was_going = !run.has_exited();
    out.code(2).stderr_has(&[OTHER_RUN]);
    assert!(run_was_going, "the restore must have met the run");
    assert_same_snapshot(
        &live,
        &base.dossier_snapshot("R", true),
        "dossier R after the refused restore",
    );
    base.assert_no_restore_leftovers();

    run.wait().code(0);
    base.assert_archive_matches("R", false);
    assert_valid(&base, &base.archive("R"));
    assert_same_snapshot(
        &live,
        &base.dossier_snapshot("R", true),
        "dossier R after the run",
    );
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn a_run_during_a_restore_is_refused_and_the_restore_completes() {
    let base = Base::new().collaborator("COMPT", "*");
    let mut d = base.dossier("R");
    // Many small files: a restore flushes each, which takes a while.
    for i in 0..1_000 {
        d = d.file(&format!("pieces/p{i:04}.txt"), format!("pièce {i}\n"));
    }
    d.file("compta/ecritures.dat", text_bytes(1, 200_000));
    base.dossier("S").file("a.txt", "a\n");
    base.run_compt(&[]).code(0);
    let archived = base.dossier_snapshot("R", false);
    let old = base.copy_archive("R", "anciens", "BR.SVG");
    let mut caught = false;
    for attempt in 0..3 {
        // Changes the restore must undo.
        base.write("R", "compta/ecritures.dat", format!("réécrit {attempt}\n"));
        base.write("R", &format!("nouveau-{attempt}.txt"), "ajouté\n");
        let _ = fs::remove_file(base.path("R", "pieces/p0001.txt"));
        let reports = base.reports().len();

        let root = base.root().to_str().unwrap().to_owned();
        let mut restore = base.spawn(
            &["restore", "--base", &root, old.to_str().unwrap()],
            &format!("restore{attempt}"),
        );
        let staging =
            [".svgauto-new-R", ".svgauto-ready-R"].map(|n| base.root().join("dossiers").join(n));
        wait_until(POLL_LIMIT, || {
            staging.iter().any(|p| p.exists()) || restore.has_exited()
        });
        if restore.has_exited() {
            eprintln!("attempt {attempt}: the restore ended before it was seen under way");
            restore.wait().code(0);
            continue;
        }
        let run = base.run_compt(&[]);
        let restore_was_going = !restore.has_exited();
        run.code(2).stderr_has(&[OTHER_RUN]);
        restore
            .wait()
            .code(0)
            .stdout_has(&["Dossier R : remonté depuis "]);
        assert!(restore_was_going, "the run must have met the restore");
        assert_eq!(
            base.reports().len(),
            reports,
            "a refused run writes no report"
        );
        assert_same_snapshot(
            &archived,
            &base.dossier_snapshot("R", false),
            "dossier R after the restore",
        );
        base.assert_no_restore_leftovers();
        caught = true;
        break;
    }
    assert!(caught, "never ran while the restore was under way");

    // The dossier is the archived state again: nothing to save.
    let before = base.stamps();
    base.run_compt(&[]).code(0);
    base.report().assert_no_dossier_lines();
    before.assert_untouched(&base.stamps());
    assert_valid(&base, &base.archive("R"));
}

// ---------------------------------------------------------------------------
// save --event against run
// ---------------------------------------------------------------------------

fn cloture(base: &Base, code: &str) -> PathBuf {
    base.sauve().join("Cloture").join(format!("B{code}.SVG"))
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn save_closing_while_a_run_saves_the_same_dossier_both_succeed_or_one_says_in_use() {
    let seed = test_seed();
    let mut rng = Rng::new(seed, 0);
    let base = slow_base();
    base.dossier("CL")
        .file("compta/ecritures.dat", text_bytes(1, 1 << 20));
    base.dossier("X")
        .file("compta/ecritures.dat", text_bytes(2, 768 << 10));
    base.run_compt(&[]).code(0);
    let mut tally = Vec::new();
    for attempt in 0..4 {
        base.append("CL", "compta/ecritures.dat", format!("essai {attempt}\n"));
        let cloture_before = cloture(&base, "CL")
            .exists()
            .then(|| Stamp::of(&cloture(&base, "CL")));
        // Either may start first, the other some time after.
        let save_first = rng.below(2) == 0;
        let pause = rng.millis(if save_first { 400 } else { 900 });
        let start_save = || base.spawn(&save_args(&base, "CL", "closing"), &format!("s{attempt}"));
        let start_run = || {
            base.spawn_run(
                &["--user", "COMPT", "--threads", "1"],
                &format!("r{attempt}"),
            )
        };
        let (save, run) = if save_first {
            let save = start_save();
            thread::sleep(pause);
            (save, start_run())
        } else {
            let run = start_run();
            thread::sleep(pause);
            (start_save(), run)
        };
        let save = save.wait();
        let out = run.wait();
        out.exited_0_or_1();
        let report = base.report();
        let run_line = report.line("CL").to_owned();
        let run_saved = run_line == saved_line("CL");
        assert!(
            run_saved || run_line == in_use_line("CL"),
            "attempt {attempt}: the run's line\n{report}"
        );
        let save_saved = save.code == Some(0);
        if save_saved {
            save.stdout_has(&[
                "Dossier CL : Traitement réussi (sauvegarde avant clôture du dossier : ",
            ]);
            assert_event_archive_matches(&base, &cloture(&base, "CL"), "CL");
        } else {
            save.code(1).stderr_has(&[&in_use_line("CL")]);
            let now = cloture(&base, "CL")
                .exists()
                .then(|| Stamp::of(&cloture(&base, "CL")));
            assert!(
                now == cloture_before,
                "a refused save changed Cloture/BCL.SVG"
            );
        }
        assert!(
            run_saved || save_saved,
            "attempt {attempt}: neither the run nor the save saved CL\n{save}\n{report}"
        );
        if run_saved {
            base.assert_archive_matches("CL", false);
        }
        assert_valid(&base, &base.archive("CL"));
        assert!(
            base.partials().is_empty(),
            "partials: {:?}",
            base.partials()
        );
        tally.push(format!(
            "{} first, {pause:?} apart: run {}, save {}",
            if save_first { "save" } else { "run" },
            if run_saved { "saved" } else { "in use" },
            if save_saved { "saved" } else { "in use" }
        ));
    }
    eprintln!("save --event closing vs run: {tally:?}");
}

/// A run that starts while `save` writes `Cloture/B<CODE>.SVG.partial`
/// leaves that file alone (the dossier's lock says it is being written)
/// and gives the dossier the in-use line; the save completes.
#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn a_run_starting_while_save_closing_writes_leaves_its_partial_alone() {
    let base = slow_base();
    base.dossier("CL")
        .file("compta/ecritures.dat", text_bytes(1, 1536 << 10));
    base.dossier("X").file("a.txt", "a\n");
    base.run_compt(&[]).code(0);
    let cloture_partial = base.sauve().join("Cloture/BCL.SVG.partial");
    let mut caught = false;
    for attempt in 0..3 {
        base.append("CL", "compta/ecritures.dat", format!("essai {attempt}\n"));
        let mut save = base.spawn(
            &save_args(&base, "CL", "closing"),
            &format!("save{attempt}"),
        );
        wait_until(POLL_LIMIT, || cloture_partial.exists() || save.has_exited());
        if save.has_exited() {
            eprintln!("attempt {attempt}: the save ended before its partial was seen");
            save.wait().code(0);
            continue;
        }
        let before = base.stamps();
        let out = base.run_compt(&[]);
        let save = save.wait();
        // Never broken by the run: its partial stayed where it was.
        save.code(0);
        if base.report().line("CL") == saved_line("CL") {
            eprintln!("attempt {attempt}: the save ended before the run claimed CL, again");
            assert!(!cloture_partial.exists(), "partial left");
            continue;
        }
        out.code(1);
        base.report().assert_line("CL", &in_use_line("CL"));
        before.assert_untouched(&base.stamps());
        assert!(!cloture_partial.exists(), "partial left");
        assert_event_archive_matches(&base, &cloture(&base, "CL"), "CL");

        // The run's own archive comes next time, first.
        base.run_compt(&[]).code(0);
        assert_eq!(base.report_json().dossier("CL")["why"], "retry");
        base.assert_archive_matches("CL", false);
        caught = true;
        break;
    }
    assert!(caught, "never started a run while the save was writing");
}
