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

use std::path::Path;

use crate::archive::{self, Compression, IoBudget, Job};
use crate::base::{
    Base, CLOSING_DIR, EXCHANGE_DIR, Kind, LOCK_FILE, display_path, read_identity, target_dir,
    valid_code,
};
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::error::CommandError;
use crate::exit::{Exit, Said};
use crate::options::Event;
use crate::report::{self, IN_USE};
use crate::run::select::case_twin_message;
use crate::run::{check_target, compression_pool};
use crate::scan;
use crate::sys::lock::{self, LockError};

/// `svgauto save --base B --user U --dossier C --event E`.
pub fn save_command(
    base: &Path,
    workstation: Option<&Path>,
    user: &str,
    dossier: &str,
    event: Event,
    clock: &dyn Clock,
) -> Result<Said, CommandError> {
    let fatal = |msg: String| Said {
        lines: vec![Err(msg)],
        exit: Exit::Fatal,
    };
    if !valid_code(dossier) {
        return Ok(fatal(format!(
            "code de dossier invalide : {dossier:?} (1 à 32 caractères parmi A-Z a-z 0-9 _ -)"
        )));
    }
    let base = Base::open(base, workstation)?;
    base.check_outside_dossiers()?;
    let rights = base.rights(user)?;
    let settings = &base.effective.settings;
    let enabled = match event {
        Event::Exit => settings.events.on_exit,
        Event::ProviderExchange => settings.events.before_provider_exchange,
        Event::Closing => settings.events.before_closing,
    };
    if !enabled {
        let layer = base
            .effective
            .sources
            .iter()
            .find(|(k, _, _)| k == event.setting())
            .map(|(_, _, l)| l.to_string())
            .unwrap_or_default();
        return Ok(Said::from_lines(vec![Ok(format!(
            "Sauvegarde {} désactivée ({} = false, {layer}) : dossier {dossier} non sauvegardé.",
            event.label(),
            event.setting(),
        ))]));
    }
    let dir = base.dossiers_dir().join(dossier);
    let failed = |message: String| {
        Said::from_lines(vec![Err(report::dossier_line(
            dossier,
            &format!("Echec du traitement. {message}"),
        ))])
    };
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_symlink() => {
            // As in the batch: a link in place of a dossier is not followed.
            return Ok(failed(
                "Le dossier est un lien symbolique (ou une jonction) : il n'est pas suivi ni sauvegardé."
                    .into(),
            ));
        }
        Ok(m) if m.is_dir() => {}
        _ => return Ok(fatal(format!("dossier introuvable : {}", dir.display()))),
    }
    if !rights.allows(dossier) {
        return Ok(failed(format!(
            "Le collaborateur {user} n'a pas les droits sur ce dossier."
        )));
    }
    // The dossier's own flags hold for events too: a template or test
    // dossier is not backed up, a non-transferable one never leaves its
    // server (`backup.dir` may be a NAS).
    if let Ok(id) = read_identity(&dir, dossier) {
        let not_saved = match (id.kind, id.transferable) {
            (Kind::Etalon, _) => Some("dossier étalon"),
            (Kind::Test, _) => Some("dossier de test"),
            (_, false) => Some("dossier non transférable"),
            _ => None,
        };
        if let Some(what) = not_saved {
            return Ok(Said::from_lines(vec![Ok(format!(
                "Dossier {dossier} non sauvegardé : {what}, jamais sauvegardé, ni par le traitement ni sur évènement."
            ))]));
        }
    }
    // As in the batch: a code that differs from another dossier's only by
    // case would share its archive on a backup folder that ignores case.
    let twins = case_twins_of(&base.dossiers_dir(), dossier);
    if !twins.is_empty() {
        return Ok(failed(case_twin_message(dossier, &twins)));
    }

    // A catalog of a newer svgauto stops `save` before anything is written
    // (exit 2), as it stops a run: the archive could not be recorded.
    Catalog::refuse_newer(&base.state_dir())?;
    let now = clock.now();
    let backup_dir = base.backup_dir();
    let folder = match event {
        Event::Exit => target_dir(&backup_dir, settings.backup.subdir, now),
        Event::ProviderExchange => backup_dir.join(EXCHANGE_DIR),
        Event::Closing => backup_dir.join(CLOSING_DIR),
    };
    match event {
        Event::Exit => check_target(&base, &folder)?,
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
    let target = folder.join(crate::base::file_name(dossier));
    let archive_rel = display_path(&target, &base.root);

    let result = save_locked(&base, &dir, dossier, &target, clock);
    let at = clock.now().to_rfc3339();
    // `save` does not hold the run lock: it never rebuilds the catalog, and
    // a catalog it cannot write does not undo an archive that is in place —
    // it is said, and the batch, not knowing of this backup, saves the
    // dossier again.
    let recorded = Catalog::open_without_rebuild(&base.state_dir()).and_then(|catalog| {
        let tx = catalog.transaction()?;
        match &result {
            Ok((fingerprint, bytes_out)) => {
                if event == Event::Exit {
                    catalog.record_success(
                        dossier,
                        None,
                        fingerprint,
                        &at,
                        &archive_rel,
                        *bytes_out,
                    )?;
                }
                catalog.record_event(
                    &at,
                    dossier,
                    event.name(),
                    user,
                    &archive_rel,
                    Some(*bytes_out),
                    None,
                )?;
            }
            Err(message) => catalog.record_event(
                &at,
                dossier,
                event.name(),
                user,
                &archive_rel,
                None,
                Some(message),
            )?,
        }
        catalog.commit(tx)
    });
    let mut said = match &result {
        Ok(_) => Said::from_lines(vec![Ok(format!(
            "{} (sauvegarde {} : {archive_rel})",
            report::dossier_line(dossier, "Traitement réussi"),
            event.label()
        ))]),
        Err(message) => failed(message.clone()),
    };
    if let Err(e) = recorded {
        said.lines.push(Err(format!(
            "attention : sauvegarde non enregistrée au catalogue ({e}) ; le traitement sauvegardera ce dossier à nouveau"
        )));
    }
    Ok(said)
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
/// archive: the fingerprint saved and the archive's size, or the French
/// sentence saying why not.
fn save_locked(
    base: &Base,
    dir: &Path,
    code: &str,
    target: &Path,
    clock: &dyn Clock,
) -> Result<(String, u64), String> {
    let settings = &base.effective.settings;
    let lock = match lock::try_exclusive(&dir.join(LOCK_FILE)) {
        Ok(h) => h,
        Err(LockError::Busy) => return Err(IN_USE.into()),
        Err(LockError::Io(e)) => {
            return Err(format!("Verrouillage impossible ({LOCK_FILE}) : {e}."));
        }
    };
    let include_documents = settings.backup.include_documents;
    let now = lock
        .file_system_now()
        .unwrap_or_else(std::time::SystemTime::now);
    let scan = scan::scan_dossier_at(code, dir, include_documents, now);
    let identity = match (&scan.identity, &scan.walk_error) {
        (Err(msg), _) => return Err(msg.clone()),
        (Ok(_), Some(msg)) => return Err(format!("{msg}.")),
        (Ok(id), None) => id,
    };
    let (pool, _) = compression_pool(settings.run.threads);
    let io = IoBudget::new(settings.run.io_jobs);
    let job = Job {
        scan: &scan,
        identity,
        target,
        compression: Compression::of(&settings.archive),
        pool: &pool,
        inline_small: false,
        backup_time: clock.now(),
        io: &io,
        on_bytes: &|_| {},
        documents_included: include_documents,
        verify: false,
    };
    let written = archive::write(&job).map_err(|e| e.to_string())?;
    if let Some(incomplete) = scan.incomplete() {
        return Err(incomplete);
    }
    Ok((scan.fingerprint.recorded(), written.bytes_out))
}
