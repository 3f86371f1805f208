//! The execute stage of a run: the compression pool, the dossier loops and
//! the writer thread, all owned by one `std::thread::scope`.
//!
//! Dossier loops (one per thread, at most `run.io_jobs`) take the next
//! dossier in plan order (an atomic index, so the largest and the retried
//! dossiers really start first) and save it ([`save_dossier`]); the chunks
//! of every dossier under way are read and compressed on the rayon pool,
//! so idle workers take work from any dossier, including the chunks of one
//! huge file. A loop never returns early out of the run: a failing dossier
//! is a message on the channel to the [`Writer`]. A quit flag (Ctrl-C), the
//! writer's stop (the catalog failed) and the time budget
//! (`--max-duration`) are checked before each claim: what is under way
//! finishes, what was never started is "reporté".

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::archive::{Compression, IoBudget};
use crate::base::display_path;
use crate::clock::Clock;
use crate::state::Outcome;

use super::RunOptions;
use super::commit::{StagedLine, StagingBudget, StagingToken};
use super::plan::{Plan, Planned};
use super::prepare::Setup;
use super::save::{SaveContext, Watch, stage_dossier};
use super::writer::{BATCH, Msg, Recorded, Writer, line};

/// The pool chunks are compressed on: `threads` workers, 0 for one per
/// core; returns it with its size.
pub(crate) fn compression_pool(threads: usize) -> (rayon::ThreadPool, usize) {
    let threads = match threads {
        0 => thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("svgauto-pool-{i}"))
        .build()
        .expect("a thread pool of this size can be built");
    (pool, threads)
}

/// What makes the dossier loops stop claiming, besides the plan's end.
pub(crate) struct Stops<'a> {
    /// Ctrl-C.
    pub interrupted: &'a AtomicBool,
    /// `--max-duration`, counted from `started`.
    pub max_duration: Option<Duration>,
    pub started: Instant,
}

/// What the execute stage ends with.
pub(crate) struct Executed {
    /// The writer's parts and what it recorded.
    pub recorded: Recorded,
    /// The time budget stopped the run with dossiers left to start.
    pub budget_reached: bool,
}

/// Saves the plan's dossiers: the decided ones' lines first, then the
/// dossier loops, then a "reporté" line for each dossier never claimed.
pub(crate) fn execute(
    opts: &RunOptions,
    setup: &Setup,
    clock: &dyn Clock,
    plan: Plan,
    writer: Writer,
    stops: &Stops<'_>,
) -> Executed {
    let settings = &setup.base.effective.settings;
    let (pool, threads) = compression_pool(opts.threads.unwrap_or(settings.run.threads));
    let io = IoBudget::new(settings.run.io_jobs);
    // Archives written at once are bounded by `io_jobs` too (a NAS or a
    // spinning disk collapses under many writers); the pool keeps every core
    // busy whatever their number.
    let loops = threads.min(settings.run.io_jobs);
    let ctx = SaveContext {
        pool: &pool,
        io: &io,
        compression: Compression::of(&settings.archive),
        clock,
        documents_included: settings.backup.include_documents,
        inline_small: loops >= threads,
        verify: opts.verify,
    };
    let sizes = (plan.todo.len() as u64, plan.bytes());
    let Plan { decided, todo } = plan;
    let claims = Claims {
        plan: &todo,
        staging: StagingBudget::new(),
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        budget_spent: AtomicBool::new(false),
        stops,
    };
    let batch = Batch {
        ctx: &ctx,
        target_dir: &setup.target,
        root: &setup.base.root,
    };
    let (tx, rx) = crossbeam_channel::bounded::<Msg>(BATCH);
    let recorded = thread::scope(|scope| {
        // The one writer: it alone owns the catalog, the report, the progress.
        let stop = &claims.stop;
        let writing = scope.spawn(move || writer.receive(rx, sizes, stop));
        for (s, outcome) in decided {
            let _ = tx.send(Msg::Done(line(&s, outcome, None)));
        }
        // The dossier loops are plain threads, not pool jobs: a pool thread
        // waiting for its batch could otherwise steal a whole dossier loop
        // and stall its own dossier behind it. The pool runs only chunks.
        let handles: Vec<_> = (0..loops.min(todo.len()))
            .map(|i| {
                let (tx, claims, batch) = (tx.clone(), &claims, &batch);
                thread::Builder::new()
                    .name(format!("svgauto-dossier-{i}"))
                    .spawn_scoped(scope, move || claims.dossier_loop(batch, &tx))
                    .expect("a thread can be spawned")
            })
            .collect();
        for h in handles {
            h.join().expect("a dossier loop does not panic");
        }
        for p in claims.unclaimed() {
            let _ = tx.send(Msg::Done(line(
                &p.scan,
                Outcome::Deferred { why: p.why },
                None,
            )));
        }
        drop(tx);
        writing.join().expect("the writer thread does not panic")
    });
    // The budget stopped the run only if something was left to start.
    let budget_reached =
        claims.budget_spent.load(Ordering::SeqCst) && !claims.unclaimed().is_empty();
    Executed {
        recorded,
        budget_reached,
    }
}

/// How the dossier loops share the plan.
struct Claims<'a> {
    plan: &'a [Planned],
    /// Bounds the dossiers claimed and not yet committed by the writer.
    staging: StagingBudget,
    /// The next index to claim.
    next: AtomicUsize,
    /// Set by the writer when the catalog fails.
    stop: AtomicBool,
    /// The time budget was found spent.
    budget_spent: AtomicBool,
    stops: &'a Stops<'a>,
}

impl Claims<'_> {
    /// Whether a loop may claim another dossier.
    fn may_claim(&self) -> bool {
        if self.stops.interrupted.load(Ordering::SeqCst) || self.stop.load(Ordering::SeqCst) {
            return false;
        }
        let over = self
            .stops
            .max_duration
            .is_some_and(|d| self.stops.started.elapsed() >= d);
        if over {
            self.budget_spent.store(true, Ordering::SeqCst);
        }
        !over
    }

    /// One dossier loop: claim the next dossier, stage its archive, send it
    /// to the writer (or its line, when it failed), until the plan is done
    /// or a stop says so.
    fn dossier_loop(&self, batch: &Batch<'_>, tx: &Sender<Msg>) {
        loop {
            // Taken before the claim: a loop waiting for the writer to
            // commit claims nothing meanwhile.
            let token = self.staging.acquire();
            if !self.may_claim() {
                break;
            }
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            let Some(p) = self.plan.get(i) else { break };
            let _ = tx.send(batch.save(p, tx, token));
        }
    }

    /// The dossiers no loop claimed, in plan order (once the loops are done).
    fn unclaimed(&self) -> &[Planned] {
        let claimed = self.next.load(Ordering::SeqCst).min(self.plan.len());
        &self.plan[claimed..]
    }
}

/// What the run's loops save with, and where.
struct Batch<'a> {
    ctx: &'a SaveContext<'a>,
    /// `backup.dir`, or its rotation subfolder.
    target_dir: &'a Path,
    /// The base's root, which the archive's recorded path is relative to.
    root: &'a Path,
}

impl Batch<'_> {
    /// Stages one planned dossier's archive: the message for the writer,
    /// its line when it failed.
    fn save(&self, p: &Planned, tx: &Sender<Msg>, token: StagingToken) -> Msg {
        let target = self.target_dir.join(crate::base::file_name(&p.scan.code));
        let watch = ToWriter {
            code: &p.scan.code,
            tx,
        };
        let staged = stage_dossier(self.ctx, &p.scan.code, &p.scan.dir, &target, &watch);
        let finished = self.ctx.clock.now();
        match staged {
            Ok(dossier) => Msg::Staged(Box::new(StagedLine {
                dossier,
                why: p.why,
                archive: display_path(&target, self.root),
                finished_at: finished,
                _token: token,
            })),
            Err(e) => Msg::Done(line(
                &p.scan,
                Outcome::Error {
                    why: Some(p.why),
                    message: e.to_string(),
                },
                Some(finished),
            )),
        }
    }
}

/// A dossier's save, told to the writer.
struct ToWriter<'a> {
    code: &'a str,
    tx: &'a Sender<Msg>,
}

impl Watch for ToWriter<'_> {
    fn started(&self) {
        let _ = self.tx.send(Msg::Started(self.code.to_owned()));
    }
    fn bytes(&self, n: u64) {
        let _ = self.tx.send(Msg::Bytes(n));
    }
}
