//! Where a dossier stands, in one vocabulary, with its French words once.
//!
//! Selection ([`crate::run::select::decide`]) gives each dossier a
//! `Decision`: saved for a [`SaveReason`], left alone because it is
//! unchanged or out of the batch's scope ([`Skip`], [`Exclusion`]), or an
//! error line (a `Refusal`). The run turns it into an [`Outcome`] (how it
//! ended), which the report, the JSON twin and the catalog record; the
//! catalog keeps the last result ([`LastResult`], its text here too). The
//! words below — an exclusion's, a saved reason's note, the report's
//! "Traitement réussi" / "Echec du traitement." — are written only here;
//! the dry run's sentences on why a dossier would be saved (`run::dry_run`)
//! and `status`'s column words (`commands::status`) are those commands' own.
//!
//! `Decision` and `Refusal` live with selection (`run/select.rs`), which
//! makes them: a refusal carries the typed errors of the scan and of
//! `dossier.toml`, and this file stays below everything that records a
//! dossier's state (the catalog reads [`LastResult`] from here).
//!
//! JSON names (kebab-case) are part of the reports' format: `new`,
//! `archive-missing`, `unchanged`, `etalon`, `non-transferable`…

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use thiserror::Error;

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
    /// What such a dossier is, as `save` names it: `dossier étalon`.
    pub fn noun(self) -> &'static str {
        match self {
            Exclusion::Etalon => "dossier étalon",
            Exclusion::Test => "dossier de test",
            Exclusion::NonTransferable => "dossier non transférable",
            Exclusion::Original => "original",
            Exclusion::Copie => "copie",
        }
    }

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
        skipped: Vec<LeftOut>,
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
    /// The original product's words for a dossier saved.
    pub const SUCCESS: &'static str = "Traitement réussi";

    /// The original product's words for a dossier in error, `message`
    /// saying why.
    pub fn failure(message: &str) -> String {
        format!("Echec du traitement. {message}")
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
                let mut s = String::from(Outcome::SUCCESS);
                s.push_str(why.report_note().unwrap_or_default());
                if !skipped.is_empty() {
                    s.push_str(&format!(
                        " ({} élément(s) non sauvegardé(s) : {})",
                        skipped.len(),
                        LeftOut::list(skipped)
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
            Outcome::Error { message, .. } => Outcome::failure(message),
            Outcome::Deferred { .. } => "Reporté au prochain traitement".into(),
            Outcome::Unchanged | Outcome::Excluded { .. } => return None,
        })
    }
}

/// Something in a dossier that its archive does not hold, and why: a
/// special file, a name no archive can hold, a `.svgauto/` folder (see
/// `scan::Skipped`). Said `rel (why)`, in the report line and, as a
/// string, in the JSON twin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// Its path in the dossier, as shown.
    pub rel: String,
    /// Why it is not archived (French).
    pub why: &'static str,
}

impl LeftOut {
    /// `a (why), b (why)`: the list as the report says it.
    pub fn list(items: &[LeftOut]) -> String {
        items
            .iter()
            .map(LeftOut::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.rel, self.why)
    }
}

impl Serialize for LeftOut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How a dossier's last backup attempt ended, as the catalog keeps it
/// (`dossier.last_result`). Its text in the catalog is [`LastResult::as_str`]
/// and nothing else: `'ok' | 'error' | 'deferred'` (the schema's first step,
/// shipped, has no comment on that column and is never edited). These are
/// the only values any release has written; a new one is a schema change
/// (a step of `catalog::MIGRATIONS`), so an older release refuses the
/// catalog as a newer release's instead of misreading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastResult {
    /// Saved.
    Ok,
    /// Failed: its message is kept beside it.
    Error,
    /// Not started before the run stopped: goes first next time.
    Deferred,
}

impl LastResult {
    /// Every last result.
    pub const ALL: [LastResult; 3] = [LastResult::Ok, LastResult::Error, LastResult::Deferred];

    /// The text the catalog stores.
    pub fn as_str(self) -> &'static str {
        match self {
            LastResult::Ok => "ok",
            LastResult::Error => "error",
            LastResult::Deferred => "deferred",
        }
    }

    /// The texts a last result may have, as a message lists them: `'ok',
    /// 'error' ou 'deferred'`.
    pub fn expected() -> String {
        let quoted: Vec<String> = Self::ALL
            .iter()
            .map(|r| format!("'{}'", r.as_str()))
            .collect();
        let (last, first) = quoted.split_last().expect("there are last results");
        format!("{} ou {last}", first.join(", "))
    }
}

/// A last result the catalog holds that is none of [`LastResult`]'s texts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} n'est pas un résultat connu ({expected})", expected = LastResult::expected())]
pub struct UnknownResult(pub String);

impl FromStr for LastResult {
    type Err = UnknownResult;

    fn from_str(s: &str) -> Result<LastResult, UnknownResult> {
        LastResult::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownResult(s.to_owned()))
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
    fn a_last_result_reads_back_its_own_text_and_nothing_else() {
        for r in LastResult::ALL {
            assert_eq!(r.as_str().parse(), Ok(r));
        }
        assert_eq!(LastResult::expected(), "'ok', 'error' ou 'deferred'");
        let e = "interrupted".parse::<LastResult>().unwrap_err();
        assert_eq!(e, UnknownResult("interrupted".into()));
        assert_eq!(
            e.to_string(),
            "\"interrupted\" n'est pas un résultat connu ('ok', 'error' ou 'deferred')"
        );
        assert!("OK".parse::<LastResult>().is_err() && "".parse::<LastResult>().is_err());
    }

    #[test]
    fn what_is_left_out_is_said_as_the_report_line_says_it() {
        let left = [
            LeftOut {
                rel: "tube".into(),
                why: "fichier spécial (FIFO)",
            },
            LeftOut {
                rel: ".svgauto/".into(),
                why: "réservé à svgauto (manifeste d'archive)",
            },
        ];
        assert_eq!(
            LeftOut::list(&left),
            "tube (fichier spécial (FIFO)), .svgauto/ (réservé à svgauto (manifeste d'archive))"
        );
        assert_eq!(
            json(&left),
            r#"["tube (fichier spécial (FIFO))",".svgauto/ (réservé à svgauto (manifeste d'archive))"]"#
        );
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
