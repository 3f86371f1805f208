//! `svgauto run --dry-run`: what the run would do with every dossier, in
//! the order it would, and why — computed by the same plan as the run
//! (`plan::select_all`), without writing anything (no catalog,
//! lock file, folder or report is created; leftovers of a killed run are
//! seen, not cleaned). [`DryRun`] is the JSON form; [`DryRun::render`] the
//! text.
//!
//! Why a dossier is skipped is said in `crate::state`'s words; why it would
//! be saved, and the sizes (`short_bytes`, `human_bytes`), only here.

use std::collections::HashMap;

use serde::Serialize;

use crate::base::{Base, LOCK_FILE, display_path, target_dir};
use crate::catalog::{Catalog, CatalogError, DossierState};
use crate::clock::Clock;
use crate::notify::Mailer;
use crate::scan::DossierScan;
use crate::state::Outcome;
use crate::state::{SaveReason, Skip};
use crate::sys::lock;

use super::leftovers::leftovers;
use super::plan::{Planned, last_archives, rules, scan_all, select_all};
use super::prepare::{check_archives_present, check_dossiers_present};
use super::select::LastArchive;
use super::{RunError, RunOptions};

/// `run --dry-run`: what the run would do with every dossier, in the order
/// it would, and why — computed by the same selection as the run, without
/// writing anything (no catalog, lock file, folder or report is created;
/// leftovers of a killed run are seen, not cleaned).
#[derive(Debug, Serialize)]
pub struct DryRun {
    /// The JSON form's version.
    pub format: u32,
    /// [`crate::report::SCHEMA_VERSION`]: `schemas/dry-run.schema.json`.
    pub schema_version: u32,
    /// Always `true`: says what this JSON is.
    pub dry_run: bool,
    /// The base's folder.
    pub base: String,
    /// The collaborator the run would run as.
    pub user: String,
    /// Where the archives would be written (with the rotation folder).
    pub target_dir: String,
    /// `--max-duration`, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
    /// What the run would have to say besides the dossiers (a catalog it
    /// would rebuild).
    pub warnings: Vec<String>,
    /// To save first, in run order; then the errors; then the others, by code.
    pub dossiers: Vec<PlanLine>,
    /// The counts of the lines, and the bytes to read.
    pub totals: PlanTotals,
}

/// What the run would do with one dossier.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Saved, at its place in the order.
    Save,
    /// An error line before any save (identity, rights, walk, case twin).
    Error,
    /// Not concerned: unchanged or excluded.
    Skip,
}

/// One dossier in the dry run.
#[derive(Debug, Serialize)]
pub struct PlanLine {
    /// The dossier's code (its folder's name).
    pub code: String,
    /// Its name, from `dossier.toml`.
    pub name: Option<String>,
    /// What the run would do with it.
    pub action: Action,
    /// Position in the run, from 1, for the dossiers to save.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<usize>,
    /// Why it would be saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<SaveReason>,
    /// Why it would not be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Skip>,
    /// The same, in French, as the text output says it.
    pub detail: String,
    /// Its size, as scanned now.
    pub bytes: u64,
    /// The files it holds, as scanned now.
    pub files: usize,
    /// Its lock is held right now: the run would give an error line.
    pub in_use: bool,
    /// The error of the previous run, for a dossier saved again after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The dry run's counts.
#[derive(Debug, Default, Serialize)]
pub struct PlanTotals {
    /// Dossiers to save.
    pub to_save: usize,
    /// What the run would read.
    pub bytes: u64,
    /// Dossiers to save whose lock is held right now.
    pub in_use: usize,
    /// Dossiers in error before any save.
    pub errors: usize,
    /// Dossiers not concerned.
    pub skipped: usize,
}

/// `svgauto run --dry-run`.
pub fn dry_run(opts: &RunOptions, clock: &dyn Clock) -> Result<DryRun, RunError> {
    let base = Base::open(&opts.base, opts.workstation.as_deref())?;
    // A backup or state folder the run would refuse stops its simulation.
    base.check_outside_dossiers()?;
    let rights = base.rights(&opts.user)?;
    // Mail settings that would stop the run stop its simulation too.
    Mailer::from_settings(&base.effective)?;
    let settings = &base.effective.settings;
    let target = target_dir(&base.backup_dir(), settings.backup.subdir, clock.now());
    base.check_rotation_folder(&target)?;
    let mut warnings = Vec::new();
    let states = read_states(&base, &mut warnings)?;
    let backup_dir = base.backup_dir();
    let leftovers = leftovers(&backup_dir, &base.dossiers_dir());
    let archives = last_archives(&base.root, &states);
    let scans = scan_all(&base)?;
    if !opts.force_all {
        let here: std::collections::HashSet<&str> = scans.iter().map(|s| s.code.as_str()).collect();
        let stops = check_archives_present(&backup_dir, &archives).and_then(|()| {
            check_dossiers_present(&base.dossiers_dir(), &states, |c| here.contains(c))
        });
        if let Err(e) = stops {
            warnings.push(format!("le traitement s'arrêterait : {e}"));
        }
    }
    if lock::in_use(&base.run_lock_path()) {
        warnings.push(
            "un traitement est en cours sur cette base : une sauvegarde lancée maintenant s'arrêterait aussitôt (code 2)"
                .to_owned(),
        );
    }
    let rules = rules(opts, &base, &rights);
    let plan = select_all(scans, &states, &archives, &leftovers, &rules);
    let known = Known {
        opts,
        states: &states,
        archives: &archives,
    };
    let mut dossiers: Vec<PlanLine> = plan
        .todo
        .iter()
        .enumerate()
        .map(|(i, p)| known.save_line(i + 1, p))
        .collect();
    let mut others: Vec<PlanLine> = plan
        .decided
        .into_iter()
        .map(|(s, outcome)| other_line(&s, outcome))
        .collect();
    others.sort_by(|a, b| {
        (!matches!(a.action, Action::Error), &a.code)
            .cmp(&(!matches!(b.action, Action::Error), &b.code))
    });
    let errors = others
        .iter()
        .filter(|l| matches!(l.action, Action::Error))
        .count();
    let totals = PlanTotals {
        to_save: dossiers.len(),
        bytes: dossiers.iter().map(|l| l.bytes).sum(),
        in_use: dossiers.iter().filter(|l| l.in_use).count(),
        errors,
        skipped: others.len() - errors,
    };
    dossiers.extend(others);
    Ok(DryRun {
        format: 1,
        schema_version: crate::report::SCHEMA_VERSION,
        dry_run: true,
        base: base.root.display().to_string(),
        user: opts.user.clone(),
        target_dir: display_path(&target, &base.root),
        max_duration: opts.max_duration.map(crate::clock::format_duration),
        warnings,
        dossiers,
        totals,
    })
}

/// The catalog's states, read only; none when there is no catalog yet or
/// it is unusable (said in `warnings`: the run would rebuild it).
fn read_states(
    base: &Base,
    warnings: &mut Vec<String>,
) -> Result<HashMap<String, DossierState>, RunError> {
    Ok(match Catalog::open_read_only(&base.state_dir()) {
        Ok(Some(c)) => {
            let states = c.read_states()?;
            warnings.extend(states.unreadable.iter().map(ToString::to_string));
            states.known
        }
        Ok(None) => HashMap::new(),
        Err(e @ CatalogError::Unusable { .. }) => {
            warnings.push(format!(
                "{e} : le traitement le mettra de côté, le reconstruira et sauvegardera tous les dossiers"
            ));
            HashMap::new()
        }
        Err(e) => return Err(e.into()),
    })
}

/// What the lines of the dossiers to save are written from.
struct Known<'a> {
    opts: &'a RunOptions,
    states: &'a HashMap<String, DossierState>,
    archives: &'a HashMap<String, LastArchive>,
}

impl Known<'_> {
    /// The line of the dossier to save `order`-th.
    fn save_line(&self, order: usize, p: &Planned) -> PlanLine {
        let last_error = self
            .states
            .get(&p.scan.code)
            .and_then(|s| s.last_error.clone());
        let in_use = lock::in_use(&p.scan.dir.join(LOCK_FILE));
        let mut detail = self.why_text(p, last_error.as_deref());
        if in_use {
            detail.push_str(" ; utilisé en ce moment : sera en erreur s'il est encore ouvert");
        }
        PlanLine {
            code: p.scan.code.clone(),
            name: name(&p.scan),
            action: Action::Save,
            order: Some(order),
            why: Some(p.why),
            reason: None,
            detail,
            bytes: p.scan.total_bytes,
            files: p.scan.entry_count,
            in_use,
            last_error: if p.why == SaveReason::Retry {
                last_error
            } else {
                None
            },
        }
    }

    /// Why the dossier would be saved, in French.
    fn why_text(&self, p: &Planned, last_error: Option<&str>) -> String {
        let last_archive = || {
            self.states
                .get(&p.scan.code)
                .and_then(|s| s.last_archive.as_deref())
                .unwrap_or("?")
        };
        match p.why {
            SaveReason::New => "jamais sauvegardé".to_owned(),
            SaveReason::Modified => "modifié depuis la dernière sauvegarde".to_owned(),
            SaveReason::Forced if self.opts.force_all => "sauvegarde forcée (--all)".to_owned(),
            SaveReason::Forced => {
                "tous les dossiers sont sauvegardés (backup.modified_only = false)".to_owned()
            }
            SaveReason::Retry => format!(
                "nouvel essai après l'erreur du traitement précédent : {}",
                last_error.unwrap_or("?")
            ),
            SaveReason::Deferred => "reporté par le traitement précédent".to_owned(),
            SaveReason::Interrupted => {
                "reprise : sa sauvegarde précédente avait été interrompue".to_owned()
            }
            SaveReason::ArchiveMissing => format!(
                "non modifié, mais l'archive de sa dernière sauvegarde a disparu ({})",
                last_archive()
            ),
            SaveReason::ArchiveAltered => {
                let (found, recorded) = match self.archives.get(&p.scan.code) {
                    Some(LastArchive::Altered { found, recorded }) => (*found, *recorded),
                    _ => (0, 0),
                };
                format!(
                    "non modifié, mais l'archive de sa dernière sauvegarde a été modifiée ou tronquée ({} : {} au lieu de {})",
                    last_archive(),
                    human_bytes(found),
                    human_bytes(recorded)
                )
            }
        }
    }
}

/// The line of a dossier decided without a save.
fn other_line(s: &DossierScan, outcome: Outcome) -> PlanLine {
    // Selection decides these without a save: an error line, or a skip.
    let (action, reason, detail) = match outcome {
        Outcome::Error { message, .. } => (Action::Error, None, message),
        other => {
            let skip = other.skip().unwrap_or(Skip::Unchanged);
            (Action::Skip, Some(skip), skip.reason().to_owned())
        }
    };
    PlanLine {
        code: s.code.clone(),
        name: name(s),
        action,
        order: None,
        why: None,
        reason,
        detail,
        bytes: s.total_bytes,
        files: s.entry_count,
        in_use: false,
        last_error: None,
    }
}

/// The dossier's name, from its identity.
fn name(s: &DossierScan) -> Option<String> {
    s.identity.as_ref().ok().and_then(|i| i.name.clone())
}

impl DryRun {
    /// The plan as text, for a terminal.
    pub fn render(&self) -> String {
        let mut out = format!(
            "Simulation du traitement (--dry-run) : rien n'est écrit.\nBase {}, collaborateur {}, archives dans {}{}\n",
            self.base,
            self.user,
            self.target_dir,
            self.max_duration
                .as_deref()
                .map(|d| format!(", durée maximale {d}"))
                .unwrap_or_default()
        );
        for w in &self.warnings {
            out.push_str(&format!("Attention : {w}\n"));
        }
        let section = |out: &mut String, title: &str, action: fn(&Action) -> bool| {
            let lines: Vec<&PlanLine> =
                self.dossiers.iter().filter(|l| action(&l.action)).collect();
            if lines.is_empty() {
                return;
            }
            out.push_str(&format!("\n{title}\n"));
            for l in lines {
                let order = l
                    .order
                    .map(|o| format!("{o:>4}. "))
                    .unwrap_or_else(|| "    - ".into());
                let size = if matches!(l.action, Action::Save) {
                    format!(" ({}, {} fichier(s))", short_bytes(l.bytes), l.files)
                } else {
                    String::new()
                };
                out.push_str(&format!("{order}Dossier {} : {}{size}\n", l.code, l.detail));
            }
        };
        section(
            &mut out,
            "À sauvegarder, dans l'ordre du traitement :",
            |a| matches!(a, Action::Save),
        );
        section(&mut out, "En erreur :", |a| matches!(a, Action::Error));
        section(&mut out, "Non concernés :", |a| matches!(a, Action::Skip));
        let t = &self.totals;
        out.push_str(&format!(
            "\n{} dossier(s) à sauvegarder, {} à lire ; {} utilisé(s) en ce moment ; {} en erreur ; {} non concerné(s)\n",
            t.to_save,
            human_bytes(t.bytes),
            t.in_use,
            t.errors,
            t.skipped
        ));
        out
    }
}

/// `1,2 Mio`, `512 octets`.
fn short_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["Kio", "Mio", "Gio", "Tio"];
    let mut v = n as f64;
    let mut unit = None;
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = Some(u);
    }
    match unit {
        Some(u) => format!("{} {u}", format!("{v:.1}").replace('.', ",")),
        None => format!("{n} octets"),
    }
}

/// `1 234 567 octets (1,2 Mio)`: exact, and readable.
fn human_bytes(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    if n < 1024 {
        return format!("{grouped} octets");
    }
    format!("{grouped} octets ({})", short_bytes(n))
}
