//! `svgauto restore`: archives back into the base (each live state no
//! archive holds saved first, [`Safeguard`]) or into another folder; the
//! catalog records each restore.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::archive;
use crate::base::Base;
use crate::catalog::{Catalog, CatalogError};
use crate::clock::Clock;
use crate::commands::safeguard::Safeguard;
use crate::error::CommandError;
use crate::exit::{Line, Output};
use crate::restore::{
    RestoreError, Restored, code_of, recover, remove_discarded, restore_into, restore_to,
};
use crate::sys::lock;

/// Opens the base for writing: its run lock, then whatever a killed
/// restore left behind, then the catalog.
pub(crate) fn open_for_writing(
    base: &Path,
) -> Result<(Base, lock::Held, Catalog, Vec<Line>), CommandError> {
    let base = Base::open(base, None)?;
    let held = base.lock_run()?;
    let mut recovered = recover(&base.dossiers_dir());
    recovered.extend(crate::commands::safeguard::remove_interrupted(
        &base.backup_dir(),
    ));
    let catalog = Catalog::open(&base.state_dir())?;
    recovered.extend(
        catalog
            .rebuilt
            .iter()
            .map(|m| Line::Stdout(format!("attention : {m}"))),
    );
    Ok((base, held, catalog, recovered))
}

/// `svgauto restore`: each archive into the base, or into `to`. What a
/// restore could not remove of its temporary folders is said after it (an
/// error line: exit 1).
pub fn restore_command(
    base: Option<&Path>,
    to: Option<&Path>,
    files: &[PathBuf],
    clock: &dyn Clock,
) -> Result<Output, CommandError> {
    let said = |file: &Path, r: Result<Restored, RestoreError>| match r {
        Ok(r) => Line::Stdout(format!(
            "Dossier {} : remonté depuis {}{}{}",
            r.code,
            file.display(),
            saved_words(&r.saved_before),
            kept_words(&r.kept)
        )),
        Err(e) => Line::Stderr(format!("{} : refusé : {e}", file.display())),
    };
    if let Some(to) = to {
        let mut lines = Vec::new();
        for f in files {
            lines.push(said(f, restore_to(f, to)));
            if let Ok(code) = code_of(f) {
                lines.extend(remove_discarded(to, &code));
            }
        }
        return Ok(Output::from_lines(lines));
    }
    let base = base.expect("clap requires --base without --to");
    let (base, _held, catalog, mut lines) = open_for_writing(base)?;
    let guard = Safeguard {
        base: &base,
        catalog: &catalog,
        clock,
    };
    for f in files {
        let r = restore_into(f, &base.dossiers_dir(), &guard);
        record(&catalog, &base.root, clock, f, &r, "restore")?;
        lines.push(said(f, r));
    }
    said_once(&mut lines, recover(&base.dossiers_dir()));
    Ok(Output::from_lines(lines))
}

/// Adds to `lines` those of `more` not already said (a tree that could not
/// be removed before the restores, and still cannot after, is said once).
pub(crate) fn said_once(lines: &mut Vec<Line>, more: Vec<Line>) {
    for l in more {
        if !lines.contains(&l) {
            lines.push(l);
        }
    }
}

/// Where a restore saved the state it replaced, said in its line.
pub(crate) fn saved_words(saved: &Option<PathBuf>) -> String {
    saved
        .as_ref()
        .map(|p| format!(" ; état précédent sauvegardé dans {}", p.display()))
        .unwrap_or_default()
}

/// What a restore kept that no archive holds, said after its line.
pub(crate) fn kept_words(kept: &[String]) -> String {
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

pub(crate) fn record(
    catalog: &Catalog,
    root: &Path,
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
        && let Some(recorded) = last_backup_record(catalog, root, r)?
    {
        // Only when the archive restored was the dossier's last backup (its
        // record says so, or it is the very file the catalog names): an
        // older one leaves the dossier modified since its last backup.
        catalog.refresh_fingerprint(&r.code, &recorded, fp, false)?;
    }
    catalog.record_restore(
        clock.now(),
        code.as_deref(),
        &file.display().to_string(),
        source,
        error.as_deref(),
    )
}

/// The catalog's fingerprint of the dossier's last backup when the archive
/// `r` came from holds that backup: the fingerprint its manifest records,
/// or — once an earlier restore of that backup refreshed the record to its
/// restored files — the same backup (fingerprint and time) as the archive
/// the catalog names, still in place. `None` otherwise.
fn last_backup_record(
    catalog: &Catalog,
    root: &Path,
    r: &Restored,
) -> Result<Option<String>, CatalogError> {
    let states = catalog.states()?;
    let Some(state) = states.get(&r.code) else {
        return Ok(None);
    };
    let Some(recorded) = &state.fingerprint else {
        return Ok(None);
    };
    if *recorded == r.archived_fingerprint {
        return Ok(Some(recorded.clone()));
    }
    let same_backup = state
        .last_archive
        .as_ref()
        .and_then(|a| manifest_of(&root.join(a)))
        .is_some_and(|m| {
            m.fingerprint == r.archived_fingerprint && m.backup_time == r.archived_backup_time
        });
    Ok(same_backup.then(|| recorded.clone()))
}

/// The manifest of the archive at `path`, if it reads. Through a buffer,
/// and parsed from memory: an archive of 70,000 files has a central
/// directory of megabytes and a manifest of tens (unbuffered, and parsed
/// from the reader byte by byte, this took a second).
fn manifest_of(path: &Path) -> Option<archive::Manifest> {
    let mut zip = zip::ZipArchive::new(BufReader::new(File::open(path).ok()?)).ok()?;
    let mut text = Vec::new();
    zip.by_name(archive::MANIFEST)
        .ok()?
        .read_to_end(&mut text)
        .ok()?;
    serde_json::from_slice(&text).ok()
}
