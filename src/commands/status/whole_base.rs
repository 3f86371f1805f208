//! What `status` says of the base as a whole rather than of one dossier:
//! what would stop the run before it saves anything (in the run's own
//! words), the dossiers the catalog knows that are gone from `dossiers/`,
//! and the temporary trees a restore left.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Local};

use crate::base::{Base, target_dir};
use crate::catalog::DossierState;
use crate::restore;
use crate::run;
use crate::run::select::LastArchive;

use super::{BaseAttention, BaseProblem, DeletedDossier, present_of};

/// The dossiers the catalog has saved (or tried to) that are no longer
/// under `dossiers/` (`here`), by code.
pub(super) fn deleted_dossiers(
    states: &HashMap<String, DossierState>,
    archives: &HashMap<String, LastArchive>,
    here: &HashSet<&str>,
) -> Vec<DeletedDossier> {
    let mut deleted: Vec<DeletedDossier> = states
        .iter()
        .filter(|(code, st)| {
            !here.contains(code.as_str())
                && (st.last_archive.is_some() || st.last_backup_at.is_some())
        })
        .map(|(code, st)| DeletedDossier {
            code: code.clone(),
            last_backup_at: st.last_backup_at,
            last_archive: st.last_archive.clone(),
            archive_present: present_of(archives.get(code).copied().unwrap_or_default()),
        })
        .collect();
    deleted.sort_by(|a, b| a.code.cmp(&b.code));
    deleted
}

/// Restores' temporary trees left in `dossiers/`, by code, relative to the
/// base with `/`. None while a run, restore or import holds the base: they
/// may be its own, at work.
pub(super) fn restore_trees(base: &Base, run_active: bool) -> HashMap<String, Vec<String>> {
    let mut temp: HashMap<String, Vec<String>> = HashMap::new();
    if !run_active {
        for (code, p) in restore::temp_trees(&base.dossiers_dir()) {
            let rel = p.strip_prefix(&base.root).unwrap_or(&p);
            temp.entry(code)
                .or_default()
                .push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    temp
}

/// What would stop the run before it saves anything, in its own words
/// (the run's own checks); `here`: the codes under `dossiers/`.
pub(super) fn base_problems(
    base: &Base,
    now: DateTime<Local>,
    states: &HashMap<String, DossierState>,
    archives: &HashMap<String, LastArchive>,
    here: &HashSet<&str>,
) -> Vec<BaseProblem> {
    let settings = &base.effective.settings;
    let dossiers_dir = base.dossiers_dir();
    let mut base_attention = Vec::new();
    let stops = |kind, e: &dyn std::fmt::Display| BaseProblem {
        kind,
        message: format!("le traitement s'arrêterait (code 2) : {e}"),
    };
    if let Err(e) = base.check_outside_dossiers().and_then(|()| {
        base.check_rotation_folder(&target_dir(&base.backup_dir(), settings.backup.subdir, now))
    }) {
        base_attention.push(stops(BaseAttention::InsideDossiers, &e));
    }
    if let Err(e) = run::check_archives_present(&base.backup_dir(), archives) {
        base_attention.push(stops(BaseAttention::ArchivesGone, &e));
    }
    if let Err(e) = run::check_dossiers_present(&dossiers_dir, states, |c| here.contains(c)) {
        base_attention.push(stops(BaseAttention::DossiersGone, &e));
    }
    base_attention
}
