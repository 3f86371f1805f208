//! The SVG archive (DESIGN.md §5): a zip that 7-Zip opens and that holds the
//! dossier's files byte for byte, whatever their size, depth or name.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use crate::harness::*;

/// Dossiers full of the cases that break zip writers.
fn awkward_base() -> Base {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("EDGE")
        .file("vide.dat", "")
        .file("compta/vide.dat", "")
        .empty_dir("exports")
        .empty_dir("a/b/dossier vide")
        .file("bloc-131072.bin", random_bytes(1, 131_072))
        .file("bloc-131071.bin", random_bytes(2, 131_071))
        .file("bloc-131073.bin", random_bytes(3, 131_073))
        .file("bloc-262144.bin", random_bytes(4, 262_144))
        .file("texte-131072.txt", text_bytes(5, 131_072))
        .file("un-octet", "x");
    let deep = (1..=12)
        .map(|i| format!("niveau{i:02}"))
        .collect::<Vec<_>>()
        .join("/");
    base.dossier("DEEP")
        .file(&format!("{deep}/profond.txt"), "tout au fond\n")
        .file(&format!("{deep}/{}.txt", "n".repeat(120)), "nom long\n")
        .file("racine.txt", "en haut\n");
    // NFC (precomposed) names, as the example base writes them…
    base.dossier("ACCENTS")
        .file("Déclarations/2025/Liasse fiscale été.txt", "liasse\n")
        .file("Clôture/état récapitulatif.csv", "compte;solde\n")
        .file("Clôture/Procès-verbal d'assemblée.txt", "PV\n")
        // …and NFD (decomposed) names, as macOS writes them.
        .file(
            "De\u{301}composé/Re\u{301}sume\u{301} e\u{301}te\u{301}.txt",
            "nfd\n",
        )
        .file("ASCII spécial (copie) #2 & co + 100%.txt", "ponctuation\n");
    base.dossier("LOCKED")
        .file("compta/ecritures.dat", text_bytes(6, 5_000))
        .file("dossier.lock", "")
        .file("documents/statuts.txt", "statuts\n");
    base.dossier("BIG")
        .file("compta/pieces.bin", random_bytes(7, 600_000))
        .file("compta/ecritures.dat", text_bytes(8, 600_000));
    base
}

const AWKWARD: [&str; 5] = ["EDGE", "DEEP", "ACCENTS", "LOCKED", "BIG"];

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn zstd_archives_open_with_7zip_and_hold_exactly_the_dossier_files() {
    let base = awkward_base();
    base.run_compt(&[]).code(0);
    assert_eq!(base.archived(), set(&AWKWARD), "archives in sauve/");
    for code in AWKWARD {
        let x = base.assert_archive_matches(code, false);
        let archive = base.archive(code);
        let methods = entry_methods(&archive);
        assert!(
            methods.values().any(|m| *m == zip::CompressionMethod::Zstd),
            "{}: zstd is the default method, entries: {methods:?}",
            archive.display()
        );
        assert!(
            !methods.contains_key("dossier.lock"),
            "{}: the lock file is archived",
            archive.display()
        );
        assert_manifest_names_every_file(&base, code, &x);
    }
}

#[test]
#[ignore = "needs Info-ZIP unzip: scripts/test"]
fn deflate_archives_pass_unzip_t() {
    let base = awkward_base().setting("archive", "method", "\"deflate\"");
    base.run_compt(&[]).code(0);
    for code in AWKWARD {
        let archive = base.archive(code);
        unzip_test(&archive);
        base.assert_archive_matches(code, false);
        let methods = entry_methods(&archive);
        assert!(
            methods.values().all(|m| matches!(
                m,
                zip::CompressionMethod::Deflated | zip::CompressionMethod::Stored
            )),
            "{}: method deflate, entries: {methods:?}",
            archive.display()
        );
    }
}

#[test]
#[ignore = "needs Info-ZIP unzip: scripts/test"]
fn store_archives_pass_unzip_t() {
    let base = awkward_base().setting("archive", "method", "\"store\"");
    base.run_compt(&[]).code(0);
    for code in AWKWARD {
        let archive = base.archive(code);
        unzip_test(&archive);
        base.assert_archive_matches(code, false);
        let methods = entry_methods(&archive);
        assert!(
            methods
                .values()
                .all(|m| *m == zip::CompressionMethod::Stored),
            "{}: method store, entries: {methods:?}",
            archive.display()
        );
    }
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn modification_times_are_kept() {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("DATES")
        .file("compta/ecritures.dat", text_bytes(1, 3_000))
        .file("ancien.txt", "2019\n")
        .file("vide.dat", "");
    // Even seconds: exact in the DOS time too.
    let times = [
        ("compta/ecritures.dat", 1_623_752_430u64), // 2021-06-15 10:20:30 UTC
        ("ancien.txt", 1_546_300_800),              // 2019-01-01 00:00:00 UTC
        ("vide.dat", 1_700_000_000),
    ];
    for (rel, secs) in times {
        base.set_mtime(
            "DATES",
            rel,
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        );
    }
    base.run_compt(&[]).code(0);
    let x = base.assert_archive_matches("DATES", false);
    let mut bad = String::new();
    for (rel, secs) in times {
        let got = mtime(&x.join(rel))
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if got != secs {
            bad += &format!(
                "  {rel}: expected {secs}, 7-Zip extracted {got} ({:+} s)\n",
                got as i64 - secs as i64
            );
        }
    }
    assert!(
        bad.is_empty(),
        "modification times not kept (UTC seconds since 1970):\n{bad}"
    );
}

/// The manifest is JSON and names every archived file.
fn assert_manifest_names_every_file(base: &Base, code: &str, extracted: &std::path::Path) {
    let p = extracted.join(".svgauto/manifest.json");
    let text = read_to_string(&p);
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{code}: manifest is not JSON: {e}\n{text}"));
    let mut strings = Vec::new();
    collect_strings(&v, &mut strings);
    assert!(
        strings.iter().any(|s| s == code),
        "{code}: the manifest does not name the dossier\n{text}"
    );
    let dossier = base.dossier_snapshot(code, false);
    let missing: Vec<String> = dossier
        .files()
        .into_keys()
        .filter(|rel| !strings.iter().any(|s| s == rel))
        .map(show)
        .collect();
    assert!(
        missing.is_empty(),
        "{code}: files missing from the manifest: {missing:?}\n{text}"
    );
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Random trees round-trip through an archive
// ---------------------------------------------------------------------------

fn name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9]",
        1 => Just("é".to_owned()),
        1 => Just("e\u{301}".to_owned()),
        1 => Just("ç".to_owned()),
        1 => Just(" ".to_owned()),
        1 => Just("-".to_owned()),
        1 => Just("_".to_owned()),
        1 => Just(".".to_owned()),
    ];
    ("[a-zA-Z0-9]", prop::collection::vec(piece, 0..10))
        .prop_map(|(first, rest)| first + &rest.concat())
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 1..2_000),
        (
            0u64..1000,
            prop::sample::select(vec![131_071usize, 131_072, 131_073])
        )
            .prop_map(|(s, n)| random_bytes(s, n)),
        (0u64..1000, 1usize..50_000).prop_map(|(s, n)| text_bytes(s, n)),
    ]
}

fn tree() -> impl Strategy<Value = Vec<(Vec<String>, String, Vec<u8>)>> {
    prop::collection::vec(
        (prop::collection::vec(name(), 0..5), name(), content()),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 8,
        max_shrink_iters: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    #[ignore = "needs 7-Zip: scripts/test"]
    fn random_trees_round_trip_through_an_archive(files in tree()) {
        let base = Base::new().collaborator("COMPT", "*");
        let d = base.dossier("RANDOM");
        for (dirs, file, bytes) in &files {
            let rel = dirs.iter().chain(std::iter::once(file)).cloned().collect::<Vec<_>>().join("/");
            let top = rel.split('/').next().unwrap();
            if ["dossier.toml", "dossier.lock", "documents", ".svgauto"].contains(&top) {
                continue;
            }
            // Skip what would clash with a file or folder already there.
            let p = d.dir().join(&rel);
            if p.exists() || p.ancestors().skip(1).any(|a| a.is_file()) {
                continue;
            }
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, bytes).unwrap();
        }
        base.run_compt(&[]).code(0);
        base.assert_archive_matches("RANDOM", false);
    }
}
