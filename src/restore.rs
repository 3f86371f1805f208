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
//!
//! Associated documents the archive does not hold (all of them when it was
//! made without documents, those added since otherwise) are carried over
//! from the live dossier into the new one by hard links (a copy where links
//! are impossible) before the switch, so the live dossier is never touched
//! before it is switched whole.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::archive;
use crate::base::{Base, BaseError, DOCUMENTS, LOCK_FILE, valid_code};
use crate::catalog::{Catalog, CatalogError};
use crate::clock::Clock;
use crate::exit::Said;
use crate::lock::{self, LockError};
use crate::report::IN_USE;
use crate::verify::{self, Damage};

/// Names of restore's temporary folders in `dossiers/` start with this.
pub const TEMP_PREFIX: &str = ".svgauto-";

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
    /// What the live dossier held that no archive can (see
    /// [`keep_left_out`]), kept in the restored dossier: shown paths.
    pub kept: Vec<String>,
    /// Restored into a base, holding exactly what the archive lists: the
    /// fingerprint of the restored files, to record when the archive was
    /// the dossier's last backup (see [`restored_fingerprint`]).
    pub restored_fingerprint: Option<String>,
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
    remove_tree(&partial)?;
    let checked = match verify::check(archive, Some(&partial)) {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_dir_all(&partial);
            return Err(e.into());
        }
    };
    if checked.manifest.dossier.code != code {
        let _ = fs::remove_dir_all(&partial);
        return Err(RestoreError::CodeMismatch {
            file: code,
            manifest: checked.manifest.dossier.code,
        });
    }
    sync_tree(&partial)?;
    fs::rename(&partial, &target).map_err(io_err(&target))?;
    archive::sync_dir(dir).map_err(io_err(dir))?;
    Ok(Restored {
        code,
        files: checked.files,
        bytes: checked.bytes,
        dir: target,
        archived_fingerprint: checked.manifest.fingerprint,
        restored_fingerprint: None,
        kept: Vec::new(),
    })
}

/// Restores `archive` into the base's `dossiers/` folder, switching the
/// live dossier atomically. The caller holds the base's run lock.
pub fn restore_into(archive: &Path, dossiers: &Path) -> Result<Restored, RestoreError> {
    let code = code_of(archive)?;
    let live = dossiers.join(&code);
    let new = temp(dossiers, "new", &code);
    let ready = temp(dossiers, "ready", &code);
    let old = temp(dossiers, "old", &code);
    remove_tree(&new)?;

    // 1. Extract and check everything, away from the live dossier.
    let checked = match verify::check(archive, Some(&new)) {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_dir_all(&new);
            return Err(e.into());
        }
    };
    let fail = |e: RestoreError| {
        let _ = fs::remove_dir_all(&new);
        let _ = fs::remove_dir_all(&ready);
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

    // 3. Associated documents the archive does not hold stay as they are,
    //    and so does everything a run leaves out of an archive (special
    //    files, names an archive cannot hold…): no archive has it, so the
    //    restore must not destroy it.
    let live_docs = live.join(DOCUMENTS);
    if live_docs.is_dir()
        && let Err(e) = link_tree(&live_docs, &new.join(DOCUMENTS))
    {
        return fail(e);
    }
    let kept = if live_exists {
        match keep_left_out(&live, &new, checked.manifest.documents_included) {
            Ok(k) => k,
            Err(e) => return fail(e),
        }
    } else {
        Vec::new()
    };

    // Carrying things in touched folders: their recorded times again.
    if let Err(e) = checked.finish_folders().map_err(io_err(&new)) {
        return fail(e);
    }

    // 4. The new dossier is complete: its folders flushed (a file's own
    //    flush does not make its name durable), then marked so, durably.
    if let Err(e) = sync_tree(&new) {
        return fail(e);
    }
    if let Err(e) = fs::rename(&new, &ready).map_err(io_err(&ready)) {
        return fail(e);
    }
    if let Err(e) = archive::sync_dir(dossiers).map_err(io_err(dossiers)) {
        return fail(e);
    }

    // 5. The switch: two renames, each atomic.
    // Windows refuses to rename a folder while a file in it is open, our
    // lock file included: let go of it just before. An application that
    // opens the dossier in between holds `dossier.lock` open itself, so the
    // rename then fails and nothing changes — the same guarantee.
    #[cfg(windows)]
    drop(held);
    if live_exists && let Err(e) = fs::rename(&live, &old).map_err(io_err(&old)) {
        return fail(e);
    }
    if let Err(e) = fs::rename(&ready, &live) {
        // Put the old dossier back; it is whole.
        if live_exists {
            let _ = fs::rename(&old, &live);
        }
        return fail(io_err(&live)(e));
    }
    let _ = archive::sync_dir(dossiers);
    // Scanned under the dossier's lock (taken now if it is not held: a
    // recreated dossier, or Windows).
    #[cfg(windows)]
    let held: Option<lock::Held> = None;
    let held = held.or_else(|| lock::try_exclusive(&live.join(LOCK_FILE)).ok());
    let restored_fingerprint = held
        .as_ref()
        .and_then(|_| restored_fingerprint(&live, &code, &checked.manifest));
    drop(held);

    // 6. Clean up; if this fails, `recover` finishes it later.
    let _ = fs::remove_dir_all(&old);
    Ok(Restored {
        code,
        files: checked.files,
        bytes: checked.bytes,
        dir: live,
        archived_fingerprint: checked.manifest.fingerprint,
        restored_fingerprint,
        kept,
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
    let left_out = crate::scan::left_out(live, documents_included).map_err(|why| {
        RestoreError::CannotKeep {
            rel: live.display().to_string(),
            source: io::Error::other(why),
        }
    })?;
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
/// the depth (`crate::tree`).
fn carry(from: &Path, to: &Path) -> io::Result<()> {
    let mut pending = vec![(from.to_owned(), to.to_owned())];
    while let Some((from, to)) = pending.pop() {
        let meta = fs::symlink_metadata(&from)?;
        if meta.is_dir() {
            fs::create_dir(&to)?;
            for e in crate::tree::read_folder(&from, false)? {
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
            crate::scan::Mtime {
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

fn remove_tree(p: &Path) -> Result<(), RestoreError> {
    match fs::remove_dir_all(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(p)(e)),
        _ => Ok(()),
    }
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
        archive::sync_dir(d).map_err(io_err(d))?;
    }
    Ok(())
}

/// Adds to `to` every file of `from` that `to` does not have, as a hard link
/// to the same file (a copy, with its modification time, where the file
/// system cannot link); one folder open at a time, whatever the depth
/// (`crate::tree`).
fn link_tree(from: &Path, to: &Path) -> Result<(), RestoreError> {
    let mut pending = vec![(from.to_owned(), to.to_owned())];
    while let Some((from, to)) = pending.pop() {
        fs::create_dir_all(&to).map_err(io_err(&to))?;
        for e in crate::tree::read_folder(&from, false).map_err(io_err(&from))? {
            let e = e.map_err(io_err(&from))?;
            let ft = e.file_type.map_err(io_err(&e.path))?;
            let (src, dst) = (e.path, to.join(e.name));
            if ft.is_dir() {
                pending.push((src, dst));
            } else if ft.is_file() && !dst.exists() && fs::hard_link(&src, &dst).is_err() {
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
            // Symbolic links and special files are not part of a dossier (see
            // scan); they are not carried over.
        }
    }
    Ok(())
}

/// Settles what a killed restore left in `dossiers/` (see the table at the
/// top of this file). The caller holds the base's run lock. Returns what was
/// done, for the user.
pub fn recover(dossiers: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dossiers) else {
        return Vec::new();
    };
    let mut left: Vec<(String, String)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(TEMP_PREFIX)?;
            let (what, code) = rest.split_once('-')?;
            Some((what.to_owned(), code.to_owned()))
        })
        .collect();
    // `ready` before `old`: whether the old one is still needed depends on it.
    left.sort_by_key(|(what, _)| match what.as_str() {
        "ready" => 0,
        "old" => 1,
        _ => 2,
    });
    let mut done = Vec::new();
    for (what, code) in left {
        let p = temp(dossiers, &what, &code);
        let live = dossiers.join(&code);
        let action = match what.as_str() {
            "ready" if !live.exists() => fs::rename(&p, &live).map(|_| "nouvel état mis en place"),
            "old" if !live.exists() => fs::rename(&p, &live).map(|_| "ancien état remis en place"),
            _ => fs::remove_dir_all(&p).map(|_| "dossier temporaire supprimé"),
        };
        if let Ok(a) = action {
            done.push(format!(
                "Dossier {code} : remontée interrompue précédemment, {a}"
            ));
        }
    }
    if !done.is_empty() {
        let _ = archive::sync_dir(dossiers);
    }
    done
}

/// What became of one file of `maj/`.
#[derive(Debug)]
pub struct Imported {
    pub file: PathBuf,
    pub result: Result<Restored, RestoreError>,
    /// Where the file was moved.
    pub moved_to: PathBuf,
}

/// `import`: restores every `B*.SVG` of `maj/`, then moves it into
/// `maj/done/` or, refused, into `maj/failed/` with a `.txt` saying why.
/// The caller holds the base's run lock.
pub fn import(maj: &Path, dossiers: &Path, stamp: &str) -> io::Result<Vec<Imported>> {
    let mut files: Vec<PathBuf> = match fs::read_dir(maj) {
        Ok(rd) => rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            // Only backups of this batch are for import; an S<CODE>.SVG or
            // a note dropped beside them stays where it is.
            .filter(|p| {
                p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| x.eq_ignore_ascii_case("svg"))
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('B'))
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let result = restore_into(&file, dossiers);
        let folder = maj.join(if result.is_ok() { "done" } else { "failed" });
        fs::create_dir_all(&folder)?;
        let name = file.file_name().map(|n| n.to_owned()).unwrap_or_default();
        let mut moved_to = folder.join(&name);
        if moved_to.exists() {
            moved_to = folder.join(format!("{}-{stamp}", name.to_string_lossy()));
        }
        fs::rename(&file, &moved_to)?;
        if let Err(e) = &result {
            let mut why = moved_to.clone().into_os_string();
            why.push(".txt");
            fs::write(
                &why,
                format!(
                    "{} : refusé : {e}{}",
                    name.to_string_lossy(),
                    crate::report::EOL
                ),
            )?;
        }
        out.push(Imported {
            file,
            result,
            moved_to,
        });
    }
    Ok(out)
}

/// A command could not take place (exit 2).
#[derive(Debug, Error)]
pub enum CommandError {
    #[error(transparent)]
    Base(#[from] BaseError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("{}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// Opens the base for writing: its run lock, then whatever a killed
/// restore left behind, then the catalog.
fn open_for_writing(base: &Path) -> Result<(Base, lock::Held, Catalog, Vec<String>), CommandError> {
    let base = Base::open(base, None)?;
    let held = base.lock_run()?;
    let mut recovered = recover(&base.dossiers_dir());
    let catalog = Catalog::open(&base.state_dir())?;
    recovered.extend(catalog.rebuilt.iter().map(|m| format!("attention : {m}")));
    Ok((base, held, catalog, recovered))
}

/// `svgauto restore`: each archive into the base, or into `to`.
pub fn restore_command(
    base: Option<&Path>,
    to: Option<&Path>,
    files: &[PathBuf],
    clock: &dyn Clock,
) -> Result<Said, CommandError> {
    let said = |file: &Path, r: Result<Restored, RestoreError>| match r {
        Ok(r) => Ok(format!(
            "Dossier {} : remonté depuis {}{}",
            r.code,
            file.display(),
            kept_words(&r.kept)
        )),
        Err(e) => Err(format!("{} : refusé : {e}", file.display())),
    };
    if let Some(to) = to {
        let lines = files.iter().map(|f| said(f, restore_to(f, to))).collect();
        return Ok(Said::from_lines(lines));
    }
    let base = base.expect("clap requires --base without --to");
    let (base, _held, catalog, recovered) = open_for_writing(base)?;
    let mut lines: Vec<_> = recovered.into_iter().map(Ok).collect();
    for f in files {
        let r = restore_into(f, &base.dossiers_dir());
        record(&catalog, clock, f, &r, "restore")?;
        lines.push(said(f, r));
    }
    Ok(Said::from_lines(lines))
}

/// `svgauto import`: every archive of `<base>/maj/`.
pub fn import_command(base: &Path, clock: &dyn Clock) -> Result<Said, CommandError> {
    let (base, _held, catalog, recovered) = open_for_writing(base)?;
    let maj = base.root.join("maj");
    let stamp = clock.now().format("%Y%m%d-%H%M%S").to_string();
    let done = import(&maj, &base.dossiers_dir(), &stamp).map_err(|source| CommandError::Io {
        path: maj.clone(),
        source,
    })?;
    let mut lines: Vec<_> = recovered.into_iter().map(Ok).collect();
    for i in done {
        record(&catalog, clock, &i.file, &i.result, "import")?;
        lines.push(match &i.result {
            Ok(r) => Ok(format!(
                "Dossier {} : remonté depuis {}, rangé dans {}{}",
                r.code,
                i.file.display(),
                i.moved_to.display(),
                kept_words(&r.kept)
            )),
            Err(e) => Err(format!(
                "{} : refusé : {e} (rangé dans {})",
                i.file.display(),
                i.moved_to.display()
            )),
        });
    }
    if lines.is_empty() {
        lines.push(Ok(format!(
            "Aucune sauvegarde à remonter dans {}",
            maj.display()
        )));
    }
    Ok(Said::from_lines(lines))
}

/// What a restore kept that no archive holds, said after its line.
fn kept_words(kept: &[String]) -> String {
    if kept.is_empty() {
        return String::new();
    }
    format!(
        " ; conservé(s), car absent(s) de toute archive : {}",
        kept.iter()
            .map(|k| crate::report::one_line(k).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn record(
    catalog: &Catalog,
    clock: &dyn Clock,
    file: &Path,
    r: &Result<Restored, RestoreError>,
    source: &str,
) -> Result<(), CatalogError> {
    let code = match r {
        Ok(r) => Some(r.code.clone()),
        Err(_) => code_of(file).ok(),
    };
    let error = r.as_ref().err().map(ToString::to_string);
    if let Ok(r) = r
        && let Some(fp) = &r.restored_fingerprint
    {
        // Only when the archive restored was the dossier's last backup: an
        // older one leaves the dossier modified since its last backup.
        catalog.refresh_fingerprint(&r.code, &r.archived_fingerprint, fp)?;
    }
    catalog.record_restore(
        &clock.now().to_rfc3339(),
        code.as_deref(),
        &file.display().to_string(),
        source,
        error.as_deref(),
    )
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
        let done = recover(d.path());
        assert_eq!(done.len(), 5, "{done:?}");
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
