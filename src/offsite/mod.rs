//! Off-site copies (DESIGN §10): every archive the batch writes, also in
//! S3-compatible object storage, encrypted before it leaves the server to
//! the firm's age public keys only.
//!
//! ```text
//! Target (settings checked) ─► push ──► seal (age → staged file, SHA-256)
//!                               │  └──► upload (one PUT, or multipart
//!                               │        resumed from the catalog) ─► s3
//!                               └─► retention (restic's forget rules)
//! location: s3://BUCKET/PREFIX and the keys; throttle: the bandwidth cap
//! ```
//!
//! The commands that read copies back (`offsite status`, `restore`,
//! `verify`) are in `commands::offsite`; `run` calls [`push()`] after the
//! local batch when `after_run` is set.

pub mod location;
pub mod push;
pub mod retention;
pub mod s3;
pub mod seal;
pub mod throttle;
mod upload;

use std::fmt;

use crate::config;

pub use location::{Location, VersionKey};
pub use push::{DossierPush, PushReport, Pushed, push};
pub use s3::{S3Error, Store};

/// The size of the parts of a multipart upload: archives up to this size go
/// in one request. S3 wants at least 5 MiB but for the last part, and at
/// most 10,000 parts: archives above 80 GiB get bigger parts
/// ([`part_size`]).
pub const PART_SIZE: u64 = 8 * 1024 * 1024;

/// The part size for an object of `size` bytes: [`PART_SIZE`], or larger
/// (whole MiB) when 10,000 parts would not hold it.
pub fn part_size(size: u64) -> u64 {
    let mib = 1024 * 1024;
    PART_SIZE.max(size.div_ceil(10_000).div_ceil(mib) * mib)
}

/// `[offsite]` checked: where copies go, how, and the credentials read
/// from the environment variables the settings name.
#[derive(Debug)]
pub struct Target {
    /// The bucket and prefix.
    pub location: Location,
    /// The client of the bucket.
    pub store: Store,
    /// The public keys; empty when `allow_plain` lets copies go unencrypted.
    pub recipients: seal::Recipients,
    /// `bandwidth`, in bytes per second.
    pub bandwidth: Option<u64>,
    /// `keep_daily`, `keep_weekly`, `keep_monthly`.
    pub policy: retention::Policy,
    /// `after_run`.
    pub after_run: bool,
}

/// Why `[offsite]` cannot be used (exit 2): the setting named and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError(pub String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

impl Target {
    /// The target of `settings`, `None` when `url` is empty (no off-site
    /// copies). `env` reads an environment variable (the process's, or a
    /// test's). `url_override`: `offsite status --url`, which needs no
    /// recipients.
    pub fn from_settings(
        s: &config::Offsite,
        env: &dyn Fn(&str) -> Option<String>,
        url_override: Option<&str>,
    ) -> Result<Option<Target>, TargetError> {
        let url = url_override.unwrap_or(&s.url);
        if url.trim().is_empty() {
            return Ok(None);
        }
        let bad = |key: &str, why: String| TargetError(format!("offsite.{key} : {why}"));
        let location = Location::parse(url.trim()).map_err(|w| bad("url", w))?;
        let recipients = seal::parse_recipients(&s.recipients).map_err(|w| bad("recipients", w))?;
        if recipients.is_empty() && !s.allow_plain && url_override.is_none() {
            return Err(bad(
                "recipients",
                "aucune clé publique age : les copies partiraient en clair. Donner au moins une clé (age-keygen), ou allow_plain = true pour l'accepter".into(),
            ));
        }
        let bandwidth = throttle::parse_bandwidth(&s.bandwidth).map_err(|w| bad("bandwidth", w))?;
        if s.region.trim().is_empty() {
            return Err(bad(
                "region",
                "vide : la région du fournisseur est nécessaire à la signature des requêtes (us-east-1 si le fournisseur n'en a pas)".into(),
            ));
        }
        let var = |key: &str, name: &str| -> Result<String, TargetError> {
            if name.trim().is_empty() {
                return Err(bad(
                    key,
                    "vide : nommer la variable d'environnement qui tient la clé".into(),
                ));
            }
            match env(name) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(bad(
                    key,
                    format!(
                        "la variable d'environnement {name} n'est pas définie (elle doit tenir la clé ; la clé elle-même n'est jamais écrite dans les réglages)"
                    ),
                )),
            }
        };
        let access = var("access_key_env", &s.access_key_env)?;
        let secret = var("secret_key_env", &s.secret_key_env)?;
        let store = Store::new(&s.endpoint, &s.region, &location.bucket, &access, &secret)
            .map_err(|w| bad("endpoint", w))?;
        Ok(Some(Target {
            location,
            store,
            recipients,
            bandwidth,
            policy: retention::Policy {
                daily: s.keep_daily,
                weekly: s.keep_weekly,
                monthly: s.keep_monthly,
            },
            after_run: s.after_run,
        }))
    }

    /// Whether copies are encrypted (`.SVG.age`).
    pub fn encrypted(&self) -> bool {
        !self.recipients.is_empty()
    }

    /// What a bucket-wide failure means for an administrator: the error,
    /// with the bucket and where the credentials come from.
    pub fn unusable(&self, e: &S3Error, s: &config::Offsite) -> String {
        match e {
            S3Error::Denied { .. } => format!(
                "{} : {e} (variables {} et {})",
                self.location.url(),
                s.access_key_env,
                s.secret_key_env
            ),
            S3Error::NoBucket => format!(
                "{} : le bucket « {} » n'existe pas sur le serveur S3 (le créer, ou corriger offsite.url)",
                self.location.url(),
                self.location.bucket
            ),
            e => format!("{} : {e}", self.location.url()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_stay_within_s3s_ten_thousand() {
        assert_eq!(part_size(1), PART_SIZE);
        assert_eq!(part_size(80_000 * 1024 * 1024), PART_SIZE);
        let big = 200 * 1024 * 1024 * 1024u64;
        assert!(big.div_ceil(part_size(big)) <= 10_000);
    }
}
