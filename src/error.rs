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
    #[error(transparent)]
    Base(#[from] BaseError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("{}", path.display())]
    Io { path: PathBuf, source: io::Error },
}
