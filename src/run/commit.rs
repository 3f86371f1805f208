//! Group commit: the dossier loops write each archive to its `.partial`
//! and hand it over still locked ([`StagedLine`]); the writer puts every
//! archive waiting in its batch in place at once ([`commit_staged`]) —
//! one flush of their data, the renames, one flush of the folder — before
//! the catalog records them. An archive counts (catalog, report line) only
//! once it and its folder entry are on disk, as when each was flushed on
//! its own; a base of thousands of small dossiers no longer waits for two
//! flushes per dossier, and the loops go on compressing meanwhile.
//!
//! [`StagingBudget`] bounds the dossiers claimed and not yet committed
//! (each holds its lock and its open `.partial`).

use chrono::{DateTime, Local};
use crossbeam_channel::{Receiver, Sender};

use crate::archive::Written;
use crate::scan::{DossierScan, Skipped};
use crate::state::{Outcome, SaveReason};

use super::save::{Committed, StagedDossier, commit_group};
use super::writer::Msg;

/// Dossiers claimed by the loops and not yet committed, at most: each
/// holds two open files (its lock, its `.partial`), well under the usual
/// limit of 1,024 open files, and enough for groups of dozens of archives.
pub(crate) const STAGED_MAX: usize = 64;

/// A dossier's archive staged by a loop, for the writer to commit.
#[derive(Debug)]
pub(crate) struct StagedLine {
    pub dossier: StagedDossier,
    /// Why it was saved.
    pub why: SaveReason,
    /// The archive's path as the catalog and the report give it.
    pub archive: String,
    /// When its archive was written.
    pub finished_at: DateTime<Local>,
    /// Given back to the loops once committed (dropped).
    pub _token: StagingToken,
}

/// The outcome of a dossier saved: its walk under the lock and what was
/// written into `archive`.
pub(crate) fn saved_outcome(
    why: SaveReason,
    archive: String,
    scan: &DossierScan,
    written: Written,
) -> Outcome {
    Outcome::Saved {
        why,
        archive,
        bytes_in: written.bytes_in,
        bytes_out: written.bytes_out,
        files: written.files,
        fingerprint: scan.fingerprint.recorded(),
        skipped: scan.skipped.iter().map(Skipped::left_out).collect(),
        links: scan.links(),
    }
}

/// Commits every staged archive of `batch` as one group, and turns each
/// into its dossier's line, in place: the other messages are left as they
/// are, in their order.
pub(crate) fn commit_staged(batch: Vec<Msg>) -> Vec<Msg> {
    /// A message of the batch, or the place of a staged dossier's line.
    enum Slot {
        Kept(Msg),
        Staged(SaveReason, String, DateTime<Local>, StagingToken),
    }
    let mut staged = Vec::new();
    let slots: Vec<Slot> = batch
        .into_iter()
        .map(|m| match m {
            Msg::Staged(s) => {
                let StagedLine {
                    dossier,
                    why,
                    archive,
                    finished_at,
                    _token,
                } = *s;
                staged.push(dossier);
                Slot::Staged(why, archive, finished_at, _token)
            }
            other => Slot::Kept(other),
        })
        .collect();
    let mut committed = commit_group(staged).into_iter();
    slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Kept(m) => m,
            Slot::Staged(why, archive, finished_at, token) => {
                let Committed { scan, result } =
                    committed.next().expect("one result per staged dossier");
                let outcome = match result {
                    Ok(written) => saved_outcome(why, archive, &scan, written),
                    Err(e) => Outcome::Error {
                        why: Some(why),
                        message: e.to_string(),
                    },
                };
                // The loops may claim another dossier.
                drop(token);
                Msg::Done(super::writer::line(&scan, outcome, Some(finished_at)))
            }
        })
        .collect()
}

/// A bound on the dossiers claimed and not yet committed: a channel
/// pre-filled with [`STAGED_MAX`] tokens.
pub(crate) struct StagingBudget {
    give: Sender<()>,
    take: Receiver<()>,
}

impl StagingBudget {
    pub fn new() -> StagingBudget {
        let (give, take) = crossbeam_channel::bounded(STAGED_MAX);
        for _ in 0..STAGED_MAX {
            give.send(()).expect("the channel has room for every token");
        }
        StagingBudget { give, take }
    }

    /// Waits for a token; it goes back to the budget when dropped,
    /// wherever it went (a loop's final line, or the writer's commit).
    pub fn acquire(&self) -> StagingToken {
        self.take
            .recv()
            .expect("the budget owns both ends of its channel");
        StagingToken(self.give.clone())
    }
}

/// The right to have one dossier claimed and not yet committed.
#[derive(Debug)]
pub(crate) struct StagingToken(Sender<()>);

impl Drop for StagingToken {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}
