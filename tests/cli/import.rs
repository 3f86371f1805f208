//! `svgauto import` (DESIGN.md §8): every `B*.SVG` dropped into `maj/` is
//! restored, then filed under `maj/done/`, or under `maj/failed/` with a
//! `.txt` saying why; a second import has nothing to do.
//!
//! A file still being copied, or changed in the last seconds, is left for
//! the next pass (README, "import"); the tests of that rule use its real
//! periods and converge by importing again, as a scheduled task does. The
//! others drop complete files and set `SVGAUTO_IMPORT_QUIET=0` (no quiet
//! period, no pause: the file is judged at once).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::harness::*;

const OTHER_RUN: &str = "une autre exécution de svgauto travaille déjà sur cette base";
const LEFT: &str = "laissé pour la prochaine importation";

/// `svgauto import --base <base>`, judging every file at once (the files
/// these tests drop are complete).
fn import_now(base: &Base) -> Out {
    Out::of(
        base.command(&["import", "--base"])
            .arg(base.root())
            .env("SVGAUTO_IMPORT_QUIET", "0"),
    )
}

/// Changes to A and C after their backup, so a restore shows.
fn modify(base: &Base) {
    base.write("A", "compta/ecritures.dat", "réécrit après la sauvegarde\n");
    base.write("A", "compta/nouveau.dat", "ajouté\n");
    base.remove("A", "notes.txt");
    base.set_mtime(
        "A",
        "vide.dat",
        SystemTime::UNIX_EPOCH + Duration::new(1_750_000_000, 5),
    );
    base.write("C", "compta/ecritures.dat", "C modifié\n");
}

#[test]
fn import_restores_each_dropped_archive_and_files_it_under_done_or_failed() {
    let base = restorable_base("zstd");
    let saved_a = base.dossier_snapshot("A", false);
    modify(&base);
    let live_c = base.dossier_snapshot("C", true);

    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    fs::copy(base.archive("A"), maj.join("BA.SVG")).unwrap();
    fs::copy(base.archive("C"), maj.join("BC.SVG")).unwrap();
    cut_in_half(&maj.join("BC.SVG"));
    let damaged_c = fs::read(maj.join("BC.SVG")).unwrap();

    let out = import_now(&base);
    out.code(1).restored("A", "BA.SVG");
    assert_eq!(
        list_dir(&maj),
        ["done", "failed"],
        "maj/ after the import\n{out}"
    );
    assert_eq!(list_dir(&maj.join("done")), ["BA.SVG"], "maj/done/\n{out}");
    assert_eq!(
        fs::read(maj.join("done/BA.SVG")).unwrap(),
        fs::read(base.archive("A")).unwrap(),
        "maj/done/BA.SVG is the file dropped, as it was"
    );
    assert_eq!(
        list_dir(&maj.join("failed")),
        ["BC.SVG", "BC.SVG.txt"],
        "maj/failed/\n{out}"
    );
    assert_eq!(
        fs::read(maj.join("failed/BC.SVG")).unwrap(),
        damaged_c,
        "maj/failed/BC.SVG is the file dropped, as it was"
    );
    let why = read_to_string(&maj.join("failed/BC.SVG.txt"));
    assert!(
        why.contains("illisible"),
        "maj/failed/BC.SVG.txt should say why (illisible):\n{why}"
    );

    assert_same_snapshot(
        &saved_a,
        &base.dossier_snapshot("A", false),
        "dossier A imported vs A when saved",
    );
    assert_same_snapshot(&live_c, &base.dossier_snapshot("C", true), "dossier C");
    base.assert_no_restore_leftovers();

    // Again: nothing left to import, nothing moves, nothing changes.
    let before = base.everything();
    let again = import_now(&base);
    again.code(0);
    assert_same_snapshot(
        &before,
        &base.everything(),
        "the base after a second import",
    );
}

#[test]
fn import_leaves_alone_what_is_not_a_b_svg_file() {
    // Only `B*.SVG` files are for import (DESIGN.md §8): an `S*.SVG` or a
    // note dropped beside them stays where it is, and is no failure.
    let base = restorable_base("zstd");
    let saved_a = base.dossier_snapshot("A", false);
    modify(&base);
    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    fs::copy(base.archive("A"), maj.join("BA.SVG")).unwrap();
    fs::write(maj.join("lisez-moi.txt"), "dépôt des mises à jour\n").unwrap();
    fs::copy(base.archive("A"), maj.join("SA.SVG")).unwrap();

    let out = import_now(&base);
    out.code(0).restored("A", "BA.SVG");
    let mut left = list_dir(&maj);
    left.retain(|n| n != "failed"); // an empty failed/ would be harmless
    assert_eq!(
        left,
        ["SA.SVG", "done", "lisez-moi.txt"],
        "maj/ after the import\n{out}"
    );
    assert_eq!(list_dir(&maj.join("done")), ["BA.SVG"], "maj/done/\n{out}");
    assert_same_snapshot(&saved_a, &base.dossier_snapshot("A", false), "dossier A");
}

#[test]
fn import_of_good_archives_exits_0_and_recreates_a_deleted_dossier() {
    let base = restorable_base("deflate");
    let saved_a = base.dossier_snapshot("A", false);
    let saved_c = base.dossier_snapshot("C", false);
    modify(&base);
    fs::remove_dir_all(base.dossier_dir("A")).unwrap();
    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    for code in ["A", "C"] {
        fs::copy(base.archive(code), maj.join(format!("B{code}.SVG"))).unwrap();
    }

    import_now(&base)
        .code(0)
        .restored("A", "BA.SVG")
        .restored("C", "BC.SVG");
    assert_eq!(
        list_dir(&maj.join("done")),
        ["BA.SVG", "BC.SVG"],
        "maj/done/"
    );
    assert_eq!(list_dir(&maj), ["done"], "maj/ after the import");
    assert_same_snapshot(&saved_a, &base.dossier_snapshot("A", false), "dossier A");
    assert_same_snapshot(&saved_c, &base.dossier_snapshot("C", false), "dossier C");
    base.assert_no_restore_leftovers();

    let before = base.everything();
    import_now(&base).code(0);
    assert_same_snapshot(
        &before,
        &base.everything(),
        "the base after a second import",
    );
}

#[test]
fn import_files_a_dossier_in_use_under_failed_and_leaves_it_alone() {
    let base = restorable_base("zstd");
    modify(&base);
    let live_a = base.dossier_snapshot("A", true);
    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    fs::copy(base.archive("A"), maj.join("BA.SVG")).unwrap();

    let holder = base.hold("A");
    let out = import_now(&base);
    out.code(1);
    holder.release();
    assert_eq!(
        list_dir(&maj.join("failed")),
        ["BA.SVG", "BA.SVG.txt"],
        "maj/failed/\n{out}"
    );
    let why = read_to_string(&maj.join("failed/BA.SVG.txt"));
    assert!(
        why.contains("utilisées par un utilisateur"),
        "maj/failed/BA.SVG.txt should say the dossier is in use:\n{why}"
    );
    assert_same_snapshot(&live_a, &base.dossier_snapshot("A", true), "dossier A");
    base.assert_no_restore_leftovers();
}

#[test]
fn import_with_nothing_to_do_exits_0() {
    let base = restorable_base("zstd");
    // No maj/ folder at all, then an empty one. (Creating maj/done/ and
    // maj/failed/ on the way would be harmless: only files are compared.)
    for what in ["no maj/", "an empty maj/"] {
        if what == "an empty maj/" {
            fs::create_dir_all(base.maj()).unwrap();
        }
        let before = base.everything();
        let out = import_now(&base);
        out.code(0);
        let after = base.everything();
        assert!(
            before.files() == after.files(),
            "{what}: import changed files
{out}"
        );
    }
}

// ---------------------------------------------------------------------------
// A file still being copied into maj/
// ---------------------------------------------------------------------------

/// A base whose dossier `G` holds 12 MB that do not compress (its archive
/// is about as big), saved, then changed so a restore shows.
fn big_base() -> (Base, Snapshot) {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("G")
        .file("scans/releve.bin", random_bytes(7, 12_000_000))
        .file("notes.txt", "avant\n");
    base.dossier("H")
        .file("scans/facture.bin", random_bytes(8, 3_000_000));
    base.run_compt(&[]).code(0);
    let saved = base.dossier_snapshot("G", false);
    base.write("G", "notes.txt", "changé après la sauvegarde\n");
    (base, saved)
}

/// Copies `from` to `to` at about 5 MB/s (256 KiB every 50 ms) in a thread,
/// as a copy over the network does; with `keep_old_time`, the copy gives
/// the file its source's old modification time after every chunk, as
/// copies that keep times (`cp -p`, robocopy) do at the end — so only the
/// change time (ctime) and the size tell it is still being written.
/// `started` is set once the first chunk is written.
fn slow_copy(
    from: &Path,
    to: &Path,
    keep_old_time: bool,
    started: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    let bytes = fs::read(from).unwrap();
    let to = to.to_owned();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    thread::spawn(move || {
        let mut f = fs::File::create(&to).unwrap();
        for chunk in bytes.chunks(256 * 1024) {
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
            if keep_old_time {
                f.set_modified(old).unwrap();
            }
            started.store(true, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(50));
        }
    })
}

/// Imports (real periods) until `done` holds or a minute passes, as a
/// scheduled import would; returns every output. Each pass must end well
/// (exit 0: a file left for later is no failure).
fn import_until(base: &Base, mut done: impl FnMut(&Out) -> bool) -> Vec<Out> {
    let start = Instant::now();
    let mut outs = Vec::new();
    loop {
        let out = base.import();
        out.code(0);
        let finished = done(&out);
        outs.push(out);
        if finished {
            return outs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "import never converged:\n{}",
            outs.iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// The input of issue 11, item 4: a 12 MB `BG.SVG` copied into `maj/` at
/// about 5 MB/s, and `import` run during the copy: the archive is left for
/// a later pass, then restored once complete. The same with a copy that
/// keeps the source's old modification time (`HB.SVG`… `BH.SVG`): its
/// ctime tells. (Regression: it was judged truncated and filed under
/// `failed/`, where the copy then completed, and the dossier was never
/// restored.)
#[test]
fn an_archive_still_being_copied_is_left_for_the_next_pass_and_restored_once_complete() {
    let (base, saved_g) = big_base();
    let saved_h = base.dossier_snapshot("H", false);
    base.write("H", "ajout.txt", "à défaire\n");
    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let copies = [
        slow_copy(
            &base.archive("G"),
            &maj.join("BG.SVG"),
            false,
            started.clone(),
        ),
        slow_copy(
            &base.archive("H"),
            &maj.join("BH.SVG"),
            true,
            started.clone(),
        ),
    ];
    assert!(wait_until(Duration::from_secs(60), || started.load(Ordering::SeqCst)));

    // During the copy (and for a few seconds after): left, and said.
    let mut during = 0;
    while copies.iter().any(|c| !c.is_finished()) {
        let out = base.import();
        out.code(0);
        for name in ["BG.SVG", "BH.SVG"] {
            if maj.join(name).exists() {
                let line = out
                    .stdout_lines()
                    .into_iter()
                    .find(|l| l.contains(name))
                    .map(str::to_owned)
                    .unwrap_or_default();
                assert!(
                    line.contains(LEFT),
                    "{name}, still being copied, must be left and said\n{out}"
                );
            }
        }
        assert!(!maj.join("failed").exists(), "nothing refused\n{out}");
        assert!(!maj.join("done").exists(), "nothing judged yet\n{out}");
        during += 1;
    }
    copies.into_iter().for_each(|c| c.join().unwrap());
    assert!(during > 0, "at least one import ran during the copy");

    // Once complete and left alone, later passes restore both, each once.
    let outs = import_until(&base, |o| !o.stdout.contains(LEFT));
    let all: String = outs.iter().map(|o| o.to_string()).collect();
    for code in ["G", "H"] {
        let restored = format!("Dossier {code} : remonté depuis ");
        assert_eq!(all.matches(&restored).count(), 1, "{code}\n{all}");
    }
    assert_eq!(list_dir(&maj), ["done"], "maj/\n{all}");
    assert_eq!(
        fs::read(maj.join("done/BG.SVG")).unwrap(),
        fs::read(base.archive("G")).unwrap()
    );
    assert_same_snapshot(&saved_g, &base.dossier_snapshot("G", false), "dossier G");
    assert_same_snapshot(&saved_h, &base.dossier_snapshot("H", false), "dossier H");
    base.assert_no_restore_leftovers();
}

/// A copy that stalled long enough to be judged (here: judged at once) is
/// refused as truncated and filed under `failed/`; the copier, still
/// holding the file open, then completes it there. The next import takes
/// it back into `maj/` and restores it: no one has to step in. The same
/// for a copy that had set the file to its final size first (as Windows
/// does) and written its end first: complete-looking, refused as damaged,
/// then filled in place — same size, so only its times tell.
#[test]
fn a_refused_archive_completed_in_failed_is_taken_back_and_restored() {
    let (base, saved_g) = big_base();
    let saved_h = base.dossier_snapshot("H", false);
    base.write("H", "ajout.txt", "à défaire\n");
    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    let g = fs::read(base.archive("G")).unwrap();
    let h = fs::read(base.archive("H")).unwrap();
    let half = g.len() / 2;
    let mut fg = fs::File::create(maj.join("BG.SVG")).unwrap();
    fg.write_all(&g[..half]).unwrap();
    // H: full size, its last 64 KiB (the zip's directory) written, the
    // rest zeros.
    let tail = h.len() - 64 * 1024;
    let mut fh = fs::File::create(maj.join("BH.SVG")).unwrap();
    fh.set_len(h.len() as u64).unwrap();
    std::io::Seek::seek(&mut fh, std::io::SeekFrom::Start(tail as u64)).unwrap();
    fh.write_all(&h[tail..]).unwrap();

    let out = import_now(&base);
    out.code(1)
        .refused("BG.SVG", &["illisible"])
        .refused("BH.SVG", &[]);
    let txt = read_to_string(&maj.join("failed/BG.SVG.txt"));
    assert!(
        txt.contains("refusé") && txt.contains("l'importation suivante le reprend"),
        "failed/BG.SVG.txt\n{txt}"
    );

    // The copiers resume, in the files now under failed/.
    fg.write_all(&g[half..]).unwrap();
    fg.sync_all().unwrap();
    std::io::Seek::seek(&mut fh, std::io::SeekFrom::Start(0)).unwrap();
    fh.write_all(&h[..tail]).unwrap();
    fh.sync_all().unwrap();
    drop((fg, fh));

    let out = import_now(&base);
    out.code(0)
        .stdout_has(&[
            "failed/BG.SVG : modifié depuis son refus",
            "failed/BH.SVG : modifié depuis son refus",
        ])
        .restored("G", "BG.SVG")
        .restored("H", "BH.SVG");
    assert_eq!(
        list_dir(&maj.join("failed")),
        Vec::<String>::new(),
        "failed/\n{out}"
    );
    assert_eq!(
        list_dir(&maj.join("done")),
        ["BG.SVG", "BH.SVG"],
        "done/\n{out}"
    );
    assert_same_snapshot(&saved_g, &base.dossier_snapshot("G", false), "dossier G");
    assert_same_snapshot(&saved_h, &base.dossier_snapshot("H", false), "dossier H");

    // A refused file that does not change stays refused: nothing moves.
    fs::write(maj.join("BX.SVG"), b"pas une archive").unwrap();
    import_now(&base).code(1).refused("BX.SVG", &["illisible"]);
    let before = base.everything();
    let out = import_now(&base);
    out.code(0);
    assert_same_snapshot(&before, &base.everything(), "a second import");
}

/// `svgauto import` started as a child, its output to files of the
/// scratch folder, judging at once.
fn spawn_import(base: &Base, tag: &str) -> (std::process::Child, PathBuf, PathBuf) {
    let (o, e) = (
        base.scratch(&format!("{tag}.stdout")),
        base.scratch(&format!("{tag}.stderr")),
    );
    let child = std::process::Command::new(BIN)
        .args(["import", "--base"])
        .arg(base.root())
        .env_remove("SVGAUTO_CONFIG")
        .env("SVGAUTO_IMPORT_QUIET", "0")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap())
        .spawn()
        .unwrap();
    (child, o, e)
}

/// Two imports at once: the second finds the base taken (the run lock,
/// exit 2, the usual message) and touches nothing; the first restores the
/// archive once. Retried until the second import is seen meeting the
/// first under way.
#[test]
fn two_imports_at_once_the_second_stops_and_the_archive_is_restored_once() {
    let (base, saved_g) = big_base();
    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    let mut met = false;
    for attempt in 0..3 {
        base.write("G", "notes.txt", format!("changé {attempt}\n"));
        let _ = fs::remove_dir_all(maj.join("done"));
        fs::copy(base.archive("G"), maj.join("BG.SVG")).unwrap();
        let (mut first, o, e) = spawn_import(&base, &format!("first{attempt}"));
        let staging = base.root().join("dossiers/.svgauto-new-G");
        wait_until(Duration::from_secs(60), || {
            staging.exists() || first.try_wait().unwrap().is_some()
        });
        let going = first.try_wait().unwrap().is_none();
        // At once: the harness's wait for the dossiers to settle would
        // wait for the first import's restore to end.
        let second = Out::of(
            base.command_unsettled(&["import", "--base"])
                .arg(base.root())
                .env("SVGAUTO_IMPORT_QUIET", "0"),
        );
        let still_going = first.try_wait().unwrap().is_none();
        let status = first.wait().unwrap();
        let said = format!(
            "{}{}",
            fs::read_to_string(&o).unwrap(),
            fs::read_to_string(&e).unwrap()
        );
        assert_eq!(status.code(), Some(0), "the first import\n{said}");
        assert!(said.contains("Dossier G : remonté depuis "), "{said}");
        if going && still_going {
            second.code(2).stderr_has(&[OTHER_RUN]);
            assert!(second.stdout.is_empty(), "{second}");
            met = true;
        } else {
            // The race was missed: whichever came second found nothing.
            second.exited_0_or_1();
        }
        assert_eq!(
            list_dir(&maj.join("done")),
            ["BG.SVG"],
            "done/\n{said}\n{second}"
        );
        assert_eq!(list_dir(&maj), ["done"], "maj/\n{said}\n{second}");
        assert_same_snapshot(&saved_g, &base.dossier_snapshot("G", false), "dossier G");
        base.assert_no_restore_leftovers();
        if met {
            break;
        }
    }
    assert!(met, "the second import never met the first under way");
}

/// A file that cannot be filed away (here `maj/done` is a file, not a
/// folder) is said on its own line, and the other files are still
/// restored and filed: an error filing one never hides what was done.
#[test]
fn a_file_that_cannot_be_filed_away_is_said_and_the_others_go_on() {
    let base = restorable_base("zstd");
    let maj = base.maj();
    fs::create_dir_all(&maj).unwrap();
    fs::copy(base.archive("A"), maj.join("BA.SVG")).unwrap();
    fs::copy(base.archive("C"), maj.join("BC.SVG")).unwrap();
    cut_in_half(&maj.join("BC.SVG"));
    fs::write(maj.join("done"), "pas un dossier").unwrap();
    let out = import_now(&base);
    out.code(1);
    out.stdout_has(&["Dossier A : remonté depuis "]);
    out.stderr_has(&["BA.SVG : impossible de le ranger dans done/ ou failed/"]);
    assert!(maj.join("BA.SVG").is_file(), "BA.SVG stays in maj/\n{out}");
    assert_eq!(
        list_dir(&maj.join("failed")).len(),
        2,
        "BC.SVG and its .txt\n{out}"
    );
}
