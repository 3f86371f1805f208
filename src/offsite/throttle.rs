//! The `bandwidth` cap of off-site pushes: its setting read ("2.5MB/s"),
//! and one token bucket all uploads of a push share, applied to the bytes
//! of request bodies as the HTTP client reads them.

use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Reads `offsite.bandwidth`: `""` (no limit), or a number and a unit among
/// `B/s`, `kB/s`, `MB/s`, `GB/s` (powers of 1000) and `KiB/s`, `MiB/s`,
/// `GiB/s` (powers of 1024); a decimal comma is read as a point. Returns
/// bytes per second. Errors: the French reason.
pub fn parse_bandwidth(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    let scale: f64 = match unit {
        "B/s" | "o/s" => 1.0,
        "kB/s" | "KB/s" | "ko/s" | "Ko/s" => 1e3,
        "MB/s" | "Mo/s" => 1e6,
        "GB/s" | "Go/s" => 1e9,
        "KiB/s" | "Kio/s" => 1024.0,
        "MiB/s" | "Mio/s" => 1024.0 * 1024.0,
        "GiB/s" | "Gio/s" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "« {text} » : unité inconnue « {unit} » (exemples : 2.5MB/s, 500kB/s, 10MiB/s)"
            ));
        }
    };
    let value: f64 = number
        .replace(',', ".")
        .parse()
        .map_err(|_| format!("« {text} » : « {number} » n'est pas un nombre"))?;
    let rate = (value * scale).round();
    if !(1.0..=1e13).contains(&rate) {
        return Err(format!(
            "« {text} » : débit hors limites (au moins 1 octet par seconde)"
        ));
    }
    Ok(Some(rate as u64))
}

/// A token bucket shared by every upload of a push: at most `rate` bytes a
/// second on average, with bursts of a tenth of a second.
#[derive(Debug)]
pub struct Throttle {
    rate: u64,
    /// When the bytes granted so far will have been "paid for".
    paid_until: Mutex<Instant>,
}

impl Throttle {
    /// A bucket of `rate` bytes per second.
    pub fn new(rate: u64) -> Throttle {
        Throttle {
            rate: rate.max(1),
            paid_until: Mutex::new(Instant::now()),
        }
    }

    /// Waits until `n` more bytes may go.
    pub fn take(&self, n: usize) {
        let burst = Duration::from_millis(100);
        let wait = {
            let mut paid = self.paid_until.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if *paid + burst < now {
                *paid = now - burst;
            }
            *paid += Duration::from_secs_f64(n as f64 / self.rate as f64);
            paid.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// A request body: reads `inner`, waiting on the throttle if there is one,
/// and counts the bytes handed to the HTTP client.
pub struct Metered<'a, R> {
    inner: R,
    throttle: Option<&'a Throttle>,
    sent: &'a AtomicU64,
}

impl<'a, R: Read> Metered<'a, R> {
    /// `inner`, paced by `throttle`, counted into `sent`.
    pub fn new(inner: R, throttle: Option<&'a Throttle>, sent: &'a AtomicU64) -> Self {
        Metered {
            inner,
            throttle,
            sent,
        }
    }
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Small reads keep the pace even under a low cap.
        let max = if self.throttle.is_some() {
            64 * 1024
        } else {
            buf.len()
        };
        let len = buf.len().min(max);
        let n = self.inner.read(&mut buf[..len])?;
        if let Some(t) = self.throttle {
            t.take(n);
        }
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidths_read_in_both_unit_systems() {
        assert_eq!(parse_bandwidth(""), Ok(None));
        assert_eq!(parse_bandwidth("2.5MB/s"), Ok(Some(2_500_000)));
        assert_eq!(parse_bandwidth("2,5 Mo/s"), Ok(Some(2_500_000)));
        assert_eq!(parse_bandwidth("500kB/s"), Ok(Some(500_000)));
        assert_eq!(parse_bandwidth("10MiB/s"), Ok(Some(10 * 1024 * 1024)));
        assert_eq!(parse_bandwidth("1 GB/s"), Ok(Some(1_000_000_000)));
        for bad in ["fast", "10", "10 Mb", "0MB/s", "-1MB/s", "1.2.3MB/s"] {
            let e = parse_bandwidth(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn the_bucket_paces_what_it_grants() {
        // 1 MB/s: 300 kB after the burst take about 0.2 s at least.
        let t = Throttle::new(1_000_000);
        let start = Instant::now();
        for _ in 0..30 {
            t.take(10_000);
        }
        assert!(
            start.elapsed() >= Duration::from_millis(150),
            "{:?}",
            start.elapsed()
        );
    }
}
