//! `status --mail-if-attention` (DESIGN §11, issue 16 point 4): a dead
//! man's switch by mail. Run daily by a task of its own, independent of
//! the run's, it mails the report's recipients when something needs
//! attention — including the run itself no longer running, which the
//! run's own mail can never say.

use chrono::{DateTime, Duration, Local};

use super::StatusReport;
use crate::catalog::EndedRun;

/// After this long without a run that ended, the nightly run is taken for
/// stopped: a day and a half, so that one night's run finishing late is
/// not an alarm.
pub const RUN_SILENCE: Duration = Duration::hours(36);

/// What needs attention, one French phrase each (empty: nothing); `last`
/// is the last run that ended, per the catalog.
pub fn reasons(
    report: &StatusReport,
    last: Option<&EndedRun>,
    now: DateTime<Local>,
) -> Vec<String> {
    let mut out = Vec::new();
    match last {
        None => out.push("aucun traitement n'a jamais abouti sur cette base".to_owned()),
        Some(r) if now.fixed_offset() - r.finished_at > RUN_SILENCE => out.push(format!(
            "aucun traitement terminé depuis le {}",
            r.finished_at
                .with_timezone(&Local)
                .format("%d/%m/%Y à %H:%M")
        )),
        Some(r) if r.exit_code != 0 => out.push(format!(
            "le dernier traitement ({}) s'est terminé en erreur (code {})",
            r.finished_at
                .with_timezone(&Local)
                .format("%d/%m/%Y à %H:%M"),
            r.exit_code
        )),
        Some(_) => {}
    }
    out.extend(report.base_attention.iter().map(|p| p.message.clone()));
    let t = &report.totals;
    for (n, what) in [
        (t.errors, "dossier(s) en erreur au dernier traitement"),
        (
            t.stale,
            "dossier(s) modifié(s) et non sauvegardé(s) depuis plus longtemps que prévu",
        ),
        (t.archive_missing, "archive(s) manquante(s)"),
        (
            t.archive_altered,
            "archive(s) modifiée(s) depuis leur écriture",
        ),
        (t.interrupted, "dossier(s) interrompu(s)"),
    ] {
        if n > 0 {
            out.push(format!("{n} {what}"));
        }
    }
    if out.is_empty() && !report.nothing_to_watch {
        out.push(format!("{} dossier(s) à surveiller", t.attention));
    }
    out
}

/// The mail's subject: what needs attention, in one line.
pub fn subject(base: &str, reasons: &[String]) -> String {
    let first = reasons.first().map(String::as_str).unwrap_or("");
    let more = if reasons.len() > 1 {
        format!(" (et {} autre(s) point(s))", reasons.len() - 1)
    } else {
        String::new()
    };
    format!("svgauto : sauvegardes de {base} à surveiller — {first}{more}")
}
