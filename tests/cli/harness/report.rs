//! What a run reports: the exact lines of DESIGN.md §7, the text reports of
//! `sauve/log/` taken in the order the runs wrote them, the text report
//! ([`Report`]) and its JSON twin ([`Json`]) with their assertions, and a
//! line diff for their failure messages.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::fs;
use std::path::PathBuf;

use super::{Base, list_dir};

/// The exact report lines of DESIGN.md §7.
pub const SAVED: &str = "Traitement réussi";
pub const IN_USE: &str = "Echec du traitement. Les données concernées sont utilisées par un utilisateur. Ce ou ces utilisateurs doivent fermer les fenêtres ouvertes.";

pub fn saved_line(code: &str) -> String {
    format!("Dossier {code} : {SAVED}")
}

pub fn in_use_line(code: &str) -> String {
    format!("Dossier {code} : {IN_USE}")
}

pub fn no_rights_line(code: &str, user: &str) -> String {
    format!(
        "Dossier {code} : Echec du traitement. Le collaborateur {user} n'a pas les droits sur ce dossier."
    )
}

impl Base {
    /// The text reports in `sauve/log/`, oldest first: in the order the
    /// runs wrote them, never in the order of the times in their names.
    /// A name holds svgauto's clock, which a test may pin (`SVGAUTO_NOW`)
    /// for one run and not for the next: sorted by name, the "newest"
    /// report would then depend on the day the suite runs. The harness
    /// notes the reports present before it starts each command, so each
    /// report is placed after those of the commands before it; only the
    /// reports of commands the harness did not start in between (runs in
    /// the background, started together) are placed among themselves by
    /// name.
    pub fn reports(&self) -> Vec<PathBuf> {
        self.note_new_reports();
        self.seen_reports.borrow().clone()
    }

    /// Adds the reports of `sauve/log/` not seen yet to
    /// [`Base::reports`]' order, by name among themselves (a report
    /// removed is forgotten: one made again under its name is new).
    pub(super) fn note_new_reports(&self) {
        let mut seen = self.seen_reports.borrow_mut();
        seen.retain(|p| p.is_file());
        let mut new: Vec<((String, u32), PathBuf)> = fs::read_dir(self.log_dir())
            .map(|rd| {
                rd.filter_map(|e| {
                    let p = e.ok()?.path();
                    let name = p.file_name()?.to_str()?.to_owned();
                    let stem = name.strip_prefix("svgauto-")?.strip_suffix(".txt")?;
                    // svgauto-YYYYMMDD-HHMMSS[-N].txt
                    let (stamp, n) = match stem.get(15..) {
                        Some(rest) if !rest.is_empty() => (
                            stem[..15].to_owned(),
                            rest.trim_start_matches('-').parse().ok()?,
                        ),
                        _ => (stem.to_owned(), 1),
                    };
                    Some(((stamp, n), p))
                })
                .filter(|(_, p)| !seen.contains(p))
                .collect()
            })
            .unwrap_or_default();
        new.sort();
        seen.extend(new.into_iter().map(|(_, p)| p));
    }

    /// The newest text report: the latest run's (see [`Base::reports`]).
    pub fn report(&self) -> Report {
        let p = self.reports().pop().unwrap_or_else(|| {
            panic!(
                "no report svgauto-*.txt in {}: {:?}",
                self.log_dir().display(),
                list_dir(&self.log_dir())
            )
        });
        let bytes = fs::read(&p).unwrap();
        assert!(
            !bytes.starts_with(b"\xEF\xBB\xBF"),
            "{}: the report must not start with a BOM",
            p.display()
        );
        let text =
            String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: not UTF-8: {e}", p.display()));
        Report { path: p, text }
    }

    /// The JSON twin of the newest text report.
    pub fn report_json(&self) -> Json {
        let txt = self.report().path;
        let p = txt.with_extension("json");
        let text = fs::read_to_string(&p).unwrap_or_else(|e| {
            panic!("{}: {e} (the JSON twin of {})", p.display(), txt.display())
        });
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}\n{text}", p.display()));
        Json { path: p, value }
    }

    /// The codes of `Svgauto-DossiersEnErreur.isa`, one a line.
    pub fn errors_isa(&self) -> Vec<String> {
        let p = self.log_dir().join("Svgauto-DossiersEnErreur.isa");
        let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

pub struct Report {
    pub path: PathBuf,
    pub text: String,
}

impl Report {
    pub fn lines(&self) -> Vec<&str> {
        self.text
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .collect()
    }

    /// The `Dossier X : …` lines, in order.
    pub fn dossier_lines(&self) -> Vec<&str> {
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with("Dossier "))
            .collect()
    }

    /// The codes of the `Dossier X : …` lines, in order.
    pub fn codes(&self) -> Vec<String> {
        self.dossier_lines()
            .iter()
            .map(|l| {
                l["Dossier ".len()..]
                    .split(" : ")
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    /// The line of dossier `code`; panics with the report if there is not
    /// exactly one.
    #[track_caller]
    pub fn line(&self, code: &str) -> &str {
        let prefix = format!("Dossier {code} : ");
        let found: Vec<&str> = self
            .dossier_lines()
            .into_iter()
            .filter(|l| l.starts_with(&prefix))
            .collect();
        assert!(
            found.len() == 1,
            "expected one line for dossier {code}, found {}\n{self}",
            found.len()
        );
        found[0]
    }

    #[track_caller]
    pub fn assert_line(&self, code: &str, expected: &str) {
        let got = self.line(code);
        assert!(
            got == expected,
            "line of dossier {code}:\n  expected: {expected}\n       got: {got}\n{self}"
        );
    }

    /// Asserts the dossier lines are exactly `expected`, in any order.
    #[track_caller]
    pub fn assert_lines_unordered(&self, expected: &[String]) {
        let mut got: Vec<&str> = self.dossier_lines();
        got.sort_unstable();
        let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
        want.sort_unstable();
        if got != want {
            panic!("dossier lines differ:\n{}\n{self}", line_diff(&want, &got));
        }
    }

    /// Asserts the two summary lines of §7.
    #[track_caller]
    pub fn assert_summary(&self, saved: usize, errors: usize, concerned: usize) {
        let want = [
            format!("{saved} / {concerned} dossier(s) traité(s)"),
            format!("{errors} / {concerned} dossier(s) en erreur(s)"),
        ];
        // The two lines of §7; a line "N dossier(s) reporté(s)" may follow.
        let lines = self.lines();
        let mut tail: Vec<&str> = lines
            .iter()
            .rev()
            .filter(|l| !l.trim().is_empty() && !l.ends_with(" dossier(s) reporté(s)"))
            .take(2)
            .copied()
            .collect();
        tail.reverse();
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        assert!(
            tail == want,
            "summary lines:\n{}\n{self}",
            line_diff(&want, &tail)
        );
    }

    /// Asserts the report has no dossier line.
    #[track_caller]
    pub fn assert_no_dossier_lines(&self) {
        assert!(
            self.dossier_lines().is_empty(),
            "expected no dossier line\n{self}"
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--- report {} ---\n{}--- end of report ---",
            self.path.display(),
            self.text
        )
    }
}

pub struct Json {
    pub path: PathBuf,
    pub value: serde_json::Value,
}

impl Json {
    /// code → outcome (`saved`, `error`, `unchanged`, `excluded`).
    pub fn outcomes(&self) -> BTreeMap<String, String> {
        self.value["dossiers"]
            .as_array()
            .unwrap_or_else(|| {
                panic!(
                    "{}: no `dossiers` array\n{:#}",
                    self.path.display(),
                    self.value
                )
            })
            .iter()
            .map(|d| {
                (
                    d["code"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no code in {d}"))
                        .to_owned(),
                    d["outcome"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no outcome in {d}"))
                        .to_owned(),
                )
            })
            .collect()
    }

    /// Asserts the outcome of every listed dossier (others may be listed too).
    #[track_caller]
    pub fn assert_outcomes(&self, expected: &[(&str, &str)]) {
        let got = self.outcomes();
        let mut bad = String::new();
        for (code, outcome) in expected {
            match got.get(*code) {
                Some(o) if o == outcome => {}
                other => {
                    let _ = writeln!(bad, "  {code}: expected {outcome:?}, got {other:?}");
                }
            }
        }
        assert!(
            bad.is_empty(),
            "{}: outcomes differ:\n{bad}{:#}",
            self.path.display(),
            self.value
        );
    }

    /// The entry of one dossier.
    #[track_caller]
    pub fn dossier(&self, code: &str) -> &serde_json::Value {
        self.value["dossiers"]
            .as_array()
            .and_then(|a| a.iter().find(|d| d["code"] == code))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no entry for {code}\n{:#}",
                    self.path.display(),
                    self.value
                )
            })
    }

    /// Asserts each of `codes` is `excluded` with a non-empty `reason`.
    #[track_caller]
    pub fn assert_excluded_with_reason(&self, codes: &[&str]) {
        for code in codes {
            let d = self.dossier(code);
            assert!(
                d["outcome"] == "excluded" && d["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{}: {code} should be excluded with a reason, got {d}",
                self.path.display()
            );
        }
    }

    #[track_caller]
    pub fn assert_summary(&self, saved: u64, errors: u64, concerned: u64) {
        let s = &self.value["summary"];
        let got = (
            s["saved"].as_u64(),
            s["errors"].as_u64(),
            s["concerned"].as_u64(),
        );
        assert!(
            got == (Some(saved), Some(errors), Some(concerned)),
            "{}: summary (saved, errors, concerned) expected {:?}, got {got:?}\n{:#}",
            self.path.display(),
            (saved, errors, concerned),
            self.value
        );
    }
}

/// A diff of two lists of lines: `-` expected only, `+` got only.
pub fn line_diff(want: &[&str], got: &[&str]) -> String {
    let mut s = String::new();
    let max = want.len().max(got.len());
    for i in 0..max {
        match (want.get(i), got.get(i)) {
            (Some(w), Some(g)) if w == g => {
                let _ = writeln!(s, "    {w}");
            }
            (w, g) => {
                if let Some(w) = w {
                    let _ = writeln!(s, "  - {w}");
                }
                if let Some(g) = g {
                    let _ = writeln!(s, "  + {g}");
                }
            }
        }
    }
    s
}
