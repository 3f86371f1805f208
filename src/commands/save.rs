//! `svgauto save --event …` (DESIGN.md §8): one dossier saved now, because
//! the accounting application says so — when a user leaves the dossier
//! (`exit`), before it receives a provider exchange (`provider-exchange`),
//! before it closes a fiscal year (`closing`).
//!
//! Each event is governed by its setting (`events.on_exit`,
//! `events.before_provider_exchange`, `events.before_closing`): a disabled
//! event does nothing, says so and exits 0. An event backup is taken even if
//! the dossier is unmodified, and whatever `backup.dossiers` says
//! (originals/copies is the batch's scope): the application asked for this
//! dossier. The dossier's own flags hold: an étalon, test or
//! non-transferable dossier is not saved (said, exit 0), and the
//! collaborator's rights are checked.
//!
//! The same rules as the batch otherwise: the dossier's lock is taken
//! without waiting (a dossier in use is exit 1 with the contract's message),
//! the archive is written to `.partial`, flushed, renamed, its folder
//! flushed. `exit` writes the normal `B<CODE>.SVG` (in the rotation folder
//! of the day, like a run at that moment) and, once it is in place, counts
//! as the dossier's last backup in the catalog. `provider-exchange` and
//! `closing` write into `EchangePrest/` and `Cloture/` of `backup.dir` and
//! leave the batch's view of the dossier unchanged. Every event backup, good
//! or failed, is recorded in the catalog's `event` table; a failed one does
//! not change the dossier's state (the batch decides from its fingerprint,
//! as if the event had not happened).
//!
//! `save` does not take the base's run lock: it may run while the nightly
//! batch does (the dossier's lock keeps them from writing the same archive
//! at once, and a run starting meanwhile leaves a locked dossier's
//! `.partial` alone). For the same reason it never rebuilds an unreadable
//! catalog: the archive stays in place, the missing record is said, and
//! the batch saves the dossier again.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};

use crate::base::{
    Base, CLOSING_DIR, EXCHANGE_DIR, IdentityError, Kind, Rights, display_path, read_identity,
    target_dir, valid_code,
};
use crate::catalog::{Catalog, CatalogError, EventRecord};
use crate::clock::Clock;
use crate::error::CommandError;
use crate::exit::{Exit, Line, Output};
use crate::options::Event;
use crate::report;
use crate::run::save::{Saved, SoloPool, save_dossier};
use crate::run::select::Refusal;
use crate::state::{Exclusion, Outcome};

/// `svgauto save --base B --user U --dossier C --event E`.
pub fn save_command(
    base: &Path,
    workstation: Option<&Path>,
    user: &str,
    dossier: &str,
    event: Event,
    clock: &dyn Clock,
) -> Result<Output, CommandError> {
    if !valid_code(dossier) {
        return Ok(fatal(format!(
            "code de dossier invalide : {dossier:?} (1 à 32 caractères parmi A-Z a-z 0-9 _ -)"
        )));
    }
    let base = Base::open(base, workstation)?;
    base.check_outside_dossiers()?;
    let rights = base.rights(user)?;
    if let Some(said) = disabled(&base, event, dossier) {
        return Ok(said);
    }
    let dir = base.dossiers_dir().join(dossier);
    if let Some(said) = refused(&base, &rights, user, dossier, &dir) {
        return Ok(said);
    }

    // A catalog of a newer svgauto stops `save` before anything is written
    // (exit 2), as it stops a run: the archive could not be recorded.
    Catalog::refuse_newer(&base.state_dir())?;
    let folder = event_folder(&base, event, clock.now())?;
    let target = folder.join(crate::base::file_name(dossier));
    let archive_rel = display_path(&target, &base.root);

    let result = save_locked(&base, &dir, dossier, &target, clock);
    let done = Done {
        at: clock.now(),
        dossier,
        event,
        user,
        archive_rel: &archive_rel,
    };
    let recorded = done.record(&base, &result);
    let mut said = match &result {
        Ok(_) => Output::from_lines(vec![Line::Stdout(format!(
            "{} (sauvegarde {} : {archive_rel})",
            report::dossier_line(dossier, Outcome::SUCCESS),
            event.label()
        ))]),
        Err(message) => failed(dossier, message),
    };
    if let Err(e) = recorded {
        said.lines.push(Line::Stderr(format!(
            "attention : sauvegarde non enregistrée au catalogue ({e}) ; le traitement sauvegardera ce dossier à nouveau"
        )));
    }
    Ok(said)
}

/// A message that stops `save` before anything is done (exit 2).
fn fatal(msg: String) -> Output {
    Output {
        lines: vec![Line::Stderr(msg)],
        exit: Exit::Fatal,
    }
}

/// The dossier's error line (exit 1).
fn failed(dossier: &str, message: &str) -> Output {
    Output::from_lines(vec![Line::Stderr(report::dossier_line(
        dossier,
        &Outcome::failure(message),
    ))])
}

/// What `save` says when the event's setting disables it (exit 0), naming
/// the layer that does.
fn disabled(base: &Base, event: Event, dossier: &str) -> Option<Output> {
    let events = &base.effective.settings.events;
    let enabled = match event {
        Event::Exit => events.on_exit,
        Event::ProviderExchange => events.before_provider_exchange,
        Event::Closing => events.before_closing,
    };
    if enabled {
        return None;
    }
    let layer = base
        .effective
        .sources
        .iter()
        .find(|(k, _, _)| k == event.setting())
        .map(|(_, _, l)| l.to_string())
        .unwrap_or_default();
    Some(Output::from_lines(vec![Line::Stdout(format!(
        "Sauvegarde {} désactivée ({} = false, {layer}) : dossier {dossier} non sauvegardé.",
        event.label(),
        event.setting(),
    ))]))
}

/// What `save` says when the dossier `dir` is not one it may save: missing
/// (exit 2), a link, not in the collaborator's rights, a case twin (exit
/// 1), an étalon, test or non-transferable dossier (exit 0).
fn refused(base: &Base, rights: &Rights, user: &str, dossier: &str, dir: &Path) -> Option<Output> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_symlink() => {
            // As in the batch: a link in place of a dossier is not followed.
            return Some(failed(dossier, &IdentityError::Link.to_string()));
        }
        Ok(m) if m.is_dir() => {}
        _ => return Some(fatal(format!("dossier introuvable : {}", dir.display()))),
    }
    if !rights.allows(dossier) {
        let user = user.to_owned();
        return Some(failed(dossier, &Refusal::Rights { user }.to_string()));
    }
    // The dossier's own flags hold for events too: a template or test
    // dossier is not backed up, a non-transferable one never leaves its
    // server (`backup.dir` may be a NAS).
    if let Ok(id) = read_identity(dir, dossier) {
        let not_saved = match (id.kind, id.transferable) {
            (Kind::Etalon, _) => Some(Exclusion::Etalon),
            (Kind::Test, _) => Some(Exclusion::Test),
            (_, false) => Some(Exclusion::NonTransferable),
            _ => None,
        };
        if let Some(what) = not_saved.map(Exclusion::noun) {
            return Some(Output::from_lines(vec![Line::Stdout(format!(
                "Dossier {dossier} non sauvegardé : {what}, jamais sauvegardé, ni par le traitement ni sur évènement."
            ))]));
        }
    }
    // As in the batch: a code that differs from another dossier's only by
    // case would share its archive on a backup folder that ignores case.
    let twins = case_twins_of(&base.dossiers_dir(), dossier);
    if !twins.is_empty() {
        let code = dossier.to_owned();
        return Some(failed(
            dossier,
            &Refusal::CaseTwins { code, twins }.to_string(),
        ));
    }
    None
}

/// The folder the event's archive goes to, checked outside `dossiers/` and
/// created: `exit` writes where a run at `now` would (the rotation
/// folder), the others into `EchangePrest/` and `Cloture/`.
fn event_folder(base: &Base, event: Event, now: DateTime<Local>) -> Result<PathBuf, CommandError> {
    let backup_dir = base.backup_dir();
    let folder = match event {
        Event::Exit => target_dir(&backup_dir, base.effective.settings.backup.subdir, now),
        Event::ProviderExchange => backup_dir.join(EXCHANGE_DIR),
        Event::Closing => backup_dir.join(CLOSING_DIR),
    };
    match event {
        Event::Exit => base.check_rotation_folder(&folder)?,
        Event::ProviderExchange | Event::Closing => base.check_folder_outside_dossiers(
            &format!(
                "le répertoire des sauvegardes {} (paramètre {}, sous backup.dir)",
                event.label(),
                event.setting()
            ),
            &folder,
        )?,
    }
    crate::sys::owner_only::create_dir_all(&folder).map_err(|source| CommandError::Io {
        path: folder.clone(),
        source,
    })?;
    Ok(folder)
}

/// An event backup done, good or failed, as the catalog records it.
struct Done<'a> {
    at: DateTime<Local>,
    dossier: &'a str,
    event: Event,
    user: &'a str,
    /// The archive's path as recorded (relative to the base).
    archive_rel: &'a str,
}

impl Done<'_> {
    /// Records the event in the catalog's `event` table and, for a good
    /// `exit`, as the dossier's last backup; one transaction. `save` does
    /// not hold the run lock: it never rebuilds the catalog, and a catalog
    /// it cannot write does not undo an archive that is in place — it is
    /// said, and the batch, not knowing of this backup, saves the dossier
    /// again.
    fn record(&self, base: &Base, result: &Result<Saved, String>) -> Result<(), CatalogError> {
        let catalog = Catalog::open_without_rebuild(&base.state_dir())?;
        let tx = catalog.transaction()?;
        let (at, dossier, name) = (self.at, self.dossier, self.event.name());
        match result {
            Ok(saved) => {
                let bytes_out = saved.written.bytes_out;
                if self.event == Event::Exit {
                    catalog.record_success(
                        dossier,
                        None,
                        &saved.scan.fingerprint.recorded(),
                        at,
                        self.archive_rel,
                        bytes_out,
                    )?;
                }
                catalog.record_event(&EventRecord {
                    at,
                    code: dossier,
                    event: name,
                    user: self.user,
                    archive: self.archive_rel,
                    result: Ok(bytes_out),
                })?;
            }
            Err(message) => catalog.record_event(&EventRecord {
                at,
                code: dossier,
                event: name,
                user: self.user,
                archive: self.archive_rel,
                result: Err(message),
            })?,
        }
        catalog.commit(tx)
    }
}

/// The other dossiers under `dossiers_dir` that the batch or an event could
/// archive (a valid identity, neither étalon, test nor non transférable)
/// and whose code differs from `code` only by case; sorted.
fn case_twins_of(dossiers_dir: &Path, code: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dossiers_dir) else {
        return Vec::new();
    };
    let mut twins: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| name != code && name.eq_ignore_ascii_case(code))
        .filter(|name| {
            read_identity(&dossiers_dir.join(name), name)
                .is_ok_and(|id| id.kind == Kind::Normal && id.transferable)
        })
        .collect();
    twins.sort();
    twins
}

/// Takes the dossier's lock, scans it under the lock and writes its
/// archive ([`save_dossier`], as the batch does, on a pool of its own,
/// without reading it back: `save` has no `--verify`): the fingerprint
/// saved and the archive's size, or the French sentence saying why not.
fn save_locked(
    base: &Base,
    dir: &Path,
    code: &str,
    target: &Path,
    clock: &dyn Clock,
) -> Result<Saved, String> {
    let settings = &base.effective.settings;
    let pool = SoloPool::new(settings);
    let ctx = pool.context(settings, clock, settings.backup.include_documents, false);
    save_dossier(&ctx, code, dir, target, &()).map_err(|e| e.to_string())
}
