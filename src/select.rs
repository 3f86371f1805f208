//! Selection and order of a run (DESIGN.md §3, steps 1–2), as pure
//! functions over a dossier's scan and what the catalog remembers of it.
//!
//! Exclusions come first (étalon, test, non transférable, the
//! originals/copies setting): an excluded dossier is never concerned, whoever
//! runs the batch. Then "does it need a backup?" (first run, `--all`,
//! `modified_only = false`, fingerprint changed, failed or interrupted last
//! time). Only a dossier that needs a backup is checked against the
//! collaborator's rights: a dossier he may not save is then an error line,
//! never a silent skip, and a dossier nobody touched is not an error.

use std::cmp::Reverse;

use crate::base::{Identity, Kind, Rights, Status};
use crate::catalog::{DossierState, LastResult};
use crate::config::DossierSet;
use crate::scan::Fingerprint;

/// What the run's settings and arguments say about selection.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    /// `--all`: every dossier, modified or not.
    pub force_all: bool,
    pub modified_only: bool,
    pub dossiers: DossierSet,
    pub user: &'a str,
    pub rights: &'a Rights,
}

/// Why a dossier is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// Never saved before.
    New,
    Modified,
    /// `--all` or `modified_only = false`.
    Forced,
    /// Failed at the previous run.
    Retry,
    /// Not started by the previous run, stopped first.
    Deferred,
    /// Its backup was under way when a previous run died.
    Interrupted,
    /// Unchanged, but the archive of its last backup is no longer on disk.
    ArchiveMissing,
}

/// Why a dossier is not concerned by the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skip {
    Unchanged,
    Etalon,
    Test,
    NonTransferable,
    /// `backup.dossiers = "copies"` and this is an original.
    Original,
    /// `backup.dossiers = "originals"` and this is a copy.
    Copie,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Save(Why),
    Skip(Skip),
    /// An error line in the report, with its French message.
    Fail(String),
}

/// The facts about one dossier that selection needs.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub identity: &'a Result<Identity, String>,
    pub walk_error: Option<&'a str>,
    pub fingerprint: &'a Fingerprint,
    pub state: Option<&'a DossierState>,
    /// In progress in the catalog, or a `.partial` left behind.
    pub interrupted: bool,
    /// The catalog names its last archive and that file is gone.
    pub archive_missing: bool,
}

pub fn decide(f: Facts<'_>, rules: &Rules<'_>) -> Decision {
    let id = match f.identity {
        Ok(id) => id,
        Err(msg) => return Decision::Fail(msg.clone()),
    };
    match id.kind {
        Kind::Etalon => return Decision::Skip(Skip::Etalon),
        Kind::Test => return Decision::Skip(Skip::Test),
        Kind::Normal => {}
    }
    if !id.transferable {
        return Decision::Skip(Skip::NonTransferable);
    }
    match (rules.dossiers, id.status) {
        (DossierSet::Originals, Status::Copie) => return Decision::Skip(Skip::Copie),
        (DossierSet::Copies, Status::Original) => return Decision::Skip(Skip::Original),
        _ => {}
    }
    // A walk that failed saw only part of the dossier: its fingerprint
    // cannot tell whether it changed, so it is an error every run until
    // the folder can be read — never a silent "unchanged".
    if let Some(e) = f.walk_error {
        return Decision::Fail(format!("{e}."));
    }
    let why = if f.interrupted {
        Why::Interrupted
    } else if f.state.is_some_and(DossierState::failed_last_time) {
        Why::Retry
    } else if f
        .state
        .is_some_and(|s| s.last_result == Some(LastResult::Deferred))
    {
        Why::Deferred
    } else if f.state.and_then(|s| s.fingerprint.as_deref()).is_none() {
        Why::New
    } else if rules.force_all || !rules.modified_only {
        Why::Forced
    } else if !f
        .state
        .and_then(|s| s.fingerprint.as_deref())
        .is_some_and(|recorded| f.fingerprint.matches(recorded))
    {
        Why::Modified
    } else if f.archive_missing {
        Why::ArchiveMissing
    } else {
        return Decision::Skip(Skip::Unchanged);
    };
    if !rules.rights.allows(&id.code) {
        return Decision::Fail(format!(
            "Le collaborateur {} n'a pas les droits sur ce dossier.",
            rules.user
        ));
    }
    Decision::Save(why)
}

/// Run order: the dossiers that failed, were interrupted or were deferred at the previous
/// run first, then the largest first (so the longest work starts early);
/// the code breaks ties so the order is stable.
pub fn order<T>(items: &mut [T], key: impl Fn(&T) -> (Why, u64, &str)) {
    items.sort_by(|a, b| {
        let rank = |t: &T| {
            let (why, bytes, code) = key(t);
            let again = matches!(why, Why::Retry | Why::Interrupted | Why::Deferred);
            (!again, Reverse(bytes), code.to_owned())
        };
        rank(a).cmp(&rank(b))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(code: &str) -> Identity {
        Identity {
            code: code.into(),
            name: None,
            status: Status::Original,
            kind: Kind::Normal,
            transferable: true,
        }
    }

    fn rules(rights: &Rights) -> Rules<'_> {
        Rules {
            force_all: false,
            modified_only: true,
            dossiers: DossierSet::OriginalsAndCopies,
            user: "COMPT",
            rights,
        }
    }

    /// The scan's fingerprint in these tests; `saved("fp1")` records it.
    static FP1: std::sync::LazyLock<Fingerprint> = std::sync::LazyLock::new(|| Fingerprint {
        full: "fp1".into(),
        content: String::new(),
        unproven: None,
    });

    fn saved(fp: &str) -> DossierState {
        DossierState {
            fingerprint: Some(format!("2:{fp}")),
            last_result: Some(LastResult::Ok),
            ..Default::default()
        }
    }

    fn facts<'a>(
        identity: &'a Result<Identity, String>,
        state: Option<&'a DossierState>,
    ) -> Facts<'a> {
        Facts {
            identity,
            walk_error: None,
            fingerprint: &FP1,
            state,
            interrupted: false,
            archive_missing: false,
        }
    }

    #[test]
    fn first_run_modified_unchanged() {
        let all = Rights::All;
        let i = Ok(id("A"));
        assert_eq!(
            decide(facts(&i, None), &rules(&all)),
            Decision::Save(Why::New)
        );
        let same = saved("fp1");
        assert_eq!(
            decide(facts(&i, Some(&same)), &rules(&all)),
            Decision::Skip(Skip::Unchanged)
        );
        let other = saved("fp0");
        assert_eq!(
            decide(facts(&i, Some(&other)), &rules(&all)),
            Decision::Save(Why::Modified)
        );
    }

    #[test]
    fn an_unchanged_dossier_whose_archive_is_gone_is_saved_again() {
        let all = Rights::All;
        let i = Ok(id("A"));
        let same = saved("fp1");
        let mut f = facts(&i, Some(&same));
        f.archive_missing = true;
        assert_eq!(decide(f, &rules(&all)), Decision::Save(Why::ArchiveMissing));
        // Excluded kinds stay excluded.
        let mut e = id("E");
        e.kind = Kind::Etalon;
        let e = Ok(e);
        let mut f = facts(&e, Some(&same));
        f.archive_missing = true;
        assert_eq!(decide(f, &rules(&all)), Decision::Skip(Skip::Etalon));
    }

    #[test]
    fn a_walk_error_is_an_error_even_when_the_fingerprint_did_not_change() {
        let all = Rights::All;
        let i = Ok(id("A"));
        let same = saved("fp1");
        let mut f = facts(&i, Some(&same));
        f.walk_error = Some("Lecture impossible du répertoire secret : Permission denied");
        assert_eq!(
            decide(f, &rules(&all)),
            Decision::Fail("Lecture impossible du répertoire secret : Permission denied.".into())
        );
    }

    #[test]
    fn all_and_modified_only_force() {
        let all = Rights::All;
        let i = Ok(id("A"));
        let same = saved("fp1");
        let mut r = rules(&all);
        r.force_all = true;
        assert_eq!(
            decide(facts(&i, Some(&same)), &r),
            Decision::Save(Why::Forced)
        );
        let mut r = rules(&all);
        r.modified_only = false;
        assert_eq!(
            decide(facts(&i, Some(&same)), &r),
            Decision::Save(Why::Forced)
        );
    }

    #[test]
    fn failed_and_interrupted_are_retried_even_unchanged() {
        let all = Rights::All;
        let i = Ok(id("A"));
        let mut failed = saved("fp1");
        failed.last_result = Some(LastResult::Error);
        assert_eq!(
            decide(facts(&i, Some(&failed)), &rules(&all)),
            Decision::Save(Why::Retry)
        );
        let same = saved("fp1");
        let mut f = facts(&i, Some(&same));
        f.interrupted = true;
        assert_eq!(decide(f, &rules(&all)), Decision::Save(Why::Interrupted));
    }

    #[test]
    fn deferred_last_time_is_saved_even_unchanged() {
        let all = Rights::All;
        let i = Ok(id("A"));
        let mut deferred = saved("fp1");
        deferred.last_result = Some(LastResult::Deferred);
        assert_eq!(
            decide(facts(&i, Some(&deferred)), &rules(&all)),
            Decision::Save(Why::Deferred)
        );
    }

    #[test]
    fn exclusions_win_over_everything() {
        let all = Rights::All;
        let mut r = rules(&all);
        r.force_all = true;
        for (change, skip) in [
            (
                (|i: &mut Identity| i.kind = Kind::Etalon) as fn(&mut Identity),
                Skip::Etalon,
            ),
            (|i| i.kind = Kind::Test, Skip::Test),
            (|i| i.transferable = false, Skip::NonTransferable),
        ] {
            let mut x = id("A");
            change(&mut x);
            let x = Ok(x);
            let mut f = facts(&x, None);
            f.interrupted = true;
            assert_eq!(decide(f, &r), Decision::Skip(skip));
        }
        let mut copie = id("C");
        copie.status = Status::Copie;
        let copie = Ok(copie);
        r.dossiers = DossierSet::Originals;
        assert_eq!(decide(facts(&copie, None), &r), Decision::Skip(Skip::Copie));
        r.dossiers = DossierSet::Copies;
        assert_eq!(decide(facts(&copie, None), &r), Decision::Save(Why::New));
        let orig = Ok(id("O"));
        assert_eq!(
            decide(facts(&orig, None), &r),
            Decision::Skip(Skip::Original)
        );
    }

    #[test]
    fn rights_only_matter_for_what_needs_saving() {
        let only = Rights::Only(vec!["B".into()]);
        let i = Ok(id("A"));
        let d = decide(facts(&i, None), &rules(&only));
        assert_eq!(
            d,
            Decision::Fail("Le collaborateur COMPT n'a pas les droits sur ce dossier.".into())
        );
        let same = saved("fp1");
        assert_eq!(
            decide(facts(&i, Some(&same)), &rules(&only)),
            Decision::Skip(Skip::Unchanged)
        );
    }

    #[test]
    fn invalid_identity_is_an_error_line() {
        let all = Rights::All;
        let bad: Result<Identity, String> = Err("Fichier dossiers/A/dossier.toml absent".into());
        assert!(
            matches!(decide(facts(&bad, None), &rules(&all)), Decision::Fail(m) if m.contains("dossier.toml"))
        );
    }

    #[test]
    fn order_retries_first_then_largest() {
        let mut v = vec![
            (Why::Modified, 10, "small"),
            (Why::New, 1000, "big"),
            (Why::Retry, 1, "retry"),
            (Why::Modified, 1000, "abig"),
            (Why::Interrupted, 5, "cut"),
            (Why::Deferred, 2, "later"),
        ];
        order(&mut v, |t| (t.0, t.1, t.2));
        let codes: Vec<_> = v.iter().map(|t| t.2).collect();
        assert_eq!(codes, ["cut", "later", "retry", "abig", "big", "small"]);
    }
}
