//! Trees of files: [`Snapshot`], the one model of what is under a folder
//! (names, kinds, bytes, modification times to the nanosecond, links
//! recorded, never followed), and [`assert_same_snapshot`], the one
//! comparator, which panics with a per-path account of what differs. A
//! snapshot [`without_times`](Snapshot::without_times) compares names,
//! kinds and bytes only, for trees whose times are not the point (an
//! extraction by 7-Zip). Also the small file system helpers the tests use
//! (walk, list, times, names shown readably).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::Base;

impl Base {
    /// A dossier as a restore must give it back: every file with its bytes
    /// and modification time, every folder; without the lock file, and
    /// without `documents/` unless `with_documents`.
    pub fn dossier_snapshot(&self, code: &str, with_documents: bool) -> Snapshot {
        snapshot(&self.dossier_dir(code), &|rel| {
            rel == "dossier.lock"
                || (!with_documents && (rel == "documents" || rel.starts_with("documents/")))
        })
    }

    /// Everything under the temp folder (the base and every scratch file)
    /// but the lock files, which taking a lock may create, and the tool's
    /// own state (`<base>/.svgauto/`: catalog, run lock), where it may
    /// record what it did.
    pub fn everything(&self) -> Snapshot {
        snapshot(self.top(), &|rel| {
            rel.ends_with("/dossier.lock") || rel == "base/.svgauto"
        })
    }
}

/// One thing of a tree, as precisely as a restore must give it back.
#[derive(Clone, PartialEq, Eq)]
pub enum Item {
    Dir,
    File {
        bytes: Vec<u8>,
        /// `None` in a snapshot [without times](Snapshot::without_times).
        mtime: Option<SystemTime>,
    },
    Link(PathBuf),
    /// FIFO, socket, device.
    Special,
}

/// Relative path (with `/`) → item, for everything under a folder; empty
/// when the folder does not exist. Symbolic links are recorded, never
/// followed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Snapshot(pub BTreeMap<String, Item>);

impl Snapshot {
    /// The files alone, without their times.
    pub fn files(&self) -> BTreeMap<&str, &[u8]> {
        self.0
            .iter()
            .filter_map(|(p, i)| match i {
                Item::File { bytes, .. } => Some((p.as_str(), bytes.as_slice())),
                _ => None,
            })
            .collect()
    }

    /// The same tree with the files' modification times left out: compared
    /// with another such snapshot, only names, kinds and bytes count. For
    /// trees whose times are not the point: an extraction by 7-Zip (which
    /// keeps times to the 100 ns), a base before and after a command that
    /// must not write.
    pub fn without_times(mut self) -> Snapshot {
        for item in self.0.values_mut() {
            if let Item::File { mtime, .. } = item {
                *mtime = None;
            }
        }
        self
    }

    /// The part under `prefix/`, with paths relative to it.
    pub fn under(&self, prefix: &str) -> Snapshot {
        let p = format!("{prefix}/");
        Snapshot(
            self.0
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(&p)?.to_owned(), v.clone())))
                .collect(),
        )
    }
}

/// Snapshot of `root`, leaving out what `skip` names (a skipped folder is
/// not entered).
pub fn snapshot(root: &Path, skip: &dyn Fn(&str) -> bool) -> Snapshot {
    fn go(dir: &Path, prefix: &str, skip: &dyn Fn(&str) -> bool, out: &mut Snapshot) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let e = e.unwrap();
            let name = escaped(e.file_name().as_encoded_bytes());
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if skip(&rel) {
                continue;
            }
            let p = e.path();
            let md = fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let ft = md.file_type();
            if ft.is_symlink() {
                out.0
                    .insert(rel, Item::Link(fs::read_link(&p).unwrap_or_default()));
            } else if ft.is_dir() {
                out.0.insert(rel.clone(), Item::Dir);
                go(&p, &rel, skip, out);
            } else if ft.is_file() {
                let bytes = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                out.0.insert(
                    rel,
                    Item::File {
                        bytes,
                        mtime: Some(md.modified().unwrap()),
                    },
                );
            } else {
                out.0.insert(rel, Item::Special);
            }
        }
    }
    let mut out = Snapshot::default();
    go(root, "", skip, &mut out);
    out
}

fn show_time(t: Option<SystemTime>) -> String {
    match t.map(|t| t.duration_since(SystemTime::UNIX_EPOCH)) {
        None => "not recorded".into(),
        Some(Ok(d)) => format!("{}.{:09}", d.as_secs(), d.subsec_nanos()),
        Some(Err(e)) => format!("-{:?}", e.duration()),
    }
}

fn show_item(i: &Item) -> String {
    match i {
        Item::Dir => "a folder".into(),
        Item::File { bytes, mtime } => {
            format!(
                "a file of {} bytes, mtime {}",
                bytes.len(),
                show_time(*mtime)
            )
        }
        Item::Link(t) => format!("a symbolic link to {}", t.display()),
        Item::Special => "a special file".into(),
    }
}

/// Panics with a per-path account of the differences: names, kinds, bytes
/// (with the offset of the first byte that differs) and modification times
/// (to the nanosecond; left out by [`Snapshot::without_times`]). `what`
/// names the comparison in the message.
#[track_caller]
pub fn assert_same_snapshot(want: &Snapshot, got: &Snapshot, what: &str) {
    let mut msg = String::new();
    for (p, w) in &want.0 {
        let Some(g) = got.0.get(p) else {
            let _ = writeln!(msg, "  missing:    {} ({})", show(p), show_item(w));
            continue;
        };
        match (w, g) {
            (
                Item::File {
                    bytes: a,
                    mtime: ta,
                },
                Item::File {
                    bytes: b,
                    mtime: tb,
                },
            ) => {
                if a != b {
                    let at = first_difference(a, b);
                    let _ = writeln!(
                        msg,
                        "  differs:    {} (expected {} bytes, got {} bytes, first difference at byte {at})",
                        show(p),
                        a.len(),
                        b.len()
                    );
                }
                if ta != tb {
                    let _ = writeln!(
                        msg,
                        "  mtime:      {} (expected {}, got {})",
                        show(p),
                        show_time(*ta),
                        show_time(*tb)
                    );
                }
            }
            (w, g) if w != g => {
                let _ = writeln!(
                    msg,
                    "  kind:       {} (expected {}, got {})",
                    show(p),
                    show_item(w),
                    show_item(g)
                );
            }
            _ => {}
        }
    }
    for (p, g) in &got.0 {
        if !want.0.contains_key(p) {
            let _ = writeln!(msg, "  unexpected: {} ({})", show(p), show_item(g));
        }
    }
    assert!(msg.is_empty(), "{what}: trees differ\n{msg}");
}

/// Shows a name with its non-ASCII characters spelled out, so that an NFC
/// and an NFD name look different in a failure message.
pub fn show(name: &str) -> String {
    if name.is_ascii() {
        return name.to_owned();
    }
    let escaped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", c as u32)
            }
        })
        .collect();
    format!("{name} [{escaped}]")
}

/// The offset of the first byte where `a` and `b` differ (the shorter
/// length if one is a prefix of the other), for readable diffs.
pub fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// A name as svgauto shows it: its bytes that are not UTF-8 as `\xNN`.
pub fn escaped(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// Calls `f` on every file under `dir` (recursively); nothing if `dir` does
/// not exist.
pub fn walk_files(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            walk_files(&e.path(), f);
        } else {
            f(&e.path());
        }
    }
}

pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn set_mtime(p: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .set_modified(t)
        .unwrap();
}

pub fn mtime(p: &Path) -> SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
}

/// Reads a whole file as a string, with the path in the panic.
pub fn read_to_string(p: &Path) -> String {
    let mut s = String::new();
    fs::File::open(p)
        .and_then(|mut f| f.read_to_string(&mut s))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    s
}
