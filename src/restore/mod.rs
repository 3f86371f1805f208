//! "Remonter": bring a dossier back to the state of its `B<CODE>.SVG` — the
//! mechanics `svgauto restore` and `svgauto import` (`commands/`) share.
//!
//! Nothing of the live dossier changes until the whole archive has been
//! checked. The archive is extracted (and checked: names, manifest, sizes,
//! CRCs — see `archive::read`) into `dossiers/.svgauto-new-<CODE>`, renamed
//! `.svgauto-ready-<CODE>` once complete and flushed; then, holding the
//! dossier's lock, the live folder is renamed `.svgauto-old-<CODE>`, the
//! ready one renamed in, and the old one removed. A crash at any moment
//! leaves the old dossier or the new one complete, plus temporary folders
//! that [`recover`] settles (run by every later `run`, `restore`, `import`):
//!
//! | left behind                              | means                         | recover         |
//! |------------------------------------------|-------------------------------|-----------------|
//! | `new-X`                                  | extraction not finished       | remove it       |
//! | `ready-X`, `X` present                   | switch not started            | remove ready    |
//! | `ready-X`, `X` absent                    | between the two renames       | rename ready→X  |
//! | `old-X`, `X` present                     | switch done, cleanup not      | remove old      |
//! | `old-X`, `X` absent, no `ready-X`        | (cannot happen) old is whole  | rename old→X    |
//! | `del-X.N`                                | being removed                 | remove it       |
//!
//! A tree that is no longer needed is first renamed `.svgauto-del-X.N`
//! (the first free `N`), a name that only ever means "to remove", then
//! removed whatever the modes inside it (`sys::at_once::remove_tree`). So a tree
//! that cannot be removed (a sub-folder belonging to another account, an
//! immutable file) never holds a name a restore needs: it is said — by the
//! command, the run's warnings, `status` — and tried again by every later
//! `run`, `restore` and `import`, and no restore is refused because of it.
//! An `old-X` is always whole (a partly removed one is a `del`), so putting
//! it back is safe.
//!
//! Associated documents the archive does not hold (all of them when it was
//! made without documents, those added since otherwise) are carried over
//! from the live dossier into the new one by hard links (a copy where links
//! are impossible) before the switch, so the live dossier is never touched
//! before it is switched whole.
//!
//! Into a base, a restore never destroys a state no archive holds: holding
//! the dossier's lock, before anything else, the live dossier is saved
//! into `<backup.dir>/AvantRemontee/` unless the catalog proves an archive
//! holds it (`commands::safeguard`); if that save fails, the restore is
//! refused and nothing changes. [`restore_into`] cannot be called without
//! what that takes (a [`Guard`]).
//!
//! Here: the extraction into place, step by step; the temporary trees'
//! names, their removal and [`recover`] in `switch.rs`.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

mod switch;

use crate::archive;
use crate::archive::read::{self, Damage};
use crate::base::{DOCUMENTS, LOCK_FILE, valid_code};
use crate::report::IN_USE;
use crate::sys::lock::{self, LockError};
use switch::{clear, discard, temp};
pub use switch::{recover, remove_discarded, temp_trees};

/// What saves a live dossier's state before a restore into a base
/// replaces it (`commands::safeguard::Safeguard`): defined here so that
/// the restore cannot be called without one, implemented by the command
/// that has the base, its catalog and its clock.
pub trait Guard {
    /// Called holding the lock `held` of the live dossier `live` (code
    /// `code`), before the switch to the archive whose manifest is
    /// `incoming`. `Ok(None)`: an archive holds the live state, nothing was
    /// written. `Ok(Some(path))`: the state is now in the archive at `path`.
    /// `Err`: the French reason it could not be saved (the restore must not
    /// go on).
    fn keep_live_state(
        &self,
        code: &str,
        live: &Path,
        held: &lock::Held,
        incoming: &archive::Manifest,
    ) -> Result<Option<PathBuf>, String>;
}

/// Why an archive was not restored (French, for the user).
#[derive(Debug, Error)]
pub enum RestoreError {
    #[error(
        "{name} n'est pas une sauvegarde de ce traitement (les fichiers S<CODE>.SVG ne peuvent pas être remontés) ; seules les sauvegardes B<CODE>.SVG le peuvent"
    )]
    NotBatchBackup { name: String },
    #[error("nom de fichier inattendu {name} : une sauvegarde s'appelle B<CODE>.SVG")]
    BadFileName { name: String },
    #[error(transparent)]
    Damaged(#[from] Damage),
    #[error("le dossier du manifeste ({manifest}) ne correspond pas au nom du fichier ({file})")]
    CodeMismatch { file: String, manifest: String },
    #[error("dossier {code} : {IN_USE}")]
    InUse { code: String },
    #[error(
        "{rel} n'est dans aucune archive et ne peut pas être conservé par la remontée ({source}) ; déplacez-le hors du dossier avant de remonter"
    )]
    CannotKeep { rel: String, source: io::Error },
    #[error(
        "le dossier en place ne peut pas être lu entièrement ({why}) : la remontée pourrait détruire des fichiers qu'aucune archive ne contient ; rendez-le lisible, ou déplacez ce qu'il contient, avant de remonter"
    )]
    LiveUnreadable { why: crate::scan::WalkError },
    #[error(
        "l'état actuel du dossier {code} n'est dans aucune archive et n'a pas pu être sauvegardé avant la remontée : {why} ; remontée refusée, le dossier n'a pas changé (corrigez la cause, ou déplacez le dossier hors de dossiers/ pour le remonter sans cette sauvegarde)"
    )]
    NotSavedBefore { code: String, why: String },
    #[error("{source} (l'état actuel du dossier, sauvegardé avant, est dans {})", saved.display())]
    SavedBefore {
        source: Box<RestoreError>,
        saved: PathBuf,
    },
    #[error("{} existe déjà et n'est pas vide", path.display())]
    TargetExists { path: PathBuf },
    #[error("{} : {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A restored archive.
#[derive(Debug)]
pub struct Restored {
    /// The dossier's code.
    pub code: String,
    /// Files restored.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Where the dossier now is.
    pub dir: PathBuf,
    /// The fingerprint the archive's backup recorded (its manifest's).
    pub archived_fingerprint: String,
    /// When the archive's backup was taken (its manifest's).
    pub archived_backup_time: String,
    /// What the live dossier held that no archive can (see
    /// `keep_left_out`), kept in the restored dossier: shown paths.
    pub kept: Vec<String>,
    /// Restored into a base, holding exactly what the archive lists: the
    /// fingerprint of the restored files, to record when the archive was
    /// the dossier's last backup (see `restored_fingerprint`).
    pub restored_fingerprint: Option<String>,
    /// Where the live dossier's state was saved before the switch, when no
    /// archive held it (see `commands::safeguard`).
    pub saved_before: Option<PathBuf>,
}

/// The dossier code of an archive from its file name `B<CODE>.SVG`.
pub fn code_of(archive: &Path) -> Result<String, RestoreError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .len()
        .checked_sub(4)
        .filter(|&i| name.is_char_boundary(i) && name[i..].eq_ignore_ascii_case(".svg"))
        .map(|i| &name[..i]);
    match stem {
        Some(s) if s.starts_with('B') && valid_code(&s[1..]) => Ok(s[1..].to_owned()),
        Some(s) if s.starts_with('S') && valid_code(&s[1..]) => {
            Err(RestoreError::NotBatchBackup { name })
        }
        _ => Err(RestoreError::BadFileName { name }),
    }
}

/// Restores `archive` into `DIR/<CODE>/`, without touching any base. The
/// target must not exist or be empty.
pub fn restore_to(archive: &Path, dir: &Path) -> Result<Restored, RestoreError> {
    let code = code_of(archive)?;
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let target = dir.join(&code);
    if target.exists() {
        let empty = fs::read_dir(&target)
            .map_err(io_err(&target))?
            .next()
            .is_none();
        if !empty {
            return Err(RestoreError::TargetExists { path: target });
        }
        fs::remove_dir(&target).map_err(io_err(&target))?;
    }
    let partial = temp(dir, "new", &code);
    clear(dir, &partial)?;
    let checked = extract(archive, dir, &partial)?;
    if checked.manifest.dossier.code != code {
        let _ = discard(dir, &partial);
        return Err(RestoreError::CodeMismatch {
            file: code,
            manifest: checked.manifest.dossier.code,
        });
    }
    if let Err(e) = checked.make_links().and_then(|()| {
        checked.finish_folders().map_err(|source| Damage::Write {
            path: partial.clone(),
            source,
        })
    }) {
        let _ = discard(dir, &partial);
        return Err(e.into());
    }
    sync_tree(&partial)?;
    fs::rename(&partial, &target).map_err(io_err(&target))?;
    crate::sys::fs::sync_dir(dir).map_err(io_err(dir))?;
    Ok(Restored {
        code,
        files: checked.files,
        bytes: checked.bytes,
        dir: target,
        archived_backup_time: checked.manifest.backup_time,
        archived_fingerprint: checked.manifest.fingerprint,
        restored_fingerprint: None,
        kept: Vec::new(),
        saved_before: None,
    })
}

/// Restores `archive` into the base's `dossiers/` folder, switching the
/// live dossier atomically; a live state no archive holds is saved first
/// by `guard` (a failed save refuses the restore). The caller holds the
/// base's run lock.
pub fn restore_into(
    archive: &Path,
    dossiers: &Path,
    guard: &dyn Guard,
) -> Result<Restored, RestoreError> {
    let code = code_of(archive)?;
    let live = dossiers.join(&code);
    let new = temp(dossiers, "new", &code);
    let ready = temp(dossiers, "ready", &code);
    let old = temp(dossiers, "old", &code);
    clear(dossiers, &new)?;

    // 1. Extract and check everything, away from the live dossier.
    let checked = extract(archive, dossiers, &new)?;
    let fail = |e: RestoreError| {
        let _ = discard(dossiers, &new);
        let _ = discard(dossiers, &ready);
        Err(e)
    };
    if checked.manifest.dossier.code != code {
        return fail(RestoreError::CodeMismatch {
            file: code,
            manifest: checked.manifest.dossier.code,
        });
    }

    // 2. Claim the live dossier: nobody may have it open.
    let live_exists = live.is_dir();
    let held = match claim(&live, &code, live_exists) {
        Ok(held) => held,
        Err(e) => return fail(e),
    };

    // 3. The live state, if no archive holds it, saved before anything
    //    else: under the dossier's lock, so it is the state the switch
    //    replaces.
    let saved_before = match &held {
        Some(h) => match guard.keep_live_state(&code, &live, h, &checked.manifest) {
            Ok(saved) => saved,
            Err(why) => return fail(not_saved_before(code, &why)),
        },
        None => None,
    };
    // A refusal from now on says where that state is.
    let fail_saved = |e: RestoreError| {
        fail(match &saved_before {
            Some(p) => RestoreError::SavedBefore {
                source: Box::new(e),
                saved: p.clone(),
            },
            None => e,
        })
    };

    // 4. The new tree gets what the live dossier keeps, its lock file, its
    //    links and its folders' times.
    let kept = match complete(&live, &new, &checked, live_exists) {
        Ok(kept) => kept,
        Err(e) => return fail_saved(e),
    };

    // 5. The new dossier is complete: its folders flushed (a file's own
    //    flush does not make its name durable), then marked so, durably.
    if let Err(e) = mark_ready(dossiers, &new, &ready) {
        return fail_saved(e);
    }

    // 6. The switch: two renames, each atomic.
    // Windows refuses to rename a folder while a file in it is open, our
    // lock file included: let go of it just before. An application that
    // opens the dossier in between holds `dossier.lock` open itself, so the
    // rename then fails and nothing changes — the same guarantee.
    #[cfg(windows)]
    drop(held);
    if let Err(e) = switch_in(&live, &ready, &old, live_exists) {
        return fail_saved(e);
    }
    let _ = crate::sys::fs::sync_dir(dossiers);
    // Scanned under the new dossier's own lock: the one held so far is on
    // the lock file of the tree set aside. An application that opened the
    // dossier since the switch holds it: then nothing is recorded (the next
    // run saves the dossier again).
    let restored_fingerprint = lock::try_exclusive(&live.join(LOCK_FILE))
        .ok()
        .and_then(|_new_lock| restored_fingerprint(&live, &code, &checked.manifest));
    #[cfg(not(windows))]
    drop(held);

    // 7. Clean up; what cannot be removed is said and retried by the next
    //    `recover` (the commands run one after their restores).
    let _ = discard(dossiers, &old);
    Ok(Restored {
        code,
        files: checked.files,
        bytes: checked.bytes,
        dir: live,
        archived_backup_time: checked.manifest.backup_time,
        archived_fingerprint: checked.manifest.fingerprint,
        restored_fingerprint,
        kept,
        saved_before,
    })
}

/// The refusal of a restore whose live state no archive holds and
/// `Guard::keep_live_state` could not save (`why`, French).
fn not_saved_before(code: String, why: &str) -> RestoreError {
    RestoreError::NotSavedBefore {
        code,
        why: why.trim_end_matches('.').to_owned(),
    }
}

/// Extracts and checks `archive` into the temporary tree `new` (in `dir`,
/// not there yet); on a damage, what was extracted is removed.
fn extract(archive: &Path, dir: &Path, new: &Path) -> Result<read::Checked, RestoreError> {
    read::check(archive, Some(new)).map_err(|e| {
        let _ = discard(dir, new);
        e.into()
    })
}

/// Takes the lock of the live dossier `live` (if it exists), without
/// waiting: a dossier an application has open is not restored.
fn claim(live: &Path, code: &str, live_exists: bool) -> Result<Option<lock::Held>, RestoreError> {
    if !live_exists {
        return Ok(None);
    }
    let lock_file = live.join(LOCK_FILE);
    match lock::try_exclusive(&lock_file) {
        Ok(h) => Ok(Some(h)),
        Err(LockError::Busy) => Err(RestoreError::InUse {
            code: code.to_owned(),
        }),
        Err(LockError::Io(e)) => Err(io_err(&lock_file)(e)),
    }
}

/// Completes the extracted tree `new` before it is published: what the
/// live dossier keeps (associated documents the archive does not hold,
/// what a run leaves out of an archive: no archive has it, so the restore
/// must not destroy it), the lock file, then the archive's links and the
/// folders' recorded times. Returns what was kept, as shown.
fn complete(
    live: &Path,
    new: &Path,
    checked: &read::Checked,
    live_exists: bool,
) -> Result<Vec<String>, RestoreError> {
    let live_docs = live.join(DOCUMENTS);
    if live_docs.is_dir() {
        link_tree(&live_docs, &new.join(DOCUMENTS))?;
    }
    let kept = if live_exists {
        keep_left_out(live, new, checked.manifest.documents_included)?
    } else {
        Vec::new()
    };
    // The lock file the restored dossier will be locked through, made now
    // so that taking its lock after the switch changes no folder entry of
    // the published tree (its folder is flushed below).
    File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(new.join(LOCK_FILE))
        .map_err(io_err(&new.join(LOCK_FILE)))?;
    // The archive's links, now that nothing more is carried in; then the
    // folders touched get their recorded times again.
    checked.make_links()?;
    checked.finish_folders().map_err(io_err(new))?;
    Ok(kept)
}

/// Flushes the complete tree `new` and renames it `ready` (in `dossiers`),
/// durably: from then on, a crash puts it in place.
fn mark_ready(dossiers: &Path, new: &Path, ready: &Path) -> Result<(), RestoreError> {
    sync_tree(new)?;
    fs::rename(new, ready).map_err(io_err(ready))?;
    crate::sys::fs::sync_dir(dossiers).map_err(io_err(dossiers))?;
    Ok(())
}

/// The switch: the live dossier (if any) renamed `old`, then `ready`
/// renamed in its place; if that fails, the old dossier is put back whole.
fn switch_in(live: &Path, ready: &Path, old: &Path, live_exists: bool) -> Result<(), RestoreError> {
    if live_exists {
        fs::rename(live, old).map_err(io_err(old))?;
    }
    if let Err(e) = fs::rename(ready, live) {
        // Put the old dossier back; it is whole.
        if live_exists {
            let _ = fs::rename(old, live);
        }
        return Err(io_err(live)(e));
    }
    Ok(())
}

/// Flushes every folder of the extracted tree at `root`
/// ([`crate::sys::at_once::sync_folders`]), its error naming the folder.
/// Its files' data are flushed already (`read::check`).
fn sync_tree(root: &Path) -> Result<(), RestoreError> {
    crate::sys::at_once::sync_folders(root)
        .map_err(|(path, source)| RestoreError::Io { path, source })
}

/// Carries into the new tree `new` everything of the live dossier `live`
/// that a run leaves out of an archive ([`crate::scan::Skipped`]: special
/// files, names no archive can hold, a `.svgauto/` folder) and that the new
/// tree does not have: no archive holds it, so a restore must not destroy
/// it. Hard links (the live one is removed after the switch), or, for a
/// symbolic link, a new link. Returns what was kept, as shown. Something
/// that cannot be kept — a file of the archive is where its folder should
/// be — refuses the restore, naming it.
fn keep_left_out(
    live: &Path,
    new: &Path,
    documents_included: bool,
) -> Result<Vec<String>, RestoreError> {
    let left_out = crate::scan::left_out(live, documents_included)
        .map_err(|why| RestoreError::LiveUnreadable { why })?;
    let mut kept = Vec::new();
    for s in &left_out {
        let (from, to) = (live.join(&s.path), new.join(&s.path));
        if fs::symlink_metadata(&to).is_ok() {
            // The archive has something there: the archive's state wins.
            continue;
        }
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| RestoreError::CannotKeep {
                rel: s.rel.clone(),
                source: e,
            })?;
        }
        carry(&from, &to).map_err(|e| RestoreError::CannotKeep {
            rel: s.rel.clone(),
            source: e,
        })?;
        kept.push(s.rel.clone());
    }
    Ok(kept)
}

/// Puts `from` (any kind: file, folder, link, FIFO, socket, device) at `to`
/// as the same thing: a hard link, or a copy of a link, or a folder whose
/// content is carried the same way — one folder open at a time, whatever
/// the depth (`crate::sys::tree`).
fn carry(from: &Path, to: &Path) -> io::Result<()> {
    let mut pending = vec![(from.to_owned(), to.to_owned())];
    while let Some((from, to)) = pending.pop() {
        let meta = fs::symlink_metadata(&from)?;
        if meta.is_dir() {
            fs::create_dir(&to)?;
            for e in crate::sys::tree::read_folder(&from, false)? {
                let e = e?;
                pending.push((e.path, to.join(e.name)));
            }
            continue;
        }
        match fs::hard_link(&from, &to) {
            Ok(()) => {}
            #[cfg(unix)]
            Err(_) if meta.file_type().is_symlink() => {
                std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The fingerprint to record for a dossier just restored, if it holds
/// exactly what the archive lists (paths, sizes, modification times).
/// The restored files are new files — new inodes, change times of now,
/// which the run's fingerprint includes — so without this the next run
/// would save the same state again. Their stamps are too recent to prove
/// anything by themselves; the proof is that the caller holds the
/// dossier's lock, taken before the switch: no application has written in
/// the dossier since svgauto did.
fn restored_fingerprint(live: &Path, code: &str, manifest: &archive::Manifest) -> Option<String> {
    let scan = crate::scan::scan_dossier(code, live, manifest.documents_included);
    if scan.identity.is_err() || scan.walk_error.is_some() {
        return None;
    }
    let listed = crate::scan::Fingerprint::content_of(manifest.entries.iter().map(|e| {
        let file = (e.kind == archive::ManifestKind::File).then_some((
            e.size,
            crate::sys::time::Mtime {
                secs: e.mtime_s,
                nanos: e.mtime_ns,
            },
        ));
        (e.path.as_str(), file)
    }));
    if listed != scan.fingerprint.content {
        return None;
    }
    let mut fp = scan.fingerprint;
    fp.unproven = None;
    Some(fp.recorded())
}

/// Adds to `to` everything of `from` that `to` does not have: a file as a
/// hard link to the same file (a copy, with its modification time, flushed,
/// where the file system cannot link), a symbolic link as a link (never
/// followed), a special file as a hard link; one folder open at a time,
/// whatever the depth (`crate::sys::tree`).
fn link_tree(from: &Path, to: &Path) -> Result<(), RestoreError> {
    let mut pending = vec![(from.to_owned(), to.to_owned())];
    while let Some((from, to)) = pending.pop() {
        fs::create_dir_all(&to).map_err(io_err(&to))?;
        for e in crate::sys::tree::read_folder(&from, false).map_err(io_err(&from))? {
            let e = e.map_err(io_err(&from))?;
            let ft = e.file_type.map_err(io_err(&e.path))?;
            let (src, dst) = (e.path, to.join(e.name));
            if ft.is_dir() {
                pending.push((src, dst));
            } else if fs::symlink_metadata(&dst).is_ok() {
                // The archive has it: the archive's state wins.
            } else if ft.is_symlink() {
                // A link among the documents stays a link, never followed.
                carry(&src, &dst).map_err(io_err(&dst))?;
            } else if ft.is_file() && fs::hard_link(&src, &dst).is_err() {
                fs::copy(&src, &dst).map_err(io_err(&dst))?;
                let mtime = fs::metadata(&src)
                    .and_then(|m| m.modified())
                    .map_err(io_err(&src))?;
                // A copy is new data: flushed before the tree is published,
                // like the files extracted (a link needs no flush).
                File::options()
                    .write(true)
                    .open(&dst)
                    .and_then(|f| {
                        f.set_modified(mtime)?;
                        f.sync_all()
                    })
                    .map_err(io_err(&dst))?;
            }
            // Special files among the documents: the walk of `keep_left_out`
            // does not see `documents/` when it is not archived; they are
            // hard-linked like the rest.
            else if !ft.is_dir() && !ft.is_file() {
                fs::hard_link(&src, &dst).map_err(io_err(&dst))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_from_file_names() {
        assert_eq!(code_of(Path::new("/x/B821516.SVG")).unwrap(), "821516");
        assert_eq!(code_of(Path::new("BPRESSE.svg")).unwrap(), "PRESSE");
        assert!(matches!(
            code_of(Path::new("S821516.SVG")),
            Err(RestoreError::NotBatchBackup { .. })
        ));
        assert!(matches!(
            code_of(Path::new("B.SVG")),
            Err(RestoreError::BadFileName { .. })
        ));
        assert!(matches!(
            code_of(Path::new("Bé.SVG")),
            Err(RestoreError::BadFileName { .. })
        ));
        assert!(matches!(
            code_of(Path::new("B1.zip")),
            Err(RestoreError::BadFileName { .. })
        ));
    }
}
