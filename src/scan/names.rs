//! The one rule on entry names, applied by the walk (what it archives),
//! the archive writer (what it records) and the reader (what it restores):
//! names a file system here refuses or would take for path syntax, the
//! names reserved by the base's layout, and how a name that is not UTF-8
//! is shown and kept.

use std::borrow::Cow;
use std::path::PathBuf;

use crate::base::{DOCUMENTS, LOCK_FILE};

/// The naming rules of the file system an archive is restored onto:
/// [`Platform::HERE`] in every check; the others exist so that the rules
/// of each can be tested anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// Windows (NTFS): `\`, a drive letter, `:` and `<>"|?*` are path
    /// syntax or refused, as are control characters and device names
    /// (`CON`, `aux.txt`) and names ending with a dot or a space; two names
    /// that differ only by case are one file; lengths count UTF-16 units.
    /// Otherwise Unix: any byte but `/` and NUL, case and Unicode forms
    /// distinct, lengths in bytes.
    pub windows: bool,
}

/// Longest name component: 255 bytes on Unix (ext4, XFS, Btrfs, tmpfs),
/// 255 UTF-16 units on Windows.
pub const NAME_MAX: usize = 255;

impl Platform {
    /// The rules of the system svgauto runs on.
    pub const HERE: Platform = Platform {
        windows: cfg!(windows),
    };
    /// Unix's rules (Linux, macOS…).
    pub const UNIX: Platform = Platform { windows: false };
    /// Windows' rules (NTFS).
    pub const WINDOWS: Platform = Platform { windows: true };

    /// The length of `s` as the file system counts it.
    pub fn len(self, s: &str) -> usize {
        if self.windows {
            s.encode_utf16().count()
        } else {
            s.len()
        }
    }

    /// The longest path the system opens, in [`Platform::len`] units
    /// (`PATH_MAX` less its NUL on Unix; the `\\?\` limit on Windows).
    pub fn path_max(self) -> usize {
        if self.windows { 32_767 } else { 4_095 }
    }

    /// The form under which the file system compares names: on Windows
    /// each character's simple uppercase (NTFS's upcase table: `ß` stays,
    /// Unicode forms are not merged); on Unix the name itself.
    pub fn fold(self, s: &str) -> Cow<'_, str> {
        if !self.windows {
            return Cow::Borrowed(s);
        }
        Cow::Owned(
            s.chars()
                .map(|c| {
                    let mut up = c.to_uppercase();
                    match (up.next(), up.next()) {
                        (Some(u), None) => u,
                        _ => c,
                    }
                })
                .collect(),
        )
    }
}

/// Why an entry name would escape the dossier, or cannot be a file name
/// on this system ([`Platform::HERE`]), if so: see [`name_problem`].
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    name_problem(name, Platform::HERE)
}

/// Why an entry name would escape the dossier, or cannot be a file name
/// under `p`'s rules, if so. Names are relative, `/`-separated, without
/// `.`/`..` or empty components, each component at most [`NAME_MAX`] long
/// and the whole under [`Platform::path_max`]. On Windows, where they are
/// path syntax or refused, a backslash, a first component like `C:` (a
/// drive), `:`, `<>"|?*`, control characters, device names and names
/// ending with a dot or a space are refused too; on Unix they are ordinary
/// characters of a file name (a Linux dossier may hold `a\b.txt` or
/// `C:notes`: its archive must restore there).
pub fn name_problem(name: &str, p: Platform) -> Option<&'static str> {
    if name.is_empty() {
        return Some("nom vide");
    }
    if name.contains('\0') {
        return Some("caractère nul");
    }
    if p.windows && name.contains('\\') {
        return Some("barre oblique inverse");
    }
    if name.starts_with('/') {
        return Some("chemin absolu");
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    let mut parts = trimmed.split('/');
    if p.windows
        && let Some(first) = parts.clone().next()
    {
        let b = first.as_bytes();
        if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
            return Some("lettre de lecteur");
        }
    }
    if parts.any(|c| c.is_empty() || c == "." || c == "..") {
        return Some("composant vide, . ou ..");
    }
    if p.windows {
        if trimmed.contains(':') {
            return Some("deux-points");
        }
        if trimmed
            .chars()
            .any(|c| (c as u32) < 0x20 || matches!(c, '<' | '>' | '"' | '|' | '?' | '*'))
        {
            return Some("caractère interdit par Windows");
        }
        // Names Windows maps to devices, whatever their extension and with
        // spaces before it ("Naming Files, Paths, and Namespaces", Microsoft
        // Learn: CON, PRN, AUX, NUL, COM0-9, LPT0-9 and the superscript
        // digits ¹²³, plus the console's CONIN$ and CONOUT$), or trims
        // silently (a final dot or space).
        let reserved = trimmed.split('/').any(|c| {
            let stem = c
                .split('.')
                .next()
                .unwrap_or("")
                .trim_end_matches(' ')
                .to_ascii_uppercase();
            let port = stem
                .strip_prefix("COM")
                .or_else(|| stem.strip_prefix("LPT"))
                .is_some_and(|n| {
                    matches!(n, "¹" | "²" | "³")
                        || (n.len() == 1 && n.as_bytes()[0].is_ascii_digit())
                });
            matches!(
                stem.as_str(),
                "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
            ) || port
                || c.ends_with('.')
                || c.ends_with(' ')
        });
        if reserved {
            return Some("nom réservé par Windows");
        }
    }
    if trimmed.split('/').any(|c| p.len(c) > NAME_MAX) {
        return Some(if p.windows {
            "nom de plus de 255 caractères"
        } else {
            "nom de plus de 255 octets"
        });
    }
    if p.len(trimmed) > p.path_max() {
        return Some("chemin trop long pour le système de fichiers");
    }
    None
}

/// Why a recorded path names something svgauto never archives (the scan
/// leaves it out, whatever its kind), if so: anything under `.svgauto`
/// (the archive's own manifest lives there), the dossier's lock file, and
/// the associated documents when the manifest says they were not saved —
/// restored, each would be something the archive's records do not hold, or
/// replace what they say is kept. Compared as the scan compares them:
/// exactly.
pub fn reserved(path: &str, documents_included: bool) -> Option<&'static str> {
    let first = path.split('/').next().unwrap_or(path);
    if first == ".svgauto" {
        return Some("réservé à svgauto (manifeste d'archive)");
    }
    if first == LOCK_FILE {
        return Some("fichier de verrou du dossier, jamais sauvegardé");
    }
    if first == DOCUMENTS && !documents_included {
        return Some("documents associés, que le manifeste dit non sauvegardés");
    }
    None
}

/// A relative path from its bytes: the bytes themselves on Unix; elsewhere
/// (where names that are not UTF-8 are never archived) a lossy conversion.
pub fn os_path(raw: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(raw))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(raw).into_owned())
    }
}

/// Why a name the file system accepts would not restore, if so: what
/// `verify::unsafe_name` refuses on this platform, and a `..` between
/// backslashes, which zip readers take for a parent folder.
pub fn unrestorable(rel: &str) -> Option<&'static str> {
    if crate::scan::names::unsafe_name(rel).is_some()
        || rel.contains('\\') && rel.split(['/', '\\']).any(|p| p == "..")
    {
        return Some("nom refusé à la restauration");
    }
    None
}

/// The name the naming rules judge for the bytes `raw`: its UTF-8 as it
/// is, every other byte as one `x` — the same length in bytes as `raw`,
/// the same separators, dots and backslashes. (Its `\xNN` form is four
/// times as long per byte: judged on that, a Latin-1 name near the 255-byte
/// limit would be refused though the file system holds it.)
pub fn judged_name(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(std::iter::repeat_n('x', chunk.invalid().len()));
    }
    out
}

/// A file name that is not UTF-8, shown with its invalid bytes as `\xNN`
/// (rather than U+FFFD, which would make two such names look alike).
pub fn escaped_name(name: &std::ffi::OsStr) -> String {
    escaped_bytes(name.as_encoded_bytes())
}

/// Bytes shown as text: UTF-8 as it is, every other byte as `\xNN` — how
/// reports, manifests and messages show names that are not UTF-8.
pub fn escaped_bytes(name: &[u8]) -> String {
    let mut out = String::new();
    for chunk in name.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            #[cfg(windows)]
            "a\\..\\x",
            #[cfg(windows)]
            "C:/x",
            #[cfg(windows)]
            "c:x",
            "a//b",
            "./a",
            "a/./b",
            "x\0y",
        ] {
            assert!(unsafe_name(bad).is_some(), "{bad:?} must be refused");
        }
        for good in [
            "a",
            "a/b/c.dat",
            "vide/",
            "Clôture/état.csv",
            "..a",
            "a..b/c",
            "12h30.txt",
        ] {
            assert_eq!(unsafe_name(good), None, "{good:?} must be accepted");
        }
    }

    #[test]
    fn names_are_judged_by_the_rules_of_the_file_system() {
        // Lengths: 255 bytes a component on Unix, 255 UTF-16 units on
        // Windows; a whole path under PATH_MAX.
        let accents = "é".repeat(200); // 400 bytes, 200 units
        assert_eq!(
            name_problem(&accents, Platform::UNIX),
            Some("nom de plus de 255 octets")
        );
        assert_eq!(name_problem(&accents, Platform::WINDOWS), None);
        assert_eq!(name_problem(&"a".repeat(255), Platform::UNIX), None);
        assert!(name_problem(&"a".repeat(256), Platform::WINDOWS).is_some());
        let deep = vec!["x".repeat(255); 16].join("/"); // 4,095 bytes
        assert_eq!(name_problem(&deep, Platform::UNIX), None);
        assert_eq!(
            name_problem(&format!("{deep}/y"), Platform::UNIX),
            Some("chemin trop long pour le système de fichiers")
        );
        assert_eq!(name_problem(&format!("{deep}/y"), Platform::WINDOWS), None);
        // Characters Windows refuses are plain on Unix.
        for name in [
            "a?b", "a<b", "a>b", "a|b", "a*b", "a\"b", "a\u{1}b", "a\nb", "x.", "aux.txt", "C:x",
        ] {
            assert!(
                name_problem(name, Platform::WINDOWS).is_some(),
                "{name:?} on Windows"
            );
            assert_eq!(name_problem(name, Platform::UNIX), None, "{name:?} on Unix");
        }
        // Every device name, whatever its case, extension or the spaces
        // before it; and the names that only look like one.
        for name in [
            "CON",
            "prn.txt",
            "Aux.tar.gz",
            "nul",
            "COM1",
            "com9.log",
            "LPT0",
            "COM¹",
            "lpt³.txt",
            "CONIN$",
            "conout$.txt",
            "NUL .txt",
            "d/con/x",
            "trailing ",
            "a/b./c",
        ] {
            assert_eq!(
                name_problem(name, Platform::WINDOWS),
                Some("nom réservé par Windows"),
                "{name:?}"
            );
        }
        for name in [
            "CONSOLE",
            "COM10",
            "LPT",
            "auxiliaire.txt",
            "nul_1",
            "COM⁴",
            "con-x",
        ] {
            assert_eq!(name_problem(name, Platform::WINDOWS), None, "{name:?}");
        }
    }

    #[test]
    fn what_svgauto_never_archives_is_reserved() {
        assert!(reserved(".svgauto/manifest.json", true).is_some());
        assert!(reserved(".svgauto", true).is_some());
        assert!(reserved("dossier.lock", true).is_some());
        assert!(reserved("documents/a.pdf", false).is_some());
        assert!(reserved("documents", false).is_some());
        assert_eq!(reserved("documents/a.pdf", true), None);
        assert_eq!(reserved("compta/dossier.lock", false), None);
        assert_eq!(reserved("compta/.svgauto/x", false), None);
        assert_eq!(reserved(".svgautox", false), None);
    }
}
