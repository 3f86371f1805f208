//! The manifest, `.svgauto/manifest.json` (DESIGN §5): what an archive
//! claims to hold — the dossier's identity, the backup's time and
//! fingerprint, and every entry with its kind, size, times and CRC-32, the
//! symbolic links and what was left out. The writer (`write`) makes it
//! last; the reader (`read`) reads it first and judges each record here on
//! its own ([`check_manifest_entry`]) before it judges the archive.
//!
//! A manifest of a format this version does not know is refused, never
//! read as if it were ours ([`manifest_from_json`]).

use serde::{Deserialize, Serialize};

use crate::archive::read::Damage;
use crate::base::Identity;
use crate::scan::names::{Platform, name_problem, reserved};
use crate::sys::time::{Mtime, checked_system_time};

/// The manifest's entry name: the last entry of every archive.
pub const MANIFEST: &str = ".svgauto/manifest.json";

/// The newest manifest format this version reads and writes. Format 2
/// adds names that are not UTF-8 (`path_hex`) and symbolic links (`links`);
/// an archive that has neither is written as format 1, which earlier
/// releases read.
pub const FORMAT_VERSION: u32 = 2;

/// `.svgauto/manifest.json`: what the archive claims to hold. Written last
/// by `write`, read first by restore and verify.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest's format: 1, or [`FORMAT_VERSION`] when the archive
    /// needs it.
    pub format: u32,
    /// `svgauto <version>` that wrote it.
    pub generator: String,
    /// The dossier's identity at the backup.
    pub dossier: Identity,
    /// When the backup was taken (RFC 3339, local time).
    pub backup_time: String,
    /// The fingerprint the backup recorded in the catalog.
    pub fingerprint: String,
    /// The compression method's name (`zstd`, `deflate`, `store`).
    pub method: String,
    /// Whether `documents/` was archived (`backup.include_documents`): if
    /// not, a restore keeps the live dossier's documents.
    pub documents_included: bool,
    /// Every zip entry but the manifest, in archive order.
    pub entries: Vec<ManifestEntry>,
    /// What the dossier held that is not archived, and why.
    #[serde(default)]
    pub skipped: Vec<ManifestSkipped>,
    /// The dossier's symbolic links, recorded, not followed: no zip entry
    /// (a zip tool would create the link, and write through it), restore
    /// recreates them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<ManifestLink>,
}

/// What a manifest entry is: a file, or a folder recorded so that restore
/// recreates it (an empty one, or one with its own permissions and time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManifestKind {
    File,
    Dir,
}

/// One zip entry of the archive as the manifest records it: what restore
/// and verify check the entry against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The relative path; a name that is not UTF-8 shown as `\xNN`.
    pub path: String,
    /// The path's own bytes, in hex, when they are not UTF-8: what the zip
    /// entry is named and what restore creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hex: Option<String>,
    /// File or folder.
    #[serde(rename = "type")]
    pub kind: ManifestKind,
    /// A file's size in bytes (0 for a folder).
    pub size: u64,
    /// The modification time, readable ([`rfc3339`]): the same instant as
    /// `mtime_s`/`mtime_ns`.
    pub mtime: String,
    /// The modification time restore sets: seconds since the Unix epoch…
    pub mtime_s: i64,
    /// … and nanoseconds.
    pub mtime_ns: u32,
    /// CRC-32 of a file's content, 8 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
}

/// A symbolic link of the dossier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestLink {
    /// As [`ManifestEntry::path`].
    pub path: String,
    /// As [`ManifestEntry::path_hex`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hex: Option<String>,
    /// What the link points to, as it reads (not UTF-8: `\xNN`, and the
    /// bytes in `target_hex`).
    pub target: String,
    /// The target's bytes, in hex, when they are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_hex: Option<String>,
}

impl ManifestEntry {
    /// The entry's path bytes: its zip entry's name.
    pub fn name_bytes(&self) -> Result<Vec<u8>, String> {
        match &self.path_hex {
            Some(h) => hex::decode(h).map_err(|e| format!("path_hex de {} : {e}", self.path)),
            None => Ok(self.path.as_bytes().to_vec()),
        }
    }
}

impl ManifestLink {
    /// The link's path bytes and target bytes.
    pub fn bytes(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        let path = match &self.path_hex {
            Some(h) => hex::decode(h).map_err(|e| format!("path_hex de {} : {e}", self.path))?,
            None => self.path.as_bytes().to_vec(),
        };
        let target = match &self.target_hex {
            Some(h) => hex::decode(h).map_err(|e| format!("target_hex de {} : {e}", self.path))?,
            None => self.target.as_bytes().to_vec(),
        };
        Ok((path, target))
    }
}

/// Something of the dossier the archive does not hold (`scan::Skipped`),
/// and why, in French.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestSkipped {
    /// Its relative path, as shown.
    pub path: String,
    /// Why it is not archived (French).
    pub why: String,
}

/// A file time as the manifest's readable `mtime` writes it: RFC 3339 in
/// UTC, with as many fraction digits as it needs; empty where the calendar
/// cannot write it.
pub fn rfc3339(m: Mtime) -> String {
    chrono::DateTime::from_timestamp(m.secs, m.nanos)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// Checks a recorded modification time: `mtime_s`/`mtime_ns` — what
/// restore sets — a time this system can hold (nanoseconds below one
/// second), and the readable `mtime` the same instant (empty where the
/// calendar cannot write it, as [`rfc3339`] does).
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
/// or for a name that is not UTF-8 (`raw`) `scan::names::judged_name` of
/// its bytes — `Err` on Windows, where such a name cannot exist.
pub(crate) fn judged(
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
    // Read from the value in place (a manifest of 70,000 entries is tens
    // of megabytes of JSON: no copy of it).
    let manifest = Manifest::deserialize(&value).map_err(|e| Damage::BadManifest(e.to_string()))?;
    let known = serde_json::to_value(&manifest).expect("the manifest serializes");
    if let Some(field) = unknown_field(&value, &known) {
        return Err(Damage::UnknownField { field });
    }
    Ok(manifest)
}

/// The first field of `got` that `known` (the same JSON read into our
/// types and written back) lacks, as `entries[<path>].field`; a `null`
/// where we write nothing is not a field. The name is only made for the
/// field found (the walk visits every field of every entry).
fn unknown_field(got: &serde_json::Value, known: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match (got, known) {
        (Value::Object(g), Value::Object(k)) => g.iter().find_map(|(key, v)| match k.get(key) {
            None if v.is_null() => None,
            None => Some(key.clone()),
            Some(kv) => unknown_field(v, kv).map(|below| {
                if below.starts_with('[') {
                    format!("{key}{below}")
                } else {
                    format!("{key}.{below}")
                }
            }),
        }),
        (Value::Array(g), Value::Array(k)) => {
            g.iter().zip(k).enumerate().find_map(|(i, (v, kv))| {
                let below = unknown_field(v, kv)?;
                let which = v
                    .get("path")
                    .and_then(Value::as_str)
                    .map_or_else(|| i.to_string(), str::to_owned);
                Some(if below.starts_with('[') {
                    format!("[{which}]{below}")
                } else {
                    format!("[{which}].{below}")
                })
            })
        }
        _ => None,
    }
}

/// A manifest of format 1 with a file and a folder, as JSON: the tests'
/// starting point.
#[cfg(test)]
pub(crate) fn example_json() -> serde_json::Value {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    #[cfg_attr(
        windows,
        ignore = "Unix's range of times: Windows' (FILETIME, from 1601, in 100 ns) holds neither i64::MAX nor i64::MIN seconds, so check_times rightly refuses them there"
    )]
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

    #[test]
    fn a_manifest_of_a_newer_format_or_with_unknown_fields_is_refused() {
        manifest_from_json(example_json()).unwrap();
        let mut m = example_json();
        m["format"] = (FORMAT_VERSION + 1).into();
        assert!(matches!(
            manifest_from_json(m),
            Err(Damage::NewerFormat { found }) if found == u64::from(FORMAT_VERSION) + 1
        ));
        let mut m = example_json();
        m["couleur"] = "bleu".into();
        assert!(matches!(
            manifest_from_json(m),
            Err(Damage::UnknownField { field }) if field == "couleur"
        ));
        // The identity refuses unknown fields itself.
        let mut m = example_json();
        m["dossier"]["couleur"] = "bleu".into();
        let e = manifest_from_json(m).unwrap_err().to_string();
        assert!(e.contains("couleur"), "{e}");
        let mut m = example_json();
        m["entries"][1]["target"] = "../x".into();
        assert!(matches!(
            manifest_from_json(m),
            Err(Damage::UnknownField { field }) if field == "entries[d/].target"
        ));
        let mut m = example_json();
        m["entries"][0]["type"] = "symlink".into();
        assert!(matches!(manifest_from_json(m), Err(Damage::BadManifest(_))));
    }
}
