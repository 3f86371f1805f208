//! What the catalog keeps of off-site copies (DESIGN §10, schema step 2):
//! the versions known to be off-site (`offsite_version`), the multipart
//! uploads under way with the parts already accepted (`offsite_upload`,
//! `offsite_part`: what a killed or cut push resumes from), and the restore
//! drills of `offsite verify` (`offsite_drill`).
//!
//! A version is recorded only after the server's copy was checked (size
//! and SHA-256, `offsite::upload`); a part only after the server answered
//! it with its ETag.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Local};
use rusqlite::params;

use super::{Catalog, CatalogError};
use crate::clock::rfc3339;

/// A version known to be off-site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsiteVersion {
    /// The dossier's code.
    pub code: String,
    /// The backup time in UTC, `YYYYMMDD-HHMMSS` (the key's folder).
    pub stamp: String,
    /// The object's key, prefix included.
    pub key: String,
    /// The object's size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the object's bytes.
    pub sha256: String,
    /// When the upload was checked.
    pub uploaded_at: DateTime<FixedOffset>,
    /// When a drill last downloaded, decrypted and checked it.
    pub verified_at: Option<DateTime<FixedOffset>>,
}

/// A multipart upload under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The object's key, prefix included.
    pub key: String,
    /// The dossier's code.
    pub code: String,
    /// The version's stamp (see [`OffsiteVersion::stamp`]).
    pub stamp: String,
    /// The server's upload id.
    pub upload_id: String,
    /// The copy being sent: its file name in the staging folder
    /// (`<backup dir>/offsite/`), whatever path the base was opened by.
    pub staged: String,
    /// Who that copy is encrypted to (`offsite::seal::sealed_for`): an
    /// upload is resumed only with the recipients of the settings.
    pub sealed_for: String,
    /// Its size in bytes.
    pub size: u64,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// Bytes per part (the last part may be shorter).
    pub part_size: u64,
    /// When the upload was created.
    pub started_at: DateTime<FixedOffset>,
    /// Parts the server accepted: part number (1-based) → ETag.
    pub parts: BTreeMap<u32, String>,
}

/// One restore drill (`offsite verify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drill {
    /// When it ran.
    pub at: DateTime<FixedOffset>,
    /// Versions downloaded and checked.
    pub checked: u64,
    /// Of those, how many were damaged or could not be read.
    pub damaged: u64,
}

fn time(s: &str) -> DateTime<FixedOffset> {
    // Written by this module with `rfc3339::text`; a value that does not
    // read (edited by hand) counts as the epoch, which only makes the
    // version or upload look old.
    DateTime::parse_from_rfc3339(s).unwrap_or_default()
}

impl Catalog {
    /// Whether the catalog has the tables of schema step 2: a catalog
    /// opened read-only (`status`) may be at an older version, which has no
    /// off-site copies yet.
    fn has_offsite_tables(&self) -> Result<bool, CatalogError> {
        super::migrations::has_table(&self.conn, "offsite_version").map_err(|e| self.err(e))
    }

    /// Every version known to be off-site, by code then stamp.
    pub fn offsite_versions(&self) -> Result<Vec<OffsiteVersion>, CatalogError> {
        if !self.has_offsite_tables()? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT code, stamp, key, size, sha256, uploaded_at, verified_at
                 FROM offsite_version ORDER BY code, stamp",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(OffsiteVersion {
                    code: r.get(0)?,
                    stamp: r.get(1)?,
                    key: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    sha256: r.get(4)?,
                    uploaded_at: time(&r.get::<_, String>(5)?),
                    verified_at: r.get::<_, Option<String>>(6)?.as_deref().map(time),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Records a version checked off-site, and forgets its upload's state.
    pub fn record_offsite_version(&self, v: &OffsiteVersion) -> Result<(), CatalogError> {
        let tx = self.transaction()?;
        tx.execute(
            "INSERT INTO offsite_version (code, stamp, key, size, sha256, uploaded_at, verified_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(code, stamp) DO UPDATE SET key = ?3, size = ?4, sha256 = ?5, uploaded_at = ?6",
            params![
                v.code,
                v.stamp,
                v.key,
                v.size as i64,
                v.sha256,
                rfc3339::text(&v.uploaded_at),
                v.verified_at.as_ref().map(rfc3339::text)
            ],
        )
        .map_err(|e| self.err(e))?;
        tx.execute("DELETE FROM offsite_part WHERE key = ?1", [&v.key])
            .map_err(|e| self.err(e))?;
        tx.execute("DELETE FROM offsite_upload WHERE key = ?1", [&v.key])
            .map_err(|e| self.err(e))?;
        self.commit(tx)
    }

    /// Forgets a version deleted off-site (retention).
    pub fn forget_offsite_version(&self, code: &str, stamp: &str) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "DELETE FROM offsite_version WHERE code = ?1 AND stamp = ?2",
                params![code, stamp],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records that a drill decrypted and checked a version.
    pub fn mark_offsite_verified(
        &self,
        code: &str,
        stamp: &str,
        at: DateTime<Local>,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "UPDATE offsite_version SET verified_at = ?3 WHERE code = ?1 AND stamp = ?2",
                params![code, stamp, rfc3339::text(&at)],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Every multipart upload under way, with its accepted parts.
    pub fn pending_uploads(&self) -> Result<Vec<PendingUpload>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT key, code, stamp, upload_id, staged, size, sha256, part_size, started_at, sealed_for
                 FROM offsite_upload ORDER BY code, stamp",
            )
            .map_err(|e| self.err(e))?;
        let mut uploads: Vec<PendingUpload> = stmt
            .query_map([], |r| {
                Ok(PendingUpload {
                    key: r.get(0)?,
                    code: r.get(1)?,
                    stamp: r.get(2)?,
                    upload_id: r.get(3)?,
                    staged: r.get(4)?,
                    size: r.get::<_, i64>(5)? as u64,
                    sha256: r.get(6)?,
                    part_size: r.get::<_, i64>(7)? as u64,
                    started_at: time(&r.get::<_, String>(8)?),
                    sealed_for: r.get(9)?,
                    parts: BTreeMap::new(),
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut stmt = self
            .conn
            .prepare("SELECT key, part, etag FROM offsite_part")
            .map_err(|e| self.err(e))?;
        let parts = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        for p in parts {
            let (key, part, etag) = p.map_err(|e| self.err(e))?;
            if let Some(u) = uploads.iter_mut().find(|u| u.key == key) {
                u.parts.insert(part, etag);
            }
        }
        Ok(uploads)
    }

    /// Records a multipart upload just created (its parts: none yet).
    pub fn begin_upload(&self, u: &PendingUpload) -> Result<(), CatalogError> {
        let tx = self.transaction()?;
        tx.execute("DELETE FROM offsite_part WHERE key = ?1", [&u.key])
            .map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT OR REPLACE INTO offsite_upload (key, code, stamp, upload_id, staged, size, sha256, part_size, started_at, sealed_for)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                u.key,
                u.code,
                u.stamp,
                u.upload_id,
                u.staged,
                u.size as i64,
                u.sha256,
                u.part_size as i64,
                rfc3339::text(&u.started_at),
                u.sealed_for
            ],
        )
        .map_err(|e| self.err(e))?;
        self.commit(tx)
    }

    /// Records a part the server accepted.
    pub fn record_part(&self, key: &str, part: u32, etag: &str) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO offsite_part (key, part, etag) VALUES (?1, ?2, ?3)",
                params![key, part, etag],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Forgets an upload (aborted, or superseded by a new one).
    pub fn drop_upload(&self, key: &str) -> Result<(), CatalogError> {
        let tx = self.transaction()?;
        tx.execute("DELETE FROM offsite_part WHERE key = ?1", [key])
            .map_err(|e| self.err(e))?;
        tx.execute("DELETE FROM offsite_upload WHERE key = ?1", [key])
            .map_err(|e| self.err(e))?;
        self.commit(tx)
    }

    /// When dossier `code`'s last backup was taken (`None`: never, or a
    /// time that does not read), read now: a push checks, around sealing an
    /// archive, that it is still the dossier's last backup.
    pub fn last_backup_of(
        &self,
        code: &str,
    ) -> Result<Option<DateTime<FixedOffset>>, CatalogError> {
        use rusqlite::OptionalExtension;
        let t: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT last_backup_at FROM dossier WHERE code = ?1",
                [code],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(t.flatten()
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok()))
    }

    /// Records a restore drill.
    pub fn record_drill(
        &self,
        at: DateTime<Local>,
        checked: u64,
        damaged: u64,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO offsite_drill (at, checked, damaged) VALUES (?1, ?2, ?3)",
                params![rfc3339::text(&at), checked as i64, damaged as i64],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// The last restore drill, if any ran.
    pub fn last_drill(&self) -> Result<Option<Drill>, CatalogError> {
        use rusqlite::OptionalExtension;
        if !self.has_offsite_tables()? {
            return Ok(None);
        }
        self.conn
            .query_row(
                "SELECT at, checked, damaged FROM offsite_drill ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(Drill {
                        at: time(&r.get::<_, String>(0)?),
                        checked: r.get::<_, i64>(1)? as u64,
                        damaged: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}
