//! Progress, behind a small trait: the library never talks to indicatif
//! directly. A terminal gets a bar on stderr (bytes, bytes/s, ETA over bytes,
//! dossiers done/total); a scheduled task gets nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub trait Progress: Send {
    /// The run's plan: how many dossiers and bytes to save.
    fn start(&mut self, dossiers: u64, bytes: u64);
    fn bytes(&mut self, n: u64);
    fn dossier_done(&mut self);
    fn finish(&mut self);
}

/// No progress at all (not a terminal, `--no-progress`, tests).
#[derive(Debug, Default)]
pub struct Hidden;

impl Progress for Hidden {
    fn start(&mut self, _: u64, _: u64) {}
    fn bytes(&mut self, _: u64) {}
    fn dossier_done(&mut self) {}
    fn finish(&mut self) {}
}

/// An indicatif bar on stderr.
#[derive(Debug)]
pub struct Bar {
    bar: ProgressBar,
    done: u64,
    total: u64,
}

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
            )
            .expect("the template is valid"),
        );
        Bar {
            bar,
            done: 0,
            total: 0,
        }
    }
}

impl Default for Bar {
    fn default() -> Self {
        Bar::new()
    }
}

impl Progress for Bar {
    fn start(&mut self, dossiers: u64, bytes: u64) {
        self.total = dossiers;
        self.bar.set_length(bytes);
        self.bar.set_message(format!("dossiers 0/{dossiers}"));
    }
    fn bytes(&mut self, n: u64) {
        self.bar.inc(n);
    }
    fn dossier_done(&mut self) {
        self.done += 1;
        self.bar
            .set_message(format!("dossiers {}/{}", self.done, self.total));
    }
    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}
