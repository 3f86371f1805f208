//! The clock, passed in rather than read, so reports and their names are
//! testable: `SVGAUTO_NOW` (documented as a test aid) pins it. Also
//! durations as the command line writes them (`2h30m`), read by `run
//! --max-duration` and written back by the run's report and `schedule`.
//!
//! The duration syntax is hand-written rather than `humantime`'s: that
//! crate prints `2h 30m` (a space, which a crontab line would have to
//! quote), reads `1H` as an error and `2d`/`1.5h`-like forms this syntax
//! refuses; the accepted inputs and the printed outputs are pinned by tests
//! and by the scheduled entries users already have.
//!
//! And the text form of a time ([`rfc3339`]), for the catalog and the JSON
//! outputs.

use std::time::Duration;

use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
use thiserror::Error;

/// Where the current time comes from.
pub trait Clock: Send + Sync {
    /// The time now, local.
    fn now(&self) -> DateTime<Local>;
}

/// The system clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Local> {
        Local::now()
    }
}

/// A clock that always says the same time.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Local>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Local> {
        self.0
    }
}

/// `SVGAUTO_NOW` holds something that is not a time.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("SVGAUTO_NOW={0} : date invalide (attendu AAAA-MM-JJTHH:MM:SS)")]
pub struct ClockError(pub String);

/// Parses `YYYY-MM-DDTHH:MM:SS` (local time) or an RFC 3339 time.
pub fn parse(s: &str) -> Option<DateTime<Local>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Local));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok()?;
    Local.from_local_datetime(&naive).earliest()
}

/// The clock to use: fixed by `SVGAUTO_NOW` if set, else the system's.
pub fn from_env() -> Result<Box<dyn Clock>, ClockError> {
    match std::env::var("SVGAUTO_NOW") {
        Ok(s) => parse(&s)
            .map(|t| Box::new(FixedClock(t)) as Box<dyn Clock>)
            .ok_or(ClockError(s)),
        Err(_) => Ok(Box::new(SystemClock)),
    }
}

/// How svgauto writes a time, in the catalog and in the JSON of the run's
/// report and of `status`: RFC 3339 with its offset, the fraction of a
/// second only when it has one (`2026-11-28T21:00:05+01:00`, chrono's
/// `to_rfc3339`). Between modules times are typed (`DateTime`); this is
/// where they become text. (A manifest's file times have their own form:
/// `archive::manifest`.)
pub mod rfc3339 {
    use std::fmt::Display;

    use chrono::{DateTime, TimeZone};
    use serde::Serializer;

    /// `t` as text. Never `Z` for UTC (chrono's own `Serialize` writes `Z`):
    /// `+00:00`, as the catalogs and reports have always held.
    pub fn text<Tz: TimeZone>(t: &DateTime<Tz>) -> String
    where
        Tz::Offset: Display,
    {
        t.to_rfc3339()
    }

    /// For `#[serde(serialize_with = "…")]` on a time.
    pub fn serialize<Tz: TimeZone, S: Serializer>(t: &DateTime<Tz>, s: S) -> Result<S::Ok, S::Error>
    where
        Tz::Offset: Display,
    {
        s.serialize_str(&text(t))
    }

    /// For `#[serde(serialize_with = "…")]` on an optional time (`null`
    /// when absent, unless the field is skipped).
    pub fn option<Tz: TimeZone, S: Serializer>(
        t: &Option<DateTime<Tz>>,
        s: S,
    ) -> Result<S::Ok, S::Error>
    where
        Tz::Offset: Display,
    {
        match t {
            Some(t) => serialize(t, s),
            None => s.serialize_none(),
        }
    }
}

/// A duration the command line cannot read (the text as given).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("durée invalide : {0:?} (exemples : 2h30m, 90m, 45s)")]
pub struct DurationError(pub String);

/// Parses `2h30m`, `90m`, `45s`, `1h`: numbers each followed by `h`, `m` or
/// `s` (either case), at least one.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError(s.to_owned());
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut parts = 0;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
        parts += 1;
    }
    if parts == 0 || !digits.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// Writes a duration back the way [`parse_duration`] reads it: `2h30m`,
/// `45s`, `0s` (whole seconds).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_and_rfc3339() {
        let t = parse("2026-11-28T21:00:00").unwrap();
        assert_eq!(t.format("%Y%m%d-%H%M%S").to_string(), "20261128-210000");
        assert!(parse("2026-11-28T21:00:00+01:00").is_some());
        assert!(parse("hier").is_none());
    }

    #[test]
    fn a_time_is_written_with_its_offset_and_never_z() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-28T21:00:05+01:00").unwrap();
        assert_eq!(rfc3339::text(&t), "2026-11-28T21:00:05+01:00");
        let utc = chrono::DateTime::parse_from_rfc3339("2026-11-28T20:00:05.120Z").unwrap();
        assert_eq!(rfc3339::text(&utc), "2026-11-28T20:00:05.120+00:00");
        let json = |t: &chrono::DateTime<chrono::FixedOffset>| {
            let mut out = Vec::new();
            rfc3339::serialize(t, &mut serde_json::Serializer::new(&mut out)).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(json(&utc), "\"2026-11-28T20:00:05.120+00:00\"");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2h30m"), Ok(Duration::from_secs(9000)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1H"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for d in ["2h30m", "90m", "45s", "0s", "1h1s", "26h"] {
            let parsed = parse_duration(d).unwrap();
            assert_eq!(parse_duration(&format_duration(parsed)), Ok(parsed));
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        for bad in [
            "",
            "2",
            "2h30",
            "h",
            "2j",
            "-1h",
            "1.5h",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_duration("2j").unwrap_err().to_string(),
            "durée invalide : \"2j\" (exemples : 2h30m, 90m, 45s)"
        );
    }
}
