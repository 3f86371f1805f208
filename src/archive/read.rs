//! Reading an SVG archive back, trusting nothing in it. The rule: an archive
//! passes [`check`] only if `restore` will bring it back exactly as its own
//! records say — `svgauto verify`, `run --verify` and `restore` all go
//! through [`check`], so they cannot disagree. Each kind of check has its
//! own function:
//!
//! - [`check_container`]: the zip itself — nothing before or after it, no
//!   two entries of one name, every local header as the central directory
//!   says, no overlapping or hidden entries;
//! - [`manifest_from_json`]: the manifest is of a format this version knows
//!   (a newer one is refused, not guessed at), with no field it does not
//!   know;
//! - [`check_manifest_entry`]: each recorded path is a name the file system
//!   takes ([`name_problem`]), not one svgauto never archives
//!   ([`reserved`]), with a kind, size, CRC and times that make sense
//!   ([`check_times`]);
//! - [`check_tree`]: the recorded paths, laid out on the file system, give
//!   each entry its own place — no path both a file and a folder, nothing
//!   under a file, no two names the file system takes for one;
//! - [`check_entry_header`], [`check_entry_times`]: each zip entry agrees
//!   with its manifest record (kind, Unix file type, size, CRC, times) and
//!   can be read (not encrypted, a method we decode, a folder without data);
//! - the content: every file's size and CRC-32 computed here, not taken
//!   from the zip headers; `dossier.toml`, when archived, names the
//!   manifest's dossier.
//!
//! [`check`] judges everything but the contents from the headers first,
//! then reads the data in one streaming pass, optionally extracting into a
//! fresh folder as it goes: `svgauto verify` reads into nothing, restore
//! extracts into a temporary folder that is only switched in if the whole
//! archive passed — and is not even created when the headers, the manifest
//! or the tree are at fault. A damaged archive is a [`Damage`] naming the
//! entry and what is wrong; `commands::verify::verify_file` adds what `restore` checks of
//! the file name.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;
use zip::read::ZipFileEntry;
use zip::{ExtraField, ZipArchive, ZipReadOptions};

use crate::archive::{FORMAT_VERSION, MANIFEST, Manifest, ManifestEntry, ManifestKind};
use crate::base::DOSSIER_TOML;

use crate::scan::names::{Platform, name_problem, reserved, unsafe_name};
use crate::sys::time::{checked_system_time, system_time};

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

/// A checked archive.
#[derive(Debug)]
pub struct Checked {
    pub manifest: Manifest,
    pub files: usize,
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
    pub path: PathBuf,
    pub secs: i64,
    pub nanos: u32,
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
            make_link(target, at).map_err(write)?;
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
                File::open(&f.path)?.set_modified(system_time(f.secs, f.nanos))?;
            }
            #[cfg(not(unix))]
            let _ = f;
        }
        Ok(())
    }
}

/// One path of the tree an archive lays out: its bytes as recorded (a
/// folder's end with `/`; names need not be UTF-8), and whether it is a
/// folder (anything else — a file, a link — is a leaf).
#[derive(Debug, Clone, Copy)]
pub struct TreePath<'a> {
    pub path: &'a [u8],
    pub dir: bool,
}

/// Checks that `paths` (each already a valid name, see [`name_problem`]),
/// laid out on a file system with `p`'s rules, give each entry its own
/// place: no path both a leaf and a folder (`sub` and `sub/x.txt`, `sub/`
/// and `sub`), nothing under a leaf, no path twice, and no two spellings of
/// one path — entries or the folders they imply — that the file system
/// takes for one (`Facture.pdf` and `facture.pdf`, `Compta/a` and
/// `compta/b` on Windows: restored, one would overwrite or absorb the
/// other). A folder recorded and also implied by what is under it is fine.
pub fn check_tree<'a>(
    paths: impl IntoIterator<Item = TreePath<'a>>,
    p: Platform,
) -> Result<(), Damage> {
    struct Seen<'a> {
        /// The path as spelled, without a trailing `/`.
        spelled: &'a [u8],
        dir: bool,
        /// The entry that brought it: itself, or the first one under it.
        entry: &'a [u8],
        /// An entry of its own (not only implied by one under it).
        recorded: bool,
    }
    let key = |spelled: &'a [u8]| -> Cow<'a, [u8]> {
        if p.windows {
            Cow::Owned(
                p.fold(&String::from_utf8_lossy(spelled))
                    .into_owned()
                    .into_bytes(),
            )
        } else {
            Cow::Borrowed(spelled)
        }
    };
    let mut seen: HashMap<Cow<'a, [u8]>, Seen<'a>> = HashMap::new();
    for TreePath { path, dir } in paths {
        let trimmed = path.strip_suffix(b"/").unwrap_or(path);
        let ends = trimmed
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .map(|(i, _)| i)
            .chain([trimmed.len()]);
        for end in ends {
            let spelled = &trimmed[..end];
            let own = end == trimmed.len();
            let here = Seen {
                spelled,
                dir: !own || dir,
                entry: path,
                recorded: own,
            };
            let k = key(spelled);
            let Some(before) = seen.get(&k) else {
                seen.insert(k, here);
                continue;
            };
            let name = shown(path);
            if before.spelled != spelled {
                return Err(Damage::SameName {
                    name,
                    other: shown(before.entry),
                });
            }
            match (before.dir, here.dir) {
                (true, true) if before.recorded && here.recorded => {
                    return Err(Damage::Duplicate { name });
                }
                (true, true) => {}
                (false, false) => return Err(Damage::Duplicate { name }),
                _ if before.recorded && here.recorded => {
                    return Err(Damage::FileAndFolder {
                        name,
                        other: shown(before.entry),
                    });
                }
                // One of the two is a folder only implied by an entry under
                // it, the other a leaf of that name.
                (false, true) => {
                    return Err(Damage::UnderAFile {
                        name,
                        parent: shown(spelled),
                    });
                }
                (true, false) => {
                    return Err(Damage::UnderAFile {
                        name: shown(before.entry),
                        parent: shown(spelled),
                    });
                }
            }
            if here.recorded {
                seen.insert(k, here);
            }
        }
    }
    Ok(())
}

/// Checks a recorded modification time: `mtime_s`/`mtime_ns` — what
/// restore sets — a time this system can hold (nanoseconds below one
/// second), and the readable `mtime` the same instant (empty where the
/// calendar cannot write it, as `archive::rfc3339` does).
pub fn check_times(e: &ManifestEntry) -> Result<(), Damage> {
    let bad = |why: String| Damage::Time {
        name: e.path.clone(),
        why,
    };
    if checked_system_time(e.mtime_s, e.mtime_ns).is_none() {
        return Err(bad(format!(
            "hors de ce que ce système sait dater ({} s {} ns)",
            e.mtime_s, e.mtime_ns
        )));
    }
    let agrees = match chrono::DateTime::from_timestamp(e.mtime_s, e.mtime_ns) {
        Some(t) => chrono::DateTime::parse_from_rfc3339(&e.mtime).is_ok_and(|m| m == t),
        None => e.mtime.is_empty(),
    };
    if !agrees {
        return Err(bad(format!(
            "incohérente dans le manifeste ({:?} et {} s {} ns)",
            e.mtime, e.mtime_s, e.mtime_ns
        )));
    }
    Ok(())
}

/// The name the naming rules judge for a record shown as `path`: itself,
/// or for a name that is not UTF-8 (`raw`) `scan::judged_name` of its
/// bytes — `Err` on Windows, where such a name cannot exist.
fn judged(
    path: &str,
    raw: bool,
    bytes: Result<Vec<u8>, String>,
    p: Platform,
) -> Result<String, &'static str> {
    if !raw {
        return Ok(path.to_owned());
    }
    if p.windows {
        return Err("nom non UTF-8, impossible sous Windows");
    }
    bytes
        .map(|b| crate::scan::names::judged_name(&b))
        .map_err(|_| "nom mal enregistré")
}

/// Checks one manifest record on its own: its path ([`name_problem`] under
/// `p`, [`reserved`]), its kind (a folder, and only a folder, ends with
/// `/`; a folder has no size nor CRC, a file has a CRC of 8 hex digits),
/// its times ([`check_times`]).
pub fn check_manifest_entry(
    e: &ManifestEntry,
    documents_included: bool,
    p: Platform,
) -> Result<(), Damage> {
    let name = || e.path.clone();
    let problem = match judged(&e.path, e.path_hex.is_some(), e.name_bytes(), p) {
        Err(why) => Some(why),
        Ok(j) => name_problem(&j, p),
    };
    if let Some(why) = problem.or_else(|| reserved(&e.path, documents_included)) {
        return Err(Damage::BadName { name: name(), why });
    }
    let dir = e.kind == ManifestKind::Dir;
    let bad = |what: &str| Damage::BadManifest(format!("entrée {} : {what}", e.path));
    if dir != e.path.ends_with('/') {
        return Err(bad(
            "un dossier, et seulement un dossier, a un chemin finissant par /",
        ));
    }
    if dir && (e.size != 0 || e.crc32.is_some()) {
        return Err(bad("un dossier n'a ni taille ni CRC"));
    }
    if !dir
        && !e.crc32.as_deref().is_some_and(|c| {
            c.len() == 8 && c.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
    {
        return Err(bad("CRC absent ou mal formé"));
    }
    check_times(e)
}

/// The manifest from its JSON: its `format` first — one this version does
/// not know yet is refused as such, never read as if it were ours — then
/// every field, none unknown (a field this version would ignore is
/// something a restore would not bring back as recorded).
pub fn manifest_from_json(value: serde_json::Value) -> Result<Manifest, Damage> {
    let format = value
        .get("format")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| Damage::BadManifest("numéro de format absent".into()))?;
    if format > u64::from(FORMAT_VERSION) {
        return Err(Damage::NewerFormat { found: format });
    }
    if format == 0 {
        return Err(Damage::BadManifest("format 0 inconnu".into()));
    }
    let manifest: Manifest =
        serde_json::from_value(value.clone()).map_err(|e| Damage::BadManifest(e.to_string()))?;
    let known = serde_json::to_value(&manifest).expect("the manifest serializes");
    if let Some(field) = unknown_field(&value, &known, "") {
        return Err(Damage::UnknownField { field });
    }
    Ok(manifest)
}

/// The first field of `got` that `known` (the same JSON read into our
/// types and written back) lacks, as `entries[<path>].field`; a `null`
/// where we write nothing is not a field.
fn unknown_field(got: &serde_json::Value, known: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match (got, known) {
        (Value::Object(g), Value::Object(k)) => g.iter().find_map(|(key, v)| {
            let here = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            match k.get(key) {
                None if v.is_null() => None,
                None => Some(here),
                Some(kv) => unknown_field(v, kv, &here),
            }
        }),
        (Value::Array(g), Value::Array(k)) => {
            g.iter().zip(k).enumerate().find_map(|(i, (v, kv))| {
                let which = v
                    .get("path")
                    .and_then(Value::as_str)
                    .map_or_else(|| i.to_string(), str::to_owned);
                unknown_field(v, kv, &format!("{at}[{which}]"))
            })
        }
        _ => None,
    }
}

fn zip_err(e: zip::result::ZipError) -> Damage {
    Damage::NotZip(e.to_string())
}

/// Checks the zip around the entries: it is the whole file (nothing before
/// it, nothing after its end record: svgauto writes neither, and readers
/// differ on what such a file holds); no name twice in the central
/// directory (the zip crate would show one of them, other tools the
/// other); every local header as the central directory says (name, method,
/// flags, time, CRC, sizes: tools that read local headers would extract
/// something else); no entries that overlap, and no local entry the
/// central directory does not list.
pub fn check_container<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    file: &File,
    len: u64,
) -> Result<(), Damage> {
    if zip.offset() > 0 {
        return Err(Damage::Prepended {
            bytes: zip.offset(),
        });
    }
    let end = end_of_zip(file, len, zip.comment(), zip.central_directory_start())
        .map_err(|e| Damage::NotZip(e.to_string()))?;
    match end {
        Some(end) if end < len => return Err(Damage::Trailing { bytes: len - end }),
        Some(_) => {}
        None => {
            return Err(Damage::Structure(
                "enregistrement de fin introuvable".into(),
            ));
        }
    }
    if zip.has_duplicate_names() {
        let name = duplicate_name(file, zip.central_directory_start(), len)
            .map_err(|e| Damage::NotZip(e.to_string()))?;
        return Err(Damage::Duplicate {
            name: name.unwrap_or_else(|| "?".into()),
        });
    }
    if let Err(whole) = zip.validate_header_consistency() {
        // Name the entry when it is one entry's local header.
        for i in 0..zip.len() {
            let (name, readable) = {
                let e = zip.by_index_data(i).map_err(zip_err)?;
                let readable =
                    !e.encrypted() && zip::SUPPORTED_COMPRESSION_METHODS.contains(&e.compression());
                (shown(e.name_raw()), readable)
            };
            if !readable {
                continue;
            }
            let options = ZipReadOptions::new().enforce_header_consistency(true);
            if let Err(e) = zip.by_index_with_options(i, options) {
                return Err(Damage::LocalHeader {
                    name,
                    detail: e.to_string(),
                });
            }
        }
        return Err(Damage::Structure(whole.to_string()));
    }
    Ok(())
}

/// Where the zip's end record (the one the zip crate read: `comment`, the
/// central directory at `cd_start`) ends in `file`, `None` if not found.
fn end_of_zip(file: &File, len: u64, comment: &[u8], cd_start: u64) -> io::Result<Option<u64>> {
    const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    // The record and the longest comment; the zip crate looks no further.
    let tail_len = len.min(22 + 65_535);
    let from = len - tail_len;
    let mut tail = vec![0u8; tail_len as usize];
    crate::sys::fs::read_exact_at(file, &mut tail, from)?;
    let found = (0..tail.len().saturating_sub(21)).rev().find(|&p| {
        let r = &tail[p..];
        let clen = u16::from_le_bytes([r[20], r[21]]) as usize;
        let cd = u32::from_le_bytes([r[16], r[17], r[18], r[19]]);
        r[..4] == EOCD
            && r.len() >= 22 + clen
            && &r[22..22 + clen] == comment
            && (u64::from(cd) == cd_start || cd == u32::MAX)
    });
    Ok(found.map(|p| {
        let clen = u16::from_le_bytes([tail[p + 20], tail[p + 21]]) as u64;
        from + p as u64 + 22 + clen
    }))
}

/// The first name the central directory at `cd_start` lists twice.
fn duplicate_name(file: &File, cd_start: u64, len: u64) -> io::Result<Option<String>> {
    const CENTRAL: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
    let mut cd = vec![0u8; len.saturating_sub(cd_start) as usize];
    crate::sys::fs::read_exact_at(file, &mut cd, cd_start)?;
    let mut names = HashSet::new();
    let mut at = 0;
    while let Some(head) = cd.get(at..at + 46)
        && head[..4] == CENTRAL
    {
        let n = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]) as usize;
        let (name_len, rest) = (n(28), n(30) + n(32));
        let Some(name) = cd.get(at + 46..at + 46 + name_len) else {
            break;
        };
        if !names.insert(name) {
            return Ok(Some(shown(name)));
        }
        at += 46 + name_len + rest;
    }
    Ok(None)
}

/// A name from the zip for a message: its invalid UTF-8 bytes as `\xNN`
/// (as the report writes names that are not UTF-8).
fn shown(name: &[u8]) -> String {
    crate::scan::names::escaped_bytes(name)
}

/// Reads and checks the manifest, entry `index` of `zip`.
fn read_manifest<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    index: usize,
) -> Result<Manifest, Damage> {
    {
        let e = zip.by_index_data(index).map_err(zip_err)?;
        readable(MANIFEST, &e)?;
    }
    let entry = zip.by_index(index).map_err(zip_err)?;
    let mut text = Vec::new();
    // A manifest is a few hundred bytes per entry; refuse absurd ones.
    const MAX: u64 = 256 << 20;
    entry
        .take(MAX + 1)
        .read_to_end(&mut text)
        .map_err(|e| Damage::BadManifest(e.to_string()))?;
    if text.len() as u64 > MAX {
        return Err(Damage::BadManifest("plus de 256 Mio".into()));
    }
    let value = serde_json::from_slice(&text).map_err(|e| Damage::BadManifest(e.to_string()))?;
    manifest_from_json(value)
}

/// The entry can be read: not encrypted, with a method we decode.
fn readable(name: &str, e: &ZipFileEntry<'_>) -> Result<(), Damage> {
    if e.encrypted() {
        return Err(Damage::Encrypted { name: name.into() });
    }
    if !zip::SUPPORTED_COMPRESSION_METHODS.contains(&e.compression()) {
        return Err(Damage::Method {
            name: name.into(),
            method: e.compression().to_string(),
        });
    }
    Ok(())
}

/// Checks a zip entry's headers against its manifest record `m`: the kind
/// (a name ending with `/` is a folder), the Unix file type when the entry
/// was made on Unix (a regular file or a folder as the name says: tools
/// that honour it would make something else), readable, a folder without
/// data, a file with the recorded size and CRC in the central directory.
pub fn check_entry_header(
    name: &str,
    e: &ZipFileEntry<'_>,
    m: &ManifestEntry,
) -> Result<(), Damage> {
    let named = || name.to_owned();
    if e.is_symlink() {
        return Err(Damage::Symlink { name: named() });
    }
    let dir = e.is_dir();
    if dir != (m.kind == ManifestKind::Dir) {
        return Err(Damage::Mismatch {
            name: named(),
            what: "type",
        });
    }
    if e.system() == zip::System::Unix {
        let kind = (e.external_attributes() >> 16) & 0o170_000;
        let expected = if dir { 0o040_000 } else { 0o100_000 };
        if kind != 0 && kind != expected {
            return Err(Damage::Special {
                name: named(),
                mode: kind,
            });
        }
    }
    readable(name, e)?;
    if dir {
        if e.size() != 0 {
            return Err(Damage::DirWithData {
                name: named(),
                size: e.size(),
            });
        }
        return Ok(());
    }
    if e.size() != m.size {
        return Err(Damage::Mismatch {
            name: named(),
            what: "taille",
        });
    }
    if m.crc32.as_deref() != Some(format!("{:08x}", e.crc32()).as_str()) {
        return Err(Damage::Mismatch {
            name: named(),
            what: "CRC de l'en-tête zip",
        });
    }
    Ok(())
}

/// Checks the times a zip entry carries besides the DOS one (which is
/// local time, 2-second steps, 1980–2107: not comparable, and only used by
/// tools when nothing better is there): the extended timestamp (Unix
/// seconds, read as signed or unsigned) and the NTFS one (100 ns steps)
/// must be the manifest's `mtime_s`/`mtime_ns`, which restore sets — tools
/// that use them would restore another date.
pub fn check_entry_times(
    name: &str,
    fields: &[ExtraField],
    m: &ManifestEntry,
) -> Result<(), Damage> {
    let differ = |header: String| Damage::Time {
        name: name.to_owned(),
        why: format!(
            "différente entre le manifeste ({}) et l'en-tête zip ({header})",
            crate::archive::rfc3339(crate::sys::time::Mtime {
                secs: m.mtime_s,
                nanos: m.mtime_ns,
            })
        ),
    };
    for f in fields {
        match f {
            ExtraField::ExtendedTimestamp(t) => {
                if let Some(s) = t.mod_time()
                    && i64::from(s) != m.mtime_s
                    && i64::from(s as i32) != m.mtime_s
                {
                    return Err(differ(format!("{s} s")));
                }
            }
            ExtraField::Ntfs(n) => {
                // 100 ns steps since 1601-01-01.
                let want = (i128::from(m.mtime_s) + 11_644_473_600) * 10_000_000
                    + i128::from(m.mtime_ns / 100);
                if i128::from(n.mtime()) != want {
                    return Err(differ(format!("NTFS {}", n.mtime())));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks that the full path of every entry under `dest` is one the system
/// opens (entries are checked against [`Platform::path_max`] alone, not
/// knowing where they will be restored): a restore into a deep folder is
/// refused before anything is written, not half-way.
fn check_lengths(dest: &Path, manifest: &Manifest) -> Result<(), Damage> {
    let p = Platform::HERE;
    let base = if p.windows {
        p.len(&dest.to_string_lossy())
    } else {
        dest.as_os_str().len()
    };
    for e in &manifest.entries {
        let judged = judged(&e.path, e.path_hex.is_some(), e.name_bytes(), p)
            .unwrap_or_else(|_| e.path.clone());
        let len = base + 1 + p.len(judged.trim_end_matches('/'));
        if len > p.path_max() {
            return Err(Damage::TooLong {
                name: e.path.clone(),
                dest: dest.to_owned(),
                len,
                max: p.path_max(),
            });
        }
    }
    Ok(())
}

/// Checks the `code` of an archived `dossier.toml` (`text`) against the
/// manifest's: a restored dossier whose identity names another dossier is
/// not the one the archive records.
fn check_identity(text: &[u8], code: &str) -> Result<(), Damage> {
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

/// Checks the archive at `path`; with `dest`, extracts it into `dest` (which
/// must not exist yet) as it goes, restoring modification times and Unix
/// permissions. Every check that does not need the content (container,
/// manifest, tree, path lengths under `dest`) is made before `dest` is
/// created. On a damage found in the content, `dest` may hold part of the
/// archive: the caller removes it.
pub fn check(path: &Path, dest: Option<&Path>) -> Result<Checked, Damage> {
    let file = File::open(path).map_err(|e| Damage::NotZip(e.to_string()))?;
    let len = file
        .metadata()
        .map_err(|e| Damage::NotZip(e.to_string()))?
        .len();
    // The same open file for our own reads, which are positioned: they do
    // not move the zip reader's offset.
    let own = file
        .try_clone()
        .map_err(|e| Damage::NotZip(e.to_string()))?;
    let mut zip = ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
    check_container(&mut zip, &own, len)?;
    drop(own);
    let n = zip.len();
    let manifest_index = zip.index_for_name(MANIFEST).ok_or(Damage::NoManifest)?;
    if manifest_index + 1 != n {
        return Err(Damage::ManifestNotLast);
    }
    let manifest = read_manifest(&mut zip, manifest_index)?;
    // Records by the bytes of their name (the zip entry's name): a name
    // that is not UTF-8 is recorded as its `\xNN` form plus its bytes.
    let mut expected: HashMap<Vec<u8>, &ManifestEntry> = HashMap::new();
    for e in &manifest.entries {
        check_manifest_entry(e, manifest.documents_included, Platform::HERE)?;
        let bytes = recorded_name(&e.path, e.name_bytes())?;
        if expected.insert(bytes, e).is_some() {
            return Err(Damage::BadManifest(format!("entrée {} en double", e.path)));
        }
    }
    let mut links = Vec::with_capacity(manifest.links.len());
    for l in &manifest.links {
        let (path, target) = l.bytes().map_err(Damage::BadManifest)?;
        let path = recorded_name(&l.path, Ok(path))?;
        if shown(&target) != l.target || target.is_empty() || target.contains(&0) {
            return Err(Damage::BadManifest(format!(
                "lien {} : cible mal enregistrée",
                l.path
            )));
        }
        let problem = match judged(
            &l.path,
            l.path_hex.is_some(),
            Ok(path.clone()),
            Platform::HERE,
        ) {
            Err(why) => Some(why),
            Ok(j) => name_problem(&j, Platform::HERE),
        };
        if let Some(why) = problem
            .or_else(|| reserved(&l.path, manifest.documents_included))
            .or_else(|| {
                l.path
                    .ends_with('/')
                    .then_some("un lien n'est pas un dossier")
            })
        {
            return Err(Damage::BadName {
                name: l.path.clone(),
                why,
            });
        }
        links.push((path, target));
    }
    // Every zip entry's name and headers, from the central directory: all
    // judged before anything is written.
    let mut entries: Vec<(String, Vec<u8>, &ManifestEntry)> = Vec::with_capacity(manifest_index);
    let mut seen = HashSet::new();
    for i in 0..manifest_index {
        let e = zip.by_index_data(i).map_err(zip_err)?;
        let raw_name = e.name_raw().to_vec();
        // Shown, and judged, as the manifest records it: `\xNN` for bytes
        // that are not UTF-8 (a name without the UTF-8 flag that is
        // valid UTF-8 is taken as such, as svgauto writes it).
        let name = shown(&raw_name);
        let why = unsafe_name(&crate::scan::names::judged_name(&raw_name))
            .or_else(|| e.enclosed_name().is_none().then_some("hors du dossier"))
            .or_else(|| reserved(&name, manifest.documents_included));
        if let Some(why) = why {
            return Err(Damage::BadName { name, why });
        }
        let Some(&m) = expected.get(&raw_name) else {
            if e.is_symlink() {
                return Err(Damage::Symlink { name });
            }
            return Err(Damage::NotInManifest { name });
        };
        check_entry_header(&name, &e, m)?;
        // The extra fields, without reading the data (where it starts is
        // known since `check_container`).
        let raw = zip.by_index_raw(i).map_err(zip_err)?;
        let fields: Vec<ExtraField> = raw.extra_data_fields().cloned().collect();
        check_entry_times(&name, &fields, m)?;
        // By the name's bytes: `a\xE9` shown for a Latin-1 name and a real
        // `a\xE9` are two entries.
        seen.insert(raw_name.clone());
        entries.push((name, raw_name, m));
    }
    if let Some(e) = manifest
        .entries
        .iter()
        .find(|e| e.name_bytes().is_ok_and(|b| !seen.contains(&b)))
    {
        return Err(Damage::Missing {
            name: e.path.clone(),
        });
    }
    check_tree(
        entries
            .iter()
            .map(|(_, raw, m)| TreePath {
                path: raw,
                dir: m.kind == ManifestKind::Dir,
            })
            .chain(links.iter().map(|(path, _)| TreePath { path, dir: false })),
        Platform::HERE,
    )?;
    if let Some(d) = dest {
        check_lengths(d, &manifest)?;
        fs::create_dir(d).map_err(|source| Damage::Write {
            path: d.to_owned(),
            source,
        })?;
    }

    let (mut files, mut bytes) = (0usize, 0u64);
    let mut folders = Vec::new();
    let mut identity = None;
    let mut buf = vec![0u8; 256 * 1024];
    for (i, (name, raw, m)) in entries.into_iter().enumerate() {
        let mut entry = zip.by_index(i).map_err(zip_err)?;
        let target = dest.map(|d| {
            d.join(crate::scan::names::os_path(
                raw.strip_suffix(b"/").unwrap_or(&raw),
            ))
        });
        if m.kind == ManifestKind::Dir {
            // Headers say no data; a compressed stream may still be there
            // (some tools write an empty deflate stream): it must be empty.
            let mut one = [0u8; 1];
            match entry.read(&mut one) {
                Ok(0) => {}
                Ok(_) => {
                    return Err(Damage::DirWithData {
                        name,
                        size: entry.compressed_size(),
                    });
                }
                Err(e) => {
                    return Err(Damage::Entry {
                        name,
                        detail: e.to_string(),
                    });
                }
            }
            if let Some(t) = &target {
                fs::create_dir_all(t).map_err(|source| Damage::Write {
                    path: t.clone(),
                    source,
                })?;
                folders.push(Folder {
                    path: t.clone(),
                    secs: m.mtime_s,
                    nanos: m.mtime_ns,
                    mode: entry.unix_mode(),
                });
            }
            continue;
        }
        let mode = entry.unix_mode();
        let mut out = match &target {
            Some(t) => {
                if let Some(parent) = t.parent() {
                    fs::create_dir_all(parent).map_err(|source| Damage::Write {
                        path: parent.to_owned(),
                        source,
                    })?;
                }
                let f = File::options()
                    .write(true)
                    .create_new(true)
                    .open(t)
                    .map_err(|source| Damage::Write {
                        path: t.clone(),
                        source,
                    })?;
                Some(f)
            }
            None => None,
        };
        let keep = name == DOSSIER_TOML && m.size <= 1 << 20;
        let mut kept = Vec::new();
        let mut hasher = crc32fast::Hasher::new();
        let mut got = 0u64;
        // Never read more than the manifest announces (plus one byte to see
        // that there is more): a lying entry cannot fill the disk.
        let mut limited = (&mut entry).take(m.size + 1);
        loop {
            let k = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let detail = e.to_string();
                    // The zip reader checks the header CRC at the end of the
                    // entry; say it in our words.
                    if detail.to_lowercase().contains("checksum") {
                        return Err(Damage::Crc {
                            name,
                            expected: m.crc32.clone().unwrap_or_default(),
                            actual: "illisible".into(),
                        });
                    }
                    return Err(Damage::Entry { name, detail });
                }
            };
            got += k as u64;
            hasher.update(&buf[..k]);
            if keep {
                kept.extend_from_slice(&buf[..k]);
            }
            if let Some(f) = out.as_mut() {
                f.write_all(&buf[..k]).map_err(|source| Damage::Write {
                    path: target.clone().unwrap_or_default(),
                    source,
                })?;
            }
        }
        if got != m.size {
            return Err(Damage::Mismatch {
                name,
                what: "taille",
            });
        }
        let actual = format!("{:08x}", hasher.finalize());
        if m.crc32.as_deref() != Some(actual.as_str()) {
            return Err(Damage::Crc {
                name,
                expected: m.crc32.clone().unwrap_or_else(|| "absent".into()),
                actual,
            });
        }
        if keep {
            identity = Some(kept);
        }
        if let (Some(f), Some(t)) = (out, &target) {
            finish_file(f, m.mtime_s, m.mtime_ns, mode).map_err(|source| Damage::Write {
                path: t.clone(),
                source,
            })?;
        }
        files += 1;
        bytes += got;
    }
    if let Some(text) = identity {
        check_identity(&text, &manifest.dossier.code)?;
    }
    // Links are not made here: the caller makes them (`make_links`) after
    // its own last write into the tree, so nothing is written through one.
    let links = match dest {
        Some(d) => links
            .iter()
            .map(|(path, target)| {
                (
                    d.join(crate::scan::names::os_path(path)),
                    crate::scan::names::os_path(target),
                )
            })
            .collect(),
        None => Vec::new(),
    };
    let checked = Checked {
        manifest,
        files,
        bytes,
        folders,
        links,
    };
    checked.finish_folders().map_err(|source| Damage::Write {
        path: dest.map(Path::to_owned).unwrap_or_default(),
        source,
    })?;
    Ok(checked)
}

/// The bytes of a recorded name: `bytes` (its `path_hex`, or its path),
/// which must show as `path` does (a record whose two forms disagree names
/// two different things).
fn recorded_name(path: &str, bytes: Result<Vec<u8>, String>) -> Result<Vec<u8>, Damage> {
    let bytes = bytes.map_err(Damage::BadManifest)?;
    if shown(&bytes) != path || bytes.contains(&0) {
        return Err(Damage::BadManifest(format!(
            "entrée {path} : nom enregistré sous deux formes différentes"
        )));
    }
    Ok(bytes)
}

/// Creates the symbolic link `at` → `target` (never followed). On Windows,
/// where a link is a file link or a folder link and creating one needs a
/// privilege, a file link is tried; a refusal fails the restore, naming it.
fn make_link(target: &Path, at: &Path) -> io::Result<()> {
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

/// Sets an extracted file's time and permissions, and flushes it.
fn finish_file(f: File, secs: i64, nanos: u32, mode: Option<u32>) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        // The recorded permissions, never setuid/setgid/sticky from an
        // archive.
        f.set_permissions(fs::Permissions::from_mode(mode & 0o777))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    f.set_modified(system_time(secs, nanos))?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            #[cfg(windows)]
            "a\\..\\x",
            #[cfg(windows)]
            "C:/x",
            #[cfg(windows)]
            "c:x",
            "a//b",
            "./a",
            "a/./b",
            "x\0y",
        ] {
            assert!(unsafe_name(bad).is_some(), "{bad:?} must be refused");
        }
        for good in [
            "a",
            "a/b/c.dat",
            "vide/",
            "Clôture/état.csv",
            "..a",
            "a..b/c",
            "12h30.txt",
        ] {
            assert_eq!(unsafe_name(good), None, "{good:?} must be accepted");
        }
    }

    #[test]
    fn times_before_1970() {
        let t = system_time(-2, 750_000_000);
        assert_eq!(
            crate::sys::time::Mtime::from_system(t),
            crate::sys::time::Mtime {
                secs: -2,
                nanos: 750_000_000
            }
        );
    }

    fn tree(paths: &[&'static str], p: Platform) -> Result<(), Damage> {
        check_tree(
            paths.iter().map(|path| TreePath {
                path: path.as_bytes(),
                dir: path.ends_with('/'),
            }),
            p,
        )
    }

    #[test]
    fn a_path_both_file_and_folder_or_under_a_file_is_refused_everywhere() {
        for p in [Platform::UNIX, Platform::WINDOWS] {
            let refused = |paths: &[&'static str]| tree(paths, p).unwrap_err().to_string();
            let e = refused(&["sub", "sub/x.txt"]);
            assert!(e.contains("entrée sub/x.txt : sub est un fichier"), "{e}");
            // The same, the other way round.
            let e = refused(&["sub/x.txt", "sub"]);
            assert!(e.contains("entrée sub/x.txt : sub est un fichier"), "{e}");
            let e = refused(&["sub/", "sub"]);
            assert!(
                e.contains("entrée sub : même chemin que l'entrée sub/"),
                "{e}"
            );
            let e = refused(&["a", "a/b/c/d.txt"]);
            assert!(e.contains("entrée a/b/c/d.txt : a est un fichier"), "{e}");
            let e = refused(&["x/y", "x/y/"]);
            assert!(e.contains("l'une fichier, l'autre dossier"), "{e}");
            assert!(refused(&["f", "f"]).contains("plusieurs fois"));
            assert!(refused(&["d/", "d/"]).contains("plusieurs fois"));
            // A folder recorded and implied, folders implied many times.
            tree(&["d/", "d/x", "d/y/z", "d/y/w", "e/f/"], p).unwrap();
        }
    }

    #[test]
    fn names_windows_takes_for_one_are_refused_there_and_only_there() {
        let w = |paths: &[&'static str]| tree(paths, Platform::WINDOWS);
        let e = w(&["Facture.pdf", "facture.pdf"]).unwrap_err().to_string();
        assert!(
            e.contains("entrée facture.pdf : même nom que Facture.pdf"),
            "{e}"
        );
        // Folders implied by two spellings would merge into one.
        let e = w(&["Compta/a.dat", "compta/b.dat"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("entrée compta/b.dat : même nom que Compta/a.dat"),
            "{e}"
        );
        assert!(w(&["ÉTAT.csv", "état.csv"]).is_err());
        assert!(w(&["Dossier/", "dossier"]).is_err());
        // Unicode forms are two names on NTFS and ext4 alike; ß has no
        // one-character uppercase.
        w(&["r\u{e9}sum\u{e9}.txt", "re\u{301}sume\u{301}.txt"]).unwrap();
        w(&["straße", "STRASSE"]).unwrap();
        let u = |paths: &[&'static str]| tree(paths, Platform::UNIX);
        u(&["Facture.pdf", "facture.pdf"]).unwrap();
        u(&["Compta/a.dat", "compta/b.dat"]).unwrap();
        u(&["r\u{e9}sum\u{e9}.txt", "re\u{301}sume\u{301}.txt"]).unwrap();
    }

    #[test]
    fn names_are_judged_by_the_rules_of_the_file_system() {
        // Lengths: 255 bytes a component on Unix, 255 UTF-16 units on
        // Windows; a whole path under PATH_MAX.
        let accents = "é".repeat(200); // 400 bytes, 200 units
        assert_eq!(
            name_problem(&accents, Platform::UNIX),
            Some("nom de plus de 255 octets")
        );
        assert_eq!(name_problem(&accents, Platform::WINDOWS), None);
        assert_eq!(name_problem(&"a".repeat(255), Platform::UNIX), None);
        assert!(name_problem(&"a".repeat(256), Platform::WINDOWS).is_some());
        let deep = vec!["x".repeat(255); 16].join("/"); // 4,095 bytes
        assert_eq!(name_problem(&deep, Platform::UNIX), None);
        assert_eq!(
            name_problem(&format!("{deep}/y"), Platform::UNIX),
            Some("chemin trop long pour le système de fichiers")
        );
        assert_eq!(name_problem(&format!("{deep}/y"), Platform::WINDOWS), None);
        // Characters Windows refuses are plain on Unix.
        for name in [
            "a?b", "a<b", "a>b", "a|b", "a*b", "a\"b", "a\u{1}b", "a\nb", "x.", "aux.txt", "C:x",
        ] {
            assert!(
                name_problem(name, Platform::WINDOWS).is_some(),
                "{name:?} on Windows"
            );
            assert_eq!(name_problem(name, Platform::UNIX), None, "{name:?} on Unix");
        }
    }

    #[test]
    fn what_svgauto_never_archives_is_reserved() {
        assert!(reserved(".svgauto/manifest.json", true).is_some());
        assert!(reserved(".svgauto", true).is_some());
        assert!(reserved("dossier.lock", true).is_some());
        assert!(reserved("documents/a.pdf", false).is_some());
        assert!(reserved("documents", false).is_some());
        assert_eq!(reserved("documents/a.pdf", true), None);
        assert_eq!(reserved("compta/dossier.lock", false), None);
        assert_eq!(reserved("compta/.svgauto/x", false), None);
        assert_eq!(reserved(".svgautox", false), None);
    }

    fn record(mtime: &str, s: i64, ns: u32) -> ManifestEntry {
        ManifestEntry {
            path_hex: None,
            path: "f".into(),
            kind: ManifestKind::File,
            size: 0,
            mtime: mtime.into(),
            mtime_s: s,
            mtime_ns: ns,
            crc32: Some("00000000".into()),
        }
    }

    #[test]
    fn times_out_of_range_are_refused_without_panicking() {
        assert!(check_times(&record("1970-01-01T00:00:01.5Z", 1, 500_000_000)).is_ok());
        assert!(check_times(&record("1969-12-31T23:59:59Z", -1, 0)).is_ok());
        assert!(check_times(&record("1970-01-01T00:00:01Z", 1, 1_000_000_000)).is_err());
        assert!(check_times(&record("", i64::MAX, 999_999_999)).is_ok());
        assert!(check_times(&record("", i64::MIN, 0)).is_ok());
        assert!(check_times(&record("", i64::MAX, 1_000_000_000)).is_err());
        assert!(check_times(&record("", 0, 0)).is_err());
        assert!(check_times(&record("1970-01-01T00:00:00+01:00", 0, 0)).is_err());
        assert!(check_times(&record("1970-01-01T01:00:00+01:00", 0, 0)).is_ok());
        assert!(checked_system_time(i64::MAX, 1_000_000_000).is_none());
        assert!(checked_system_time(-5, 999_999_999).is_some());
    }

    fn manifest_json() -> serde_json::Value {
        serde_json::json!({
            "format": 1,
            "generator": "svgauto 0.1.0",
            "dossier": {"code": "A", "name": null, "status": "original", "kind": "normal", "transferable": true},
            "backup_time": "2025-01-02T03:04:05+01:00",
            "fingerprint": "x",
            "method": "zstd",
            "documents_included": false,
            "entries": [{"path": "f", "type": "file", "size": 0, "mtime": "1970-01-01T00:00:00Z", "mtime_s": 0, "mtime_ns": 0, "crc32": "00000000"},
                        {"path": "d/", "type": "dir", "size": 0, "mtime": "1970-01-01T00:00:00Z", "mtime_s": 0, "mtime_ns": 0, "crc32": null}],
            "skipped": [],
        })
    }

    #[test]
    fn a_manifest_of_a_newer_format_or_with_unknown_fields_is_refused() {
        manifest_from_json(manifest_json()).unwrap();
        let mut m = manifest_json();
        m["format"] = (FORMAT_VERSION + 1).into();
        assert!(matches!(
            manifest_from_json(m),
            Err(Damage::NewerFormat { found }) if found == u64::from(FORMAT_VERSION) + 1
        ));
        let mut m = manifest_json();
        m["couleur"] = "bleu".into();
        assert!(matches!(
            manifest_from_json(m),
            Err(Damage::UnknownField { field }) if field == "couleur"
        ));
        // The identity refuses unknown fields itself.
        let mut m = manifest_json();
        m["dossier"]["couleur"] = "bleu".into();
        let e = manifest_from_json(m).unwrap_err().to_string();
        assert!(e.contains("couleur"), "{e}");
        let mut m = manifest_json();
        m["entries"][1]["target"] = "../x".into();
        assert!(matches!(
            manifest_from_json(m),
            Err(Damage::UnknownField { field }) if field == "entries[d/].target"
        ));
        let mut m = manifest_json();
        m["entries"][0]["type"] = "symlink".into();
        assert!(matches!(manifest_from_json(m), Err(Damage::BadManifest(_))));
    }

    /// svgauto's own writer puts ZIP64 sizes in the local header of an
    /// entry it expects to be large, even when it turns out small; the
    /// central directory then has plain sizes. Both say the same.
    #[test]
    fn zip64_sizes_in_the_local_header_agree_with_plain_central_ones() {
        use crate::archive::zip_writer::{EntryMeta, STORED, Sums, ZipOut};
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("BA.SVG");
        let data = b"code = \"A\"\n";
        let mut m = manifest_json();
        m["entries"] = serde_json::json!([{
            "path": "dossier.toml", "type": "file", "size": data.len(),
            "mtime": "2025-01-02T03:04:05Z", "mtime_s": 1_735_787_045, "mtime_ns": 0,
            "crc32": format!("{:08x}", crc32fast::hash(data)),
        }]);
        let json = serde_json::to_vec(&m).unwrap();
        let meta = |name: &str, zip64: bool| EntryMeta {
            name: name.into(),
            method: STORED,
            dos_time: 0,
            dos_date: 33,
            unix_mtime: Some(1_735_787_045),
            mode: 0o644,
            zip64,
        };
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
