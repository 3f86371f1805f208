//! Reading an SVG archive back, trusting nothing in it: the manifest must be
//! the last entry and describe exactly the other entries; every entry name
//! must stay inside the dossier (no absolute path, `..`, drive letter,
//! backslash, symlink); every file's size and CRC-32 must match the manifest
//! (computed here, not taken from the zip headers).
//!
//! [`check`] does it all in one streaming pass, optionally extracting into a
//! fresh folder as it goes: `svgauto verify` reads into nothing, restore
//! extracts into a temporary folder that is only switched in if the whole
//! archive passed. A damaged archive is a [`Damage`] naming the entry and
//! what is wrong.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;
use zip::ZipArchive;

use crate::archive::{MANIFEST, Manifest, ManifestKind};
use crate::exit::{Exit, Said};

/// What is wrong with an archive (French, for the user).
#[derive(Debug, Error)]
pub enum Damage {
    #[error("archive illisible (pas un zip, ou tronquée) : {0}")]
    NotZip(String),
    #[error("manifeste {MANIFEST} absent : ce n'est pas une sauvegarde svgauto")]
    NoManifest,
    #[error("manifeste {MANIFEST} illisible : {0}")]
    BadManifest(String),
    #[error("manifeste {MANIFEST} : il doit être la dernière entrée de l'archive")]
    ManifestNotLast,
    #[error("entrée {name} : chemin refusé ({why})")]
    BadName { name: String, why: &'static str },
    #[error("entrée {name} : lien symbolique refusé")]
    Symlink { name: String },
    #[error("entrée {name} : absente du manifeste")]
    NotInManifest { name: String },
    #[error("entrée {name} : annoncée par le manifeste mais absente de l'archive")]
    Missing { name: String },
    #[error("entrée {name} : {what} différent du manifeste")]
    Mismatch { name: String, what: &'static str },
    #[error("entrée {name} : CRC incorrect (manifeste {expected}, contenu {actual})")]
    Crc {
        name: String,
        expected: String,
        actual: String,
    },
    #[error("entrée {name} : illisible ({detail})")]
    Entry { name: String, detail: String },
    #[error("écriture impossible de {} : {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// A checked archive.
#[derive(Debug)]
pub struct Checked {
    pub manifest: Manifest,
    pub files: usize,
    pub bytes: u64,
}

/// Why an entry name would escape the dossier, or cannot be a file name
/// here, if so. Names are relative, `/`-separated, without `.`/`..` or
/// empty components. On Windows, where they are path syntax, a backslash
/// and a first component like `C:` (a drive) are refused too; on Unix they
/// are ordinary characters of a file name (a Linux dossier may hold
/// `a\b.txt` or `C:notes`: its archive must restore there).
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("nom vide");
    }
    if name.contains('\0') {
        return Some("caractère nul");
    }
    if cfg!(windows) && name.contains('\\') {
        return Some("barre oblique inverse");
    }
    if name.starts_with('/') {
        return Some("chemin absolu");
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    let mut parts = trimmed.split('/');
    if cfg!(windows)
        && let Some(first) = parts.clone().next()
    {
        let b = first.as_bytes();
        if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
            return Some("lettre de lecteur");
        }
    }
    if parts.any(|p| p.is_empty() || p == "." || p == "..") {
        return Some("composant vide, . ou ..");
    }
    if cfg!(windows) {
        if trimmed.contains(':') {
            return Some("deux-points");
        }
        // Names Windows maps to devices, or silently trims.
        let reserved = trimmed.split('/').any(|p| {
            let stem = p.split('.').next().unwrap_or("").to_ascii_uppercase();
            matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
                || ((stem.starts_with("COM") || stem.starts_with("LPT"))
                    && stem.len() == 4
                    && stem.as_bytes()[3].is_ascii_digit())
                || p.ends_with('.')
                || p.ends_with(' ')
        });
        if reserved {
            return Some("nom réservé par Windows");
        }
    }
    None
}

fn zip_err(e: zip::result::ZipError) -> Damage {
    Damage::NotZip(e.to_string())
}

/// Checks the archive at `path`; with `dest`, extracts it into `dest` (which
/// must not exist yet) as it goes, restoring modification times and Unix
/// permissions. On a damage, `dest` may hold part of the archive: the caller
/// removes it.
pub fn check(path: &Path, dest: Option<&Path>) -> Result<Checked, Damage> {
    let file = File::open(path).map_err(|e| Damage::NotZip(e.to_string()))?;
    let mut zip = ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
    let n = zip.len();
    let manifest_index = zip.index_for_name(MANIFEST).ok_or(Damage::NoManifest)?;
    if manifest_index + 1 != n {
        return Err(Damage::ManifestNotLast);
    }
    let manifest: Manifest = {
        let entry = zip.by_index(manifest_index).map_err(zip_err)?;
        let mut text = Vec::new();
        // A manifest is a few hundred bytes per entry; refuse absurd ones.
        entry
            .take(64 << 20)
            .read_to_end(&mut text)
            .map_err(|e| Damage::BadManifest(e.to_string()))?;
        serde_json::from_slice(&text).map_err(|e| Damage::BadManifest(e.to_string()))?
    };
    let mut expected: HashMap<&str, &crate::archive::ManifestEntry> = HashMap::new();
    for e in &manifest.entries {
        if let Some(why) = unsafe_name(&e.path) {
            return Err(Damage::BadName {
                name: e.path.clone(),
                why,
            });
        }
        if expected.insert(e.path.as_str(), e).is_some() {
            return Err(Damage::BadManifest(format!("entrée {} en double", e.path)));
        }
    }
    if let Some(d) = dest {
        fs::create_dir(d).map_err(|source| Damage::Write {
            path: d.to_owned(),
            source,
        })?;
    }

    let (mut files, mut bytes) = (0usize, 0u64);
    let mut seen = std::collections::HashSet::new();
    let mut buf = vec![0u8; 256 * 1024];
    for i in 0..manifest_index {
        let mut entry = zip.by_index(i).map_err(zip_err)?;
        let name = entry
            .name()
            .map_err(|e| Damage::NotZip(e.to_string()))?
            .into_owned();
        if let Some(why) = unsafe_name(&name) {
            return Err(Damage::BadName { name, why });
        }
        if entry.enclosed_name().is_none() {
            return Err(Damage::BadName {
                name,
                why: "hors du dossier",
            });
        }
        if entry.is_symlink() {
            return Err(Damage::Symlink { name });
        }
        let Some(m) = expected.get(name.as_str()) else {
            return Err(Damage::NotInManifest { name });
        };
        seen.insert(name.clone());
        let is_dir = entry.is_dir();
        if is_dir != (m.kind == ManifestKind::Dir) {
            return Err(Damage::Mismatch { name, what: "type" });
        }
        let target = dest.map(|d| d.join(name.trim_end_matches('/')));
        if is_dir {
            if let Some(t) = &target {
                fs::create_dir_all(t).map_err(|source| Damage::Write {
                    path: t.clone(),
                    source,
                })?;
            }
            continue;
        }
        if entry.size() != m.size {
            return Err(Damage::Mismatch {
                name,
                what: "taille",
            });
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
        if let (Some(f), Some(t)) = (out, &target) {
            finish_file(f, m.mtime_s, m.mtime_ns, mode).map_err(|source| Damage::Write {
                path: t.clone(),
                source,
            })?;
        }
        files += 1;
        bytes += got;
    }
    if let Some(e) = manifest.entries.iter().find(|e| !seen.contains(&e.path)) {
        return Err(Damage::Missing {
            name: e.path.clone(),
        });
    }
    Ok(Checked {
        manifest,
        files,
        bytes,
    })
}

/// Sets an extracted file's time and permissions, and flushes it.
fn finish_file(f: File, secs: i64, nanos: u32, mode: Option<u32>) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        // Never setuid/setgid/sticky from an archive; keep the owner able to
        // read and write what he restores.
        f.set_permissions(fs::Permissions::from_mode((mode & 0o777) | 0o600))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    f.set_modified(system_time(secs, nanos))?;
    f.sync_all()
}

pub fn system_time(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    }
}

/// The archives named on the command line: files as given, folders walked
/// for `B*.SVG` (any case), sorted.
pub fn collect(args: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for a in args {
        let meta = fs::metadata(a).map_err(|e| format!("{} : {e}", a.display()))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(a, &mut found).map_err(|e| format!("{} : {e}", a.display()))?;
            found.sort();
            out.extend(found);
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let ft = e.file_type()?;
        let p = e.path();
        if ft.is_dir() {
            walk(&p, out)?;
        } else if ft.is_file()
            // Backups of this batch only: the original product's S<CODE>.SVG
            // beside them are not svgauto archives.
            && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('B'))
            && p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| x.eq_ignore_ascii_case("svg"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// `svgauto verify`: every archive, in parallel; one line each.
pub fn verify_command(paths: &[PathBuf]) -> Result<Said, String> {
    use rayon::prelude::*;
    let files = collect(paths)?;
    if files.is_empty() {
        return Err("aucune archive .SVG à vérifier".into());
    }
    let checked: Vec<_> = files.par_iter().map(|f| (f, check(f, None))).collect();
    let exit = if checked.iter().any(|(_, r)| r.is_err()) {
        Exit::DossierErrors
    } else {
        Exit::Ok
    };
    // Every verdict goes to stdout, damaged ones included: it is the output.
    let lines = checked
        .into_iter()
        .map(|(f, r)| {
            Ok(match r {
                Ok(c) => format!(
                    "OK {} ({} fichier(s), {} octets)",
                    f.display(),
                    c.files,
                    c.bytes
                ),
                Err(d) => format!("ENDOMMAGÉE {} : {d}", f.display()),
            })
        })
        .collect();
    Ok(Said { lines, exit })
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
            crate::scan::Mtime::from_system(t),
            crate::scan::Mtime {
                secs: -2,
                nanos: 750_000_000
            }
        );
    }
}
