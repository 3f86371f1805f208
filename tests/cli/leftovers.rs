//! Restore's temporary trees (`dossiers/.svgauto-new-`, `-ready-`, `-old-`,
//! `-del-`; the `--to` folder's `.svgauto-new-`) are removed whatever the
//! modes inside them, a tree that cannot be removed is said (stderr, the
//! run's JSON, `status`), and it never blocks a later restore (README,
//! "Restore").
//!
//! The input of issue 11, item 3: as an ordinary account, a dossier with a
//! sub-folder of mode 0555 holding a file of mode 0444; `run`; `restore
//! --base` left `.svgauto-old-<CODE>` with the old data (exit 0, nothing
//! said), and every later restore of that dossier was refused ("Directory
//! not empty").
//!
//! Linux only. The ordinary account is `nobody` through `setpriv` when the
//! tests run as root (CI), else the account running them; the tests that
//! need root for their input (a folder of another account, a mount point)
//! or run as root are ignored by a plain `cargo test` (`needs root`) and run
//! by `scripts/test`; without root they fail and say so.

#![cfg(target_os = "linux")]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

const NOT_REMOVED: &str = "non supprimé";

/// Who runs svgauto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// An ordinary account: `nobody` when the tests run as root.
    Ordinary,
    Root,
}

fn mode(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

/// A base for `who`: with `Ordinary` while the tests run as root, the
/// whole base (and `extra`) is given to `nobody`, who must also reach it.
struct Setup {
    base: Base,
    who: Who,
    as_root: bool,
}

impl Setup {
    fn new(base: Base, who: Who) -> Setup {
        let as_root = running_as_root(&base);
        if who == Who::Root && !as_root {
            panic!("Who::Root needs the tests to run as root");
        }
        let s = Setup { base, who, as_root };
        if s.nobody() {
            mode(s.base.top(), 0o755);
        }
        s.own(s.base.root());
        s
    }

    /// `svgauto` runs as `nobody`.
    fn nobody(&self) -> bool {
        self.who == Who::Ordinary && self.as_root
    }

    /// Gives `path` (recursively) to the account that runs svgauto.
    fn own(&self, path: &Path) {
        if self.nobody() {
            sh(
                "chown",
                &["-R".as_ref(), "nobody:nogroup".as_ref(), path.as_os_str()],
            );
        }
    }

    /// `svgauto <args>` as `who`.
    fn svgauto(&self, args: &[&OsStr]) -> Out {
        if !self.nobody() {
            return Out::of(self.base.command(&[]).args(args));
        }
        Out::of(self.base.command_as_nobody().args(args))
    }

    fn run(&self) -> Out {
        self.run_with(&[])
    }

    /// `svgauto run --user COMPT <extra>` as `who`.
    fn run_with(&self, extra: &[&str]) -> Out {
        let mut args = self.base.run_args(&["--user", "COMPT"]);
        args.extend_from_slice(extra);
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        self.svgauto(&args)
    }

    fn restore(&self, code: &str) -> Out {
        let archive = self.base.archive(code);
        self.svgauto(&[
            "restore".as_ref(),
            "--base".as_ref(),
            self.base.root().as_os_str(),
            archive.as_os_str(),
        ])
    }

    fn status(&self, json: bool) -> Out {
        let mut args: Vec<&OsStr> = vec![
            "status".as_ref(),
            "--base".as_ref(),
            self.base.root().as_os_str(),
        ];
        if json {
            args.push("--json".as_ref());
        }
        self.svgauto(&args)
    }

    fn status_json(&self) -> serde_json::Value {
        let out = self.status(true);
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"))
    }

    fn dossiers(&self) -> PathBuf {
        self.base.root().join("dossiers")
    }

    /// Names of restore's temporary trees in `dossiers/`.
    fn temp_trees(&self) -> Vec<String> {
        list_dir(&self.dossiers())
            .into_iter()
            .filter(|n| n.starts_with(".svgauto-"))
            .collect()
    }
}

/// Dossier `A` with read-only folders: `archives/2019/` and `archives/`
/// of mode 0555, `archives/2019/bilan.pdf` of mode 0444 — saved by `who`.
fn read_only_base(who: Who) -> (Setup, Snapshot) {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("A")
        .file("compta/ecritures.dat", text_bytes(3, 20_000))
        .file("archives/2019/bilan.pdf", "bilan 2019\n")
        .file("notes.txt", "à relire\n");
    mode(&base.path("A", "archives/2019/bilan.pdf"), 0o444);
    mode(&base.path("A", "archives/2019"), 0o555);
    mode(&base.path("A", "archives"), 0o555);
    let s = Setup::new(base, who);
    s.run().code(0);
    assert_eq!(s.base.archived(), set(&["A"]));
    let saved = s.base.dossier_snapshot("A", false);
    s.base
        .write("A", "notes.txt", "changé après la sauvegarde\n");
    s.own(&s.base.path("A", "notes.txt"));
    (s, saved)
}

/// The input of issue 11, item 3, as an ordinary account: the restore
/// leaves nothing behind and says nothing amiss, the next run says nothing,
/// the next restore is not refused, `status` is clean.
#[test]
fn a_read_only_folder_neither_leaves_old_data_behind_nor_blocks_the_next_restore() {
    read_only_folder_restored_twice(Who::Ordinary);
}

/// The same as root.
#[test]
#[ignore = "needs root: scripts/test"]
fn a_read_only_folder_neither_leaves_old_data_behind_nor_blocks_the_next_restore_as_root() {
    read_only_folder_restored_twice(Who::Root);
}

fn read_only_folder_restored_twice(who: Who) {
    let (s, saved) = read_only_base(who);
    let out = s.restore("A");
    out.code(0).restored("A", "BA.SVG");
    assert!(out.stderr.is_empty(), "{who:?}: nothing to say\n{out}");
    assert!(
        s.temp_trees().is_empty(),
        "{who:?}: {:?}\n{out}",
        s.temp_trees()
    );
    assert_same_snapshot(&saved, &s.base.dossier_snapshot("A", false), "dossier A");

    let run = s.run();
    run.code(0);
    assert!(
        run.stderr.is_empty(),
        "{who:?}: the run has nothing to settle\n{run}"
    );

    s.base.write("A", "notes.txt", "changé encore\n");
    s.own(&s.base.path("A", "notes.txt"));
    let again = s.restore("A");
    again.code(0).restored("A", "BA.SVG");
    assert!(s.temp_trees().is_empty(), "{who:?}: {:?}", s.temp_trees());
    assert_same_snapshot(&saved, &s.base.dossier_snapshot("A", false), "dossier A");
    s.status(false)
        .code(0)
        .stdout_has(&["Tout est sauvegardé."]);
}

/// Unwritable (0500) folders, nested, in the live dossier a restore sets
/// aside: removed with it by their owner. Their files are in no archive,
/// so the restore saves them first (`AvantRemontee/`, hunt item H5): while
/// a folder (`prive/`, 0000) cannot be read, that save, hence the restore,
/// is refused and nothing changes; readable again, the dossier is saved
/// aside, restored, and the old tree removed.
#[test]
fn unreadable_and_unwritable_folders_set_aside_by_a_restore_are_removed() {
    let (s, saved) = read_only_base(Who::Ordinary);
    s.base.write("A", "prive/salaires.dat", "confidentiel\n");
    s.base.write("A", "a/b/c/profond.txt", "au fond\n");
    s.own(&s.base.dossier_dir("A"));
    for dir in ["a/b/c", "a/b", "a"] {
        mode(&s.base.path("A", dir), 0o500);
    }
    mode(&s.base.path("A", "prive"), 0o000);

    if s.nobody() {
        // Root reads everything: only an ordinary account is refused.
        let before = s.base.everything();
        let out = s.restore("A");
        out.code(1)
            .refused("BA.SVG", &["n'a pas pu être sauvegardé", "prive/"]);
        assert!(s.temp_trees().is_empty(), "{:?}\n{out}", s.temp_trees());
        assert_same_snapshot(&before, &s.base.everything(), "the base after the refusal");
    }
    // Readable, still unwritable: saved, then removed with the old tree.
    mode(&s.base.path("A", "prive"), 0o500);

    let out = s.restore("A");
    out.code(0)
        .restored("A", "BA.SVG")
        .stdout_has(&["état précédent sauvegardé dans"]);
    assert!(out.stderr.is_empty(), "{out}");
    assert!(s.temp_trees().is_empty(), "{:?}\n{out}", s.temp_trees());
    assert_same_snapshot(&saved, &s.base.dossier_snapshot("A", false), "dossier A");
}

/// A killed restore left `.svgauto-old-A` (the switch done, the cleanup
/// not) and `.svgauto-new-B` (an extraction), both with read-only folders:
/// the next run removes them and says so.
#[test]
fn the_next_run_settles_a_killed_restores_read_only_trees_and_says_so() {
    let (s, _) = read_only_base(Who::Ordinary);
    for (tree, file) in [(".svgauto-old-A", "ancien"), (".svgauto-new-B", "partiel")] {
        let t = s.dossiers().join(tree);
        fs::create_dir_all(t.join("ro/sous")).unwrap();
        fs::write(t.join("ro/sous/f.txt"), file).unwrap();
        mode(&t.join("ro/sous/f.txt"), 0o444);
        s.own(&t);
        mode(&t.join("ro/sous"), 0o555);
        mode(&t.join("ro"), 0o555);
    }
    let run = s.run();
    run.code(0).stderr_has(&[
        "Dossier A : remontée interrompue précédemment, dossier temporaire supprimé",
        "Dossier B : remontée interrompue précédemment, dossier temporaire supprimé",
    ]);
    assert!(s.temp_trees().is_empty(), "{:?}\n{run}", s.temp_trees());
    let warnings = s.base.report_json().value["warnings"].to_string();
    assert!(
        warnings.contains("Dossier A : remontée interrompue"),
        "{warnings}"
    );
}

/// `restore --to DIR`: a partial extraction a killed restore left in DIR,
/// with read-only folders, is removed; the restore is not refused. As an
/// ordinary account.
#[test]
fn a_read_only_partial_extraction_does_not_block_restore_to() {
    partial_extraction_then_restore_to(Who::Ordinary);
}

/// The same as root.
#[test]
#[ignore = "needs root: scripts/test"]
fn a_read_only_partial_extraction_does_not_block_restore_to_as_root() {
    partial_extraction_then_restore_to(Who::Root);
}

fn partial_extraction_then_restore_to(who: Who) {
    let (s, saved) = read_only_base(who);
    let dir = s.base.scratch("ailleurs");
    let partial = dir.join(".svgauto-new-A");
    fs::create_dir_all(partial.join("archives/2019")).unwrap();
    fs::write(partial.join("archives/2019/bilan.pdf"), "moitié").unwrap();
    mode(&partial.join("archives/2019/bilan.pdf"), 0o444);
    s.own(&dir);
    mode(&partial.join("archives/2019"), 0o555);
    mode(&partial.join("archives"), 0o555);

    let archive = s.base.archive("A");
    let out = s.svgauto(&[
        "restore".as_ref(),
        "--to".as_ref(),
        dir.as_os_str(),
        archive.as_os_str(),
    ]);
    out.code(0).restored("A", "BA.SVG");
    assert_eq!(
        list_dir(&dir),
        ["A"],
        "{who:?}: DIR holds the dossier alone\n{out}"
    );
    let got = snapshot(&dir.join("A"), &|rel| rel == "dossier.lock");
    assert_same_snapshot(&saved, &got, "the restored dossier");
}

/// As `nobody`, a sub-folder belonging to root inside the dossier: when a
/// restore sets the dossier aside, that folder cannot be removed. It is
/// said (stderr, exit 1), shown by `status` (also once the dossier itself
/// is gone), said by every run (stderr and JSON), never blocks a restore,
/// and goes once its owner hands it over.
#[test]
#[ignore = "needs root: scripts/test"]
fn a_temporary_tree_that_cannot_be_removed_is_said_shown_by_status_and_never_blocks_a_restore() {
    let (s, saved) = read_only_base(Who::Ordinary);
    assert!(
        s.nobody(),
        "this test needs root: it makes a folder of another account (root's) for `nobody`"
    );
    // Root's, not handed to nobody.
    s.base.write("A", "depot/scan.pdf", "déposé par root\n");

    let out = s.restore("A");
    out.code(1).restored("A", "BA.SVG").stderr_has(&[
        "Dossier A : dossier temporaire ",
        ".svgauto-del-A.1 non supprimé (Permission denied",
    ]);
    assert_eq!(s.temp_trees(), [".svgauto-del-A.1"]);
    assert_same_snapshot(&saved, &s.base.dossier_snapshot("A", false), "dossier A");

    let text = s.status(false);
    text.code(1).stdout_has(&[
        "  A : reste d'une remontée non supprimé : dossiers/.svgauto-del-A.1",
        "1 reste(s) de remontée à supprimer",
        "À surveiller : 1 dossier(s).",
    ]);
    let j = s.status_json();
    let a = &j["dossiers"][0];
    assert_eq!(a["code"], "A");
    assert_eq!(
        a["attention"],
        serde_json::json!(["restore-leftover"]),
        "{j}"
    );
    assert_eq!(
        a["restore_leftovers"],
        serde_json::json!(["dossiers/.svgauto-del-A.1"])
    );
    assert_eq!(j["totals"]["restore_leftovers"], 1);
    assert_eq!(j["all_backed_up"], false);

    let run = s.run();
    run.code(0).stderr_has(&[NOT_REMOVED]);
    let warnings = s.base.report_json().value["warnings"].to_string();
    assert!(
        warnings.contains(".svgauto-del-A.1 non supprimé"),
        "{warnings}"
    );

    // Not refused: restored, the tree said once, nothing more left.
    s.base.write("A", "notes.txt", "changé encore\n");
    s.own(&s.base.path("A", "notes.txt"));
    let again = s.restore("A");
    again.code(1).restored("A", "BA.SVG");
    assert_eq!(again.stderr.matches(NOT_REMOVED).count(), 1, "{again}");
    assert_eq!(s.temp_trees(), [".svgauto-del-A.1"]);
    assert_same_snapshot(&saved, &s.base.dossier_snapshot("A", false), "dossier A");

    // The dossier deleted: its leftover still needs attention (and, the
    // base's only dossier gone, the base too: every dossier gone at once).
    fs::remove_dir_all(s.base.dossier_dir("A")).unwrap();
    s.status(false).code(1).stdout_has(&[
        "  A : absent de dossiers/ ; reste d'une remontée non supprimé : dossiers/.svgauto-del-A.1",
        "À surveiller : la base (voir « Attention » plus haut) et 1 dossier(s).",
    ]);
    let j = s.status_json();
    assert_eq!(j["orphan_restore_leftovers"][0]["code"], "A", "{j}");
    assert_eq!(j["totals"]["attention"], 1, "{j}");

    // Handed over: the next run removes it and says so (`--all`: the base's
    // only dossier was deleted on purpose, which a plain run refuses).
    s.own(&s.dossiers().join(".svgauto-del-A.1"));
    s.run_with(&["--all"]).code(0).stderr_has(&[
        "Dossier A : dossier temporaire ",
        ".svgauto-del-A.1 supprimé",
    ]);
    assert!(s.temp_trees().is_empty(), "{:?}", s.temp_trees());
    let j = s.status_json();
    assert_eq!(j["totals"]["restore_leftovers"], 0, "{j}");
    assert_eq!(j["orphan_restore_leftovers"], serde_json::json!([]), "{j}");
}

/// Unmounts (lazily) whatever is mounted under `root` when dropped, so a
/// failing test leaves no mount behind.
struct Mounts(PathBuf);

impl Mounts {
    fn under(&self) -> Vec<PathBuf> {
        fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .map(PathBuf::from)
            .filter(|p| p.starts_with(&self.0))
            .collect()
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for p in self.under() {
            let _ = Command::new("umount").arg("-l").arg(&p).status();
        }
    }
}

/// As root: a mount point inside the dossier a restore sets aside cannot
/// be removed (busy). Said, shown by `status`, settled by the next run once
/// unmounted.
#[test]
#[ignore = "needs root: scripts/test"]
fn a_busy_mount_point_in_a_dossier_set_aside_is_said_and_settled_once_unmounted() {
    let (s, saved) = read_only_base(Who::Root);
    let mounts = Mounts(s.base.root().to_owned());
    let point = s.base.path("A", "montage");
    fs::create_dir_all(&point).unwrap();
    let o = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&point)
        .output()
        .expect("mount(8)");
    assert!(
        o.status.success(),
        "mount failed: {} — this test needs root (CI runs it as root)",
        String::from_utf8_lossy(&o.stderr)
    );
    fs::write(point.join("cle.txt"), "sur la clé\n").unwrap();

    let out = s.restore("A");
    out.code(1)
        .restored("A", "BA.SVG")
        .stderr_has(&[".svgauto-del-A.1 non supprimé (Device or resource busy"]);
    assert_same_snapshot(&saved, &s.base.dossier_snapshot("A", false), "dossier A");
    s.status(false)
        .code(1)
        .stdout_has(&["  A : reste d'une remontée non supprimé : dossiers/.svgauto-del-A.1"]);

    let moved = mounts.under();
    assert_eq!(moved.len(), 1, "{moved:?}");
    sh("umount", &[moved[0].as_os_str()]);
    s.run().code(0).stderr_has(&[".svgauto-del-A.1 supprimé"]);
    assert!(s.temp_trees().is_empty(), "{:?}", s.temp_trees());
    s.status(false).code(0);
}
