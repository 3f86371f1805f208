//! The run (DESIGN.md §3): select, order, then archive the dossiers on a
//! sized rayon pool, while one writer thread alone owns the catalog, the
//! report and the progress bar.
//!
//! ```text
//! scan ─► select ─► order ─► [pool: claim lock ► read ► compress ► zip] ─► channel ─► writer: catalog, report, progress
//! ```
//!
//! Dossier loops (one per thread, at most `run.io_jobs`) take the next
//! dossier in plan order (an atomic index, so the largest and the retried
//! dossiers really start first) and assemble its archive; the chunks of
//! every dossier under way are read and compressed on the rayon pool, so
//! idle workers take work from any dossier, including the chunks of one huge
//! file. A loop never returns early out of the run: a failing dossier is a
//! message on the channel. A quit flag (Ctrl-C) is checked before each
//! claim: what is under way finishes, what was never started is "reporté".

pub mod leftovers;
pub mod select;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Local};
use crossbeam_channel::Sender;
use thiserror::Error;

use crate::archive::{self, Compression, IoBudget, Job};
use crate::base::{Base, BaseError, Kind, LOCK_FILE, Rights, display_path, target_dir};
use crate::catalog::{Catalog, CatalogError, DossierState};
use crate::clock::Clock;
use crate::exit::Exit;
use crate::notify::{MailSettingsError, Mailer};
use crate::progress::Progress;
use crate::report::{self, DossierLine, Outcome, Report, RunReport, Summary};
use crate::restore;
use crate::scan::{self, DossierScan};
use crate::state::{Skip, Why};
use crate::sys::lock::{self, LockError};
use select::{Decision, Facts, LastArchive, Rules};

/// What `svgauto run` was asked to do, once arguments are validated.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub base: PathBuf,
    pub workstation: Option<PathBuf>,
    pub user: String,
    /// `--all`.
    pub force_all: bool,
    /// `--threads`, over `run.threads`.
    pub threads: Option<usize>,
    /// `--verify`: read every archive back before putting it in place.
    pub verify: bool,
    /// `--max-duration`: no dossier is started after this long; the rest is
    /// "reporté" and goes first next time.
    pub max_duration: Option<Duration>,
}

/// A run that could not take place (exit 2).
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Base(#[from] BaseError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Mail(#[from] MailSettingsError),
    #[error("répertoire de sauvegarde inutilisable (paramètre backup.dir) : {}", path.display())]
    BackupDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "aucune des {known} archive(s) que le catalogue connaît n'est sous {} : répertoire de sauvegarde non monté ou vidé ? Rien n'a été écrit. Si c'est voulu (nouveau répertoire de sauvegarde), relancer avec --all",
        dir.display()
    )]
    ArchivesGone { dir: PathBuf, known: usize },
    #[error(
        "aucun des {known} dossier(s) que le catalogue a déjà sauvegardés n'est sous {} : disque ou partage des dossiers non monté, répertoire déplacé ? Rien n'a été écrit. S'ils ont vraiment tous été supprimés ou remplacés, relancer avec --all",
        dir.display()
    )]
    DossiersGone { dir: PathBuf, known: usize },
    #[error("rapport de traitement impossible à écrire dans {}", path.display())]
    Report {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lecture impossible des dossiers de la base {}", path.display())]
    Scan {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub exit: Exit,
    pub summary: Summary,
    pub report: PathBuf,
    /// Lines for the terminal (the report's summary and where it is).
    pub lines: Vec<String>,
    /// Lines for stderr: what went wrong besides the dossiers (the mail).
    pub warnings: Vec<String>,
}

enum Msg {
    Started(String),
    Bytes(u64),
    Done(DossierLine),
}

/// The pool chunks are compressed on: `threads` workers, 0 for one per
/// core; returns it with its size.
pub(crate) fn compression_pool(threads: usize) -> (rayon::ThreadPool, usize) {
    let threads = match threads {
        0 => thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("svgauto-pool-{i}"))
        .build()
        .expect("a thread pool of this size can be built");
    (pool, threads)
}

/// What is on disk for each dossier's last recorded archive
/// ([`LastArchive::of`]): one `stat` per archive, shared by the checks and
/// the selection of a run.
pub(crate) fn last_archives(
    root: &Path,
    states: &HashMap<String, DossierState>,
) -> HashMap<String, LastArchive> {
    states
        .iter()
        .map(|(code, st)| (code.clone(), LastArchive::of(root, Some(st))))
        .collect()
}

/// `Err(ArchivesGone)` when the catalog knows archives and not one of them
/// is on disk.
pub(crate) fn check_archives_present(
    backup_dir: &Path,
    archives: &HashMap<String, LastArchive>,
) -> Result<(), RunError> {
    let known: Vec<&LastArchive> = archives
        .values()
        .filter(|a| **a != LastArchive::Unrecorded)
        .collect();
    if !known.is_empty() && known.iter().all(|a| **a == LastArchive::Missing) {
        return Err(RunError::ArchivesGone {
            dir: backup_dir.to_owned(),
            known: known.len(),
        });
    }
    Ok(())
}

/// `Err(DossiersGone)` when the catalog knows dossiers it has saved and
/// not one of them is under `dossiers/` (`present` says whether a code is
/// there): the dossiers' disk or share is not mounted, or the folder was
/// moved. One dossier deleted among others is a plain deletion.
pub(crate) fn check_dossiers_present(
    dossiers_dir: &Path,
    states: &HashMap<String, DossierState>,
    present: impl Fn(&str) -> bool,
) -> Result<(), RunError> {
    let known: Vec<&str> = states
        .iter()
        .filter(|(_, st)| st.last_archive.is_some() || st.last_backup_at.is_some())
        .map(|(code, _)| code.as_str())
        .collect();
    if !known.is_empty() && !known.iter().any(|c| present(c)) {
        return Err(RunError::DossiersGone {
            dir: dossiers_dir.to_owned(),
            known: known.len(),
        });
    }
    Ok(())
}

/// The names under `dossiers/` that can be dossiers (folders, and links or
/// unreadable entries, which the scan reports), read once without a scan.
fn dossier_names(dossiers_dir: &Path) -> Result<HashSet<String>, RunError> {
    let scan_error = |source| RunError::Scan {
        path: dossiers_dir.to_owned(),
        source,
    };
    let mut names = HashSet::new();
    for entry in std::fs::read_dir(dossiers_dir).map_err(scan_error)? {
        let entry = entry.map_err(scan_error)?;
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            names.insert(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names)
}

/// For each dossier the batch or an event could archive (a valid identity,
/// neither étalon, test nor non transférable), the others whose code
/// differs only by case ([`select::case_twins`]).
pub(crate) fn twins_of(scans: &[DossierScan]) -> HashMap<String, Vec<String>> {
    select::case_twins(scans.iter().filter_map(|s| {
        s.identity
            .as_ref()
            .ok()
            .filter(|id| id.kind == Kind::Normal && id.transferable)
            .map(|_| s.code.as_str())
    }))
}

/// Refuses, before anything is written, a rotation subfolder inside
/// `dossiers/` (`backup.dir` itself is checked by
/// [`Base::check_outside_dossiers`]).
pub(crate) fn check_target(base: &Base, target: &Path) -> Result<(), BaseError> {
    if target == base.backup_dir() {
        return Ok(());
    }
    base.check_folder_outside_dossiers(
        &format!(
            "le sous-répertoire de rotation (paramètre {})",
            base.effective.setting_text("backup.subdir")
        ),
        target,
    )
}

/// Every dossier of the base, scanned in parallel.
fn scan_all(base: &Base) -> Result<Vec<DossierScan>, RunError> {
    let include_documents = base.effective.settings.backup.include_documents;
    scan::scan_base(&base.dossiers_dir(), include_documents).map_err(|source| RunError::Scan {
        path: base.dossiers_dir(),
        source,
    })
}

/// The selection rules of a run with these options on this base.
fn rules<'a>(opts: &'a RunOptions, base: &Base, rights: &'a Rights) -> Rules<'a> {
    let settings = &base.effective.settings;
    Rules {
        force_all: opts.force_all,
        modified_only: settings.backup.modified_only,
        dossiers: settings.backup.dossiers,
        user: &opts.user,
        rights,
    }
}

/// One dossier to save, in plan order.
struct Planned<'a> {
    scan: &'a DossierScan,
    why: Why,
}

/// Selection and order (DESIGN.md §3, steps 1–2) over the whole base: the
/// dossiers decided without being saved, with their outcome, and the plan,
/// in the order the run takes it. Shared by the run and `--dry-run`.
#[allow(clippy::type_complexity)]
fn select_all<'a>(
    archives: &HashMap<String, LastArchive>,
    scans: &'a [DossierScan],
    states: &HashMap<String, DossierState>,
    leftovers: &HashSet<String>,
    rules: &Rules<'_>,
) -> (Vec<(&'a DossierScan, Outcome)>, Vec<Planned<'a>>) {
    let mut decided = Vec::new();
    let mut plan = Vec::new();
    let twins = twins_of(scans);
    for s in scans {
        let state = states.get(&s.code);
        let facts = Facts {
            identity: &s.identity,
            walk_error: s.walk_error.as_deref(),
            fingerprint: &s.fingerprint,
            state,
            interrupted: state.is_some_and(|st| st.in_progress_run.is_some())
                || leftovers.contains(&s.code),
            last_archive: archives.get(&s.code).copied().unwrap_or_default(),
            case_twins: twins.get(&s.code).map_or(&[], Vec::as_slice),
        };
        let outcome = match select::decide(facts, rules) {
            Decision::Save(why) => {
                plan.push(Planned { scan: s, why });
                continue;
            }
            Decision::Skip(Skip::Unchanged) => Outcome::Unchanged,
            Decision::Skip(reason) => Outcome::Excluded { reason },
            Decision::Fail(message) => Outcome::Error { why: None, message },
        };
        decided.push((s, outcome));
    }
    select::order(&mut plan, |p| {
        (p.why, p.scan.total_bytes, p.scan.code.as_str())
    });
    (decided, plan)
}

pub fn run(
    opts: &RunOptions,
    clock: &dyn Clock,
    interrupted: &AtomicBool,
    progress: Box<dyn Progress>,
) -> Result<RunOutcome, RunError> {
    let t0 = Instant::now();
    let base = Base::open(&opts.base, opts.workstation.as_deref())?;
    let settings = &base.effective.settings;
    // The run's start date picks its rotation folder; neither that folder,
    // `backup.dir` nor the state folder may be inside `dossiers/`: checked
    // before anything is written.
    let started = clock.now();
    let backup_dir = base.backup_dir();
    let target = target_dir(&backup_dir, settings.backup.subdir, started);
    base.check_outside_dossiers()?;
    check_target(&base, &target)?;
    let rights = base.rights(&opts.user)?;
    let mailer = Mailer::from_settings(&base.effective)?;

    let _run_lock = base.lock_run()?;
    // What a killed restore left beside the dossiers, before they are scanned.
    // Those it could not settle (a tree it cannot remove) are said the same
    // way, and `status` shows them until they are gone.
    let recovered: Vec<String> = restore::recover(&base.dossiers_dir())
        .into_iter()
        .map(|line| match line {
            Ok(l) | Err(l) => l,
        })
        .collect();
    let catalog = Catalog::open(&base.state_dir())?;
    let catalog_rebuilt = catalog.rebuilt.clone();

    // Every archive the catalog knows gone at once is a backup folder on a
    // NAS that is not mounted (or was emptied), and every dossier it has
    // saved gone from `dossiers/` at once is the dossiers' disk or share
    // not mounted: nothing is written — not even the report.
    // Read once: the in-progress markers set below for leftovers are also
    // in `leftovers`, which selection reads beside these states; one stat
    // per archive serves both the check and the selection.
    let states = catalog.states()?;
    let archives = last_archives(&base.root, &states);
    if !opts.force_all {
        check_archives_present(&backup_dir, &archives)?;
        let names = dossier_names(&base.dossiers_dir())?;
        check_dossiers_present(&base.dossiers_dir(), &states, |c| names.contains(c))?;
    }
    crate::sys::owner_only::create_dir_all(&target).map_err(|source| RunError::BackupDir {
        path: target.clone(),
        source,
    })?;
    let mut report =
        Report::create(&backup_dir.join("log"), started).map_err(|source| RunError::Report {
            path: backup_dir.join("log"),
            source,
        })?;

    let report_rel = display_path(&report.txt_path, &base.root);
    let run_id = catalog.begin_run(&started.to_rfc3339(), &opts.user, &report_rel)?;

    // What a killed run or `save` left behind: partial archives. A partial
    // whose dossier is locked right now is being written by a `save`: left
    // alone. The others are removed under their dossier's lock (so a `save`
    // cannot start writing one in between) — but first recorded in the
    // catalog as in-progress markers when they are the batch's own, so a run
    // killed right after removing them does not forget that those dossiers
    // were under way (they are redone first, their line says "reprise").
    let dossiers_dir = base.dossiers_dir();
    let free: Vec<(leftovers::Partial, Option<lock::Held>)> =
        crate::run::leftovers::find_partials(&backup_dir)
            .into_iter()
            .filter_map(|p| {
                match lock::try_exclusive(&dossiers_dir.join(&p.code).join(LOCK_FILE)) {
                    Ok(held) => Some((p, Some(held))),
                    Err(LockError::Busy) => None,
                    // A dossier folder that is gone has no lock to take: its
                    // partial is removed all the same.
                    Err(LockError::Io(_)) => {
                        (!dossiers_dir.join(&p.code).is_dir()).then_some((p, None))
                    }
                }
            })
            .collect();
    if free.iter().any(|(p, _)| !p.event) {
        let tx = catalog.transaction()?;
        for (p, _) in free.iter().filter(|(p, _)| !p.event) {
            catalog.mark_in_progress(&p.code, run_id)?;
        }
        catalog.commit(tx)?;
    }
    let leftovers: HashSet<String> = free
        .into_iter()
        .filter(|(p, _held)| std::fs::remove_file(&p.path).is_ok() && !p.event)
        .map(|(p, _)| p.code)
        .collect();
    let scans = scan_all(&base)?;

    let rules = rules(opts, &base, &rights);
    let (decided, plan) = select_all(&archives, &scans, &states, &leftovers, &rules);
    let decided: Vec<DossierLine> = decided
        .into_iter()
        .map(|(s, outcome)| line(s, outcome, None))
        .collect();

    let (pool, threads) = compression_pool(opts.threads.unwrap_or(settings.run.threads));
    let io = IoBudget::new(settings.run.io_jobs);
    let compression = Compression::of(&settings.archive);
    // Archives written at once are bounded by `io_jobs` too (a NAS or a
    // spinning disk collapses under many writers); the pool keeps every core
    // busy whatever their number.
    let assemblers = threads.min(settings.run.io_jobs);
    let worker = Worker {
        inline_small: assemblers >= threads,
        pool: &pool,
        target_dir: &target,
        root: &base.root,
        compression,
        clock,
        io: &io,
        documents_included: settings.backup.include_documents,
        verify: opts.verify,
    };
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let budget_spent = AtomicBool::new(false);
    let over_budget = || {
        let over = opts.max_duration.is_some_and(|d| t0.elapsed() >= d);
        if over {
            budget_spent.store(true, Ordering::SeqCst);
        }
        over
    };
    let (tx, rx) = crossbeam_channel::bounded::<Msg>(256);

    let plan_bytes = plan.iter().map(|p| p.scan.total_bytes).sum();
    let writer_result = thread::scope(|scope| {
        // The one writer: it alone owns the catalog, the report, the progress.
        let (stop_w, plan_len) = (&stop, plan.len() as u64);
        let writer = scope.spawn(move || {
            let mut progress = progress;
            progress.start(plan_len, plan_bytes);
            let mut lines = Vec::new();
            let mut summary = Summary::default();
            let mut fatal: Option<RunError> = None;
            while let Ok(first) = rx.recv() {
                // What is already waiting goes into one catalog transaction
                // (a few hundred small dossiers a second are saved on a
                // many-small base), then the report lines: a line saying
                // "réussi" is written only once the catalog knows it.
                let msgs: Vec<Msg> = std::iter::once(first)
                    .chain(rx.try_iter().take(255))
                    .collect();
                // A batch the catalog could not record (its disk is full…)
                // has no "réussi" line: its archives are in place but
                // unknown to the catalog, so they will be made again.
                let unrecorded = match record_all(&catalog, run_id, &msgs) {
                    Ok(()) => None,
                    Err(e) => {
                        let why = e.to_string();
                        if fatal.is_none() {
                            // Stop claiming; what is under way finishes.
                            stop_w.store(true, Ordering::SeqCst);
                            fatal = Some(e);
                        }
                        Some(why)
                    }
                };
                for msg in msgs {
                    match msg {
                        Msg::Started(_) => {}
                        Msg::Bytes(n) => progress.bytes(n),
                        Msg::Done(mut l) => {
                            if let Some(why) = &unrecorded {
                                l = not_recorded(l, why);
                            }
                            if let Some(text) = &l.message {
                                // A line that cannot be written now is kept
                                // for later: only `finish_text` failing
                                // ends the run (see `Report::line`).
                                let _ = report.line(&report::dossier_line(&l.code, text));
                            }
                            if l.outcome.concerned() {
                                progress.dossier_done();
                            }
                            summary.add(&l.outcome);
                            lines.push(l);
                        }
                    }
                }
            }
            progress.finish();
            (lines, summary, fatal, report, catalog)
        });

        for l in decided {
            let _ = tx.send(Msg::Done(l));
        }
        // The dossier loops are plain threads, not pool jobs: a pool thread
        // waiting for its batch could otherwise steal a whole dossier loop
        // and stall its own dossier behind it. The pool runs only chunks.
        let loops: Vec<_> = (0..assemblers.min(plan.len()))
            .map(|i| {
                let tx = tx.clone();
                let (plan, next, stop, worker, over_budget) =
                    (&plan, &next, &stop, &worker, &over_budget);
                thread::Builder::new()
                    .name(format!("svgauto-dossier-{i}"))
                    .spawn_scoped(scope, move || {
                        loop {
                            if interrupted.load(Ordering::SeqCst)
                                || stop.load(Ordering::SeqCst)
                                || over_budget()
                            {
                                break;
                            }
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let Some(p) = plan.get(i) else { break };
                            let outcome = worker.save(p, &tx);
                            let _ = tx.send(Msg::Done(line(p.scan, outcome, Some(clock.now()))));
                        }
                    })
                    .expect("a thread can be spawned")
            })
            .collect();
        for l in loops {
            l.join().expect("a dossier loop does not panic");
        }
        let claimed = next.load(Ordering::SeqCst).min(plan.len());
        for p in &plan[claimed..] {
            let _ = tx.send(Msg::Done(line(
                p.scan,
                Outcome::Deferred { why: p.why },
                None,
            )));
        }
        drop(tx);
        (
            writer.join().expect("the writer thread does not panic"),
            claimed,
        )
    });

    let ((lines, summary, fatal, mut report, catalog), claimed) = writer_result;
    // The budget stopped the run only if something was left to start.
    let budget_reached = budget_spent.load(Ordering::SeqCst) && claimed < plan.len();
    // `fatal`: the catalog or the report could not be written (a full
    // disk…). The run ends with exit 2, but the report, its JSON twin and
    // the mail still say, as far as they can, what was saved and what not.
    let exit = if fatal.is_some() {
        Exit::Fatal
    } else if interrupted.load(Ordering::SeqCst) {
        Exit::Interrupted
    } else if summary.errors > 0 {
        Exit::DossierErrors
    } else {
        Exit::Ok
    };
    let finished = clock.now();
    let in_error: Vec<&str> = lines
        .iter()
        .filter(|l| matches!(l.outcome, Outcome::Error { .. }))
        .map(|l| l.code.as_str())
        .collect();
    let txt_path = report.txt_path.clone();
    let report_err = |source| RunError::Report {
        path: txt_path.clone(),
        source,
    };
    let finished_text = report.finish_text(&summary, &in_error);
    if fatal.is_none() {
        finished_text.map_err(report_err)?;
    }
    let mail = match &mailer {
        Some(m) if summary.errors > 0 => Some(m.send_report(&report.txt_path, &report.errors_path)),
        _ => None,
    };
    let mut warnings: Vec<String> = recovered;
    warnings.extend(catalog_rebuilt.iter().cloned());
    warnings.extend(crate::sys::fs::unflushed_warnings());
    warnings.extend(mail.iter().flatten().filter_map(|s| {
        s.error
            .as_ref()
            .map(|e| format!("mail au destinataire {} non envoyé : {e}", s.to))
    }));
    let json = RunReport {
        format: 1,
        generator: format!("svgauto {}", env!("CARGO_PKG_VERSION")),
        base: base.root.display().to_string(),
        user: &opts.user,
        started_at: started.to_rfc3339(),
        finished_at: finished.to_rfc3339(),
        report: txt_path.display().to_string(),
        interrupted: exit == Exit::Interrupted,
        max_duration_reached: budget_reached,
        exit_code: exit.code(),
        summary,
        mail: mail.as_deref(),
        warnings: &warnings,
        dossiers: &lines,
    };
    let json_written = report.write_json(&json);
    if let Some(e) = fatal {
        return Err(e);
    }
    json_written.map_err(report_err)?;
    catalog.end_run(
        run_id,
        &finished.to_rfc3339(),
        (summary.concerned, summary.saved, summary.errors),
        exit.code(),
    )?;
    let mut out = summary.lines();
    if budget_reached {
        out.push(format!(
            "Durée maximale atteinte (--max-duration {}) : les dossiers reportés passeront en premier au prochain traitement",
            crate::clock::format_duration(opts.max_duration.unwrap_or_default())
        ));
    }
    out.push(format!("Rapport : {}", txt_path.display()));
    Ok(RunOutcome {
        exit,
        summary,
        report: txt_path,
        lines: out,
        warnings,
    })
}

/// `run --dry-run`: what the run would do with every dossier, in the order
/// it would, and why — computed by the same selection as the run, without
/// writing anything (no catalog, lock file, folder or report is created;
/// leftovers of a killed run are seen, not cleaned).
#[derive(Debug, Serialize)]
pub struct DryRun {
    pub format: u32,
    pub dry_run: bool,
    pub base: String,
    pub user: String,
    /// Where the archives would be written (with the rotation folder).
    pub target_dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
    /// What the run would have to say besides the dossiers (a catalog it
    /// would rebuild).
    pub warnings: Vec<String>,
    /// To save first, in run order; then the errors; then the others, by code.
    pub dossiers: Vec<PlanLine>,
    pub totals: PlanTotals,
}

/// What the run would do with one dossier.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Save,
    Error,
    Skip,
}

#[derive(Debug, Serialize)]
pub struct PlanLine {
    pub code: String,
    pub name: Option<String>,
    pub action: Action,
    /// Position in the run, from 1, for the dossiers to save.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Skip>,
    /// The same, in French, as the text output says it.
    pub detail: String,
    pub bytes: u64,
    pub files: usize,
    /// Its lock is held right now: the run would give an error line.
    pub in_use: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct PlanTotals {
    pub to_save: usize,
    /// What the run would read.
    pub bytes: u64,
    pub in_use: usize,
    pub errors: usize,
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
    check_target(&base, &target)?;
    let mut warnings = Vec::new();
    let states = match Catalog::open_read_only(&base.state_dir()) {
        Ok(Some(c)) => c.states()?,
        Ok(None) => HashMap::new(),
        Err(e @ CatalogError::Unusable { .. }) => {
            warnings.push(format!(
                "{e} : le traitement le mettra de côté, le reconstruira et sauvegardera tous les dossiers"
            ));
            HashMap::new()
        }
        Err(e) => return Err(e.into()),
    };
    let backup_dir = base.backup_dir();
    let leftovers = crate::run::leftovers::leftovers(&backup_dir, &base.dossiers_dir());
    let archives = last_archives(&base.root, &states);
    let scans = scan_all(&base)?;
    if !opts.force_all {
        let here: HashSet<&str> = scans.iter().map(|s| s.code.as_str()).collect();
        let stops = check_archives_present(&backup_dir, &archives).and_then(|()| {
            check_dossiers_present(&base.dossiers_dir(), &states, |c| here.contains(c))
        });
        if let Err(e) = stops {
            warnings.push(format!("le traitement s'arrêterait : {e}"));
        }
    }
    if lock::in_use(&base.state_dir().join("run.lock")) {
        warnings.push(
            "un traitement est en cours sur cette base : une sauvegarde lancée maintenant s'arrêterait aussitôt (code 2)"
                .to_owned(),
        );
    }
    let rules = rules(opts, &base, &rights);
    let (decided, plan) = select_all(&archives, &scans, &states, &leftovers, &rules);
    let mut totals = PlanTotals::default();
    let mut dossiers = Vec::new();
    let name = |s: &DossierScan| s.identity.as_ref().ok().and_then(|i| i.name.clone());
    for (i, p) in plan.iter().enumerate() {
        let last_error = states.get(&p.scan.code).and_then(|s| s.last_error.clone());
        let in_use = lock::in_use(&p.scan.dir.join(LOCK_FILE));
        let mut detail = match p.why {
            Why::New => "jamais sauvegardé".to_owned(),
            Why::Modified => "modifié depuis la dernière sauvegarde".to_owned(),
            Why::Forced if opts.force_all => "sauvegarde forcée (--all)".to_owned(),
            Why::Forced => {
                "tous les dossiers sont sauvegardés (backup.modified_only = false)".to_owned()
            }
            Why::Retry => format!(
                "nouvel essai après l'erreur du traitement précédent : {}",
                last_error.as_deref().unwrap_or("?")
            ),
            Why::Deferred => "reporté par le traitement précédent".to_owned(),
            Why::Interrupted => {
                "reprise : sa sauvegarde précédente avait été interrompue".to_owned()
            }
            Why::ArchiveMissing => format!(
                "non modifié, mais l'archive de sa dernière sauvegarde a disparu ({})",
                states
                    .get(&p.scan.code)
                    .and_then(|s| s.last_archive.as_deref())
                    .unwrap_or("?")
            ),
            Why::ArchiveAltered => {
                let (found, recorded) = match archives.get(&p.scan.code) {
                    Some(LastArchive::Altered { found, recorded }) => (*found, *recorded),
                    _ => (0, 0),
                };
                format!(
                    "non modifié, mais l'archive de sa dernière sauvegarde a été modifiée ou tronquée ({} : {} au lieu de {})",
                    states
                        .get(&p.scan.code)
                        .and_then(|s| s.last_archive.as_deref())
                        .unwrap_or("?"),
                    human_bytes(found),
                    human_bytes(recorded)
                )
            }
        };
        if in_use {
            detail.push_str(" ; utilisé en ce moment : sera en erreur s'il est encore ouvert");
            totals.in_use += 1;
        }
        totals.to_save += 1;
        totals.bytes += p.scan.total_bytes;
        dossiers.push(PlanLine {
            code: p.scan.code.clone(),
            name: name(p.scan),
            action: Action::Save,
            order: Some(i + 1),
            why: Some(p.why),
            reason: None,
            detail,
            bytes: p.scan.total_bytes,
            files: p.scan.entries.len(),
            in_use,
            last_error: if p.why == Why::Retry {
                last_error
            } else {
                None
            },
        });
    }
    let mut others: Vec<PlanLine> = decided
        .into_iter()
        .map(|(s, outcome)| {
            let (action, reason, detail) = match outcome {
                Outcome::Error { message, .. } => (Action::Error, None, message),
                Outcome::Excluded { reason } => {
                    (Action::Skip, Some(reason), skip_text(reason).to_owned())
                }
                _ => (
                    Action::Skip,
                    Some(Skip::Unchanged),
                    skip_text(Skip::Unchanged).to_owned(),
                ),
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
                files: s.entries.len(),
                in_use: false,
                last_error: None,
            }
        })
        .collect();
    others.sort_by(|a, b| {
        (!matches!(a.action, Action::Error), &a.code)
            .cmp(&(!matches!(b.action, Action::Error), &b.code))
    });
    totals.errors = others
        .iter()
        .filter(|l| matches!(l.action, Action::Error))
        .count();
    totals.skipped = others.len() - totals.errors;
    dossiers.extend(others);
    Ok(DryRun {
        format: 1,
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

/// Why a dossier is not concerned, in French.
pub fn skip_text(reason: Skip) -> &'static str {
    match reason {
        Skip::Unchanged => "non modifié depuis la dernière sauvegarde",
        Skip::Etalon => "dossier étalon : jamais sauvegardé par le traitement",
        Skip::Test => "dossier de test : jamais sauvegardé par le traitement",
        Skip::NonTransferable => "dossier non transférable : jamais sauvegardé par le traitement",
        Skip::Original => {
            "original : seules les copies sont sauvegardées (backup.dossiers = copies)"
        }
        Skip::Copie => "copie : seuls les originaux sont sauvegardés (backup.dossiers = originals)",
    }
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

/// What every worker needs to save a dossier.
struct Worker<'a> {
    pool: &'a rayon::ThreadPool,
    inline_small: bool,
    target_dir: &'a Path,
    root: &'a Path,
    compression: Compression,
    clock: &'a dyn Clock,
    io: &'a IoBudget,
    documents_included: bool,
    verify: bool,
}

impl Worker<'_> {
    /// Saves one planned dossier: claim its lock, write its archive. Never
    /// returns early out of the run: every failure is an outcome.
    fn save(&self, p: &Planned<'_>, tx: &Sender<Msg>) -> Outcome {
        let error = |message: String| Outcome::Error {
            why: Some(p.why),
            message,
        };
        let lock = match lock::try_exclusive(&p.scan.dir.join(LOCK_FILE)) {
            Ok(h) => h,
            Err(LockError::Busy) => return error(report::IN_USE.into()),
            Err(LockError::Io(e)) => {
                return error(format!("Verrouillage impossible ({LOCK_FILE}) : {e}."));
            }
        };
        // The run's scan may be hours old by now (a first run): the dossier
        // is walked again under its lock, and that is the state archived.
        let now = lock.file_system_now().unwrap_or_else(SystemTime::now);
        let scan = scan::scan_dossier_at(&p.scan.code, &p.scan.dir, self.documents_included, now);
        let identity = match (&scan.identity, &scan.walk_error) {
            (Err(msg), _) | (Ok(_), Some(msg)) => return error(msg.clone()),
            (Ok(id), None) => id,
        };
        let _ = tx.send(Msg::Started(p.scan.code.clone()));
        let target = self.target_dir.join(crate::base::file_name(&p.scan.code));
        let on_bytes = |n: u64| {
            let _ = tx.send(Msg::Bytes(n));
        };
        let job = Job {
            scan: &scan,
            identity,
            target: &target,
            compression: self.compression,
            pool: self.pool,
            inline_small: self.inline_small,
            backup_time: self.clock.now(),
            io: self.io,
            on_bytes: &on_bytes,
            documents_included: self.documents_included,
            verify: self.verify,
        };
        // Data the archive cannot hold (a name a restore would refuse): the
        // archive keeps everything else, but the dossier is not "réussi":
        // an error line, retried every run until it is renamed.
        let incomplete = scan.incomplete();
        match archive::write(&job) {
            Ok(_) if incomplete.is_some() => error(incomplete.unwrap_or_default()),
            Ok(w) => Outcome::Saved {
                why: p.why,
                archive: display_path(&target, self.root),
                bytes_in: w.bytes_in,
                bytes_out: w.bytes_out,
                files: w.files,
                fingerprint: scan.fingerprint.recorded(),
                skipped: scan
                    .skipped
                    .iter()
                    .map(|s| format!("{} ({})", s.rel, s.why))
                    .collect(),
                links: scan.links(),
            },
            Err(e) => error(e.to_string()),
        }
    }
}

fn line(s: &DossierScan, outcome: Outcome, finished: Option<DateTime<Local>>) -> DossierLine {
    DossierLine {
        code: s.code.clone(),
        name: s.identity.as_ref().ok().and_then(|i| i.name.clone()),
        message: outcome.text(),
        outcome,
        finished_at: finished.map(|t| t.to_rfc3339()),
    }
}

/// The line of a dossier whose outcome the catalog could not record: an
/// archive written but unknown to the catalog is not "réussi".
fn not_recorded(mut l: DossierLine, why: &str) -> DossierLine {
    if let Outcome::Saved { why: w, .. } = l.outcome {
        l.outcome = Outcome::Error {
            why: Some(w),
            message: format!(
                "Archive écrite, mais le catalogue n'a pas pu l'enregistrer ({why}) : le dossier sera sauvegardé à nouveau au prochain traitement."
            ),
        };
        l.message = l.outcome.text();
    }
    l
}

/// Records a group of messages in the catalog, in one transaction.
fn record_all(catalog: &Catalog, run: i64, msgs: &[Msg]) -> Result<(), RunError> {
    let tx = catalog.transaction()?;
    for m in msgs {
        match m {
            Msg::Started(code) => catalog.mark_in_progress(code, run)?,
            Msg::Done(l) => match &l.outcome {
                Outcome::Saved {
                    archive,
                    bytes_out,
                    fingerprint,
                    ..
                } => catalog.record_success(
                    &l.code,
                    Some(run),
                    fingerprint,
                    l.finished_at.as_deref().unwrap_or_default(),
                    archive,
                    *bytes_out,
                )?,
                Outcome::Error { message, .. } => {
                    catalog.record_error(&l.code, Some(run), message)?
                }
                Outcome::Deferred { .. } => catalog.record_deferred(&l.code, run)?,
                Outcome::Unchanged | Outcome::Excluded { .. } => {}
            },
            Msg::Bytes(_) => {}
        }
    }
    catalog.commit(tx)?;
    Ok(())
}
