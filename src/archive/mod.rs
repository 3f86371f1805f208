//! The `B<CODE>.SVG` archive format (DESIGN §5), both directions: one
//! standard zip per dossier whose last entry, the manifest, says what the
//! archive claims to hold.
//!
//! - `manifest`: the manifest's types, its format version, and the checks
//!   of each record on its own;
//! - `codec`: one chunk compressed on its own (zstd frames, deflate blocks
//!   ended by a full flush), so a file's chunks compress on several cores;
//! - `zip_writer`: a minimal zip writer for entries compressed elsewhere;
//! - `write`: the chunked parallel writer ([`write()`], [`Job`]), a
//!   `.partial` flushed and renamed into place;
//! - `read`: [`read::check`], which judges an archive — and extracts it
//!   for a restore — trusting nothing in it.
//!
//! Writer and reader share the manifest and the rule on entry names
//! (`scan::names`); the writer calls the reader only for `run --verify`.

pub mod codec;
pub mod manifest;
pub mod read;
pub mod write;
pub mod zip_writer;

pub use codec::{Compression, compress};
pub use manifest::{MANIFEST, Manifest, ManifestKind};
pub use write::{
    ArchiveError, CHUNK, IoBudget, Job, Staged, Written, commit, partial_path, stage, write,
};
