//! The codec: how one chunk of a file is compressed, on any worker of the
//! pool, independently of the others — a zstd frame, or deflate blocks
//! ended by a full flush — so that the chunks of an entry, concatenated in
//! order, are the entry's compressed stream (zstd decoders read
//! concatenated frames; a full flush ends deflate on a byte boundary with
//! no dictionary carried over). Each worker keeps its own zstd context.

use std::io;

use crate::config::Method;

/// How to compress: the `[archive]` settings.
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    /// zstd, deflate or store (no compression).
    pub method: Method,
    /// The method's level, in the range the settings checked for it
    /// (ignored by store).
    pub level: i64,
}

impl Compression {
    /// The `[archive]` settings.
    pub fn of(settings: &crate::config::Archive) -> Compression {
        Compression {
            method: settings.method,
            level: settings.level,
        }
    }
}

/// Compresses one chunk on its own: a zstd frame, or deflate blocks ending
/// with a full flush (`last`: the final block). Concatenated in order, the
/// chunks of an entry are its compressed stream.
pub fn compress(c: Compression, raw: &[u8], last: bool) -> io::Result<Vec<u8>> {
    match c.method {
        Method::Store => Ok(raw.to_vec()),
        Method::Zstd => {
            // One compression context per worker, reused: creating one per
            // chunk dominates the cost of the many small files of a dossier.
            thread_local! {
                static ZSTD: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
                    const { std::cell::RefCell::new(None) };
            }
            let level = c.level as i32;
            ZSTD.with_borrow_mut(|slot| {
                if slot.as_ref().is_none_or(|(l, _)| *l != level) {
                    *slot = Some((level, zstd::bulk::Compressor::new(level)?));
                }
                let (_, z) = slot.as_mut().expect("just set");
                z.compress(raw)
            })
        }
        Method::Deflate => {
            use flate2::{Compress, FlushCompress, Status};
            let mut z = Compress::new(flate2::Compression::new(c.level as u32), false);
            let mut out = Vec::with_capacity(raw.len() + raw.len() / 8 + 64);
            let flush = if last {
                FlushCompress::Finish
            } else {
                FlushCompress::Full
            };
            loop {
                let consumed = z.total_in() as usize;
                let status = z
                    .compress_vec(&raw[consumed..], &mut out, flush)
                    .map_err(io::Error::other)?;
                let done = match status {
                    Status::StreamEnd => true,
                    // A full flush is complete when all input is in and the
                    // output buffer was not filled up.
                    _ => !last && z.total_in() as usize == raw.len() && out.len() < out.capacity(),
                };
                if done {
                    return Ok(out);
                }
                out.reserve(out.capacity().max(64 * 1024));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Chunks compressed on their own, concatenated in order, are one
    /// stream that the zip readers' decoders read whole.
    #[test]
    fn concatenated_chunks_decode_as_one_stream() {
        let raw: Vec<u8> = (0..300_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 7000) as u8)
            .collect();
        let parts: Vec<&[u8]> = raw.chunks(128 * 1024).collect();
        for (method, level) in [(Method::Zstd, 3), (Method::Deflate, 6), (Method::Store, 0)] {
            let c = Compression { method, level };
            let mut stream = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                stream.extend(compress(c, part, i + 1 == parts.len()).unwrap());
            }
            let mut back = Vec::new();
            match method {
                Method::Zstd => back = zstd::decode_all(&stream[..]).unwrap(),
                Method::Deflate => {
                    flate2::read::DeflateDecoder::new(&stream[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Method::Store => back = stream,
            }
            assert!(back == raw, "{method:?}");
        }
    }
}
