//! The Prometheus textfile (DESIGN §11, `[monitoring] textfile`): the
//! metrics of the last run and of every dossier, in the text exposition
//! format (<https://prometheus.io/docs/instrumenting/exposition_formats/>)
//! that node_exporter's textfile collector reads from a `*.prom` file.
//!
//! The file is rewritten whole: written to `<file>.tmp` (a name the
//! collector does not read), flushed, then renamed over the file — the
//! collector never reads half a file (node_exporter's documentation asks
//! for exactly this).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};

use crate::catalog::{DossierState, OffsiteVersion};
use crate::offsite::location::{stamp, stamp_time};
use crate::state::LastResult;

/// The last run, as the metrics say it.
#[derive(Debug, Clone)]
pub struct LastRun {
    /// When it ended.
    pub finished: DateTime<Local>,
    /// Its exit code.
    pub exit_code: i32,
    /// How long it took, in seconds.
    pub duration_s: f64,
    /// Dossiers saved, in error, deferred by that run.
    pub saved: usize,
    pub errors: usize,
    pub deferred: usize,
    /// Bytes read from the dossiers and written into archives (known
    /// after a run, not from the catalog: `None` for `status --textfile`).
    pub bytes: Option<(u64, u64)>,
}

/// Everything the file says.
#[derive(Debug)]
pub struct Metrics<'a> {
    /// The last run, if one ended.
    pub last_run: Option<LastRun>,
    /// The catalog's state of every dossier.
    pub states: &'a HashMap<String, DossierState>,
    /// The versions off-site, when off-site copies are on.
    pub offsite: Option<&'a [OffsiteVersion]>,
}

/// A label value escaped as the exposition format wants (`\`, `"`, line
/// feed).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn head(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// The file's text.
pub fn render(m: &Metrics<'_>) -> String {
    let mut out = String::new();
    if let Some(r) = &m.last_run {
        head(
            &mut out,
            "svgauto_last_run_timestamp_seconds",
            "End of the last run (Unix time).",
        );
        let _ = writeln!(
            out,
            "svgauto_last_run_timestamp_seconds {}",
            r.finished.timestamp()
        );
        head(
            &mut out,
            "svgauto_last_run_exit_code",
            "Exit code of the last run (0 ok, 1 dossiers in error, 2 run impossible).",
        );
        let _ = writeln!(out, "svgauto_last_run_exit_code {}", r.exit_code);
        head(
            &mut out,
            "svgauto_last_run_duration_seconds",
            "Duration of the last run.",
        );
        let _ = writeln!(out, "svgauto_last_run_duration_seconds {:.3}", r.duration_s);
        head(
            &mut out,
            "svgauto_last_run_dossiers",
            "Dossiers of the last run, by outcome.",
        );
        for (outcome, n) in [
            ("saved", r.saved),
            ("error", r.errors),
            ("deferred", r.deferred),
        ] {
            let _ = writeln!(
                out,
                "svgauto_last_run_dossiers{{outcome=\"{outcome}\"}} {n}"
            );
        }
        if let Some((read, written)) = r.bytes {
            head(
                &mut out,
                "svgauto_last_run_read_bytes",
                "Bytes read from the dossiers by the last run.",
            );
            let _ = writeln!(out, "svgauto_last_run_read_bytes {read}");
            head(
                &mut out,
                "svgauto_last_run_written_bytes",
                "Bytes of the archives the last run wrote.",
            );
            let _ = writeln!(out, "svgauto_last_run_written_bytes {written}");
        }
    }

    let mut codes: Vec<&String> = m.states.keys().collect();
    codes.sort();
    head(
        &mut out,
        "svgauto_dossiers",
        "Dossiers known to the catalog, by the result of their last backup attempt.",
    );
    for (state, want) in [
        ("ok", Some(LastResult::Ok)),
        ("error", Some(LastResult::Error)),
        ("deferred", Some(LastResult::Deferred)),
        ("never", None),
    ] {
        let n = m.states.values().filter(|s| s.last_result == want).count();
        let _ = writeln!(out, "svgauto_dossiers{{state=\"{state}\"}} {n}");
    }
    head(
        &mut out,
        "svgauto_dossier_last_backup_timestamp_seconds",
        "Time of the dossier's last successful backup (Unix time).",
    );
    for code in &codes {
        if let Some(t) = m.states[*code].last_backup_at {
            let _ = writeln!(
                out,
                "svgauto_dossier_last_backup_timestamp_seconds{{code=\"{}\"}} {}",
                label(code),
                t.timestamp()
            );
        }
    }
    if let Some(versions) = m.offsite {
        head(
            &mut out,
            "svgauto_dossier_offsite_lag_seconds",
            "How far the newest off-site version is behind the last local backup (0: up to date).",
        );
        for code in &codes {
            let Some(local) = m.states[*code].last_backup_at else {
                continue;
            };
            let newest = versions
                .iter()
                .filter(|v| &&v.code == code)
                .filter_map(|v| stamp_time(&v.stamp))
                .max();
            let lag = if versions
                .iter()
                .any(|v| &&v.code == code && v.stamp == stamp(&local))
            {
                0
            } else {
                match newest {
                    Some(t) => (local.timestamp() - t.timestamp()).max(0),
                    // Never off-site: behind by the whole age of the backup.
                    None => (Local::now().timestamp() - local.timestamp()).max(0),
                }
            };
            let _ = writeln!(
                out,
                "svgauto_dossier_offsite_lag_seconds{{code=\"{}\"}} {lag}",
                label(code)
            );
        }
    }
    out
}

/// Rewrites `path` with `text`, atomically (see the module). Errors: the
/// French warning naming the file.
pub fn write(path: &Path, text: &str) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| -> io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        crate::sys::replace::replace(&tmp, path).map_err(|e| match e {
            crate::sys::replace::ReplaceError::Io(e) => e,
            crate::sys::replace::ReplaceError::Held(_) => {
                io::Error::other("tenu ouvert par un autre programme")
            }
        })
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!(
            "fichier de métriques {} non écrit : {e} (monitoring.textfile)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_every_state_is_there() {
        let mut states = HashMap::new();
        states.insert(
            "A\"B".to_owned(),
            DossierState {
                last_backup_at: Some(
                    DateTime::parse_from_rfc3339("2026-11-30T21:00:00+01:00").unwrap(),
                ),
                last_result: Some(LastResult::Ok),
                ..Default::default()
            },
        );
        let text = render(&Metrics {
            last_run: None,
            states: &states,
            offsite: None,
        });
        assert!(
            text.contains(
                "svgauto_dossier_last_backup_timestamp_seconds{code=\"A\\\"B\"} 1796068800"
            ),
            "{text}"
        );
        for s in ["ok\"} 1", "error\"} 0", "deferred\"} 0", "never\"} 0"] {
            assert!(text.contains(s), "{s}\n{text}");
        }
    }
}
