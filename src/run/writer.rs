//! The run's one writer: a thread that alone owns the catalog, the report
//! and the progress bar (one consumer owns the outputs, as ripgrep's
//! single printing thread does). The
//! dossier loops send it [`Msg`]s over a bounded channel; it puts the
//! archives staged among what is waiting in place as one group
//! (`commit.rs`), records the batch in one SQLite transaction
//! ([`Writer::record`]), then writes the report lines, so a line saying
//! "réussi" is written only once the archive is on disk and the catalog
//! knows it. At the end it hands its parts back ([`Recorded`]) for
//! the finish.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Local};
use crossbeam_channel::Receiver;

use crate::catalog::Catalog;
use crate::progress::Progress;
use crate::report::{self, DossierLine, Report, Summary};
use crate::scan::DossierScan;
use crate::state::Outcome;

use super::RunError;

/// The channel's bound, and the most messages recorded in one transaction.
pub(crate) const BATCH: usize = 256;

/// What the dossier loops tell the writer.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A dossier's save is under way (its in-progress marker).
    Started(String),
    /// Bytes read (the progress bar).
    Bytes(u64),
    /// A dossier's line: saved, in error, deferred, or decided without a save.
    Done(DossierLine),
    /// A dossier's archive written to its `.partial`, still locked: the
    /// writer commits it with the others of its batch, then records it
    /// (see `commit.rs`).
    Staged(Box<super::commit::StagedLine>),
}

/// The writer, owning the run's outputs while the dossiers are saved.
pub(crate) struct Writer {
    catalog: Catalog,
    report: Report,
    progress: Box<dyn Progress>,
    /// The run's id in the catalog.
    run: i64,
    lines: Vec<DossierLine>,
    summary: Summary,
    fatal: Option<RunError>,
}

/// What the writer hands back at the end.
pub(crate) struct Recorded {
    pub catalog: Catalog,
    pub report: Report,
    /// Every dossier's line, in the order they came.
    pub lines: Vec<DossierLine>,
    pub summary: Summary,
    /// The catalog could not be written (a full disk…): the run ends with
    /// exit 2, once its report says what it can.
    pub fatal: Option<RunError>,
}

impl Writer {
    pub fn new(catalog: Catalog, report: Report, progress: Box<dyn Progress>, run: i64) -> Writer {
        Writer {
            catalog,
            report,
            progress,
            run,
            lines: Vec::new(),
            summary: Summary::default(),
            fatal: None,
        }
    }

    /// The writer thread's body: takes what the loops send until every
    /// sender is gone, recording what is waiting at once as one batch.
    /// `dossiers` and `bytes` are the plan's, for the progress bar. Sets
    /// `stop` when the catalog fails: the loops stop claiming, what is
    /// under way finishes.
    pub fn receive(
        mut self,
        rx: Receiver<Msg>,
        (dossiers, bytes): (u64, u64),
        stop: &AtomicBool,
    ) -> Recorded {
        self.progress.start(dossiers, bytes);
        while let Ok(first) = rx.recv() {
            // What is already waiting goes into one catalog transaction (a
            // few hundred small dossiers a second are saved on a many-small
            // base).
            let batch: Vec<Msg> = std::iter::once(first)
                .chain(rx.try_iter().take(BATCH - 1))
                .collect();
            self.record(batch, stop);
        }
        self.progress.finish();
        self.finish()
    }

    /// Records a batch of messages: in the catalog, in one transaction;
    /// then the report lines, the progress, the summary. A batch the
    /// catalog could not record (its disk is full…) has no "réussi" line:
    /// its archives are in place but unknown to the catalog, so they will be
    /// made again; the first such failure is kept as the run's fatal error.
    ///
    /// A failure sets `stop` before the batch's lines are written: no loop
    /// claims another dossier once the catalog has failed.
    pub fn record(&mut self, batch: Vec<Msg>, stop: &AtomicBool) {
        // The staged archives are put in place first, together: only then
        // may the catalog record them.
        let batch = super::commit::commit_staged(batch);
        let unrecorded = self.record_in_catalog_keeping(&batch);
        if self.fatal.is_some() {
            stop.store(true, Ordering::SeqCst);
        }
        self.write_lines(batch, unrecorded.as_deref());
    }

    /// Records a batch in the catalog; `Some(why)` if it could not (the
    /// first such error kept as the run's fatal one).
    fn record_in_catalog_keeping(&mut self, batch: &[Msg]) -> Option<String> {
        match self.record_in_catalog(batch) {
            Ok(()) => None,
            Err(e) => {
                let why = e.to_string();
                self.fatal.get_or_insert(e);
                Some(why)
            }
        }
    }

    /// The batch's report lines, progress and summary; `unrecorded`: why
    /// the catalog could not record it, if so (no line then says "réussi").
    fn write_lines(&mut self, batch: Vec<Msg>, unrecorded: Option<&str>) {
        for msg in batch {
            match msg {
                Msg::Started(_) | Msg::Staged(_) => {}
                Msg::Bytes(n) => self.progress.bytes(n),
                Msg::Done(mut l) => {
                    if let Some(why) = unrecorded {
                        l = not_recorded(l, why);
                    } else if l.finished_at.is_none() && matches!(l.outcome, Outcome::Saved { .. })
                    {
                        // Left out of the catalog (see `record_in_catalog`):
                        // never a "réussi" line the catalog does not hold.
                        l = not_recorded(l, "heure de fin inconnue");
                    }
                    if let Some(text) = &l.message {
                        // A line that cannot be written now is kept for
                        // later: only `finish_text` failing ends the run
                        // (see `Report::line`).
                        let _ = self.report.line(&report::dossier_line(&l.code, text));
                    }
                    if l.outcome.concerned() {
                        self.progress.dossier_done();
                    }
                    self.summary.add(&l.outcome);
                    self.lines.push(l);
                }
            }
        }
    }

    /// The writer's parts, handed back.
    pub fn finish(self) -> Recorded {
        Recorded {
            catalog: self.catalog,
            report: self.report,
            lines: self.lines,
            summary: self.summary,
            fatal: self.fatal,
        }
    }

    /// Records a batch of messages in the catalog, in one transaction.
    fn record_in_catalog(&self, batch: &[Msg]) -> Result<(), RunError> {
        let (catalog, run) = (&self.catalog, self.run);
        let tx = catalog.transaction()?;
        for m in batch {
            match m {
                Msg::Started(code) => catalog.mark_in_progress(code, run)?,
                Msg::Done(l) => match &l.outcome {
                    // A save's line always has its time (the loops give it);
                    // one without would be left unrecorded: saved again next
                    // time, the safe side.
                    Outcome::Saved {
                        archive,
                        bytes_out,
                        fingerprint,
                        ..
                    } => {
                        if let Some(at) = l.finished_at {
                            catalog.record_success(
                                &l.code,
                                Some(run),
                                fingerprint,
                                at,
                                archive,
                                *bytes_out,
                            )?
                        }
                    }
                    Outcome::Error { message, .. } => {
                        catalog.record_error(&l.code, Some(run), message)?
                    }
                    Outcome::Deferred { .. } => catalog.record_deferred(&l.code, run)?,
                    Outcome::Unchanged | Outcome::Excluded { .. } => {}
                },
                // Committed into `Done` by `record` before it comes here.
                Msg::Bytes(_) | Msg::Staged(_) => {}
            }
        }
        catalog.commit(tx)?;
        Ok(())
    }
}

/// The report line of a scanned dossier; `finished` when it was saved or
/// tried.
pub(crate) fn line(
    s: &DossierScan,
    outcome: Outcome,
    finished: Option<DateTime<Local>>,
) -> DossierLine {
    DossierLine {
        code: s.code.clone(),
        name: s.identity.as_ref().ok().and_then(|i| i.name.clone()),
        message: outcome.text(),
        outcome,
        finished_at: finished,
    }
}

/// The line of a dossier whose outcome the catalog could not record: an
/// archive written but unknown to the catalog is not "réussi".
fn not_recorded(mut l: DossierLine, why: &str) -> DossierLine {
    if let Outcome::Saved { why: w, .. } = l.outcome {
        l.outcome = Outcome::Error {
            why: Some(w),
            message: format!(
                "Archive écrite, mais le catalogue n'a pas pu l'enregistrer ({why}) : le dossier sera sauvegardé à nouveau au prochain traitement."
            ),
        };
        l.message = l.outcome.text();
    }
    l
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::run::test_base::catalog_with_run;
    use crate::state::SaveReason;

    /// A progress bar that writes down what it is told.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl Progress for Seen {
        fn start(&mut self, dossiers: u64, bytes: u64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("start {dossiers} {bytes}"));
        }
        fn bytes(&mut self, n: u64) {
            self.0.lock().unwrap().push(format!("bytes {n}"));
        }
        fn dossier_done(&mut self) {
            self.0.lock().unwrap().push("done".into());
        }
        fn finish(&mut self) {
            self.0.lock().unwrap().push("finish".into());
        }
    }

    /// A writer on a fresh catalog and report in `dir`, with its run id.
    fn writer(dir: &std::path::Path, seen: &Seen) -> (Writer, i64) {
        let (catalog, run) = catalog_with_run(&dir.join("state"));
        let report = Report::create(&dir.join(crate::base::LOG_DIR), chrono::Local::now()).unwrap();
        (
            Writer::new(catalog, report, Box::new(seen.clone()), run),
            run,
        )
    }

    fn done(code: &str, outcome: Outcome) -> Msg {
        Msg::Done(DossierLine {
            code: code.into(),
            name: None,
            message: outcome.text(),
            outcome,
            finished_at: Some(chrono::Local::now()),
        })
    }

    fn saved(archive: &str) -> Outcome {
        Outcome::Saved {
            why: SaveReason::New,
            archive: archive.into(),
            bytes_in: 10,
            bytes_out: 7,
            files: 2,
            fingerprint: "2:abc".into(),
            skipped: Vec::new(),
            links: Vec::new(),
        }
    }

    fn report_text(r: &Recorded) -> String {
        std::fs::read_to_string(&r.report.txt_path).unwrap()
    }

    #[test]
    fn a_batch_goes_to_the_catalog_then_the_report_and_the_progress() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Seen::default();
        let (mut w, run) = writer(dir.path(), &seen);
        let stop = AtomicBool::new(false);
        w.record(
            vec![
                done("U", Outcome::Unchanged),
                Msg::Started("A".into()),
                Msg::Bytes(10),
                Msg::Started("B".into()),
            ],
            &stop,
        );
        let states = w.catalog.states().unwrap();
        assert_eq!(states["A"].in_progress_run, Some(run));
        assert_eq!(states["B"].in_progress_run, Some(run));
        w.record(
            vec![
                done("A", saved("sauve/BA.SVG")),
                done(
                    "B",
                    Outcome::Error {
                        why: Some(SaveReason::New),
                        message: "Echec.".into(),
                    },
                ),
                done(
                    "C",
                    Outcome::Deferred {
                        why: SaveReason::Modified,
                    },
                ),
            ],
            &stop,
        );
        let r = w.finish();
        assert!(r.fatal.is_none() && !stop.load(Ordering::SeqCst));
        let states = r.catalog.states().unwrap();
        assert_eq!(states["A"].fingerprint.as_deref(), Some("2:abc"));
        assert_eq!(states["A"].last_archive.as_deref(), Some("sauve/BA.SVG"));
        assert_eq!(states["A"].last_bytes, Some(7));
        assert_eq!(states["A"].in_progress_run, None);
        assert_eq!(states["B"].last_error.as_deref(), Some("Echec."));
        assert!(states["B"].failed_last_time());
        assert!(states.contains_key("C") && !states.contains_key("U"));
        let eol = report::EOL;
        assert_eq!(
            report_text(&r),
            format!(
                "Dossier A : Traitement réussi{eol}Dossier B : Echec du traitement. Echec.{eol}Dossier C : Reporté au prochain traitement{eol}"
            )
        );
        let codes: Vec<&str> = r.lines.iter().map(|l| l.code.as_str()).collect();
        assert_eq!(codes, ["U", "A", "B", "C"]);
        assert_eq!(
            (r.summary.concerned, r.summary.saved, r.summary.errors),
            (3, 1, 1)
        );
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["bytes 10", "done", "done", "done"]
        );
    }

    #[test]
    fn a_batch_the_catalog_cannot_record_has_no_successful_line_and_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Seen::default();
        let (w, _) = writer(dir.path(), &seen);
        // The catalog's table gone under the writer: every write fails.
        rusqlite::Connection::open(dir.path().join("state").join(Catalog::FILE))
            .unwrap()
            .execute_batch("DROP TABLE dossier")
            .unwrap();
        let (tx, rx) = crossbeam_channel::bounded(BATCH);
        tx.send(Msg::Started("A".into())).unwrap();
        tx.send(done("A", saved("sauve/BA.SVG"))).unwrap();
        drop(tx);
        let stop = AtomicBool::new(false);
        let r = w.receive(rx, (1, 10), &stop);
        assert!(stop.load(Ordering::SeqCst), "the loops are told to stop");
        assert!(matches!(r.fatal, Some(RunError::Catalog(_))));
        assert!(matches!(r.lines[0].outcome, Outcome::Error { .. }));
        let text = report_text(&r);
        assert!(
            text.starts_with("Dossier A : Echec du traitement. Archive écrite, mais le catalogue n'a pas pu l'enregistrer (")
                && text.contains("le dossier sera sauvegardé à nouveau au prochain traitement."),
            "{text}"
        );
        assert_eq!(r.summary.errors, 1);
        assert_eq!(*seen.0.lock().unwrap(), ["start 1 10", "done", "finish"]);
    }

    /// A "réussi" line is always one the catalog holds: a saved line
    /// without its time (which the loops always give) is not recorded, so
    /// it becomes an error line, saved again next run.
    #[test]
    fn a_saved_line_the_catalog_cannot_hold_is_never_said_successful() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Seen::default();
        let (mut w, _) = writer(dir.path(), &seen);
        let stop = AtomicBool::new(false);
        let mut line = match done("A", saved("sauve/BA.SVG")) {
            Msg::Done(l) => l,
            _ => unreachable!(),
        };
        line.finished_at = None;
        w.record(vec![Msg::Done(line)], &stop);
        let r = w.finish();
        assert!(!r.catalog.states().unwrap().contains_key("A"));
        assert!(matches!(r.lines[0].outcome, Outcome::Error { .. }));
        assert!(
            report_text(&r).contains("heure de fin inconnue"),
            "{}",
            report_text(&r)
        );
    }
}
