//! Operating-system primitives, below everything else: locks, flushing,
//! positioned reads, owner-only modes, removing and walking trees (and
//! flushing or removing one with several calls at once, `at_once`), and
//! putting a file in place over one another program holds (`replace`).

pub mod at_once;
pub mod cleanup;
pub mod fs;
pub mod lock;
pub mod owner_only;
pub mod replace;
pub mod time;
pub mod tree;
