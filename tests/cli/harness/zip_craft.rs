//! [`Craft`]: a real archive rewritten with changes, to make damaged or
//! hostile archives that otherwise look like svgauto's own.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::{MANIFEST, read_manifest};

enum Extra {
    File(Vec<u8>),
    Symlink(String),
}

/// A real archive rewritten with changes, to craft damaged or hostile
/// archives that otherwise look like svgauto's own: the entries are copied
/// raw (same data, times, extra fields), then the added entries, then the
/// manifest — its fingerprint recomputed as `scan` does, so that the only
/// thing wrong is the one the test put there.
pub struct Craft {
    src: PathBuf,
    pub manifest: serde_json::Value,
    dropped: BTreeSet<String>,
    extra: Vec<(String, Extra)>,
}

impl Craft {
    pub fn of(archive: &Path) -> Craft {
        Craft {
            src: archive.to_owned(),
            manifest: read_manifest(archive),
            dropped: BTreeSet::new(),
            extra: Vec::new(),
        }
    }

    /// Leaves entry `name` out of the zip; the manifest still lists it.
    pub fn drop_entry(mut self, name: &str) -> Craft {
        self.dropped.insert(name.to_owned());
        self
    }

    /// Adds a file entry; `listed`: the manifest describes it, exactly.
    pub fn add_file(mut self, name: &str, bytes: &[u8], listed: bool) -> Craft {
        if listed {
            self.list(name, bytes);
        }
        self.extra
            .push((name.to_owned(), Extra::File(bytes.to_vec())));
        self
    }

    /// Adds a symbolic link entry; `listed`: the manifest describes it as a
    /// file holding the target's path (which is what the zip stores).
    pub fn add_symlink(mut self, name: &str, target: &str, listed: bool) -> Craft {
        if listed {
            self.list(name, target.as_bytes());
        }
        self.extra
            .push((name.to_owned(), Extra::Symlink(target.to_owned())));
        self
    }

    /// Changes the manifest's entry of `path`.
    pub fn edit_entry(mut self, path: &str, f: impl FnOnce(&mut serde_json::Value)) -> Craft {
        let e = self.manifest["entries"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e["path"] == path)
            .unwrap_or_else(|| panic!("no manifest entry {path}"));
        f(e);
        self
    }

    fn list(&mut self, name: &str, bytes: &[u8]) {
        let entries = self.manifest["entries"]
            .as_array_mut()
            .expect("manifest `entries` array");
        entries.push(serde_json::json!({
            "path": name,
            "type": "file",
            "size": bytes.len(),
            "mtime": "2025-01-02T03:04:05.000000006Z",
            "mtime_s": 1_735_787_045i64,
            "mtime_ns": 6,
            "crc32": format!("{:08x}", crc32fast::hash(bytes)),
        }));
        entries.sort_by(|a, b| {
            a["path"]
                .as_str()
                .unwrap_or("")
                .cmp(b["path"].as_str().unwrap_or(""))
        });
    }

    /// The fingerprint `scan` computes, over the manifest's entries.
    fn refresh_fingerprint(&mut self) {
        let mut h = blake3::Hasher::new();
        for e in self.manifest["entries"].as_array().unwrap() {
            h.update(e["path"].as_str().unwrap_or("").as_bytes());
            h.update(&[0]);
            if e["type"] == "file" {
                h.update(&e["size"].as_u64().unwrap_or(0).to_le_bytes());
                h.update(&e["mtime_s"].as_i64().unwrap_or(0).to_le_bytes());
                h.update(&(e["mtime_ns"].as_u64().unwrap_or(0) as u32).to_le_bytes());
            }
            h.update(&[1]);
        }
        if self.manifest.get("fingerprint").is_some() {
            self.manifest["fingerprint"] = h.finalize().to_hex().to_string().into();
        }
    }

    /// Writes the crafted archive to `dest` (its folder is created).
    pub fn write(mut self, dest: &Path) {
        use std::io::Write;
        use zip::write::SimpleFileOptions;
        self.refresh_fingerprint();
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let mut src = zip::ZipArchive::new(fs::File::open(&self.src).unwrap()).unwrap();
        let mut w = zip::ZipWriter::new(fs::File::create(dest).unwrap());
        for i in 0..src.len() {
            let f = src.by_index_raw(i).unwrap();
            let name = f.name().unwrap().into_owned();
            if name == MANIFEST || self.dropped.contains(&name) {
                continue;
            }
            w.raw_copy_file(f)
                .unwrap_or_else(|e| panic!("copy of entry {name}: {e}"));
        }
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::from_date_and_time(2025, 1, 2, 3, 4, 6).unwrap());
        for (name, extra) in &self.extra {
            match extra {
                Extra::File(bytes) => {
                    w.start_file(name.as_str(), opts)
                        .unwrap_or_else(|e| panic!("entry {name}: {e}"));
                    w.write_all(bytes).unwrap();
                }
                Extra::Symlink(target) => {
                    w.add_symlink(name.as_str(), target.as_str(), opts)
                        .unwrap_or_else(|e| panic!("symlink entry {name}: {e}"));
                }
            }
        }
        w.start_file(MANIFEST, opts).unwrap();
        w.write_all(&serde_json::to_vec_pretty(&self.manifest).unwrap())
            .unwrap();
        w.finish().unwrap();
    }
}
