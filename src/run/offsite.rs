//! The run's off-site stage (DESIGN §10), between the dossier loops and
//! `finish`: when `[offsite]` has a `url` and `after_run`, every archive
//! not off-site yet is pushed ([`crate::offsite::push()`]), within what is
//! left of `--max-duration`.
//!
//! Whatever fails here — settings, credentials, a server down — never
//! touches the local archives, which are already in place: each dossier
//! not copied is an error line of the report ("Echec de la copie
//! externalisée…"), the run exits 1 and the mail goes out, like a
//! dossier's error. A server that does not answer costs the retries of one
//! request (`offsite::s3::ATTEMPTS`), not one per dossier.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::offsite::push::{PushError, PushRequest};
use crate::offsite::{PushReport, Pushed, Target};
use crate::report::Report;

use super::RunOptions;
use super::prepare::Setup;

/// What the stage did, for `finish`.
#[derive(Debug, Default)]
pub(crate) struct OffsiteStage {
    /// Whether something was not copied (exit 1, mail).
    pub failed: bool,
    /// The push, for the JSON twin (absent when off-site copies are off or
    /// could not start).
    pub json: Option<serde_json::Value>,
    /// Said on stderr and in the JSON's warnings.
    pub warnings: Vec<String>,
    /// The line for the terminal: how many archives were copied.
    pub summary: Option<String>,
}

/// Pushes after the run, writing its lines into `report`; hands the
/// catalog back.
pub(crate) fn offsite_stage(
    opts: &RunOptions,
    setup: &Setup,
    clock: &dyn Clock,
    interrupted: &AtomicBool,
    started: Instant,
    catalog: Catalog,
    report: &mut Report,
) -> (OffsiteStage, Catalog) {
    let settings = &setup.base.effective.settings.offsite;
    let mut stage = OffsiteStage::default();
    if settings.url.trim().is_empty() || !settings.after_run {
        // Pushed by `offsite push` on its own, if at all: its settings
        // (the key variables…) are its business, not the run's.
        return (stage, catalog);
    }
    let env = |name: &str| std::env::var(name).ok();
    let target = match Target::from_settings(settings, &env, None) {
        Ok(Some(t)) if t.after_run => t,
        Ok(_) => return (stage, catalog),
        Err(e) => {
            stage.failed = true;
            let line = format!("Copie externalisée impossible : {e}");
            stage.warnings.push(line.clone());
            let _ = report.line(&line);
            return (stage, catalog);
        }
    };
    let states = match catalog.states() {
        Ok(s) => s,
        Err(e) => {
            stage.failed = true;
            let line = format!("Copie externalisée impossible : {e}");
            let _ = report.line(&line);
            stage.warnings.push(line);
            return (stage, catalog);
        }
    };
    let bucket = format!("s3://{}", target.location.bucket);
    let backup_dir = setup.base.backup_dir();
    let request = PushRequest {
        target: &target,
        states: &states,
        root: &setup.base.root,
        backup_dir: &backup_dir,
        now: clock.now(),
        deadline: opts.max_duration.map(|d| started + d),
        interrupted,
    };
    let (result, catalog) = crate::offsite::push(&request, catalog);
    let pushed: PushReport = match result {
        Ok(r) => r,
        Err(e) => {
            let why = match &e {
                PushError::Unusable(s3) => target.unusable(s3, settings),
                e => e.to_string(),
            };
            stage.failed = true;
            let line = format!("Copie externalisée impossible : {why}");
            let _ = report.line(&line);
            stage.warnings.push(line);
            return (stage, catalog);
        }
    };
    for d in pushed.dossiers.iter().filter(|d| d.state != Pushed::Copied) {
        let _ = report.line(&d.line(&bucket));
    }
    let (ok, errors, _) = pushed.counts();
    if !pushed.dossiers.is_empty() {
        let line = format!(
            "Copie externalisée vers {} : {ok} / {} archive(s) copiée(s)",
            target.location.url(),
            pushed.dossiers.len()
        );
        let _ = report.line(&line);
        stage.summary = Some(line);
    }
    // Deferred copies (`--max-duration`) are not off-site either: the run
    // says so by its exit code, or a budget always spent would never warn.
    let (_, _, deferred) = pushed.counts();
    stage.failed = errors > 0 || deferred > 0;
    stage.warnings.extend(pushed.warnings.iter().cloned());
    stage.json = serde_json::to_value(&pushed).ok();
    (stage, catalog)
}
