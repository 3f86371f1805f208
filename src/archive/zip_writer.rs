//! A minimal zip *writer* for entries whose compressed bytes were produced
//! elsewhere: in independent chunks, on several workers, with a CRC-32
//! combined from the chunks' CRCs.
//!
//! Why not the zip crate's writer: zip 9.x compresses an entry itself, in one
//! stream — `ZipWriter::start_file`, or `ZipFileBuilder` → `PreparedZipFile`
//! for a whole entry compressed in memory on one worker. Neither accepts an
//! entry made of chunks compressed on several workers (concatenated zstd
//! frames, or deflate blocks ended by a full flush) with a CRC computed
//! outside, which is what keeps every core busy on a dossier holding one
//! huge file and keeps memory flat. The zip crate still reads every archive
//! (restore, verify, the tests), so this writer is checked by an independent
//! reader, and by 7-Zip and Info-ZIP in the tests.
//!
//! What was considered instead (checked against zip 9.8.2, the version in
//! `Cargo.lock`): `ZipWriter::par_append_data` / `par_append_from_paths`
//! (feature `rayon`) compress one whole entry per task — parallel across
//! files, not within one file; `PreparedZipFile` can only be made by
//! `ZipFileBuilder`, which keeps a whole compressed entry in memory, and
//! the raw-entry API (`ZipRawValues`, `start_entry`) is `pub(crate)`;
//! `raw_copy_file*` copies only from another archive. rawzip 0.4 accepts
//! bytes compressed elsewhere, but makes its data descriptor only from the
//! bytes it streams itself, so the CRC would be computed a second time on
//! the assembling thread, and every entry would need a data descriptor;
//! async_zip is async-only and compresses entries itself. Our own writer
//! is about 250 lines more than rawzip would need. Were zip to offer a
//! public raw-entry constructor (a CRC, sizes and compressed parts given),
//! this module could go.
//!
//! What it writes (APPNOTE 6.3.10): local header, data, central directory,
//! end of central directory; UTF-8 names (flag bit 11); DOS local time plus
//! the UTC extended timestamp (0x5455); Unix permissions; ZIP64 (0x0001)
//! wherever a size, an offset or the entry count needs it. Sizes and CRC are
//! written in the local header: directly when the entry is complete before
//! it is written, else patched in place once its last chunk is written (the
//! archive is a seekable file) — no data descriptors.

use std::io::{self, Seek, SeekFrom, Write};

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD64_SIG: u32 = 0x0606_4b50;
const LOCATOR64_SIG: u32 = 0x0706_4b50;
const FLAG_UTF8: u16 = 1 << 11;
/// "Made by" Unix (3), spec 6.3: external attributes hold a Unix mode.
const MADE_BY: u16 = (3 << 8) | 63;
const U32_MAX: u64 = 0xFFFF_FFFF;

/// Compression method of the zip format: stored, no compression.
pub const STORED: u16 = 0;
/// Compression method of the zip format: deflate.
pub const DEFLATED: u16 = 8;
/// Compression method of the zip format: zstd (APPNOTE 6.3.7 and later).
pub const ZSTD: u16 = 93;

/// An entry's identity: everything but its content.
#[derive(Debug, Clone)]
pub struct EntryMeta {
    /// Relative, `/`-separated; a directory ends with `/`. UTF-8, flagged
    /// so (bit 11); otherwise the file system's own bytes, unflagged (a
    /// name that is not UTF-8 on a Unix dossier: readers show it in their
    /// legacy code page, svgauto restores the bytes).
    pub name: Vec<u8>,
    /// [`STORED`], [`DEFLATED`] or [`ZSTD`].
    pub method: u16,
    /// Modification time in the DOS format (local time, 2-second steps).
    pub dos_time: u16,
    /// Modification date in the DOS format (local, 1980–2107).
    pub dos_date: u16,
    /// Modification time for the extended timestamp, when it fits in it.
    pub unix_mtime: Option<u32>,
    /// Unix permission bits (0o644…); file type bits are added here.
    pub mode: u32,
    /// Whether the local header carries ZIP64 sizes: decided before the
    /// data is written, from the uncompressed size (compressed data may
    /// exceed it a little, hence a margin).
    pub zip64: bool,
}

/// Above this uncompressed size an entry is written with ZIP64 sizes.
pub const ZIP64_FROM: u64 = 0xF000_0000;

impl EntryMeta {
    /// The general-purpose flags: bit 11 for a UTF-8 name.
    fn flags(&self) -> u16 {
        if std::str::from_utf8(&self.name).is_ok() {
            FLAG_UTF8
        } else {
            0
        }
    }

    fn is_dir(&self) -> bool {
        self.name.ends_with(b"/")
    }

    fn version_needed(&self) -> u16 {
        match self.method {
            ZSTD => 63,
            _ if self.zip64 => 45,
            _ => 20,
        }
    }

    fn external_attributes(&self) -> u32 {
        let (kind, dos) = if self.is_dir() {
            (0o040000, 0x10)
        } else {
            (0o100000, 0)
        };
        ((kind | (self.mode & 0o7777)) << 16) | dos
    }

    fn ut_extra(&self, out: &mut Vec<u8>) {
        if let Some(t) = self.unix_mtime {
            out.extend_from_slice(&0x5455u16.to_le_bytes());
            out.extend_from_slice(&5u16.to_le_bytes());
            out.push(1); // modification time present
            out.extend_from_slice(&t.to_le_bytes());
        }
    }
}

struct Central {
    meta: EntryMeta,
    crc: u32,
    csize: u64,
    usize: u64,
    offset: u64,
}

/// Sizes and CRC of a finished entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    /// CRC-32 of the uncompressed data.
    pub crc: u32,
    /// Compressed size in bytes.
    pub csize: u64,
    /// Uncompressed size in bytes.
    pub usize: u64,
}

/// The writer. Entries are written one after the other.
pub struct ZipOut<W: Write + Seek> {
    w: W,
    pos: u64,
    central: Vec<Central>,
    /// The entry being streamed: its meta, its header's offset, bytes so far.
    open: Option<(EntryMeta, u64, u64)>,
}

impl<W: Write + Seek> ZipOut<W> {
    /// A writer of a new zip at the start of `w`.
    pub fn new(w: W) -> ZipOut<W> {
        ZipOut {
            w,
            pos: 0,
            central: Vec::new(),
            open: None,
        }
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn local_header(meta: &EntryMeta, sums: Sums) -> Vec<u8> {
        let mut extra = Vec::new();
        if meta.zip64 {
            extra.extend_from_slice(&1u16.to_le_bytes());
            extra.extend_from_slice(&16u16.to_le_bytes());
            extra.extend_from_slice(&sums.usize.to_le_bytes());
            extra.extend_from_slice(&sums.csize.to_le_bytes());
        }
        meta.ut_extra(&mut extra);
        let (c32, u32_) = if meta.zip64 {
            (U32_MAX as u32, U32_MAX as u32)
        } else {
            (sums.csize as u32, sums.usize as u32)
        };
        let mut h = Vec::with_capacity(30 + meta.name.len() + extra.len());
        h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        h.extend_from_slice(&meta.version_needed().to_le_bytes());
        h.extend_from_slice(&meta.flags().to_le_bytes());
        h.extend_from_slice(&meta.method.to_le_bytes());
        h.extend_from_slice(&meta.dos_time.to_le_bytes());
        h.extend_from_slice(&meta.dos_date.to_le_bytes());
        h.extend_from_slice(&sums.crc.to_le_bytes());
        h.extend_from_slice(&c32.to_le_bytes());
        h.extend_from_slice(&u32_.to_le_bytes());
        h.extend_from_slice(&(meta.name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        h.extend_from_slice(&meta.name);
        h.extend_from_slice(&extra);
        h
    }

    fn check(meta: &EntryMeta, sums: Sums) -> io::Result<()> {
        if meta.name.len() > u16::MAX as usize {
            return Err(io::Error::other(format!(
                "nom d'entrée trop long : {}",
                String::from_utf8_lossy(&meta.name)
            )));
        }
        if !meta.zip64 && (sums.csize >= U32_MAX || sums.usize >= U32_MAX) {
            return Err(io::Error::other(format!(
                "entrée {} : taille imprévue au-delà de 4 Gio sans ZIP64",
                String::from_utf8_lossy(&meta.name)
            )));
        }
        Ok(())
    }

    /// Writes a whole entry whose compressed data is known: `data` parts are
    /// written in order.
    pub fn add(&mut self, meta: EntryMeta, sums: Sums, data: &[&[u8]]) -> io::Result<()> {
        debug_assert!(self.open.is_none());
        Self::check(&meta, sums)?;
        let offset = self.pos;
        self.put(&Self::local_header(&meta, sums))?;
        for d in data {
            self.put(d)?;
        }
        self.central.push(Central {
            meta,
            crc: sums.crc,
            csize: sums.csize,
            usize: sums.usize,
            offset,
        });
        Ok(())
    }

    /// Starts an entry whose data comes in several writes; its sizes and CRC
    /// are patched into the header by [`ZipOut::end`].
    pub fn begin(&mut self, meta: EntryMeta) -> io::Result<()> {
        debug_assert!(self.open.is_none());
        let offset = self.pos;
        self.put(&Self::local_header(&meta, Sums::default()))?;
        self.open = Some((meta, offset, 0));
        Ok(())
    }

    /// Writes the next compressed bytes of the entry started by
    /// [`ZipOut::begin`].
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.put(data)?;
        if let Some((_, _, n)) = self.open.as_mut() {
            *n += data.len() as u64;
        }
        Ok(())
    }

    /// Ends the entry started by [`ZipOut::begin`]: `crc` and `usize` of
    /// its uncompressed data, the compressed size counted here, patched
    /// into its local header.
    pub fn end(&mut self, crc: u32, usize: u64) -> io::Result<()> {
        let (meta, offset, csize) = self.open.take().expect("end() follows begin()");
        let sums = Sums { crc, csize, usize };
        Self::check(&meta, sums)?;
        let header = Self::local_header(&meta, sums);
        self.w.seek(SeekFrom::Start(offset))?;
        self.w.write_all(&header)?;
        self.w.seek(SeekFrom::Start(self.pos))?;
        self.central.push(Central {
            meta,
            crc,
            csize,
            usize,
            offset,
        });
        Ok(())
    }

    /// Writes the central directory and the end records; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        debug_assert!(self.open.is_none());
        let cd_start = self.pos;
        let central = std::mem::take(&mut self.central);
        for c in &central {
            self.put(&central_header(c))?;
        }
        let cd_size = self.pos - cd_start;
        let end = end_records(central.len() as u64, cd_start, cd_size, self.pos);
        self.put(&end)?;
        Ok(self.w)
    }
}

/// The central directory header of an entry; ZIP64 fields for the sizes
/// and the offset that need them.
fn central_header(c: &Central) -> Vec<u8> {
    let mut z64 = Vec::new();
    let mut field = |v: u64| {
        if v >= U32_MAX {
            z64.extend_from_slice(&v.to_le_bytes());
            U32_MAX as u32
        } else {
            v as u32
        }
    };
    // In this order (APPNOTE 4.5.3): uncompressed, compressed, offset.
    let usize32 = field(c.usize);
    let csize32 = field(c.csize);
    let offset32 = field(c.offset);
    let mut extra = Vec::new();
    if !z64.is_empty() {
        extra.extend_from_slice(&1u16.to_le_bytes());
        extra.extend_from_slice(&(z64.len() as u16).to_le_bytes());
        extra.extend_from_slice(&z64);
    }
    c.meta.ut_extra(&mut extra);
    let mut h = Vec::with_capacity(46 + c.meta.name.len() + extra.len());
    h.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
    h.extend_from_slice(&MADE_BY.to_le_bytes());
    h.extend_from_slice(
        &c.meta
            .version_needed()
            .max(if z64.is_empty() { 0 } else { 45 })
            .to_le_bytes(),
    );
    h.extend_from_slice(&c.meta.flags().to_le_bytes());
    h.extend_from_slice(&c.meta.method.to_le_bytes());
    h.extend_from_slice(&c.meta.dos_time.to_le_bytes());
    h.extend_from_slice(&c.meta.dos_date.to_le_bytes());
    h.extend_from_slice(&c.crc.to_le_bytes());
    h.extend_from_slice(&csize32.to_le_bytes());
    h.extend_from_slice(&usize32.to_le_bytes());
    h.extend_from_slice(&(c.meta.name.len() as u16).to_le_bytes());
    h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes()); // comment
    h.extend_from_slice(&0u16.to_le_bytes()); // disk
    h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    h.extend_from_slice(&c.meta.external_attributes().to_le_bytes());
    h.extend_from_slice(&offset32.to_le_bytes());
    h.extend_from_slice(&c.meta.name);
    h.extend_from_slice(&extra);
    h
}

/// The end records after a central directory of `n` entries, `cd_size`
/// bytes at `cd_start`, the records starting at `at`: the ZIP64 end record
/// and its locator when a count, size or offset needs them, then the end of
/// central directory record (its fields saturated when ZIP64 holds them).
fn end_records(n: u64, cd_start: u64, cd_size: u64, at: u64) -> Vec<u8> {
    let needs64 = n >= 0xFFFF || cd_start >= U32_MAX || cd_size >= U32_MAX;
    let mut r = Vec::with_capacity(56 + 20 + 22);
    if needs64 {
        let eocd64 = at;
        r.extend_from_slice(&EOCD64_SIG.to_le_bytes());
        r.extend_from_slice(&44u64.to_le_bytes());
        r.extend_from_slice(&MADE_BY.to_le_bytes());
        r.extend_from_slice(&45u16.to_le_bytes());
        r.extend_from_slice(&0u32.to_le_bytes());
        r.extend_from_slice(&0u32.to_le_bytes());
        r.extend_from_slice(&n.to_le_bytes());
        r.extend_from_slice(&n.to_le_bytes());
        r.extend_from_slice(&cd_size.to_le_bytes());
        r.extend_from_slice(&cd_start.to_le_bytes());
        r.extend_from_slice(&LOCATOR64_SIG.to_le_bytes());
        r.extend_from_slice(&0u32.to_le_bytes());
        r.extend_from_slice(&eocd64.to_le_bytes());
        r.extend_from_slice(&1u32.to_le_bytes());
    }
    let clamp16 = |v: u64| if needs64 { 0xFFFF } else { v as u16 };
    let clamp32 = |v: u64| {
        if needs64 || v >= U32_MAX {
            U32_MAX as u32
        } else {
            v as u32
        }
    };
    r.extend_from_slice(&EOCD_SIG.to_le_bytes());
    r.extend_from_slice(&0u16.to_le_bytes());
    r.extend_from_slice(&0u16.to_le_bytes());
    r.extend_from_slice(&clamp16(n).to_le_bytes());
    r.extend_from_slice(&clamp16(n).to_le_bytes());
    r.extend_from_slice(&clamp32(cd_size).to_le_bytes());
    r.extend_from_slice(&clamp32(cd_start).to_le_bytes());
    r.extend_from_slice(&0u16.to_le_bytes());
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    fn meta(name: &str, method: u16, zip64: bool) -> EntryMeta {
        EntryMeta {
            name: name.as_bytes().to_vec(),
            method,
            dos_time: 0,
            dos_date: (46 << 9) | (11 << 5) | 28,
            unix_mtime: Some(1_795_000_000),
            mode: 0o640,
            zip64,
        }
    }

    #[test]
    fn the_zip_crate_reads_what_we_write() {
        let data = b"bonjour la compta".repeat(1000);
        let crc = crc32fast::hash(&data);
        let deflated = {
            let mut c = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(3));
            std::io::Write::write_all(&mut c, &data).unwrap();
            c.finish().unwrap()
        };
        // zstd in two independent frames, as the chunked path writes them.
        let half = data.len() / 2;
        let z1 = zstd::bulk::compress(&data[..half], 3).unwrap();
        let z2 = zstd::bulk::compress(&data[half..], 3).unwrap();
        let mut z = ZipOut::new(Cursor::new(Vec::new()));
        let n = data.len() as u64;
        z.add(
            meta("a/stored.txt", STORED, false),
            Sums {
                crc,
                csize: n,
                usize: n,
            },
            &[&data],
        )
        .unwrap();
        z.add(
            meta("deflate.txt", DEFLATED, true),
            Sums {
                crc,
                csize: deflated.len() as u64,
                usize: n,
            },
            &[&deflated],
        )
        .unwrap();
        z.begin(meta("zstd/é.txt", ZSTD, false)).unwrap();
        z.write(&z1).unwrap();
        z.write(&z2).unwrap();
        z.end(crc, n).unwrap();
        z.add(
            meta("vide/", STORED, false),
            Sums {
                crc: 0,
                csize: 0,
                usize: 0,
            },
            &[],
        )
        .unwrap();
        let bytes = z.finish().unwrap().into_inner();

        let mut a = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(a.len(), 4);
        for name in ["a/stored.txt", "deflate.txt", "zstd/é.txt"] {
            let mut f = a.by_name(name).unwrap();
            assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(0o640));
            let mut got = Vec::new();
            f.read_to_end(&mut got).unwrap();
            assert_eq!(got, data, "{name}");
        }
        let d = a.by_name("vide/").unwrap();
        assert!(d.is_dir());
        assert_eq!(
            d.last_modified().map(|t| (t.year(), t.month(), t.day())),
            Some((2026, 11, 28))
        );
    }
}
