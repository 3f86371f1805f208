//! One version sent: a staged file (see `seal`) put in one request when it
//! is at most one part, else by a multipart upload whose id and accepted
//! parts are in the catalog as they happen — so that a push killed or cut
//! resumes at the first part the server does not hold. Then the object the
//! server shows is checked (its size, and the SHA-256 in its metadata)
//! before the version is recorded as off-site.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Local};
use md5::{Digest, Md5};

use super::s3::S3Error;
use super::seal::Sealed;
use super::throttle::{Metered, Throttle};
use super::{Target, part_size};
use crate::catalog::{Catalog, PendingUpload};

/// What one push shares between its uploads.
pub(super) struct Shared<'a> {
    pub target: &'a Target,
    pub catalog: &'a Mutex<Catalog>,
    pub throttle: Option<Throttle>,
    /// Bytes of request bodies handed to the HTTP client, all uploads
    /// (each upload's own are added when it ends).
    pub sent: AtomicU64,
    /// No part is started after this instant (`--max-duration`).
    pub deadline: Option<Instant>,
    /// Set when the server cannot be used at all: the other uploads stop
    /// at their next part.
    pub stop: Mutex<Option<S3Error>>,
    /// Set by Ctrl-C.
    pub interrupted: &'a AtomicBool,
    pub now: DateTime<Local>,
}

/// Why an upload did not end with the version off-site.
#[derive(Debug)]
pub(super) enum Stopped {
    /// The server or the local file failed.
    Failed(String),
    /// The server failed in a way every upload will (stop the push).
    Global(S3Error),
    /// The time budget or Ctrl-C: resumes next time.
    Deferred,
}

impl From<S3Error> for Stopped {
    fn from(e: S3Error) -> Stopped {
        if e.is_global() {
            Stopped::Global(e)
        } else {
            Stopped::Failed(e.to_string())
        }
    }
}

fn local(e: io::Error, what: &str) -> Stopped {
    Stopped::Failed(format!("{what} : {e}"))
}

fn catalog_err(e: crate::catalog::CatalogError) -> Stopped {
    Stopped::Failed(format!("catalogue : {e}"))
}

impl Shared<'_> {
    /// Whether the upload must stop before its next request (or the
    /// push before its next dossier).
    pub(super) fn must_stop(&self) -> Option<Stopped> {
        if let Some(e) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Some(Stopped::Global(e));
        }
        if self.interrupted.load(Ordering::SeqCst)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
        {
            return Some(Stopped::Deferred);
        }
        None
    }
}

/// Reads `len` bytes of `file` at `offset` into memory, with their MD5.
fn read_part(file: &File, offset: u64, len: u64) -> io::Result<(Vec<u8>, [u8; 16])> {
    let mut buf = vec![0; len as usize];
    crate::sys::fs::read_exact_at(file, &mut buf, offset)?;
    let md5: [u8; 16] = Md5::digest(&buf).into();
    Ok((buf, md5))
}

/// Sends `sealed` as `key`, resuming `pending` (an upload of the same
/// bytes the catalog holds) when there is one. Returns whether it resumed.
pub(super) fn send(
    shared: &Shared<'_>,
    code: &str,
    stamp: &str,
    key: &str,
    sealed: &Sealed,
    pending: Option<PendingUpload>,
    sent: &AtomicU64,
) -> Result<bool, Stopped> {
    if let Some(s) = shared.must_stop() {
        return Err(s);
    }
    let store = &shared.target.store;
    let throttle = shared.throttle.as_ref();
    let file =
        File::open(&sealed.path).map_err(|e| local(e, &sealed.path.display().to_string()))?;
    let part = part_size(sealed.size);
    let body = |buf: &[u8]| -> Box<dyn Read + '_> {
        Box::new(Metered::new(io::Cursor::new(buf.to_vec()), throttle, sent))
    };

    let mut resumed = false;
    if sealed.size <= part {
        let (buf, md5) = read_part(&file, 0, sealed.size)
            .map_err(|e| local(e, &sealed.path.display().to_string()))?;
        store.put(
            key,
            &mut || Ok(body(&buf)),
            sealed.size,
            &md5,
            &sealed.sha256,
        )?;
    } else {
        // Resume what the server still holds of the catalog's upload.
        let mut done = std::collections::BTreeMap::new();
        let mut upload_id = None;
        if let Some(p) = pending.filter(|p| p.part_size == part && p.sha256 == sealed.sha256) {
            match store.list_parts(key, &p.upload_id) {
                Ok(held) => {
                    for (n, etag) in &p.parts {
                        if held.get(n).is_some_and(|h| same_etag(&h.etag, etag)) {
                            done.insert(*n, etag.clone());
                        }
                    }
                    resumed = !done.is_empty();
                    upload_id = Some(p.upload_id);
                }
                // Completed by an earlier push that was killed before it
                // recorded the version: the object is there, whole.
                Err(S3Error::NoUpload) if already_there(shared, key, sealed)? => {
                    return Ok(true);
                }
                // Forgotten by the server (aborted, or a server that
                // restarted): start over with a new upload.
                Err(S3Error::NoUpload) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let upload_id = match upload_id {
            Some(id) => id,
            None => {
                let id = store.create_multipart(key, &sealed.sha256)?;
                let pending = PendingUpload {
                    key: key.to_owned(),
                    code: code.to_owned(),
                    stamp: stamp.to_owned(),
                    upload_id: id.clone(),
                    staged: sealed
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    sealed_for: super::seal::sealed_for(&shared.target.recipients),
                    size: sealed.size,
                    sha256: sealed.sha256.clone(),
                    part_size: part,
                    started_at: shared.now.fixed_offset(),
                    parts: Default::default(),
                };
                let c = shared.catalog.lock().unwrap_or_else(|e| e.into_inner());
                c.begin_upload(&pending).map_err(catalog_err)?;
                id
            }
        };
        let count = sealed.size.div_ceil(part);
        for n in 1..=count {
            if done.contains_key(&(n as u32)) {
                continue;
            }
            if let Some(s) = shared.must_stop() {
                return Err(s);
            }
            let offset = (n - 1) * part;
            let len = part.min(sealed.size - offset);
            let (buf, md5) = read_part(&file, offset, len)
                .map_err(|e| local(e, &sealed.path.display().to_string()))?;
            let etag =
                store.upload_part(key, &upload_id, n as u16, &mut || Ok(body(&buf)), len, &md5)?;
            let c = shared.catalog.lock().unwrap_or_else(|e| e.into_inner());
            c.record_part(key, n as u32, &etag).map_err(catalog_err)?;
            done.insert(n as u32, etag);
        }
        let etags: Vec<String> = done.into_values().collect();
        match store.complete(key, &upload_id, &etags) {
            // A completion retried after its answer was lost: the first
            // went through.
            Err(S3Error::NoUpload) if already_there(shared, key, sealed)? => {}
            r => r?,
        }
    }

    // Checked, not assumed: the object the server now shows.
    let (size, sha) = store.head(key)?;
    if size != sealed.size {
        return Err(Stopped::Failed(format!(
            "la copie sur le serveur fait {size} octets au lieu de {}",
            sealed.size
        )));
    }
    match sha {
        Some(s) if s.eq_ignore_ascii_case(&sealed.sha256) => {}
        Some(s) => {
            return Err(Stopped::Failed(format!(
                "la copie sur le serveur a le SHA-256 {s} au lieu de {}",
                sealed.sha256
            )));
        }
        None => {
            return Err(Stopped::Failed(format!(
                "le serveur ne rend pas la métadonnée {} de la copie : elle ne peut pas être contrôlée",
                super::s3::SHA256_META
            )));
        }
    }
    Ok(resumed)
}

/// Whether two ETags are the same: servers differ in quoting them and in
/// the case of their hex digits.
fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"')
        .eq_ignore_ascii_case(b.trim_matches('"'))
}

/// Whether `key` is already the whole of `sealed` on the server (its size
/// and its SHA-256 metadata).
fn already_there(shared: &Shared<'_>, key: &str, sealed: &Sealed) -> Result<bool, Stopped> {
    match shared.target.store.head(key) {
        Ok((size, Some(sha))) => {
            Ok(size == sealed.size && sha.eq_ignore_ascii_case(&sealed.sha256))
        }
        Ok(_) | Err(S3Error::NoKey) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn etags_compare_without_quotes_nor_case() {
        assert!(super::same_etag("\"AbC\"", "abc"));
        assert!(!super::same_etag("\"abc\"", "abd"));
    }
}
