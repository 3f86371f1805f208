//! Where off-site copies go: the `s3://BUCKET/PREFIX` of the settings, and
//! the key of each version, `<PREFIX>/<CODE>/<YYYYMMDD-HHMMSS>/B<CODE>.SVG.age`
//! (DESIGN §10), the time being the backup's, in UTC.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// A bucket and the prefix under it (no slash at either end; may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The bucket's name.
    pub bucket: String,
    /// The prefix of every key, without slashes at its ends.
    pub prefix: String,
}

/// The suffix of an encrypted version's file name.
pub const AGE_SUFFIX: &str = ".age";

/// The format of a version's stamp, the backup time in UTC.
const STAMP: &str = "%Y%m%d-%H%M%S";

impl Location {
    /// Reads `s3://BUCKET/PREFIX` (the prefix may be empty). Errors: the
    /// French reason, for a message naming the setting.
    pub fn parse(url: &str) -> Result<Location, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("« {url} » ne commence pas par s3:// (exemple : s3://sauvegardes-cabinet/agence-lyon)"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "« {url} » ne nomme pas de bucket (exemple : s3://sauvegardes-cabinet/agence-lyon)"
            ));
        }
        if !bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(format!(
                "le nom de bucket « {bucket} » n'est pas permis (lettres, chiffres, « - », « . » seulement)"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|s| (s.is_empty() && !prefix.is_empty()) || s == "." || s == "..")
        {
            return Err(format!(
                "le préfixe « {prefix} » a un segment vide, « . » ou « .. »"
            ));
        }
        Ok(Location {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// `s3://BUCKET/PREFIX`, as messages show it.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// What every key of this location starts with: `PREFIX/`, or nothing.
    pub fn key_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }

    /// What every version of dossier `code` starts with.
    pub fn dossier_prefix(&self, code: &str) -> String {
        format!("{}{code}/", self.key_prefix())
    }

    /// The key of dossier `code`'s version `stamp`; `encrypted`: ends in
    /// `.SVG.age`, else `.SVG`.
    pub fn key(&self, code: &str, stamp: &str, encrypted: bool) -> String {
        let name = crate::base::file_name(code);
        let suffix = if encrypted { AGE_SUFFIX } else { "" };
        format!("{}{stamp}/{name}{suffix}", self.dossier_prefix(code))
    }
}

/// A version's stamp: `t` in UTC as `YYYYMMDD-HHMMSS`.
pub fn stamp<Tz: TimeZone>(t: &DateTime<Tz>) -> String {
    t.with_timezone(&Utc).format(STAMP).to_string()
}

/// The time a stamp stands for, if it is one.
pub fn stamp_time(stamp: &str) -> Option<DateTime<Utc>> {
    if stamp.len() != 15 {
        return None;
    }
    NaiveDateTime::parse_from_str(stamp, STAMP)
        .ok()
        .map(|t| t.and_utc())
}

/// A key read back: `<prefix>/<code>/<stamp>/B<code>.SVG[.age]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionKey {
    /// Everything before `/<code>/` (empty at the bucket's top).
    pub prefix: String,
    /// The dossier's code.
    pub code: String,
    /// The version's stamp.
    pub stamp: String,
    /// Whether the object is age-encrypted (`.SVG.age`).
    pub encrypted: bool,
}

impl VersionKey {
    /// Reads a key written by [`Location::key`]; `None` for any other
    /// object (svgauto's keys are read from the right, so a prefix may hold
    /// slashes).
    pub fn parse(key: &str) -> Option<VersionKey> {
        let mut parts = key.rsplitn(4, '/');
        let name = parts.next()?;
        let stamp = parts.next()?;
        let code = parts.next()?;
        let prefix = parts.next().unwrap_or("");
        stamp_time(stamp)?;
        let (base_name, encrypted) = match name.strip_suffix(AGE_SUFFIX) {
            Some(n) => (n, true),
            None => (name, false),
        };
        if code.is_empty() || base_name != crate::base::file_name(code) {
            return None;
        }
        Some(VersionKey {
            prefix: prefix.to_owned(),
            code: code.to_owned(),
            stamp: stamp.to_owned(),
            encrypted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_and_refused_with_a_reason() {
        let l = Location::parse("s3://bkt/agence/lyon/").unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str()),
            ("bkt", "agence/lyon")
        );
        assert_eq!(l.url(), "s3://bkt/agence/lyon");
        let top = Location::parse("s3://bkt").unwrap();
        assert_eq!(top.prefix, "");
        assert_eq!(
            top.key("X1", "20261130-201500", true),
            "X1/20261130-201500/BX1.SVG.age"
        );
        for bad in [
            "bkt/x",
            "s3://",
            "s3:///x",
            "s3://b b/x",
            "s3://b/a//c",
            "s3://b/../x",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_go_both_ways() {
        let l = Location::parse("s3://bkt/a/b").unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 20, 15, 0).unwrap();
        let s = stamp(&t.with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap()));
        assert_eq!(s, "20261130-201500");
        let k = l.key("821516", &s, true);
        assert_eq!(k, "a/b/821516/20261130-201500/B821516.SVG.age");
        let v = VersionKey::parse(&k).unwrap();
        assert_eq!(
            v,
            VersionKey {
                prefix: "a/b".into(),
                code: "821516".into(),
                stamp: s.clone(),
                encrypted: true
            }
        );
        assert_eq!(stamp_time(&v.stamp), Some(t));
        assert!(!VersionKey::parse(&l.key("X", &s, false)).unwrap().encrypted);
        for other in [
            "a/b/821516/20261130-201500/B821517.SVG.age",
            "a/b/821516/2026113-201500/B821516.SVG",
            "a/b/821516/20261130-201500/notes.txt",
            "B821516.SVG",
        ] {
            assert_eq!(VersionKey::parse(other), None, "{other}");
        }
    }
}
