//! An entry's data, read from the archive by positioned reads and decoded
//! here rather than by the zip crate, so that several workers read entries
//! of one archive at once (none moves a shared file offset) and each keeps
//! its zstd context from one entry to the next: creating a context per
//! entry (what `ZipArchive::by_index` does) was a fifth of the time of
//! checking an archive of 70,000 small files, and the zeroing of its fresh
//! buffers another seventh.
//!
//! Nothing here checks what it decodes: the caller counts the bytes and
//! computes the CRC-32 itself (`extract`).

use std::fs::File;
use std::io::{self, BufRead, Read};

use zip::CompressionMethod;

/// Where an entry's data lies in the archive, and how it is compressed:
/// from the central directory and the local header, both checked before
/// (`container`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    /// Offset of the first byte of data in the archive file.
    pub start: u64,
    /// Length of the compressed data, in bytes.
    pub len: u64,
    /// Stored, deflate or zstd: the methods `container::readable` lets
    /// through (`zip::SUPPORTED_COMPRESSION_METHODS` with our features).
    pub method: CompressionMethod,
}

/// What a worker keeps from one entry to the next: its input buffer and
/// its zstd context.
pub(super) struct Decoding {
    input: Vec<u8>,
    zstd: Option<zstd::zstd_safe::DCtx<'static>>,
}

impl Decoding {
    /// Size of the input buffer: one read for the compressed data of most
    /// files of a dossier.
    const INPUT: usize = 128 * 1024;

    /// A worker's state, its zstd context made on first use.
    pub(super) fn new() -> Decoding {
        Decoding {
            input: vec![0; Self::INPUT],
            zstd: None,
        }
    }

    /// A reader of the decoded data of the entry at `span` in `file`. An
    /// error if the method is not one this module decodes, or if no zstd
    /// context could be made.
    pub(super) fn open<'a>(&'a mut self, file: &'a File, span: &Span) -> io::Result<Decoded<'a>> {
        let Decoding { input, zstd } = self;
        let raw = Raw {
            file,
            pos: span.start,
            end: span.start.saturating_add(span.len),
            buf: input,
            at: 0,
            filled: 0,
        };
        match span.method {
            CompressionMethod::Stored => Ok(Decoded::Stored(raw)),
            CompressionMethod::Deflated => Ok(Decoded::Deflated(Box::new(
                flate2::bufread::DeflateDecoder::new(raw),
            ))),
            CompressionMethod::Zstd => {
                if zstd.is_none() {
                    *zstd = Some(zstd::zstd_safe::DCtx::try_create().ok_or_else(|| {
                        io::Error::other("contexte de décompression zstd impossible à créer")
                    })?);
                }
                let ctx = zstd.as_mut().expect("just made");
                Ok(Decoded::Zstd(zstd::stream::read::Decoder::with_context(
                    raw, ctx,
                )))
            }
            other => Err(io::Error::other(format!(
                "méthode de compression {other} non prise en charge"
            ))),
        }
    }
}

/// The decoded data of one entry.
pub(super) enum Decoded<'a> {
    Stored(Raw<'a>),
    Deflated(Box<flate2::bufread::DeflateDecoder<Raw<'a>>>),
    Zstd(zstd::stream::read::Decoder<'a, Raw<'a>>),
}

impl Read for Decoded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Stored(r) => r.read(buf),
            Decoded::Deflated(r) => r.read(buf),
            Decoded::Zstd(r) => r.read(buf),
        }
    }
}

/// The compressed bytes `pos..end` of the archive, read by positioned
/// reads through a worker's buffer. A file shorter than `end` is an
/// `UnexpectedEof` error (the archive changed since it was opened).
pub(super) struct Raw<'a> {
    file: &'a File,
    /// Offset in the file of the next byte not yet in `buf`.
    pos: u64,
    end: u64,
    buf: &'a mut Vec<u8>,
    /// `buf[at..filled]` is read and not yet consumed.
    at: usize,
    filled: usize,
}

impl BufRead for Raw<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at == self.filled && self.pos < self.end {
            let n = (self.end - self.pos).min(self.buf.len() as u64) as usize;
            crate::sys::fs::read_exact_at(self.file, &mut self.buf[..n], self.pos)?;
            self.pos += n as u64;
            (self.at, self.filled) = (0, n);
        }
        Ok(&self.buf[self.at..self.filled])
    }

    fn consume(&mut self, amt: usize) {
        self.at = (self.at + amt).min(self.filled);
    }
}

impl Read for Raw<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // A large read with nothing buffered goes straight into `out`.
        if self.at == self.filled && out.len() >= self.buf.len() {
            let n = (self.end - self.pos).min(out.len() as u64) as usize;
            crate::sys::fs::read_exact_at(self.file, &mut out[..n], self.pos)?;
            self.pos += n as u64;
            return Ok(n);
        }
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(out.len());
            out[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

/// The archive file for the zip reader, read by positioned reads through
/// a buffer that a seek does not empty: the zip reader reads every local
/// header, each after a seek (a `BufReader` empties its buffer at every
/// seek, and read 8 KiB for each header of 30 bytes and a name); here the
/// next headers are usually already in the buffer. A clone reads the same
/// file with its own position and buffer.
#[derive(Debug)]
pub(super) struct At {
    file: std::sync::Arc<File>,
    /// The file's length when opened.
    len: u64,
    pos: u64,
    buf: Vec<u8>,
    /// `buf[..filled]` holds the file's bytes from `start`.
    start: u64,
    filled: usize,
}

impl At {
    const BUFFER: usize = 64 * 1024;

    /// Reads `file`, `len` bytes long, from its start.
    pub(super) fn new(file: std::sync::Arc<File>, len: u64) -> At {
        At {
            file,
            len,
            pos: 0,
            buf: vec![0; Self::BUFFER],
            start: 0,
            filled: 0,
        }
    }
}

impl Clone for At {
    fn clone(&self) -> At {
        At {
            pos: self.pos,
            ..At::new(self.file.clone(), self.len)
        }
    }
}

impl Read for At {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let in_buf = self.pos >= self.start && self.pos < self.start + self.filled as u64;
        if !in_buf {
            let n = self.len.saturating_sub(self.pos).min(Self::BUFFER as u64) as usize;
            if n == 0 || out.len() >= Self::BUFFER {
                // At the end, or a read larger than the buffer: straight
                // into `out`.
                let n = self.len.saturating_sub(self.pos).min(out.len() as u64) as usize;
                crate::sys::fs::read_exact_at(&self.file, &mut out[..n], self.pos)?;
                self.pos += n as u64;
                return Ok(n);
            }
            crate::sys::fs::read_exact_at(&self.file, &mut self.buf[..n], self.pos)?;
            (self.start, self.filled) = (self.pos, n);
        }
        let at = (self.pos - self.start) as usize;
        let n = (self.filled - at).min(out.len());
        out[..n].copy_from_slice(&self.buf[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl io::Seek for At {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let pos = match to {
            io::SeekFrom::Start(p) => Some(p),
            io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "position hors du fichier")
        })?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Each method decodes across reads of any size, and a stored span
    /// gives exactly its bytes, not what follows.
    #[test]
    fn every_method_decodes_its_span_and_nothing_more() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let zstd = zstd::bulk::compress(&data, 3).unwrap();
        let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
        deflate.write_all(&data).unwrap();
        let deflate = deflate.finish().unwrap();
        let mut file = tempfile::tempfile().unwrap();
        let mut spans = Vec::new();
        let mut at = 7u64;
        file.write_all(&[9; 7]).unwrap();
        for (bytes, method) in [
            (&data, CompressionMethod::Stored),
            (&zstd, CompressionMethod::Zstd),
            (&deflate, CompressionMethod::Deflated),
        ] {
            file.write_all(bytes).unwrap();
            spans.push(Span {
                start: at,
                len: bytes.len() as u64,
                method,
            });
            at += bytes.len() as u64;
        }
        file.write_all(&[9; 5]).unwrap();
        let mut d = Decoding::new();
        for step in [1, 1000, 1 << 20] {
            for s in &spans {
                let mut r = d.open(&file, s).unwrap();
                let mut got = Vec::new();
                let mut buf = vec![0; step];
                loop {
                    let n = r.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                assert!(got == data, "{:?}, reads of {step}", s.method);
            }
        }
        let cut = Span {
            len: spans[1].len + 100,
            ..spans[1]
        };
        let mut end = Span {
            start: at,
            len: 100,
            method: CompressionMethod::Stored,
        };
        assert!(
            d.open(&file, &cut)
                .unwrap()
                .read_to_end(&mut Vec::new())
                .is_err()
        );
        assert_eq!(
            d.open(&file, &end)
                .unwrap()
                .read_to_end(&mut Vec::new())
                .unwrap_err()
                .kind(),
            io::ErrorKind::UnexpectedEof
        );
        end.method = CompressionMethod::SHRINK;
        assert!(d.open(&file, &end).is_err());
    }

    /// Reads and seeks anywhere give the file's bytes, in and out of the
    /// buffer; a clone has its own position.
    #[test]
    fn positioned_reads_through_the_buffer_give_the_files_bytes() {
        use std::io::{Seek, SeekFrom};
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        let mut at = At::new(std::sync::Arc::new(file), bytes.len() as u64);
        let mut got = vec![0; 100];
        for pos in [0u64, 50, 65_500, 10, 199_950, 70_000, 65_536] {
            at.seek(SeekFrom::Start(pos)).unwrap();
            let n = at.read(&mut got).unwrap();
            let p = pos as usize;
            // A read may stop short at the buffer's end, never give
            // other bytes.
            assert!(n > 0 && n <= 100, "at {pos}: {n}");
            assert_eq!(&got[..n], &bytes[p..p + n], "at {pos}");
        }
        assert_eq!(at.seek(SeekFrom::End(-10)).unwrap(), 199_990);
        let mut clone = at.clone();
        let mut tail = Vec::new();
        clone.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, &bytes[199_990..]);
        at.seek(SeekFrom::Start(0)).unwrap();
        let mut all = Vec::new();
        at.read_to_end(&mut all).unwrap();
        assert!(all == bytes);
        assert!(at.seek(SeekFrom::Current(-300_000)).is_err());
    }
}
