//! The SVG archive (DESIGN.md §5): one standard zip per dossier, written so
//! that an older good backup is never replaced by an incomplete one.
//!
//! The archive is streamed to `B<CODE>.SVG.partial` beside the target —
//! each file read in buffered chunks and compressed as it is read, never
//! loaded whole — then flushed (`sync_all`), renamed over `B<CODE>.SVG`, and
//! the folder flushed. Entries keep their modification time (DOS local time
//! plus the UTC extended-timestamp field); ZIP64 is used where sizes need it.
//! The last entry, `.svgauto/manifest.json`, describes the dossier and every
//! entry with its CRC-32, so restore and verify can check an archive against
//! what it claims to hold.
//!
//! A file whose size or modification time changed while it was read makes
//! the whole archive discarded: an archive never claims a state the dossier
//! never had.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Local, TimeZone};
use crossbeam_channel::{Receiver, Sender};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zip::write::{FullFileOptions, SimpleFileOptions, ZipWriter};
use zip::{CompressionMethod, result::ZipError};

use crate::base::Identity;
use crate::config::Method;
use crate::scan::{DossierScan, EntryKind, Mtime};

pub const MANIFEST: &str = ".svgauto/manifest.json";
pub const FORMAT_VERSION: u32 = 1;
const READ_BUF: usize = 256 * 1024;
/// Report read progress to the caller every this many bytes.
const PROGRESS_STEP: u64 = 4 * 1024 * 1024;
/// Above this size an entry is written with ZIP64 sizes: its compressed size
/// may exceed the input's (incompressible data) and must still fit.
const LARGE_ENTRY: u64 = 0xF000_0000;

/// The archive name of a dossier.
pub fn file_name(code: &str) -> String {
    format!("B{code}.SVG")
}

/// The temporary name an archive is written under.
pub fn partial_path(target: &Path) -> PathBuf {
    let mut s = target.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Why an archive could not be written. The messages are the French
/// sentences of the report, after "Echec du traitement. ".
#[derive(Debug, Error)]
pub enum ArchiveError {
    #[error(
        "Le fichier {rel} a été modifié pendant sa lecture ; la sauvegarde est abandonnée et sera refaite au prochain traitement."
    )]
    ChangedDuringRead { rel: String },
    #[error("Lecture impossible de {rel} : {source}.")]
    Read { rel: String, source: io::Error },
    #[error("Espace disque insuffisant dans {} : la sauvegarde n'a pas pu être écrite.", dir.display())]
    DiskFull { dir: PathBuf },
    #[error("Ecriture impossible de {} : {source}.", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "L'archive écrite ne se relit pas correctement ({0}) ; l'ancienne sauvegarde est conservée."
    )]
    Verify(String),
    #[error(
        "Sauvegarde interrompue à la demande de l'utilisateur ; elle sera refaite au prochain traitement."
    )]
    Interrupted,
}

/// A bound on the files read at once (`run.io_jobs`), whatever the number of
/// threads: a channel pre-filled with that many tokens.
#[derive(Debug, Clone)]
pub struct IoBudget {
    give: Sender<()>,
    take: Receiver<()>,
}

impl IoBudget {
    pub fn new(jobs: usize) -> IoBudget {
        let (give, take) = crossbeam_channel::bounded(jobs.max(1));
        for _ in 0..jobs.max(1) {
            give.send(()).expect("the channel has room for every token");
        }
        IoBudget { give, take }
    }

    fn acquire(&self) -> IoToken<'_> {
        self.take
            .recv()
            .expect("the budget owns both ends of its channel");
        IoToken(self)
    }
}

struct IoToken<'a>(&'a IoBudget);

impl Drop for IoToken<'_> {
    fn drop(&mut self) {
        let _ = self.0.give.send(());
    }
}

/// How to compress.
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    pub method: Method,
    pub level: i64,
}

/// `.svgauto/manifest.json`: what the archive claims to hold. Written last
/// by `write`, read first by restore and verify.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub generator: String,
    pub dossier: Identity,
    pub backup_time: String,
    pub fingerprint: String,
    pub method: String,
    /// Whether `documents/` was archived (`backup.include_documents`): if
    /// not, a restore keeps the live dossier's documents.
    pub documents_included: bool,
    pub entries: Vec<ManifestEntry>,
    /// What the dossier held that is not archived, and why.
    #[serde(default)]
    pub skipped: Vec<ManifestSkipped>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManifestKind {
    File,
    Dir,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: ManifestKind,
    pub size: u64,
    pub mtime: String,
    pub mtime_s: i64,
    pub mtime_ns: u32,
    /// CRC-32 of a file's content, 8 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestSkipped {
    pub path: String,
    pub why: String,
}

/// What was written.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub files: usize,
}

/// Everything `write` needs besides the scan.
pub struct Job<'a> {
    pub scan: &'a DossierScan,
    pub identity: &'a Identity,
    pub target: &'a Path,
    pub compression: Compression,
    pub backup_time: DateTime<Local>,
    pub io: &'a IoBudget,
    pub quit: &'a AtomicBool,
    /// Called with the number of bytes read since the last call.
    pub on_bytes: &'a (dyn Fn(u64) + Sync),
    /// Whether the scan included `documents/` (recorded in the manifest).
    pub documents_included: bool,
    /// `run --verify`: read the archive back before putting it in place.
    pub verify: bool,
}

/// Writes the dossier's archive and puts it in place atomically. On any
/// error the `.partial` is removed and the previous archive is untouched.
pub fn write(job: &Job<'_>) -> Result<Written, ArchiveError> {
    let partial = partial_path(job.target);
    let result = write_partial(job, &partial).and_then(|w| {
        if job.verify {
            crate::verify::check(&partial, None)
                .map_err(|d| ArchiveError::Verify(d.to_string()))?;
        }
        fs::rename(&partial, job.target).map_err(|e| write_error(&partial, e))?;
        sync_dir(job.target.parent().unwrap_or(Path::new(".")))
            .map_err(|e| write_error(job.target, e))?;
        Ok(w)
    });
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

fn write_error(path: &Path, e: io::Error) -> ArchiveError {
    if matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) {
        ArchiveError::DiskFull {
            dir: path.parent().unwrap_or(Path::new(".")).to_owned(),
        }
    } else {
        ArchiveError::Write {
            path: path.to_owned(),
            source: e,
        }
    }
}

fn zip_error(path: &Path, e: ZipError) -> ArchiveError {
    match e {
        ZipError::Io(e) => write_error(path, e),
        other => write_error(path, io::Error::other(other)),
    }
}

fn write_partial(job: &Job<'_>, partial: &Path) -> Result<Written, ArchiveError> {
    let file = File::create(partial).map_err(|e| write_error(partial, e))?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    let method = match job.compression.method {
        Method::Zstd => CompressionMethod::Zstd,
        Method::Deflate => CompressionMethod::Deflated,
        Method::Store => CompressionMethod::Stored,
    };
    let level = match job.compression.method {
        Method::Store => None,
        _ => Some(job.compression.level),
    };
    let base = SimpleFileOptions::default()
        .compression_method(method)
        .compression_level(level);

    let mut entries = Vec::with_capacity(job.scan.entries.len());
    let mut buf = vec![0u8; READ_BUF];
    let mut bytes_in = 0u64;
    for e in &job.scan.entries {
        if job.quit.load(Ordering::Relaxed) {
            return Err(ArchiveError::Interrupted);
        }
        let opts = entry_options(base, e.mtime, e.size, partial)?;
        let crc = match e.kind {
            EntryKind::EmptyDir => {
                zip.add_directory(e.rel.as_str(), opts)
                    .map_err(|err| zip_error(partial, err))?;
                None
            }
            EntryKind::File => {
                let _token = job.io.acquire();
                let path = job.scan.dir.join(&e.rel);
                let read_err = |source| ArchiveError::Read {
                    rel: e.rel.clone(),
                    source,
                };
                let changed = || ArchiveError::ChangedDuringRead { rel: e.rel.clone() };
                let mut src = match File::open(&path) {
                    Ok(f) => f,
                    // Deleted since the scan: the dossier changed under us.
                    Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(changed()),
                    Err(err) => return Err(read_err(err)),
                };
                let before = src.metadata().map_err(read_err)?;
                if before.len() != e.size || Mtime::of(&before) != e.mtime {
                    return Err(changed());
                }
                #[cfg(unix)]
                let opts = {
                    use std::os::unix::fs::PermissionsExt;
                    opts.unix_permissions(before.permissions().mode() & 0o7777)
                };
                zip.start_file(e.rel.as_str(), opts)
                    .map_err(|err| zip_error(partial, err))?;
                let mut hasher = crc32fast::Hasher::new();
                let (mut n, mut unreported) = (0u64, 0u64);
                loop {
                    if job.quit.load(Ordering::Relaxed) {
                        return Err(ArchiveError::Interrupted);
                    }
                    let got = match src.read(&mut buf) {
                        Ok(0) => break,
                        Ok(got) => got,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                        Err(err) => return Err(read_err(err)),
                    };
                    n += got as u64;
                    if n > e.size {
                        return Err(changed());
                    }
                    hasher.update(&buf[..got]);
                    zip.write_all(&buf[..got])
                        .map_err(|err| write_error(partial, err))?;
                    unreported += got as u64;
                    if unreported >= PROGRESS_STEP {
                        (job.on_bytes)(unreported);
                        unreported = 0;
                    }
                }
                (job.on_bytes)(unreported);
                let after = src.metadata().map_err(read_err)?;
                if n != e.size || after.len() != e.size || Mtime::of(&after) != e.mtime {
                    return Err(changed());
                }
                bytes_in += n;
                Some(format!("{:08x}", hasher.finalize()))
            }
        };
        entries.push(ManifestEntry {
            path: e.rel.clone(),
            kind: match e.kind {
                EntryKind::File => ManifestKind::File,
                EntryKind::EmptyDir => ManifestKind::Dir,
            },
            size: e.size,
            mtime: rfc3339(e.mtime),
            mtime_s: e.mtime.secs,
            mtime_ns: e.mtime.nanos,
            crc32: crc,
        });
    }

    let files = entries
        .iter()
        .filter(|e| e.kind == ManifestKind::File)
        .count();
    let manifest = Manifest {
        format: FORMAT_VERSION,
        generator: format!("svgauto {}", env!("CARGO_PKG_VERSION")),
        dossier: job.identity.clone(),
        backup_time: job.backup_time.to_rfc3339(),
        fingerprint: job.scan.fingerprint.clone(),
        method: crate::config::method_name(job.compression.method).to_owned(),
        documents_included: job.documents_included,
        entries,
        skipped: job
            .scan
            .skipped
            .iter()
            .map(|s| ManifestSkipped {
                path: s.rel.clone(),
                why: s.why.to_owned(),
            })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("the manifest serializes");
    let now = Mtime::from_system(job.backup_time.into());
    zip.start_file(
        MANIFEST,
        entry_options(base, now, json.len() as u64, partial)?,
    )
    .map_err(|err| zip_error(partial, err))?;
    zip.write_all(&json)
        .map_err(|err| write_error(partial, err))?;

    let out = zip.finish().map_err(|err| zip_error(partial, err))?;
    let file = out
        .into_inner()
        .map_err(|e| write_error(partial, e.into_error()))?;
    file.sync_all().map_err(|e| write_error(partial, e))?;
    let bytes_out = file.metadata().map_err(|e| write_error(partial, e))?.len();
    Ok(Written {
        bytes_in,
        bytes_out,
        files,
    })
}

/// Options of one entry: its modification time as DOS local time (clamped
/// to the DOS range) and as the UTC extended timestamp (when it fits).
fn entry_options(
    base: SimpleFileOptions,
    mtime: Mtime,
    size: u64,
    partial: &Path,
) -> Result<FullFileOptions<'static, 'static>, ArchiveError> {
    let dos = Local
        .timestamp_opt(mtime.secs, 0)
        .single()
        .and_then(|t| zip::DateTime::try_from(t.naive_local()).ok())
        .unwrap_or_default();
    let unix = u32::try_from(mtime.secs)
        .ok()
        .filter(|s| *s <= i32::MAX as u32);
    base.last_modified_time(dos)
        .large_file(size > LARGE_ENTRY)
        .with_extended_timestamp(unix, None, None)
        .map_err(|e| zip_error(partial, e))
}

pub fn rfc3339(m: Mtime) -> String {
    DateTime::from_timestamp(m.secs, m.nanos)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// Flushes a folder's entry list, so a rename in it survives a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Windows cannot open a folder as a file without extra flags; NTFS
        // journals the rename itself.
        let _ = dir;
        Ok(())
    }
}

/// Removes `*.SVG.partial` files left in `dir` and its direct subfolders by
/// a run that died, and returns the dossier codes they belonged to.
pub fn clean_partials(dir: &Path) -> Vec<String> {
    let mut codes = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    if let Ok(rd) = fs::read_dir(dir) {
        dirs.extend(
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    for d in dirs {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(code) = name
                .strip_suffix(".SVG.partial")
                .and_then(|s| s.strip_prefix('B'))
                && fs::remove_file(e.path()).is_ok()
            {
                codes.push(code.to_owned());
            }
        }
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scan_dossier;
    use std::io::Cursor;

    fn make_dossier() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("dossier.toml"), "code = \"D\"\n").unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        fs::write(d.path().join("a/b/c.dat"), vec![7u8; 131072]).unwrap();
        fs::write(d.path().join("vide.dat"), b"").unwrap();
        fs::create_dir_all(d.path().join("rien")).unwrap();
        d
    }

    fn run(d: &Path, out: &Path, method: Method) -> Result<Written, ArchiveError> {
        let scan = scan_dossier("D", d, false);
        let identity = scan.identity.clone().unwrap();
        let io = IoBudget::new(1);
        let quit = AtomicBool::new(false);
        write(&Job {
            scan: &scan,
            identity: &identity,
            target: out,
            compression: Compression {
                method,
                level: if method == Method::Deflate { 6 } else { 3 },
            },
            backup_time: Local::now(),
            io: &io,
            quit: &quit,
            on_bytes: &|_| {},
            documents_included: false,
            verify: true,
        })
    }

    #[test]
    fn round_trip_every_method() {
        let d = make_dossier();
        let out = tempfile::tempdir().unwrap();
        for method in [Method::Zstd, Method::Deflate, Method::Store] {
            let target = out.path().join("BD.SVG");
            let w = run(d.path(), &target, method).unwrap();
            assert_eq!(w.files, 3);
            assert!(!partial_path(&target).exists());
            let mut z = zip::ZipArchive::new(Cursor::new(fs::read(&target).unwrap())).unwrap();
            let last = z.len() - 1;
            assert_eq!(z.by_index(last).unwrap().name().unwrap(), MANIFEST);
            let mut data = Vec::new();
            z.by_name("a/b/c.dat")
                .unwrap()
                .read_to_end(&mut data)
                .unwrap();
            assert_eq!(data, vec![7u8; 131072]);
            assert!(z.by_name("rien/").unwrap().is_dir());
        }
    }

    #[test]
    fn a_file_changed_since_the_scan_discards_the_archive() {
        let d = make_dossier();
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("BD.SVG");
        fs::write(&target, b"previous good archive").unwrap();
        let scan = scan_dossier("D", d.path(), false);
        fs::write(d.path().join("vide.dat"), b"now not empty").unwrap();
        let identity = scan.identity.clone().unwrap();
        let io = IoBudget::new(1);
        let quit = AtomicBool::new(false);
        let err = write(&Job {
            scan: &scan,
            identity: &identity,
            target: &target,
            compression: Compression {
                method: Method::Zstd,
                level: 3,
            },
            backup_time: Local::now(),
            io: &io,
            quit: &quit,
            on_bytes: &|_| {},
            documents_included: false,
            verify: true,
        })
        .unwrap_err();
        assert!(
            matches!(err, ArchiveError::ChangedDuringRead { ref rel } if rel == "vide.dat"),
            "{err}"
        );
        assert_eq!(fs::read(&target).unwrap(), b"previous good archive");
        assert!(!partial_path(&target).exists());
    }

    #[test]
    fn leftover_partials_are_cleaned_and_named() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("BX1.SVG.partial"), b"").unwrap();
        fs::create_dir(d.path().join("Lundi")).unwrap();
        fs::write(d.path().join("Lundi/BX2.SVG.partial"), b"").unwrap();
        fs::write(d.path().join("BX3.SVG"), b"").unwrap();
        let mut codes = clean_partials(d.path());
        codes.sort();
        assert_eq!(codes, ["X1", "X2"]);
        assert!(d.path().join("BX3.SVG").exists());
    }
}
