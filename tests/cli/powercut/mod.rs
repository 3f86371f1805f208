//! Power cut simulation (issue "Reliability"): proves the flush order of
//! DESIGN.md §3–5 on the real binary.
//!
//! The binary runs under `strace -f` (a run over the archives of a previous
//! run, sequential then parallel, and a `restore`); the log of its file
//! system calls is then replayed in a model of a file system that loses, at
//! a power cut, everything that was not flushed. At every crash point (the
//! start, and after each call of the log) every state the disk may hold is
//! enumerated and checked.
//!
//! - [`strace`]: running the binary under strace, and the log parser;
//! - [`model`]: the crash model of a file system, which can be read alone;
//! - [`check`]: what is checked in every state, and the verdict;
//! - this file: the traced commands and the tests.
//!
//! Negative controls prove the checker can fail: a hand-written log, and
//! the real logs with a flush removed, moved after the rename, or added.
//!
//! Needs `strace` (Debian package `strace`): the tests are ignored by a
//! plain `cargo test`, and `scripts/test` runs them (`--include-ignored`).
//! Without strace they fail and say so.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::harness::*;

mod check;
mod model;
mod strace;

use check::{Verdict, Watch, check};
use model::Model;
use strace::{
    Call, created_under, is_flush_of, parse_log, resequence, strace, syncfs_as_fsyncs, traced,
    unquote,
};

// ---------------------------------------------------------------------------
// The runs
// ---------------------------------------------------------------------------

struct RunTrace {
    seed: Model,
    calls: Vec<Call>,
    watch: Watch,
}

fn canonical(p: &Path) -> String {
    fs::canonicalize(p).unwrap().to_str().unwrap().to_owned()
}

/// Every dossier modified, so that the run replaces every archive.
fn touch_all(base: &Base, codes: &[&str], round: u64) {
    for (i, code) in codes.iter().enumerate() {
        base.write(
            code,
            "compta/journal.dat",
            text_bytes(round * 100 + i as u64, 20_000 + i * 1_000),
        );
    }
}

/// A run traced over the archives of a previous run, with `threads`
/// threads and as many `io_jobs`; every dossier of `codes` must be saved.
fn traced_run(base: &Base, threads: usize, codes: &[&str], tag: &str) -> RunTrace {
    base.set("run", "io_jobs", &threads.to_string());
    let root = canonical(base.root());
    let seed = Model::of_disk(base.top());
    let t = traced(
        base,
        &[
            "run",
            "--base",
            &root,
            "--user",
            "COMPT",
            "--no-progress",
            "--threads",
            &threads.to_string(),
        ],
        tag,
    );
    t.out.code(0);
    let report = base.report();
    let saved: Vec<String> = codes.iter().map(|c| saved_line(c)).collect();
    report.assert_lines_unordered(&saved);
    let fingerprints = codes
        .iter()
        .map(|c| {
            let m = read_manifest(&base.archive(c));
            (
                (*c).to_owned(),
                m["fingerprint"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    RunTrace {
        seed,
        calls: parse_log(&t.log),
        watch: Watch::Run {
            sauve: format!("{root}/sauve"),
            fingerprints,
        },
    }
}

/// A base saved once (not traced), then every dossier modified: the next
/// run replaces every archive.
fn saved_base() -> (Base, Vec<&'static str>) {
    let codes = vec!["GROS", "P1", "P2", "P3"];
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("GROS")
        .file("compta/pieces.bin", random_bytes(7, 3 << 20))
        .file("compta/ecritures.dat", text_bytes(8, 200_000));
    for (i, c) in codes[1..].iter().enumerate() {
        base.dossier(c)
            .file("compta/ecritures.dat", text_bytes(i as u64, 30_000))
            .file("a/b/profond.txt", "tout au fond\n")
            .file("notes.txt", "à relire\n");
    }
    base.run_compt(&[]).code(0);
    assert_eq!(base.archived(), set(&codes), "archives of the first run");
    touch_all(&base, &codes, 1);
    (base, codes)
}

fn figures(what: &str, v: &Verdict) {
    println!("power cut model, {what}: {}", v.stats);
}

/// Sequential run (one thread, `io_jobs = 1`): the order the issue asks to
/// prove, dossier after dossier. Then a parallel run over it, with a new
/// dossier beside: the same properties hold whatever the interleaving.
#[test]
#[ignore = "needs strace: scripts/test"]
fn a_power_cut_never_leaves_a_torn_archive_nor_a_record_before_it() {
    strace();
    let (base, codes) = saved_base();
    let seq = traced_run(&base, 1, &codes, "run-seq");
    let v = check(&seq.seed, &seq.calls, &seq.watch);
    figures("run --threads 1, io_jobs 1", &v);
    v.assert_clean("sequential run");
    assert_eq!(v.stats.catalog_records, codes.len(), "{v:?}");
    // The folder is flushed once per group the writer commits (one to
    // four here, as the loop and the writer meet): at least once.
    assert!(
        v.stats.renames >= codes.len() && v.stats.dir_fsyncs >= 1,
        "every archive renamed and its folder flushed: {}",
        v.stats
    );

    touch_all(&base, &codes, 2);
    base.dossier("NOUVEAU")
        .file("compta/ecritures.dat", text_bytes(99, 10_000));
    let mut all = codes.clone();
    all.push("NOUVEAU");
    let par = traced_run(&base, 3, &all, "run-par");
    let v = check(&par.seed, &par.calls, &par.watch);
    figures("run --threads 3, io_jobs 3", &v);
    v.assert_clean("parallel run");
    assert_eq!(v.stats.catalog_records, all.len(), "{v:?}");

    // Group commit: many small dossiers, so that the writer finds several
    // archives staged at once and flushes them with one `syncfs`.
    let grouped = traced_group_commit();
    let v = check(&grouped.seed, &grouped.calls, &grouped.watch);
    figures("run of 24 small dossiers, group commit", &v);
    v.assert_clean("run with archives committed in groups");
}

/// A base of 24 small dossiers saved with 3 loops, traced until a run's log
/// shows an archive group flushed by one `syncfs` (the writer commits what
/// is waiting: groups form when the loops stage faster than it records,
/// which a few tries make sure of). Every try's log is checked.
fn traced_group_commit() -> RunTrace {
    let base = Base::new().collaborator("COMPT", "*");
    let codes: Vec<String> = (0..24).map(|i| format!("PETIT{i:02}")).collect();
    for (i, c) in codes.iter().enumerate() {
        base.dossier(c)
            .file("compta/ecritures.dat", text_bytes(i as u64, 2_000));
    }
    base.run_compt(&[]).code(0);
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    for round in 1..=5 {
        touch_all(&base, &codes, round);
        let t = traced_run(&base, 3, &codes, &format!("run-group-{round}"));
        if t.calls.iter().any(|c| c.name == "syncfs") {
            return t;
        }
        check(&t.seed, &t.calls, &t.watch).assert_clean("run without a group");
    }
    panic!("5 runs of 24 small dossiers with 3 loops never committed two archives at once");
}

/// The checker is not one that cannot fail: a hand-written log, and the
/// real log of a run with its flushes removed or moved after the rename.
#[test]
#[ignore = "needs strace: scripts/test"]
fn the_checker_catches_a_missing_or_late_flush() {
    // 1. Hand-written: a new archive renamed over the old one.
    let seed = Model::of_paths("/r", &["sauve/BX.SVG", ".svgauto/"]);
    let log = |fsync_file: bool, fsync_dir: bool, unlink_old: bool| {
        let mut s = String::from(
            "7 10:00:00.000001 openat(AT_FDCWD</r>, \"/r/sauve/BX.SVG.partial\", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 3</r/sauve/BX.SVG.partial>\n\
             7 10:00:00.000002 write(3</r/sauve/BX.SVG.partial>, \"PK\\3\\4\"..., 1048576 <unfinished ...>\n\
             8 10:00:00.000003 openat(AT_FDCWD</r>, \"/r/.svgauto/x\", O_RDONLY) = -1 ENOENT (No such file or directory)\n\
             7 10:00:00.000004 <... write resumed>) = 1048576\n\
             7 10:00:00.000005 write(3</r/sauve/BX.SVG.partial>, \"PK\\5\\6\", 22) = 22\n",
        );
        if fsync_file {
            s.push_str("7 10:00:00.000006 fsync(3</r/sauve/BX.SVG.partial>) = 0\n");
        }
        s.push_str("7 10:00:00.000007 close(3</r/sauve/BX.SVG.partial>) = 0\n");
        if unlink_old {
            s.push_str("7 10:00:00.000008 unlink(\"/r/sauve/BX.SVG\") = 0\n");
        }
        s.push_str(
            "7 10:00:00.000008 rename(\"/r/sauve/BX.SVG.partial\", \"/r/sauve/BX.SVG\") = 0\n\
             7 10:00:00.000009 openat(AT_FDCWD</r>, \"/r/sauve\", O_RDONLY|O_CLOEXEC) = 3</r/sauve>\n",
        );
        if fsync_dir {
            s.push_str("7 10:00:00.000010 fsync(3</r/sauve>) = 0\n");
        }
        s.push_str(
            "8 10:00:00.000011 pwrite64(5</r/.svgauto/catalog.sqlite-wal>, \"\\r\\0fp-of-X\\0\", 4096, 4152) = 4096\n",
        );
        parse_log(&s)
    };
    let watch = Watch::Run {
        sauve: "/r/sauve".into(),
        fingerprints: vec![("X".into(), "fp-of-X".into())],
    };
    let good = log(true, true, false);
    assert_eq!(good.len(), 10, "{good:#?}");
    let v = check(&seed, &good, &watch);
    v.assert_clean("hand-written log with every flush");
    assert_eq!(v.stats.catalog_records, 1);
    check(&seed, &log(false, true, false), &watch).assert_caught(
        "hand-written, no fsync of the file",
        "BX.SVG may name a file whose data are not durable",
    );
    check(&seed, &log(true, false, false), &watch).assert_caught(
        "hand-written, no fsync of the folder",
        "the folder is never flushed",
    );
    check(&seed, &log(true, true, true), &watch).assert_caught(
        "hand-written, the old archive removed before the rename",
        "the previous archive BX.SVG may be durably gone",
    );

    // 2. The real log of a run.
    strace();
    let (base, codes) = saved_base();
    let t = traced_run(&base, 1, &codes, "run-neg");
    check(&t.seed, &t.calls, &t.watch).assert_clean("the real log, as is");

    // No flush of the .partial files (their own fsync, or the syncfs of a
    // group: the writer commits what it finds staged, one or several).
    let archive_flush =
        |c: &Call| c.name == "syncfs" || is_flush_of(c, |p| p.ends_with(".SVG.partial"));
    let no_file_fsync: Vec<Call> = t
        .calls
        .iter()
        .filter(|c| !archive_flush(c))
        .cloned()
        .collect();
    assert!(no_file_fsync.len() < t.calls.len());
    let v = check(&t.seed, &no_file_fsync, &t.watch);
    figures("negative control, no fsync of the archives", &v);
    v.assert_caught(
        "real log without the fsync of the archives",
        "may name a file whose data are not durable",
    );

    // Each .partial flushed only after its rename.
    let mut late = t.calls.clone();
    let mut moved = 0;
    let mut from = 0;
    while let Some(i) = late[from..]
        .iter()
        .position(archive_flush)
        .map(|i| i + from)
    {
        let f = late.remove(i);
        // A file's own flush goes after its rename; a group's, after the
        // first rename of the group.
        let partial = f.fd_path(0).filter(|_| f.name != "syncfs");
        let r = late[i..]
            .iter()
            .position(|c| {
                c.name.starts_with("rename")
                    && partial.as_ref().is_none_or(|partial| {
                        c.args
                            .iter()
                            .any(|a| unquote(a).as_deref() == Some(partial))
                    })
            })
            .expect("the partial is renamed after its flush")
            + i;
        // Renamed already: no longer matches the `.partial` search.
        let mut f = f;
        f.args[0] = f.args[0].replace(".SVG.partial>", ".SVG>");
        late.insert(r + 1, f);
        from = r + 2;
        moved += 1;
    }
    assert!(moved >= 1 && moved <= codes.len(), "{moved} flushes moved");
    let v = check(&t.seed, &resequence(late), &t.watch);
    v.assert_caught(
        "real log with the fsync of the archives after their rename",
        "may name a file whose data are not durable",
    );

    // No fsync of the folder after the renames.
    let sauve = format!("{}/sauve", canonical(base.root()));
    let no_dir_fsync: Vec<Call> = t
        .calls
        .iter()
        .filter(|c| !is_flush_of(c, |p| p == sauve))
        .cloned()
        .collect();
    let v = check(&t.seed, &no_dir_fsync, &t.watch);
    v.assert_caught(
        "real log without the fsync of sauve/",
        "the folder is never flushed",
    );

    // 3. The real log of a run whose archives were committed in groups: its
    // `syncfs` removed, or moved after the first rename it covers.
    let g = traced_group_commit();
    check(&g.seed, &g.calls, &g.watch).assert_clean("the group commit log, as is");
    let is_syncfs = |c: &Call| c.name == "syncfs";
    let no_syncfs: Vec<Call> = g.calls.iter().filter(|c| !is_syncfs(c)).cloned().collect();
    check(&g.seed, &no_syncfs, &g.watch).assert_caught(
        "group commit log without its syncfs",
        "may name a file whose data are not durable",
    );
    let mut late = g.calls.clone();
    let i = late.iter().position(is_syncfs).unwrap();
    let f = late.remove(i);
    let r = late[i..]
        .iter()
        .position(|c| c.name.starts_with("rename"))
        .expect("a group's archives are renamed after their flush")
        + i;
    late.insert(r + 1, f);
    check(&g.seed, &resequence(late), &g.watch).assert_caught(
        "group commit log with its syncfs after a rename",
        "may name a file whose data are not durable",
    );
}

// ---------------------------------------------------------------------------
// Restore
// ---------------------------------------------------------------------------

struct RestoreTrace {
    seed: Model,
    calls: Vec<Call>,
    watch: Watch,
    dossiers: String,
}

/// `restore` of dossier A (nested folders, an empty one, accented names,
/// associated documents carried over by hard links) over a live dossier
/// that changed since its backup.
fn traced_restore() -> RestoreTrace {
    strace();
    let base = restorable_base("zstd");
    base.write("A", "notes.txt", "modifié depuis\n");
    base.write("A", "compta/nouveau.dat", "ajouté depuis\n");
    base.write("A", "documents/ajout.txt", "document ajouté\n");
    let archive = base.copy_archive("A", "remonter", "BA.SVG");
    let root = canonical(base.root());
    let seed = Model::of_disk(base.top());
    let t = traced(
        &base,
        &["restore", "--base", &root, archive.to_str().unwrap()],
        "restore",
    );
    t.out.code(0);
    assert!(
        fs::read_to_string(base.path("A", "notes.txt")).unwrap() == "à relire\n",
        "the restore brought back the archived notes.txt"
    );
    assert!(base.path("A", "documents/ajout.txt").exists());
    base.assert_no_restore_leftovers();
    // The live dossier had changed since its backup: saved first.
    let mut aside = Vec::new();
    walk_files(&base.sauve().join("AvantRemontee"), &mut |p| {
        aside.push(canonical(p))
    });
    assert_eq!(
        aside.len(),
        1,
        "one archive saved before the restore: {aside:?}"
    );
    assert!(
        t.out.stdout.contains("état précédent sauvegardé dans"),
        "{}",
        t.out.stdout
    );
    let dossiers = format!("{root}/dossiers");
    RestoreTrace {
        seed,
        calls: parse_log(&t.log),
        watch: Watch::Restore {
            dossiers: dossiers.clone(),
            code: "A".into(),
            aside: aside.pop(),
        },
        dossiers,
    }
}

/// The restore switch: at every crash point, `dossiers/A` (or what
/// `recover` puts in its place) is the old tree, whole, or the new one,
/// durable. (Regression: the restore did not flush the folders of the
/// extracted tree before the renames that publish it, so a power cut could
/// lose entries of the new tree; `restore::sync_tree` now does.)
#[test]
#[ignore = "needs strace: scripts/test"]
fn a_power_cut_during_a_restore_leaves_the_old_tree_or_the_new_one_durable() {
    let r = traced_restore();
    let v = check(&r.seed, &r.calls, &r.watch);
    figures("restore", &v);
    v.assert_clean("restore");
}

/// The index in the log of the rename of `from`: `.svgauto-new-A` renamed
/// `.svgauto-ready-A` (the extracted tree complete), or that renamed `A`
/// (the switch).
fn publish_of(calls: &[Call], from: &str) -> usize {
    calls
        .iter()
        .position(|c| {
            c.ok()
                && c.name.starts_with("rename")
                && unquote(c.arg(if c.name == "rename" { 0 } else { 1 })).as_deref() == Some(from)
        })
        .unwrap_or_else(|| panic!("the restore renames {from}"))
}

/// Negative control of the test above: the checker can fail on a restore,
/// on the folders' flushes. The restore flushes the files of the
/// extracted tree in groups (`flush_files`: here one `syncfs`, which the
/// model takes as a flush of everything, folders included); where one
/// `syncfs` cannot do it, each file gets its own `fsync`, and only the
/// folders' own flushes (`sys::tree::sync_tree`, before the rename that
/// publishes the tree) make their entries durable. The log made so
/// passes the model; with every flush of one subfolder taken out, the
/// checker reports that folder. (Regression: the restore did not flush the
/// folders of the extracted tree before the renames that publish it.)
#[test]
#[ignore = "needs strace: scripts/test"]
fn the_checker_catches_a_restored_subfolder_never_flushed() {
    let r = traced_restore();
    let new = format!("{}/.svgauto-new-A", r.dossiers);
    let publish = publish_of(&r.calls, &new);
    assert!(
        r.calls[..publish].iter().any(|c| c.name == "syncfs"),
        "the extracted files are flushed as a group, by one syncfs"
    );
    let fallback = syncfs_as_fsyncs(&r.calls);
    let publish = publish_of(&fallback, &new);
    let folders: BTreeSet<String> = fallback[..publish]
        .iter()
        .filter(|c| c.ok() && c.name.starts_with("mkdir"))
        .filter_map(|c| unquote(c.arg(if c.name == "mkdir" { 0 } else { 1 })))
        .filter(|p| *p == new || p.starts_with(&format!("{new}/")))
        .collect();
    assert!(
        folders.len() >= 5,
        "the extracted tree has its folders: {folders:?}"
    );
    // The extracted files: not the lock file, made empty afterwards.
    let files: BTreeSet<String> = created_under(&fallback[..publish], &new)
        .into_iter()
        .filter(|p| !p.ends_with("/dossier.lock"))
        .collect();
    let flushed = |f: &String| {
        fallback[..publish]
            .iter()
            .any(|c| is_flush_of(c, |p| p == f))
    };
    assert!(
        files.len() >= 5 && files.iter().all(flushed),
        "each extracted file gets its own fsync before the tree is published: {files:?}"
    );
    let v = check(&r.seed, &fallback, &r.watch);
    figures("restore, each file and each folder flushed on its own", &v);
    v.assert_clean("restore, each file and each folder flushed on its own");

    let sub = format!("{new}/a/b");
    assert!(folders.contains(&sub), "{folders:?}");
    let unflushed: Vec<Call> = fallback
        .into_iter()
        .filter(|c| !is_flush_of(c, |p| p == sub || p.ends_with("/a/b")))
        .collect();
    check(&r.seed, &resequence(unflushed), &r.watch).assert_caught(
        "restore with a/b/ never flushed",
        "folder dossiers/.svgauto-ready-A/a/b/ never flushed",
    );
}

/// Negative control, on the files' flushes: the restore's log with the
/// group flush of the extracted files taken out (the `syncfs`, and any
/// file's own `fsync`), or moved after the switch (the rename of
/// `.svgauto-ready-A` to `A`): the checker reports a file of the new tree
/// whose data are not durable.
#[test]
#[ignore = "needs strace: scripts/test"]
fn the_checker_catches_restored_files_never_flushed_or_flushed_late() {
    let r = traced_restore();
    let new = format!("{}/.svgauto-new-A", r.dossiers);
    let ready = format!("{}/.svgauto-ready-A", r.dossiers);
    let publish = publish_of(&r.calls, &new);
    let switch = publish_of(&r.calls, &ready);
    let files = created_under(&r.calls[..publish], &new);
    let group_flush = |c: &Call| c.name == "syncfs" || is_flush_of(c, |p| files.contains(p));
    assert!(
        r.calls[..publish].iter().any(group_flush),
        "the extracted files are flushed before the tree is published"
    );
    let without: Vec<Call> = r
        .calls
        .iter()
        .filter(|c| !group_flush(c))
        .cloned()
        .collect();
    let v = check(&r.seed, &without, &r.watch);
    figures(
        "negative control, restore without the flush of its files",
        &v,
    );
    v.assert_caught(
        "restore without the flush of the extracted files",
        "writes flushed",
    );

    // Every flush of the extracted files moved just after the switch.
    let mut late: Vec<Call> = r.calls[..=switch]
        .iter()
        .filter(|c| !group_flush(c))
        .cloned()
        .collect();
    late.extend(
        r.calls[..publish]
            .iter()
            .filter(|c| group_flush(c))
            .cloned(),
    );
    late.extend(r.calls[switch + 1..].iter().cloned());
    check(&r.seed, &resequence(late), &r.watch).assert_caught(
        "restore with the flush of the extracted files after the switch",
        "writes flushed",
    );
}

/// A restore over a state no archive holds saves that state first
/// (`sauve/AvantRemontee/<stamp>/BA.SVG`): at every crash point where the
/// dossier may already be the new tree, that archive is durable — its data,
/// and its name in every folder of its path, the folders the restore
/// created included. Negative controls: without the flush of
/// `AvantRemontee/` (which makes the new `<stamp>/` folder durable), or of
/// the archive's data, the checker reports it.
#[test]
#[ignore = "needs strace: scripts/test"]
fn the_state_saved_before_a_restore_is_durable_before_the_switch() {
    let r = traced_restore();
    let v = check(&r.seed, &r.calls, &r.watch);
    figures("restore over a state saved first", &v);
    v.assert_clean("restore over a state saved first");

    let Watch::Restore {
        aside: Some(aside), ..
    } = &r.watch
    else {
        panic!("the restore saved the live state first: {:?}", r.watch);
    };
    let stamp = Path::new(aside).parent().unwrap();
    let holder = stamp.parent().unwrap().to_str().unwrap().to_owned();
    assert!(holder.ends_with("/AvantRemontee"), "{holder}");
    let without = |pred: &dyn Fn(&str) -> bool| -> Vec<Call> {
        r.calls
            .iter()
            .filter(|c| !is_flush_of(c, pred))
            .cloned()
            .collect()
    };
    check(&r.seed, &without(&|p| p == holder), &r.watch).assert_caught(
        "restore with AvantRemontee/ never flushed",
        "may be missing from its folder",
    );
    let partial = format!("{aside}.partial");
    check(
        &r.seed,
        &without(&|p| p == partial || p == *aside),
        &r.watch,
    )
    .assert_caught(
        "restore with the saved archive's data never flushed",
        "writes flushed",
    );
}
