//! The tree-level checks of an archive: the names its manifest records,
//! laid out on the file system, give each entry its own place
//! ([`check_tree`]); each recorded name is one name, not two
//! (`recorded_name`); the links are names the file system takes
//! (`check_links`); every path fits under the folder a restore extracts
//! into (`check_lengths`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use super::{Damage, shown};
use crate::archive::manifest::{Manifest, ManifestEntry, check_manifest_entry, judged};
use crate::scan::names::{Platform, name_problem, reserved};

/// One path of the tree an archive lays out: its bytes as recorded (a
/// folder's end with `/`; names need not be UTF-8), and whether it is a
/// folder (anything else — a file, a link — is a leaf).
#[derive(Debug, Clone, Copy)]
pub struct TreePath<'a> {
    /// The recorded path's bytes (a folder's end with `/`).
    pub path: &'a [u8],
    /// Whether it is a folder.
    pub dir: bool,
}

/// Checks that `paths` (each already a valid name, see [`name_problem`]),
/// laid out on a file system with `p`'s rules, give each entry its own
/// place: no path both a leaf and a folder (`sub` and `sub/x.txt`, `sub/`
/// and `sub`), nothing under a leaf, no path twice, and no two spellings of
/// one path — entries or the folders they imply — that the file system
/// takes for one (`Facture.pdf` and `facture.pdf`, `Compta/a` and
/// `compta/b` on Windows: restored, one would overwrite or absorb the
/// other). A folder recorded and also implied by what is under it is fine.
pub fn check_tree<'a>(
    paths: impl IntoIterator<Item = TreePath<'a>>,
    p: Platform,
) -> Result<(), Damage> {
    struct Seen<'a> {
        /// The path as spelled, without a trailing `/`.
        spelled: &'a [u8],
        dir: bool,
        /// The entry that brought it: itself, or the first one under it.
        entry: &'a [u8],
        /// An entry of its own (not only implied by one under it).
        recorded: bool,
    }
    let key = |spelled: &'a [u8]| -> Cow<'a, [u8]> {
        if p.windows {
            Cow::Owned(
                p.fold(&String::from_utf8_lossy(spelled))
                    .into_owned()
                    .into_bytes(),
            )
        } else {
            Cow::Borrowed(spelled)
        }
    };
    let mut seen: HashMap<Cow<'a, [u8]>, Seen<'a>> = HashMap::new();
    for TreePath { path, dir } in paths {
        let trimmed = path.strip_suffix(b"/").unwrap_or(path);
        let ends = trimmed
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .map(|(i, _)| i)
            .chain([trimmed.len()]);
        for end in ends {
            let spelled = &trimmed[..end];
            let own = end == trimmed.len();
            let here = Seen {
                spelled,
                dir: !own || dir,
                entry: path,
                recorded: own,
            };
            let k = key(spelled);
            let Some(before) = seen.get(&k) else {
                seen.insert(k, here);
                continue;
            };
            let name = shown(path);
            if before.spelled != spelled {
                return Err(Damage::SameName {
                    name,
                    other: shown(before.entry),
                });
            }
            match (before.dir, here.dir) {
                (true, true) if before.recorded && here.recorded => {
                    return Err(Damage::Duplicate { name });
                }
                (true, true) => {}
                (false, false) => return Err(Damage::Duplicate { name }),
                _ if before.recorded && here.recorded => {
                    return Err(Damage::FileAndFolder {
                        name,
                        other: shown(before.entry),
                    });
                }
                // One of the two is a folder only implied by an entry under
                // it, the other a leaf of that name.
                (false, true) => {
                    return Err(Damage::UnderAFile {
                        name,
                        parent: shown(spelled),
                    });
                }
                (true, false) => {
                    return Err(Damage::UnderAFile {
                        name: shown(before.entry),
                        parent: shown(spelled),
                    });
                }
            }
            if here.recorded {
                seen.insert(k, here);
            }
        }
    }
    Ok(())
}

/// The manifest's records by the bytes of their name (the zip entry's
/// name: a name that is not UTF-8 is recorded as its `\xNN` form plus its
/// bytes), each checked on its own ([`check_manifest_entry`]); a name
/// recorded twice is a damaged manifest.
pub(super) fn records_by_name(
    manifest: &Manifest,
) -> Result<HashMap<Vec<u8>, &ManifestEntry>, Damage> {
    use rayon::prelude::*;
    // Each record checked on every worker of the pool; the damage said is
    // that of the first record in order.
    let names: Vec<Result<Vec<u8>, Damage>> = manifest
        .entries
        .par_iter()
        .map(|e| {
            check_manifest_entry(e, manifest.documents_included, Platform::HERE)?;
            recorded_name(&e.path, e.name_bytes())
        })
        .collect();
    let mut records = HashMap::with_capacity(names.len());
    for (e, bytes) in manifest.entries.iter().zip(names) {
        if records.insert(bytes?, e).is_some() {
            return Err(Damage::BadManifest(format!("entrée {} en double", e.path)));
        }
    }
    Ok(records)
}

/// A symbolic link the manifest records: its path's bytes and its
/// target's bytes.
pub(super) struct RecordedLink {
    /// Where the link is, relative to the dossier.
    pub path: Vec<u8>,
    /// What it points to.
    pub target: Vec<u8>,
}

/// The manifest's symbolic links, each
/// checked: one name for its path and one for its target, a target that is
/// neither empty nor holds a NUL, a path the file system takes, not
/// reserved and not a folder's.
pub(super) fn check_links(manifest: &Manifest) -> Result<Vec<RecordedLink>, Damage> {
    let mut links = Vec::with_capacity(manifest.links.len());
    for l in &manifest.links {
        let (path, target) = l.bytes().map_err(Damage::BadManifest)?;
        let path = recorded_name(&l.path, Ok(path))?;
        if shown(&target) != l.target || target.is_empty() || target.contains(&0) {
            return Err(Damage::BadManifest(format!(
                "lien {} : cible mal enregistrée",
                l.path
            )));
        }
        let problem = match judged(
            &l.path,
            l.path_hex.is_some(),
            Ok(path.clone()),
            Platform::HERE,
        ) {
            Err(why) => Some(why),
            Ok(j) => name_problem(&j, Platform::HERE),
        };
        if let Some(why) = problem
            .or_else(|| reserved(&l.path, manifest.documents_included))
            .or_else(|| {
                l.path
                    .ends_with('/')
                    .then_some("un lien n'est pas un dossier")
            })
        {
            return Err(Damage::BadName {
                name: l.path.clone(),
                why,
            });
        }
        links.push(RecordedLink { path, target });
    }
    Ok(links)
}

/// Checks that the full path of every entry under `dest` is one the system
/// opens (entries are checked against [`Platform::path_max`] alone, not
/// knowing where they will be restored): a restore into a deep folder is
/// refused before anything is written, not half-way.
pub(super) fn check_lengths(dest: &Path, manifest: &Manifest) -> Result<(), Damage> {
    let p = Platform::HERE;
    let base = if p.windows {
        p.len(&dest.to_string_lossy())
    } else {
        dest.as_os_str().len()
    };
    for e in &manifest.entries {
        let judged = judged(&e.path, e.path_hex.is_some(), e.name_bytes(), p)
            .unwrap_or_else(|_| e.path.clone());
        let len = base + 1 + p.len(judged.trim_end_matches('/'));
        if len > p.path_max() {
            return Err(Damage::TooLong {
                name: e.path.clone(),
                dest: dest.to_owned(),
                len,
                max: p.path_max(),
            });
        }
    }
    Ok(())
}

/// The bytes of a recorded name: `bytes` (its `path_hex`, or its path),
/// which must show as `path` does (a record whose two forms disagree names
/// two different things).
fn recorded_name(path: &str, bytes: Result<Vec<u8>, String>) -> Result<Vec<u8>, Damage> {
    let bytes = bytes.map_err(Damage::BadManifest)?;
    if shown(&bytes) != path || bytes.contains(&0) {
        return Err(Damage::BadManifest(format!(
            "entrée {path} : nom enregistré sous deux formes différentes"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[&'static str], p: Platform) -> Result<(), Damage> {
        check_tree(
            paths.iter().map(|path| TreePath {
                path: path.as_bytes(),
                dir: path.ends_with('/'),
            }),
            p,
        )
    }

    #[test]
    fn a_path_both_file_and_folder_or_under_a_file_is_refused_everywhere() {
        for p in [Platform::UNIX, Platform::WINDOWS] {
            let refused = |paths: &[&'static str]| tree(paths, p).unwrap_err().to_string();
            let e = refused(&["sub", "sub/x.txt"]);
            assert!(e.contains("entrée sub/x.txt : sub est un fichier"), "{e}");
            // The same, the other way round.
            let e = refused(&["sub/x.txt", "sub"]);
            assert!(e.contains("entrée sub/x.txt : sub est un fichier"), "{e}");
            let e = refused(&["sub/", "sub"]);
            assert!(
                e.contains("entrée sub : même chemin que l'entrée sub/"),
                "{e}"
            );
            let e = refused(&["a", "a/b/c/d.txt"]);
            assert!(e.contains("entrée a/b/c/d.txt : a est un fichier"), "{e}");
            let e = refused(&["x/y", "x/y/"]);
            assert!(e.contains("l'une fichier, l'autre dossier"), "{e}");
            assert!(refused(&["f", "f"]).contains("plusieurs fois"));
            assert!(refused(&["d/", "d/"]).contains("plusieurs fois"));
            // A folder recorded and implied, folders implied many times.
            tree(&["d/", "d/x", "d/y/z", "d/y/w", "e/f/"], p).unwrap();
        }
    }

    #[test]
    fn names_windows_takes_for_one_are_refused_there_and_only_there() {
        let w = |paths: &[&'static str]| tree(paths, Platform::WINDOWS);
        let e = w(&["Facture.pdf", "facture.pdf"]).unwrap_err().to_string();
        assert!(
            e.contains("entrée facture.pdf : même nom que Facture.pdf"),
            "{e}"
        );
        // Folders implied by two spellings would merge into one.
        let e = w(&["Compta/a.dat", "compta/b.dat"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("entrée compta/b.dat : même nom que Compta/a.dat"),
            "{e}"
        );
        assert!(w(&["ÉTAT.csv", "état.csv"]).is_err());
        assert!(w(&["Dossier/", "dossier"]).is_err());
        // Unicode forms are two names on NTFS and ext4 alike; ß has no
        // one-character uppercase.
        w(&["r\u{e9}sum\u{e9}.txt", "re\u{301}sume\u{301}.txt"]).unwrap();
        w(&["straße", "STRASSE"]).unwrap();
        let u = |paths: &[&'static str]| tree(paths, Platform::UNIX);
        u(&["Facture.pdf", "facture.pdf"]).unwrap();
        u(&["Compta/a.dat", "compta/b.dat"]).unwrap();
        u(&["r\u{e9}sum\u{e9}.txt", "re\u{301}sume\u{301}.txt"]).unwrap();
    }
}
