//! `status --html FILE` (DESIGN §11, issue 16 point 3): the status as one
//! self-contained HTML page — no script, no external file, no network
//! access: it opens from a mail attachment or a share, on a phone too.
//! At the top the verdict in one line; then the dossiers needing attention
//! with why; the history of the last runs as charts (duration, bytes
//! written, dossiers in error); then every dossier with its archive's size
//! over the runs.
//!
//! The history is read from the runs' JSON twins in `<backup dir>/log/`
//! (the catalog keeps no bytes per run): as many runs as those files
//! hold, the last [`RUNS`]. The charts are SVG drawn here, inline: a few
//! rectangles and a polyline do not need a plotting crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, FixedOffset, Local};

use super::StatusReport;

/// How many runs the charts show at most.
pub const RUNS: usize = 30;

/// One run of the history.
#[derive(Debug, Clone)]
pub struct RunPoint {
    pub started: DateTime<FixedOffset>,
    pub duration_s: f64,
    /// Bytes of the archives it wrote.
    pub written: u64,
    pub errors: u64,
    /// Archive size of each dossier it saved.
    pub sizes: BTreeMap<String, u64>,
}

/// The last [`RUNS`] runs whose JSON twin is in `log_dir`, oldest first
/// (files that do not read as a run's report are passed over).
pub fn read_history(log_dir: &Path) -> Vec<RunPoint> {
    let Ok(entries) = std::fs::read_dir(log_dir) else {
        return Vec::new();
    };
    let mut runs: Vec<RunPoint> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
            let time = |k: &str| DateTime::parse_from_rfc3339(v[k].as_str()?).ok();
            let (started, finished) = (time("started_at")?, time("finished_at")?);
            let mut sizes = BTreeMap::new();
            for d in v["dossiers"].as_array()? {
                if d["outcome"] == "saved"
                    && let (Some(code), Some(bytes)) = (d["code"].as_str(), d["bytes_out"].as_u64())
                {
                    sizes.insert(code.to_owned(), bytes);
                }
            }
            Some(RunPoint {
                started,
                duration_s: (finished - started).num_milliseconds().max(0) as f64 / 1000.0,
                written: sizes.values().sum(),
                errors: v["summary"]["errors"].as_u64().unwrap_or(0),
                sizes,
            })
        })
        .collect();
    runs.sort_by_key(|r| r.started);
    let skip = runs.len().saturating_sub(RUNS);
    runs.split_off(skip)
}

/// Text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Bytes as people read them (French decimal comma).
fn size(b: u64) -> String {
    let (v, unit) = match b {
        b if b >= 1 << 30 => (b as f64 / (1u64 << 30) as f64, "Gio"),
        b if b >= 1 << 20 => (b as f64 / (1u64 << 20) as f64, "Mio"),
        b if b >= 1 << 10 => (b as f64 / 1024.0, "Kio"),
        b => return format!("{b} o"),
    };
    format!("{v:.1} {unit}").replace('.', ",")
}

/// A bar chart of `values` (one bar a run), with its title, the largest
/// value as the scale and the first and last dates under it.
fn bars(
    title: &str,
    runs: &[RunPoint],
    value: impl Fn(&RunPoint) -> f64,
    label: impl Fn(f64) -> String,
    color: &str,
) -> String {
    let (w, h, pad) = (320.0, 120.0, 18.0);
    let max = runs.iter().map(&value).fold(0.0, f64::max);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        h + 2.0 * pad,
        esc(title)
    );
    let n = runs.len().max(1) as f64;
    let slot = w / n;
    for (i, r) in runs.iter().enumerate() {
        let v = value(r);
        let bh = if max > 0.0 { (v / max) * h } else { 0.0 };
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{} : {}</title></rect>",
            i as f64 * slot + slot * 0.15,
            pad + h - bh,
            slot * 0.7,
            bh.max(if v > 0.0 { 1.0 } else { 0.0 }),
            r.started.with_timezone(&Local).format("%d/%m %H:%M"),
            esc(&label(v))
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"0\" y1=\"{0}\" x2=\"{w}\" y2=\"{0}\" stroke=\"#999\"/><text x=\"0\" y=\"12\" class=\"s\">max {1}</text>",
        pad + h,
        esc(&label(max))
    );
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{0}\" class=\"s\">{1}</text><text x=\"{w}\" y=\"{0}\" class=\"s\" text-anchor=\"end\">{2}</text>",
            h + 2.0 * pad - 2.0,
            first.started.with_timezone(&Local).format("%d/%m"),
            last.started.with_timezone(&Local).format("%d/%m")
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// A dossier's archive size over the runs that saved it, as a sparkline.
fn sparkline(points: &[u64]) -> String {
    if points.len() < 2 {
        return points.first().map(|b| size(*b)).unwrap_or_default();
    }
    let (w, h) = (90.0, 20.0);
    let max = *points.iter().max().unwrap_or(&1) as f64;
    let min = *points.iter().min().unwrap_or(&0) as f64;
    let span = (max - min).max(1.0);
    let step = w / (points.len() - 1) as f64;
    let coords: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - 2.0 - (*p as f64 - min) / span * (h - 4.0)
            )
        })
        .collect();
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\"><polyline fill=\"none\" stroke=\"#2563eb\" stroke-width=\"1.5\" points=\"{}\"/></svg> {}",
        coords.join(" "),
        size(*points.last().unwrap_or(&0))
    )
}

/// A result for the table: its first words, all of it on hover (the
/// whole reason is in the "À surveiller" list above).
fn result_cell(text: &str) -> String {
    let short: String = text.chars().take(48).collect();
    if short.len() == text.len() {
        esc(text)
    } else {
        format!(
            "<span title=\"{}\">{}…</span>",
            esc(text),
            esc(short.trim_end())
        )
    }
}

/// The page. `reasons`: what needs attention at the base's level
/// (`attention::reasons`).
pub fn render(report: &StatusReport, reasons: &[String], runs: &[RunPoint]) -> String {
    let now = report.now.format("%d/%m/%Y à %H:%M");
    let (class, verdict) = if reasons.is_empty() && report.nothing_to_watch {
        if report.all_backed_up {
            ("ok", "Tout est sauvegardé.".to_owned())
        } else {
            ("ok", "Rien à signaler : les dossiers modifiés seront sauvegardés au prochain traitement.".to_owned())
        }
    } else {
        let errors = report.totals.errors > 0 || reasons.iter().any(|r| r.contains("erreur"));
        (
            if errors { "bad" } else { "warn" },
            format!(
                "À surveiller : {}.",
                reasons
                    .first()
                    .cloned()
                    .unwrap_or_else(|| format!("{} dossier(s)", report.totals.attention))
            ),
        )
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Sauvegardes — {base}</title><style>\
body{{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;padding:1rem;color:#1f2937;background:#f9fafb;max-width:70rem}}\
h1{{font-size:1.2rem;margin:.2rem 0 .8rem}}h2{{font-size:1.05rem;margin:1.4rem 0 .5rem}}\
.verdict{{font-size:1.25rem;font-weight:600;padding:.8rem 1rem;border-radius:.5rem;margin-bottom:1rem}}\
.ok{{background:#dcfce7;color:#14532d}}.warn{{background:#fef3c7;color:#78350f}}.bad{{background:#fee2e2;color:#7f1d1d}}\
ul{{margin:.3rem 0;padding-left:1.3rem}}li{{margin:.2rem 0}}\
.charts{{display:flex;flex-wrap:wrap;gap:1rem}}figure{{margin:0;flex:1 1 18rem;background:#fff;border:1px solid #e5e7eb;border-radius:.5rem;padding:.5rem}}\
figcaption{{font-size:.9rem;font-weight:600;margin-bottom:.3rem}}svg{{width:100%;height:auto}}.s{{font-size:10px;fill:#6b7280}}\
.wrap{{overflow-x:auto}}table{{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}}\
th,td{{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e5e7eb;white-space:nowrap}}th{{background:#f3f4f6}}\
tr.att td:first-child{{border-left:4px solid #f59e0b}}svg.spark{{width:90px;vertical-align:middle}}\
footer{{margin-top:1.5rem;font-size:.8rem;color:#6b7280}}\
</style></head><body>\n<h1>Sauvegardes de la base {base}</h1>\n<div class=\"verdict {class}\">{verdict}</div>\n<p>État au {now}.</p>\n",
        base = esc(&report.base),
        verdict = esc(&verdict),
    );

    let attention: Vec<_> = report
        .dossiers
        .iter()
        .filter(|d| !d.attention.is_empty())
        .collect();
    if !reasons.is_empty() || !attention.is_empty() {
        h.push_str("<h2>À surveiller</h2>\n<ul>\n");
        for r in reasons {
            let _ = writeln!(h, "<li>{}</li>", esc(r));
        }
        for d in &attention {
            let _ = writeln!(
                h,
                "<li><strong>{}</strong> {} : {}</li>",
                esc(&d.code),
                esc(d.name.as_deref().unwrap_or("")),
                esc(&d.reasons(report.stale_days).join(" ; "))
            );
        }
        h.push_str("</ul>\n");
    }

    h.push_str("<h2>Les derniers traitements</h2>\n");
    if runs.is_empty() {
        h.push_str("<p>Aucun rapport de traitement dans le dossier des rapports.</p>\n");
    } else {
        h.push_str("<div class=\"charts\">");
        h.push_str(&bars(
            "Durée (secondes)",
            runs,
            |r| r.duration_s,
            |v| {
                if v < 10.0 {
                    format!("{v:.1} s").replace('.', ",")
                } else {
                    format!("{v:.0} s")
                }
            },
            "#2563eb",
        ));
        h.push_str(&bars(
            "Octets écrits",
            runs,
            |r| r.written as f64,
            |v| size(v as u64),
            "#059669",
        ));
        h.push_str(&bars(
            "Dossiers en erreur",
            runs,
            |r| r.errors as f64,
            |v| format!("{v:.0}"),
            "#dc2626",
        ));
        h.push_str("</div>\n");
    }

    h.push_str("<h2>Tous les dossiers</h2>\n<div class=\"wrap\"><table>\n<tr><th>Code</th><th>Nom</th><th>Dernière sauvegarde</th><th>Taille de l'archive</th><th>Modifié depuis</th><th>Résultat</th></tr>\n");
    let mut rows: Vec<_> = report.dossiers.iter().collect();
    rows.sort_by_key(|d| (d.attention.is_empty(), d.code.clone()));
    for d in rows {
        let sizes: Vec<u64> = runs
            .iter()
            .filter_map(|r| r.sizes.get(&d.code).copied())
            .collect();
        let _ = writeln!(
            h,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if d.attention.is_empty() {
                ""
            } else {
                " class=\"att\""
            },
            esc(&d.code),
            esc(d.name.as_deref().unwrap_or("—")),
            d.last_backup_at
                .map(|t| t.with_timezone(&Local).format("%d/%m/%Y %H:%M").to_string())
                .unwrap_or_else(|| "jamais".into()),
            sparkline(&sizes),
            match d.modified_since {
                Some(true) => "oui",
                Some(false) => "non",
                None => "—",
            },
            result_cell(&d.result_text())
        );
    }
    h.push_str("</table></div>\n");
    let _ = write!(
        h,
        "<footer>svgauto {} — page produite par <code>svgauto status --html</code>.</footer>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    h
}
