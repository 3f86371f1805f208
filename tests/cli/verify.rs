//! `svgauto verify` (DESIGN.md §5, §8): each archive checked against its
//! CRCs and its manifest, one `OK` or `ENDOMMAGÉE` line each, exit 0 / 1 /
//! 2; and `svgauto run --verify`, which checks each archive it writes.

use std::fs;
use std::path::Path;

use crate::harness::*;

/// The stdout line about `path` (the line holding `path`'s display form, or
/// else its name); panics unless there is exactly one.
#[track_caller]
fn line_of<'a>(out: &'a Out, path: &Path, tail: &str) -> &'a str {
    let found: Vec<&str> = out
        .stdout_lines()
        .into_iter()
        .filter(|l| l.contains(tail))
        .collect();
    assert!(
        found.len() == 1,
        "expected one line about {} (holding {tail:?}), found {}\n{out}",
        path.display(),
        found.len()
    );
    found[0]
}

#[track_caller]
fn assert_ok(out: &Out, path: &Path, tail: &str) {
    let l = line_of(out, path, tail);
    assert!(
        l.starts_with("OK "),
        "{} should be OK: {l}\n{out}",
        path.display()
    );
}

/// The line starts with `ENDOMMAGÉE ` and names each of `needles` (the
/// entry, the reason).
#[track_caller]
fn assert_damaged(out: &Out, path: &Path, tail: &str, needles: &[&str]) {
    let l = line_of(out, path, tail);
    assert!(
        l.starts_with("ENDOMMAGÉE "),
        "{} should be ENDOMMAGÉE: {l}\n{out}",
        path.display()
    );
    for n in needles {
        assert!(l.contains(n), "the line should name {n:?}: {l}\n{out}");
    }
}

#[test]
fn good_archives_of_every_method_are_ok() {
    let base = restorable_base("zstd");
    for method in ["zstd", "deflate", "store"] {
        base.set("archive", "method", &format!("\"{method}\""));
        base.run_compt(&["--all"]).code(0);
        let (a, c) = (base.archive("A"), base.archive("C"));
        let out = base.verify(&[&a, &c]);
        out.code(0);
        assert_eq!(out.stdout_lines().len(), 2, "one line per archive\n{out}");
        assert_ok(&out, &a, "BA.SVG");
        assert_ok(&out, &c, "BC.SVG");
    }
}

#[test]
fn a_damaged_archive_is_named_with_the_entry_and_exit_is_1() {
    let base = restorable_base("store");
    let crc = base.copy_archive("A", "crc", "BA.SVG");
    flip_stored_byte(&crc, &pieces_bin());
    let intrus = base.scratch("intrus").join("BA.SVG");
    Craft::of(&base.archive("A"))
        .add_file("compta/intrus.dat", b"pas dans le manifeste\n", false)
        .write(&intrus);
    let empty = base.scratch("vide").join("BA.SVG");
    fs::create_dir_all(empty.parent().unwrap()).unwrap();
    fs::write(&empty, "").unwrap();
    let good = base.archive("C");

    let out = base.verify(&[&crc, &good, &intrus, &empty]);
    out.code(1);
    assert_eq!(out.stdout_lines().len(), 4, "one line per archive\n{out}");
    assert_damaged(&out, &crc, "crc/BA.SVG", &["compta/pieces.bin", "CRC"]);
    assert_damaged(
        &out,
        &intrus,
        "intrus/BA.SVG",
        &["compta/intrus.dat", "manifeste"],
    );
    assert_damaged(&out, &empty, "vide/BA.SVG", &[]);
    assert_ok(&out, &good, "BC.SVG");

    // Alone, each gives its own exit code.
    base.verify(&[&good]).code(0);
    base.verify(&[&crc]).code(1);
}

#[test]
fn a_folder_is_searched_recursively_for_svg_files() {
    let base = restorable_base("store");
    let dir = base.scratch("archives");
    fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    fs::copy(base.archive("A"), dir.join("BA.SVG")).unwrap();
    fs::copy(base.archive("C"), dir.join("sub/deeper/BC.SVG")).unwrap();
    fs::write(dir.join("sub/lisez-moi.txt"), "pas une archive\n").unwrap();

    let out = base.verify(&[&dir]);
    out.code(0);
    assert_eq!(out.stdout_lines().len(), 2, "one line per *.SVG\n{out}");
    assert_ok(&out, &dir.join("BA.SVG"), "BA.SVG");
    assert_ok(&out, &dir.join("sub/deeper/BC.SVG"), "deeper/BC.SVG");

    let bad = dir.join("sub/BA.SVG");
    fs::copy(base.archive("A"), &bad).unwrap();
    flip_stored_byte(&bad, &pieces_bin());
    let out = base.verify(&[&dir]);
    out.code(1);
    assert_eq!(out.stdout_lines().len(), 3, "one line per *.SVG\n{out}");
    assert_damaged(&out, &bad, "sub/BA.SVG", &["compta/pieces.bin"]);
    assert_ok(&out, &dir.join("BA.SVG"), "archives/BA.SVG");
    assert_ok(&out, &dir.join("sub/deeper/BC.SVG"), "deeper/BC.SVG");
}

#[test]
fn usage_errors_exit_2() {
    let base = restorable_base("zstd");
    base.verify(&[]).code(2);
    base.verify(&[&base.scratch("nulle-part.SVG")]).code(2);
    base.verify(&[&base.scratch("pas-de-dossier")]).code(2);
    // A missing path among good ones is still a usage error.
    base.verify(&[&base.archive("A"), &base.scratch("nulle-part.SVG")])
        .code(2);
}

#[test]
fn run_with_verify_saves_good_archives() {
    for method in ["zstd", "deflate", "store"] {
        let base = Base::new().collaborator("COMPT", "*").setting(
            "archive",
            "method",
            &format!("\"{method}\""),
        );
        for (i, code) in ["A", "B", "C"].iter().enumerate() {
            base.dossier(code)
                .file("compta/ecritures.dat", text_bytes(i as u64, 30_000))
                .file("compta/pieces.bin", random_bytes(i as u64, 140_000))
                .file("vide.dat", "")
                .empty_dir("exports");
        }
        base.run_compt(&["--verify"]).code(0);
        let report = base.report();
        report.assert_lines_unordered(&[saved_line("A"), saved_line("B"), saved_line("C")]);
        report.assert_summary(3, 0, 3);
        for code in ["A", "B", "C"] {
            base.assert_archive_matches(code, false);
        }
        let out = base.verify(&[&base.sauve()]);
        out.code(0);
        assert!(
            out.stdout_lines().iter().all(|l| l.starts_with("OK ")),
            "method {method}\n{out}"
        );
        assert!(base.partials().is_empty(), "partials left");

        // And the next run has nothing to do.
        let before = base.stamps();
        base.run_compt(&["--verify"]).code(0);
        before.assert_untouched(&base.stamps());
    }
}
