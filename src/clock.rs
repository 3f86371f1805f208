//! The clock, passed in rather than read, so reports and their names are
//! testable: `SVGAUTO_NOW` (documented as a test aid) pins it.

use chrono::{DateTime, Local, NaiveDateTime, TimeZone};

pub trait Clock: Send + Sync {
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

/// Parses `YYYY-MM-DDTHH:MM:SS` (local time) or an RFC 3339 time.
pub fn parse(s: &str) -> Option<DateTime<Local>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Local));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok()?;
    Local.from_local_datetime(&naive).earliest()
}

/// The clock to use: fixed by `SVGAUTO_NOW` if set, else the system's.
pub fn from_env() -> Result<Box<dyn Clock>, String> {
    match std::env::var("SVGAUTO_NOW") {
        Ok(s) => parse(&s)
            .map(|t| Box::new(FixedClock(t)) as Box<dyn Clock>)
            .ok_or_else(|| {
                format!("SVGAUTO_NOW={s} : date invalide (attendu AAAA-MM-JJTHH:MM:SS)")
            }),
        Err(_) => Ok(Box::new(SystemClock)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_local_and_rfc3339() {
        let t = super::parse("2026-11-28T21:00:00").unwrap();
        assert_eq!(t.format("%Y%m%d-%H%M%S").to_string(), "20261128-210000");
        assert!(super::parse("2026-11-28T21:00:00+01:00").is_some());
        assert!(super::parse("hier").is_none());
    }
}
