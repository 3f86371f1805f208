//! Reading an SVG archive back, trusting nothing in it. The rule: an archive
//! passes [`check`] only if `restore` will bring it back exactly as its own
//! records say — `svgauto verify`, `run --verify` and `restore` all go
//! through [`check`], so they cannot disagree. Each kind of check has its
//! own function:
//!
//! - [`container::check_container`]: the zip itself — nothing before or
//!   after it, no two entries of one name, every local header as the
//!   central directory says, no overlapping or hidden entries;
//! - [`manifest_from_json`]: the manifest is of a format this version knows
//!   (a newer one is refused, not guessed at), with no field it does not
//!   know;
//! - [`check_manifest_entry`]: each recorded path is a name the file system
//!   takes (`scan::names::name_problem`), not one svgauto never archives
//!   (`scan::names::reserved`), with a kind, size, CRC and times that make
//!   sense (`manifest::check_times`);
//! - [`tree::check_tree`]: the recorded paths, laid out on the file system,
//!   give each entry its own place — no path both a file and a folder,
//!   nothing under a file, no two names the file system takes for one;
//! - [`container::check_entry_header`], [`container::check_entry_times`]:
//!   each zip entry agrees with its manifest record (kind, Unix file type,
//!   size, CRC, times) and can be read (not encrypted, a method we decode,
//!   a folder without data);
//! - the content (`extract`): every file's size and CRC-32 computed here,
//!   not taken from the zip headers; `dossier.toml`, when archived, names
//!   the manifest's dossier.
//!
//! [`check`] judges everything but the contents from the headers first,
//! then reads each entry's data once, optionally extracting into a fresh
//! folder as it goes: `svgauto verify` reads into nothing, restore
//! extracts into a temporary folder that is only switched in if the whole
//! archive passed — and is not even created when the headers, the manifest
//! or the tree are at fault. A damaged archive is a [`Damage`] naming the
//! entry and what is wrong; `commands::verify::verify_file` adds what
//! `restore` checks of the file name.
//!
//! The records, the entries' headers and their data are judged on every
//! worker of the current rayon pool (the global one, one thread per core,
//! outside any pool); whatever the order they finish in, the damage said
//! is the first in order, the one a pass in order would find. `data` reads
//! an entry's data by positioned reads, so that workers read one archive
//! at once.

pub mod container;
mod data;
mod extract;
pub mod tree;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::archive::manifest::{FORMAT_VERSION, MANIFEST, Manifest, ManifestEntry, ManifestKind};
#[cfg(doc)]
use crate::archive::manifest::{check_manifest_entry, manifest_from_json};
use crate::base::DOSSIER_TOML;
use crate::scan::names::{Platform, os_path};
use container::read_manifest;
use tree::{TreePath, check_lengths, check_tree};

/// What is wrong with an archive (French, for the user).
#[derive(Debug, Error)]
pub enum Damage {
    #[error("archive illisible (pas un zip, ou tronquée) : {0}")]
    NotZip(String),
    #[error(
        "{bytes} octet(s) avant le début du zip : ce n'est plus le fichier que svgauto a écrit"
    )]
    Prepended { bytes: u64 },
    #[error("{bytes} octet(s) après la fin du zip : ce n'est plus le fichier que svgauto a écrit")]
    Trailing { bytes: u64 },
    #[error("structure du zip incohérente : {0}")]
    Structure(String),
    #[error("entrée {name} : présente plusieurs fois dans l'archive")]
    Duplicate { name: String },
    #[error("entrée {name} : en-tête local différent du répertoire central ({detail})")]
    LocalHeader { name: String, detail: String },
    #[error("manifeste {MANIFEST} absent : ce n'est pas une sauvegarde svgauto")]
    NoManifest,
    #[error("manifeste {MANIFEST} illisible : {0}")]
    BadManifest(String),
    #[error("manifeste {MANIFEST} : il doit être la dernière entrée de l'archive")]
    ManifestNotLast,
    #[error(
        "archive d'une version plus récente de svgauto (format {found} ; cette version lit jusqu'au format {FORMAT_VERSION}) : mettez svgauto à jour pour la vérifier ou la remonter"
    )]
    NewerFormat { found: u64 },
    #[error(
        "manifeste {MANIFEST} : champ inconnu {field} (archive d'une version plus récente de svgauto, ou modifiée)"
    )]
    UnknownField { field: String },
    #[error("entrée {name} : chemin refusé ({why})")]
    BadName { name: String, why: &'static str },
    #[error("entrée {name} : même chemin que l'entrée {other}, l'une fichier, l'autre dossier")]
    FileAndFolder { name: String, other: String },
    #[error("entrée {name} : {parent} est un fichier de l'archive, pas un dossier")]
    UnderAFile { name: String, parent: String },
    #[error(
        "entrée {name} : même nom que {other} pour le système de fichiers, qui ne distingue pas majuscules et minuscules"
    )]
    SameName { name: String, other: String },
    #[error("entrée {name} : chemin trop long pour être remonté dans {} ({len} octets ; limite {max})", dest.display())]
    TooLong {
        name: String,
        dest: PathBuf,
        len: usize,
        max: usize,
    },
    #[error("entrée {name} : lien symbolique refusé")]
    Symlink { name: String },
    #[error(
        "entrée {name} : type de fichier Unix {mode:o} (ni fichier ni dossier) dans l'en-tête zip"
    )]
    Special { name: String, mode: u32 },
    #[error("entrée {name} : absente du manifeste")]
    NotInManifest { name: String },
    #[error("entrée {name} : annoncée par le manifeste mais absente de l'archive")]
    Missing { name: String },
    #[error("entrée {name} : {what} différent du manifeste")]
    Mismatch { name: String, what: &'static str },
    #[error("entrée {name} : date de modification {why}")]
    Time { name: String, why: String },
    #[error("entrée {name} : dossier portant des données ({size} octets)")]
    DirWithData { name: String, size: u64 },
    #[error("entrée {name} : chiffrée (svgauto ne chiffre pas ses archives)")]
    Encrypted { name: String },
    #[error("entrée {name} : méthode de compression {method} non prise en charge")]
    Method { name: String, method: String },
    #[error("entrée {name} : CRC incorrect (manifeste {expected}, contenu {actual})")]
    Crc {
        name: String,
        expected: String,
        actual: String,
    },
    #[error("entrée {name} : illisible ({detail})")]
    Entry { name: String, detail: String },
    #[error("entrée {DOSSIER_TOML} : {detail}")]
    Identity { detail: String },
    #[error("écriture impossible de {} : {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// A checked archive: its manifest, what its content held, and, when it
/// was extracted, what is left to do to the tree once nothing more is
/// written into it.
#[derive(Debug)]
pub struct Checked {
    /// The archive's manifest, checked.
    pub manifest: Manifest,
    /// Files read (and extracted, with a destination).
    pub files: usize,
    /// Their bytes, uncompressed.
    pub bytes: u64,
    /// The folders extracted, with what the archive records of them, to
    /// give back once nothing more is written inside ([`Checked::finish_folders`]).
    pub folders: Vec<Folder>,
    /// The symbolic links to make in the extracted tree (where, and their
    /// target): [`Checked::make_links`], after the last write into the tree.
    pub links: Vec<(PathBuf, PathBuf)>,
}

/// A folder an archive records: where it was extracted, its modification
/// time and its Unix permissions (if the zip entry has them).
#[derive(Debug, Clone)]
pub struct Folder {
    /// Where it was extracted.
    pub path: PathBuf,
    /// Its recorded modification time: seconds since the Unix epoch…
    pub secs: i64,
    /// … and nanoseconds.
    pub nanos: u32,
    /// Its Unix permissions, from the zip entry.
    pub mode: Option<u32>,
}

impl Checked {
    /// Makes the recorded symbolic links in the extracted tree. Call it
    /// after the last write into the tree: a file written afterwards could
    /// go through a link, out of the dossier.
    pub fn make_links(&self) -> Result<(), Damage> {
        for (at, target) in &self.links {
            let write = |source| Damage::Write {
                path: at.clone(),
                source,
            };
            if let Some(parent) = at.parent() {
                fs::create_dir_all(parent).map_err(write)?;
            }
            extract::make_link(target, at).map_err(write)?;
        }
        Ok(())
    }

    /// Gives the extracted folders their recorded permissions and
    /// modification times, deepest first (writing in a folder changes its
    /// time: call this after the last write). A folder keeps read, write and
    /// search for its owner whatever it recorded (svgauto must be able to
    /// put the tree in place, and set it aside at the next restore).
    pub fn finish_folders(&self) -> io::Result<()> {
        let mut folders: Vec<&Folder> = self.folders.iter().collect();
        folders.sort_by_key(|f| std::cmp::Reverse(f.path.components().count()));
        for f in folders {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if let Some(mode) = f.mode {
                    fs::set_permissions(
                        &f.path,
                        fs::Permissions::from_mode((mode & 0o777) | 0o700),
                    )?;
                }
                fs::File::open(&f.path)?
                    .set_modified(crate::sys::time::system_time(f.secs, f.nanos))?;
            }
            #[cfg(not(unix))]
            let _ = f;
        }
        Ok(())
    }
}

/// A name from the zip for a message: its invalid UTF-8 bytes as `\xNN`
/// (as the report writes names that are not UTF-8).
fn shown(name: &[u8]) -> String {
    crate::scan::names::escaped_bytes(name)
}

/// A zip entry judged against its manifest record from the headers, before
/// any data is read: its name as shown (`\xNN` for bytes that are not
/// UTF-8), its name's bytes, its record, where its data is and its Unix
/// permissions (if the zip entry has them).
struct Judged<'m> {
    name: String,
    raw: Vec<u8>,
    record: &'m ManifestEntry,
    span: data::Span,
    mode: Option<u32>,
}

/// Checks the archive at `path`; with `dest`, extracts it into `dest` (which
/// must not exist yet) as it goes, restoring modification times and Unix
/// permissions: on `Ok`, the data of every file extracted are on disk
/// (flushed in groups, `crate::sys::fs::flush_files`), not yet the
/// folders' entries (the caller flushes them before it publishes the
/// tree). Every check that does not need the content (container,
/// manifest, tree, path lengths under `dest`) is made before `dest` is
/// created. On a damage found in the content, `dest` may hold part of the
/// archive: the caller removes it.
pub fn check(path: &Path, dest: Option<&Path>) -> Result<Checked, Damage> {
    let (mut zip, file) = container::open(path)?;
    let manifest_index = zip.index_for_name(MANIFEST).ok_or(Damage::NoManifest)?;
    if manifest_index + 1 != zip.len() {
        return Err(Damage::ManifestNotLast);
    }
    let manifest = read_manifest(&mut zip, manifest_index)?;
    let records = tree::records_by_name(&manifest)?;
    let links = tree::check_links(&manifest)?;
    // Every zip entry's name and headers, from the central directory: all
    // judged before anything is written.
    let entries = container::judge_entries(&zip, &manifest, &records)?;
    check_tree(
        entries
            .iter()
            .map(|j| TreePath {
                path: &j.raw,
                dir: j.record.kind == ManifestKind::Dir,
            })
            .chain(links.iter().map(|l| TreePath {
                path: &l.path,
                dir: false,
            })),
        Platform::HERE,
    )?;
    if let Some(d) = dest {
        check_lengths(d, &manifest)?;
        fs::create_dir(d).map_err(|source| Damage::Write {
            path: d.to_owned(),
            source,
        })?;
    }
    let contents = extract::contents(&file, &entries, dest)?;
    if let Some(text) = &contents.identity {
        extract::check_identity(text, &manifest.dossier.code)?;
    }
    // Links are not made here: the caller makes them (`make_links`) after
    // its own last write into the tree, so nothing is written through one.
    let links = match dest {
        Some(d) => links
            .iter()
            .map(|l| (d.join(os_path(&l.path)), os_path(&l.target)))
            .collect(),
        None => Vec::new(),
    };
    let checked = Checked {
        manifest,
        files: contents.files,
        bytes: contents.bytes,
        folders: contents.folders,
        links,
    };
    checked.finish_folders().map_err(|source| Damage::Write {
        path: dest.map(Path::to_owned).unwrap_or_default(),
        source,
    })?;
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::zip_writer::{EntryMeta, STORED};
    use std::fs::File;

    /// The zip header of a stored entry `name` of these tests (one time,
    /// mode 644; ZIP64 sizes in its local header if `zip64`).
    fn meta(name: &str, zip64: bool) -> EntryMeta {
        EntryMeta {
            name: name.into(),
            method: STORED,
            dos_time: 0,
            dos_date: 33,
            unix_mtime: Some(1_735_787_045),
            mode: 0o644,
            zip64,
        }
    }

    /// An archive at `path` of stored files `(name, data, recorded CRC)`
    /// (the CRC in the manifest and both headers), then the manifest.
    fn stored_archive(path: &Path, files: &[(String, Vec<u8>, u32)]) {
        use crate::archive::zip_writer::{Sums, ZipOut};
        let mut m = crate::archive::manifest::example_json();
        m["entries"] = files
            .iter()
            .map(|(name, data, crc)| {
                serde_json::json!({
                    "path": name, "type": "file", "size": data.len(),
                    "mtime": "2025-01-02T03:04:05Z", "mtime_s": 1_735_787_045, "mtime_ns": 0,
                    "crc32": format!("{crc:08x}"),
                })
            })
            .collect();
        let json = serde_json::to_vec(&m).unwrap();
        let mut z = ZipOut::new(File::create(path).unwrap());
        for (name, data, crc) in files {
            let sums = Sums {
                crc: *crc,
                csize: data.len() as u64,
                usize: data.len() as u64,
            };
            z.add(meta(name, false), sums, &[data]).unwrap();
        }
        let sums = Sums {
            crc: crc32fast::hash(&json),
            csize: json.len() as u64,
            usize: json.len() as u64,
        };
        z.add(meta(MANIFEST, false), sums, &[&json]).unwrap();
        z.finish().unwrap();
    }

    /// The entries are read on several workers, but the damage said is the
    /// first in archive order, whichever worker finds which first; the
    /// computed CRC is shown.
    #[test]
    fn the_damage_said_is_the_first_in_archive_order() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("BA.SVG");
        let mut files: Vec<(String, Vec<u8>, u32)> = (0..400)
            .map(|i| {
                let data = format!("fichier {i}\n").repeat(i % 7 + 1).into_bytes();
                let crc = crc32fast::hash(&data);
                (format!("d{}/f{i:03}.txt", i % 5), data, crc)
            })
            .collect();
        for bad in [317, 123, 355] {
            files[bad].2 ^= 1;
        }
        stored_archive(&path, &files);
        for dest in [None, Some(d.path().join("x"))] {
            let e = check(&path, dest.as_deref()).unwrap_err().to_string();
            let crc = crc32fast::hash(&files[123].1);
            assert_eq!(
                e,
                format!(
                    "entrée d3/f123.txt : CRC incorrect (manifeste {:08x}, contenu {crc:08x})",
                    crc ^ 1
                )
            );
        }
        files[123].2 ^= 1;
        files[317].2 ^= 1;
        files[355].2 ^= 1;
        stored_archive(&path, &files);
        let dest = d.path().join("y");
        let c = check(&path, Some(&dest)).unwrap();
        assert_eq!(c.files, 400);
        for (name, data, _) in &files {
            assert!(fs::read(dest.join(name)).unwrap() == *data, "{name}");
        }
    }

    /// svgauto's own writer puts ZIP64 sizes in the local header of an
    /// entry it expects to be large, even when it turns out small; the
    /// central directory then has plain sizes. Both say the same.
    #[test]
    fn zip64_sizes_in_the_local_header_agree_with_plain_central_ones() {
        use crate::archive::zip_writer::{Sums, ZipOut};
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("BA.SVG");
        let data = b"code = \"A\"\n";
        let mut m = crate::archive::manifest::example_json();
        m["entries"] = serde_json::json!([{
            "path": "dossier.toml", "type": "file", "size": data.len(),
            "mtime": "2025-01-02T03:04:05Z", "mtime_s": 1_735_787_045, "mtime_ns": 0,
            "crc32": format!("{:08x}", crc32fast::hash(data)),
        }]);
        let json = serde_json::to_vec(&m).unwrap();
        let sums = |b: &[u8]| Sums {
            crc: crc32fast::hash(b),
            csize: b.len() as u64,
            usize: b.len() as u64,
        };
        let mut z = ZipOut::new(File::create(&path).unwrap());
        z.add(meta("dossier.toml", true), sums(data), &[data])
            .unwrap();
        z.add(meta(MANIFEST, false), sums(&json), &[&json]).unwrap();
        z.finish().unwrap();
        let c = check(&path, None).unwrap();
        assert_eq!((c.files, c.bytes), (1, data.len() as u64));
    }
}
