//! `svgauto verify`: judges archives as `restore` would, in parallel, one
//! line each (`OK`, `ENDOMMAGÉE`, `REFUSÉE`); exit 1 unless all are OK.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::archive::read::{Checked, Damage, check};
use crate::exit::{Exit, Line, Output};

/// Why `verify` could not judge anything (exit 2).
#[derive(Debug, Error)]
pub enum VerifyError {
    /// A file or folder named on the command line could not be read.
    #[error("{} : {error}", path.display())]
    Unreadable {
        /// As named (or found under a folder named).
        path: PathBuf,
        /// What the system said; part of the message, not a separate cause.
        error: io::Error,
    },
    /// The folders named hold no archive.
    #[error("aucune archive .SVG à vérifier")]
    NothingToVerify,
}

/// The archives named on the command line: files as given, folders walked
/// for `B*.SVG` (any case), sorted.
pub fn collect(args: &[PathBuf]) -> Result<Vec<PathBuf>, VerifyError> {
    let unreadable = |path: &Path| {
        let path = path.to_owned();
        move |error| VerifyError::Unreadable { path, error }
    };
    let mut out = Vec::new();
    for a in args {
        let meta = fs::metadata(a).map_err(unreadable(a))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(a, &mut found).map_err(unreadable(a))?;
            found.sort();
            out.extend(found);
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// Adds to `out` the archives under `dir`, one folder open at a time
/// whatever the depth (`crate::sys::tree`).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for e in crate::sys::tree::read_folder(&dir, false)? {
            let e = e?;
            let ft = e.file_type?;
            let p = e.path;
            if ft.is_dir() {
                pending.push(p);
            } else if ft.is_file()
            // Backups of this batch only: the original product's S<CODE>.SVG
            // beside them are not svgauto archives.
            && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('B'))
            && p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| x.eq_ignore_ascii_case("svg"))
            {
                out.push(p);
            }
        }
    }
    Ok(())
}

/// What `verify` says of one archive.
#[derive(Debug)]
pub enum Verdict {
    /// `restore` would bring it back exactly as recorded.
    Ok(Box<Checked>),
    /// The file is damaged, or holds what `restore` refuses ([`Damage`]).
    Damaged(Damage),
    /// Sound, but `restore` refuses it under this file name: an
    /// `S<CODE>.SVG`, a name that is not `B<CODE>.SVG`, or the manifest's
    /// dossier not the file name's (the French sentence `restore` gives).
    Refused(String),
}

/// Judges the archive at `path` as `restore` would: its file name first
/// (`restore::code_of`), then [`check`] — what `run --verify` checks, the
/// name being its own choice there — then the manifest's dossier against
/// the name.
pub fn verify_file(path: &Path) -> Verdict {
    use crate::restore::{RestoreError, code_of};
    let code = match code_of(path) {
        Ok(c) => c,
        Err(e) => return Verdict::Refused(e.to_string()),
    };
    match check(path, None) {
        Err(d) => Verdict::Damaged(d),
        Ok(c) if c.manifest.dossier.code != code => Verdict::Refused(
            RestoreError::CodeMismatch {
                file: code,
                manifest: c.manifest.dossier.code,
            }
            .to_string(),
        ),
        Ok(c) => Verdict::Ok(Box::new(c)),
    }
}

/// `svgauto verify`: every archive, in parallel; one line each: `OK`,
/// `ENDOMMAGÉE` or `REFUSÉE` (see [`Verdict`]); exit 1 unless all are OK.
pub fn verify_command(paths: &[PathBuf]) -> Result<Output, VerifyError> {
    use rayon::prelude::*;
    let files = collect(paths)?;
    if files.is_empty() {
        return Err(VerifyError::NothingToVerify);
    }
    let verdicts: Vec<_> = files.par_iter().map(|f| (f, verify_file(f))).collect();
    let exit = if verdicts.iter().all(|(_, v)| matches!(v, Verdict::Ok(_))) {
        Exit::Ok
    } else {
        Exit::DossierErrors
    };
    // Every verdict goes to stdout, damaged ones included: it is the output.
    let lines = verdicts
        .into_iter()
        .map(|(f, v)| {
            Line::Stdout(match v {
                Verdict::Ok(c) => format!(
                    "OK {} ({} fichier(s), {} octets)",
                    f.display(),
                    c.files,
                    c.bytes
                ),
                Verdict::Damaged(d) => format!("ENDOMMAGÉE {} : {d}", f.display()),
                Verdict::Refused(why) => format!("REFUSÉE {} : {why}", f.display()),
            })
        })
        .collect();
    Ok(Output { lines, exit })
}
