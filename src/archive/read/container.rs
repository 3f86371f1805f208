//! The zip-level checks of an archive: the zip is the whole file, no name
//! twice in the central directory, every local header as the central
//! directory says ([`check_container`]); the manifest entry read with a
//! bound (`read_manifest`); each entry's headers against its manifest
//! record ([`check_entry_header`], [`check_entry_times`]). Nothing here
//! reads an entry's data but the manifest's.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::Path;
use std::sync::Arc;

use zip::read::ZipFileEntry;
use zip::{ExtraField, ZipArchive, ZipReadOptions};

use super::data::{At, Span};
use super::{Damage, Judged, shown};
use crate::archive::manifest::{
    MANIFEST, Manifest, ManifestEntry, ManifestKind, manifest_from_json,
};
use crate::scan::names::{judged_name, reserved, unsafe_name};

/// Opens the archive at `path` as a zip and checks the container
/// ([`check_container`]). Returns the zip, and the same open file for
/// positioned reads (which do not move the zip reader's offset: the
/// content pass reads entries on several workers at once with them).
pub(super) fn open(path: &Path) -> Result<(ZipArchive<At>, Arc<File>), Damage> {
    let not_zip = |e: io::Error| Damage::NotZip(e.to_string());
    let file = File::open(path).map_err(not_zip)?;
    let len = file.metadata().map_err(not_zip)?.len();
    let file = Arc::new(file);
    let mut zip = ZipArchive::new(At::new(file.clone(), len)).map_err(zip_err)?;
    check_container(&mut zip, &file, len)?;
    Ok((zip, file))
}

/// Judges every entry before the manifest (the last one) from the central
/// directory, without reading any data: its name (safe, inside the dossier,
/// not reserved), its record in `records` (by the name's bytes), its
/// headers and times against that record. Every record must have its
/// entry. The entries are judged on every worker of the pool; the damage
/// said is the first in archive order.
pub(super) fn judge_entries<'m>(
    zip: &ZipArchive<At>,
    manifest: &Manifest,
    records: &HashMap<Vec<u8>, &'m ManifestEntry>,
) -> Result<Vec<Judged<'m>>, Damage> {
    use rayon::prelude::*;
    let judged: Vec<Result<Judged<'m>, Damage>> = (0..zip.len() - 1)
        .into_par_iter()
        .map_init(
            || zip.clone(),
            |zip, i| judge_entry(zip, i, manifest, records),
        )
        .collect();
    let entries = judged.into_iter().collect::<Result<Vec<_>, _>>()?;
    // The entries' names are distinct (`check_container`) and each is a
    // record's: there are as many as records only if every record has its
    // entry. By the name's bytes: `a\xE9` shown for a Latin-1 name and a
    // real `a\xE9` are two entries.
    if entries.len() != records.len() {
        let seen: HashSet<&[u8]> = entries.iter().map(|j| j.raw.as_slice()).collect();
        if let Some(e) = manifest
            .entries
            .iter()
            .find(|e| e.name_bytes().is_ok_and(|b| !seen.contains(b.as_slice())))
        {
            return Err(Damage::Missing {
                name: e.path.clone(),
            });
        }
    }
    Ok(entries)
}

/// Judges entry `i` of `zip` (see [`judge_entries`]).
fn judge_entry<'m>(
    zip: &mut ZipArchive<At>,
    i: usize,
    manifest: &Manifest,
    records: &HashMap<Vec<u8>, &'m ManifestEntry>,
) -> Result<Judged<'m>, Damage> {
    let e = zip.by_index_data(i).map_err(zip_err)?;
    let raw = e.name_raw().to_vec();
    // Shown, and judged, as the manifest records it: `\xNN` for bytes
    // that are not UTF-8 (a name without the UTF-8 flag that is valid
    // UTF-8 is taken as such, as svgauto writes it).
    let name = shown(&raw);
    let why = unsafe_name(&judged_name(&raw))
        .or_else(|| e.enclosed_name().is_none().then_some("hors du dossier"))
        .or_else(|| reserved(&name, manifest.documents_included));
    if let Some(why) = why {
        return Err(Damage::BadName { name, why });
    }
    let Some(&record) = records.get(&raw) else {
        if e.is_symlink() {
            return Err(Damage::Symlink { name });
        }
        return Err(Damage::NotInManifest { name });
    };
    check_entry_header(&name, &e, record)?;
    // The extra fields, and where the data starts, without reading the
    // data (known since `check_container` read the local headers).
    let local = zip.by_index_raw(i).map_err(zip_err)?;
    let fields: Vec<ExtraField> = local.extra_data_fields().cloned().collect();
    check_entry_times(&name, &fields, record)?;
    let start = local.data_start().ok_or_else(|| Damage::Entry {
        name: name.clone(),
        detail: "début des données introuvable".into(),
    })?;
    let span = Span {
        start,
        len: local.compressed_size(),
        method: local.compression(),
    };
    let mode = local.unix_mode();
    Ok(Judged {
        name,
        raw,
        record,
        span,
        mode,
    })
}

pub(super) fn zip_err(e: zip::result::ZipError) -> Damage {
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

/// Reads and checks the manifest, entry `index` of `zip`.
pub(super) fn read_manifest<R: Read + Seek>(
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
            crate::archive::manifest::rfc3339(crate::sys::time::Mtime {
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
