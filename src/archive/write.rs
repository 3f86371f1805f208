//! The chunked parallel writer (DESIGN §5): one standard zip per dossier,
//! written so that an older good backup is never replaced by an incomplete
//! one.
//!
//! The archive is written to `B<CODE>.SVG.partial` beside the target, then
//! flushed (`sync_all`), renamed over `B<CODE>.SVG`, and the folder flushed.
//! Files are read and compressed in chunks of 4 MiB on the rayon pool — the
//! chunks of one huge file on several cores at once (`codec`) — a bounded
//! batch at a time, and written in order by the `Assembler` (see
//! `zip_writer` for why our own zip writer). Entries keep their
//! modification time (DOS local time plus the UTC extended-timestamp
//! field); ZIP64 is used where sizes need it. The last entry,
//! `.svgauto/manifest.json` (`manifest`), describes the dossier and every
//! entry with its CRC-32, so restore and verify can check an archive
//! against what it claims to hold. [`IoBudget`] bounds the files read at
//! once across every dossier of a run.
//!
//! A file whose size or modification time changed while it was read makes
//! the whole archive discarded: an archive never claims a state the dossier
//! never had.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, TimeZone};
use crossbeam_channel::{Receiver, Sender};
use rayon::prelude::*;
use thiserror::Error;

use crate::archive::codec::{Compression, compress};
use crate::archive::manifest::{
    FORMAT_VERSION, MANIFEST, Manifest, ManifestEntry, ManifestKind, ManifestLink, ManifestSkipped,
    rfc3339,
};
use crate::archive::zip_writer::{self, EntryMeta, Sums, ZipOut};
use crate::base::Identity;
use crate::config::Method;
use crate::scan::{DossierScan, Entry, EntryKind};
use crate::sys::fs::{flush_files, open_regular, open_unchecked, read_exact_at, sync_dir};
use crate::sys::replace::{ReplaceError, replace};
use crate::sys::time::Mtime;

/// Files are read and compressed in chunks of this size: the unit of work
/// the pool's workers share, below the dossier.
pub const CHUNK: u64 = 4 << 20;
/// Uncompressed bytes in flight for one dossier (a batch of chunks).
const BATCH: u64 = 32 << 20;
/// A batch this small is compressed on the dossier's own thread.
const INLINE: u64 = 1 << 20;

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
    /// A file's size, times or identity changed since the scan, or while
    /// it was read.
    #[error(
        "Le fichier {rel} a été modifié pendant sa lecture ; la sauvegarde est abandonnée et sera refaite au prochain traitement."
    )]
    ChangedDuringRead { rel: String },
    /// A file of the dossier could not be read.
    #[error("Lecture impossible de {rel} : {source}.")]
    Read { rel: String, source: io::Error },
    /// The archive's folder has no room left (or the quota is reached).
    #[error("Espace disque insuffisant dans {} : la sauvegarde n'a pas pu être écrite.", dir.display())]
    DiskFull { dir: PathBuf },
    /// The archive could not be written, flushed or renamed into place.
    #[error("Ecriture impossible de {} : {source}.", path.display())]
    Write { path: PathBuf, source: io::Error },
    /// Windows: the previous archive stayed open in another program for the
    /// whole patience of [`crate::sys::replace`]; it is kept as it was.
    #[error(
        "Le fichier {} est {held} ; l'ancienne sauvegarde est conservée et le dossier sera sauvegardé au prochain traitement.",
        path.display()
    )]
    Held {
        path: PathBuf,
        held: crate::sys::replace::Held,
    },
    /// `run --verify`: the archive written does not pass `read::check`.
    #[error(
        "L'archive écrite ne se relit pas correctement ({0}) ; l'ancienne sauvegarde est conservée."
    )]
    Verify(String),
}

/// A bound on the files read at once (`run.io_jobs`), whatever the number of
/// threads: a channel pre-filled with that many tokens.
#[derive(Debug, Clone)]
pub struct IoBudget {
    give: Sender<()>,
    take: Receiver<()>,
}

impl IoBudget {
    /// A budget of `jobs` files read at once (at least one).
    pub fn new(jobs: usize) -> IoBudget {
        let (give, take) = crossbeam_channel::bounded(jobs.max(1));
        for _ in 0..jobs.max(1) {
            give.send(()).expect("the channel has room for every token");
        }
        IoBudget { give, take }
    }

    /// Waits for a token; it goes back to the budget when dropped.
    fn acquire(&self) -> IoToken<'_> {
        self.take
            .recv()
            .expect("the budget owns both ends of its channel");
        IoToken(self)
    }
}

/// The right to read one file, given back on drop.
struct IoToken<'a>(&'a IoBudget);

impl Drop for IoToken<'_> {
    fn drop(&mut self) {
        let _ = self.0.give.send(());
    }
}

/// What was written.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// Bytes of the dossier's files read into the archive.
    pub bytes_in: u64,
    /// Size of the archive written.
    pub bytes_out: u64,
    /// Files in the archive (folders and the manifest not counted).
    pub files: usize,
}

/// Everything `write` needs besides the scan.
pub struct Job<'a> {
    /// The dossier's scan, taken under its lock: what the archive holds.
    pub scan: &'a DossierScan,
    /// The dossier's identity, recorded in the manifest.
    pub identity: &'a Identity,
    /// Where the archive goes (`…/B<CODE>.SVG`); its folder exists.
    pub target: &'a Path,
    /// How to compress.
    pub compression: Compression,
    /// Where the chunks are compressed.
    pub pool: &'a rayon::ThreadPool,
    /// Compress a small batch on the calling thread rather than on the pool
    /// (when there are as many dossier loops as cores).
    pub inline_small: bool,
    /// The backup's time, recorded in the manifest (and the manifest
    /// entry's own modification time).
    pub backup_time: DateTime<Local>,
    /// The bound on files read at once, shared by every dossier of a run.
    pub io: &'a IoBudget,
    /// Called with the number of bytes read since the last call (once per
    /// batch: a message per small file would cost more than the file).
    pub on_bytes: &'a (dyn Fn(u64) + Sync),
    /// Whether the scan included `documents/` (recorded in the manifest).
    pub documents_included: bool,
    /// `run --verify`: read the archive back before putting it in place.
    pub verify: bool,
}

/// Writes the dossier's archive and puts it in place atomically: [`stage`]
/// then [`commit`] of that one archive. On any error the `.partial` is
/// removed and the previous archive is untouched.
pub fn write(job: &Job<'_>) -> Result<Written, ArchiveError> {
    let staged = stage(job)?;
    commit(vec![staged])
        .pop()
        .expect("one result per staged archive")
}

/// An archive written in full to its `.partial` (and read back if the job
/// asked), not yet flushed nor in place: [`commit`] puts it there, or
/// dropping it removes the `.partial`. The previous archive is untouched
/// until then.
#[derive(Debug)]
pub struct Staged {
    /// Open for the flush; closed before the rename (Windows refuses to
    /// rename a file open without delete sharing).
    file: Option<File>,
    /// The `.partial` is still to be removed if this is dropped: not yet
    /// renamed into place.
    pending: bool,
    partial: PathBuf,
    target: PathBuf,
    written: Written,
}

impl Staged {
    /// Where the archive goes (`…/B<CODE>.SVG`).
    pub fn target(&self) -> &Path {
        &self.target
    }
}

impl Drop for Staged {
    /// A staged archive never committed leaves nothing behind.
    fn drop(&mut self) {
        self.file = None;
        if self.pending {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

/// Writes the dossier's archive to `B<CODE>.SVG.partial`, without flushing
/// it, and reads it back if `job.verify`. On any error the `.partial` is
/// removed.
pub fn stage(job: &Job<'_>) -> Result<Staged, ArchiveError> {
    let partial = partial_path(job.target);
    let result = write_partial(job, &partial).and_then(|(file, written)| {
        let staged = Staged {
            file: Some(file),
            pending: true,
            partial: partial.clone(),
            target: job.target.to_owned(),
            written,
        };
        if job.verify {
            // On the run's pool, so `--threads` bounds the read-back too.
            job.pool
                .install(|| crate::archive::read::check(&partial, None))
                .map_err(|d| ArchiveError::Verify(d.to_string()))?;
        }
        Ok(staged)
    });
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

/// Puts staged archives in place as one group (a group commit): their data
/// flushed together ([`flush_files`]), then each renamed over its target,
/// then each folder flushed once. Result `i` is that of `staged[i]`: `Ok`
/// only once the archive's data and its folder entry are on disk — what
/// the catalog may then record. A failed archive's `.partial` is removed
/// and its previous archive untouched (when the folder flush fails, the
/// archive is in place but said failed: the dossier is saved again next
/// time).
pub fn commit(mut staged: Vec<Staged>) -> Vec<Result<Written, ArchiveError>> {
    let files: Vec<&File> = staged
        .iter()
        .map(|s| s.file.as_ref().expect("a staged archive has its file"))
        .collect();
    let flushed = flush_files(&files);
    let mut results: Vec<Result<Written, ArchiveError>> = Vec::with_capacity(staged.len());
    for (s, f) in staged.iter_mut().zip(flushed) {
        s.file = None;
        let r = f.map_err(|e| write_error(&s.partial, e)).and_then(|()| {
            match replace(&s.partial, &s.target) {
                Ok(()) => Ok(()),
                Err(ReplaceError::Io(e)) => Err(write_error(&s.partial, e)),
                Err(ReplaceError::Held(held)) => Err(ArchiveError::Held {
                    path: s.target.clone(),
                    held,
                }),
            }
        });
        if r.is_ok() {
            // In place: nothing left to remove.
            s.pending = false;
        }
        results.push(r.map(|()| s.written));
    }
    // Each folder once, after every rename into it.
    let mut folders: Vec<&Path> = staged
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|(s, _)| s.target.parent().unwrap_or(Path::new(".")))
        .collect();
    folders.sort();
    folders.dedup();
    let failed: Vec<(PathBuf, io::Error)> = folders
        .into_iter()
        .filter_map(|d| sync_dir(d).err().map(|e| (d.to_owned(), e)))
        .collect();
    for (s, r) in staged.iter().zip(results.iter_mut()) {
        let dir = s.target.parent().unwrap_or(Path::new("."));
        if let (Ok(_), Some((_, e))) = (&r, failed.iter().find(|(d, _)| d == dir)) {
            *r = Err(write_error(
                &s.target,
                io::Error::new(e.kind(), e.to_string()),
            ));
        }
    }
    results
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

/// One piece of work: a chunk of a file (`offset`, `len`), or a folder
/// entry (no data).
struct Chunk<'a> {
    entry: &'a Entry,
    offset: u64,
    len: u64,
    first: bool,
    last: bool,
}

/// A compressed chunk and the CRC of its raw bytes.
struct Packed {
    data: Vec<u8>,
    crc: crc32fast::Hasher,
}

/// Splits the dossier into chunks, in archive order: each file into chunks
/// of [`CHUNK`] bytes (an empty file is one empty chunk), a folder one
/// chunk of no data.
fn chunks(entries: &[Entry]) -> impl Iterator<Item = Chunk<'_>> {
    entries.iter().flat_map(|e| {
        let n = match e.kind {
            EntryKind::EmptyDir => 1,
            EntryKind::File => e.size.div_ceil(CHUNK).max(1),
            // Recorded in the manifest only (see `Manifest::links`).
            EntryKind::Link { .. } => 0,
        };
        (0..n).map(move |i| Chunk {
            entry: e,
            offset: i * CHUNK,
            len: if e.kind == EntryKind::File {
                (e.size - i * CHUNK).min(CHUNK)
            } else {
                0
            },
            first: i == 0,
            last: i + 1 == n,
        })
    })
}

/// Reads and compresses one chunk (on any worker of the pool). The chunk is
/// read with a positioned read, so the chunks of one file are read and
/// compressed in parallel; each is compressed independently (a zstd frame,
/// or deflate blocks ending with a full flush), so their concatenation is
/// the entry's compressed stream.
fn compress_chunk(job: &Job<'_>, t: &Chunk<'_>) -> Result<Packed, ArchiveError> {
    let e = t.entry;
    let changed = || ArchiveError::ChangedDuringRead { rel: e.rel.clone() };
    let read_err = |source| ArchiveError::Read {
        rel: e.rel.clone(),
        source,
    };
    thread_local! {
        /// The thread's read buffer, kept from chunk to chunk (up to
        /// [`CHUNK`] bytes): a fresh zeroed buffer per file cost more than
        /// reading a small file.
        static RAW: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    RAW.with_borrow_mut(|buf| {
        let len = t.len as usize;
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let raw = &mut buf[..len];
        {
            let _token = job.io.acquire();
            let f = match open_unchecked(&e.path_in(&job.scan.dir)) {
                Ok(Some(f)) => f,
                // Replaced by a link since the scan: changed under us.
                Ok(None) => return Err(changed()),
                // Deleted since the scan: the dossier changed under us.
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(changed()),
                Err(err) => return Err(read_err(err)),
            };
            let read = read_exact_at(&f, raw, t.offset);
            // One `fstat`, after the read, says both that this is still the
            // regular file the scan saw (its identity: not a folder or a
            // FIFO put in its place) and that its size and times did not
            // move while it was read. A file of several chunks is checked at
            // its last one, and once more when all of them are in
            // (`write_batch`).
            if t.last || read.is_err() {
                let m = f.metadata().map_err(read_err)?;
                if !e.same_file(&m) {
                    return Err(changed());
                }
            }
            match read {
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Err(changed()),
                r => r.map_err(read_err)?,
            }
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(raw);
        let data = compress(job.compression, raw, t.last).map_err(|err| ArchiveError::Write {
            path: PathBuf::from(&e.rel),
            source: err,
        })?;
        Ok(Packed { data, crc })
    })
}

/// Reads a [racy](Entry::racy) file once more, after it was archived, and
/// checks that it gives the same bytes (`crc`) and is still the file the
/// scan saw. A file changed within the tick of the scan keeps its stamps,
/// so they cannot tell whether it changed while it was read: two reads
/// that agree can. A write during either read makes them differ.
fn read_again(job: &Job<'_>, e: &Entry, crc: u32) -> Result<(), ArchiveError> {
    use std::io::Read;
    let changed = || ArchiveError::ChangedDuringRead { rel: e.rel.clone() };
    let read_err = |source| ArchiveError::Read {
        rel: e.rel.clone(),
        source,
    };
    let _token = job.io.acquire();
    let Some(f) = open_regular(&e.path_in(&job.scan.dir)).map_err(read_err)? else {
        return Err(changed());
    };
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    let mut r = (&f).take(e.size + 1);
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                got += n as u64;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(read_err(err)),
        }
    }
    let meta = f.metadata().map_err(read_err)?;
    if got != e.size || hasher.finalize() != crc || !e.same_file(&meta) {
        return Err(changed());
    }
    Ok(())
}

/// The zip entry of a scanned entry.
fn entry_meta(c: Compression, name: &[u8], mtime: Mtime, size: u64, mode: u32) -> EntryMeta {
    let (dos_time, dos_date) = dos_time(mtime);
    EntryMeta {
        name: name.to_vec(),
        method: match c.method {
            // A directory has no data, not even an empty compressed stream.
            _ if name.ends_with(b"/") => zip_writer::STORED,
            Method::Zstd => zip_writer::ZSTD,
            Method::Deflate => zip_writer::DEFLATED,
            Method::Store => zip_writer::STORED,
        },
        dos_time,
        dos_date,
        unix_mtime: u32::try_from(mtime.secs)
            .ok()
            .filter(|s| *s <= i32::MAX as u32),
        mode,
        zip64: size > zip_writer::ZIP64_FROM,
    }
}

/// Local time in the DOS format of zip headers, clamped to its range
/// (1980–2107): the extended timestamp carries the exact UTC time.
fn dos_time(m: Mtime) -> (u16, u16) {
    use chrono::{Datelike, Timelike};
    match Local.timestamp_opt(m.secs, 0).single() {
        Some(t) if (1980..=2107).contains(&t.year()) => (
            ((t.hour() << 11) | (t.minute() << 5) | (t.second() / 2)) as u16,
            (((t.year() as u32 - 1980) << 9) | (t.month() << 5) | t.day()) as u16,
        ),
        _ => (0, (1 << 5) | 1),
    }
}

/// A batch of chunks and what compressing each gave, in order (`None` for
/// a folder).
struct CompressedBatch<'a> {
    chunks: Vec<Chunk<'a>>,
    /// The batch's uncompressed bytes.
    size: u64,
    packed: Vec<Result<Option<Packed>, ArchiveError>>,
}

/// Compresses a batch: on the pool, or right here for a small one (a small
/// dossier: waking the pool for it costs more than it saves, and the other
/// dossier loops keep the other cores busy).
fn compress_batch<'a>(job: &Job<'_>, chunks: Vec<Chunk<'a>>, size: u64) -> CompressedBatch<'a> {
    let one = |t: &Chunk<'_>| match t.entry.kind {
        EntryKind::File => compress_chunk(job, t).map(Some),
        EntryKind::EmptyDir | EntryKind::Link { .. } => Ok(None),
    };
    let packed = if job.inline_small && size <= INLINE {
        chunks.iter().map(one).collect()
    } else {
        job.pool.install(|| chunks.par_iter().map(one).collect())
    };
    CompressedBatch {
        chunks,
        size,
        packed,
    }
}

/// The archive being assembled, in entry order.
struct Assembler<'p, W: std::io::Write + std::io::Seek> {
    zip: ZipOut<W>,
    partial: &'p Path,
    c: Compression,
    /// CRC of the entry being written, combined chunk by chunk.
    crc: crc32fast::Hasher,
    entries: Vec<ManifestEntry>,
    bytes_in: u64,
}

impl<W: std::io::Write + std::io::Seek> Assembler<'_, W> {
    fn write_batch(
        &mut self,
        job: &Job<'_>,
        batch: CompressedBatch<'_>,
    ) -> Result<(), ArchiveError> {
        let werr = |e| write_error(self.partial, e);
        let c = self.c;
        for (t, d) in batch.chunks.iter().zip(batch.packed) {
            let e = t.entry;
            let Some(d) = d? else {
                self.zip
                    .add(
                        entry_meta(c, e.name_bytes(), e.mtime, 0, e.mode),
                        Sums::default(),
                        &[],
                    )
                    .map_err(werr)?;
                self.entries.push(manifest_entry(e, None));
                continue;
            };
            if t.first {
                self.crc = crc32fast::Hasher::new();
            }
            self.crc.combine(&d.crc);
            let meta = || entry_meta(c, e.name_bytes(), e.mtime, e.size, e.mode);
            if t.first && t.last {
                let sums = Sums {
                    crc: d.crc.clone().finalize(),
                    csize: d.data.len() as u64,
                    usize: e.size,
                };
                self.zip.add(meta(), sums, &[&d.data]).map_err(werr)?;
            } else {
                if t.first {
                    self.zip.begin(meta()).map_err(werr)?;
                }
                self.zip.write(&d.data).map_err(werr)?;
                if t.last {
                    self.zip
                        .end(self.crc.clone().finalize(), e.size)
                        .map_err(werr)?;
                    // Chunks were read in parallel: check the file once more
                    // now that every one of them is in.
                    let m = fs::symlink_metadata(e.path_in(&job.scan.dir));
                    if !m.is_ok_and(|m| e.same_file(&m)) {
                        return Err(ArchiveError::ChangedDuringRead { rel: e.rel.clone() });
                    }
                }
            }
            if t.last {
                if e.racy {
                    read_again(job, e, self.crc.clone().finalize())?;
                }
                self.bytes_in += e.size;
                let crc = format!("{:08x}", self.crc.clone().finalize());
                self.entries.push(manifest_entry(e, Some(crc)));
            }
        }
        Ok(())
    }
}

fn write_partial(job: &Job<'_>, partial: &Path) -> Result<(File, Written), ArchiveError> {
    // Owner-only (`owner_only`), whatever the umask: the archive holds the
    // dossier's data. A `.partial` left by a killed run is replaced, never
    // reused with its own permissions.
    let file = crate::sys::owner_only::replace(partial).map_err(|e| write_error(partial, e))?;
    let werr = |e| write_error(partial, e);
    let c = job.compression;
    let mut asm = Assembler {
        zip: ZipOut::new(BufWriter::with_capacity(1 << 20, file)),
        partial,
        c,
        crc: crc32fast::Hasher::new(),
        entries: Vec::with_capacity(job.scan.entries.len()),
        bytes_in: 0,
    };
    write_entries(job, &mut asm)?;
    let Assembler {
        mut zip,
        entries,
        bytes_in,
        ..
    } = asm;

    let files = entries
        .iter()
        .filter(|e| e.kind == ManifestKind::File)
        .count();
    let json =
        serde_json::to_vec_pretty(&manifest_of(job, entries)).expect("the manifest serializes");
    let now = Mtime::from_system(job.backup_time.into());
    let data = compress(c, &json, true).map_err(werr)?;
    let sums = Sums {
        crc: crc32fast::hash(&json),
        csize: data.len() as u64,
        usize: json.len() as u64,
    };
    zip.add(
        entry_meta(c, MANIFEST.as_bytes(), now, json.len() as u64, 0o644),
        sums,
        &[&data],
    )
    .map_err(werr)?;

    let out = zip.finish().map_err(werr)?;
    let file = out.into_inner().map_err(|e| werr(e.into_error()))?;
    let bytes_out = file.metadata().map_err(werr)?.len();
    Ok((
        file,
        Written {
            bytes_in,
            bytes_out,
            files,
        },
    ))
}

/// Writes every entry of the scan into `asm`, in order. Batches:
/// consecutive chunks up to [`BATCH`] bytes, compressed in parallel (idle
/// workers of the pool steal them), then written in order. While a batch is
/// written, the next one is compressed: at most two batches of this
/// dossier are in flight.
fn write_entries<W: std::io::Write + std::io::Seek>(
    job: &Job<'_>,
    asm: &mut Assembler<'_, W>,
) -> Result<(), ArchiveError> {
    let mut pending = chunks(&job.scan.entries).peekable();
    let mut next_batch = || {
        let mut batch = Vec::new();
        let mut size = 0;
        while let Some(t) = pending.next_if(|t| batch.is_empty() || size + t.len <= BATCH) {
            size += t.len;
            batch.push(t);
        }
        (!batch.is_empty()).then_some((batch, size))
    };
    let mut current = next_batch().map(|(b, size)| compress_batch(job, b, size));
    while let Some(ready) = current.take() {
        (job.on_bytes)(ready.size);
        match next_batch() {
            Some((batch, size)) if !(job.inline_small && size <= INLINE) => {
                let mut next = None;
                let mut written = Ok(());
                job.pool.in_place_scope(|s| {
                    s.spawn(|_| next = Some(compress_batch(job, batch, size)));
                    written = asm.write_batch(job, ready);
                });
                written?;
                current = next;
            }
            Some((batch, size)) => {
                asm.write_batch(job, ready)?;
                current = Some(compress_batch(job, batch, size));
            }
            None => asm.write_batch(job, ready)?,
        }
    }
    Ok(())
}

/// The archive's manifest: the job's dossier and backup, the `entries`
/// written, what the scan left out, and the links it recorded. Format 1
/// unless a name that is not UTF-8 or a link needs [`FORMAT_VERSION`].
fn manifest_of(job: &Job<'_>, entries: Vec<ManifestEntry>) -> Manifest {
    let scan = job.scan;
    let needs_format2 = scan
        .entries
        .iter()
        .any(|e| e.raw.is_some() || matches!(e.kind, EntryKind::Link { .. }));
    Manifest {
        format: if needs_format2 { FORMAT_VERSION } else { 1 },
        generator: format!("svgauto {}", env!("CARGO_PKG_VERSION")),
        dossier: job.identity.clone(),
        backup_time: job.backup_time.to_rfc3339(),
        fingerprint: scan.fingerprint.recorded(),
        method: crate::config::method_name(job.compression.method).to_owned(),
        documents_included: job.documents_included,
        entries,
        skipped: scan
            .skipped
            .iter()
            .map(|s| ManifestSkipped {
                path: s.rel.clone(),
                why: s.why.to_owned(),
            })
            .collect(),
        links: scan
            .entries
            .iter()
            .filter_map(|e| match &e.kind {
                EntryKind::Link { target } => Some(ManifestLink {
                    path: e.rel.clone(),
                    path_hex: e.raw.as_deref().map(hex::encode),
                    target: crate::scan::names::escaped_name(
                        &crate::scan::names::os_path(target).into_os_string(),
                    ),
                    target_hex: std::str::from_utf8(target)
                        .is_err()
                        .then(|| hex::encode(target)),
                }),
                _ => None,
            })
            .collect(),
    }
}

fn manifest_entry(e: &Entry, crc32: Option<String>) -> ManifestEntry {
    ManifestEntry {
        path: e.rel.clone(),
        path_hex: e.raw.as_deref().map(hex::encode),
        kind: match e.kind {
            EntryKind::File => ManifestKind::File,
            _ => ManifestKind::Dir,
        },
        size: e.size,
        mtime: rfc3339(e.mtime),
        mtime_s: e.mtime.secs,
        mtime_ns: e.mtime.nanos,
        crc32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scan_dossier;
    use std::io::{Cursor, Read};

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
        write_scan(&scan_dossier("D", d, false), out, method)
    }

    /// Writes `scan`'s archive at `out`, as a run with `--verify` would.
    fn write_scan(scan: &DossierScan, out: &Path, method: Method) -> Result<Written, ArchiveError> {
        let identity = scan.identity.clone().unwrap();
        let io = IoBudget::new(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        write(&Job {
            scan,
            identity: &identity,
            target: out,
            pool: &pool,
            inline_small: true,
            compression: Compression {
                method,
                level: if method == Method::Deflate { 6 } else { 3 },
            },
            backup_time: Local::now(),
            io: &io,
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

    /// A file of several chunks spanning two batches (the second compressed
    /// while the first is written), for every method: the archive reads back
    /// byte for byte and passes `verify`.
    #[test]
    fn a_file_over_several_batches_round_trips() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("dossier.toml"), "code = \"D\"\n").unwrap();
        let big: Vec<u8> = (0..BATCH + CHUNK + 12_345)
            .map(|i| (i % 251) as u8 ^ ((i / 4096) % 7) as u8)
            .collect();
        fs::write(d.path().join("gros.dat"), &big).unwrap();
        fs::write(d.path().join("zz-petit.txt"), b"apres le gros").unwrap();
        let out = tempfile::tempdir().unwrap();
        for method in [Method::Zstd, Method::Deflate, Method::Store] {
            let target = out.path().join("BD.SVG");
            let w = run(d.path(), &target, method).unwrap();
            assert_eq!(w.bytes_in, big.len() as u64 + 13 + 11);
            let mut z = zip::ZipArchive::new(Cursor::new(fs::read(&target).unwrap())).unwrap();
            let mut data = Vec::new();
            z.by_name("gros.dat")
                .unwrap()
                .read_to_end(&mut data)
                .unwrap();
            assert!(data == big, "{method:?}: gros.dat differs");
            crate::archive::read::check(&target, None).unwrap();
        }
    }

    /// Stages the archive of `d` at `target` (no read back).
    fn stage_at(d: &Path, target: &Path) -> Staged {
        let scan = scan_dossier("D", d, false);
        let identity = scan.identity.clone().unwrap();
        let io = IoBudget::new(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        stage(&Job {
            scan: &scan,
            identity: &identity,
            target,
            pool: &pool,
            inline_small: true,
            compression: Compression {
                method: Method::Zstd,
                level: 3,
            },
            backup_time: Local::now(),
            io: &io,
            on_bytes: &|_| {},
            documents_included: false,
            verify: false,
        })
        .unwrap()
    }

    /// A group commit puts every archive in place, except one whose rename
    /// fails (its target is a folder): that one is an error, its
    /// `.partial` removed, and the others are unaffected.
    #[test]
    fn a_group_commit_puts_each_archive_in_place_or_says_why_not() {
        let d = make_dossier();
        let out = tempfile::tempdir().unwrap();
        let targets: Vec<PathBuf> = ["BA.SVG", "BB.SVG", "BC.SVG"]
            .iter()
            .map(|n| out.path().join(n))
            .collect();
        fs::write(&targets[0], b"previous A").unwrap();
        fs::create_dir(&targets[1]).unwrap();
        fs::write(targets[1].join("x"), b"a folder where BB.SVG goes").unwrap();
        let staged: Vec<Staged> = targets.iter().map(|t| stage_at(d.path(), t)).collect();
        assert!(targets.iter().all(|t| partial_path(t).is_file()));
        assert_eq!(
            fs::read(&targets[0]).unwrap(),
            b"previous A",
            "untouched until the commit"
        );
        let results = commit(staged);
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(
            matches!(&results[1], Err(ArchiveError::Write { path, .. }) if *path == partial_path(&targets[1])),
            "{:?}",
            results[1]
        );
        for t in [&targets[0], &targets[2]] {
            crate::archive::read::check(t, None).unwrap();
        }
        assert!(targets[1].join("x").is_file());
        assert!(targets.iter().all(|t| !partial_path(t).exists()));
    }

    /// A staged archive never committed leaves nothing behind and the
    /// previous archive as it was.
    #[test]
    fn a_staged_archive_dropped_leaves_the_previous_one() {
        let d = make_dossier();
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("BD.SVG");
        fs::write(&target, b"previous good archive").unwrap();
        let staged = stage_at(d.path(), &target);
        assert!(partial_path(&target).is_file());
        drop(staged);
        assert!(!partial_path(&target).exists());
        assert_eq!(fs::read(&target).unwrap(), b"previous good archive");
    }

    #[test]
    fn a_file_changed_since_the_scan_discards_the_archive() {
        let d = make_dossier();
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("BD.SVG");
        fs::write(&target, b"previous good archive").unwrap();
        let scan = scan_dossier("D", d.path(), false);
        fs::write(d.path().join("vide.dat"), b"now not empty").unwrap();
        let err = write_scan(&scan, &target, Method::Zstd).unwrap_err();
        assert!(
            matches!(err, ArchiveError::ChangedDuringRead { ref rel } if rel == "vide.dat"),
            "{err}"
        );
        assert_eq!(fs::read(&target).unwrap(), b"previous good archive");
        assert!(!partial_path(&target).exists());
    }
}
