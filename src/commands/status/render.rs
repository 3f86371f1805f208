//! `svgauto status` as text, for a person: a table by code, what needs
//! attention and why, the dossiers deleted from the base, the totals and the
//! verdict. The assessment itself is `status/mod.rs`; nothing here decides,
//! it only says (in French, byte for byte what the snapshots pin).

use chrono::{DateTime, Local, TimeZone};
use unicode_width::UnicodeWidthStr;

use super::{Attention, DossierStatus, LastRun, StatusReport};
use crate::base::{Kind, Status};
use crate::state::Exclusion;

/// `2026-11-28 21:00`, local time.
fn show_time<Tz: TimeZone>(t: DateTime<Tz>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

/// How long changes have been waiting, as the stale rule counts it: ` depuis
/// plus de N jours` (` d'un jour`; nothing for 0), to follow "modifié et non
/// sauvegardé".
fn for_more_than(days: u32) -> String {
    match days {
        0 => String::new(),
        1 => " depuis plus d'un jour".to_owned(),
        n => format!(" depuis plus de {n} jours"),
    }
}

/// One stale dossier, as its reason says it.
fn stale_one(days: u32) -> String {
    format!("modifié et non sauvegardé{}", for_more_than(days))
}

/// Stale dossiers, as the totals count them.
fn stale_many(days: u32) -> String {
    format!("modifié(s) et non sauvegardé(s){}", for_more_than(days))
}

impl DossierStatus {
    /// The RÉSULTAT column.
    pub(super) fn result_text(&self) -> String {
        if let Some(m) = &self.invalid {
            return m.clone();
        }
        if let Some(r) = self.excluded {
            return r.excluded().to_owned();
        }
        match self.last_result {
            Some(LastRun::Ok) => "réussi".into(),
            Some(LastRun::Error) => format!(
                "en erreur : {}",
                self.last_error.as_deref().unwrap_or("(sans message)")
            ),
            Some(LastRun::Deferred) => "reporté".into(),
            Some(LastRun::Interrupted) => "interrompu".into(),
            Some(LastRun::Running) => "en cours".into(),
            None => "—".into(),
        }
    }

    /// Why it needs attention, in French, one sentence per reason.
    pub(super) fn reasons(&self, stale_days: u32) -> Vec<String> {
        self.attention
            .iter()
            .map(|a| match a {
                Attention::NeverSaved => "jamais sauvegardé".to_owned(),
                Attention::Invalid => self.invalid.clone().unwrap_or_default(),
                Attention::Stale => {
                    let last = self.last_backup_at.map(show_time);
                    let since = self.unsaved_since.map(show_time);
                    let mut s = stale_one(stale_days);
                    if let Some(last) = &last {
                        s.push_str(&format!(" (dernière sauvegarde le {last}"));
                        match since.filter(|since| since != last) {
                            Some(since) => s.push_str(&format!(", modifié depuis le {since})")),
                            None => s.push(')'),
                        }
                    }
                    s
                }
                Attention::Error => format!(
                    "en erreur au dernier traitement : {}",
                    self.last_error.as_deref().unwrap_or("(sans message)")
                ),
                Attention::Interrupted => {
                    "sauvegarde interrompue (le prochain traitement la reprend en premier)"
                        .to_owned()
                }
                Attention::ArchiveMissing => format!(
                    "archive absente : {} (le prochain traitement sauvegarde le dossier à nouveau)",
                    self.last_archive.as_deref().unwrap_or("?")
                ),
                Attention::RestoreLeftover => leftover_words(&self.restore_leftovers),
                Attention::ArchiveAltered => {
                    let sizes = self.archive_altered.map_or_else(String::new, |a| {
                        format!(
                            " : {} octet(s) au lieu des {} écrits",
                            a.found, a.recorded
                        )
                    });
                    format!(
                        "archive modifiée ou tronquée depuis la sauvegarde : {}{sizes} (le prochain traitement sauvegarde le dossier à nouveau)",
                        self.last_archive.as_deref().unwrap_or("?")
                    )
                }
            })
            .collect()
    }
}

/// Why restores' temporary trees need attention, naming them.
fn leftover_words(paths: &[String]) -> String {
    format!(
        "reste d'une remontée non supprimé : {} (le prochain traitement, la prochaine remontée ou importation réessaie ; s'il reste, supprimez-le à la main)",
        paths.join(", ")
    )
}

impl StatusReport {
    /// The status as text, for a person: a table by code, what needs
    /// attention and why, the dossiers deleted from the base, the totals
    /// and the verdict.
    pub fn render(&self) -> Vec<String> {
        let now = show_time(self.now);
        let mut out = vec![format!(
            "État des sauvegardes de la base {} au {now}",
            self.base
        )];
        if self.run_in_progress {
            out.push(
                "Un traitement est en cours sur cette base : cet état change pendant qu'il avance."
                    .into(),
            );
        }
        for p in &self.base_attention {
            out.push(format!("Attention : {}", p.message));
        }
        out.push(String::new());
        if self.dossiers.is_empty() {
            out.push("Aucun dossier dans la base.".into());
        } else {
            out.extend(self.dossier_table());
        }
        out.extend(self.attention_lines());
        out.extend(self.deleted_lines());
        out.push(String::new());
        out.extend(self.totals_lines());
        out
    }

    /// The table of the dossiers under `dossiers/`, by code, with its header.
    fn dossier_table(&self) -> Vec<String> {
        let mut rows = vec![
            [
                "",
                "CODE",
                "NOM",
                "STATUT",
                "TYPE",
                "DERNIÈRE SAUVEGARDE",
                "ARCHIVE",
                "MODIFIÉ DEPUIS",
                "RÉSULTAT",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for d in &self.dossiers {
            rows.push(vec![
                // One character whatever the rows, so the table does
                // not shift when the first `!` appears.
                if d.attention.is_empty() { " " } else { "!" }.into(),
                d.code.clone(),
                d.name.clone().unwrap_or_else(|| "—".into()),
                d.status.map_or("?", status_word).into(),
                type_word(d),
                d.last_backup_at.map_or_else(|| "jamais".into(), show_time),
                archive_cell(d.last_archive.as_deref(), d.archive_present)
                    + if d.archive_altered.is_some() {
                        " (MODIFIÉE)"
                    } else {
                        ""
                    },
                match d.modified_since {
                    Some(true) => "oui",
                    Some(false) => "non",
                    None => "—",
                }
                .into(),
                d.result_text(),
            ]);
        }
        table(&rows)
    }

    /// "Dossiers à surveiller :" and one line per dossier (or code no longer
    /// under `dossiers/`) needing attention; nothing when none does.
    fn attention_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let attention: Vec<&DossierStatus> = self
            .dossiers
            .iter()
            .filter(|d| !d.attention.is_empty())
            .collect();
        if !attention.is_empty() || !self.orphan_restore_leftovers.is_empty() {
            out.push(String::new());
            out.push("Dossiers à surveiller :".into());
            for d in attention {
                out.push(format!(
                    "  {} : {}",
                    d.code,
                    d.reasons(self.stale_days).join(" ; ")
                ));
            }
            for o in &self.orphan_restore_leftovers {
                out.push(format!(
                    "  {} : absent de dossiers/ ; {}",
                    o.code,
                    leftover_words(&o.paths)
                ));
            }
        }
        out
    }

    /// The dossiers the catalog knows that are gone from `dossiers/`, as a
    /// table; nothing when there are none.
    fn deleted_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.deleted.is_empty() {
            out.push(String::new());
            out.push("Supprimés de la base (leur dernière sauvegarde reste) :".into());
            let mut rows = vec![
                ["CODE", "DERNIÈRE SAUVEGARDE", "ARCHIVE"]
                    .map(str::to_owned)
                    .to_vec(),
            ];
            for d in &self.deleted {
                rows.push(vec![
                    d.code.clone(),
                    d.last_backup_at.map_or_else(|| "jamais".into(), show_time),
                    archive_cell(d.last_archive.as_deref(), d.archive_present),
                ]);
            }
            out.extend(table(&rows).into_iter().map(|l| format!("  {l}")));
        }
        out
    }

    fn totals_lines(&self) -> Vec<String> {
        let t = &self.totals;
        let mut parts = vec![format!("{} à jour", t.up_to_date)];
        let mut add = |n: usize, words: String| {
            if n > 0 {
                parts.push(format!("{n} {words}"));
            }
        };
        add(
            t.modified,
            "modifié(s) depuis leur dernière sauvegarde".into(),
        );
        add(t.stale, stale_many(self.stale_days));
        add(t.never_saved, "jamais sauvegardé(s)".into());
        add(t.invalid, "invalide(s) ou illisible(s)".into());
        // Which exclusions, counted: "2 exclu(s) du traitement (1 étalon, 1 test)".
        let mut reasons: Vec<(Exclusion, usize)> = Vec::new();
        for r in self.dossiers.iter().filter_map(|d| d.excluded) {
            match reasons.iter_mut().find(|(x, _)| *x == r) {
                Some((_, n)) => *n += 1,
                None => reasons.push((r, 1)),
            }
        }
        reasons.sort_by_key(|(r, _)| *r);
        let reasons: Vec<String> = reasons.iter().map(|(r, n)| r.counted(*n)).collect();
        add(
            t.excluded,
            format!("exclu(s) du traitement ({})", reasons.join(", ")),
        );
        let mut out = vec![format!("{} dossier(s) : {}", t.dossiers, parts.join(", "))];
        let mut problems = Vec::new();
        if t.errors > 0 {
            problems.push(format!("{} en erreur au dernier traitement", t.errors));
        }
        if t.interrupted > 0 {
            problems.push(format!("{} sauvegarde(s) interrompue(s)", t.interrupted));
        }
        if t.archive_missing > 0 {
            problems.push(format!("{} archive(s) absente(s)", t.archive_missing));
        }
        if t.restore_leftovers > 0 {
            problems.push(format!(
                "{} reste(s) de remontée à supprimer",
                t.restore_leftovers
            ));
        }
        if t.archive_altered > 0 {
            problems.push(format!(
                "{} archive(s) modifiée(s) ou tronquée(s)",
                t.archive_altered
            ));
        }
        if !problems.is_empty() {
            out.push(format!("Problèmes : {}", problems.join(", ")));
        }
        if t.deleted > 0 {
            out.push(format!(
                "{} dossier(s) supprimé(s) de la base, sauvegarde conservée",
                t.deleted
            ));
        }
        out.push(if self.all_backed_up {
            "Tout est sauvegardé.".into()
        } else if self.nothing_to_watch {
            format!(
                "Rien à surveiller ; {} dossier(s) modifié(s) depuis leur dernière sauvegarde, que le prochain traitement sauvegardera.",
                t.modified
            )
        } else if self.base_attention.is_empty() {
            format!("À surveiller : {} dossier(s).", t.attention)
        } else if t.attention == 0 {
            "À surveiller : la base (voir « Attention » plus haut).".into()
        } else {
            format!(
                "À surveiller : la base (voir « Attention » plus haut) et {} dossier(s).",
                t.attention
            )
        });
        out
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Original => "original",
        Status::Copie => "copie",
    }
}

fn type_word(d: &DossierStatus) -> String {
    let kind = match d.kind {
        None => return "?".into(),
        Some(Kind::Normal) => "normal",
        Some(Kind::Etalon) => "étalon",
        Some(Kind::Test) => "test",
    };
    match (d.kind, d.transferable) {
        (Some(Kind::Normal), Some(false)) => "non transférable".into(),
        (_, Some(false)) => format!("{kind}, non transférable"),
        _ => kind.into(),
    }
}

fn archive_cell(archive: Option<&str>, present: Option<bool>) -> String {
    match (archive, present) {
        (None, _) => "—".into(),
        (Some(a), Some(false)) => format!("{a} (ABSENTE)"),
        (Some(a), _) => a.into(),
    }
}

/// Aligned columns, two spaces apart, padded by display width (names have
/// accents, which take one column, and may hold wide or combining
/// characters, which take two or none); the last column is not padded.
fn table(rows: &[Vec<String>]) -> Vec<String> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.width())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                if c > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if c + 1 < r.len() {
                    let pad = widths[c] - cell.width();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_by_display_width() {
        let rows = vec![
            vec!["NOM".to_owned(), "X".to_owned()],
            vec!["Études".to_owned(), "Y".to_owned()],
            // `e` + U+0301 COMBINING ACUTE ACCENT: one column, two chars.
            vec!["E\u{301}tudes".to_owned(), "Z".to_owned()],
            // Two wide (CJK) characters: four columns.
            vec!["会計".to_owned(), "W".to_owned()],
        ];
        assert_eq!(
            table(&rows),
            ["NOM     X", "Études  Y", "E\u{301}tudes  Z", "会計    W"]
        );
    }

    #[test]
    fn stale_words_say_the_days() {
        assert_eq!(stale_one(0), "modifié et non sauvegardé");
        assert_eq!(
            stale_one(1),
            "modifié et non sauvegardé depuis plus d'un jour"
        );
        assert_eq!(
            stale_many(7),
            "modifié(s) et non sauvegardé(s) depuis plus de 7 jours"
        );
    }
}
