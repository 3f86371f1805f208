//! A base on disk for the run's unit tests.

use std::fs;

use crate::base::Base;

/// A base in a temp folder: the collaborator COMPT with every right, and
/// `dossiers` as (code, kind, bytes of its one data file `data.bin`).
pub(crate) fn base_with(dossiers: &[(&str, &str, usize)]) -> (tempfile::TempDir, Base) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir(root.join(crate::base::DOSSIERS_DIR)).unwrap();
    fs::write(
        root.join("base.toml"),
        "[collaborators.COMPT]\ndossiers = \"*\"\n",
    )
    .unwrap();
    for (code, kind, bytes) in dossiers {
        let dir = root.join(crate::base::DOSSIERS_DIR).join(code);
        fs::create_dir(&dir).unwrap();
        fs::write(
            dir.join("dossier.toml"),
            format!("code = \"{code}\"\nkind = \"{kind}\"\n"),
        )
        .unwrap();
        fs::write(dir.join("data.bin"), vec![b'x'; *bytes]).unwrap();
    }
    let base = Base::open(root, None).unwrap();
    (tmp, base)
}

/// The catalog in `state_dir` (created), with a run begun by COMPT: the
/// catalog and the run's id.
pub(crate) fn catalog_with_run(state_dir: &std::path::Path) -> (crate::catalog::Catalog, i64) {
    let catalog = crate::catalog::Catalog::open(state_dir).unwrap();
    let run = catalog
        .begin_run(chrono::Local::now(), "COMPT", "log/x")
        .unwrap();
    (catalog, run)
}
