//! The content pass of a check: every entry's data read once, its size and
//! CRC-32 computed here (not taken from the zip headers), and — for a
//! restore — written into a fresh folder, with the recorded times and
//! permissions. The archived `dossier.toml` must name the manifest's
//! dossier.
//!
//! The folder entries come first, in archive order: their data must be
//! empty, and, restored, they are made with every folder a file needs.
//! Then the files, on every worker of the pool at once, each read by
//! positioned reads (`data`). Whatever the order the workers finish in,
//! the damage said is the first in archive order, the one a pass in order
//! would find: after a damage, the workers skip the entries that follow
//! it, never those before.
//!
//! A restored file is not flushed as it is written (one `fsync` per file
//! made the restore of a dossier of 70,000 files last twice as long as its
//! extraction by 7-Zip followed by `sync`): the files stay open, and are
//! flushed together (`crate::sys::fs::flush_files`: one `syncfs` where the
//! file system allows it) whenever as many are open as the process may
//! keep, and the last ones at the end. Every file is flushed before the
//! pass returns.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::data::Decoding;
use super::{Damage, Folder, Judged};
use crate::archive::manifest::ManifestKind;
use crate::base::DOSSIER_TOML;
use crate::scan::names::os_path;
use crate::sys::time::system_time;

/// What the content pass found: the files and their bytes, the folders
/// extracted (to finish once nothing more is written inside), and the
/// archived `dossier.toml`'s text when it is small enough to be one.
pub(super) struct Contents {
    /// Files read.
    pub files: usize,
    /// Their bytes, uncompressed.
    pub bytes: u64,
    /// The folders extracted.
    pub folders: Vec<Folder>,
    /// The archived `dossier.toml`, when there is one of at most 1 MiB.
    pub identity: Option<Vec<u8>>,
}

/// Reads every judged entry's data once (`file` is the archive), checking
/// it against its record; with `dest`, writes each into `dest` (which
/// exists, empty), and flushes the files written. On a damage, the first
/// in archive order is returned, and `dest` may hold part of the archive.
pub(super) fn contents(
    file: &File,
    entries: &[Judged<'_>],
    dest: Option<&Path>,
) -> Result<Contents, Damage> {
    let (folders, folder_damage) = folders(file, entries, dest);
    let first_damage = AtomicUsize::new(folder_damage.as_ref().map_or(usize::MAX, |d| d.0));
    let unflushed = Unflushed::new();
    let found = entries
        .par_iter()
        .enumerate()
        .filter(|(_, j)| j.record.kind != ManifestKind::Dir)
        .map_init(Worker::new, |w, (i, j)| {
            if i > first_damage.load(Ordering::Relaxed) {
                return Found::default();
            }
            let target = dest.map(|d| d.join(os_path(&j.raw)));
            match file_entry(file, j, target, w, &unflushed) {
                Ok(identity) => Found {
                    files: 1,
                    bytes: j.record.size,
                    identity,
                    damage: None,
                },
                Err(d) => {
                    first_damage.fetch_min(i, Ordering::Relaxed);
                    Found {
                        damage: Some((i, d)),
                        ..Found::default()
                    }
                }
            }
        })
        .reduce(Found::default, Found::merge);
    let flushed = unflushed.flush_all();
    let damage = [folder_damage, found.damage]
        .into_iter()
        .flatten()
        .min_by_key(|d| d.0);
    if let Some((_, d)) = damage {
        return Err(d);
    }
    flushed?;
    Ok(Contents {
        files: found.files,
        bytes: found.bytes,
        folders,
        identity: found.identity,
    })
}

/// What a worker keeps from one file to the next.
struct Worker {
    decoding: Decoding,
    /// Decoded data on their way to the CRC and the restored file.
    buf: Vec<u8>,
}

impl Worker {
    fn new() -> Worker {
        Worker {
            decoding: Decoding::new(),
            buf: vec![0; 256 * 1024],
        }
    }
}

/// What some of the file entries held: files, bytes, the archived
/// `dossier.toml`, and the first damage found, with its entry's index.
#[derive(Default)]
struct Found {
    files: usize,
    bytes: u64,
    identity: Option<Vec<u8>>,
    damage: Option<(usize, Damage)>,
}

impl Found {
    fn merge(self, other: Found) -> Found {
        let damage = match (self.damage, other.damage) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        Found {
            files: self.files + other.files,
            bytes: self.bytes + other.bytes,
            identity: self.identity.or(other.identity),
            damage,
        }
    }
}

/// The folder entries, in archive order: the data of each must be empty;
/// with `dest`, each is made there, and so is every folder a file entry
/// needs (the files can then be written in any order). Returns the folders
/// made, with what the archive records of them, and the first damage,
/// with its entry's index (the entries after it are not looked at).
fn folders(
    file: &File,
    entries: &[Judged<'_>],
    dest: Option<&Path>,
) -> (Vec<Folder>, Option<(usize, Damage)>) {
    let mut decoding = Decoding::new();
    let mut made = Vec::new();
    let mut parents: HashSet<&[u8]> = HashSet::new();
    for (i, j) in entries.iter().enumerate() {
        let dir = j.record.kind == ManifestKind::Dir;
        if dir && let Err(d) = empty_folder_data(file, j, &mut decoding) {
            return (made, Some((i, d)));
        }
        let Some(d) = dest else { continue };
        let path = j.raw.strip_suffix(b"/").unwrap_or(&j.raw);
        let needed = if dir {
            Some(path)
        } else {
            path.iter()
                .rposition(|&b| b == b'/')
                .map(|cut| &path[..cut])
                .filter(|parent| parents.insert(parent))
        };
        let Some(needed) = needed else { continue };
        let at = d.join(os_path(needed));
        if let Err(source) = fs::create_dir_all(&at) {
            return (made, Some((i, Damage::Write { path: at, source })));
        }
        if dir {
            made.push(Folder {
                path: at,
                secs: j.record.mtime_s,
                nanos: j.record.mtime_ns,
                mode: j.mode,
            });
        }
    }
    (made, None)
}

/// A folder entry's data: the headers say there is none, but a compressed
/// stream may still be there (some tools write an empty deflate stream):
/// it must decode to nothing.
fn empty_folder_data(file: &File, j: &Judged<'_>, decoding: &mut Decoding) -> Result<(), Damage> {
    let mut one = [0u8; 1];
    match decoding
        .open(file, &j.span)
        .and_then(|mut r| r.read(&mut one))
    {
        Ok(0) => Ok(()),
        Ok(_) => Err(Damage::DirWithData {
            name: j.name.clone(),
            size: j.span.len,
        }),
        Err(e) => Err(Damage::Entry {
            name: j.name.clone(),
            detail: e.to_string(),
        }),
    }
}

/// A file entry: its data read through the worker's buffer, never more
/// than the record announces, its size and CRC-32 computed and compared
/// with the record; with a `target`, written there (a new file, in a folder
/// made before), given its recorded time and permissions, and left to
/// `unflushed`. Returns the data itself when the entry is the archived
/// `dossier.toml`.
fn file_entry(
    file: &File,
    j: &Judged<'_>,
    target: Option<PathBuf>,
    w: &mut Worker,
    unflushed: &Unflushed,
) -> Result<Option<Vec<u8>>, Damage> {
    let m = j.record;
    let keep = j.name == DOSSIER_TOML && m.size <= 1 << 20;
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| Damage::Write { path, source }
    };
    let mut out = match target {
        Some(t) => {
            let f = File::options()
                .write(true)
                .create_new(true)
                .open(&t)
                .map_err(write_err(&t))?;
            Some((f, t))
        }
        None => None,
    };
    let unreadable = |e: io::Error| Damage::Entry {
        name: j.name.clone(),
        detail: e.to_string(),
    };
    let mut kept = Vec::new();
    let mut hasher = crc32fast::Hasher::new();
    let mut got = 0u64;
    // Never read more than the manifest announces (plus one byte to see
    // that there is more): a lying entry cannot fill the disk.
    let mut data = w
        .decoding
        .open(file, &j.span)
        .map_err(unreadable)?
        .take(m.size + 1);
    loop {
        let k = match data.read(&mut w.buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(unreadable(e)),
        };
        got += k as u64;
        let chunk = &w.buf[..k];
        hasher.update(chunk);
        if keep {
            kept.extend_from_slice(chunk);
        }
        if let Some((f, t)) = out.as_mut() {
            f.write_all(chunk).map_err(write_err(t))?;
        }
    }
    if got != m.size {
        return Err(Damage::Mismatch {
            name: j.name.clone(),
            what: "taille",
        });
    }
    let actual = format!("{:08x}", hasher.finalize());
    if m.crc32.as_deref() != Some(actual.as_str()) {
        return Err(Damage::Crc {
            name: j.name.clone(),
            expected: m.crc32.clone().unwrap_or_else(|| "absent".into()),
            actual,
        });
    }
    if let Some((f, t)) = out {
        finish_file(&f, m.mtime_s, m.mtime_ns, j.mode).map_err(write_err(&t))?;
        unflushed.add(f, t)?;
    }
    Ok(keep.then_some(kept))
}

/// Restored files written and not flushed yet, kept open until they are
/// flushed together: when `limit` of them are open, and at the end.
struct Unflushed {
    files: Mutex<Vec<(File, PathBuf)>>,
    limit: usize,
}

impl Unflushed {
    fn new() -> Unflushed {
        Unflushed {
            files: Mutex::new(Vec::new()),
            limit: open_files_budget(),
        }
    }

    /// Keeps `f` (written at `path`) open until it is flushed; flushes the
    /// whole group when it is full.
    fn add(&self, f: File, path: PathBuf) -> Result<(), Damage> {
        let full = {
            let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            files.push((f, path));
            if files.len() < self.limit {
                return Ok(());
            }
            std::mem::take(&mut *files)
        };
        flush(full)
    }

    /// Flushes the files still waiting.
    fn flush_all(self) -> Result<(), Damage> {
        flush(self.files.into_inner().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Flushes a group of restored files at once; the first failure names its
/// file.
fn flush(group: Vec<(File, PathBuf)>) -> Result<(), Damage> {
    let files: Vec<&File> = group.iter().map(|(f, _)| f).collect();
    let results = crate::sys::fs::flush_files(&files);
    for (r, (_, path)) in results.into_iter().zip(&group) {
        r.map_err(|source| Damage::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// How many restored files may wait open for their flush: half of what
/// the process may have open (the soft limit of open files on Unix), at
/// most 8,192 (a few flushes for the largest dossiers), at least 16.
fn open_files_budget() -> usize {
    #[cfg(unix)]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        let soft = limit.current.unwrap_or(u64::MAX);
        (soft / 2).clamp(16, 8192) as usize
    }
    #[cfg(not(unix))]
    {
        512
    }
}

/// Checks the `code` of an archived `dossier.toml` (`text`) against the
/// manifest's: a restored dossier whose identity names another dossier is
/// not the one the archive records.
pub(super) fn check_identity(text: &[u8], code: &str) -> Result<(), Damage> {
    let bad = |detail: String| Damage::Identity { detail };
    let text = std::str::from_utf8(text).map_err(|_| bad("pas du texte UTF-8".into()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(format!("illisible ({})", e.message())))?;
    match table.get("code").and_then(toml::Value::as_str) {
        Some(c) if c == code => Ok(()),
        Some(c) => Err(bad(format!(
            "code = \"{c}\", le manifeste dit dossier {code}"
        ))),
        None => Err(bad("pas de code".into())),
    }
}

/// Creates the symbolic link `at` → `target` (never followed). On Windows,
/// where a link is a file link or a folder link and creating one needs a
/// privilege, a file link is tried; a refusal fails the restore, naming it.
pub(super) fn make_link(target: &Path, at: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(target, at)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::symlink_file(target, at)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (target, at);
        Err(io::Error::other("liens symboliques non pris en charge"))
    }
}

/// Sets an extracted file's time and permissions (its flush is left to
/// [`Unflushed`]).
fn finish_file(f: &File, secs: i64, nanos: u32, mode: Option<u32>) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        // The recorded permissions, never setuid/setgid/sticky from an
        // archive.
        f.set_permissions(fs::Permissions::from_mode(mode & 0o777))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    f.set_modified(system_time(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The restored files wait open in groups of the budget: each full
    /// group is flushed as it fills, the rest at the end.
    #[test]
    fn restored_files_are_flushed_in_groups_of_the_budget() {
        let d = tempfile::tempdir().unwrap();
        let unflushed = Unflushed {
            files: Mutex::new(Vec::new()),
            limit: 3,
        };
        for i in 0..7 {
            let path = d.path().join(format!("f{i}"));
            let mut f = File::create(&path).unwrap();
            f.write_all(b"x").unwrap();
            unflushed.add(f, path).unwrap();
            let waiting = unflushed.files.lock().unwrap().len();
            assert_eq!(waiting, (i + 1) % 3, "after file {i}");
        }
        unflushed.flush_all().unwrap();
        assert!((16..=8192).contains(&open_files_budget()));
    }
}
