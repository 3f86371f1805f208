//! File times as the file system gives them: seconds and nanoseconds since
//! the Unix epoch, the change time an application cannot set back, and the
//! tick below which a stamp proves nothing (git's "racy clean" problem).

use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A modification time as seconds and nanoseconds since the Unix epoch
/// (negative seconds for times before 1970).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mtime {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within the second (below 1 000 000 000).
    pub nanos: u32,
}

impl Mtime {
    /// The time `t`.
    pub fn from_system(t: SystemTime) -> Mtime {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Mtime {
                secs: d.as_secs() as i64,
                nanos: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let (mut secs, mut nanos) = (-(d.as_secs() as i64), d.subsec_nanos());
                if nanos > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - nanos;
                }
                Mtime { secs, nanos }
            }
        }
    }

    /// The modification time of `meta` (the epoch where the system has
    /// none).
    pub fn of(meta: &fs::Metadata) -> Mtime {
        meta.modified()
            .map(Mtime::from_system)
            .unwrap_or(Mtime { secs: 0, nanos: 0 })
    }

    /// The time of the file's last change of content or metadata, which an
    /// application cannot set back: `ctime` on Unix. Elsewhere the
    /// modification time (Windows' change time is not in the standard
    /// library's metadata).
    pub fn changed(meta: &fs::Metadata) -> Mtime {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Mtime {
                secs: meta.ctime(),
                nanos: meta.ctime_nsec().clamp(0, 999_999_999) as u32,
            }
        }
        #[cfg(not(unix))]
        {
            Mtime::of(meta)
        }
    }

    /// This time as a `SystemTime`.
    /// (Every `Mtime` is read from a `SystemTime` of this system, so it
    /// converts back; the epoch stands for one that would not.)
    pub fn to_system(self) -> SystemTime {
        crate::sys::time::checked_system_time(self.secs, self.nanos).unwrap_or(UNIX_EPOCH)
    }

    /// Whether a file whose last change is stamped `self` could still be
    /// changed again without its stamp moving, as seen from a read that
    /// started at `read`: the stamp is not older than `read` by more than
    /// the file system's tick (plus a margin for a file server's clock), or
    /// it is in the future. Stamps with no sub-second part come from a file
    /// system counting whole seconds (ext4 with 128-byte inodes, ext3, FAT
    /// and exFAT, HFS+, many NAS shares): its tick is taken as
    /// [`COARSE_TICK`]; others as [`FINE_TICK`].
    pub fn is_racy(self, read: SystemTime) -> bool {
        let tick = if self.nanos == 0 {
            COARSE_TICK
        } else {
            FINE_TICK
        };
        match read.checked_sub(tick) {
            Some(limit) => self.to_system() >= limit,
            None => true,
        }
    }
}

/// How long after a change a whole-second stamp still proves nothing: FAT
/// counts modification times in 2-second steps, rounded either way, and a
/// NAS clock may be a little off.
pub const COARSE_TICK: Duration = Duration::from_secs(3);

/// The same for file systems with sub-second stamps: Linux stamps files
/// from a clock that advances once per timer tick (1 to 10 ms), Windows
/// every 15.6 ms; the rest is a margin for a file server's clock.
pub const FINE_TICK: Duration = Duration::from_millis(100);

/// The time `secs`.`nanos` after the Unix epoch (before it for negative
/// `secs`), if this system can hold it.
pub fn checked_system_time(secs: i64, nanos: u32) -> Option<SystemTime> {
    if nanos >= 1_000_000_000 {
        return None;
    }
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(secs as u64, nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))?
            .checked_add(Duration::from_nanos(nanos.into()))
    }
}

/// The time `secs`.`nanos` after the Unix epoch. Panics where
/// [`checked_system_time`] is `None`: for times an archive's manifest was
/// checked to hold (`archive::manifest::check_times` refuses the others).
pub fn system_time(secs: i64, nanos: u32) -> SystemTime {
    checked_system_time(secs, nanos).expect("a time checked by check_times")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole-second stamps (a coarse file system) prove nothing for 3 s,
    /// sub-second ones for 100 ms; a stamp in the future never proves
    /// anything.
    #[test]
    fn racy_stamps_are_those_within_a_tick_of_the_read() {
        let read = UNIX_EPOCH + std::time::Duration::new(1_000_000, 500_000_000);
        let at = |secs: i64, nanos: u32| Mtime { secs, nanos };
        assert!(at(1_000_000, 0).is_racy(read));
        assert!(at(999_998, 0).is_racy(read));
        assert!(!at(999_997, 0).is_racy(read));
        assert!(at(1_000_000, 450_000_000).is_racy(read));
        assert!(!at(1_000_000, 350_000_000).is_racy(read));
        assert!(at(1_000_001, 1).is_racy(read), "the future proves nothing");
        assert!(at(2_000_000, 0).is_racy(read));
        assert!(!at(-5, 0).is_racy(read));
    }

    #[test]
    fn mtime_before_epoch() {
        let t = UNIX_EPOCH - std::time::Duration::new(1, 250_000_000);
        assert_eq!(
            Mtime::from_system(t),
            Mtime {
                secs: -2,
                nanos: 750_000_000
            }
        );
    }

    #[test]
    fn times_before_1970() {
        let t = system_time(-2, 750_000_000);
        assert_eq!(
            Mtime::from_system(t),
            Mtime {
                secs: -2,
                nanos: 750_000_000
            }
        );
    }
}
