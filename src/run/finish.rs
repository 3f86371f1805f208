//! The last stage of a run: its exit code, the report's summary and error
//! list, the mail, the JSON twin, the run's end in the catalog, and the
//! lines for the terminal.
//!
//! When the catalog or the report could not be written during the run (a
//! full disk…), the run ends with exit 2, but the report, its JSON twin and
//! the mail still say, as far as they can, what was saved and what not.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::Clock;
use crate::exit::Exit;
use crate::notify::Sent;
use crate::report::{RunReport, Summary};
use crate::state::Outcome;

use super::pool::Executed;
use super::prepare::Setup;
use super::writer::Recorded;
use super::{RunError, RunOptions, RunOutcome};

/// Ends the run (see the module's documentation).
pub(crate) fn finish(
    opts: &RunOptions,
    setup: &Setup,
    clock: &dyn Clock,
    interrupted: &AtomicBool,
    executed: Executed,
    started: std::time::Instant,
    pinger: Option<&crate::monitoring::Pinger>,
) -> Result<RunOutcome, RunError> {
    let Executed {
        recorded,
        budget_reached,
    } = executed;
    let Recorded {
        catalog,
        mut report,
        lines,
        summary,
        fatal,
    } = recorded;
    // Off-site copies, once the local archives are in place (not after a
    // run that could not record them, nor after Ctrl-C).
    let (offsite, catalog) = if fatal.is_none() && !interrupted.load(Ordering::SeqCst) {
        super::offsite::offsite_stage(
            opts,
            setup,
            clock,
            interrupted,
            started,
            catalog,
            &mut report,
        )
    } else {
        (Default::default(), catalog)
    };
    let exit = match exit_code(fatal.is_some(), interrupted, &summary) {
        Exit::Ok if offsite.failed => Exit::DossierErrors,
        e => e,
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
    let mail = match &setup.mailer {
        Some(m) if summary.errors > 0 || offsite.failed => {
            Some(m.send_report(&report.txt_path, &report.errors_path))
        }
        _ => None,
    };
    let mut warnings = warnings(setup, mail.as_deref());
    warnings.extend(offsite.warnings);
    // The end of the run for the monitoring, before the JSON twin so that
    // a ping that failed is in it; the summary as the body.
    warnings.extend(write_textfile(
        setup, &catalog, &lines, &summary, exit, finished, started,
    ));
    let mut body = summary.lines();
    body.extend(offsite.summary.iter().cloned());
    body.push(format!("Rapport : {}", txt_path.display()));
    warnings.extend(crate::monitoring::ping(
        pinger,
        crate::monitoring::Signal::of_exit(exit.code()),
        &body.join("\n"),
    ));
    let json = RunReport {
        format: 1,
        schema_version: crate::report::SCHEMA_VERSION,
        generator: format!("svgauto {}", env!("CARGO_PKG_VERSION")),
        base: setup.base.root.display().to_string(),
        user: &opts.user,
        started_at: setup.started,
        finished_at: finished,
        report: txt_path.display().to_string(),
        interrupted: exit == Exit::Interrupted,
        max_duration_reached: budget_reached,
        exit_code: exit.code(),
        summary,
        mail: mail.as_deref(),
        warnings: &warnings,
        dossiers: &lines,
        offsite: offsite.json,
    };
    let json_written = report.write_json(&json);
    if let Some(e) = fatal {
        return Err(e);
    }
    json_written.map_err(report_err)?;
    catalog.end_run(
        setup.id,
        finished,
        (summary.concerned, summary.saved, summary.errors),
        exit.code(),
    )?;
    let mut lines = terminal_lines(opts, &summary, budget_reached, &txt_path);
    if let Some(l) = offsite.summary {
        lines.insert(lines.len() - 1, l);
    }
    Ok(RunOutcome {
        exit,
        summary,
        lines,
        report: txt_path,
        warnings,
    })
}

/// Rewrites `[monitoring] textfile`, if set, with this run's metrics and
/// the catalog's dossiers (DESIGN §11); the warning if it could not be.
fn write_textfile(
    setup: &Setup,
    catalog: &crate::catalog::Catalog,
    lines: &[crate::report::DossierLine],
    summary: &Summary,
    exit: Exit,
    finished: chrono::DateTime<chrono::Local>,
    started: std::time::Instant,
) -> Option<String> {
    use crate::monitoring::textfile::{self, LastRun, Metrics};
    let settings = &setup.base.effective.settings;
    let file = settings.monitoring.textfile.trim();
    if file.is_empty() {
        return None;
    }
    let (read, written) = lines.iter().fold((0, 0), |(r, w), l| match &l.outcome {
        Outcome::Saved {
            bytes_in,
            bytes_out,
            ..
        } => (r + bytes_in, w + bytes_out),
        _ => (r, w),
    });
    let states = catalog.states().unwrap_or_default();
    let versions = if settings.offsite.url.trim().is_empty() {
        None
    } else {
        Some(catalog.offsite_versions().unwrap_or_default())
    };
    let text = textfile::render(&Metrics {
        last_run: Some(LastRun {
            finished,
            exit_code: exit.code(),
            duration_s: started.elapsed().as_secs_f64(),
            saved: summary.saved,
            errors: summary.errors,
            deferred: summary.deferred,
            bytes: Some((read, written)),
        }),
        states: &states,
        offsite: versions.as_deref(),
    });
    // Relative: to the base, as `backup.dir`.
    textfile::write(&setup.base.root.join(file), &text).err()
}

/// The run's exit code: the catalog or the report failing first, then
/// Ctrl-C, then dossiers in error.
fn exit_code(fatal: bool, interrupted: &AtomicBool, summary: &Summary) -> Exit {
    if fatal {
        Exit::Fatal
    } else if interrupted.load(Ordering::SeqCst) {
        Exit::Interrupted
    } else if summary.errors > 0 {
        Exit::DossierErrors
    } else {
        Exit::Ok
    }
}

/// What the run says on stderr besides the dossiers: the restore recovery
/// and the catalog rebuilt (from the start), folders that could not be
/// flushed, mails not sent.
fn warnings(setup: &Setup, mail: Option<&[Sent]>) -> Vec<String> {
    let mut warnings = setup.warnings.clone();
    warnings.extend(crate::sys::fs::unflushed_warnings());
    warnings.extend(mail.into_iter().flatten().filter_map(|s| {
        s.error
            .as_ref()
            .map(|e| format!("mail au destinataire {} non envoyé : {e}", s.to))
    }));
    warnings
}

/// The lines for the terminal: the report's summary, the time budget if it
/// stopped the run, where the report is.
fn terminal_lines(
    opts: &RunOptions,
    summary: &Summary,
    budget_reached: bool,
    txt_path: &Path,
) -> Vec<String> {
    let mut out = summary.lines();
    if budget_reached {
        out.push(format!(
            "Durée maximale atteinte (--max-duration {}) : les dossiers reportés passeront en premier au prochain traitement",
            crate::clock::format_duration(opts.max_duration.unwrap_or_default())
        ));
    }
    out.push(format!("Rapport : {}", txt_path.display()));
    out
}
