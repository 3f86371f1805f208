//! Archives from the outside: [`Stamps`] that tell which archives a command
//! rewrote, reading an archive with the `zip` crate (last entry, methods,
//! manifest), damaging one on purpose, and the 7-Zip and Info-ZIP runners
//! that prove an archive opens elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::SystemTime;

use super::{Base, Snapshot, assert_same_snapshot, find_program, list_dir, snapshot, unique};

/// The manifest's entry name (DESIGN.md §5).
pub const MANIFEST: &str = ".svgauto/manifest.json";

impl Base {
    /// Identity of every archive: to tell later which were rewritten.
    pub fn stamps(&self) -> Stamps {
        Stamps(
            self.archived()
                .into_iter()
                .map(|code| {
                    let s = Stamp::of(&self.archive(&code));
                    (code, s)
                })
                .collect(),
        )
    }

    /// `7zz t` the archive, extract it with `7zz x` and compare it with the
    /// dossier, file by file and byte by byte (the manifest aside). Returns
    /// the extraction folder.
    pub fn assert_archive_matches(&self, code: &str, include_documents: bool) -> PathBuf {
        let archive = self.archive(code);
        assert!(
            archive.is_file(),
            "no archive {}; sauve/ holds {:?}",
            archive.display(),
            list_dir(&self.sauve())
        );
        sevenz_test(&archive);
        let dest = self.scratch(&format!("x-{code}-{}", unique()));
        sevenz_extract(&archive, &dest);
        assert_same_snapshot(
            &self
                .dossier_snapshot(code, include_documents)
                .without_times(),
            &extracted(&dest),
            &format!("archive {} vs dossier {code}", archive.display()),
        );
        assert!(
            dest.join(".svgauto/manifest.json").is_file(),
            "{}: no .svgauto/manifest.json entry",
            archive.display()
        );
        assert_eq!(
            last_entry(&archive),
            ".svgauto/manifest.json",
            "{}: the manifest must be the last entry",
            archive.display()
        );
        dest
    }

    /// Copies `sauve/B<code>.SVG` to `<scratch>/<folder>/<name>` and returns
    /// the copy.
    pub fn copy_archive(&self, code: &str, folder: &str, name: &str) -> PathBuf {
        let dir = self.scratch(folder);
        fs::create_dir_all(&dir).unwrap();
        let to = dir.join(name);
        fs::copy(self.archive(code), &to)
            .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", code, to.display()));
        to
    }
}

/// What 7-Zip extracted into `dest`, without times (7-Zip keeps them to the
/// 100 ns) and without the archive's own `.svgauto/` (the manifest): to
/// compare with [`Base::dossier_snapshot`]`(…).without_times()`.
pub fn extracted(dest: &Path) -> Snapshot {
    snapshot(dest, &|rel| rel == ".svgauto").without_times()
}

/// What tells an archive file apart from a rewritten one.
#[derive(Clone, PartialEq, Eq)]
pub struct Stamp {
    #[cfg(unix)]
    ino: u64,
    mtime: SystemTime,
    bytes: Vec<u8>,
}

impl Stamp {
    pub fn of(p: &Path) -> Stamp {
        let md = fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        Stamp {
            #[cfg(unix)]
            ino: std::os::unix::fs::MetadataExt::ino(&md),
            mtime: md.modified().unwrap(),
            bytes: fs::read(p).unwrap(),
        }
    }

    fn describe_change(&self, new: &Stamp) -> String {
        let mut what = Vec::new();
        #[cfg(unix)]
        if self.ino != new.ino {
            what.push("new file (inode)".to_owned());
        }
        if self.mtime != new.mtime {
            what.push(format!("mtime {:?} -> {:?}", self.mtime, new.mtime));
        }
        if self.bytes != new.bytes {
            what.push(format!(
                "bytes differ ({} -> {} bytes)",
                self.bytes.len(),
                new.bytes.len()
            ));
        }
        what.join(", ")
    }
}

pub struct Stamps(pub BTreeMap<String, Stamp>);

impl Stamps {
    /// Asserts the archives rewritten (or created) since `self` are exactly
    /// `expected`, and that none disappeared.
    #[track_caller]
    pub fn assert_rewritten(&self, after: &Stamps, expected: &[&str]) {
        let expected: BTreeSet<&str> = expected.iter().copied().collect();
        let mut msg = String::new();
        for (code, old) in &self.0 {
            match after.0.get(code) {
                None => {
                    let _ = writeln!(msg, "  B{code}.SVG disappeared");
                }
                Some(new) => {
                    let changed = old != new;
                    if changed && !expected.contains(code.as_str()) {
                        let _ = writeln!(
                            msg,
                            "  B{code}.SVG was rewritten: {}",
                            old.describe_change(new)
                        );
                    }
                    if !changed && expected.contains(code.as_str()) {
                        let _ = writeln!(
                            msg,
                            "  B{code}.SVG was expected to be rewritten but is untouched"
                        );
                    }
                }
            }
        }
        for code in after.0.keys() {
            if !self.0.contains_key(code) && !expected.contains(code.as_str()) {
                let _ = writeln!(msg, "  B{code}.SVG appeared");
            }
        }
        for code in &expected {
            if !after.0.contains_key(*code) {
                let _ = writeln!(msg, "  B{code}.SVG was expected but does not exist");
            }
        }
        assert!(
            msg.is_empty(),
            "archives rewritten: expected exactly {expected:?}\n{msg}"
        );
    }

    #[track_caller]
    pub fn assert_untouched(&self, after: &Stamps) {
        self.assert_rewritten(after, &[]);
    }
}

/// The name of the last entry of a zip archive.
pub fn last_entry(archive: &Path) -> String {
    let z = zip::ZipArchive::new(fs::File::open(archive).unwrap())
        .unwrap_or_else(|e| panic!("{}: not a zip archive: {e}", archive.display()));
    let n = z.len();
    assert!(n > 0, "{}: empty archive", archive.display());
    z.name_for_index(n - 1).unwrap().unwrap().into_owned()
}

/// Compression method of every entry: name → method.
pub fn entry_methods(archive: &Path) -> BTreeMap<String, zip::CompressionMethod> {
    let mut z = zip::ZipArchive::new(fs::File::open(archive).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let f = z.by_index_raw(i).unwrap();
            (f.name().unwrap().into_owned(), f.compression())
        })
        .collect()
}

/// Flips one byte in the middle of `content` where the archive stores it
/// (an entry written with the `store` method, so its bytes are there as
/// they are): a CRC mismatch that leaves every header intact.
pub fn flip_stored_byte(archive: &Path, content: &[u8]) {
    assert!(content.len() >= 256, "give a file of at least 256 bytes");
    let mid = content.len() / 2;
    let window = &content[mid - 64..mid + 64];
    let mut bytes = fs::read(archive).unwrap();
    let at = bytes
        .windows(window.len())
        .position(|w| w == window)
        .unwrap_or_else(|| {
            panic!(
                "{}: the file's bytes are not stored as they are (method store?)",
                archive.display()
            )
        });
    bytes[at + 64] ^= 0x5A;
    fs::write(archive, bytes).unwrap();
}

/// Keeps only the first half of a file.
pub fn cut_in_half(p: &Path) {
    let bytes = fs::read(p).unwrap();
    fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
}

/// The manifest of an archive, parsed.
pub fn read_manifest(archive: &Path) -> serde_json::Value {
    let mut z = zip::ZipArchive::new(fs::File::open(archive).unwrap())
        .unwrap_or_else(|e| panic!("{}: not a zip archive: {e}", archive.display()));
    let mut text = String::new();
    z.by_name(MANIFEST)
        .unwrap_or_else(|e| panic!("{}: no {MANIFEST}: {e}", archive.display()))
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: manifest is not JSON: {e}\n{text}", archive.display()))
}

/// `7zz` or else `7z` from the PATH; these tests need one of them.
pub fn seven_zip() -> PathBuf {
    find_program(&["7zz", "7z"]).unwrap_or_else(|| {
        panic!("7-Zip not found on the PATH (looked for 7zz, 7z): install it (Debian/Ubuntu: apt-get install 7zip) — these tests need it")
    })
}

fn run_tool(program: &Path, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let o = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    (
        o.status.success(),
        format!(
            "$ {} {}\nexit: {}\n{}{}",
            program.display(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// `7zz t <archive>` must succeed.
#[track_caller]
pub fn sevenz_test(archive: &Path) {
    let (ok, out) = run_tool(&seven_zip(), &["t".as_ref(), archive.as_os_str()]);
    assert!(ok, "7-Zip finds {} damaged:\n{out}", archive.display());
}

/// `7zz x -o<dest> -y <archive>`.
#[track_caller]
pub fn sevenz_extract(archive: &Path, dest: &Path) {
    let o = format!("-o{}", dest.display());
    let (ok, out) = run_tool(
        &seven_zip(),
        &["x".as_ref(), o.as_ref(), "-y".as_ref(), archive.as_os_str()],
    );
    assert!(ok, "7-Zip cannot extract {}:\n{out}", archive.display());
}

/// `unzip -t <archive>` must succeed (Info-ZIP: deflate archives).
#[track_caller]
pub fn unzip_test(archive: &Path) {
    let unzip = find_program(&["unzip"])
        .unwrap_or_else(|| panic!("Info-ZIP unzip not found on the PATH: install it (apt-get install unzip) — this test needs it"));
    let (ok, out) = run_tool(&unzip, &["-t".as_ref(), archive.as_os_str()]);
    assert!(ok, "unzip -t finds {} damaged:\n{out}", archive.display());
}

/// An event archive (`EchangePrest/`, `Cloture/`) passes `svgauto verify`
/// (its `OK` line) and `7zz t`, and holds exactly the dossier `code`'s
/// files, times aside.
#[track_caller]
pub fn assert_event_archive_matches(base: &Base, archive: &Path, code: &str) {
    base.verify(&[archive])
        .code(0)
        .stdout_has(&[&format!("OK {}", archive.display())]);
    sevenz_test(archive);
    let x = base.scratch(&format!("x-event-{code}-{}", unique()));
    sevenz_extract(archive, &x);
    assert_same_snapshot(
        &base.dossier_snapshot(code, false).without_times(),
        &extracted(&x),
        "event archive",
    );
}
