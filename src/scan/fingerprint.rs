//! A dossier's fingerprint: what "modified since the last backup" is
//! decided from, without reading any content — every entry's path, and for
//! a file its size, modification time, change time and file identity,
//! hashed with BLAKE3. What a backup records in the catalog, and how a
//! later scan is compared with it (including the records of earlier
//! releases), is here.

use super::{Entry, EntryKind, Skipped};
use crate::sys::time::Mtime;

/// A dossier's fingerprint, from its scan.
///
/// What a backup records in the catalog is [`Fingerprint::recorded`]:
/// `2:<hex>` (format 2: path, size, modification time, change time and file
/// identity of every file), or `2?<hex>` when the scan was
/// [unproven](Fingerprint::unproven) — a record no later scan
/// [matches](Fingerprint::matches), so the dossier is saved again. Catalogs
/// written before format 2 hold the bare 64-digit [`Fingerprint::content`]
/// of that time; it is still compared as it was, so an upgrade does not save
/// every dossier again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Format 2, hex BLAKE3: every entry's path, and for a file its size,
    /// modification time, change time and file identity.
    pub full: String,
    /// Format 1, hex BLAKE3: paths, sizes and modification times only —
    /// what the archive's manifest records (the same for the same tree on
    /// any disk).
    pub content: String,
    /// The first file (by path) whose stamps were too recent for the walk
    /// to prove anything ([`Mtime::is_racy`]).
    pub unproven: Option<String>,
    /// Whether a format-1 record (an earlier release's) can describe this
    /// dossier: no name that is not UTF-8, no link, no data left out — all
    /// things earlier releases left out of their archives without a word.
    pub format1_complete: bool,
}

impl Fingerprint {
    /// The fingerprint of entries sorted by path. Empty folders count by
    /// path only (their time changes whenever something inside does);
    /// `dossier.toml` is one of the entries, so a change of identity
    /// re-saves the dossier.
    pub fn of(entries: &[Entry], skipped: &[Skipped]) -> Fingerprint {
        let mut full = blake3::Hasher::new();
        for e in entries {
            // The name's own bytes: `a\xE9` shown for the Latin-1 `a<E9>`
            // is another name than a real `a\xE9`.
            full.update(e.name_bytes());
            full.update(&[0]);
            if let EntryKind::Link { target } = &e.kind {
                full.update(b"->");
                full.update(target);
                full.update(&[0]);
            }
            if e.kind == EntryKind::File {
                full.update(&e.size.to_le_bytes());
                full.update(&e.mtime.secs.to_le_bytes());
                full.update(&e.mtime.nanos.to_le_bytes());
                full.update(&e.changed.secs.to_le_bytes());
                full.update(&e.changed.nanos.to_le_bytes());
                full.update(&e.file_id.to_le_bytes());
            }
            full.update(&[1]);
        }
        // Data no archive can hold counts too: one appearing in a dossier
        // saved before makes it "modified", so it is selected and its line
        // says what is left out (an error, every run until renamed).
        for s in skipped.iter().filter(|s| s.data) {
            full.update(b"\0left-out\0");
            full.update(s.path.as_os_str().as_encoded_bytes());
            full.update(&[2]);
        }
        Fingerprint {
            full: full.finalize().to_hex().to_string(),
            format1_complete: entries
                .iter()
                .all(|e| e.raw.is_none() && !matches!(e.kind, EntryKind::Link { .. }))
                && !skipped.iter().any(|s| s.data),
            // Links are not in format 1 (earlier releases skipped them),
            // nor in the manifest's entries.
            content: Self::content_of(
                entries
                    .iter()
                    .filter(|e| !matches!(e.kind, EntryKind::Link { .. }))
                    .map(|e| {
                        let file = (e.kind == EntryKind::File).then_some((e.size, e.mtime));
                        (e.rel.as_str(), file)
                    }),
            ),
            unproven: entries.iter().find(|e| e.racy).map(|e| e.rel.clone()),
        }
    }

    /// The content fingerprint (format 1) of entries sorted by path, each
    /// its path and, for a file, its size and modification time: what a
    /// scan gives, and what an archive's manifest lists.
    pub fn content_of<'a>(
        entries: impl Iterator<Item = (&'a str, Option<(u64, Mtime)>)>,
    ) -> String {
        let mut h = blake3::Hasher::new();
        for (rel, file) in entries {
            h.update(rel.as_bytes());
            h.update(&[0]);
            if let Some((size, mtime)) = file {
                h.update(&size.to_le_bytes());
                h.update(&mtime.secs.to_le_bytes());
                h.update(&mtime.nanos.to_le_bytes());
            }
            h.update(&[1]);
        }
        h.finalize().to_hex().to_string()
    }

    /// What a backup made from this scan records in the catalog.
    pub fn recorded(&self) -> String {
        let mark = if self.unproven.is_some() { '?' } else { ':' };
        format!("2{mark}{}", self.full)
    }

    /// Whether a record of an earlier backup proves that nothing changed
    /// since: format 2 and equal, or format 1 (a catalog of an earlier
    /// release) and equal to the content fingerprint. An unproven record
    /// (`2?…`) never matches.
    pub fn matches(&self, recorded: &str) -> bool {
        match recorded.strip_prefix("2:") {
            Some(full) => full == self.full,
            // An earlier release's record proves nothing about what it left
            // out (links, names that are not UTF-8): such a dossier is saved
            // once more, now whole.
            None => self.format1_complete && recorded.len() == 64 && recorded == self.content,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scan::{scan_dossier, test_dossier as dossier, test_fingerprint as fp};
    use std::fs::{self, File};
    use std::time::UNIX_EPOCH;

    #[test]
    fn every_kind_of_change_changes_the_fingerprint() {
        let d = dossier(&[("a/b.dat", b"hello"), ("c.dat", b"x")]);
        let mut seen = vec![fp(&d, false)];
        let changed = |seen: &mut Vec<String>| {
            let now = fp(&d, false);
            assert_ne!(seen.last(), Some(&now), "fingerprint did not change");
            seen.push(now);
        };
        fs::write(d.path().join("a/b.dat"), b"hello!").unwrap(); // append
        changed(&mut seen);
        fs::write(d.path().join("n.dat"), b"").unwrap(); // add
        changed(&mut seen);
        fs::rename(d.path().join("n.dat"), d.path().join("m.dat")).unwrap(); // rename
        changed(&mut seen);
        fs::remove_file(d.path().join("m.dat")).unwrap(); // delete
        changed(&mut seen);
        let f = File::options()
            .write(true)
            .open(d.path().join("c.dat"))
            .unwrap();
        f.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
            .unwrap(); // touch
        changed(&mut seen);
    }

    /// Format 2 records match only the same files (same change time and
    /// identity too); unproven records never; format-1 records of an
    /// earlier release are compared with the content fingerprint.
    #[test]
    #[cfg_attr(
        windows,
        ignore = "needs the inode and ctime of Unix: on Windows the fingerprint holds neither (scan::file_id is 0, Mtime::changed is the modification time), so a file replaced by one of the same size and time is not seen"
    )]
    fn recorded_fingerprints_and_what_they_prove() {
        let d = dossier(&[("a.dat", b"1")]);
        let mut s = scan_dossier("D", d.path(), false);
        s.fingerprint.unproven = None;
        let proven = s.fingerprint.recorded();
        assert!(proven.starts_with("2:"));
        assert!(s.fingerprint.matches(&proven));
        assert!(s.fingerprint.matches(&s.fingerprint.content.clone()));
        let mut racy = s.fingerprint.clone();
        racy.unproven = Some("a.dat".into());
        assert!(racy.recorded().starts_with("2?"));
        assert!(!s.fingerprint.matches(&racy.recorded()));
        assert!(!s.fingerprint.matches("fp"));
        assert!(!s.fingerprint.matches(""));
        // The same content in a new file (new inode, new ctime): format 2
        // sees another file, the content fingerprint the same tree.
        let before = s.fingerprint.clone();
        let p = d.path().join("a.dat");
        let t = fs::metadata(&p).unwrap().modified().unwrap();
        let tmp = d.path().join("a.tmp");
        fs::write(&tmp, b"1").unwrap();
        File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(t)
            .unwrap();
        // Both exist at once: the new one is another inode.
        fs::rename(&tmp, &p).unwrap();
        let after = scan_dossier("D", d.path(), false).fingerprint;
        assert_eq!(after.content, before.content);
        assert!(!after.matches(&before.recorded()));
    }
}
