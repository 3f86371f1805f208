//! Errors shared by every command: what stops a command before it could
//! do its work (exit 2, DESIGN §8).

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::base::BaseError;
use crate::catalog::CatalogError;

/// A command could not take place (exit 2).
#[derive(Debug, Error)]
pub enum CommandError {
    /// The base or its settings could not be opened or are not usable.
    #[error(transparent)]
    Base(#[from] BaseError),
    /// The catalog could not be read or written.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A file or folder could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// An argument the command cannot use, although the command line is
    /// well formed (a path a scheduled task could not name…): `what` names
    /// it (a path, a name), `detail` says what is wrong, in French.
    #[error("{what}: {detail}")]
    Invalid {
        /// The value refused, as shown to the user.
        what: String,
        /// Why, and what to do.
        detail: String,
    },
}
