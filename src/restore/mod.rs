//! "Remonter": bring a dossier back to the state of its `B<CODE>.SVG`, and
//! `import`, which does it for every archive dropped into `<base>/maj/`.
//!
//! Nothing of the live dossier changes until the whole archive has been
//! checked. The archive is extracted (and checked: names, manifest, sizes,
//! CRCs — see `verify`) into `dossiers/.svgauto-new-<CODE>`, renamed
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
//! removed whatever the modes inside it (`cleanup::remove_tree`). So a tree
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

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::archive;
use crate::archive::read::{self, Damage};
use crate::base::{DOCUMENTS, LOCK_FILE, TEMP_PREFIX, valid_code};
use crate::report::IN_USE;
use crate::sys::cleanup;
use crate::sys::lock::{self, LockError};

/// Lines for the user, in order: `Ok` for stdout, `Err` for stderr (an
/// error: exit 1), as [`Said`] holds them.
pub type Lines = Vec<Result<String, String>>;

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
fn discard(dir: &Path, tree: &Path) -> Result<(), (PathBuf, io::Error)> {
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
    cleanup::remove_tree(&target).map_err(|e| (target, e))
}

/// [`discard`], for a name the restore is about to use: an error only if
/// the name is still taken afterwards (a `del` left behind is said by the
/// next [`recover`]).
fn clear(dir: &Path, tree: &Path) -> Result<(), RestoreError> {
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

/// Removes the `.svgauto-del-<code>.*` trees of `dir`: what [`discard`]
/// could not remove before. One line each: `Ok` removed, `Err` still there.
pub fn remove_discarded(dir: &Path, code: &str) -> Lines {
    temp_trees(dir)
        .into_iter()
        .filter(|(c, p)| {
            c == code
                && p.file_name()
                    .and_then(|n| parse_temp(&n.to_string_lossy()).map(|(k, _)| k == "del"))
                    .unwrap_or(false)
        })
        .map(|(_, p)| match cleanup::remove_tree(&p) {
            Ok(()) => Ok(format!(
                "Dossier {code} : dossier temporaire {} supprimé",
                p.display()
            )),
            Err(e) => Err(not_removed(code, &p, &e)),
        })
        .collect()
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
    LiveUnreadable { why: String },
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
    pub code: String,
    pub files: usize,
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

fn temp(dossiers: &Path, what: &str, code: &str) -> PathBuf {
    dossiers.join(format!("{TEMP_PREFIX}{what}-{code}"))
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
    let partial = dir.join(format!("{TEMP_PREFIX}new-{code}"));
    clear(dir, &partial)?;
    let checked = match read::check(archive, Some(&partial)) {
        Ok(c) => c,
        Err(e) => {
            let _ = discard(dir, &partial);
            return Err(e.into());
        }
    };
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
    let checked = match read::check(archive, Some(&new)) {
        Ok(c) => c,
        Err(e) => {
            let _ = discard(dossiers, &new);
            return Err(e.into());
        }
    };
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
    let held = if live_exists {
        match lock::try_exclusive(&live.join(LOCK_FILE)) {
            Ok(h) => Some(h),
            Err(LockError::Busy) => return fail(RestoreError::InUse { code }),
            Err(LockError::Io(e)) => return fail(io_err(&live.join(LOCK_FILE))(e)),
        }
    } else {
        None
    };

    // 3. The live state, if no archive holds it, saved before anything
    //    else: under the dossier's lock, so it is the state the switch
    //    replaces.
    let saved_before = match &held {
        Some(h) => match guard.keep_live_state(&code, &live, h, &checked.manifest) {
            Ok(saved) => saved,
            Err(why) => {
                return fail(RestoreError::NotSavedBefore {
                    code,
                    why: why.trim_end_matches('.').to_owned(),
                });
            }
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

    // 4. Associated documents the archive does not hold stay as they are,
    //    and so does everything a run leaves out of an archive (special
    //    files, names an archive cannot hold…): no archive has it, so the
    //    restore must not destroy it.
    let live_docs = live.join(DOCUMENTS);
    if live_docs.is_dir()
        && let Err(e) = link_tree(&live_docs, &new.join(DOCUMENTS))
    {
        return fail_saved(e);
    }
    let kept = if live_exists {
        match keep_left_out(&live, &new, checked.manifest.documents_included) {
            Ok(k) => k,
            Err(e) => return fail_saved(e),
        }
    } else {
        Vec::new()
    };

    // The lock file the restored dossier will be locked through, made now
    // so that taking its lock after the switch changes no folder entry of
    // the published tree (its folder is flushed below).
    if let Err(e) = File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(new.join(LOCK_FILE))
        .map_err(io_err(&new.join(LOCK_FILE)))
    {
        return fail_saved(e);
    }

    // The archive's links, now that nothing more is carried in; then the
    // folders touched get their recorded times again.
    if let Err(e) = checked.make_links() {
        return fail_saved(e.into());
    }
    if let Err(e) = checked.finish_folders().map_err(io_err(&new)) {
        return fail_saved(e);
    }

    // 5. The new dossier is complete: its folders flushed (a file's own
    //    flush does not make its name durable), then marked so, durably.
    if let Err(e) = sync_tree(&new) {
        return fail_saved(e);
    }
    if let Err(e) = fs::rename(&new, &ready).map_err(io_err(&ready)) {
        return fail_saved(e);
    }
    if let Err(e) = crate::sys::fs::sync_dir(dossiers).map_err(io_err(dossiers)) {
        return fail_saved(e);
    }

    // 6. The switch: two renames, each atomic.
    // Windows refuses to rename a folder while a file in it is open, our
    // lock file included: let go of it just before. An application that
    // opens the dossier in between holds `dossier.lock` open itself, so the
    // rename then fails and nothing changes — the same guarantee.
    #[cfg(windows)]
    drop(held);
    if live_exists && let Err(e) = fs::rename(&live, &old).map_err(io_err(&old)) {
        return fail_saved(e);
    }
    if let Err(e) = fs::rename(&ready, &live) {
        // Put the old dossier back; it is whole.
        if live_exists {
            let _ = fs::rename(&old, &live);
        }
        return fail_saved(io_err(&live)(e));
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

/// Flushes every folder of the tree at `root` (deepest first), so the names
/// of its files and folders are on disk before the tree is published by a
/// rename: after a power cut, a published tree is never missing entries.
fn sync_tree(root: &Path) -> Result<(), RestoreError> {
    let mut dirs = vec![root.to_owned()];
    let mut i = 0;
    while i < dirs.len() {
        let rd = fs::read_dir(&dirs[i]).map_err(io_err(&dirs[i]))?;
        for e in rd {
            let e = e.map_err(io_err(&dirs[i]))?;
            if e.file_type().map_err(io_err(&e.path()))?.is_dir() {
                dirs.push(e.path());
            }
        }
        i += 1;
    }
    for d in dirs.iter().rev() {
        crate::sys::fs::sync_dir(d).map_err(io_err(d))?;
    }
    Ok(())
}

/// Adds to `to` everything of `from` that `to` does not have: a file as a
/// hard link to the same file (a copy, with its modification time, where
/// the file system cannot link), a symbolic link as a link (never
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
                File::options()
                    .write(true)
                    .open(&dst)
                    .and_then(|f| f.set_modified(mtime))
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

/// Settles what a killed or failed restore left in `dossiers/` (see the
/// table at the top of this file). The caller holds the base's run lock.
/// One line per tree, for the user: `Ok` what was done, `Err` a tree that
/// could not be put back or removed (it stays; the next call tries again).
pub fn recover(dossiers: &Path) -> Lines {
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
                Ok(()) => Ok(format!(
                    "Dossier {code} : remontée interrompue précédemment, {what}"
                )),
                Err(e) => Err(format!(
                    "Dossier {code} : remontée interrompue précédemment, {} n'a pas pu être remis en place ({e}) ; le prochain traitement, la prochaine remontée ou importation réessaiera",
                    p.display()
                )),
            },
            None => match discard(dossiers, &p) {
                Ok(()) if kind == "del" => Ok(format!(
                    "Dossier {code} : dossier temporaire {} supprimé",
                    p.display()
                )),
                Ok(()) => Ok(format!(
                    "Dossier {code} : remontée interrompue précédemment, dossier temporaire supprimé"
                )),
                Err((path, e)) => Err(not_removed(&code, &path, &e)),
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
        assert!(done.iter().all(Result::is_ok), "{done:?}");
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
