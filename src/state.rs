//! Where a dossier stands, in one vocabulary: why a run saves it
//! ([`Why`]), why it leaves it alone ([`Skip`]). Selection decides them,
//! the report, the catalog, the dry run and `status` say them.

/// Why a dossier is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// Never saved before.
    New,
    Modified,
    /// `--all` or `modified_only = false`.
    Forced,
    /// Failed at the previous run.
    Retry,
    /// Not started by the previous run, stopped first.
    Deferred,
    /// Its backup was under way when a previous run died.
    Interrupted,
    /// Unchanged, but the archive of its last backup is no longer on disk.
    ArchiveMissing,
    /// Unchanged, but the archive of its last backup is no longer the file
    /// written (another size: emptied, truncated, replaced).
    ArchiveAltered,
}

/// Why a dossier is not concerned by the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skip {
    Unchanged,
    Etalon,
    Test,
    NonTransferable,
    /// `backup.dossiers = "copies"` and this is an original.
    Original,
    /// `backup.dossiers = "originals"` and this is a copy.
    Copie,
}
