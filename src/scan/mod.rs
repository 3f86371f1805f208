//! Scan: walk every dossier (in parallel, one rayon task per dossier), stat
//! every file once, and fingerprint the result.
//!
//! "Modified since the last backup" is decided from the fingerprint alone —
//! relative path, size and modification time of every file, plus what an
//! application cannot set back (on Unix the change time `ctime` and the inode
//! number) — so a night where nothing changed costs one `stat` per file and
//! reads no content. A timestamp only proves "unchanged" if it is older than
//! the walk by more than the file system's tick: a file rewritten within the
//! tick of the walk keeps the same timestamps (git's "racy clean" problem).
//! Such a file makes the scan [`Fingerprint::unproven`], and what a backup
//! records from it then never matches a later scan: the dossier is saved
//! again next time. The lock file is never part of a dossier; `documents/`
//! only when the setting says so. Symbolic links are recorded as links
//! (never followed); names that are not UTF-8 keep their bytes. Special
//! files (FIFO, socket, device) and names no archive can hold are listed
//! as skipped, so the report says so — the latter as data left out.
//!
//! The walk is here; the fingerprint in `fingerprint.rs`; the one rule on
//! entry names (shared with the archive's writer and reader) in `names.rs`.

mod fingerprint;
pub mod names;

pub use fingerprint::Fingerprint;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use thiserror::Error;

use crate::base::{self, DOCUMENTS, Identity, IdentityError, LOCK_FILE};
use crate::state::LeftOut;
use crate::sys::time::Mtime;
use names::{escaped_name, judged_name, os_path, unrestorable};

/// What an archivable [`Entry`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    /// A folder with nothing archivable in it, kept so restore recreates it
    /// (with its permissions and modification time).
    EmptyDir,
    /// A symbolic link, recorded with its target (never followed): the
    /// manifest lists it and restore recreates it; what it points to is not
    /// part of the dossier.
    Link {
        target: Vec<u8>,
    },
}

/// One archivable thing of a dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative path with `/` separators, valid UTF-8: for a name that is
    /// not UTF-8, its bytes shown as `\xNN` ([`escaped_name`]).
    pub rel: String,
    /// The relative path's own bytes when it is not UTF-8 (Unix: names from
    /// old Windows or Samba set-ups in Latin-1): what the archive records
    /// and restore gives back.
    pub raw: Option<Vec<u8>>,
    /// A file, an empty folder or a link.
    pub kind: EntryKind,
    /// A file's size in bytes (0 otherwise).
    pub size: u64,
    /// Its modification time.
    pub mtime: Mtime,
    /// The last change of content or metadata ([`Mtime::changed`]).
    pub changed: Mtime,
    /// The file's identity on its file system (the inode number on Unix, 0
    /// elsewhere): a file replaced by another of the same size and times is
    /// still a different file.
    pub file_id: u64,
    /// Changed too recently, when the walk saw it, for its stamps to prove
    /// anything ([`Mtime::is_racy`]): read twice when archived, and the
    /// backup does not count as proof that the dossier is unchanged.
    pub racy: bool,
    /// Unix permission bits, kept in the archive (0o644 where there are none).
    pub mode: u32,
}

impl Entry {
    /// The relative path's bytes as the archive records them.
    pub fn name_bytes(&self) -> &[u8] {
        self.raw.as_deref().unwrap_or(self.rel.as_bytes())
    }

    /// The entry's path under the dossier folder `dir`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        match &self.raw {
            Some(raw) => dir.join(os_path(raw)),
            None => dir.join(&self.rel),
        }
    }

    /// Whether `meta` (of the file at this entry's path, not following a
    /// link) is still the file the scan saw: same size, modification time,
    /// change time and identity. Within the tick of the scan a change can
    /// leave all four equal: see [`Entry::racy`].
    pub fn same_file(&self, meta: &fs::Metadata) -> bool {
        meta.len() == self.size
            && Mtime::of(meta) == self.mtime
            && Mtime::changed(meta) == self.changed
            && file_id(meta) == self.file_id
    }
}

/// Something in a dossier that is not archived, and why (French).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// As shown (see [`Entry::rel`]).
    pub rel: String,
    /// The real relative path, to find it again (restore keeps it).
    pub path: PathBuf,
    /// Why it is not archived (French, for the report).
    pub why: &'static str,
    /// Whether it holds data the archive lacks (a file whose name cannot
    /// be archived): the dossier's backup is then incomplete, an error
    /// line. FIFOs, sockets, devices hold none.
    pub data: bool,
}

impl Skipped {
    /// What the outcome of a backup says of it: `rel (why)`.
    pub fn left_out(&self) -> LeftOut {
        LeftOut {
            rel: self.rel.clone(),
            why: self.why,
        }
    }
}

/// A folder or file of a dossier that its walk could not read: the walk saw
/// only part of the dossier, which then cannot be saved (nor restored over:
/// see [`left_out`]). Its message is the French sentence of the report line
/// without its final period (the report line adds it; a restore puts it in
/// parentheses). The I/O cause is shared when the scan is cloned.
#[derive(Debug, Clone, Error)]
pub enum WalkError {
    /// A folder could not be listed; `rel` is its relative path ending in
    /// `/`, empty for the dossier's own folder.
    #[error("Lecture impossible du répertoire {} : {source}", display_rel(rel))]
    Folder {
        rel: String,
        source: Arc<std::io::Error>,
    },
    /// A file, link or folder in a listed folder could not be read.
    #[error("Lecture impossible de {rel} : {source}")]
    Entry {
        rel: String,
        source: Arc<std::io::Error>,
    },
}

impl WalkError {
    fn folder(rel: &str, e: std::io::Error) -> WalkError {
        WalkError::Folder {
            rel: rel.to_owned(),
            source: Arc::new(e),
        }
    }

    fn entry(rel: &str, e: std::io::Error) -> WalkError {
        WalkError::Entry {
            rel: rel.to_owned(),
            source: Arc::new(e),
        }
    }
}

/// The scan of one dossier folder.
#[derive(Debug, Clone)]
pub struct DossierScan {
    /// The folder name (the code, if valid).
    pub code: String,
    /// The dossier's folder.
    pub dir: PathBuf,
    /// The identity, or what is wrong with it (or with the entry of
    /// `dossiers/` itself: a link, unreadable).
    pub identity: Result<Identity, IdentityError>,
    /// Sorted by `rel`; empty once [dropped](DossierScan::drop_entries).
    pub entries: Vec<Entry>,
    /// How many entries the walk found (files, links, empty folders):
    /// `entries.len()`, kept when the entries are dropped.
    pub entry_count: usize,
    /// What the walk found and does not archive, sorted by `rel`.
    pub skipped: Vec<Skipped>,
    /// The files' bytes.
    pub total_bytes: u64,
    /// The fingerprint of `entries` and of the data left out.
    pub fingerprint: Fingerprint,
    /// The first folder or file that could not be walked: the dossier
    /// cannot be saved.
    pub walk_error: Option<WalkError>,
}

/// Scans every folder under `<base>/dossiers/`, in parallel. Plain files
/// directly under `dossiers/` are not dossiers and are ignored, as are
/// restore's temporary folders.
pub fn scan_base(
    dossiers_dir: &Path,
    include_documents: bool,
) -> std::io::Result<Vec<DossierScan>> {
    scan_base_keeping(dossiers_dir, include_documents, |_| true)
}

/// [`scan_base`], keeping the entries only of the scans `keep` says: the
/// others' are [dropped](DossierScan::drop_entries) as soon as each dossier
/// is walked, so a base of a million files is never held whole in memory
/// when only fingerprints and totals are wanted.
pub fn scan_base_keeping(
    dossiers_dir: &Path,
    include_documents: bool,
    keep: impl Fn(&DossierScan) -> bool + Sync,
) -> std::io::Result<Vec<DossierScan>> {
    let mut folders = Vec::new();
    let mut broken = Vec::new();
    for entry in fs::read_dir(dossiers_dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Restore's temporary folders live beside the dossiers; they are not
        // dossiers (and `restore::recover` deals with any left behind).
        if name.starts_with(crate::base::TEMP_PREFIX) {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => folders.push((name, entry.path())),
            // A link (or a Windows junction) in place of a dossier is not
            // followed — and not silently skipped either.
            Ok(t) if t.is_symlink() => broken.push(DossierScan::broken(
                &name,
                &entry.path(),
                IdentityError::Link,
            )),
            Ok(_) => {}
            Err(e) => broken.push(DossierScan::broken(
                &name,
                &entry.path(),
                IdentityError::FolderUnreadable {
                    source: Arc::new(e),
                },
            )),
        }
    }
    folders.sort();
    let mut scans: Vec<DossierScan> = folders
        .into_par_iter()
        .map(|(code, dir)| {
            let mut s = scan_dossier(&code, &dir, include_documents);
            if !keep(&s) {
                s.drop_entries();
            }
            s
        })
        .collect();
    scans.extend(broken);
    Ok(scans)
}

impl DossierScan {
    /// Frees the entries (their count stays in [`DossierScan::entry_count`];
    /// totals, fingerprint and what was skipped stay too): for a scan
    /// that only decides, the dossier being walked again before it is
    /// archived.
    pub fn drop_entries(&mut self) {
        self.entries = Vec::new();
    }

    /// The sentence of a backup that could not hold everything: data left
    /// out ([`Skipped::data`]), or `None`.
    pub fn incomplete(&self) -> Option<String> {
        let left_out: Vec<String> = self
            .skipped
            .iter()
            .filter(|s| s.data)
            .map(|s| s.left_out().to_string())
            .collect();
        (!left_out.is_empty()).then(|| {
            format!(
                "Sauvegarde incomplète : l'archive a été écrite, mais {} élément(s) n'ont pas pu y être mis : {} ; renommez-les pour qu'ils soient sauvegardés.",
                left_out.len(),
                left_out.join(", ")
            )
        })
    }

    /// The symbolic links recorded, as `path -> target`.
    pub fn links(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|e| match &e.kind {
                EntryKind::Link { target } => Some(format!(
                    "{} -> {}",
                    e.rel,
                    escaped_name(&os_path(target).into_os_string())
                )),
                _ => None,
            })
            .collect()
    }

    /// An entry of `dossiers/` that cannot be a dossier ([`IdentityError::Link`],
    /// [`IdentityError::FolderUnreadable`]): an error line.
    fn broken(code: &str, dir: &Path, why: IdentityError) -> DossierScan {
        DossierScan {
            code: code.to_owned(),
            dir: dir.to_owned(),
            identity: Err(why),
            entries: Vec::new(),
            entry_count: 0,
            skipped: Vec::new(),
            total_bytes: 0,
            fingerprint: Fingerprint::of(&[], &[]),
            walk_error: None,
        }
    }
}

/// Scans one dossier folder; stamps are judged racy against this
/// machine's clock at the start of the walk.
pub fn scan_dossier(code: &str, dir: &Path, include_documents: bool) -> DossierScan {
    scan_dossier_at(code, dir, include_documents, SystemTime::now())
}

/// Scans one dossier folder, judging stamps racy against `now`: the file
/// system's own clock when the caller has it (`lock::Held::file_system_now`,
/// under the dossier's lock, before a backup), so a file server whose clock
/// is off from this machine's is judged by its own.
pub fn scan_dossier_at(
    code: &str,
    dir: &Path,
    include_documents: bool,
    now: SystemTime,
) -> DossierScan {
    let identity = base::read_identity(dir, code);
    let mut walk = Walk {
        root: dir.to_owned(),
        started: now,
        ..Walk::default()
    };
    if identity.is_ok() {
        walk.tree(dir, include_documents);
    }
    let Walk {
        mut entries,
        mut skipped,
        error,
        ..
    } = walk;
    entries.sort_by(|a, b| a.rel.cmp(&b.rel));
    // The report line lists them in this order: the same on every system.
    skipped.sort_by(|a, b| a.rel.cmp(&b.rel));
    let total_bytes = entries.iter().map(|e| e.size).sum();
    let fingerprint = Fingerprint::of(&entries, &skipped);
    DossierScan {
        code: code.to_owned(),
        dir: dir.to_owned(),
        identity,
        entry_count: entries.len(),
        entries,
        skipped,
        total_bytes,
        fingerprint,
        walk_error: error,
    }
}

/// What a run would leave out of the archive of the dossier folder `dir`
/// (its identity aside), sorted; an error naming the first folder or file
/// that could not be read.
pub fn left_out(dir: &Path, include_documents: bool) -> Result<Vec<Skipped>, WalkError> {
    let mut walk = Walk {
        root: dir.to_owned(),
        started: SystemTime::now(),
        ..Walk::default()
    };
    walk.tree(dir, include_documents);
    if let Some(e) = walk.error {
        return Err(e);
    }
    walk.skipped.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(walk.skipped)
}

struct Walk {
    /// The dossier folder.
    root: PathBuf,
    /// When the walk started: a file changed in the same tick is racy.
    started: SystemTime,
    entries: Vec<Entry>,
    skipped: Vec<Skipped>,
    error: Option<WalkError>,
}

impl Default for Walk {
    fn default() -> Walk {
        Walk {
            root: PathBuf::new(),
            started: UNIX_EPOCH,
            entries: Vec::new(),
            skipped: Vec::new(),
            error: None,
        }
    }
}

/// A folder the walk has yet to read.
struct Pending {
    path: PathBuf,
    /// Its relative path, ending in `/` (empty for the dossier itself).
    prefix: String,
    /// The bytes of `prefix` when a folder on the way is not UTF-8.
    raw: Option<Vec<u8>>,
    /// Its entry, recorded if it holds nothing archivable (`None` for the
    /// dossier itself).
    if_empty: Option<Entry>,
}

impl Walk {
    /// Walks the tree at `dir`, one folder open at a time whatever its depth
    /// (see `crate::sys::tree`): each folder is read whole and closed, then its
    /// subfolders are walked.
    fn tree(&mut self, dir: &Path, include_documents: bool) {
        let mut pending = vec![Pending {
            path: dir.to_owned(),
            prefix: String::new(),
            raw: None,
            if_empty: None,
        }];
        while let Some(p) = pending.pop() {
            let any = self.dir(
                &p.path,
                &p.prefix,
                p.raw.as_deref(),
                include_documents,
                &mut pending,
            );
            if !any && let Some(e) = p.if_empty {
                self.entries.push(e);
            }
        }
    }

    /// Reads the folder `dir` (relative path `prefix`, and `raw_prefix` its
    /// bytes when a folder above is not UTF-8), records its entries and adds
    /// its subfolders to `pending`; returns whether it held anything
    /// archivable (a file, link or folder), so empty folders can be
    /// recorded.
    fn dir(
        &mut self,
        dir: &Path,
        prefix: &str,
        raw_prefix: Option<&[u8]>,
        include_documents: bool,
        pending: &mut Vec<Pending>,
    ) -> bool {
        let read = match crate::sys::tree::read_folder(dir, true) {
            Ok(r) => r,
            Err(e) => {
                self.error.get_or_insert(WalkError::folder(prefix, e));
                return true;
            }
        };
        let mut any = false;
        for item in read {
            let item = match item {
                Ok(i) => i,
                Err(e) => {
                    self.error.get_or_insert(WalkError::folder(prefix, e));
                    continue;
                }
            };
            let os_name = item.name;
            // A name that is not UTF-8 is archived with its own bytes (Unix);
            // it is shown, and sorted, as its `\xNN` escape.
            let (name, raw) = match os_name.to_str() {
                Some(n) if raw_prefix.is_none() => (n.to_owned(), None),
                _ => {
                    let mut raw = raw_prefix.unwrap_or(prefix.as_bytes()).to_vec();
                    raw.extend_from_slice(os_name.as_encoded_bytes());
                    (escaped_name(&os_name), Some(raw))
                }
            };
            let rel = format!("{prefix}{name}");
            let real = item.path;
            if raw.is_some() && !cfg!(unix) {
                self.skip(rel, &real, "nom de fichier non UTF-8", true);
                continue;
            }
            let judged = match &raw {
                Some(raw) => std::borrow::Cow::Owned(judged_name(raw)),
                None => std::borrow::Cow::Borrowed(rel.as_str()),
            };
            if let Some(why) = unrestorable(&judged) {
                // Archived, it would make the whole archive refused by
                // `restore` and `verify`: not archived, and said.
                self.skip(rel, &real, why, true);
                continue;
            }
            if prefix.is_empty() && (name == LOCK_FILE || (name == DOCUMENTS && !include_documents))
            {
                continue;
            }
            if prefix.is_empty() && name == ".svgauto" {
                // The archive's own manifest lives there: a copy unpacked
                // into the dossier must not make a second one.
                let why = "réservé à svgauto (manifeste d'archive)";
                self.skip(format!("{rel}/"), &real, why, false);
                continue;
            }
            // Read as DirEntry::metadata, which does not follow symbolic links.
            let meta = match item.metadata.unwrap_or_else(|| fs::symlink_metadata(&real)) {
                Ok(m) => m,
                Err(e) => {
                    self.error.get_or_insert(WalkError::entry(&rel, e));
                    continue;
                }
            };
            any |= self.record(rel, raw, real, &meta, pending);
        }
        any
    }

    /// Records `rel` (found at `real`) as not archived, and why.
    fn skip(&mut self, rel: String, real: &Path, why: &'static str, data: bool) {
        let path = real.strip_prefix(&self.root).unwrap_or(real).to_owned();
        self.skipped.push(Skipped {
            rel,
            path,
            why,
            data,
        });
    }

    /// Records what the walk found at `real` (relative path `rel`, its
    /// bytes `raw` when not UTF-8), of metadata `meta`: a file or a link as
    /// an entry, a folder on `pending` (an entry if it turns out empty),
    /// anything else as skipped. Returns whether it is archivable.
    fn record(
        &mut self,
        rel: String,
        raw: Option<Vec<u8>>,
        real: PathBuf,
        meta: &fs::Metadata,
        pending: &mut Vec<Pending>,
    ) -> bool {
        let ft = meta.file_type();
        if ft.is_dir() {
            let sub = format!("{rel}/");
            let raw_sub = raw.as_ref().map(|r| {
                let mut r = r.clone();
                r.push(b'/');
                r
            });
            let if_empty = Entry {
                rel: sub.clone(),
                raw: raw_sub.clone(),
                kind: EntryKind::EmptyDir,
                size: 0,
                mtime: Mtime::of(meta),
                changed: Mtime::changed(meta),
                file_id: file_id(meta),
                racy: false,
                mode: mode(meta),
            };
            pending.push(Pending {
                path: real,
                prefix: sub,
                raw: raw_sub,
                if_empty: Some(if_empty),
            });
            true
        } else if ft.is_file() {
            let changed = Mtime::changed(meta);
            let mtime = Mtime::of(meta);
            self.entries.push(Entry {
                rel,
                raw,
                kind: EntryKind::File,
                size: meta.len(),
                mtime,
                changed,
                file_id: file_id(meta),
                // The change time first; a recent modification time
                // too (FAT and exFAT have no real change time, and
                // Windows' is not in std's metadata). A modification
                // time in the future is an application's doing, not a
                // change now: on Unix the change time covers it.
                racy: changed.is_racy(self.started)
                    || (mtime.is_racy(self.started)
                        && (!cfg!(unix) || mtime.to_system() <= self.started)),
                mode: mode(meta),
            });
            true
        } else if ft.is_symlink() {
            // Recorded as a link (its target), never followed.
            match fs::read_link(&real) {
                Ok(target) => {
                    self.entries.push(Entry {
                        rel,
                        raw,
                        kind: EntryKind::Link {
                            target: target.into_os_string().into_encoded_bytes(),
                        },
                        size: 0,
                        mtime: Mtime::of(meta),
                        changed: Mtime::changed(meta),
                        file_id: file_id(meta),
                        racy: false,
                        mode: 0o777,
                    });
                    true
                }
                Err(e) => {
                    self.error.get_or_insert(WalkError::entry(&rel, e));
                    false
                }
            }
        } else {
            let why = "fichier spécial (tube, socket ou périphérique)";
            self.skip(rel, &real, why, false);
            false
        }
    }
}

fn mode(meta: &fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0o644
    }
}

/// The file's identity on its file system: the inode number on Unix; 0
/// elsewhere (Windows' file index needs a handle on every file).
fn file_id(meta: &fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

/// A folder's relative path as [`WalkError::Folder`] says it: `du dossier`
/// for the dossier's own folder.
fn display_rel(prefix: &str) -> &str {
    if prefix.is_empty() {
        "du dossier"
    } else {
        prefix
    }
}

/// A dossier `D` in a temporary folder, with `files` (relative path,
/// content): the unit tests' starting point.
#[cfg(test)]
pub(crate) fn test_dossier(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join(crate::base::DOSSIER_TOML), "code = \"D\"\n").unwrap();
    for (rel, data) in files {
        let p = d.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
    d
}

/// The fingerprint (format 2) of the dossier `D` at `d`, with or without
/// its documents: the unit tests' measure of "changed".
#[cfg(test)]
pub(crate) fn test_fingerprint(d: &tempfile::TempDir, documents: bool) -> String {
    scan_dossier("D", d.path(), documents).fingerprint.full
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{test_dossier as dossier, test_fingerprint as fp};

    #[test]
    fn lock_file_and_documents_are_not_part_of_the_dossier() {
        let d = dossier(&[("a.dat", b"1"), ("documents/x.pdf", b"2")]);
        let before = fp(&d, false);
        fs::write(d.path().join(LOCK_FILE), b"").unwrap();
        fs::write(d.path().join("documents/y.pdf"), b"3").unwrap();
        assert_eq!(before, fp(&d, false));
        assert_ne!(fp(&d, false), fp(&d, true));
        let s = scan_dossier("D", d.path(), false);
        let rels: Vec<_> = s.entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(rels, ["a.dat", "dossier.toml"]);
    }

    /// Regression: an archive unpacked into its dossier brought its
    /// `.svgauto/manifest.json`, and the next archive held two manifests.
    #[test]
    fn a_svgauto_folder_in_a_dossier_is_skipped_with_a_note() {
        let d = dossier(&[("a.dat", b"1"), (".svgauto/manifest.json", b"{}")]);
        let s = scan_dossier("D", d.path(), false);
        let rels: Vec<_> = s.entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(rels, ["a.dat", "dossier.toml"]);
        assert_eq!(s.skipped[0].rel, ".svgauto/");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_in_place_of_a_dossier_is_an_error_not_a_skip() {
        let base = tempfile::tempdir().unwrap();
        let real = dossier(&[("a.dat", b"1")]);
        std::os::unix::fs::symlink(real.path(), base.path().join("D")).unwrap();
        let scans = scan_base(base.path(), false).unwrap();
        assert_eq!(scans.len(), 1);
        assert!(matches!(scans[0].identity, Err(IdentityError::Link)));
    }

    /// The walk's errors, as the report line says them (before its period).
    #[test]
    fn a_walk_error_names_what_could_not_be_read() {
        let denied = || std::io::Error::other("Permission non accordée");
        assert_eq!(
            WalkError::folder("", denied()).to_string(),
            "Lecture impossible du répertoire du dossier : Permission non accordée"
        );
        assert_eq!(
            WalkError::folder("compta/2025/", denied()).to_string(),
            "Lecture impossible du répertoire compta/2025/ : Permission non accordée"
        );
        assert_eq!(
            WalkError::entry("compta/a.dat", denied()).to_string(),
            "Lecture impossible de compta/a.dat : Permission non accordée"
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_unreadable_folder_is_the_walk_error_and_stops_a_restore() {
        use std::os::unix::fs::PermissionsExt;
        let d = dossier(&[("prive/a.dat", b"1")]);
        let prive = d.path().join("prive");
        fs::set_permissions(&prive, fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads it anyway: nothing to check then.
        let readable = fs::read_dir(&prive).is_ok();
        let s = scan_dossier("D", d.path(), false);
        let left = left_out(d.path(), false);
        fs::set_permissions(&prive, fs::Permissions::from_mode(0o755)).unwrap();
        if readable {
            return;
        }
        let e = s.walk_error.expect("the walk says what it could not read");
        assert!(matches!(&e, WalkError::Folder { rel, .. } if rel == "prive/"));
        assert_eq!(
            left.unwrap_err().to_string(),
            e.to_string(),
            "a restore is refused with the same sentence"
        );
    }

    /// What a run's plan holds of a dossier it only decides: no entry,
    /// their count and the fingerprint kept.
    #[test]
    fn entries_are_dropped_unless_kept_and_their_count_stays() {
        let base = tempfile::tempdir().unwrap();
        for code in ["A", "B"] {
            let d = base.path().join(code);
            fs::create_dir_all(d.join("compta")).unwrap();
            fs::write(d.join("dossier.toml"), format!("code = \"{code}\"\n")).unwrap();
            fs::write(d.join("compta/a.dat"), b"1").unwrap();
        }
        let whole = scan_base(base.path(), false).unwrap();
        let kept = scan_base_keeping(base.path(), false, |s| s.code == "B").unwrap();
        assert_eq!(whole.len(), 2);
        for (w, k) in whole.iter().zip(&kept) {
            assert_eq!(w.entries.len(), 2);
            assert_eq!((w.entry_count, k.entry_count), (2, 2));
            assert_eq!(k.entries.len(), if k.code == "B" { 2 } else { 0 });
            assert_eq!(w.fingerprint.full, k.fingerprint.full);
            assert_eq!(w.total_bytes, k.total_bytes);
        }
    }

    #[test]
    fn empty_folders_are_entries() {
        let d = dossier(&[]);
        fs::create_dir_all(d.path().join("vide/encore")).unwrap();
        let s = scan_dossier("D", d.path(), false);
        let rels: Vec<_> = s.entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(rels, ["dossier.toml", "vide/encore/"]);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_recorded_not_followed() {
        let d = dossier(&[("a.dat", b"1")]);
        std::os::unix::fs::symlink("/etc", d.path().join("lien")).unwrap();
        let s = scan_dossier("D", d.path(), false);
        assert!(s.skipped.is_empty());
        let link = s.entries.iter().find(|e| e.rel == "lien").unwrap();
        assert_eq!(
            link.kind,
            EntryKind::Link {
                target: b"/etc".to_vec()
            }
        );
        assert_eq!(s.links(), ["lien -> /etc"]);
        // Nothing under /etc was walked.
        assert_eq!(s.entries.len(), 3);
    }

    /// Judged by the file system's own clock (here, the file's own change
    /// time: the walk "starts" the instant it was written), whatever this
    /// process's clock says.
    #[test]
    fn a_file_just_written_makes_the_scan_unproven() {
        let d = dossier(&[("a.dat", b"1")]);
        let meta = fs::metadata(d.path().join("a.dat")).unwrap();
        let now = Mtime::changed(&meta).to_system();
        let s = scan_dossier_at("D", d.path(), false, now);
        assert!(s.fingerprint.unproven.is_some());
        let later = scan_dossier_at(
            "D",
            d.path(),
            false,
            now + std::time::Duration::from_secs(10),
        );
        assert!(later.fingerprint.unproven.is_none());
    }
}
