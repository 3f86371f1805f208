//! The subcommands other than the run, one module each, and what some of
//! them share (`safeguard`: the save before a restore, which `restore` and
//! `import` make; `import::settle` tells whether a file dropped for
//! `import` is still being copied; `with_pings`, the monitoring's pings
//! around `import` and `offsite push`). A command takes options already
//! validated (`options.rs`), never a clap type, and returns what it has to
//! say (`exit::Output`) or a typed error.

pub mod hold;
pub mod import;
pub mod offsite;
pub mod restore;
pub mod safeguard;
pub mod save;
pub mod schedule;
pub mod status;
pub mod verify;

use crate::error::CommandError;
use crate::exit::{Line, Output};
use crate::monitoring::{self, Signal};

/// `command` between the pings of `[monitoring]` (DESIGN §11), for the
/// commands a task may schedule on their own (`offsite push`, `import`):
/// the start, then success or failure with the command's first lines as
/// the body. A ping that fails is one more stderr line; it never changes
/// the exit code.
pub(crate) fn with_pings(
    settings: &crate::config::Monitoring,
    command: impl FnOnce() -> Result<Output, CommandError>,
) -> Result<Output, CommandError> {
    let (pinger, mut warnings) = match monitoring::pinger(settings) {
        Ok(p) => (p, Vec::new()),
        Err(w) => (None, vec![w]),
    };
    warnings.extend(monitoring::ping(pinger.as_ref(), Signal::Start, ""));
    match command() {
        Ok(mut out) => {
            let body: Vec<String> = out
                .lines
                .iter()
                .take(50)
                .map(|l| l.clone().into_text())
                .collect();
            let signal = Signal::of_exit(out.exit.code());
            warnings.extend(monitoring::ping(pinger.as_ref(), signal, &body.join("\n")));
            out.lines.extend(warnings.into_iter().map(Line::Stderr));
            Ok(out)
        }
        Err(e) => {
            let _ = monitoring::ping(pinger.as_ref(), Signal::Fail, &e.to_string());
            Err(e)
        }
    }
}
