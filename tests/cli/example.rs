//! The example base committed in `examples/cabinet/` works as its comments
//! say.

use std::path::Path;

use crate::harness::*;

/// Copies the example (its `base.toml` and `dossiers/`, without anything a
/// run may have left in the source tree) into a fresh temp base.
fn example_base() -> Base {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cabinet");
    let base = Base::new();
    std::fs::copy(src.join("base.toml"), base.root().join("base.toml")).unwrap();
    copy_dir(&src.join("dossiers"), &base.root().join("dossiers"));
    base
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "dossier.lock" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

const ELIGIBLE: [&str; 5] = ["821370", "821516", "PRESSE", "TVA", "ZBASASS"];

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn the_example_base_backs_up_its_eligible_dossiers() {
    let base = example_base();
    base.run_compt(&[]).code(0);
    assert_eq!(base.archived(), set(&ELIGIBLE), "archives in sauve/");
    for code in ELIGIBLE {
        base.assert_archive_matches(code, false);
    }
    let report = base.report();
    report.assert_lines_unordered(&ELIGIBLE.map(saved_line));
    report.assert_summary(5, 0, 5);
    base.report_json().assert_outcomes(&[
        ("ETALON", "excluded"),
        ("TEST01", "excluded"),
        ("CONFID", "excluded"),
    ]);
}

#[test]
fn the_example_collaborator_dleroy_has_rights_on_two_dossiers() {
    let base = example_base();
    base.run(&["--user", "DLEROY"]).code(1);
    assert_eq!(
        base.archived(),
        set(&["821516", "PRESSE"]),
        "archives in sauve/"
    );
    let report = base.report();
    report.assert_line("821516", &saved_line("821516"));
    report.assert_line("PRESSE", &saved_line("PRESSE"));
    for code in ["821370", "TVA", "ZBASASS"] {
        report.assert_line(code, &no_rights_line(code, "DLEROY"));
    }
}
