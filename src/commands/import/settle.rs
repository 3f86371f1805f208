//! Whether a file dropped into `maj/` is still being copied: `import` only
//! judges a file that has settled, and leaves the others for its next pass.
//!
//! Nothing on Linux says whether another process still has a file open for
//! writing (a copy over SMB is written by the file server itself), so
//! settled is judged from what the file system shows, two ways:
//!
//! 1. **Quiet**: its last change is at least [`QUIET`] old, by the clock of
//!    the file system that holds `maj/` (the time it stamps on a file
//!    svgauto writes there: a NAS whose clock differs from this machine's
//!    is judged by its own). On Unix the last change is the status-change
//!    time (ctime): every write moves it, and no program can set it back —
//!    a copy that gives the file its source's old modification time
//!    (`cp -p`, robocopy, Explorer) still shows a fresh ctime while it
//!    writes and when it sets that time. Elsewhere it is the modification
//!    time (a time in the future tells nothing there, and is not waited
//!    for).
//! 2. **Still**: its size, times and identity are the same after a pause of
//!    [`PAUSE`] (one pause for all the files of a pass). This is what
//!    catches a copy still running on a file system whose times cannot be
//!    trusted (FAT and exFAT keep no ctime; a copy writes more than once
//!    every two seconds).
//!
//! A copier that stalls longer than both and then resumes is beyond what
//! can be seen; `import` checks the file once more after judging it, and
//! takes back a refused file that changes afterwards (see `restore`).

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How long a file must have been left alone before `import` judges it:
/// long enough for the 2-second times of FAT/exFAT plus a copier's short
/// stalls (flushes, SMB credit waits), short enough that a scheduled import
/// is not held back.
pub const QUIET: Duration = Duration::from_secs(5);

/// The pause between the two looks at a file: at least the 2-second time
/// resolution of FAT/exFAT, so a copy still writing shows.
pub const PAUSE: Duration = Duration::from_secs(2);

/// What can be seen of a file without reading it; two equal looks mean
/// nothing visible happened to it in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    /// In bytes.
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// Status-change time (Unix ctime); `None` elsewhere.
    pub changed: Option<SystemTime>,
    /// Device and inode (Unix); `None` elsewhere.
    pub id: Option<(u64, u64)>,
}

impl Look {
    /// Looks at `path` (a symbolic link is looked at, not followed).
    pub fn of(path: &Path) -> io::Result<Look> {
        Ok(Look::from_meta(&fs::symlink_metadata(path)?))
    }

    /// From metadata already read.
    pub fn from_meta(m: &fs::Metadata) -> Look {
        #[cfg(unix)]
        let (changed, id) = {
            use std::os::unix::fs::MetadataExt;
            (
                crate::sys::time::system_time(m.ctime(), m.ctime_nsec() as u32).into(),
                Some((m.dev(), m.ino())),
            )
        };
        #[cfg(not(unix))]
        let (changed, id) = (None, None);
        Look {
            size: m.len(),
            modified: m.modified().ok(),
            changed,
            id,
        }
    }

    /// When something last happened to the file, as far as can be trusted:
    /// the ctime on Unix, else the modification time.
    pub fn last_change(&self) -> Option<SystemTime> {
        self.changed.or(self.modified)
    }

    /// Whether the last change is less than `quiet` before `now` (a time of
    /// the same file system). A ctime after `now` (the clock went back) is
    /// recent; a modification time after `now`, where there is no ctime,
    /// can be set by any program and tells nothing: not recent.
    pub fn is_recent(&self, now: SystemTime, quiet: Duration) -> bool {
        match self.last_change() {
            None => false,
            Some(t) => match now.duration_since(t) {
                Ok(age) => age < quiet,
                Err(_) => self.changed.is_some(),
            },
        }
    }
}

impl Look {
    /// One line of text holding the whole look, for [`Look::parse`]:
    /// `taille=<bytes> modifié=<s.ns> changé=<s.ns> id=<dev>:<ino>` (`-`
    /// for what is not known).
    pub fn to_line(&self) -> String {
        let t = |t: Option<SystemTime>| match t.map(|t| t.duration_since(SystemTime::UNIX_EPOCH)) {
            Some(Ok(d)) => format!("{}.{:09}", d.as_secs(), d.subsec_nanos()),
            _ => "-".into(),
        };
        let id = self
            .id
            .map_or_else(|| "-".into(), |(d, i)| format!("{d}:{i}"));
        format!(
            "taille={} modifié={} changé={} id={id}",
            self.size,
            t(self.modified),
            t(self.changed)
        )
    }

    /// The look [`Look::to_line`] wrote, if `line` is one.
    pub fn parse(line: &str) -> Option<Look> {
        let mut f = std::collections::HashMap::new();
        for part in line.split_whitespace() {
            let (k, v) = part.split_once('=')?;
            f.insert(k, v);
        }
        let time = |v: &str| -> Option<Option<SystemTime>> {
            if v == "-" {
                return Some(None);
            }
            let (s, ns) = v.split_once('.')?;
            Some(Some(
                SystemTime::UNIX_EPOCH + Duration::new(s.parse().ok()?, ns.parse().ok()?),
            ))
        };
        let id = match *f.get("id")? {
            "-" => None,
            v => {
                let (d, i) = v.split_once(':')?;
                Some((d.parse().ok()?, i.parse().ok()?))
            }
        };
        Some(Look {
            size: f.get("taille")?.parse().ok()?,
            modified: time(f.get("modifié")?)?,
            changed: time(f.get("changé")?)?,
            id,
        })
    }
}

/// The current time of the file system holding `dir`: the time it stamps
/// on a file it creates there, `.svgauto-horloge` (removed at once; one a
/// killed import left is replaced). This machine's clock if the file cannot
/// be created (then the move out of `dir` fails anyway, and says so). The
/// caller holds the base's run lock, so no other import uses the name.
pub fn fs_now(dir: &Path) -> SystemTime {
    let probe = dir.join(format!("{}horloge", crate::base::TEMP_PREFIX));
    let _ = fs::remove_file(&probe);
    let seen = fs::File::options()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|f| f.metadata())
        .map(|m| Look::from_meta(&m));
    let _ = fs::remove_file(&probe);
    match seen {
        Ok(l) => l.last_change().unwrap_or_else(SystemTime::now),
        Err(_) => SystemTime::now(),
    }
}

/// The quiet period, [`QUIET`] unless `SVGAUTO_IMPORT_QUIET` (whole
/// seconds, a test aid like `SVGAUTO_NOW`) says otherwise; the pause is
/// never longer than it.
pub fn periods() -> (Duration, Duration) {
    let quiet = std::env::var("SVGAUTO_IMPORT_QUIET")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(QUIET, Duration::from_secs);
    (quiet, PAUSE.min(quiet))
}

/// "5 s", for messages.
pub fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn look(modified: u64, changed: Option<u64>) -> Look {
        Look {
            size: 12,
            modified: Some(at(modified)),
            changed: changed.map(at),
            id: None,
        }
    }

    #[test]
    fn a_copy_that_keeps_the_source_time_is_recent_by_its_ctime() {
        // `cp -p` of a file from last year, still being written: the
        // modification time is old, the ctime is now.
        let l = look(T0 - 365 * 86_400, Some(T0 - 1));
        assert!(l.is_recent(at(T0), QUIET));
        assert!(!l.is_recent(at(T0 + 5), QUIET), "quiet for 6 s");
    }

    #[test]
    fn without_ctime_the_modification_time_decides_and_the_future_tells_nothing() {
        assert!(look(T0 - 2, None).is_recent(at(T0), QUIET));
        assert!(!look(T0 - 5, None).is_recent(at(T0), QUIET));
        // Set by a program (a source from a machine whose clock is ahead).
        assert!(!look(T0 + 3_600, None).is_recent(at(T0), QUIET));
    }

    #[test]
    fn a_look_reads_back_from_its_line() {
        let l = Look {
            size: 6_000_000,
            modified: Some(at(T0) + Duration::from_nanos(123)),
            changed: Some(at(T0 + 1) + Duration::from_nanos(999_999_999)),
            id: Some((2049, 77)),
        };
        assert_eq!(Look::parse(&l.to_line()), Some(l));
        let bare = look(T0, None);
        assert_eq!(Look::parse(&bare.to_line()), Some(bare));
        assert_eq!(Look::parse("taille=12"), None);
    }

    #[test]
    fn a_ctime_after_now_is_recent() {
        // The clock went back: the change cannot be dated, so it is waited
        // for until the clock catches up.
        assert!(look(T0, Some(T0 + 60)).is_recent(at(T0), QUIET));
    }

    #[test]
    fn a_growing_file_looks_different_and_the_probe_tells_the_file_system_time() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("BX.SVG");
        fs::write(&p, b"PK").unwrap();
        let first = Look::of(&p).unwrap();
        assert_eq!(first, Look::of(&p).unwrap(), "nothing happened");
        fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"more"))
            .unwrap();
        assert_ne!(first, Look::of(&p).unwrap(), "it grew");

        let now = fs_now(d.path());
        let made = Look::of(&p).unwrap().last_change().unwrap();
        assert!(now >= made, "the probe is made after the file");
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "the probe is removed"
        );
    }
}
