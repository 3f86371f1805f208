//! `offsite push` (and the push at the end of a run): every dossier whose
//! newest archive is not off-site yet is sealed and sent, pending uploads
//! first (an upload cut last night completes before a newer version
//! starts, so that a slow link always makes progress); then retention,
//! per dossier; then multipart uploads abandoned for more than a day are
//! aborted.
//!
//! What counts as off-site is what the bucket holds *and* the catalog
//! recorded as checked: a version the catalog knows but the bucket no
//! longer lists is forgotten and sent again; one the bucket lists but the
//! catalog does not know (a catalog rebuilt) is sent again over itself.
//!
//! Local archives are only read. Up to [`UPLOADS`] uploads run at once,
//! sharing the `bandwidth` cap.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration, Local};
use serde::Serialize;

use super::location::{VersionKey, stamp, stamp_time};
use super::s3::S3Error;
use super::seal::{self, Sealed};
use super::throttle::Throttle;
use super::upload::{self, Shared, Stopped};
use super::{Target, retention};
use crate::catalog::{Catalog, CatalogError, DossierState, OffsiteVersion, PendingUpload};

/// Uploads at once: enough to fill a link whose latency would leave one
/// idle between requests, few enough to keep memory (one part each) low.
pub const UPLOADS: usize = 4;

/// The folder of staged encrypted copies, under the backup folder.
pub const STAGING: &str = "offsite";

/// How one dossier's copy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pushed {
    /// Sent and checked.
    Copied,
    /// Not sent: the error says why.
    Error,
    /// The time budget or Ctrl-C: resumes next time.
    Deferred,
}

/// One dossier of a push.
#[derive(Debug, Clone, Serialize)]
pub struct DossierPush {
    pub code: String,
    pub state: Pushed,
    /// The version's key.
    pub key: String,
    /// The object's size in bytes (0 when it was not sealed).
    pub size: u64,
    /// Bytes of request bodies sent for it during this push.
    pub bytes_sent: u64,
    /// Whether an upload cut earlier was resumed.
    pub resumed: bool,
    /// Why it was not sent (French).
    pub error: Option<String>,
}

impl DossierPush {
    /// The report's line for it (DESIGN §7's wording); `bucket_url` is
    /// `s3://BUCKET`.
    pub fn line(&self, bucket_url: &str) -> String {
        let text = match self.state {
            Pushed::Copied => format!("Copie externalisée réussie ({bucket_url}/{})", self.key),
            Pushed::Error => format!(
                "Echec de la copie externalisée. {}",
                self.error.as_deref().unwrap_or("")
            ),
            Pushed::Deferred => "Copie externalisée reportée au prochain envoi".to_owned(),
        };
        crate::report::dossier_line(&self.code, &text)
    }
}

/// What a push did.
#[derive(Debug, Default, Serialize)]
pub struct PushReport {
    /// The dossiers that needed a copy, in code order.
    pub dossiers: Vec<DossierPush>,
    /// Keys deleted by retention.
    pub deleted: Vec<String>,
    /// Keys of abandoned uploads aborted.
    pub aborted_uploads: Vec<String>,
    /// Bytes of request bodies sent, all uploads.
    pub bytes_sent: u64,
    /// Things that did not stop the push (a retention delete that failed…).
    pub warnings: Vec<String>,
}

impl PushReport {
    /// Dossiers copied, in error, deferred.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |s| self.dossiers.iter().filter(|d| d.state == s).count();
        (n(Pushed::Copied), n(Pushed::Error), n(Pushed::Deferred))
    }

    /// The summary lines, as the batch's report has its own.
    pub fn summary(&self) -> Vec<String> {
        let (ok, err, deferred) = self.counts();
        let total = self.dossiers.len();
        let mut v = vec![
            format!("{ok} / {total} archive(s) copiée(s)"),
            format!("{err} / {total} archive(s) en erreur(s)"),
        ];
        if deferred > 0 {
            v.push(format!("{deferred} archive(s) reportée(s)"));
        }
        if !self.deleted.is_empty() {
            v.push(format!(
                "Rétention : {} version(s) supprimée(s)",
                self.deleted.len()
            ));
        }
        v
    }
}

/// Why a push could not take place at all (exit 2): the bucket refuses us
/// or does not exist.
#[derive(Debug)]
pub enum PushError {
    /// The server said so on the first request.
    Unusable(S3Error),
    /// The catalog could not be read or written.
    Catalog(CatalogError),
    /// The folder of staged copies could not be made.
    Staging(PathBuf, std::io::Error),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushError::Unusable(e) => write!(f, "{e}"),
            PushError::Catalog(e) => write!(f, "{e}"),
            PushError::Staging(p, e) => write!(
                f,
                "{} : dossier des copies à envoyer impossible à créer : {e}",
                p.display()
            ),
        }
    }
}

impl From<CatalogError> for PushError {
    fn from(e: CatalogError) -> PushError {
        PushError::Catalog(e)
    }
}

/// A dossier to send.
struct Job {
    code: String,
    stamp: String,
    /// The local archive of this version (absolute), when it is the
    /// dossier's last backup: what is sealed (again).
    archive: Option<PathBuf>,
    /// Its size when it was written (the catalog's `last_bytes`).
    bytes: Option<u64>,
    /// The upload under way that sends it, to resume.
    pending: Option<PendingUpload>,
}

/// What a push works on, besides the catalog.
#[derive(Debug)]
pub struct PushRequest<'a> {
    /// Where and how copies go.
    pub target: &'a Target,
    /// The catalog's states of the dossiers: their last backups.
    pub states: &'a HashMap<String, DossierState>,
    /// The base's folder (archive paths in the catalog are relative to it).
    pub root: &'a Path,
    /// The backup folder; staged copies go into `<backup_dir>/offsite/`.
    pub backup_dir: &'a Path,
    /// The time of the push (`SVGAUTO_NOW` pins it).
    pub now: DateTime<Local>,
    /// No part starts after it (`--max-duration`).
    pub deadline: Option<Instant>,
    /// Set by Ctrl-C: no part starts after it either.
    pub interrupted: &'a AtomicBool,
}

/// Pushes the newest archive of every dossier of `req.states` not off-site
/// yet, then applies retention and aborts abandoned uploads. Errors only
/// when nothing can be pushed (the bucket refuses us or does not exist);
/// a dossier's failure is in the report. The catalog is handed back
/// either way.
pub fn push(req: &PushRequest<'_>, catalog: Catalog) -> (Result<PushReport, PushError>, Catalog) {
    let cell = Mutex::new(catalog);
    let result = push_inner(req, &cell);
    (result, cell.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// The catalog, taken by one thread at a time (it is one SQLite
/// connection, which the upload threads share).
fn lock(c: &Mutex<Catalog>) -> std::sync::MutexGuard<'_, Catalog> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

fn push_inner(req: &PushRequest<'_>, catalog: &Mutex<Catalog>) -> Result<PushReport, PushError> {
    let PushRequest {
        target,
        states,
        root,
        backup_dir,
        now,
        deadline,
        interrupted,
    } = *req;
    let store = &target.store;
    let loc = &target.location;
    let mut report = PushReport::default();

    // One listing: what the bucket holds under the prefix. Its failure is
    // the first sign of a server refusing us or down.
    let listed = match store.list(&loc.key_prefix()) {
        Ok(l) => l,
        Err(e @ (S3Error::Denied { .. } | S3Error::NoBucket)) => {
            return Err(PushError::Unusable(e));
        }
        Err(e) => {
            // Down or failing: every dossier needing a copy gets the reason,
            // and the warning says it even when none needed one.
            report.warnings.push(format!("{} : {e}", loc.url()));
            let known = lock(catalog).offsite_versions()?;
            for (code, stamp, _, _) in wanted(states, &known, root) {
                report.dossiers.push(DossierPush {
                    key: loc.key(&code, &stamp, target.encrypted()),
                    code,
                    state: Pushed::Error,
                    size: 0,
                    bytes_sent: 0,
                    resumed: false,
                    error: Some(e.to_string()),
                });
            }
            return Ok(report);
        }
    };
    let listed_keys: HashMap<&str, u64> = listed.iter().map(|o| (o.key.as_str(), o.size)).collect();

    // The catalog's versions the bucket no longer holds are forgotten.
    let mut known = lock(catalog).offsite_versions()?;
    known.retain(|v| {
        let there = listed_keys.get(v.key.as_str()) == Some(&v.size);
        if !there {
            report.warnings.push(format!(
                "{} : la version {} du dossier {} n'est plus sur le serveur ; elle sera envoyée à nouveau si c'est la plus récente",
                loc.url(),
                v.stamp,
                v.code
            ));
            let _ = lock(catalog).forget_offsite_version(&v.code, &v.stamp);
        }
        there
    });

    let staging = backup_dir.join(STAGING);
    // A backup folder on a share that is offline: the staged copies are
    // not lost, only unseen; nothing is aborted nor removed then.
    let staging_seen = std::fs::read_dir(&staging).is_ok();
    let sealed_for = seal::sealed_for(&target.recipients);
    let pending = lock(catalog).pending_uploads()?;
    let archives = wanted(states, &known, root);
    let archive_of = |code: &str, stamp: &str| {
        archives
            .iter()
            .find(|w| w.0 == code && w.1 == stamp)
            .map(|w| (w.2.clone(), w.3))
    };
    let mut jobs: Vec<Job> = Vec::new();
    let mut taken = HashSet::new();
    // Pending uploads first, whose staged copy is still there and still
    // sealed as the settings say (the same key name, the same recipients).
    for p in &pending {
        let done = known.iter().any(|v| v.code == p.code && v.stamp == p.stamp);
        let stale =
            p.key != loc.key(&p.code, &p.stamp, target.encrypted()) || p.sealed_for != sealed_for;
        let staged = staging.join(&p.staged);
        if done || stale || (staging_seen && !staged.is_file()) {
            let _ = store.abort(&p.key, &p.upload_id);
            let _ = lock(catalog).drop_upload(&p.key);
            let _ = std::fs::remove_file(&staged);
            continue;
        }
        taken.insert((p.code.clone(), p.stamp.clone()));
        let (archive, bytes) = archive_of(&p.code, &p.stamp).unzip();
        jobs.push(Job {
            code: p.code.clone(),
            stamp: p.stamp.clone(),
            archive,
            bytes: bytes.flatten(),
            pending: Some(p.clone()),
        });
    }
    for (code, stamp, archive, bytes) in archives.iter().cloned() {
        if taken.contains(&(code.clone(), stamp.clone())) {
            continue;
        }
        jobs.push(Job {
            code,
            stamp,
            archive: Some(archive),
            bytes,
            pending: None,
        });
    }

    // Staged copies no upload holds any more (a push killed while sealing,
    // or before its single request went through) are made again if needed.
    if staging_seen {
        remove_unheld(&staging, &jobs);
    }
    if !jobs.is_empty() {
        crate::sys::owner_only::create_dir_all(&staging)
            .map_err(|e| PushError::Staging(staging.clone(), e))?;
    }
    let shared = Shared {
        target,
        catalog,
        throttle: target.bandwidth.map(Throttle::new),
        sent: AtomicU64::new(0),
        deadline,
        stop: Mutex::new(None),
        interrupted,
        now,
    };
    let results = run_jobs(&shared, &staging, jobs);
    report.dossiers = results;
    report.dossiers.sort_by(|a, b| a.code.cmp(&b.code));
    report.bytes_sent = shared.sent.load(Ordering::Relaxed);
    let stopped = shared
        .stop
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(e @ (S3Error::Denied { .. } | S3Error::NoBucket)) = &stopped
        && report.dossiers.iter().all(|d| d.state != Pushed::Copied)
    {
        return Err(PushError::Unusable(e.clone()));
    }
    if stopped.is_some() {
        // The server failed: no retention nor cleanup on a failing server.
        return Ok(report);
    }

    let catalog = lock(catalog);
    retain(target, &catalog, &listed, &mut report);
    abort_abandoned(target, &catalog, now, &mut report);
    Ok(report)
}

/// Removes the files of `staging` that no pending upload of `jobs` sends
/// (folders are left: `offsite restore` and `verify` download into their
/// own).
fn remove_unheld(staging: &Path, jobs: &[Job]) {
    let Ok(entries) = std::fs::read_dir(staging) else {
        return;
    };
    let held: HashSet<std::ffi::OsString> = jobs
        .iter()
        .filter_map(|j| j.pending.as_ref().map(|p| p.staged.clone().into()))
        .collect();
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_file()) && !held.contains(&e.file_name()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The newest version of each dossier of `states` that `known` does not
/// hold: code, stamp, its archive (absolute: `root` joined with the
/// catalog's path) and its size when written.
fn wanted(
    states: &HashMap<String, DossierState>,
    known: &[OffsiteVersion],
    root: &Path,
) -> Vec<(String, String, PathBuf, Option<u64>)> {
    let mut out: Vec<_> = states
        .iter()
        .filter_map(|(code, st)| {
            let at = st.last_backup_at?;
            let archive = st.last_archive.as_ref()?;
            let s = stamp(&at);
            if known.iter().any(|v| &v.code == code && v.stamp == s) {
                return None;
            }
            Some((code.clone(), s, root.join(archive), st.last_bytes))
        })
        .collect();
    out.sort();
    out
}

/// Runs the jobs on up to [`UPLOADS`] threads; one line each.
fn run_jobs(shared: &Shared<'_>, staging: &Path, jobs: Vec<Job>) -> Vec<DossierPush> {
    let queue = Mutex::new(jobs.into_iter());
    let out = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..UPLOADS {
            s.spawn(|| {
                loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some(job) = job else { break };
                    // Past the deadline, after Ctrl-C or once the server
                    // failed, nothing more is sealed: each job says why.
                    let line = match shared.must_stop() {
                        Some(why) => stopped_line(shared, &job, why),
                        None => one(shared, staging, job),
                    };
                    out.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
    });
    out.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// Seals (unless a staged copy of the pending upload is there) and sends
/// one version.
fn one(shared: &Shared<'_>, staging: &Path, job: Job) -> DossierPush {
    let target = shared.target;
    let key = target
        .location
        .key(&job.code, &job.stamp, target.encrypted());
    let mut line = DossierPush {
        code: job.code.clone(),
        state: Pushed::Error,
        key: key.clone(),
        size: 0,
        bytes_sent: 0,
        resumed: false,
        error: None,
    };
    let sent = AtomicU64::new(0);
    let result = (|| {
        let mut pending = job.pending.clone();
        let mut sealed = None;
        if let Some(p) = &pending {
            // The staged copy must still be the bytes the upload began
            // with; if not, the upload is dropped and the copy made again.
            let path = staging.join(&p.staged);
            match seal::sha256_of(&path) {
                Ok((sha, size)) if sha == p.sha256 && size == p.size => {
                    sealed = Some(Sealed {
                        path,
                        size,
                        sha256: sha,
                    });
                }
                Ok(_) => {
                    let _ = target.store.abort(&p.key, &p.upload_id);
                    let _ = lock(shared.catalog).drop_upload(&p.key);
                    let _ = std::fs::remove_file(&path);
                    pending = None;
                }
                Err(e) => {
                    return Err(Stopped::Failed(format!(
                        "la copie en attente d'envoi {} est illisible : {e}",
                        path.display()
                    )));
                }
            }
        }
        let sealed = match sealed {
            Some(s) => s,
            None => {
                let Some(archive) = &job.archive else {
                    return Err(Stopped::Failed(format!(
                        "la version {} n'est plus la dernière sauvegarde locale et sa copie en attente a changé : elle ne peut plus être envoyée",
                        job.stamp
                    )));
                };
                seal_current(shared, staging, &job, archive)?
            }
        };
        line.size = sealed.size;
        let resumed = upload::send(shared, &job.code, &job.stamp, &key, &sealed, pending, &sent)?;
        let version = OffsiteVersion {
            code: job.code.clone(),
            stamp: job.stamp.clone(),
            key: key.clone(),
            size: sealed.size,
            sha256: sealed.sha256.clone(),
            uploaded_at: Local::now().fixed_offset(),
            verified_at: None,
        };
        lock(shared.catalog)
            .record_offsite_version(&version)
            .map_err(|e| Stopped::Failed(format!("catalogue : {e}")))?;
        let _ = std::fs::remove_file(&sealed.path);
        Ok(resumed)
    })();
    line.bytes_sent = sent.load(Ordering::Relaxed);
    shared.sent.fetch_add(line.bytes_sent, Ordering::Relaxed);
    match result {
        Ok(resumed) => {
            line.state = Pushed::Copied;
            line.resumed = resumed;
        }
        Err(Stopped::Deferred) => line.state = Pushed::Deferred,
        Err(Stopped::Failed(why)) => line.error = Some(why),
        Err(Stopped::Global(e)) => {
            line.error = Some(e.to_string());
            let mut stop = shared.stop.lock().unwrap_or_else(|e| e.into_inner());
            if stop.is_none() {
                *stop = Some(e);
            }
        }
    }
    line
}

/// The line of a job not started: past the deadline or Ctrl-C (deferred),
/// or the server's failure.
fn stopped_line(shared: &Shared<'_>, job: &Job, why: Stopped) -> DossierPush {
    let target = shared.target;
    let (state, error) = match why {
        Stopped::Deferred => (Pushed::Deferred, None),
        Stopped::Global(e) => (Pushed::Error, Some(e.to_string())),
        Stopped::Failed(e) => (Pushed::Error, Some(e)),
    };
    DossierPush {
        code: job.code.clone(),
        state,
        key: target
            .location
            .key(&job.code, &job.stamp, target.encrypted()),
        size: 0,
        bytes_sent: 0,
        resumed: false,
        error,
    }
}

/// Seals `archive`, the dossier's last backup, checking around it that it
/// still is: `svgauto save` does not take the run lock, and an event
/// backup may replace the archive during a push. A version replaced
/// before or while it is sealed is deferred (the newer one goes next
/// time), never sent under the older stamp.
fn seal_current(
    shared: &Shared<'_>,
    staging: &Path,
    job: &Job,
    archive: &Path,
) -> Result<Sealed, Stopped> {
    let target = shared.target;
    let still =
        || -> Result<bool, Stopped> {
            let at = lock(shared.catalog)
                .last_backup_of(&job.code)
                .map_err(|e| Stopped::Failed(format!("catalogue : {e}")))?;
            let size = std::fs::metadata(archive).map(|m| m.len()).ok();
            Ok(at.is_some_and(|t| stamp(&t) == job.stamp)
                && (job.bytes.is_none() || size == job.bytes))
        };
    if !archive.is_file() {
        return Err(Stopped::Failed(format!(
            "l'archive locale {} est introuvable",
            archive.display()
        )));
    }
    if !still()? {
        return Err(Stopped::Deferred);
    }
    let staged = staging.join(format!(
        "B{}-{}.SVG{}",
        job.code,
        job.stamp,
        if target.encrypted() {
            super::location::AGE_SUFFIX
        } else {
            ""
        }
    ));
    let sealed = seal::seal(archive, &staged, &target.recipients).map_err(|e| {
        Stopped::Failed(format!(
            "chiffrement de {} impossible : {e}",
            archive.display()
        ))
    })?;
    if !still()? {
        let _ = std::fs::remove_file(&sealed.path);
        return Err(Stopped::Deferred);
    }
    Ok(sealed)
}

/// Retention over what the bucket listed (and what this push added).
fn retain(
    target: &Target,
    catalog: &Catalog,
    listed: &[super::s3::Object],
    report: &mut PushReport,
) {
    let mut by_code: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let prefix = &target.location.prefix;
    let keys = listed.iter().map(|o| o.key.clone()).chain(
        report
            .dossiers
            .iter()
            .filter(|d| d.state == Pushed::Copied)
            .map(|d| d.key.clone()),
    );
    let mut seen = HashSet::new();
    for key in keys {
        if !seen.insert(key.clone()) {
            continue;
        }
        if let Some(v) = VersionKey::parse(&key)
            && &v.prefix == prefix
        {
            by_code
                .entry(v.code.clone())
                .or_default()
                .push((v.stamp, key));
        }
    }
    let known = catalog.offsite_versions().unwrap_or_default();
    for (code, versions) in by_code {
        let times: Vec<(&str, DateTime<Local>)> = versions
            .iter()
            .filter_map(|(s, _)| Some((s.as_str(), stamp_time(s)?.with_timezone(&Local))))
            .collect();
        // Never deleted: the newest version a drill checked, and the
        // newest one checked after its upload (the catalog's), whatever
        // newer object failed its check.
        let drilled = known
            .iter()
            .filter(|v| v.code == code && v.verified_at.is_some())
            .map(|v| v.stamp.as_str())
            .max();
        let uploaded = known
            .iter()
            .filter(|v| v.code == code)
            .map(|v| v.stamp.as_str())
            .max();
        let protected: Vec<&str> = drilled.into_iter().chain(uploaded).collect();
        let keep = retention::keep(&times, target.policy, &protected);
        for (stamp, key) in &versions {
            if keep.contains(stamp.as_str()) {
                continue;
            }
            match target.store.delete(key) {
                Ok(()) => {
                    let _ = catalog.forget_offsite_version(&code, stamp);
                    report.deleted.push(key.clone());
                }
                Err(e) => report
                    .warnings
                    .push(format!("rétention : {key} non supprimée : {e}")),
            }
        }
    }
}

/// Aborts the multipart uploads under the prefix started more than a day
/// ago that the catalog does not hold as under way (a push whose catalog
/// was lost, another tool's): their parts cost storage and never become a
/// version.
fn abort_abandoned(
    target: &Target,
    catalog: &Catalog,
    now: DateTime<Local>,
    report: &mut PushReport,
) {
    let uploads = match target.store.list_uploads(&target.location.key_prefix()) {
        Ok(u) => u,
        Err(e) => {
            report.warnings.push(format!(
                "{} : les envois inachevés n'ont pas pu être listés : {e}",
                target.location.url()
            ));
            return;
        }
    };
    let ours: HashSet<String> = catalog
        .pending_uploads()
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.upload_id)
        .collect();
    let day_ago = now.with_timezone(&chrono::Utc) - Duration::days(1);
    for u in uploads {
        // Under this prefix only: `agence` must not abort the uploads of
        // `agence/annexe`, another server's.
        let mine = VersionKey::parse(&u.key).is_some_and(|v| v.prefix == target.location.prefix);
        if !mine || ours.contains(&u.upload_id) || u.initiated.is_none_or(|t| t > day_ago) {
            continue;
        }
        match target.store.abort(&u.key, &u.upload_id) {
            Ok(()) | Err(S3Error::NoUpload) => report.aborted_uploads.push(u.key),
            Err(e) => report
                .warnings
                .push(format!("envoi inachevé {} non abandonné : {e}", u.key)),
        }
    }
}
