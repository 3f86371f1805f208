//! `svgauto save --event …`: one dossier saved now, on an application event.

use std::path::Path;

use crate::cli::Event;
use crate::clock::Clock;
use crate::exit::Said;
use crate::restore::CommandError;

pub fn save_command(
    base: &Path,
    workstation: Option<&Path>,
    user: &str,
    dossier: &str,
    event: Event,
    clock: &dyn Clock,
) -> Result<Said, CommandError> {
    let _ = (base, workstation, user, dossier, event, clock);
    unimplemented!("save")
}
