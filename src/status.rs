//! `svgauto status`: per dossier, its last backup, last result and whether
//! it was modified since — "is everything backed up?" in one command.

use std::path::Path;

use crate::clock::Clock;
use crate::exit::Said;
use crate::restore::CommandError;

/// `svgauto status --base B [--json] [--stale-days N]`.
pub fn status_command(
    base: &Path,
    workstation: Option<&Path>,
    stale_days: u32,
    json: bool,
    clock: &dyn Clock,
) -> Result<Said, CommandError> {
    let _ = (base, workstation, stale_days, json, clock);
    unimplemented!("status")
}
