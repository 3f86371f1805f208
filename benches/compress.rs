//! The per-chunk compression path: one 4 MiB chunk of accounting-table-like
//! data through each method (run: `cargo bench --bench compress`).

use svgauto::archive::{CHUNK, Compression, compress};
use svgauto::config::Method;

fn main() {
    divan::main();
}

/// Fixed-size records with counters, dates, amounts and padding: compresses
/// about 4x with zstd -3, like the tables of a dossier.
fn table_chunk() -> Vec<u8> {
    let mut out = Vec::with_capacity(CHUNK as usize);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut i = 0u64;
    while out.len() < CHUNK as usize {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut rec = [b' '; 128];
        rec[..8].copy_from_slice(&i.to_le_bytes());
        rec[8..16].copy_from_slice(format!("2026{:04}", i % 1231).as_bytes());
        rec[16..24].copy_from_slice(&(x % 10_000_000).to_le_bytes());
        rec[24..32].copy_from_slice(format!("411{:05}", x % 300).as_bytes());
        rec[32..40].copy_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&rec);
        i += 1;
    }
    out.truncate(CHUNK as usize);
    out
}

#[divan::bench(args = [Method::Zstd, Method::Deflate, Method::Store])]
fn compress_4mib_chunk(bencher: divan::Bencher, method: Method) {
    let chunk = table_chunk();
    let level = if method == Method::Deflate { 1 } else { 3 };
    bencher
        .counter(divan::counter::BytesCount::new(chunk.len()))
        .bench(|| compress(Compression { method, level }, &chunk, true).unwrap());
}
