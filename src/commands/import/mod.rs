//! `svgauto import`: every archive dropped into `<base>/maj/` restored into
//! the base once it has settled ([`settle`]), then filed under `done/` or
//! `failed/` with a `.txt` saying why.

pub mod settle;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::clock::Clock;
use crate::commands::restore::{kept_words, open_for_writing, record, said_once, saved_words};
use crate::commands::safeguard::Safeguard;

use crate::error::CommandError;
use crate::exit::{Line, Output};
use crate::restore::{RestoreError, Restored, recover, restore_into};

/// What became of one file of `maj/` that was judged.
#[derive(Debug)]
pub struct Imported {
    pub file: PathBuf,
    pub result: Result<Restored, RestoreError>,
    /// Where the file was moved (where it is, if it could not be).
    pub moved_to: PathBuf,
    /// Why it could not be moved into `done/` or `failed/` (or its `.txt`
    /// written): said on its own line, the restore's outcome kept.
    pub filing_error: Option<String>,
}

/// One pass of `import` over `maj/`.
#[derive(Debug, Default)]
pub struct ImportPass {
    /// The files judged (restored or refused), in name order.
    pub imported: Vec<Imported>,
    /// Files left where they are for the next pass, or taken back from
    /// `failed/`, one French sentence each naming the file.
    pub left: Vec<String>,
}

/// The first line of a refused file's `.txt` is why; the second starts
/// with this, then how the file looked once filed (`settle::Look::to_line`),
/// to see later whether it changed.
const LOOK_WHEN_REFUSED: &str = "Fichier au refus : ";

/// `import`: restores every `B*.SVG` of `maj/` that has settled (see
/// `settle`: one still being copied, or changed in the last seconds, is
/// left for the next pass), then moves it into `maj/done/` or, refused,
/// into `maj/failed/` with a `.txt` saying why. A refused file that changes
/// afterwards in `failed/` (a copy that had stalled and resumed) is put
/// back into `maj/` first. A live state no archive holds is saved first by
/// `guard` (see [`restore_into`]). The caller holds the base's run lock.
pub fn import(
    maj: &Path,
    dossiers: &Path,
    stamp: &str,
    guard: &Safeguard<'_>,
) -> io::Result<ImportPass> {
    let mut pass = ImportPass::default();
    if !maj.is_dir() {
        return Ok(pass);
    }
    pass.left.extend(take_back_changed(maj)?);
    let mut files: Vec<PathBuf> = fs::read_dir(maj)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        // Only backups of this batch are for import; an S<CODE>.SVG or
        // a note dropped beside them stays where it is.
        .filter(|p| is_backup_name(&p.file_name().unwrap_or_default().to_string_lossy()))
        .collect();
    files.sort();

    // Quiet: nothing changed in the last seconds, by the drop folder's clock.
    let (quiet, pause) = settle::periods();
    let now = settle::fs_now(maj);
    let mut looked = Vec::new();
    for file in files {
        match settle::Look::of(&file) {
            Ok(l) if l.is_recent(now, quiet) => pass.left.push(format!(
                "{} : modifié il y a moins de {} (copie en cours ?) : laissé pour la prochaine importation",
                file.display(),
                settle::seconds(quiet)
            )),
            Ok(l) => looked.push((file, l)),
            // Gone since listed (moved by whoever is copying it): nothing
            // to judge.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => pass.left.push(format!(
                "{} : illisible ({e}) : laissé pour la prochaine importation",
                file.display()
            )),
        }
    }
    // Still: the same after a pause.
    if !looked.is_empty() {
        std::thread::sleep(pause);
    }
    for (file, first) in looked {
        if settle::Look::of(&file).ok().as_ref() != Some(&first) {
            pass.left.push(format!(
                "{} : sa taille ou sa date change encore (copie en cours ?) : laissé pour la prochaine importation",
                file.display()
            ));
            continue;
        }
        let result = restore_into(&file, dossiers, guard);
        // A refusal of a file that changed while it was read judged a
        // state it was passing through: the file is judged again later.
        if result.is_err() && settle::Look::of(&file).ok().as_ref() != Some(&first) {
            pass.left.push(format!(
                "{} : modifié pendant sa vérification (copie en cours ?) : laissé pour la prochaine importation",
                file.display()
            ));
            continue;
        }
        // A file that cannot be filed away is said on its own line; the
        // others go on (an error here must not hide what was restored).
        let (moved_to, filing_error) = match file_away(maj, &file, &result, stamp) {
            Ok(p) => (p, None),
            Err(e) => (file.clone(), Some(e.to_string())),
        };
        pass.imported.push(Imported {
            file,
            result,
            moved_to,
            filing_error,
        });
    }
    Ok(pass)
}

/// Moves an imported file into `maj/done/`, or `maj/failed/` with its
/// `.txt` saying why; returns where it went.
fn file_away(
    maj: &Path,
    file: &Path,
    result: &Result<Restored, RestoreError>,
    stamp: &str,
) -> io::Result<PathBuf> {
    let folder = maj.join(if result.is_ok() { "done" } else { "failed" });
    fs::create_dir_all(&folder)?;
    let name = file.file_name().map(|n| n.to_owned()).unwrap_or_default();
    let mut moved_to = folder.join(&name);
    if moved_to.exists() {
        let mut stamped = name.clone();
        stamped.push(format!("-{stamp}"));
        moved_to = folder.join(stamped);
    }
    fs::rename(file, &moved_to)?;
    if let Err(e) = result {
        let eol = crate::report::EOL;
        let filed = settle::Look::of(&moved_to)?;
        fs::write(
            txt_of(&moved_to),
            format!(
                "{} : refusé : {e}{eol}S'il change encore ici (une copie qui reprend), l'importation suivante le reprend.{eol}{LOOK_WHEN_REFUSED}{}{eol}",
                name.to_string_lossy(),
                filed.to_line()
            ),
        )?;
    }
    Ok(moved_to)
}

/// `B*.SVG`, any case.
fn is_backup_name(name: &str) -> bool {
    name.starts_with('B')
        && name
            .len()
            .checked_sub(4)
            .is_some_and(|i| name.is_char_boundary(i) && name[i..].eq_ignore_ascii_case(".svg"))
}

fn txt_of(file: &Path) -> PathBuf {
    let mut why = file.to_owned().into_os_string();
    why.push(".txt");
    PathBuf::from(why)
}

/// Puts back into `maj/` every refused file of `maj/failed/` that changed
/// since it was refused (its size, times or identity are no longer those
/// its `.txt` recorded), under its original name if that is free; its
/// `.txt`, about another content, is removed. One sentence each.
fn take_back_changed(maj: &Path) -> io::Result<Vec<String>> {
    let failed = maj.join("failed");
    let Ok(rd) = fs::read_dir(&failed) else {
        return Ok(Vec::new());
    };
    let mut said = Vec::new();
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        // `B<CODE>.SVG`, or `B<CODE>.SVG-<stamp>` when the name was taken.
        let Some(original) = name
            .to_ascii_lowercase()
            .find(".svg")
            .map(|i| &name[..i + 4])
            .filter(|o| is_backup_name(o))
        else {
            continue;
        };
        let txt = txt_of(&file);
        // A `.txt` without the record (written by an older svgauto, or by
        // hand) tells nothing: the file stays.
        let (Ok(why), Ok(now)) = (fs::read_to_string(&txt), settle::Look::of(&file)) else {
            continue;
        };
        let Some(then) = why
            .lines()
            .find_map(|l| l.strip_prefix(LOOK_WHEN_REFUSED))
            .and_then(settle::Look::parse)
        else {
            continue;
        };
        let back = maj.join(original);
        if then == now || fs::symlink_metadata(&back).is_ok() {
            continue;
        }
        fs::rename(&file, &back)?;
        let _ = fs::remove_file(&txt);
        said.push(format!(
            "{} : modifié depuis son refus (copie qui a repris ?) : remis dans {}, importé dès qu'il ne change plus",
            file.display(),
            back.display()
        ));
    }
    Ok(said)
}

/// `svgauto import`: every archive of `<base>/maj/` that has settled.
pub fn import_command(base: &Path, clock: &dyn Clock) -> Result<Output, CommandError> {
    let monitoring = crate::base::Base::open(base, None)?
        .effective
        .settings
        .monitoring;
    super::with_pings(&monitoring, || import_base(base, clock))
}

/// `import` between its pings.
fn import_base(base: &Path, clock: &dyn Clock) -> Result<Output, CommandError> {
    let (base, _held, catalog, mut lines) = open_for_writing(base)?;
    let maj = base.root.join(crate::base::MAJ_DIR);
    let stamp = clock.now().format("%Y%m%d-%H%M%S").to_string();
    let guard = Safeguard {
        base: &base,
        catalog: &catalog,
        clock,
    };
    let pass =
        import(&maj, &base.dossiers_dir(), &stamp, &guard).map_err(|source| CommandError::Io {
            path: maj.clone(),
            source,
        })?;
    lines.extend(pass.left.into_iter().map(Line::Stdout));
    for i in pass.imported {
        if let Err(e) = record(&catalog, &base.root, clock, &i.file, &i.result, "import") {
            lines.push(Line::Stderr(format!(
                "{} : remontée non enregistrée dans le catalogue : {e}",
                i.file.display()
            )));
        }
        if let Some(why) = &i.filing_error {
            lines.push(Line::Stderr(format!(
                "{} : impossible de le ranger dans done/ ou failed/ ({why}) : il reste dans maj/",
                i.file.display()
            )));
        }
        lines.push(match &i.result {
            Ok(r) => Line::Stdout(format!(
                "Dossier {} : remonté depuis {}, rangé dans {}{}{}",
                r.code,
                i.file.display(),
                i.moved_to.display(),
                saved_words(&r.saved_before),
                kept_words(&r.kept)
            )),
            Err(e) => Line::Stderr(format!(
                "{} : refusé : {e} (rangé dans {})",
                i.file.display(),
                i.moved_to.display()
            )),
        });
    }
    said_once(&mut lines, recover(&base.dossiers_dir()));
    if lines.is_empty() {
        lines.push(Line::Stdout(format!(
            "Aucune sauvegarde à remonter dans {}",
            maj.display()
        )));
    }
    Ok(Output::from_lines(lines))
}
