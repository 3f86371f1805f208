//! Test data: [`Rng`], the seeded random choices of a test (replayable from
//! the seed it prints), deterministic file contents (incompressible or
//! accounting-like text), and ready-made bases ([`big_base`],
//! [`restorable_base`]).

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime};

use super::{Base, set_mtime, walk_files};

/// xorshift64*: the random choices of a test, replayable from its seed;
/// `stream` separates the sequences of one seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng((seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            | 1);
        r.next();
        r
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// In `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next() % (hi - lo)
        }
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.range(0, n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// Compressible or incompressible bytes, half and half.
    pub fn content(&mut self, len: usize) -> Vec<u8> {
        if self.chance(50) {
            random_bytes(self.next(), len)
        } else {
            text_bytes(self.next(), len)
        }
    }

    /// A duration in `0..n` milliseconds.
    pub fn millis(&mut self, n: u64) -> Duration {
        Duration::from_millis(self.range(0, n))
    }

    /// A duration in `0..max`.
    pub fn delay(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.range(0, max.as_micros().max(1) as u64))
    }
}

/// The seed of a randomized test: `SVGAUTO_TEST_SEED`, else one from the
/// clock — printed, so a failure can be replayed.
pub fn test_seed() -> u64 {
    let seed = std::env::var("SVGAUTO_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64
        });
    eprintln!("SVGAUTO_TEST_SEED={seed}");
    seed
}

/// Deterministic incompressible bytes (xorshift64*).
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Deterministic compressible text: accounting-like lines.
pub fn text_bytes(seed: u64, len: usize) -> Vec<u8> {
    let r = random_bytes(seed, len / 8 + 64);
    let mut out = Vec::with_capacity(len + 80);
    let mut i = 0usize;
    while out.len() < len {
        let n = u32::from_le_bytes([
            r[i % r.len()],
            r[(i + 1) % r.len()],
            r[(i + 2) % r.len()],
            0,
        ]);
        let _ = writeln!(
            WriteBytes(&mut out),
            "VT;2025{:02}{:02};VT{i:06};411000;Facture client {};{}.{:02};0.00",
            n % 12 + 1,
            n % 28 + 1,
            n % 9973,
            n % 100_000,
            n % 100
        );
        i += 1;
    }
    out.truncate(len);
    out
}

struct WriteBytes<'a>(&'a mut Vec<u8>);

impl fmt::Write for WriteBytes<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A value that differs at each call, for scratch folder names.
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A base of `n` dossiers `D01…`, each with `random_kb` of incompressible and
/// `text_kb` of compressible data in a few files: big enough for a run to
/// last a little while with `--threads 1`.
pub fn big_base(n: usize, random_kb: usize, text_kb: usize) -> Base {
    let base = Base::new().collaborator("COMPT", "*");
    for i in 0..n {
        let code = format!("D{i:02}");
        let s = i as u64 * 1000;
        base.dossier(&code)
            .file("compta/ecritures.dat", text_bytes(s + 1, text_kb * 1024))
            .file("compta/pieces.bin", random_bytes(s + 2, random_kb * 1024))
            .file("compta/plan.dat", text_bytes(s + 3, 4096))
            .file("parametres.ini", format!("[dossier]\ncode={code}\n"));
    }
    base
}

/// A set of codes, to compare with [`Base::archived`].
pub fn set(codes: &[&str]) -> BTreeSet<String> {
    codes.iter().map(|c| (*c).to_owned()).collect()
}

/// The incompressible file of dossier `A` of [`restorable_base`]: big
/// enough that a byte flipped in its middle lands in file data, far from
/// any header.
pub fn pieces_bin() -> Vec<u8> {
    random_bytes(41, 300_000)
}

/// A base with two saved dossiers, `A` and `C`, archived with `method`
/// (`zstd`, `deflate`, `store`): files with nanosecond modification times,
/// an empty folder, accented names, associated documents (not archived by
/// default).
pub fn restorable_base(method: &str) -> Base {
    let base = Base::new().collaborator("COMPT", "*").setting(
        "archive",
        "method",
        &format!("\"{method}\""),
    );
    base.dossier("A")
        .file("compta/ecritures.dat", text_bytes(40, 40_000))
        .file("compta/pieces.bin", pieces_bin())
        .file("notes.txt", "à relire\n")
        .file("a/b/profond.txt", "tout au fond\n")
        .file("Clôture/état récapitulatif.csv", "compte;solde\n")
        .file("vide.dat", "")
        .empty_dir("exports")
        .file("documents/statuts.txt", "statuts\n");
    base.dossier("C")
        .file("compta/ecritures.dat", text_bytes(42, 10_000))
        .file("documents/kbis.txt", "kbis\n");
    let mut i = 0;
    for code in ["A", "C"] {
        walk_files(&base.dossier_dir(code), &mut |p| {
            i += 1;
            set_mtime(
                p,
                SystemTime::UNIX_EPOCH
                    + Duration::new(1_600_000_000 + i * 3_607, 123_456_789 + i as u32),
            );
        });
    }
    base.run_compt(&[]).code(0);
    assert_eq!(base.archived(), set(&["A", "C"]), "archives in sauve/");
    base
}
