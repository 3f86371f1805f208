//! The `B<CODE>.SVG` archive format (DESIGN §5), both directions.

pub mod read;
pub mod write;
pub mod zip_writer;

pub use write::*;
