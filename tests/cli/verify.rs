//! `svgauto verify` (DESIGN.md §5, §8): each archive checked against its
//! CRCs and its manifest, one `OK`, `ENDOMMAGÉE` or `REFUSÉE` line each,
//! exit 0 / 1 / 2; and `svgauto run --verify`, which checks each archive it
//! writes. OK means `restore` brings the archive back exactly as recorded:
//! archives made by hand (byte by byte, [`Hand`]) in every way `restore`
//! would refuse, or restore otherwise than their records say, are refused
//! by both, naming the entry.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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
#[ignore = "needs 7-Zip: scripts/test"]
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

// ---------------------------------------------------------------------------
// OK means restored exactly as recorded
// ---------------------------------------------------------------------------

/// The time of the entries [`Hand`] adds: 2025-01-02T03:04:05.000000006Z.
const ADDED_S: i64 = 1_735_787_045;
const ADDED_NS: u32 = 6;
const ADDED_RFC3339: &str = "2025-01-02T03:04:05.000000006Z";

/// One entry of a hand-made zip: its bytes as they are in the archive
/// (method 0 unless the test says otherwise) and every header field a test
/// may make lie.
#[derive(Clone)]
struct Raw {
    name: Vec<u8>,
    /// The local header's name, when it differs from the central one.
    local_name: Option<Vec<u8>>,
    data: Vec<u8>,
    method: u16,
    flags: u16,
    /// CRC-32 in both headers (default: the data's).
    crc: Option<u32>,
    /// CRC-32 in the local header only.
    local_crc: Option<u32>,
    /// Uncompressed size in both headers (default: the data's length).
    size: Option<u32>,
    /// Unix mode, file type bits included.
    mode: u32,
    /// Extended timestamp (0x5455), Unix seconds.
    ut: Option<u32>,
    /// More extra fields, in both headers.
    extra: Vec<u8>,
    /// Listed in the central directory (else a local entry only).
    listed: bool,
}

impl Raw {
    fn new(name: &str, data: &[u8], mode: u32) -> Raw {
        Raw {
            name: name.as_bytes().to_vec(),
            local_name: None,
            data: data.to_vec(),
            method: 0,
            flags: 1 << 11,
            crc: None,
            local_crc: None,
            size: None,
            mode,
            ut: Some(ADDED_S as u32),
            extra: Vec::new(),
            listed: true,
        }
    }

    fn extra(&self) -> Vec<u8> {
        let mut x = Vec::new();
        if let Some(t) = self.ut {
            x.extend_from_slice(&0x5455u16.to_le_bytes());
            x.extend_from_slice(&5u16.to_le_bytes());
            x.push(1);
            x.extend_from_slice(&t.to_le_bytes());
        }
        x.extend_from_slice(&self.extra);
        x
    }

    fn crc(&self) -> u32 {
        self.crc.unwrap_or_else(|| crc32fast::hash(&self.data))
    }

    /// The fixed fields shared by both headers, from "flags" to the
    /// uncompressed size.
    fn common(&self, crc: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&self.flags.to_le_bytes());
        h.extend_from_slice(&self.method.to_le_bytes());
        h.extend_from_slice(&0x1822u16.to_le_bytes()); // 03:01:04
        h.extend_from_slice(&0x5a22u16.to_le_bytes()); // 2025-01-02
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&(self.data.len() as u32).to_le_bytes());
        h.extend_from_slice(&self.size.unwrap_or(self.data.len() as u32).to_le_bytes());
        h
    }
}

/// A zip written byte by byte from a real archive of svgauto: its entries
/// (stored, same names, contents, modes and times), the entries a test
/// adds, the manifest last — everything right except what the test breaks.
struct Hand {
    entries: Vec<Raw>,
    manifest: serde_json::Value,
    manifest_flags: u16,
    manifest_method: u16,
    before: Vec<u8>,
    after: Vec<u8>,
}

impl Hand {
    fn of(archive: &Path) -> Hand {
        let manifest = read_manifest(archive);
        let mut z = zip::ZipArchive::new(fs::File::open(archive).unwrap()).unwrap();
        let mut entries = Vec::new();
        for i in 0..z.len() {
            let mut e = z.by_index(i).unwrap();
            let name = e.name().unwrap().into_owned();
            if name == MANIFEST {
                continue;
            }
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            let record = manifest["entries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["path"] == name.as_str())
                .unwrap_or_else(|| panic!("{name} not in the manifest"));
            let mut raw = Raw::new(&name, &data, e.unix_mode().unwrap());
            raw.ut = record["mtime_s"]
                .as_i64()
                .and_then(|s| u32::try_from(s).ok())
                .filter(|s| *s <= i32::MAX as u32);
            entries.push(raw);
        }
        Hand {
            entries,
            manifest,
            manifest_flags: 1 << 11,
            manifest_method: 0,
            before: Vec::new(),
            after: Vec::new(),
        }
    }

    fn records(&mut self) -> &mut Vec<serde_json::Value> {
        self.manifest["entries"].as_array_mut().unwrap()
    }

    /// Adds a file, in the zip and in the manifest.
    fn file(mut self, name: &str, bytes: &[u8]) -> Hand {
        self.records().push(serde_json::json!({
            "path": name, "type": "file", "size": bytes.len(),
            "mtime": ADDED_RFC3339, "mtime_s": ADDED_S, "mtime_ns": ADDED_NS,
            "crc32": format!("{:08x}", crc32fast::hash(bytes)),
        }));
        self.entries.push(Raw::new(name, bytes, 0o100_644));
        self
    }

    /// Adds a folder (`name` ends with `/`), in the zip and in the manifest.
    fn dir(mut self, name: &str) -> Hand {
        self.records().push(serde_json::json!({
            "path": name, "type": "dir", "size": 0,
            "mtime": ADDED_RFC3339, "mtime_s": ADDED_S, "mtime_ns": ADDED_NS,
        }));
        self.entries.push(Raw::new(name, b"", 0o040_755));
        self
    }

    /// Adds a zip entry the manifest does not list.
    fn zip_only(mut self, name: &str, bytes: &[u8]) -> Hand {
        self.entries.push(Raw::new(name, bytes, 0o100_644));
        self
    }

    /// Changes the (last) zip entry `name`.
    fn entry(mut self, name: &str, f: impl FnOnce(&mut Raw)) -> Hand {
        let e = self
            .entries
            .iter_mut()
            .rev()
            .find(|e| e.name == name.as_bytes())
            .unwrap_or_else(|| panic!("no zip entry {name}"));
        f(e);
        self
    }

    /// Changes the manifest's record of `path`.
    fn record(mut self, path: &str, f: impl FnOnce(&mut serde_json::Value)) -> Hand {
        let r = self
            .records()
            .iter_mut()
            .find(|r| r["path"] == path)
            .unwrap_or_else(|| panic!("no manifest record {path}"));
        f(r);
        self
    }

    /// Gives file `name` other contents, in the zip and in the manifest.
    fn rewrite(self, name: &str, bytes: &[u8]) -> Hand {
        let crc = format!("{:08x}", crc32fast::hash(bytes));
        self.entry(name, |e| e.data = bytes.to_vec())
            .record(name, |r| {
                r["size"] = bytes.len().into();
                r["crc32"] = crc.into();
            })
    }

    fn manifest(mut self, f: impl FnOnce(&mut serde_json::Value)) -> Hand {
        f(&mut self.manifest);
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut m = Raw::new(
            MANIFEST,
            &serde_json::to_vec_pretty(&self.manifest).unwrap(),
            0o100_644,
        );
        m.flags = self.manifest_flags;
        m.method = self.manifest_method;
        let all: Vec<&Raw> = self.entries.iter().chain([&m]).collect();
        let mut zip = Vec::new();
        let mut offsets = Vec::new();
        for e in &all {
            offsets.push(zip.len() as u32);
            let name = e.local_name.as_ref().unwrap_or(&e.name);
            let extra = e.extra();
            zip.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            zip.extend_from_slice(&20u16.to_le_bytes());
            zip.extend_from_slice(&e.common(e.local_crc.unwrap_or_else(|| e.crc())));
            zip.extend_from_slice(&(name.len() as u16).to_le_bytes());
            zip.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            zip.extend_from_slice(name);
            zip.extend_from_slice(&extra);
            zip.extend_from_slice(&e.data);
        }
        let cd_start = zip.len() as u32;
        let mut listed = 0u16;
        for (e, offset) in all.iter().zip(offsets) {
            if !e.listed {
                continue;
            }
            listed += 1;
            let extra = e.extra();
            let dos_dir = if e.name.ends_with(b"/") { 0x10 } else { 0 };
            zip.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            zip.extend_from_slice(&((3u16 << 8) | 63).to_le_bytes());
            zip.extend_from_slice(&20u16.to_le_bytes());
            zip.extend_from_slice(&e.common(e.crc()));
            zip.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            zip.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            zip.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
            zip.extend_from_slice(&((e.mode << 16) | dos_dir).to_le_bytes());
            zip.extend_from_slice(&offset.to_le_bytes());
            zip.extend_from_slice(&e.name);
            zip.extend_from_slice(&extra);
        }
        let cd_size = zip.len() as u32 - cd_start;
        zip.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        zip.extend_from_slice(&[0; 4]);
        zip.extend_from_slice(&listed.to_le_bytes());
        zip.extend_from_slice(&listed.to_le_bytes());
        zip.extend_from_slice(&cd_size.to_le_bytes());
        zip.extend_from_slice(&cd_start.to_le_bytes());
        zip.extend_from_slice(&0u16.to_le_bytes());
        [self.before.as_slice(), &zip, &self.after].concat()
    }

    /// Writes the archive as `<scratch>/hand-<n>/<name>`.
    fn write(&self, base: &Base, name: &str) -> PathBuf {
        let dir = base.scratch(&format!("hand-{}", unique()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        fs::write(&p, self.bytes()).unwrap();
        p
    }
}

/// The last two components of `p`, to find its line.
fn tail(p: &Path) -> String {
    let n = p.components().count();
    p.components()
        .skip(n - 2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// `verify` says `ENDOMMAGÉE` (exit 1) and `restore --to` refuses (exit 1),
/// each naming every one of `needles`; the refused restore leaves nothing.
#[track_caller]
fn refused_by_both(base: &Base, file: &Path, needles: &[&str]) {
    let out = base.verify(&[file]);
    out.code(1);
    assert_damaged(&out, file, &tail(file), needles);
    let to = base.scratch(&format!("to-{}", unique()));
    fs::create_dir(&to).unwrap();
    base.restore_to(&to, &[file])
        .code(1)
        .refused(&tail(file), needles);
    assert_eq!(list_dir(&to), Vec::<String>::new(), "left in the target");
}

/// `verify` says OK and `restore --to` gives back exactly `want`.
#[track_caller]
fn restored_by_both(base: &Base, file: &Path, want: &Snapshot) {
    let out = base.verify(&[file]);
    out.code(0);
    assert_ok(&out, file, &tail(file));
    let to = base.scratch(&format!("to-{}", unique()));
    base.restore_to(&to, &[file]).code(0);
    assert_same_snapshot(want, &snapshot(&to.join("A"), &|_| false), "restored A");
}

/// Adds the file `rel` with `bytes` and the time of [`Hand`]'s entries to
/// `snap`, with its folders.
fn with_file(mut snap: Snapshot, rel: &str, bytes: &[u8]) -> Snapshot {
    for (i, _) in rel.match_indices('/') {
        snap.0.insert(rel[..i].to_owned(), Item::Dir);
    }
    snap.0.insert(
        rel.to_owned(),
        Item::File {
            bytes: bytes.to_vec(),
            mtime: Some(SystemTime::UNIX_EPOCH + Duration::new(ADDED_S as u64, ADDED_NS)),
        },
    );
    snap
}

#[test]
fn a_hand_made_copy_of_a_good_archive_is_ok_and_restores_exactly() {
    let base = restorable_base("zstd");
    let want = base.dossier_snapshot("A", false);
    let copy = Hand::of(&base.archive("A")).write(&base, "BA.SVG");
    restored_by_both(&base, &copy, &want);

    // Oddities a restore handles as recorded: a folder entry for a folder
    // that holds files; names that differ by case or Unicode form, and a
    // backslash — all distinct names on Linux; documents in an archive that
    // says it holds them.
    let mut want = want;
    let mut hand = Hand::of(&base.archive("A"))
        .dir("compta/")
        .manifest(|m| m["documents_included"] = true.into());
    let added: [(&str, &[u8]); _] = [
        ("documents/statuts.txt", b"statuts\n"),
        #[cfg(unix)]
        ("Facture.pdf", b"majuscule"),
        #[cfg(unix)]
        ("facture.pdf", b"minuscule"),
        #[cfg(unix)]
        ("r\u{e9}sum\u{e9}.txt", b"NFC"),
        #[cfg(unix)]
        ("re\u{301}sume\u{301}.txt", b"NFD"),
        #[cfg(unix)]
        ("a\\b.txt", b"barre inverse"),
    ];
    for (name, bytes) in added {
        hand = hand.file(name, bytes);
        want = with_file(want, name, bytes);
    }
    let odd = hand.write(&base, "BA.SVG");
    restored_by_both(&base, &odd, &want);
}

#[test]
fn a_path_both_file_and_folder_or_under_a_file_is_refused_by_verify_as_by_restore() {
    let base = restorable_base("store");
    let a = base.archive("A");
    let cases = [
        (
            "file sub and file sub/x.txt",
            Hand::of(&a).file("sub", b"f").file("sub/x.txt", b"x"),
            &["entrée sub/x.txt", "sub est un fichier"][..],
        ),
        (
            "folder sub/ and file sub",
            Hand::of(&a).dir("sub/").file("sub", b"f"),
            &["entrée sub", "l'une fichier, l'autre dossier"],
        ),
        (
            "file notes.txt and folder notes.txt/",
            Hand::of(&a).dir("notes.txt/"),
            &["notes.txt/", "l'une fichier, l'autre dossier"],
        ),
        (
            "a file a/b where a/b/profond.txt is",
            Hand::of(&a).file("a/b", b"f"),
            &["entrée a/b/profond.txt", "a/b est un fichier"],
        ),
        (
            "a file deep under a file",
            Hand::of(&a).file("vide.dat/x/y/z.txt", b"z"),
            &["vide.dat/x/y/z.txt", "vide.dat est un fichier"],
        ),
    ];
    for (what, hand, needles) in cases {
        eprintln!("case: {what}");
        refused_by_both(&base, &hand.write(&base, "BA.SVG"), needles);
    }

    // Into the base: refused before anything changes, the live dossier
    // untouched (it used to fail half-way with "File exists").
    let file = Hand::of(&a)
        .file("sub", b"f")
        .file("sub/x.txt", b"x")
        .write(&base, "BA.SVG");
    let live = base.dossier_snapshot("A", true);
    base.restore(&[&file])
        .code(1)
        .refused(&tail(&file), &["entrée sub/x.txt", "sub est un fichier"]);
    assert_same_snapshot(&live, &base.dossier_snapshot("A", true), "live A");
    base.assert_no_restore_leftovers();
}

#[test]
fn duplicate_entries_are_refused_naming_them() {
    let base = restorable_base("store");
    let a = base.archive("A");
    let notes = Hand::of(&a)
        .entries
        .into_iter()
        .find(|e| e.name == b"notes.txt")
        .unwrap();
    let mut other = notes.clone();
    other.data = b"autre contenu".to_vec();
    let cases = [
        (
            "the same entry twice",
            {
                let mut h = Hand::of(&a);
                h.entries.insert(0, notes.clone());
                h
            },
            &["notes.txt", "plusieurs fois"][..],
        ),
        (
            "two contents under one name",
            {
                let mut h = Hand::of(&a);
                h.entries.insert(0, other);
                h
            },
            &["notes.txt", "plusieurs fois"],
        ),
        (
            "two manifests",
            Hand::of(&a).zip_only(MANIFEST, b"{}"),
            &[MANIFEST, "plusieurs fois"],
        ),
        (
            "a record twice in the manifest",
            Hand::of(&a).manifest(|m| {
                let r = m["entries"][0].clone();
                m["entries"].as_array_mut().unwrap().push(r);
            }),
            &["en double"],
        ),
    ];
    for (what, hand, needles) in cases {
        eprintln!("case: {what}");
        refused_by_both(&base, &hand.write(&base, "BA.SVG"), needles);
    }
}

#[test]
fn a_name_restore_refuses_is_refused_by_verify_with_the_same_words() {
    let base = restorable_base("store");
    let cases = [
        ("BC.SVG", "ne correspond pas"),
        ("SA.SVG", "n'est pas une sauvegarde"),
        ("Bé.SVG", "nom de fichier inattendu"),
        ("BA.zip", "nom de fichier inattendu"),
    ];
    for (name, needle) in cases {
        eprintln!("case: {name}");
        let file = base.copy_archive("A", &format!("nom-{}", unique()), name);
        let out = base.verify(&[&file]);
        out.code(1);
        let line = line_of(&out, &file, &tail(&file));
        assert!(
            line.starts_with("REFUSÉE ") && line.contains(needle),
            "{name}: {line}\n{out}"
        );
        let to = base.scratch(&format!("to-{}", unique()));
        base.restore_to(&to, &[&file])
            .code(1)
            .refused(name, &[needle]);
    }
    // The same archive under its own name is fine.
    base.verify(&[&base.copy_archive("A", "bon-nom", "BA.SVG")])
        .code(0);
}

#[cfg(unix)]
#[test]
fn names_the_file_system_refuses_are_refused() {
    let base = restorable_base("store");
    let a = base.archive("A");
    let long_name = "é".repeat(128); // 256 bytes
    let deep = vec!["x".repeat(200); 21].join("/"); // 4,220 bytes
    let cases = [
        (format!("compta/{long_name}.txt"), "255 octets"),
        (deep, "trop long"),
    ];
    for (name, needle) in &cases {
        eprintln!("case: {} bytes", name.len());
        let file = Hand::of(&a).file(name, b"x").write(&base, "BA.SVG");
        refused_by_both(&base, &file, &[needle]);
    }
}

#[cfg(unix)]
#[test]
fn a_path_near_the_limit_restores_where_it_fits_and_is_refused_before_writing_where_not() {
    let base = restorable_base("store");
    let name = vec!["p".repeat(199); 20].join("/") + "/f.txt"; // 4,005 bytes
    let file = Hand::of(&base.archive("A"))
        .file(&name, b"loin")
        .write(&base, "BA.SVG");
    let want = with_file(base.dossier_snapshot("A", false), &name, b"loin");
    restored_by_both(&base, &file, &want);

    // Under a deep folder the full path is over 4,095 bytes: refused before
    // anything is written, naming the entry.
    let deep = base.scratch(&"d".repeat(200));
    fs::create_dir_all(&deep).unwrap();
    base.restore_to(&deep, &[&file])
        .code(1)
        .refused("BA.SVG", &["trop long", "f.txt"]);
    assert_eq!(list_dir(&deep), Vec::<String>::new(), "left in the target");
}

#[test]
fn entries_svgauto_never_archives_are_refused() {
    let base = restorable_base("store");
    let a = base.archive("A");
    let cases = [
        (
            "another file under .svgauto/",
            Hand::of(&a).file(".svgauto/autre.json", b"{}"),
            &[".svgauto/autre.json", "réservé à svgauto"][..],
        ),
        (
            "the same, not listed",
            Hand::of(&a).zip_only(".svgauto/autre.json", b"{}"),
            &[".svgauto/autre.json", "réservé à svgauto"],
        ),
        (
            "the dossier's lock file",
            Hand::of(&a).file("dossier.lock", b""),
            &["dossier.lock", "verrou"],
        ),
        (
            "documents the manifest says are not saved",
            Hand::of(&a).file("documents/statuts.txt", b"ancien"),
            &["documents/statuts.txt", "non sauvegardés"],
        ),
    ];
    for (what, hand, needles) in cases {
        eprintln!("case: {what}");
        refused_by_both(&base, &hand.write(&base, "BA.SVG"), needles);
    }
}

#[test]
fn times_must_be_in_range_and_agree_between_the_manifest_and_the_zip_headers() {
    let base = restorable_base("store");
    let a = base.archive("A");
    let ntfs = |t: u64| {
        let mut x = Vec::new();
        x.extend_from_slice(&0x000au16.to_le_bytes());
        x.extend_from_slice(&32u16.to_le_bytes());
        x.extend_from_slice(&[0; 4]);
        x.extend_from_slice(&1u16.to_le_bytes());
        x.extend_from_slice(&24u16.to_le_bytes());
        for _ in 0..3 {
            x.extend_from_slice(&t.to_le_bytes());
        }
        x
    };
    let cases = [
        (
            "an extended timestamp an hour off",
            Hand::of(&a).entry("notes.txt", |e| e.ut = e.ut.map(|t| t + 3600)),
            &["notes.txt", "différente entre le manifeste"][..],
        ),
        (
            "an NTFS time a second off",
            Hand::of(&a).file("ntfs.txt", b"n").entry("ntfs.txt", |e| {
                e.extra = ntfs((ADDED_S as u64 + 11_644_473_601) * 10_000_000);
            }),
            &["ntfs.txt", "NTFS"],
        ),
        (
            "a readable time that is not mtime_s",
            Hand::of(&a).record("notes.txt", |r| r["mtime"] = "2001-01-01T00:00:00Z".into()),
            &["notes.txt", "incohérente"],
        ),
        (
            "a billion nanoseconds",
            Hand::of(&a).record("notes.txt", |r| r["mtime_ns"] = 1_000_000_000u32.into()),
            &["notes.txt", "hors de ce que ce système sait dater"],
        ),
        (
            // Once a panic of restore (an overflow in the time arithmetic).
            "the largest i64 of seconds and a billion nanoseconds",
            Hand::of(&a).record("notes.txt", |r| {
                r["mtime_s"] = i64::MAX.into();
                r["mtime_ns"] = 1_000_000_000u32.into();
                r["mtime"] = "".into();
            }),
            &["notes.txt", "hors de ce que ce système sait dater"],
        ),
    ];
    for (what, hand, needles) in cases {
        eprintln!("case: {what}");
        refused_by_both(&base, &hand.write(&base, "BA.SVG"), needles);
    }
    // The right NTFS time is fine.
    let good = Hand::of(&a).file("ntfs.txt", b"n").entry("ntfs.txt", |e| {
        e.extra = ntfs((ADDED_S as u64 + 11_644_473_600) * 10_000_000);
    });
    base.verify(&[&good.write(&base, "BA.SVG")]).code(0);
}

#[test]
fn zip_headers_must_agree_with_each_other_and_with_the_manifest() {
    let base = restorable_base("store");
    let a = base.archive("A");
    let cases = [
        (
            "a wrong CRC in both headers, right data and manifest",
            Hand::of(&a).entry("notes.txt", |e| e.crc = Some(0x1234_5678)),
            &["notes.txt", "CRC de l'en-tête zip"][..],
        ),
        (
            "another CRC in the local header",
            Hand::of(&a).entry("notes.txt", |e| e.local_crc = Some(0x1234_5678)),
            &["notes.txt", "en-tête local"],
        ),
        (
            "another name in the local header",
            Hand::of(&a).entry("notes.txt", |e| e.local_name = Some(b"notez.txt".to_vec())),
            &["notes.txt", "en-tête local"],
        ),
        (
            "another size in the headers",
            Hand::of(&a).entry("notes.txt", |e| e.size = Some(e.data.len() as u32 + 1)),
            &["notes.txt", "taille"],
        ),
        (
            "a local entry the central directory does not list",
            Hand::of(&a)
                .zip_only("cache.txt", b"cache")
                .entry("cache.txt", |e| e.listed = false),
            &["structure du zip", "central directory"],
        ),
    ];
    for (what, hand, needles) in cases {
        eprintln!("case: {what}");
        refused_by_both(&base, &hand.write(&base, "BA.SVG"), needles);
    }
}

#[test]
fn folder_entries_with_data_and_files_of_another_unix_type_are_refused() {
    let base = restorable_base("store");
    let a = base.archive("A");
    let cases = [
        (
            "a folder entry with data",
            Hand::of(&a).entry("exports/", |e| e.data = b"cache".to_vec()),
            &["exports/", "dossier portant des données"][..],
        ),
        (
            "a file whose Unix type is a folder",
            Hand::of(&a).entry("notes.txt", |e| e.mode = 0o040_644),
            &["notes.txt", "type de fichier Unix 40000"],
        ),
        (
            "a file whose Unix type is a FIFO",
            Hand::of(&a).entry("notes.txt", |e| e.mode = 0o010_644),
            &["notes.txt", "type de fichier Unix 10000"],
        ),
        (
            "a folder whose Unix type is a file",
            Hand::of(&a).entry("exports/", |e| e.mode = 0o100_755),
            &["exports/", "type de fichier Unix 100000"],
        ),
    ];
    for (what, hand, needles) in cases {
        eprintln!("case: {what}");
        refused_by_both(&base, &hand.write(&base, "BA.SVG"), needles);
    }
}

#[test]
fn encrypted_entries_and_unknown_methods_are_refused_naming_the_entry() {
    let base = restorable_base("store");
    let a = base.archive("A");
    let mut manifest = Hand::of(&a);
    manifest.manifest_flags |= 1;
    let cases = [
        (
            "an encrypted file",
            Hand::of(&a).entry("notes.txt", |e| e.flags |= 1),
            &["notes.txt", "chiffrée"][..],
        ),
        ("an encrypted manifest", manifest, &[MANIFEST, "chiffrée"]),
        (
            "LZMA, which svgauto does not decode",
            Hand::of(&a).entry("notes.txt", |e| e.method = 14),
            &["notes.txt", "méthode de compression"],
        ),
    ];
    for (what, hand, needles) in cases {
        eprintln!("case: {what}");
        refused_by_both(&base, &hand.write(&base, "BA.SVG"), needles);
    }
}

#[test]
fn bytes_before_or_after_the_zip_are_refused() {
    let base = restorable_base("store");
    let a = base.archive("A");
    let mut before = Hand::of(&a);
    before.before = b"#!/bin/sh\nexit 0\n".to_vec();
    let mut after = Hand::of(&a);
    after.after = b"\0\0\0 reste d'une copie\n".to_vec();
    let mut two = Hand::of(&a);
    two.after = fs::read(base.archive("C")).unwrap();
    let cases = [
        (
            "a script before",
            before,
            &["17 octet(s) avant le début du zip"][..],
        ),
        ("garbage after", after, &["22 octet(s) après la fin du zip"]),
        ("another archive after", two, &["octet(s)"]),
    ];
    for (what, hand, needles) in cases {
        eprintln!("case: {what}");
        refused_by_both(&base, &hand.write(&base, "BA.SVG"), needles);
    }
}

#[test]
fn a_manifest_of_a_newer_or_unknown_format_is_refused_clearly() {
    let base = restorable_base("store");
    let a = base.archive("A");
    let cases = [
        (
            "format 3",
            Hand::of(&a).manifest(|m| m["format"] = 3.into()),
            &[
                "version plus récente de svgauto",
                "format 3",
                "mettez svgauto à jour",
            ][..],
        ),
        (
            "an unknown field",
            Hand::of(&a).manifest(|m| m["chiffrement"] = "aes".into()),
            &["champ inconnu chiffrement"],
        ),
        (
            "an unknown field of an entry",
            Hand::of(&a).record("notes.txt", |r| r["target"] = "../x".into()),
            &["champ inconnu entries[notes.txt].target"],
        ),
        (
            "format 0",
            Hand::of(&a).manifest(|m| m["format"] = 0.into()),
            &["format 0"],
        ),
        (
            "no format",
            Hand::of(&a).manifest(|m| {
                m.as_object_mut().unwrap().remove("format");
            }),
            &["format absent"],
        ),
    ];
    for (what, hand, needles) in cases {
        eprintln!("case: {what}");
        refused_by_both(&base, &hand.write(&base, "BA.SVG"), needles);
    }
}

#[test]
fn an_archived_dossier_toml_naming_another_dossier_is_refused() {
    let base = restorable_base("store");
    let a = base.archive("A");
    let cases = [
        (
            "code C in A's archive",
            Hand::of(&a).rewrite("dossier.toml", b"code = \"C\"\n"),
            &["dossier.toml", "code = \"C\"", "dossier A"][..],
        ),
        (
            "not TOML",
            Hand::of(&a).rewrite("dossier.toml", b"code = \n"),
            &["dossier.toml", "illisible"],
        ),
    ];
    for (what, hand, needles) in cases {
        eprintln!("case: {what}");
        refused_by_both(&base, &hand.write(&base, "BA.SVG"), needles);
    }
}
