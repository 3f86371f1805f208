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
    /// The local archive (absolute), for a new version.
    archive: Option<PathBuf>,
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
            for (code, stamp, _) in wanted(states, &known, None) {
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
    let pending = lock(catalog).pending_uploads()?;
    let mut jobs: Vec<Job> = Vec::new();
    let mut taken = HashSet::new();
    // Pending uploads first, whose staged copy is still there.
    for p in &pending {
        let done = known.iter().any(|v| v.code == p.code && v.stamp == p.stamp);
        if done || !Path::new(&p.staged).is_file() {
            let _ = store.abort(&p.key, &p.upload_id);
            let _ = lock(catalog).drop_upload(&p.key);
            continue;
        }
        taken.insert((p.code.clone(), p.stamp.clone()));
        jobs.push(Job {
            code: p.code.clone(),
            stamp: p.stamp.clone(),
            archive: None,
            pending: Some(p.clone()),
        });
    }
    for (code, stamp, archive) in wanted(states, &known, Some(root)) {
        if taken.contains(&(code.clone(), stamp.clone())) {
            continue;
        }
        jobs.push(Job {
            code,
            stamp,
            archive,
            pending: None,
        });
    }

    // Staged copies no upload holds any more (a push killed while sealing,
    // or before its single request went through) are made again if needed.
    remove_unheld(&staging, &jobs);
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
    let held: HashSet<PathBuf> = jobs
        .iter()
        .filter_map(|j| j.pending.as_ref().map(|p| PathBuf::from(&p.staged)))
        .collect();
    for e in entries.flatten() {
        let path = e.path();
        if e.file_type().is_ok_and(|t| t.is_file()) && !held.contains(&path) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The newest version of each dossier of `states` that `known` does not
/// hold: code, stamp, and its archive (absolute) when `root` is given.
fn wanted(
    states: &HashMap<String, DossierState>,
    known: &[OffsiteVersion],
    root: Option<&Path>,
) -> Vec<(String, String, Option<PathBuf>)> {
    let mut out: Vec<_> = states
        .iter()
        .filter_map(|(code, st)| {
            let at = st.last_backup_at?;
            let archive = st.last_archive.as_ref()?;
            let s = stamp(&at);
            if known.iter().any(|v| &v.code == code && v.stamp == s) {
                return None;
            }
            Some((code.clone(), s, root.map(|r| r.join(archive))))
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
                    let line = one(shared, staging, job);
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
        let sealed = match &job.pending {
            Some(p) => {
                // The staged copy must still be the bytes the upload began
                // with.
                let path = PathBuf::from(&p.staged);
                match seal::sha256_of(&path) {
                    Ok((sha, size)) if sha == p.sha256 && size == p.size => Sealed {
                        path,
                        size,
                        sha256: sha,
                    },
                    _ => {
                        return Err(Stopped::Failed(format!(
                            "la copie chiffrée en attente {} a changé ; elle sera refaite au prochain envoi",
                            path.display()
                        )));
                    }
                }
            }
            None => {
                let Some(archive) = &job.archive else {
                    return Err(Stopped::Failed("archive locale inconnue".into()));
                };
                if !archive.is_file() {
                    return Err(Stopped::Failed(format!(
                        "l'archive locale {} est introuvable",
                        archive.display()
                    )));
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
                seal::seal(archive, &staged, &target.recipients).map_err(|e| {
                    Stopped::Failed(format!(
                        "chiffrement de {} impossible : {e}",
                        archive.display()
                    ))
                })?
            }
        };
        line.size = sealed.size;
        let resumed = upload::send(
            shared,
            &job.code,
            &job.stamp,
            &key,
            &sealed,
            job.pending.clone(),
            &sent,
        )?;
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
        let verified = known
            .iter()
            .filter(|v| v.code == code && v.verified_at.is_some())
            .map(|v| v.stamp.as_str())
            .max();
        let protected: Vec<&str> = verified.into_iter().collect();
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
        if ours.contains(&u.upload_id) || u.initiated.is_none_or(|t| t > day_ago) {
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
