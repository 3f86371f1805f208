//! `svgauto status`: per dossier, its last backup, last result and whether
//! it was modified since — "is everything backed up?" in one command.
//!
//! It reads and never writes: the settings, the catalog (opened read-only;
//! a base never saved has none, and then every dossier is "jamais
//! sauvegardé"), a scan of the dossiers (the same fingerprint as the run,
//! `documents/` only with `backup.include_documents`), and whether each
//! last archive is still on disk. No catalog, lock file or folder is
//! created.
//!
//! The batch's own rules say which dossiers it covers (`select::decide`):
//! étalon, test, non transférable, and originals or copies excluded by
//! `backup.dossiers`, are shown but never count as a problem. A dossier of
//! the batch **needs attention** when:
//!
//! - it was never saved;
//! - its `dossier.toml` is missing or invalid, or its folder cannot be read;
//! - the last run left it in error, or its backup was interrupted;
//! - the archive its last backup wrote is no longer there, or is no longer
//!   the file written (another size than the catalog recorded: emptied,
//!   truncated);
//! - its code differs from another dossier's only by case (one archive file
//!   on a backup folder that ignores case: neither is saved);
//! - it has changes no backup holds for more than `--stale-days` days
//!   (default 7): modified since its last backup, and the oldest change
//!   dated after that backup (a file's modification time; the backup's own
//!   time when no file tells) is older than that;
//! - a restore left a temporary tree of it in `dossiers/` that could not be
//!   removed (`.svgauto-*-<CODE>`: old data, or a partial extraction), while
//!   no run, restore or import holds the base. This holds for every
//!   dossier, excluded or not, and for a code no longer under `dossiers/`
//!   (listed with the others that need attention, and counted).
//!
//! Modified since the last backup is not a problem by itself: users work
//! all day and the nightly run takes it. Nor is an old backup of a dossier
//! nobody touched since: its archive holds what is there.
//!
//! Catalog entries of dossiers no longer under `dossiers/` are listed apart,
//! "supprimés de la base", with their last archive; they are not problems.
//!
//! The **base itself needs attention** when the run would stop before
//! saving anything (exit 2): a backup or state folder inside `dossiers/`,
//! every archive the catalog knows gone, or every dossier it has saved gone
//! from `dossiers/` (the checks are the run's own, see `run::prepare`).
//!
//! Exit codes, for monitoring scripts (the same with `--json`): `0` nothing
//! needs attention ("Tout est sauvegardé.", or "Rien à surveiller ; N
//! dossier(s) modifié(s)…" when tonight's run has work); `1` the base or at
//! least one dossier needs attention; `2` the status could not be established (base, settings or
//! catalog unreadable).

pub mod attention;
pub mod html;
mod render;
mod whole_base;

use whole_base::{base_problems, deleted_dossiers, restore_trees};

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, FixedOffset, Local, TimeDelta};
use serde::Serialize;

use crate::base::{Base, Kind, Rights, Status};
use crate::catalog::{Catalog, DossierState};
use crate::clock::{Clock, rfc3339};
use crate::error::CommandError;
use crate::exit::{Exit, Line, Output};
use crate::options::Format;
use crate::run;
use crate::run::select::{self, Decision, Facts, LastArchive, Rules};
use crate::scan::{self, DossierScan};
use crate::state::{Exclusion, LastResult, Skip};
use crate::sys::lock;

/// Where a dossier stands; every dossier is in exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Its last backup holds what is in the dossier now.
    UpToDate,
    /// Changed since its last backup; the next run takes it.
    Modified,
    /// Changed since its last backup, changes older than `--stale-days`.
    Stale,
    NeverSaved,
    /// `dossier.toml` missing or invalid, or the folder unreadable.
    Invalid,
    /// Not backed up by the batch (étalon, test, non transférable,
    /// `backup.dossiers`).
    Excluded,
}

/// The last result of the batch for a dossier, as far as the catalog and
/// the backup folder tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LastRun {
    Ok,
    Error,
    /// Not started: the run was stopped first.
    Deferred,
    /// Its backup was under way when a run died (in-progress marker or a
    /// leftover `.partial`).
    Interrupted,
    /// Under way: a run holds the base right now.
    Running,
}

/// Why a dossier needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attention {
    NeverSaved,
    Invalid,
    Stale,
    Error,
    Interrupted,
    ArchiveMissing,
    /// A temporary tree of a restore is left in `dossiers/`.
    RestoreLeftover,
    /// The last archive is not the file written (another size).
    ArchiveAltered,
}

/// Why the base as a whole needs attention: the run would stop (exit 2)
/// before saving anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaseAttention {
    /// A backup, rotation or state folder inside `dossiers/`.
    InsideDossiers,
    /// Every archive the catalog knows is gone (backup folder not mounted).
    ArchivesGone,
    /// Every dossier the catalog has saved is gone from `dossiers/`.
    DossiersGone,
    /// A dossier's catalog row holds a value no release writes: the run
    /// takes that dossier for never saved and saves it again.
    CatalogValue,
}

/// A problem of the whole base, with the run's own message (French).
#[derive(Debug, Serialize)]
pub struct BaseProblem {
    pub kind: BaseAttention,
    pub message: String,
}

/// Sizes of a last archive that is not the file written, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Altered {
    /// On disk now.
    pub found: u64,
    /// Recorded by the catalog when it was written.
    pub recorded: u64,
}

/// One dossier of `dossiers/`.
#[derive(Debug, Serialize)]
pub struct DossierStatus {
    pub code: String,
    pub name: Option<String>,
    /// `None` when `dossier.toml` cannot be read.
    pub status: Option<Status>,
    pub kind: Option<Kind>,
    pub transferable: Option<bool>,
    pub state: State,
    /// Why the batch does not back it up.
    pub excluded: Option<Exclusion>,
    /// What is wrong with the dossier itself (French).
    pub invalid: Option<String>,
    /// Time of the last successful backup, as the catalog recorded it.
    #[serde(serialize_with = "rfc3339::option")]
    pub last_backup_at: Option<DateTime<FixedOffset>>,
    /// Relative to the base, or absolute.
    pub last_archive: Option<String>,
    /// `None` when no archive is recorded.
    pub archive_present: Option<bool>,
    /// Present, but not the size written: emptied, truncated, replaced.
    pub archive_altered: Option<Altered>,
    pub last_result: Option<LastRun>,
    pub last_error: Option<String>,
    /// `None` for excluded and invalid dossiers and those never saved.
    pub modified_since: Option<bool>,
    /// Since when its changes are not saved, if modified.
    #[serde(serialize_with = "rfc3339::option")]
    pub unsaved_since: Option<DateTime<Local>>,
    /// No successful backup on record.
    pub never_saved: bool,
    pub stale: bool,
    /// Temporary trees of restores left in `dossiers/` (relative to the
    /// base), when no run, restore or import holds the base.
    pub restore_leftovers: Vec<String>,
    /// Empty when all is well.
    pub attention: Vec<Attention>,
}

/// Temporary trees of restores of a code that is not under `dossiers/`.
#[derive(Debug, Serialize)]
pub struct OrphanLeftovers {
    pub code: String,
    /// Relative to the base.
    pub paths: Vec<String>,
}

/// A dossier the catalog knows that is no longer under `dossiers/`.
#[derive(Debug, Serialize)]
pub struct DeletedDossier {
    pub code: String,
    #[serde(serialize_with = "rfc3339::option")]
    pub last_backup_at: Option<DateTime<FixedOffset>>,
    pub last_archive: Option<String>,
    pub archive_present: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub struct Totals {
    /// Dossiers under `dossiers/`: the sum of the six states below.
    pub dossiers: usize,
    pub up_to_date: usize,
    pub modified: usize,
    pub stale: usize,
    pub never_saved: usize,
    pub invalid: usize,
    pub excluded: usize,
    /// In error at the last run (dossiers of the batch).
    pub errors: usize,
    pub interrupted: usize,
    pub archive_missing: usize,
    /// Dossiers (and codes no longer under `dossiers/`) with temporary trees
    /// of restores left behind.
    pub restore_leftovers: usize,
    pub archive_altered: usize,
    /// Dossiers needing attention, whatever the reasons, plus the codes of
    /// `orphan_restore_leftovers`.
    pub attention: usize,
    /// Known to the catalog, no longer under `dossiers/`.
    pub deleted: usize,
}

/// `svgauto status`, as the JSON shows it.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// [`crate::report::SCHEMA_VERSION`]: `schemas/status.schema.json`.
    pub schema_version: u32,
    pub base: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub now: DateTime<Local>,
    pub stale_days: u32,
    /// A run holds the base right now: what it is doing may show as "en
    /// cours".
    pub run_in_progress: bool,
    /// What makes the run stop before saving anything; empty when all is
    /// well.
    pub base_attention: Vec<BaseProblem>,
    /// By code.
    pub dossiers: Vec<DossierStatus>,
    /// By code.
    pub deleted: Vec<DeletedDossier>,
    /// By code: restores' temporary trees of codes not under `dossiers/`.
    pub orphan_restore_leftovers: Vec<OrphanLeftovers>,
    pub totals: Totals,
    /// Neither the base nor a dossier needs attention: exit 0. Dossiers modified since their
    /// last backup (that tonight's run will take) are not a problem.
    pub nothing_to_watch: bool,
    /// Every covered dossier's last backup holds what is on disk: nothing
    /// to watch, and nothing modified (or not proven unchanged) since.
    pub all_backed_up: bool,
}

/// `svgauto status --base B [--json] [--stale-days N]`: the status in
/// `format` ([`StatusReport::render`] for [`Format::Text`]).
pub fn status_command(
    base: &Path,
    workstation: Option<&Path>,
    stale_days: u32,
    format: Format,
    clock: &dyn Clock,
) -> Result<Output, CommandError> {
    let report = status(base, workstation, stale_days, clock.now())?;
    let exit = if report.nothing_to_watch {
        Exit::Ok
    } else {
        Exit::DossierErrors
    };
    let lines = match format {
        Format::Json => {
            vec![serde_json::to_string_pretty(&report).expect("the status serializes")]
        }
        Format::Text => report.render(),
    };
    Ok(Output {
        lines: lines.into_iter().map(Line::Stdout).collect(),
        exit,
    })
}

/// `status --mail-if-attention`: the status of the base; when something
/// needs attention ([`attention::reasons`]: the run stopped or failed,
/// dossiers in error, stale, archives missing…), a mail to the report's
/// recipients with the same SMTP settings as the run's, its subject
/// saying what, the status attached. Returns the lines saying whether a
/// mail went (stdout) or why not (stderr), and whether something needs
/// attention (the command then exits 1, as it does when the mail could
/// not go).
pub fn mail_if_attention(
    root: &Path,
    workstation: Option<&Path>,
    stale_days: u32,
    clock: &dyn Clock,
) -> Result<(Vec<Line>, bool), CommandError> {
    let now = clock.now();
    let report = status(root, workstation, stale_days, now)?;
    let base = Base::open(root, workstation)?;
    let last = match Catalog::open_read_only(&base.state_dir())? {
        Some(c) => c.last_ended_run()?,
        None => None,
    };
    let reasons = attention::reasons(&report, last.as_ref(), now);
    if reasons.is_empty() {
        let line = Line::Stdout("Rien à signaler : aucun mail d'alerte envoyé".into());
        return Ok((vec![line], false));
    }
    let mailer = match crate::notify::Mailer::from_settings(&base.effective) {
        Ok(Some(m)) => m,
        Ok(None) => {
            let line = Line::Stderr(
                "mail d'alerte impossible : report.recipients ou smtp.server ne sont pas renseignés".into(),
            );
            return Ok((vec![line], true));
        }
        Err(e) => {
            let line = Line::Stderr(format!("mail d'alerte impossible : {e}"));
            return Ok((vec![line], true));
        }
    };
    let text = report.render().join("\n");
    let page = html::render(
        &report,
        &reasons,
        &html::read_history(&base.backup_dir().join(crate::base::LOG_DIR)),
    );
    let body = format!(
        "Les sauvegardes de la base {} demandent votre attention :\n{}\n\nL'état complet est joint : svgauto-etat.html (à ouvrir dans un navigateur) et svgauto-etat.txt.\n",
        report.base,
        reasons
            .iter()
            .map(|r| format!("- {r}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let subject = attention::subject(&report.base, &reasons);
    let sent = mailer.send_attention(
        &subject,
        &body,
        &[
            ("svgauto-etat.html".into(), page, "text/html; charset=utf-8"),
            ("svgauto-etat.txt".into(), text, "text/plain; charset=utf-8"),
        ],
    );
    let lines = sent
        .into_iter()
        .map(|s| match s.error {
            None => Line::Stdout(format!("Mail d'alerte envoyé à {} : {subject}", s.to)),
            Some(e) => Line::Stderr(format!(
                "mail d'alerte au destinataire {} non envoyé : {e}",
                s.to
            )),
        })
        .collect();
    Ok((lines, true))
}

/// `status --html FILE`: writes the status page (see [`html`]) into FILE.
pub fn write_html(
    root: &Path,
    workstation: Option<&Path>,
    stale_days: u32,
    file: &Path,
    clock: &dyn Clock,
) -> Result<(), String> {
    let now = clock.now();
    let report = status(root, workstation, stale_days, now).map_err(|e| e.to_string())?;
    let base = Base::open(root, workstation).map_err(|e| e.to_string())?;
    let last = match Catalog::open_read_only(&base.state_dir()).map_err(|e| e.to_string())? {
        Some(c) => c.last_ended_run().map_err(|e| e.to_string())?,
        None => None,
    };
    let reasons = attention::reasons(&report, last.as_ref(), now);
    let runs = html::read_history(&base.backup_dir().join(crate::base::LOG_DIR));
    std::fs::write(file, html::render(&report, &reasons, &runs))
        .map_err(|e| format!("page {} non écrite : {e}", file.display()))
}

/// `status --textfile FILE`: rewrites FILE with the metrics of the
/// catalog (the last run that ended, every dossier, the off-site lag) for
/// a cron job or a scheduled task between runs; the bytes of the last run
/// are not in the catalog and are left out. Errors: the French warning.
pub fn write_textfile(root: &Path, workstation: Option<&Path>, file: &Path) -> Result<(), String> {
    use crate::monitoring::textfile::{self, LastRun, Metrics};
    let base = Base::open(root, workstation).map_err(|e| e.to_string())?;
    let catalog = Catalog::open_read_only(&base.state_dir()).map_err(|e| e.to_string())?;
    let (states, versions, last) = match &catalog {
        Some(c) => (
            c.states().map_err(|e| e.to_string())?,
            c.offsite_versions().map_err(|e| e.to_string())?,
            c.last_ended_run().map_err(|e| e.to_string())?,
        ),
        None => Default::default(),
    };
    let last_run = last.map(|r| LastRun {
        finished: r.finished_at.with_timezone(&chrono::Local),
        exit_code: r.exit_code,
        duration_s: (r.finished_at - r.started_at).num_milliseconds().max(0) as f64 / 1000.0,
        saved: r.saved,
        errors: r.errors,
        deferred: r.concerned.saturating_sub(r.saved + r.errors),
        bytes: None,
    });
    let offsite_on = !base.effective.settings.offsite.url.trim().is_empty();
    let text = textfile::render(&Metrics {
        last_run,
        states: &states,
        offsite: offsite_on.then_some(versions.as_slice()),
    });
    textfile::write(file, &text)
}

/// What is known at once for every dossier.
struct Context<'a> {
    now: DateTime<Local>,
    stale_days: u32,
    rules: Rules<'a>,
    run_active: bool,
}

/// Establishes the status of every dossier of the base, writing nothing.
pub fn status(
    root: &Path,
    workstation: Option<&Path>,
    stale_days: u32,
    now: DateTime<Local>,
) -> Result<StatusReport, CommandError> {
    let base = Base::open(root, workstation)?;
    let settings = &base.effective.settings;
    let read = match Catalog::open_read_only(&base.state_dir())? {
        Some(c) => c.read_states()?,
        None => Default::default(),
    };
    let states = read.known;
    let dossiers_dir = base.dossiers_dir();
    // The entries are needed only to date the changes of a dossier modified
    // since its last backup (`unsaved_since`): the others' are dropped as
    // each dossier is walked.
    let modified = |s: &DossierScan| {
        states
            .get(&s.code)
            .and_then(|st| st.fingerprint.as_deref())
            .is_some_and(|fp| !s.fingerprint.matches(fp))
    };
    let scans = scan::scan_base_keeping(&dossiers_dir, settings.backup.include_documents, modified)
        .map_err(|source| CommandError::Io {
            path: dossiers_dir.clone(),
            source,
        })?;
    // A run holding the base is doing what the catalog marks in progress.
    let run_active = lock::in_use(&base.run_lock_path());
    // A `.partial` left by a run that died says "interrupted", as it does to
    // the next run.
    let leftovers = crate::run::leftovers::leftovers(&base.backup_dir(), &dossiers_dir);
    let mut temp = restore_trees(&base, run_active);
    let all = Rights::All;
    let cx = Context {
        now,
        stale_days,
        rules: Rules {
            force_all: false,
            // "Modified?" is what the status asks, whatever the run does.
            modified_only: true,
            dossiers: settings.backup.dossiers,
            user: "",
            rights: &all,
        },
        run_active,
    };
    let archives = run::last_archives(&base.root, &states);
    let last_archive = |code: &str| archives.get(code).copied().unwrap_or_default();
    let twins = run::twins_of(&scans);

    let mut dossiers: Vec<DossierStatus> = scans
        .iter()
        .map(|s| {
            let state = states.get(&s.code);
            let twins = twins.get(&s.code).map_or(&[][..], Vec::as_slice);
            let mut d = assess(
                s,
                state,
                leftovers.contains(&s.code),
                last_archive(&s.code),
                twins,
                &cx,
            );
            if let Some(paths) = temp.remove(&s.code) {
                d.restore_leftovers = paths;
                d.attention.push(Attention::RestoreLeftover);
            }
            d
        })
        .collect();
    let mut orphan_restore_leftovers: Vec<OrphanLeftovers> = temp
        .into_iter()
        .map(|(code, paths)| OrphanLeftovers { code, paths })
        .collect();
    orphan_restore_leftovers.sort_by(|a, b| a.code.cmp(&b.code));
    dossiers.sort_by(|a, b| a.code.cmp(&b.code));

    let here: HashSet<&str> = scans.iter().map(|s| s.code.as_str()).collect();
    let mut base_attention = base_problems(&base, now, &states, &archives, &here);
    base_attention.extend(read.unreadable.iter().map(|u| BaseProblem {
        kind: BaseAttention::CatalogValue,
        message: u.to_string(),
    }));
    let deleted = deleted_dossiers(&states, &archives, &here);
    let totals = Totals::count(&dossiers, deleted.len(), orphan_restore_leftovers.len());
    Ok(StatusReport {
        schema_version: crate::report::SCHEMA_VERSION,
        base: base.root.display().to_string(),
        now,
        stale_days,
        run_in_progress: run_active,
        nothing_to_watch: totals.attention == 0 && base_attention.is_empty(),
        all_backed_up: totals.attention == 0 && base_attention.is_empty() && totals.modified == 0,
        base_attention,
        dossiers,
        deleted,
        orphan_restore_leftovers,
        totals,
    })
}

impl Totals {
    /// The totals of `dossiers`, with `deleted` dossiers and `orphans`
    /// (codes not under `dossiers/` with restores' trees left).
    fn count(dossiers: &[DossierStatus], deleted: usize, orphans: usize) -> Totals {
        let mut totals = Totals {
            dossiers: dossiers.len(),
            deleted,
            restore_leftovers: orphans,
            attention: orphans,
            ..Totals::default()
        };
        for d in dossiers {
            *match d.state {
                State::UpToDate => &mut totals.up_to_date,
                State::Modified => &mut totals.modified,
                State::Stale => &mut totals.stale,
                State::NeverSaved => &mut totals.never_saved,
                State::Invalid => &mut totals.invalid,
                State::Excluded => &mut totals.excluded,
            } += 1;
            for a in &d.attention {
                match a {
                    Attention::Error => totals.errors += 1,
                    Attention::Interrupted => totals.interrupted += 1,
                    Attention::ArchiveMissing => totals.archive_missing += 1,
                    Attention::RestoreLeftover => totals.restore_leftovers += 1,
                    Attention::ArchiveAltered => totals.archive_altered += 1,
                    Attention::NeverSaved | Attention::Invalid | Attention::Stale => {}
                }
            }
            if !d.attention.is_empty() {
                totals.attention += 1;
            }
        }
        totals
    }
}

/// Whether an archive is on disk, as the JSON says it (`None`: none
/// recorded).
fn present_of(a: LastArchive) -> Option<bool> {
    match a {
        LastArchive::Unrecorded => None,
        LastArchive::Present | LastArchive::Altered { .. } => Some(true),
        LastArchive::Missing => Some(false),
    }
}

/// The status of one dossier, from its scan and what the catalog says of
/// it; `leftover`: a `.partial` of it was left by a run that died;
/// `last_archive`: what is on disk where its last archive should be;
/// `twins`: the dossiers whose code differs from its own only by case.
fn assess(
    s: &DossierScan,
    st: Option<&DossierState>,
    leftover: bool,
    last_archive: LastArchive,
    twins: &[String],
    cx: &Context<'_>,
) -> DossierStatus {
    let marked = leftover || st.is_some_and(|st| st.in_progress_run.is_some());
    // The run's own rule says what it leaves out.
    let decision = select::decide(
        Facts {
            identity: &s.identity,
            walk_error: s.walk_error.as_ref(),
            fingerprint: &s.fingerprint,
            state: st,
            interrupted: marked,
            last_archive,
            case_twins: twins,
        },
        &cx.rules,
    );
    let excluded = match decision {
        Decision::Skip(Skip::Excluded(e)) => Some(e),
        _ => None,
    };
    // With every right, the run's only error lines are the dossier's own:
    // `dossier.toml`, an unreadable folder, a code twin by case.
    let invalid = match decision {
        Decision::Fail(refusal) => Some(refusal.to_string()),
        _ => None,
    };
    let saved_fp = st.and_then(|st| st.fingerprint.as_deref());
    let covered = excluded.is_none() && invalid.is_none();
    let modified_since = saved_fp
        .filter(|_| covered)
        .map(|fp| !s.fingerprint.matches(fp));
    let last_backup = st
        .and_then(|st| st.last_backup_at)
        .map(|t| t.with_timezone(&Local));
    let unsaved_since = match (modified_since, last_backup) {
        (Some(true), Some(last)) => Some(unsaved_since(s, last, cx.now)),
        _ => None,
    };
    let last_result = last_run(marked, cx.run_active, st);
    let id = s.identity.as_ref().ok();
    let mut d = DossierStatus {
        code: s.code.clone(),
        name: id.and_then(|i| i.name.clone()),
        status: id.map(|i| i.status),
        kind: id.map(|i| i.kind),
        transferable: id.map(|i| i.transferable),
        // Both said once every other field is known, below.
        state: State::UpToDate,
        attention: Vec::new(),
        excluded,
        invalid,
        last_backup_at: st.and_then(|st| st.last_backup_at),
        last_archive: st.and_then(|st| st.last_archive.clone()),
        archive_present: present_of(last_archive),
        archive_altered: match last_archive {
            LastArchive::Altered { found, recorded } => Some(Altered { found, recorded }),
            _ => None,
        },
        last_error: st
            .filter(|_| last_result == Some(LastRun::Error))
            .and_then(|st| st.last_error.clone()),
        last_result,
        modified_since,
        unsaved_since,
        never_saved: saved_fp.is_none(),
        stale: unsaved_since.is_some_and(|t| cx.now - t > TimeDelta::days(cx.stale_days.into())),
        restore_leftovers: Vec::new(),
    };
    d.attention = d.needs_attention();
    d.state = d.standing();
    d
}

/// Since when a dossier modified since its backup at `last` holds changes
/// no backup has. No time is trusted beyond now: a backup recorded in the
/// future (the clock was wrong then) tells nothing about when the changes
/// began, and the oldest time in the dossier stands for it (the careful
/// side).
fn unsaved_since(s: &DossierScan, last: DateTime<Local>, now: DateTime<Local>) -> DateTime<Local> {
    if last > now {
        first_change_after(s, DateTime::<Local>::MIN_UTC.into(), now).unwrap_or(now)
    } else {
        first_change_after(s, last, now).unwrap_or(last)
    }
}

/// The last result of the batch for a dossier: under way or interrupted
/// when `marked` (in progress in the catalog, or a `.partial` left), as a
/// run holds the base or not; else what the catalog recorded.
fn last_run(marked: bool, run_active: bool, st: Option<&DossierState>) -> Option<LastRun> {
    if marked {
        return Some(if run_active {
            LastRun::Running
        } else {
            LastRun::Interrupted
        });
    }
    st.and_then(|st| st.last_result).map(|r| match r {
        LastResult::Ok => LastRun::Ok,
        LastResult::Error => LastRun::Error,
        LastResult::Deferred => LastRun::Deferred,
    })
}

impl DossierStatus {
    /// Why it needs attention, from what is known of it (restores' trees
    /// left behind are added by the caller): nothing for a dossier the
    /// batch does not cover.
    fn needs_attention(&self) -> Vec<Attention> {
        let mut attention = Vec::new();
        if self.invalid.is_some() {
            attention.push(Attention::Invalid);
        } else if self.excluded.is_none() {
            if self.never_saved {
                attention.push(Attention::NeverSaved);
            }
            if self.stale {
                attention.push(Attention::Stale);
            }
            if self.last_result == Some(LastRun::Error) {
                attention.push(Attention::Error);
            }
            if self.last_result == Some(LastRun::Interrupted) {
                attention.push(Attention::Interrupted);
            }
            if self.archive_present == Some(false) {
                attention.push(Attention::ArchiveMissing);
            }
            // A run writing its new archive right now is not an altered one.
            if self.archive_altered.is_some() && self.last_result != Some(LastRun::Running) {
                attention.push(Attention::ArchiveAltered);
            }
        }
        attention
    }

    /// Where it stands, the first of these that holds: excluded, invalid,
    /// never saved, stale, modified, up to date.
    fn standing(&self) -> State {
        if self.excluded.is_some() {
            State::Excluded
        } else if self.invalid.is_some() {
            State::Invalid
        } else if self.never_saved {
            State::NeverSaved
        } else if self.stale {
            State::Stale
        } else if self.modified_since == Some(true) {
            State::Modified
        } else {
            State::UpToDate
        }
    }
}

/// When the dossier's unsaved changes began, as far as the files tell (a
/// deletion, or a file brought in with an old date, tells nothing): the
/// oldest modification time after the last backup — for a file dated in
/// the future by its application, its change time (`ctime` on Unix, which
/// no application sets), so a future date never hides old changes.
fn first_change_after(
    s: &DossierScan,
    last: DateTime<Local>,
    now: DateTime<Local>,
) -> Option<DateTime<Local>> {
    s.entries
        .iter()
        .filter_map(|e| {
            let time = |m: crate::sys::time::Mtime| {
                DateTime::from_timestamp(m.secs, m.nanos)
                    .map(|t| t.with_timezone(&Local))
                    .filter(|t| *t > last && *t <= now)
            };
            let in_future = DateTime::from_timestamp(e.mtime.secs, e.mtime.nanos)
                .is_none_or(|t| t.with_timezone(&Local) > now);
            if in_future {
                time(e.changed)
            } else {
                time(e.mtime)
            }
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Identity;
    use crate::config::DossierSet;
    use crate::scan::{Entry, EntryKind};
    use crate::sys::time::Mtime;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> DateTime<Local> {
        Local.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
    }

    fn scan_of(code: &str, fingerprint: &str, mtimes: &[DateTime<Local>]) -> DossierScan {
        DossierScan {
            code: code.into(),
            dir: code.into(),
            identity: Ok(Identity {
                code: code.into(),
                name: Some("Société Générale d'Études".into()),
                status: Status::Original,
                kind: Kind::Normal,
                transferable: true,
            }),
            entries: mtimes
                .iter()
                .enumerate()
                .map(|(i, t)| Entry {
                    rel: format!("f{i}"),
                    raw: None,
                    kind: EntryKind::File,
                    size: 1,
                    mtime: Mtime {
                        secs: t.timestamp(),
                        nanos: 0,
                    },
                    changed: Mtime {
                        secs: t.timestamp(),
                        nanos: 0,
                    },
                    file_id: i as u64,
                    racy: false,
                    mode: 0o644,
                })
                .collect(),
            entry_count: mtimes.len(),
            skipped: Vec::new(),
            total_bytes: 0,
            fingerprint: crate::scan::Fingerprint {
                full: fingerprint.into(),
                content: String::new(),
                unproven: None,
                format1_complete: true,
            },
            walk_error: None,
        }
    }

    fn saved(fp: &str, t: DateTime<Local>) -> DossierState {
        DossierState {
            fingerprint: Some(format!("2:{fp}")),
            last_backup_at: Some(t.fixed_offset()),
            last_archive: Some("sauve/BA.SVG".into()),
            last_result: Some(LastResult::Ok),
            ..Default::default()
        }
    }

    fn cx(now: DateTime<Local>, rights: &Rights) -> Context<'_> {
        Context {
            now,
            stale_days: 7,
            rules: Rules {
                force_all: false,
                modified_only: true,
                dossiers: DossierSet::OriginalsAndCopies,
                user: "",
                rights,
            },
            run_active: false,
        }
    }

    /// Dates wherever they lie: the stale rule counts from when files were
    /// changed (their change time), not from their modification time, which
    /// an application sets to anything; and nothing beyond now is trusted.
    #[test]
    fn the_stale_rule_holds_for_dates_in_the_future_and_far_in_the_past() {
        let all = Rights::All;
        let now = at(20, 12);
        let with = |mtime: DateTime<Local>, changed: DateTime<Local>| {
            let mut s = scan_of("A", "fp1", &[mtime]);
            s.entries[0].changed = Mtime {
                secs: changed.timestamp(),
                nanos: 0,
            };
            s
        };
        let far_future = Local.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap();
        let far_past = Local.with_ymd_and_hms(1975, 1, 1, 0, 0, 0).unwrap();
        let st = saved("fp0", at(1, 21));
        // Changed 9 days ago, dated 2100 by its application: stale.
        let d = assess(
            &with(far_future, at(11, 12)),
            Some(&st),
            false,
            LastArchive::Present,
            &[],
            &cx(now, &all),
        );
        assert!(
            d.stale,
            "a modification time in the future must not hide unsaved changes"
        );
        // Brought in yesterday with a 1975 date, last backup 19 days ago:
        // the date tells nothing, the changes count from the last backup
        // (the careful side).
        let d = assess(
            &with(far_past, at(19, 12)),
            Some(&st),
            false,
            LastArchive::Present,
            &[],
            &cx(now, &all),
        );
        assert!(d.stale, "{:?}", d.state);
        // A last backup recorded in the future (a wrong clock then): the
        // changes count from the oldest change time, here 9 days ago.
        let future = saved("fp0", at(30, 12));
        let d = assess(
            &with(at(11, 12), at(11, 12)),
            Some(&future),
            false,
            LastArchive::Present,
            &[],
            &cx(now, &all),
        );
        assert!(d.stale);
        // Every time in the future (the clock went back): when the changes
        // began is unknown; they count from the last backup, the careful
        // side.
        let d = assess(
            &with(far_future, far_future),
            Some(&st),
            false,
            LastArchive::Present,
            &[],
            &cx(now, &all),
        );
        assert!(d.stale && d.modified_since == Some(true));
    }

    #[test]
    fn modified_is_not_a_problem_until_its_changes_are_old() {
        let all = Rights::All;
        let st = saved("fp0", at(1, 21));
        let assess_at_22 = |s: &DossierScan| {
            assess(
                s,
                Some(&st),
                false,
                LastArchive::Present,
                &[],
                &cx(at(22, 12), &all),
            )
        };
        // Nobody touched it for 3 weeks: its archive holds what is there.
        let s = scan_of("A", "fp0", &[at(1, 10)]);
        let d = assess_at_22(&s);
        assert_eq!(
            (d.state, d.attention.as_slice()),
            (State::UpToDate, &[][..])
        );
        // Dormant for 3 weeks, modified this morning: the next run takes it.
        let s = scan_of("A", "fp1", &[at(1, 10), at(22, 9)]);
        let d = assess_at_22(&s);
        assert_eq!(
            (d.state, d.attention.as_slice()),
            (State::Modified, &[][..])
        );
        // Modified 10 days ago and still not saved.
        let s = scan_of("A", "fp1", &[at(12, 9), at(20, 9)]);
        let d = assess_at_22(&s);
        assert_eq!(d.state, State::Stale);
        assert_eq!(d.attention, [Attention::Stale]);
        assert_eq!(d.unsaved_since, Some(at(12, 9)));
        // No file dated after the backup (a deletion): the backup's time.
        let s = scan_of("A", "fp1", &[at(1, 10)]);
        let d = assess(
            &s,
            Some(&st),
            false,
            LastArchive::Present,
            &[],
            &cx(at(9, 12), &all),
        );
        assert_eq!(d.state, State::Stale);
        assert_eq!(d.unsaved_since, Some(at(1, 21)));
    }

    #[test]
    fn error_missing_archive_and_interruption_need_attention() {
        let all = Rights::All;
        let mut st = saved("fp0", at(1, 21));
        st.last_result = Some(LastResult::Error);
        st.last_error = Some("occupé".into());
        let s = scan_of("A", "fp0", &[]);
        let d = assess(
            &s,
            Some(&st),
            true,
            LastArchive::Missing,
            &[],
            &cx(at(2, 12), &all),
        );
        assert_eq!(
            d.attention,
            [Attention::Interrupted, Attention::ArchiveMissing],
            "an interruption is newer news than the error"
        );
        let d = assess(
            &s,
            Some(&st),
            false,
            LastArchive::Missing,
            &[],
            &cx(at(2, 12), &all),
        );
        assert_eq!(d.attention, [Attention::Error, Attention::ArchiveMissing]);
        assert_eq!(d.result_text(), "en erreur : occupé");
        let mut running = cx(at(2, 12), &all);
        running.run_active = true;
        let d = assess(&s, Some(&st), true, LastArchive::Present, &[], &running);
        assert_eq!(
            (d.last_result, d.attention.len()),
            (Some(LastRun::Running), 0)
        );
    }

    #[test]
    fn an_altered_archive_needs_attention_unless_a_run_is_writing_it() {
        let all = Rights::All;
        let st = saved("fp0", at(1, 21));
        let s = scan_of("A", "fp0", &[]);
        let altered = LastArchive::Altered {
            found: 0,
            recorded: 4096,
        };
        let d = assess(&s, Some(&st), false, altered, &[], &cx(at(2, 12), &all));
        assert_eq!(d.attention, [Attention::ArchiveAltered]);
        assert_eq!(d.archive_present, Some(true));
        assert!(
            d.reasons(7)[0].contains("0 octet(s) au lieu des 4096"),
            "{:?}",
            d.reasons(7)
        );
        let mut running = cx(at(2, 12), &all);
        running.run_active = true;
        let d = assess(&s, Some(&st), true, altered, &[], &running);
        assert!(d.attention.is_empty());
    }

    #[test]
    fn a_case_twin_is_invalid() {
        let all = Rights::All;
        let s = scan_of("A", "fp0", &[]);
        let d = assess(
            &s,
            None,
            false,
            LastArchive::Unrecorded,
            &["a".to_owned()],
            &cx(at(2, 12), &all),
        );
        assert_eq!(
            (d.state, d.attention.as_slice()),
            (State::Invalid, &[Attention::Invalid][..])
        );
        assert!(d.invalid.as_deref().unwrap().contains("casse"));
    }

    #[test]
    fn excluded_kinds_are_never_problems() {
        let all = Rights::All;
        let mut s = scan_of("E", "fp0", &[]);
        if let Ok(id) = &mut s.identity {
            id.kind = Kind::Etalon;
        }
        let d = assess(
            &s,
            None,
            false,
            LastArchive::Unrecorded,
            &[],
            &cx(at(2, 12), &all),
        );
        assert_eq!(d.state, State::Excluded);
        assert_eq!(d.excluded, Some(Exclusion::Etalon));
        assert!(d.attention.is_empty() && d.never_saved);
        assert_eq!(d.modified_since, None);
    }
}
