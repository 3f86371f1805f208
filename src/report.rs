//! The run's report (DESIGN.md §7): `svgauto-YYYYMMDD-HHMMSS.txt` in
//! `<backup.dir>/log/`, one line per dossier concerned written and flushed as
//! each finishes, the summary lines at the end; its JSON twin, which lists
//! every dossier considered with its outcome or the reason it was not
//! concerned; and `Svgauto-DossiersEnErreur.isa`, the codes in error.
//!
//! The text is UTF-8 without BOM with the platform's line endings, and the
//! sentences are the original product's. The report file is created before
//! any dossier is touched: a run that cannot write its report does not start.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};
use serde::Serialize;

use crate::clock::rfc3339;
use crate::state::Outcome;

pub const EOL: &str = if cfg!(windows) { "\r\n" } else { "\n" };
pub const ERROR_LIST: &str = "Svgauto-DossiersEnErreur.isa";
/// The version of the JSON outputs' schemas (`schemas/` : the run's JSON
/// twin, `status --json`, `run --dry-run --json`), written as
/// `schema_version` at their top level. It changes when a field is removed
/// or changes meaning; adding a field does not change it.
pub const SCHEMA_VERSION: u32 = 1;
pub const IN_USE: &str = "Les données concernées sont utilisées par un utilisateur. Ce ou ces utilisateurs doivent fermer les fenêtres ouvertes.";

/// `text` on one line: a file name holding a line break (legal on Linux)
/// must not split a dossier's line or forge another one in the report, so
/// control characters and Unicode line separators are written as escapes
/// (`\n`, `\r`, `\t`, `\u{85}`); a backslash stays as it is.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !text.contains(bad) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if bad(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.into()
}

/// One dossier in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct DossierLine {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The text report's line, for dossiers that have one. Its key is
    /// `report_line`: an error's outcome has a `message` of its own (what
    /// went wrong), which a flattened `message` here wrote twice.
    #[serde(rename = "report_line", skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When its save ended, for dossiers saved or tried.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339::option"
    )]
    pub finished_at: Option<DateTime<Local>>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub concerned: usize,
    pub saved: usize,
    pub errors: usize,
    pub deferred: usize,
}

impl Summary {
    pub fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Saved { .. } => self.saved += 1,
            Outcome::Error { .. } => self.errors += 1,
            Outcome::Deferred { .. } => self.deferred += 1,
            Outcome::Unchanged | Outcome::Excluded { .. } => return,
        }
        self.concerned += 1;
    }

    /// The closing lines of the text report.
    pub fn lines(&self) -> Vec<String> {
        let mut v = vec![
            format!("{} / {} dossier(s) traité(s)", self.saved, self.concerned),
            format!(
                "{} / {} dossier(s) en erreur(s)",
                self.errors, self.concerned
            ),
        ];
        if self.deferred > 0 {
            v.push(format!("{} dossier(s) reporté(s)", self.deferred));
        }
        v
    }
}

/// The JSON twin.
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    pub format: u32,
    /// [`SCHEMA_VERSION`]: `schemas/run-report.schema.json`.
    pub schema_version: u32,
    pub generator: String,
    pub base: String,
    pub user: &'a str,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub started_at: DateTime<Local>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub finished_at: DateTime<Local>,
    pub report: String,
    pub interrupted: bool,
    /// `--max-duration` was reached: what was not started is deferred.
    pub max_duration_reached: bool,
    pub exit_code: i32,
    pub summary: Summary,
    /// The mail on error: one entry per recipient, with the error if it
    /// could not be sent; absent when no mail was due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<&'a [crate::notify::Sent]>,
    /// What went wrong besides the dossiers (a catalog rebuilt, a mail not
    /// sent), as printed on stderr.
    pub warnings: &'a [String],
    pub dossiers: &'a [DossierLine],
    /// The off-site push at the end of the run (`offsite::PushReport`):
    /// absent when off-site copies are off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offsite: Option<serde_json::Value>,
}

/// The report files of one run.
#[derive(Debug)]
pub struct Report {
    txt: File,
    /// Bytes of whole lines in `txt`.
    written: u64,
    /// Lines that could not be written yet (see [`Report::line`]).
    pending: VecDeque<String>,
    pub txt_path: PathBuf,
    pub json_path: PathBuf,
    pub errors_path: PathBuf,
}

impl Report {
    /// Creates `<log_dir>/svgauto-YYYYMMDD-HHMMSS.txt`, never overwriting a
    /// report: if the name is taken (two runs in the same second), `-2`,
    /// `-3`… is added before the extension.
    pub fn create(log_dir: &Path, started: DateTime<Local>) -> io::Result<Report> {
        crate::sys::owner_only::create_dir_all(log_dir)?;
        let stem = format!("svgauto-{}", started.format("%Y%m%d-%H%M%S"));
        let mut n = 1;
        loop {
            let name = if n == 1 {
                stem.clone()
            } else {
                format!("{stem}-{n}")
            };
            let txt_path = log_dir.join(format!("{name}.txt"));
            match crate::sys::owner_only::create_new(&txt_path) {
                Ok(txt) => {
                    return Ok(Report {
                        txt,
                        written: 0,
                        pending: VecDeque::new(),
                        json_path: log_dir.join(format!("{name}.json")),
                        errors_path: log_dir.join(ERROR_LIST),
                        txt_path,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends one line and hands it to the OS at once, so a report read
    /// during the run (or after a crash) shows every dossier finished.
    ///
    /// A line that cannot be written is cut back out of the file (no half
    /// line is left) and kept; it is written before the next one, or by
    /// [`Report::finish_text`], whose failure alone ends the run with exit 2.
    /// The report usually shares its disk with the archives: a disk full
    /// only while another dossier's `.partial` fills it (that dossier then
    /// fails and its `.partial` goes) must not lose the run's report.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        self.pending.push_back(format!("{}{EOL}", one_line(text)));
        self.write_pending()
    }

    fn write_pending(&mut self) -> io::Result<()> {
        while let Some(l) = self.pending.front() {
            if let Err(e) = self.txt.write_all(l.as_bytes()) {
                let _ = self.txt.set_len(self.written);
                let _ = self.txt.seek(SeekFrom::Start(self.written));
                return Err(e);
            }
            self.written += l.len() as u64;
            self.pending.pop_front();
        }
        self.txt.flush()
    }

    /// Writes the summary lines and the error list, and flushes both: after
    /// this the report can be mailed.
    pub fn finish_text(&mut self, summary: &Summary, in_error: &[&str]) -> io::Result<()> {
        for l in summary.lines() {
            self.pending.push_back(format!("{l}{EOL}"));
        }
        self.write_pending()?;
        self.txt.sync_all()?;
        let list: String = in_error.iter().map(|c| format!("{c}{EOL}")).collect();
        write_synced(&self.errors_path, list.as_bytes())
    }

    /// Writes the JSON twin (last: it also says what became of the mail).
    pub fn write_json(&self, json: &RunReport<'_>) -> io::Result<()> {
        let mut j = serde_json::to_vec_pretty(json).map_err(io::Error::other)?;
        j.push(b'\n');
        write_synced(&self.json_path, &j)
    }
}

/// Writes `path` whole (a new file, owner-only: it names clients) and
/// flushes it.
fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = crate::sys::owner_only::replace(path)?;
    f.write_all(data)?;
    f.sync_all()
}

pub fn dossier_line(code: &str, text: &str) -> String {
    format!("Dossier {code} : {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Exclusion, SaveReason};

    #[test]
    fn a_line_break_in_a_name_stays_on_one_line() {
        assert_eq!(one_line("simple é"), "simple é");
        assert_eq!(
            one_line("a\nDossier X : Traitement réussi\r\t\u{85}\u{2028}"),
            "a\\nDossier X : Traitement réussi\\r\\t\\u{85}\\u{2028}"
        );
    }
    use chrono::TimeZone;

    #[test]
    fn two_runs_in_the_same_second_get_two_reports() {
        let d = tempfile::tempdir().unwrap();
        let t = Local.with_ymd_and_hms(2026, 11, 28, 21, 0, 0).unwrap();
        let a = Report::create(d.path(), t).unwrap();
        let b = Report::create(d.path(), t).unwrap();
        assert!(a.txt_path.ends_with("svgauto-20261128-210000.txt"));
        assert!(b.txt_path.ends_with("svgauto-20261128-210000-2.txt"));
        assert!(b.json_path.ends_with("svgauto-20261128-210000-2.json"));
    }

    #[test]
    fn summary_counts_only_concerned_dossiers() {
        let mut s = Summary::default();
        s.add(&Outcome::Unchanged);
        s.add(&Outcome::Excluded {
            reason: Exclusion::Etalon,
        });
        s.add(&Outcome::Error {
            why: None,
            message: "x".into(),
        });
        s.add(&Outcome::Saved {
            why: SaveReason::New,
            archive: String::new(),
            bytes_in: 0,
            bytes_out: 0,
            files: 0,
            fingerprint: String::new(),
            skipped: vec![],
            links: vec![],
        });
        assert_eq!(
            s.lines(),
            [
                "1 / 2 dossier(s) traité(s)",
                "1 / 2 dossier(s) en erreur(s)"
            ]
        );
    }

    /// The JSON twin's line of a saved dossier: its time as RFC 3339 text
    /// with its offset, what was left out as `rel (why)` strings.
    #[test]
    fn a_saved_line_in_json_keeps_its_time_and_left_out_as_text() {
        let t = Local.with_ymd_and_hms(2026, 11, 28, 21, 0, 5).unwrap();
        let outcome = Outcome::Saved {
            why: SaveReason::New,
            archive: "sauve/BA.SVG".into(),
            bytes_in: 3,
            bytes_out: 2,
            files: 1,
            fingerprint: "2:f".into(),
            skipped: vec![crate::state::LeftOut {
                rel: "tube".into(),
                why: "fichier spécial",
            }],
            links: vec![],
        };
        let line = DossierLine {
            code: "A".into(),
            name: None,
            message: outcome.text(),
            outcome,
            finished_at: Some(t),
        };
        assert_eq!(
            serde_json::to_string(&line).unwrap(),
            format!(
                r#"{{"code":"A","outcome":"saved","why":"new","archive":"sauve/BA.SVG","bytes_in":3,"bytes_out":2,"files":1,"fingerprint":"2:f","skipped":["tube (fichier spécial)"],"report_line":"Traitement réussi (1 élément(s) non sauvegardé(s) : tube (fichier spécial))","finished_at":"{}"}}"#,
                t.to_rfc3339()
            )
        );
    }

    #[test]
    fn lines_read_as_the_original() {
        let o = Outcome::Error {
            why: Some(SaveReason::Modified),
            message: IN_USE.into(),
        };
        assert_eq!(
            dossier_line("PRESSE", &o.text().unwrap()),
            "Dossier PRESSE : Echec du traitement. Les données concernées sont utilisées par un utilisateur. Ce ou ces utilisateurs doivent fermer les fenêtres ouvertes."
        );
        assert_eq!(Outcome::Unchanged.text(), None);
    }
}
