//! Where a dossier stands, in one vocabulary, with its French words once.
//!
//! Selection ([`crate::run::select::decide`]) gives each dossier a
//! [`Decision`]: saved for a [`SaveReason`], left alone because it is
//! unchanged or out of the batch's scope ([`Skip`], [`Exclusion`]), or an
//! error line. The run turns it into an [`Outcome`] (how it ended), which
//! the report, the JSON twin and the catalog record; the catalog keeps the
//! last result (`catalog::LastResult`). The dry run and `status` speak the
//! same words: the sentences below are the only place they are written.
//!
//! JSON names (kebab-case) are part of the reports' format: `new`,
//! `archive-missing`, `unchanged`, `etalon`, `non-transferable`…

use serde::Serialize;

/// Why a run saves a dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaveReason {
    /// Never saved before.
    New,
    /// Its fingerprint changed since its last backup.
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
    /// Unchanged, but the archive of its last backup is no longer the file
    /// written (another size: emptied, truncated, replaced).
    ArchiveAltered,
}

impl SaveReason {
    /// What the report line of a dossier saved for this reason adds after
    /// "Traitement réussi", if anything (the reasons a reader would not
    /// guess from the dossier's own changes).
    pub fn report_note(self) -> Option<&'static str> {
        match self {
            SaveReason::Interrupted => {
                Some(" (reprise : la sauvegarde précédente de ce dossier avait été interrompue)")
            }
            SaveReason::ArchiveMissing => {
                Some(" (l'archive de la sauvegarde précédente avait disparu)")
            }
            SaveReason::ArchiveAltered => {
                Some(" (l'archive de la sauvegarde précédente a été modifiée ou tronquée)")
            }
            _ => None,
        }
    }
}

/// Why a dossier is outside the batch's scope, whoever runs it and
/// whatever changed (DESIGN §3 step 1). Declared in the order `status`
/// lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exclusion {
    /// A model dossier (`kind = "etalon"`).
    Etalon,
    /// A test dossier (`kind = "test"`).
    Test,
    /// `transferable = false`.
    NonTransferable,
    /// `backup.dossiers = "copies"` and this is an original.
    Original,
    /// `backup.dossiers = "originals"` and this is a copy.
    Copie,
}

impl Exclusion {
    /// Why the run leaves it alone, as the dry run says it.
    pub fn reason(self) -> &'static str {
        match self {
            Exclusion::Etalon => "dossier étalon : jamais sauvegardé par le traitement",
            Exclusion::Test => "dossier de test : jamais sauvegardé par le traitement",
            Exclusion::NonTransferable => {
                "dossier non transférable : jamais sauvegardé par le traitement"
            }
            Exclusion::Original => {
                "original : seules les copies sont sauvegardées (backup.dossiers = copies)"
            }
            Exclusion::Copie => {
                "copie : seuls les originaux sont sauvegardés (backup.dossiers = originals)"
            }
        }
    }

    /// The state of such a dossier in `status`'s table.
    pub fn excluded(self) -> &'static str {
        match self {
            Exclusion::Etalon => "exclu du traitement (étalon)",
            Exclusion::Test => "exclu du traitement (test)",
            Exclusion::NonTransferable => "exclu du traitement (non transférable)",
            Exclusion::Original => "exclu du traitement (original ; backup.dossiers = copies)",
            Exclusion::Copie => "exclu du traitement (copie ; backup.dossiers = originals)",
        }
    }

    /// `n` such dossiers, counted in `status`'s totals: `1 étalon`,
    /// `2 tests` (0 and 1 take the singular, as in French).
    pub fn counted(self, n: usize) -> String {
        let (one, many) = match self {
            Exclusion::Etalon => ("étalon", "étalons"),
            Exclusion::Test => ("test", "tests"),
            Exclusion::NonTransferable => ("non transférable", "non transférables"),
            Exclusion::Original => (
                "original : backup.dossiers = copies",
                "originaux : backup.dossiers = copies",
            ),
            Exclusion::Copie => (
                "copie : backup.dossiers = originals",
                "copies : backup.dossiers = originals",
            ),
        };
        format!("{n} {}", if n > 1 { many } else { one })
    }
}

/// Why a dossier is not concerned by the run: unchanged since its last
/// backup, or out of the batch's scope. In JSON, `unchanged` or the
/// exclusion's own name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skip {
    /// Its last backup holds it as it is.
    Unchanged,
    /// Out of the batch's scope.
    #[serde(untagged)]
    Excluded(Exclusion),
}

impl Skip {
    /// Why the run leaves it alone, as the dry run says it.
    pub fn reason(self) -> &'static str {
        match self {
            Skip::Unchanged => "non modifié depuis la dernière sauvegarde",
            Skip::Excluded(e) => e.reason(),
        }
    }
}

/// What selection decides for one dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// To save, and why.
    Save(SaveReason),
    /// Not concerned, and why.
    Skip(Skip),
    /// An error line in the report, with its French message.
    Fail(String),
}

/// How one dossier ended in a run (or, for the dry run, would).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Its archive is in place and recorded.
    Saved {
        /// Why it was saved.
        why: SaveReason,
        /// The archive's path, as the report shows it.
        archive: String,
        /// Bytes read from the dossier.
        bytes_in: u64,
        /// Bytes of the archive.
        bytes_out: u64,
        /// Files archived.
        files: usize,
        /// The dossier's fingerprint at this backup.
        fingerprint: String,
        /// Things in the dossier that are not archived, and why.
        skipped: Vec<String>,
        /// Symbolic links recorded (`path -> target`): the archive holds
        /// the link, not what it points to.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        links: Vec<String>,
    },
    /// An error line.
    Error {
        /// Why it was to be saved, if it got that far.
        #[serde(skip_serializing_if = "Option::is_none")]
        why: Option<SaveReason>,
        /// What went wrong, in French.
        message: String,
    },
    /// Not started: the run was stopped first. Goes first next time.
    Deferred {
        /// Why it was to be saved.
        why: SaveReason,
    },
    /// Its last backup holds it as it is.
    Unchanged,
    /// Out of the batch's scope.
    Excluded {
        /// Which exclusion.
        reason: Exclusion,
    },
}

impl Outcome {
    /// The outcome of a dossier selection decided not to save; `Err` with
    /// the reason for one it decided to save (its outcome comes from the
    /// save).
    pub fn unsaved(decision: Decision) -> Result<Outcome, SaveReason> {
        Ok(match decision {
            Decision::Save(why) => return Err(why),
            Decision::Skip(Skip::Unchanged) => Outcome::Unchanged,
            Decision::Skip(Skip::Excluded(reason)) => Outcome::Excluded { reason },
            Decision::Fail(message) => Outcome::Error { why: None, message },
        })
    }

    /// Is this dossier "concerned" (a line in the text report)?
    pub fn concerned(&self) -> bool {
        matches!(
            self,
            Outcome::Saved { .. } | Outcome::Error { .. } | Outcome::Deferred { .. }
        )
    }

    /// Why a dossier not concerned was left alone, `None` for the others.
    pub fn skip(&self) -> Option<Skip> {
        match self {
            Outcome::Unchanged => Some(Skip::Unchanged),
            Outcome::Excluded { reason } => Some(Skip::Excluded(*reason)),
            _ => None,
        }
    }

    /// The text after `Dossier X : `, or `None` for dossiers not listed.
    pub fn text(&self) -> Option<String> {
        Some(match self {
            Outcome::Saved {
                why,
                skipped,
                links,
                ..
            } => {
                let mut s = String::from("Traitement réussi");
                s.push_str(why.report_note().unwrap_or_default());
                if !skipped.is_empty() {
                    s.push_str(&format!(
                        " ({} élément(s) non sauvegardé(s) : {})",
                        skipped.len(),
                        skipped.join(", ")
                    ));
                }
                if !links.is_empty() {
                    s.push_str(&format!(
                        " ({} lien(s) symbolique(s) enregistré(s) comme lien(s), ce qu'ils désignent n'est pas sauvegardé : {})",
                        links.len(),
                        links.join(", ")
                    ));
                }
                s
            }
            Outcome::Error { message, .. } => format!("Echec du traitement. {message}"),
            Outcome::Deferred { .. } => "Reporté au prochain traitement".into(),
            Outcome::Unchanged | Outcome::Excluded { .. } => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON names are the reports' format: a reason that is not an
    /// exclusion, and each exclusion, keep their names.
    fn json<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn json_names_are_kebab_case_and_skips_flatten() {
        assert_eq!(json(&Skip::Unchanged), "\"unchanged\"");
        assert_eq!(
            json(&Skip::Excluded(Exclusion::NonTransferable)),
            "\"non-transferable\""
        );
        assert_eq!(json(&SaveReason::ArchiveMissing), "\"archive-missing\"");
        assert_eq!(
            json(&Outcome::Excluded {
                reason: Exclusion::Copie
            }),
            r#"{"outcome":"excluded","reason":"copie"}"#
        );
    }

    #[test]
    fn every_decision_but_a_save_is_an_outcome() {
        assert_eq!(
            Outcome::unsaved(Decision::Save(SaveReason::New)).unwrap_err(),
            SaveReason::New
        );
        let o = Outcome::unsaved(Decision::Skip(Skip::Excluded(Exclusion::Test))).unwrap();
        assert_eq!(o.skip(), Some(Skip::Excluded(Exclusion::Test)));
        assert!(!o.concerned());
        let o = Outcome::unsaved(Decision::Fail("x".into())).unwrap();
        assert!(o.concerned());
        assert_eq!(o.text().as_deref(), Some("Echec du traitement. x"));
    }

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(Exclusion::Etalon.counted(1), "1 étalon");
        assert_eq!(Exclusion::Etalon.counted(2), "2 étalons");
        assert_eq!(
            Exclusion::Original.counted(3),
            "3 originaux : backup.dossiers = copies"
        );
    }
}
