//! Saving one dossier, written once: take its lock, walk it again under
//! the lock, check its identity and the walk, write its archive to its
//! `.partial` ([`stage_dossier`]), then put it in place ([`commit_group`]).
//! The batch's dossier loops (`pool.rs`) stage, and its writer commits what
//! is staged in groups (`writer.rs`): one flush for many archives. `svgauto
//! save` ([`crate::commands::save`]) calls [`save_dossier`] (both, for one
//! dossier); the save before a restore ([`crate::commands::safeguard`]),
//! which already holds the lock, calls [`saveable`] and
//! [`SaveContext::write`]. [`SaveContext::stage`] is the one place an
//! [`archive::Job`] is built.
//!
//! Where the callers differ, [`SaveContext`] says so in a field: the pool
//! (the run's, shared by its loops; a pool of its own for a single save),
//! whether small batches are compressed inline, whether `documents/` is
//! archived, whether the archive is read back before it is put in place.

use std::path::Path;
use std::time::SystemTime;

use thiserror::Error;

use crate::archive::{self, ArchiveError, Compression, IoBudget, Job, Written};
use crate::base::{Identity, LOCK_FILE};
use crate::clock::Clock;
use crate::config::Settings;
use crate::report::IN_USE;
use crate::scan::{self, DossierScan};
use crate::sys::lock::{self, LockError};

use super::select::Refusal;

/// What every save of a dossier needs besides the dossier, shared by the
/// batch's loops (borrowed by all of them) or made for one save.
pub struct SaveContext<'a> {
    /// Where the chunks are compressed: the run's pool, or a single save's
    /// own ([`SoloPool`]).
    pub pool: &'a rayon::ThreadPool,
    /// The bound on files read at once (`run.io_jobs`), across the loops.
    pub io: &'a IoBudget,
    /// The `[archive]` settings.
    pub compression: Compression,
    /// Gives the archive's backup time.
    pub clock: &'a dyn Clock,
    /// Walk and archive `documents/` (`backup.include_documents`; the save
    /// before a restore may add them, see `commands::safeguard`).
    pub documents_included: bool,
    /// Compress a small batch on the calling thread rather than on the
    /// pool: the run sets it when it has as many dossier loops as pool
    /// threads (each loop then has a core of its own); a single save never
    /// does, its pool has nothing else to do.
    pub inline_small: bool,
    /// Read the archive back before putting it in place: `run --verify`;
    /// always for the save before a restore (the only copy of that state);
    /// never for `save` (it has no such option).
    pub verify: bool,
}

/// What a save says as it goes. The run forwards it to its writer (the
/// catalog's in-progress marker, the progress bar); a single save says
/// nothing (`()`).
pub trait Watch: Sync {
    /// The dossier is locked and walked again, its archive about to be
    /// written.
    fn started(&self) {}
    /// Bytes read since the last call.
    fn bytes(&self, _n: u64) {}
}

impl Watch for () {}

/// A dossier saved: the walk made under its lock (what the archive holds,
/// its fingerprint, what was left out) and what was written.
#[derive(Debug)]
pub struct Saved {
    /// The walk under the lock.
    pub scan: DossierScan,
    /// What the archive holds and weighs.
    pub written: Written,
}

/// Why a dossier could not be saved; its `Display` is the French sentence
/// of the report line (after "Echec du traitement.").
#[derive(Debug, Error)]
pub enum SaveError {
    /// Its lock is held: someone has it open.
    #[error("{}", IN_USE)]
    InUse,
    /// Its lock file could not be opened.
    #[error("Verrouillage impossible ({LOCK_FILE}) : {0}.")]
    Lock(std::io::Error),
    /// Its `dossier.toml` is wrong, or its walk under the lock could not
    /// read everything: refused as selection refuses it
    /// ([`Refusal::Identity`], [`Refusal::Walk`]).
    #[error(transparent)]
    Refused(Refusal),
    /// The archive could not be written (or read back).
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The archive is written, but data it cannot hold was left out (a
    /// name a restore would refuse): not "réussi", retried every run.
    #[error("{0}")]
    Incomplete(String),
}

/// Saves the dossier `code` (folder `dir`) into the archive `target`:
/// [`stage_dossier`], then the archive put in place on its own
/// ([`archive::commit`]). Every failure is a [`SaveError`], never a panic
/// or an early exit of the caller.
pub fn save_dossier(
    ctx: &SaveContext<'_>,
    code: &str,
    dir: &Path,
    target: &Path,
    watch: &dyn Watch,
) -> Result<Saved, SaveError> {
    let staged = stage_dossier(ctx, code, dir, target, watch)?;
    let Committed { scan, result } = commit_group(vec![staged])
        .pop()
        .expect("one result per staged dossier");
    result.map(|written| Saved { scan, written })
}

/// A dossier whose archive is written to its `.partial` (see
/// [`archive::Staged`]), its lock still held: the dossier cannot change
/// under the archive until it is put in place ([`commit_group`]) or
/// dropped (the `.partial` removed, the lock released).
#[derive(Debug)]
pub struct StagedDossier {
    /// The walk under the lock: what the archive holds.
    pub scan: DossierScan,
    staged: archive::Staged,
    _held: lock::Held,
}

/// Takes the dossier's lock without waiting, walks it again under the lock
/// (the run's scan may be hours old: what is archived is the state found
/// now), checks its identity and the walk, and writes its archive to the
/// `.partial` ([`archive::stage`]), keeping the lock.
pub fn stage_dossier(
    ctx: &SaveContext<'_>,
    code: &str,
    dir: &Path,
    target: &Path,
    watch: &dyn Watch,
) -> Result<StagedDossier, SaveError> {
    let held = match lock::try_exclusive(&dir.join(LOCK_FILE)) {
        Ok(h) => h,
        Err(LockError::Busy) => return Err(SaveError::InUse),
        Err(LockError::Io(e)) => return Err(SaveError::Lock(e)),
    };
    let now = held.file_system_now().unwrap_or_else(SystemTime::now);
    let scan = scan::scan_dossier_at(code, dir, ctx.documents_included, now);
    let identity = saveable(&scan).map_err(SaveError::Refused)?;
    watch.started();
    let staged = ctx.stage(&scan, identity, target, watch)?;
    Ok(StagedDossier {
        scan,
        staged,
        _held: held,
    })
}

/// A staged dossier once its archive was put in place, or not.
#[derive(Debug)]
pub struct Committed {
    /// The walk under the lock: what the archive holds.
    pub scan: DossierScan,
    /// What was written once the archive and its folder entry are on disk,
    /// or why not — [`SaveError::Incomplete`] when the archive is in place
    /// but data it cannot hold was left out.
    pub result: Result<Written, SaveError>,
}

/// Puts the archives of staged dossiers in place as one group
/// ([`archive::commit`]: one flush of their data, the renames, one flush
/// per folder), then releases their locks. Result `i` is that of
/// `staged[i]`.
pub fn commit_group(staged: Vec<StagedDossier>) -> Vec<Committed> {
    let mut archives = Vec::with_capacity(staged.len());
    let mut held = Vec::with_capacity(staged.len());
    for s in staged {
        archives.push(s.staged);
        held.push((s.scan, s._held));
    }
    let committed = archive::commit(archives);
    // The locks are released as `held` is consumed, once every archive of
    // the group is in place.
    committed
        .into_iter()
        .zip(held)
        .map(|(r, (scan, _lock))| {
            let result = r
                .map_err(SaveError::from)
                .and_then(|written| match scan.incomplete() {
                    Some(incomplete) => Err(SaveError::Incomplete(incomplete)),
                    None => Ok(written),
                });
            Committed { scan, result }
        })
        .collect()
}

/// The identity of a scanned dossier that can be archived: refused when
/// its `dossier.toml` is wrong or its walk failed (it saw only part of it).
pub fn saveable(scan: &DossierScan) -> Result<&Identity, Refusal> {
    match (&scan.identity, &scan.walk_error) {
        (Err(e), _) => Err(Refusal::Identity(e.clone())),
        (Ok(_), Some(e)) => Err(Refusal::Walk(e.clone())),
        (Ok(id), None) => Ok(id),
    }
}

impl SaveContext<'_> {
    /// Writes the archive of `scan` at `target` (through `.partial`, flush,
    /// optional read back, rename, folder flush: [`archive::write()`]).
    pub fn write(
        &self,
        scan: &DossierScan,
        identity: &Identity,
        target: &Path,
        watch: &dyn Watch,
    ) -> Result<Written, ArchiveError> {
        let staged = self.stage(scan, identity, target, watch)?;
        archive::commit(vec![staged])
            .pop()
            .expect("one result per staged archive")
    }

    /// Writes the archive of `scan` to the `.partial` of `target`, read
    /// back if `verify` ([`archive::stage`]), not yet in place. The one
    /// place an [`archive::Job`] is built.
    pub fn stage(
        &self,
        scan: &DossierScan,
        identity: &Identity,
        target: &Path,
        watch: &dyn Watch,
    ) -> Result<archive::Staged, ArchiveError> {
        let on_bytes = |n: u64| watch.bytes(n);
        archive::stage(&Job {
            scan,
            identity,
            target,
            compression: self.compression,
            pool: self.pool,
            inline_small: self.inline_small,
            backup_time: self.clock.now(),
            io: self.io,
            on_bytes: &on_bytes,
            documents_included: self.documents_included,
            verify: self.verify,
        })
    }
}

/// The pool and I/O budget of a command that saves one dossier on its own
/// (`save`, the save before a restore): made per call, sized by the base's
/// `run.threads` and `run.io_jobs`.
pub struct SoloPool {
    pool: rayon::ThreadPool,
    io: IoBudget,
}

impl SoloPool {
    /// A pool of `run.threads` workers and a budget of `run.io_jobs`.
    pub fn new(settings: &Settings) -> SoloPool {
        let (pool, _) = super::pool::compression_pool(settings.run.threads);
        SoloPool {
            pool,
            io: IoBudget::new(settings.run.io_jobs),
        }
    }

    /// The context of a single save on this pool: small batches go to the
    /// pool too; `documents_included` and `verify` as the caller says.
    pub fn context<'a>(
        &'a self,
        settings: &Settings,
        clock: &'a dyn Clock,
        documents_included: bool,
        verify: bool,
    ) -> SaveContext<'a> {
        SaveContext {
            pool: &self.pool,
            io: &self.io,
            compression: Compression::of(&settings.archive),
            clock,
            documents_included,
            inline_small: false,
            verify,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::base::Base;
    use crate::clock::SystemClock;
    use crate::run::test_base::base_with;

    /// What a save said, in order.
    #[derive(Default)]
    struct Told(Mutex<Vec<String>>);

    impl Watch for Told {
        fn started(&self) {
            self.0.lock().unwrap().push("started".into());
        }
        fn bytes(&self, n: u64) {
            self.0.lock().unwrap().push(format!("bytes {n}"));
        }
    }

    /// Saves the base's dossier `code` into `<backup.dir>/B<code>.SVG`.
    fn save(
        base: &Base,
        code: &str,
        told: &Told,
    ) -> (Result<Saved, SaveError>, std::path::PathBuf) {
        let settings = &base.effective.settings;
        let pool = SoloPool::new(settings);
        let ctx = pool.context(settings, &SystemClock, false, true);
        let target = base.backup_dir().join(crate::base::file_name(code));
        std::fs::create_dir_all(base.backup_dir()).unwrap();
        let dir = base.dossiers_dir().join(code);
        (save_dossier(&ctx, code, &dir, &target, told), target)
    }

    #[test]
    fn a_dossier_is_saved_and_said_started_before_its_bytes() {
        let (_tmp, base) = base_with(&[("A", "normal", 3000)]);
        let told = Told::default();
        let (saved, target) = save(&base, "A", &told);
        let saved = saved.unwrap();
        assert_eq!(saved.written.files, 2, "dossier.toml and data.bin");
        assert_eq!(saved.scan.code, "A");
        assert!(target.is_file() && !archive::partial_path(&target).exists());
        let told = told.0.into_inner().unwrap();
        assert_eq!(told[0], "started");
        assert!(
            told[1..].iter().all(|t| t.starts_with("bytes ")),
            "{told:?}"
        );
    }

    #[test]
    fn a_locked_dossier_is_in_use_and_nothing_is_written() {
        let (_tmp, base) = base_with(&[("A", "normal", 10)]);
        let _held = lock::try_exclusive(&base.dossiers_dir().join("A").join(LOCK_FILE)).unwrap();
        let told = Told::default();
        let (saved, target) = save(&base, "A", &told);
        let e = saved.unwrap_err();
        assert!(matches!(e, SaveError::InUse));
        assert_eq!(e.to_string(), IN_USE);
        assert!(!target.exists() && told.0.into_inner().unwrap().is_empty());
    }

    #[test]
    fn a_dossier_without_identity_is_an_error_before_anything_is_written() {
        let (_tmp, base) = base_with(&[("A", "normal", 10)]);
        std::fs::remove_file(
            base.dossiers_dir()
                .join("A")
                .join(crate::base::DOSSIER_TOML),
        )
        .unwrap();
        let told = Told::default();
        let (saved, target) = save(&base, "A", &told);
        let e = saved.unwrap_err();
        assert!(matches!(e, SaveError::Refused(Refusal::Identity(_))));
        assert_eq!(
            e.to_string(),
            "Fichier dossiers/A/dossier.toml absent : ce dossier n'a pas d'identité."
        );
        assert!(!target.exists() && told.0.into_inner().unwrap().is_empty());
    }

    #[test]
    fn a_walk_error_is_said_as_a_sentence() {
        let e = SaveError::Refused(Refusal::Walk(crate::scan::WalkError::Folder {
            rel: "prive/".into(),
            source: std::sync::Arc::new(std::io::Error::other("refusé")),
        }));
        assert_eq!(
            e.to_string(),
            "Lecture impossible du répertoire prive/ : refusé."
        );
    }
}
