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
//!
//! Two helpers feed the facts: [`LastArchive::of`], the one `stat` that
//! says whether a dossier's last archive is still the file the catalog
//! recorded, and [`case_twins`], the dossiers whose codes differ only by
//! case (one archive file on a backup folder that ignores case).
//!
//! What selection decides is a [`Decision`]; an error line is a
//! [`Refusal`], typed by its cause (identity, case twins, walk, rights),
//! whose message is the report's sentence. Both are here rather than in
//! `crate::state` because a refusal carries the scan's and `dossier.toml`'s
//! own errors, which `state` (below them) cannot name.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::path::Path;

use thiserror::Error;

use crate::base::{Identity, IdentityError, Kind, Rights, Status};
use crate::catalog::DossierState;
use crate::config::DossierSet;
use crate::scan::{Fingerprint, WalkError};
use crate::state::{Exclusion, LastResult, Outcome, SaveReason, Skip};

/// What the run's settings and arguments say about selection.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    /// `--all`: every dossier, modified or not.
    pub force_all: bool,
    /// `backup.modified_only`: only what changed since its last backup.
    pub modified_only: bool,
    /// `backup.dossiers`: originals, copies or both.
    pub dossiers: DossierSet,
    /// The collaborator running the batch.
    pub user: &'a str,
    /// His rights.
    pub rights: &'a Rights,
}

/// The facts about one dossier that selection needs.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Its `dossier.toml`, or what is wrong with it.
    pub identity: &'a Result<Identity, IdentityError>,
    /// The first folder or file its walk could not read.
    pub walk_error: Option<&'a WalkError>,
    /// Its fingerprint now.
    pub fingerprint: &'a Fingerprint,
    /// What the catalog remembers of it.
    pub state: Option<&'a DossierState>,
    /// In progress in the catalog, or a `.partial` left behind.
    pub interrupted: bool,
    /// What is on disk where the catalog says its last archive is.
    pub last_archive: LastArchive,
    /// The other dossiers of the base, saved by the batch or on an event,
    /// whose code differs from this one only by case (see [`case_twins`]).
    pub case_twins: &'a [String],
}

/// What selection decides for one dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// To save, and why.
    Save(SaveReason),
    /// Not concerned, and why.
    Skip(Skip),
    /// An error line in the report, and why.
    Fail(Refusal),
}

impl Decision {
    /// The outcome of a dossier selection decided not to save; `Err` with
    /// the reason for one it decided to save (its outcome comes from the
    /// save).
    pub fn outcome(self) -> Result<Outcome, SaveReason> {
        Ok(match self {
            Decision::Save(why) => return Err(why),
            Decision::Skip(Skip::Unchanged) => Outcome::Unchanged,
            Decision::Skip(Skip::Excluded(reason)) => Outcome::Excluded { reason },
            Decision::Fail(refusal) => Outcome::Error {
                why: None,
                message: refusal.to_string(),
            },
        })
    }
}

/// Why selection makes a dossier an error line without trying to save it.
/// Its message is the report line's French sentence (after "Echec du
/// traitement.").
#[derive(Debug, Clone, Error)]
pub enum Refusal {
    /// No usable identity: `dossier.toml` missing or wrong, or the entry of
    /// `dossiers/` is not a folder that can be read.
    #[error(transparent)]
    Identity(IdentityError),
    /// Its code differs from other dossiers' only by case ([`case_twins`]):
    /// the message names them and their one archive file.
    #[error("{}", case_twin_message(code, twins))]
    CaseTwins {
        /// Its code.
        code: String,
        /// The others, sorted.
        twins: Vec<String>,
    },
    /// Its walk could not read everything: whether it changed is unknown.
    #[error("{0}.")]
    Walk(WalkError),
    /// The collaborator running the batch may not save it.
    #[error("Le collaborateur {user} n'a pas les droits sur ce dossier.")]
    Rights {
        /// The collaborator.
        user: String,
    },
}

/// Two refusals are the same when they have the same cause and say the
/// same sentence: their I/O causes have no equality of their own.
impl PartialEq for Refusal {
    fn eq(&self, other: &Refusal) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
}

impl Eq for Refusal {}

/// What is on disk where the catalog says a dossier's last archive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LastArchive {
    /// No archive recorded (never saved).
    #[default]
    Unrecorded,
    /// A file of the size recorded (or no size was recorded: a catalog of
    /// an earlier release).
    Present,
    /// No file there: deleted, or a folder in its place.
    Missing,
    /// A file of another size than the one written: emptied, truncated or
    /// replaced after the backup (sizes in bytes).
    Altered {
        /// The size on disk.
        found: u64,
        /// The size written.
        recorded: u64,
    },
}

impl LastArchive {
    /// One `stat` of the archive the catalog names (relative to `root`
    /// unless absolute), compared with the size it recorded.
    pub fn of(root: &Path, state: Option<&DossierState>) -> LastArchive {
        let Some(st) = state else {
            return LastArchive::Unrecorded;
        };
        let Some(archive) = st.last_archive.as_deref() else {
            return LastArchive::Unrecorded;
        };
        match std::fs::metadata(root.join(archive)) {
            Ok(m) if m.is_file() => match st.last_bytes {
                Some(recorded) if recorded != m.len() => LastArchive::Altered {
                    found: m.len(),
                    recorded,
                },
                _ => LastArchive::Present,
            },
            _ => LastArchive::Missing,
        }
    }
}

/// Dossiers whose codes differ only by case (`dupont`, `DUPONT`): on a
/// backup folder that ignores case (Windows, most NAS shares, exFAT) their
/// archives `Bdupont.SVG` and `BDUPONT.SVG` are one file. For each code of
/// such a group, the other codes of the group, sorted; codes without a
/// twin are not in the map.
pub fn case_twins<'a>(codes: impl IntoIterator<Item = &'a str>) -> HashMap<String, Vec<String>> {
    let mut groups: HashMap<String, Vec<&str>> = HashMap::new();
    for c in codes {
        groups.entry(c.to_ascii_lowercase()).or_default().push(c);
    }
    let mut twins = HashMap::new();
    for group in groups.values().filter(|g| g.len() > 1) {
        for c in group {
            let mut others: Vec<String> = group
                .iter()
                .filter(|o| *o != c)
                .map(|o| (*o).to_owned())
                .collect();
            others.sort();
            twins.insert((*c).to_owned(), others);
        }
    }
    twins
}

/// The error line of a dossier with case twins, naming them and why.
fn case_twin_message(code: &str, twins: &[String]) -> String {
    let mut archives = vec![crate::base::file_name(code)];
    archives.extend(twins.iter().map(|t| crate::base::file_name(t)));
    format!(
        "Le code {code} ne se distingue de {} que par la casse : sur un répertoire de sauvegarde qui ignore la casse (Windows, la plupart des NAS, exFAT), les archives {} ne seraient qu'un seul fichier et un dossier ne serait dans aucune archive. Aucun d'eux n'est sauvegardé tant que l'un n'est pas renommé.",
        twins.join(", "),
        archives.join(" et ")
    )
}

/// Decides one dossier (see the module's documentation for the order of
/// the rules).
pub fn decide(f: Facts<'_>, rules: &Rules<'_>) -> Decision {
    let id = match f.identity {
        Ok(id) => id,
        Err(e) => return Decision::Fail(Refusal::Identity(e.clone())),
    };
    match id.kind {
        Kind::Etalon => return Decision::Skip(Skip::Excluded(Exclusion::Etalon)),
        Kind::Test => return Decision::Skip(Skip::Excluded(Exclusion::Test)),
        Kind::Normal => {}
    }
    if !id.transferable {
        return Decision::Skip(Skip::Excluded(Exclusion::NonTransferable));
    }
    match (rules.dossiers, id.status) {
        (DossierSet::Originals, Status::Copie) => {
            return Decision::Skip(Skip::Excluded(Exclusion::Copie));
        }
        (DossierSet::Copies, Status::Original) => {
            return Decision::Skip(Skip::Excluded(Exclusion::Original));
        }
        _ => {}
    }
    // Two dossiers the batch would write to one archive on a backup folder
    // that ignores case: neither is saved, on any file system, so the same
    // base behaves the same on Linux and on Windows.
    if !f.case_twins.is_empty() {
        return Decision::Fail(Refusal::CaseTwins {
            code: id.code.clone(),
            twins: f.case_twins.to_vec(),
        });
    }
    // A walk that failed saw only part of the dossier: its fingerprint
    // cannot tell whether it changed, so it is an error every run until
    // the folder can be read — never a silent "unchanged".
    if let Some(e) = f.walk_error {
        return Decision::Fail(Refusal::Walk(e.clone()));
    }
    let why = if f.interrupted {
        SaveReason::Interrupted
    } else if f.state.is_some_and(DossierState::failed_last_time) {
        SaveReason::Retry
    } else if f
        .state
        .is_some_and(|s| s.last_result == Some(LastResult::Deferred))
    {
        SaveReason::Deferred
    } else if f.state.and_then(|s| s.fingerprint.as_deref()).is_none() {
        SaveReason::New
    } else if rules.force_all || !rules.modified_only {
        SaveReason::Forced
    } else if !f
        .state
        .and_then(|s| s.fingerprint.as_deref())
        .is_some_and(|recorded| f.fingerprint.matches(recorded))
    {
        SaveReason::Modified
    } else if f.last_archive == LastArchive::Missing {
        SaveReason::ArchiveMissing
    } else if matches!(f.last_archive, LastArchive::Altered { .. }) {
        SaveReason::ArchiveAltered
    } else {
        return Decision::Skip(Skip::Unchanged);
    };
    if !rules.rights.allows(&id.code) {
        return Decision::Fail(Refusal::Rights {
            user: rules.user.to_owned(),
        });
    }
    Decision::Save(why)
}

/// Run order: the dossiers that failed, were interrupted or were deferred at the previous
/// run first, then the largest first (so the longest work starts early);
/// the code breaks ties so the order is stable.
pub fn order<T>(items: &mut [T], key: impl Fn(&T) -> (SaveReason, u64, &str)) {
    let first = |why| {
        !matches!(
            why,
            SaveReason::Retry | SaveReason::Interrupted | SaveReason::Deferred
        )
    };
    // Compared in place: no key is built (nor a code copied) per comparison.
    items.sort_by(|a, b| {
        let ((wa, ba, ca), (wb, bb, cb)) = (key(a), key(b));
        (first(wa), Reverse(ba), ca).cmp(&(first(wb), Reverse(bb), cb))
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
        format1_complete: true,
    });

    fn saved(fp: &str) -> DossierState {
        DossierState {
            fingerprint: Some(format!("2:{fp}")),
            last_result: Some(LastResult::Ok),
            ..Default::default()
        }
    }

    fn facts<'a>(
        identity: &'a Result<Identity, IdentityError>,
        state: Option<&'a DossierState>,
    ) -> Facts<'a> {
        Facts {
            identity,
            walk_error: None,
            fingerprint: &FP1,
            state,
            interrupted: false,
            last_archive: LastArchive::Present,
            case_twins: &[],
        }
    }

    #[test]
    fn first_run_modified_unchanged() {
        let all = Rights::All;
        let i = Ok(id("A"));
        assert_eq!(
            decide(facts(&i, None), &rules(&all)),
            Decision::Save(SaveReason::New)
        );
        let same = saved("fp1");
        assert_eq!(
            decide(facts(&i, Some(&same)), &rules(&all)),
            Decision::Skip(Skip::Unchanged)
        );
        let other = saved("fp0");
        assert_eq!(
            decide(facts(&i, Some(&other)), &rules(&all)),
            Decision::Save(SaveReason::Modified)
        );
    }

    #[test]
    fn an_unchanged_dossier_whose_archive_is_gone_is_saved_again() {
        let all = Rights::All;
        let i = Ok(id("A"));
        let same = saved("fp1");
        let mut f = facts(&i, Some(&same));
        f.last_archive = LastArchive::Missing;
        assert_eq!(
            decide(f, &rules(&all)),
            Decision::Save(SaveReason::ArchiveMissing)
        );
        f.last_archive = LastArchive::Altered {
            found: 0,
            recorded: 25_000,
        };
        assert_eq!(
            decide(f, &rules(&all)),
            Decision::Save(SaveReason::ArchiveAltered)
        );
        // Excluded kinds stay excluded.
        let mut e = id("E");
        e.kind = Kind::Etalon;
        let e = Ok(e);
        let mut f = facts(&e, Some(&same));
        f.last_archive = LastArchive::Missing;
        assert_eq!(
            decide(f, &rules(&all)),
            Decision::Skip(Skip::Excluded(Exclusion::Etalon))
        );
    }

    #[test]
    fn an_archive_of_another_size_than_recorded_is_altered() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("BA.SVG"), vec![0u8; 5000]).unwrap();
        let mut st = saved("fp1");
        st.last_archive = Some("BA.SVG".into());
        st.last_bytes = Some(5000);
        assert_eq!(LastArchive::of(d.path(), Some(&st)), LastArchive::Present);
        st.last_bytes = Some(25_000);
        assert_eq!(
            LastArchive::of(d.path(), Some(&st)),
            LastArchive::Altered {
                found: 5000,
                recorded: 25_000
            }
        );
        // A catalog of an earlier release recorded no size: presence only.
        st.last_bytes = None;
        assert_eq!(LastArchive::of(d.path(), Some(&st)), LastArchive::Present);
        st.last_archive = Some("BB.SVG".into());
        assert_eq!(LastArchive::of(d.path(), Some(&st)), LastArchive::Missing);
        std::fs::create_dir(d.path().join("BB.SVG")).unwrap();
        assert_eq!(LastArchive::of(d.path(), Some(&st)), LastArchive::Missing);
        assert_eq!(LastArchive::of(d.path(), None), LastArchive::Unrecorded);
    }

    #[test]
    fn codes_differing_only_by_case_are_twins_and_errors() {
        let t = case_twins(["dupont", "DUPONT", "Dupont", "821516", "a-1", "A_1"]);
        assert_eq!(t["dupont"], ["DUPONT", "Dupont"]);
        assert_eq!(t["DUPONT"], ["Dupont", "dupont"]);
        assert!(!t.contains_key("821516") && !t.contains_key("a-1"));
        let all = Rights::All;
        let i = Ok(id("dupont"));
        let mut f = facts(&i, None);
        f.case_twins = &t["dupont"];
        let Decision::Fail(r) = decide(f, &rules(&all)) else {
            panic!("a twin is an error line");
        };
        assert!(matches!(r, Refusal::CaseTwins { .. }));
        let m = r.to_string();
        assert!(
            m.contains("dupont") && m.contains("DUPONT") && m.contains("BDUPONT.SVG"),
            "{m}"
        );
    }

    #[test]
    fn a_walk_error_is_an_error_even_when_the_fingerprint_did_not_change() {
        let all = Rights::All;
        let i = Ok(id("A"));
        let same = saved("fp1");
        let mut f = facts(&i, Some(&same));
        let e = WalkError::Folder {
            rel: "secret/".into(),
            source: std::sync::Arc::new(std::io::Error::other("Permission denied")),
        };
        f.walk_error = Some(&e);
        let d = decide(f, &rules(&all));
        assert_eq!(d, Decision::Fail(Refusal::Walk(e.clone())));
        assert_eq!(
            d.outcome().unwrap().text().unwrap(),
            "Echec du traitement. Lecture impossible du répertoire secret/ : Permission denied."
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
            Decision::Save(SaveReason::Forced)
        );
        let mut r = rules(&all);
        r.modified_only = false;
        assert_eq!(
            decide(facts(&i, Some(&same)), &r),
            Decision::Save(SaveReason::Forced)
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
            Decision::Save(SaveReason::Retry)
        );
        let same = saved("fp1");
        let mut f = facts(&i, Some(&same));
        f.interrupted = true;
        assert_eq!(
            decide(f, &rules(&all)),
            Decision::Save(SaveReason::Interrupted)
        );
    }

    #[test]
    fn deferred_last_time_is_saved_even_unchanged() {
        let all = Rights::All;
        let i = Ok(id("A"));
        let mut deferred = saved("fp1");
        deferred.last_result = Some(LastResult::Deferred);
        assert_eq!(
            decide(facts(&i, Some(&deferred)), &rules(&all)),
            Decision::Save(SaveReason::Deferred)
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
                Skip::Excluded(Exclusion::Etalon),
            ),
            (|i| i.kind = Kind::Test, Skip::Excluded(Exclusion::Test)),
            (
                |i| i.transferable = false,
                Skip::Excluded(Exclusion::NonTransferable),
            ),
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
        assert_eq!(
            decide(facts(&copie, None), &r),
            Decision::Skip(Skip::Excluded(Exclusion::Copie))
        );
        r.dossiers = DossierSet::Copies;
        assert_eq!(
            decide(facts(&copie, None), &r),
            Decision::Save(SaveReason::New)
        );
        let orig = Ok(id("O"));
        assert_eq!(
            decide(facts(&orig, None), &r),
            Decision::Skip(Skip::Excluded(Exclusion::Original))
        );
    }

    #[test]
    fn rights_only_matter_for_what_needs_saving() {
        let only = Rights::Only(vec!["B".into()]);
        let i = Ok(id("A"));
        let d = decide(facts(&i, None), &rules(&only));
        assert_eq!(
            d,
            Decision::Fail(Refusal::Rights {
                user: "COMPT".into()
            })
        );
        let Decision::Fail(r) = d else { unreachable!() };
        assert_eq!(
            r.to_string(),
            "Le collaborateur COMPT n'a pas les droits sur ce dossier."
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
        let bad: Result<Identity, IdentityError> = Err(IdentityError::Missing {
            rel: "dossiers/A/dossier.toml".into(),
        });
        let d = decide(facts(&bad, None), &rules(&all));
        assert!(
            matches!(
                &d,
                Decision::Fail(Refusal::Identity(IdentityError::Missing { .. }))
            ),
            "{d:?}"
        );
        assert_eq!(
            d.outcome().unwrap().text().unwrap(),
            "Echec du traitement. Fichier dossiers/A/dossier.toml absent : ce dossier n'a pas d'identité."
        );
    }

    #[test]
    fn every_decision_but_a_save_is_an_outcome() {
        assert_eq!(
            Decision::Save(SaveReason::New).outcome().unwrap_err(),
            SaveReason::New
        );
        let o = Decision::Skip(Skip::Excluded(Exclusion::Test))
            .outcome()
            .unwrap();
        assert_eq!(o.skip(), Some(Skip::Excluded(Exclusion::Test)));
        assert!(!o.concerned());
        let o = Decision::Fail(Refusal::Rights { user: "X".into() })
            .outcome()
            .unwrap();
        assert!(o.concerned());
        assert_eq!(
            o.text().as_deref(),
            Some("Echec du traitement. Le collaborateur X n'a pas les droits sur ce dossier.")
        );
    }

    #[test]
    fn order_retries_first_then_largest() {
        let mut v = vec![
            (SaveReason::Modified, 10, "small"),
            (SaveReason::New, 1000, "big"),
            (SaveReason::Retry, 1, "retry"),
            (SaveReason::Modified, 1000, "abig"),
            (SaveReason::Interrupted, 5, "cut"),
            (SaveReason::Deferred, 2, "later"),
        ];
        order(&mut v, |t| (t.0, t.1, t.2));
        let codes: Vec<_> = v.iter().map(|t| t.2).collect();
        assert_eq!(codes, ["cut", "later", "retry", "abig", "big", "small"]);
    }
}
