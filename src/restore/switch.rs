//! The temporary trees of a restore, and how a crash is settled: names
//! `.svgauto-<kind>-<CODE>` beside the dossiers (kinds `new`, `ready`,
//! `old`, and `del-<CODE>.<N>` for a tree being removed), [`recover`] for
//! what a killed or failed restore left (the table at the top of
//! `restore/mod.rs`), and the removal of trees no longer needed: renamed
//! `del` first, so a tree half removed never holds a name a restore needs,
//! then removed several files at once (`sys::at_once`: the old tree of a
//! large dossier is tens of thousands of files).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{RestoreError, io_err};
use crate::base::TEMP_PREFIX;
use crate::exit::Line;
use crate::sys::at_once;

/// The kinds of temporary trees, as in `.svgauto-<kind>-<CODE>` (and
/// `.svgauto-del-<CODE>.<N>`).
const KINDS: [&str; 4] = ["new", "ready", "old", "del"];

/// The kind and dossier code of a temporary tree's name, if it is one.
fn parse_temp(name: &str) -> Option<(&str, &str)> {
    let (kind, rest) = name.strip_prefix(TEMP_PREFIX)?.split_once('-')?;
    if !KINDS.contains(&kind) {
        return None;
    }
    // A code never holds a dot: `.N` is a `del`'s number.
    let code = if kind == "del" {
        rest.split('.').next()?
    } else {
        rest
    };
    (!code.is_empty()).then_some((kind, code))
}

/// The temporary trees of restores in `dir` (`dossiers/`, or a `--to`
/// folder), as (code, path), by name. `status` shows them; `recover`
/// settles them.
pub fn temp_trees(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (_, code) = parse_temp(&name)?;
            Some((code.to_owned(), e.path()))
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// Renames the temporary tree `tree` (in `dir`, named
/// `.svgauto-<kind>-<CODE>`) to `.svgauto-del-<CODE>.<N>`, then removes it
/// whatever the modes inside it. An error names what is left: under its
/// `del` name, or under its own if even the rename failed.
pub(super) fn discard(dir: &Path, tree: &Path) -> Result<(), (PathBuf, io::Error)> {
    if fs::symlink_metadata(tree).is_err() {
        return Ok(());
    }
    let name = tree
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = match parse_temp(&name) {
        Some(("del", _)) | None => tree.to_owned(),
        Some((kind, code)) => {
            let free = (1u32..)
                .map(|n| dir.join(format!("{TEMP_PREFIX}del-{code}.{n}")))
                .find(|p| fs::symlink_metadata(p).is_err())
                .expect("a free number");
            match fs::rename(tree, &free) {
                Ok(()) => free,
                // An `old` or `ready` tree is never removed under its own
                // name: half removed, `recover` could put it in place as
                // the dossier. It stays whole, and is said.
                Err(e) if kind != "new" => return Err((tree.to_owned(), e)),
                Err(_) => tree.to_owned(),
            }
        }
    };
    at_once::remove_tree(&target).map_err(|e| (target, e))
}

/// [`discard`], for a name the restore is about to use: an error only if
/// the name is still taken afterwards (a `del` left behind is said by the
/// next [`recover`]).
pub(super) fn clear(dir: &Path, tree: &Path) -> Result<(), RestoreError> {
    match discard(dir, tree) {
        Err((left, e)) if left == tree => Err(io_err(tree)(e)),
        _ => Ok(()),
    }
}

/// What is said of a temporary tree that could not be removed.
fn not_removed(code: &str, path: &Path, e: &io::Error) -> String {
    format!(
        "Dossier {code} : dossier temporaire {} non supprimé ({e}) ; le prochain traitement, la prochaine remontée ou importation réessaiera ; s'il reste, supprimez-le à la main",
        path.display()
    )
}

/// Removes the `.svgauto-del-<code>.*` trees of `dir`: what `discard`
/// could not remove before. One line each: stdout removed, stderr still there.
pub fn remove_discarded(dir: &Path, code: &str) -> Vec<Line> {
    temp_trees(dir)
        .into_iter()
        .filter(|(c, p)| {
            c == code
                && p.file_name()
                    .and_then(|n| parse_temp(&n.to_string_lossy()).map(|(k, _)| k == "del"))
                    .unwrap_or(false)
        })
        .map(|(_, p)| match at_once::remove_tree(&p) {
            Ok(()) => Line::Stdout(format!(
                "Dossier {code} : dossier temporaire {} supprimé",
                p.display()
            )),
            Err(e) => Line::Stderr(not_removed(code, &p, &e)),
        })
        .collect()
}

pub(super) fn temp(dossiers: &Path, what: &str, code: &str) -> PathBuf {
    dossiers.join(format!("{TEMP_PREFIX}{what}-{code}"))
}

/// Settles what a killed or failed restore left in `dossiers/` (see the
/// table at the top of this file). The caller holds the base's run lock.
/// One line per tree, for the user: stdout what was done, stderr a tree that
/// could not be put back or removed (it stays; the next call tries again).
pub fn recover(dossiers: &Path) -> Vec<Line> {
    let mut left: Vec<(String, String, PathBuf)> = temp_trees(dossiers)
        .into_iter()
        .filter_map(|(code, p)| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            let (kind, _) = parse_temp(&name)?;
            Some((kind.to_owned(), code, p))
        })
        .collect();
    // `ready` before `old`: whether the old one is still needed depends on it.
    left.sort_by_key(|(kind, _, _)| match kind.as_str() {
        "ready" => 0,
        "old" => 1,
        _ => 2,
    });
    let mut done = Vec::new();
    for (kind, code, p) in left {
        let live = dossiers.join(&code);
        let put_back = match kind.as_str() {
            "ready" if !live.exists() => Some("nouvel état mis en place"),
            "old" if !live.exists() => Some("ancien état remis en place"),
            _ => None,
        };
        let line = match put_back {
            Some(what) => match fs::rename(&p, &live) {
                Ok(()) => Line::Stdout(format!(
                    "Dossier {code} : remontée interrompue précédemment, {what}"
                )),
                Err(e) => Line::Stderr(format!(
                    "Dossier {code} : remontée interrompue précédemment, {} n'a pas pu être remis en place ({e}) ; le prochain traitement, la prochaine remontée ou importation réessaiera",
                    p.display()
                )),
            },
            None => match discard(dossiers, &p) {
                Ok(()) if kind == "del" => Line::Stdout(format!(
                    "Dossier {code} : dossier temporaire {} supprimé",
                    p.display()
                )),
                Ok(()) => Line::Stdout(format!(
                    "Dossier {code} : remontée interrompue précédemment, dossier temporaire supprimé"
                )),
                Err((path, e)) => Line::Stderr(not_removed(&code, &path, &e)),
            },
        };
        done.push(line);
    }
    if !done.is_empty() {
        let _ = crate::sys::fs::sync_dir(dossiers);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_parsed_and_a_discarded_tree_gets_a_free_del_name() {
        assert_eq!(parse_temp(".svgauto-old-A-B"), Some(("old", "A-B")));
        assert_eq!(parse_temp(".svgauto-del-A-B.12"), Some(("del", "A-B")));
        assert_eq!(parse_temp(".svgauto-horloge-12"), None);
        assert_eq!(parse_temp(".svgauto-new-"), None);
        assert_eq!(parse_temp("A"), None);

        // `del-A.1` stands for a tree an earlier removal left: its name is
        // taken, so the discarded `new-A` goes to `del-A.2` and is removed,
        // and `del-A.1` is not touched.
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join(".svgauto-del-A.1/x")).unwrap();
        fs::create_dir_all(d.path().join(".svgauto-new-A/y")).unwrap();
        discard(d.path(), &d.path().join(".svgauto-new-A")).unwrap();
        assert!(!d.path().join(".svgauto-new-A").exists());
        assert!(!d.path().join(".svgauto-del-A.2").exists());
        assert!(d.path().join(".svgauto-del-A.1/x").is_dir());
    }

    #[test]
    fn recover_settles_every_leftover() {
        let d = tempfile::tempdir().unwrap();
        let mk = |name: &str, file: &str| {
            fs::create_dir_all(d.path().join(name)).unwrap();
            fs::write(d.path().join(name).join("f"), file).unwrap();
        };
        // A: crashed between the two renames -> the new state goes in.
        mk(".svgauto-ready-A", "new");
        mk(".svgauto-old-A", "old");
        // B: switch done, cleanup not.
        mk("B", "new");
        mk(".svgauto-old-B", "old");
        // C: extraction not finished.
        mk("C", "live");
        mk(".svgauto-new-C", "partial");
        // D: ready but the switch not started.
        mk("D", "live");
        mk(".svgauto-ready-D", "new");
        // E: a tree being removed (perhaps half removed): never put back,
        // even with no dossier E.
        mk(".svgauto-del-E.1", "partial");
        mk(".svgauto-del-E.2", "partial");
        // F-1 (a code with a dash): switch done, cleanup not.
        mk("F-1", "new");
        mk(".svgauto-old-F-1", "old");
        let done = recover(d.path());
        assert_eq!(done.len(), 8, "{done:?}");
        assert!(!done.iter().any(Line::is_stderr), "{done:?}");
        assert!(!d.path().join("E").exists(), "a del is never put back");
        assert_eq!(
            fs::read_to_string(d.path().join("F-1/f")).unwrap(),
            "new",
            "F-1"
        );
        let read = |code: &str| fs::read_to_string(d.path().join(code).join("f")).unwrap();
        assert_eq!(
            (read("A"), read("B"), read("C"), read("D")),
            ("new".into(), "new".into(), "live".into(), "live".into())
        );
        let left: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
