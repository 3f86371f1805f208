//! `svgauto restore` ("Remonter", DESIGN.md §8): a dossier brought back to
//! the state of its archive byte for byte and to the nanosecond, its
//! documents kept when the archive does not hold them; and every archive it
//! must refuse — in use, `S*.SVG`, unreadable, damaged, lying manifest,
//! hostile entry names, symbolic links — refused with a clear message,
//! nothing written anywhere, the live dossier untouched.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use crate::harness::*;

/// The changes a user makes after a backup: a file rewritten, one added,
/// one deleted, a folder replaced by a file and a file by a folder, the
/// empty folder filled, times changed.
fn modify_a(base: &Base) {
    base.write("A", "compta/ecritures.dat", text_bytes(99, 41_000));
    base.write("A", "compta/nouveau.dat", "ajouté après la sauvegarde\n");
    base.remove("A", "vide.dat");
    fs::remove_file(base.path("A", "notes.txt")).unwrap();
    base.write(
        "A",
        "notes.txt/dedans.txt",
        "un dossier à la place d'un fichier\n",
    );
    fs::remove_dir_all(base.path("A", "a")).unwrap();
    base.write("A", "a", "un fichier à la place d'un dossier\n");
    base.write("A", "exports/balance.csv", "compte;solde\n");
    base.set_mtime(
        "A",
        "Clôture/état récapitulatif.csv",
        SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 1),
    );
}

/// After a restore of the latest backup, the next run finds nothing
/// modified: the restored state is exactly the saved one.
#[track_caller]
fn assert_run_has_nothing_to_do(base: &Base) {
    let before = base.stamps();
    base.run_compt(&[]).code(0);
    before.assert_untouched(&base.stamps());
    base.report().assert_no_dossier_lines();
    base.report_json()
        .assert_outcomes(&[("A", "unchanged"), ("C", "unchanged")]);
}

#[test]
fn restore_over_a_modified_dossier_gives_back_the_archived_state_and_keeps_documents() {
    let base = restorable_base("zstd");
    let saved = base.dossier_snapshot("A", false);
    let c = base.dossier_snapshot("C", true);

    modify_a(&base);
    // Documents changed after the backup, which does not hold them
    // (include_documents = false): the live ones are kept as they are.
    base.write("A", "documents/statuts.txt", "statuts modifiés\n");
    base.write("A", "documents/2026/nouveau.pdf", random_bytes(5, 3_000));
    let documents = base.dossier_snapshot("A", true).under("documents");

    let archive = base.archive("A");
    base.restore(&[&archive]).code(0).restored("A", "BA.SVG");

    assert_same_snapshot(
        &saved,
        &base.dossier_snapshot("A", false),
        "dossier A restored (documents aside) vs A when saved",
    );
    assert_same_snapshot(
        &documents,
        &base.dossier_snapshot("A", true).under("documents"),
        "documents/ of A, not in the archive: kept as they were",
    );
    assert_same_snapshot(&c, &base.dossier_snapshot("C", true), "dossier C");
    assert!(
        !base.path("A", MANIFEST).exists(),
        "the manifest is not a file of the dossier"
    );
    base.assert_no_restore_leftovers();
    assert_run_has_nothing_to_do(&base);
}

#[test]
fn restore_with_documents_in_the_archive_replaces_them_and_keeps_the_others() {
    let base =
        Base::new()
            .collaborator("COMPT", "*")
            .setting("backup", "include_documents", "true");
    base.dossier("A")
        .file("compta/ecritures.dat", text_bytes(1, 20_000))
        .file("documents/statuts.txt", "statuts\n")
        .file("documents/2025/bilan.pdf", random_bytes(2, 4_000));
    base.dossier("C").file("compta/ecritures.dat", "c\n");
    base.run_compt(&[]).code(0);
    let saved = base.dossier_snapshot("A", true);

    base.write("A", "documents/statuts.txt", "statuts modifiés\n");
    base.write("A", "documents/ajout.pdf", "ajouté après la sauvegarde\n");
    base.remove("A", "documents/2025/bilan.pdf");
    base.write("A", "compta/ecritures.dat", "réécrit\n");

    base.restore(&[&base.archive("A")])
        .code(0)
        .restored("A", "BA.SVG");
    // DESIGN.md §8: associated documents the archive does not hold are kept.
    let added = base.path("A", "documents/ajout.pdf");
    assert_eq!(
        std::fs::read_to_string(&added).unwrap(),
        "ajouté après la sauvegarde\n",
        "a document added after the backup is kept"
    );
    std::fs::remove_file(&added).unwrap();
    assert_same_snapshot(
        &saved,
        &base.dossier_snapshot("A", true),
        "dossier A with its documents restored (less the kept one) vs A when saved",
    );
    base.assert_no_restore_leftovers();
    // The restore kept a document the archive did not hold, so it did not
    // record the dossier as equal to its backup; the document removed by
    // hand since, the next run saves A once more (its files are new files
    // since the restore), then has nothing to do.
    base.run_compt(&[]).code(0);
    base.report().assert_line("A", &saved_line("A"));
    assert_run_has_nothing_to_do(&base);
}

#[test]
fn restore_recreates_a_deleted_dossier() {
    let base = restorable_base("deflate");
    let saved = base.dossier_snapshot("A", false);
    fs::remove_dir_all(base.dossier_dir("A")).unwrap();

    base.restore(&[&base.archive("A")])
        .code(0)
        .restored("A", "BA.SVG");
    assert_same_snapshot(
        &saved,
        &base.dossier_snapshot("A", false),
        "dossier A recreated vs A when saved",
    );
    base.assert_no_restore_leftovers();
    assert_run_has_nothing_to_do(&base);
}

#[test]
fn restore_to_extracts_into_a_new_folder_and_leaves_the_base_alone() {
    let base = restorable_base("store");
    let saved = base.dossier_snapshot("A", false);
    modify_a(&base);
    let base_before = snapshot(base.root(), &|_| false);

    let to = base.scratch("ailleurs");
    fs::create_dir(&to).unwrap();
    base.restore_to(&to, &[&base.archive("A")])
        .code(0)
        .restored("A", "BA.SVG");
    assert_eq!(list_dir(&to), ["A"], "{} holds only A/", to.display());
    assert_same_snapshot(
        &saved,
        &snapshot(&to.join("A"), &|_| false),
        "restore --to: ailleurs/A vs A when saved",
    );
    assert_same_snapshot(
        &base_before,
        &snapshot(base.root(), &|_| false),
        "the base after restore --to",
    );

    // A second time: ailleurs/A exists and is not empty, so it is refused
    // and left as it is.
    let extracted = snapshot(&to, &|_| false);
    let out = base.restore_to(&to, &[&base.archive("A")]);
    out.code(1).refused("BA.SVG", &[]);
    assert_same_snapshot(
        &extracted,
        &snapshot(&to, &|_| false),
        "ailleurs/ after a refused restore --to",
    );
}

#[test]
fn restore_is_refused_while_the_dossier_is_in_use_and_the_dossier_is_untouched() {
    let base = restorable_base("zstd");
    modify_a(&base);
    let holder = base.hold("A");
    assert_refused_cleanly(&base, &base.archive("A"), &["utilisées par un utilisateur"]);
    holder.release();

    // Once the application has closed it, the same restore works.
    let saved_c = base.dossier_snapshot("C", true);
    base.restore(&[&base.archive("A")])
        .code(0)
        .restored("A", "BA.SVG");
    assert_same_snapshot(&saved_c, &base.dossier_snapshot("C", true), "dossier C");
    assert_run_has_nothing_to_do(&base);
}

#[test]
fn several_archives_at_once_each_restored_or_refused_on_its_own() {
    let base = restorable_base("zstd");
    let saved_a = base.dossier_snapshot("A", false);
    modify_a(&base);
    base.write("C", "compta/ecritures.dat", "modifié\n");
    let live_c = base.dossier_snapshot("C", true);
    let bad = base.copy_archive("C", "abime", "BC.SVG");
    cut_in_half(&bad);

    let out = base.restore(&[&bad, &base.archive("A")]);
    out.code(1)
        .restored("A", "BA.SVG")
        .refused("BC.SVG", &["illisible"]);
    assert_same_snapshot(&saved_a, &base.dossier_snapshot("A", false), "dossier A");
    assert_same_snapshot(&live_c, &base.dossier_snapshot("C", true), "dossier C");
    base.assert_no_restore_leftovers();
}

#[test]
fn usage_errors_exit_2() {
    let base = restorable_base("zstd");
    let archive = base.archive("A");
    let a = archive.to_str().unwrap();
    let root = base.root().to_str().unwrap();
    let before = base.everything();
    // No archive named.
    base.svgauto(&["restore", "--base", root]).code(2);
    // Neither --base nor --to.
    base.svgauto(&["restore", a]).code(2);
    // A base that does not exist.
    let missing = base.scratch("pas-de-base");
    base.svgauto(&["restore", "--base", missing.to_str().unwrap(), a])
        .code(2);
    assert!(!missing.exists(), "{} was created", missing.display());
    assert_same_snapshot(&before, &base.everything(), "the temp folder");
}

// ---------------------------------------------------------------------------
// Archives restore must refuse
// ---------------------------------------------------------------------------

/// `restore --base` of `file` is refused (exit 1) with a reason holding
/// each of `needles`, and nothing at all changed under the temp folder —
/// the live dossiers, the base, the scratch files — but lock files.
#[track_caller]
fn assert_refused_cleanly(base: &Base, file: &Path, needles: &[&str]) {
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    let live_a = base.dossier_snapshot("A", true);
    let before = base.everything();
    let out = base.restore(&[file]);
    out.code(1).refused(&name, needles);
    assert!(
        !out.stdout.contains("remonté"),
        "a refused restore says it restored\n{out}"
    );
    assert_same_snapshot(
        &live_a,
        &base.dossier_snapshot("A", true),
        &format!("live dossier A after the refused restore of {name}"),
    );
    assert_same_snapshot(
        &before,
        &base.everything(),
        &format!("the temp folder (base and scratch) after the refused restore of {name}"),
    );
    base.assert_no_restore_leftovers();
}

/// `restore --to` of `file` is refused too, writes no file anywhere —
/// neither in the target folder nor outside it.
#[track_caller]
fn assert_refused_to(base: &Base, file: &Path, needles: &[&str]) {
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    let to = base.scratch(&format!("to-{}", unique()));
    fs::create_dir(&to).unwrap();
    let before = base.everything();
    let out = base.restore_to(&to, &[file]);
    out.code(1).refused(&name, needles);
    let to_rel = to.file_name().unwrap().to_str().unwrap().to_owned();
    let in_to = base.everything().under(&to_rel);
    assert!(
        in_to.0.values().all(|i| matches!(i, Item::Dir)),
        "restore --to of {name} was refused but left files in {}: {:?}",
        to.display(),
        in_to.0.keys().collect::<Vec<_>>()
    );
    let strip = |s: Snapshot| {
        Snapshot(
            s.0.into_iter()
                .filter(|(k, _)| *k != to_rel && !k.starts_with(&format!("{to_rel}/")))
                .collect(),
        )
    };
    assert_same_snapshot(
        &strip(before),
        &strip(base.everything()),
        &format!("the temp folder outside the target after the refused restore --to of {name}"),
    );
}

/// A copy of A's archive in a scratch folder, with modifications.
fn crafted(base: &Base, name: &str, craft: impl FnOnce(Craft) -> Craft) -> PathBuf {
    let dest = base.scratch(&format!("craft-{}", unique())).join(name);
    craft(Craft::of(&base.archive("A"))).write(&dest);
    dest
}

#[test]
fn an_s_file_is_not_a_backup() {
    let base = restorable_base("zstd");
    modify_a(&base);
    let s = base.copy_archive("A", "echange", "SA.SVG");
    assert_refused_cleanly(&base, &s, &["n'est pas une sauvegarde"]);
    assert_refused_to(&base, &s, &["n'est pas une sauvegarde"]);
}

#[test]
fn an_empty_a_truncated_or_a_non_zip_file_is_unreadable() {
    let base = restorable_base("zstd");
    modify_a(&base);

    let empty = base.scratch("vide").join("BA.SVG");
    fs::create_dir_all(empty.parent().unwrap()).unwrap();
    fs::write(&empty, "").unwrap();
    assert_refused_cleanly(&base, &empty, &["illisible"]);
    assert_refused_to(&base, &empty, &["illisible"]);

    let half = base.copy_archive("A", "moitie", "BA.SVG");
    cut_in_half(&half);
    assert_refused_cleanly(&base, &half, &["illisible"]);
    assert_refused_to(&base, &half, &["illisible"]);

    let text = base.scratch("texte").join("BA.SVG");
    fs::create_dir_all(text.parent().unwrap()).unwrap();
    fs::write(&text, "ceci n'est pas une archive zip\n".repeat(50)).unwrap();
    assert_refused_cleanly(&base, &text, &["illisible"]);
    assert_refused_to(&base, &text, &["illisible"]);
}

#[test]
fn a_flipped_byte_in_file_data_is_a_crc_error() {
    let base = restorable_base("store");
    modify_a(&base);
    let bad = base.copy_archive("A", "crc", "BA.SVG");
    flip_stored_byte(&bad, &pieces_bin());
    assert_refused_cleanly(&base, &bad, &["CRC"]);
    assert_refused_to(&base, &bad, &["CRC"]);
}

#[test]
fn a_manifest_that_does_not_match_the_entries_is_refused() {
    let base = restorable_base("zstd");
    modify_a(&base);
    let cases = [
        (
            "a file listed but missing",
            crafted(&base, "BA.SVG", |c| c.drop_entry("notes.txt")),
        ),
        (
            "an entry not listed",
            crafted(&base, "BA.SVG", |c| {
                c.add_file("compta/intrus.dat", b"pas dans le manifeste\n", false)
            }),
        ),
        (
            "a wrong size",
            crafted(&base, "BA.SVG", |c| {
                c.edit_entry("notes.txt", |e| {
                    e["size"] = (e["size"].as_u64().unwrap() + 1).into();
                })
            }),
        ),
    ];
    for (what, file) in &cases {
        eprintln!("case: {what} ({})", file.display());
        assert_refused_cleanly(&base, file, &["manifeste"]);
        assert_refused_to(&base, file, &["manifeste"]);
    }
}

#[test]
fn a_code_that_does_not_match_the_file_name_is_refused() {
    // A's archive under C's name: neither A nor C may change.
    let base = restorable_base("zstd");
    modify_a(&base);
    let live_c = base.dossier_snapshot("C", true);
    let renamed = base.copy_archive("A", "renomme", "BC.SVG");
    assert_refused_cleanly(&base, &renamed, &["ne correspond pas"]);
    assert_same_snapshot(&live_c, &base.dossier_snapshot("C", true), "dossier C");
    assert_refused_to(&base, &renamed, &["ne correspond pas"]);
}

#[test]
fn hostile_entry_names_are_refused_and_nothing_lands_outside() {
    let base = restorable_base("zstd");
    modify_a(&base);
    let outside = base.scratch("dehors");
    let absolute = format!("{}/absolu.txt", outside.display());
    let names = [
        "../evil.txt",
        "../../evil.txt",
        "../../../evil.txt",
        "compta/../../evil.txt",
        absolute.as_str(),
        // Path syntax on Windows only: on Unix these are plain file names
        // (see `windows_path_syntax_is_a_plain_name_on_unix`).
        #[cfg(windows)]
        "C:/evil.txt",
        #[cfg(windows)]
        "C:evil.txt",
        #[cfg(windows)]
        "compta\\evil.txt",
        #[cfg(windows)]
        "..\\..\\evil.txt",
    ];
    for name in names {
        eprintln!("case: entry {name:?}");
        let file = crafted(&base, "BA.SVG", |c| c.add_file(name, b"evil\n", true));
        assert_refused_cleanly(&base, &file, &["chemin", name]);
        assert_refused_to(&base, &file, &["chemin", name]);
        assert!(!outside.exists(), "{} was written", outside.display());
    }
}

/// A backslash or a drive-like `C:` is path syntax on Windows, but on Unix
/// an ordinary character of a file name that a Linux dossier may hold: such
/// an entry is restored as that name, inside the dossier, never elsewhere.
#[cfg(unix)]
#[test]
fn windows_path_syntax_is_a_plain_name_on_unix() {
    let base = restorable_base("zstd");
    let outside = base.scratch("dehors");
    for name in ["C:evil.txt", "compta\\evil.txt", "C:/evil.txt"] {
        eprintln!("case: entry {name:?}");
        let file = crafted(&base, "BA.SVG", |c| c.add_file(name, b"plain\n", true));
        let to = base.scratch(&format!("to-{}", name.len()));
        base.svgauto(&[
            "restore",
            "--to",
            to.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .code(0);
        assert_eq!(std::fs::read(to.join("A").join(name)).unwrap(), b"plain\n");
        assert!(!outside.exists(), "{} was written", outside.display());
    }
}

#[test]
fn symbolic_link_entries_are_refused() {
    let base = restorable_base("zstd");
    modify_a(&base);
    let outside = base.scratch("dehors");
    fs::create_dir(&outside).unwrap();
    let target = outside.to_str().unwrap().to_owned();

    let link = crafted(&base, "BA.SVG", |c| c.add_symlink("lien", &target, true));
    assert_refused_cleanly(&base, &link, &["lien symbolique"]);
    assert_refused_to(&base, &link, &["lien symbolique"]);

    // The classic escape: a link, then a file written through it.
    let through = crafted(&base, "BA.SVG", |c| {
        c.add_symlink("passage", &target, true)
            .add_file("passage/evil.txt", b"evil\n", true)
    });
    assert_refused_cleanly(&base, &through, &["lien symbolique"]);
    assert_refused_to(&base, &through, &["lien symbolique"]);
    assert_eq!(
        list_dir(&outside),
        Vec::<String>::new(),
        "written through the link"
    );

    let relative = crafted(&base, "BA.SVG", |c| {
        c.add_symlink("remonte", "../../..", true)
            .add_file("remonte/evil.txt", b"evil\n", true)
    });
    assert_refused_cleanly(&base, &relative, &["lien symbolique"]);
    assert_refused_to(&base, &relative, &["lien symbolique"]);
}

// ---------------------------------------------------------------------------
// Random trees: run, restore --to, identical
// ---------------------------------------------------------------------------

fn name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        5 => "[a-zA-Z0-9]",
        1 => Just("é".to_owned()),         // NFC
        1 => Just("e\u{301}".to_owned()),  // NFD
        1 => Just("Ç".to_owned()),
        1 => Just("ô".to_owned()),
        1 => Just(" ".to_owned()),
        1 => Just("-".to_owned()),
        1 => Just("_".to_owned()),
        1 => Just(".".to_owned()),
    ];
    ("[a-zA-Z0-9]", prop::collection::vec(piece, 0..12))
        .prop_map(|(first, rest)| first + &rest.concat())
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        5 => prop::collection::vec(any::<u8>(), 1..3_000),
        2 => (0u64..1000).prop_map(|s| random_bytes(s, 131_072)),
        3 => (0u64..1000, 1usize..80_000).prop_map(|(s, n)| text_bytes(s, n)),
        1 => (0u64..1000, 200_000usize..2_000_000).prop_map(|(s, n)| random_bytes(s, n)),
    ]
}

/// Seconds and nanoseconds since 1970; before 1980 and after 2038 too,
/// which neither the DOS time nor the 32-bit extended timestamp can hold.
fn mtime() -> impl Strategy<Value = SystemTime> {
    (1_000_000u64..4_000_000_000, 0u32..1_000_000_000)
        .prop_map(|(s, n)| SystemTime::UNIX_EPOCH + Duration::new(s, n))
}

/// Folders (a path) and maybe a file in it; a path without a file is an
/// empty folder.
type Spec = Vec<(Vec<String>, Option<(String, Vec<u8>)>, SystemTime)>;

fn tree() -> impl Strategy<Value = Spec> {
    prop::collection::vec(
        (
            prop::collection::vec(name(), 0..8),
            prop::option::weighted(0.8, (name(), content())),
            mtime(),
        ),
        1..10,
    )
}

/// Lays out `spec` in the dossier, skipping what would clash with what is
/// already there or with the dossier's own names.
fn lay_out(dir: &Path, spec: &Spec) {
    let reserved = ["dossier.toml", "dossier.lock", "documents", ".svgauto"];
    let blocked = |p: &Path| p.exists() || p.ancestors().skip(1).any(|a| a.is_file());
    for (dirs, file, t) in spec {
        let mut rel: Vec<&str> = dirs.iter().map(String::as_str).collect();
        if let Some((n, _)) = file {
            rel.push(n);
        }
        let Some(top) = rel.first() else { continue };
        if reserved.contains(top) {
            continue;
        }
        let p = dir.join(rel.join("/"));
        if blocked(&p) {
            continue;
        }
        match file {
            Some((_, bytes)) => {
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(&p, bytes).unwrap();
                set_mtime(&p, *t);
            }
            None => fs::create_dir_all(&p).unwrap(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 12,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_trees_round_trip_through_run_and_restore_to(spec in tree(), seed in 0u64..1000) {
        let base = Base::new().collaborator("COMPT", "*");
        // What every tree holds, whatever the draw.
        let d = base
            .dossier("RT")
            .file("vide.dat", "")
            .file("bloc-131072.bin", random_bytes(seed, 131_072))
            .file("Clôture/état.txt", "nfc\n")
            .file("De\u{301}claration/re\u{301}sume\u{301}.txt", "nfd\n")
            .empty_dir("dossier vide")
            .empty_dir("x/y/z/profond et vide");
        set_mtime(
            &d.dir().join("bloc-131072.bin"),
            SystemTime::UNIX_EPOCH + Duration::new(1_234_567_890, 987_654_321),
        );
        lay_out(d.dir(), &spec);
        let want = base.dossier_snapshot("RT", false);

        for method in ["zstd", "deflate", "store"] {
            base.set("archive", "method", &format!("\"{method}\""));
            base.run_compt(&["--all"]).code(0);
            let to = base.scratch(&format!("to-{method}"));
            fs::create_dir(&to).unwrap();
            base.restore_to(&to, &[&base.archive("RT")])
                .code(0)
                .restored("RT", "BRT.SVG");
            prop_assert_eq!(list_dir(&to), vec!["RT".to_owned()]);
            assert_same_snapshot(
                &want,
                &snapshot(&to.join("RT"), &|_| false),
                &format!("method {method}: restored RT vs the dossier"),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Damaged bytes: never a panic, never a write outside the target
// ---------------------------------------------------------------------------

/// A small real archive of dossier `A` for each method, and the dossier as
/// a restore of it must give it back.
fn small_archives() -> &'static (Vec<Vec<u8>>, Snapshot) {
    static CELL: OnceLock<(Vec<Vec<u8>>, Snapshot)> = OnceLock::new();
    CELL.get_or_init(|| {
        let base = Base::new().collaborator("COMPT", "*");
        base.dossier("A")
            .file("compta/ecritures.dat", text_bytes(3, 6_000))
            .file("compta/pieces.bin", random_bytes(4, 2_000))
            .file("Clôture/état.txt", "état\n")
            .file("vide.dat", "")
            .empty_dir("exports");
        let want = base.dossier_snapshot("A", false);
        let archives = ["zstd", "deflate", "store"]
            .iter()
            .map(|m| {
                base.set("archive", "method", &format!("\"{m}\""));
                base.run_compt(&["--all"]).code(0);
                fs::read(base.archive("A")).unwrap()
            })
            .collect();
        (archives, want)
    })
}

#[derive(Debug, Clone)]
struct Damage {
    method: usize,
    /// Anywhere in the file.
    flips: Vec<(prop::sample::Index, u8)>,
    /// In the last 400 bytes: the central directory and the manifest.
    tail_flips: Vec<(prop::sample::Index, u8)>,
    truncate: Option<prop::sample::Index>,
}

fn damage() -> impl Strategy<Value = Damage> {
    let flip = (any::<prop::sample::Index>(), 1u8..=255);
    (
        0usize..3,
        prop::collection::vec(flip.clone(), 0..4),
        prop::collection::vec(flip, 0..3),
        prop::option::weighted(0.3, any::<prop::sample::Index>()),
    )
        .prop_map(|(method, flips, tail_flips, truncate)| Damage {
            method,
            flips,
            tail_flips,
            truncate,
        })
}

impl Damage {
    fn apply(&self, original: &[u8]) -> Vec<u8> {
        let mut b = original.to_vec();
        for (i, x) in &self.flips {
            let at = i.index(b.len());
            b[at] ^= x;
        }
        let tail = b.len().min(400);
        let start = b.len() - tail;
        for (i, x) in &self.tail_flips {
            let at = start + i.index(tail);
            b[at] ^= x;
        }
        if let Some(i) = &self.truncate {
            b.truncate(i.index(b.len()));
        }
        b
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 30,
        max_shrink_iters: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn damaged_archives_never_crash_restore_or_verify_nor_write_outside(d in damage()) {
        let (archives, want) = small_archives();
        let base = Base::new();
        let file = base.scratch("entree").join("BA.SVG");
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, d.apply(&archives[d.method])).unwrap();
        let to = base.scratch("cible");
        fs::create_dir(&to).unwrap();
        let outside = |b: &Base| snapshot(b.top(), &|rel| rel == "cible");
        let before = outside(&base);

        let restore = base.restore_to(&to, &[&file]);
        restore.exited_0_or_1();
        let verify = base.verify(&[&file]);
        verify.exited_0_or_1();

        assert_same_snapshot(&before, &outside(&base), "the temp folder outside the target");
        if restore.code == Some(0) {
            // Whatever was damaged did not matter: what comes out is exact.
            assert_same_snapshot(want, &snapshot(&to.join("A"), &|_| false), "restored A");
        } else {
            let files: Vec<String> = snapshot(&to, &|_| false)
                .0
                .into_iter()
                .filter(|(_, i)| !matches!(i, Item::Dir))
                .map(|(p, _)| p)
                .collect();
            prop_assert!(files.is_empty(), "refused, yet left {:?} in the target\n{}", files, restore);
        }
        prop_assert_eq!(
            restore.code,
            verify.code,
            "restore and verify disagree on the same archive\n{}\n{}",
            restore,
            verify
        );
        let line = verify.stdout_lines().join("\n");
        prop_assert!(
            line.starts_with("OK ") || line.starts_with("ENDOMMAGÉE "),
            "verify's line\n{}",
            verify
        );
    }
}
