//! The nothing-changed night is one scan: stat every file of every dossier,
//! read no content. This measures the scan of one dossier of many small
//! files (run: `cargo bench --bench scan`).

use std::fs;

fn main() {
    divan::main();
}

/// A dossier of `n` small files spread over 20 folders.
fn dossier(n: usize) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("dossier.toml"), "code = \"D\"\n").unwrap();
    for i in 0..n {
        let dir = d.path().join(format!("compta/exercice-{}", i % 20));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("table-{i}.dat")), i.to_le_bytes()).unwrap();
    }
    d
}

#[divan::bench(args = [100, 1_000, 10_000])]
fn scan_dossier(bencher: divan::Bencher, files: usize) {
    let d = dossier(files);
    bencher.bench(|| svgauto::scan::scan_dossier("D", d.path(), false));
}
