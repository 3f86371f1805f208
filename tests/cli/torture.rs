//! Torture, part 1: crashes. `svgauto run` and `svgauto restore` killed with
//! SIGKILL at random (seeded) moments, over and over, and after each kill
//! the promises of DESIGN.md §3–5 and of `restore` checked on what is left.
//!
//! Environment (all optional):
//!
//! | variable                        | default        | what                              |
//! |---------------------------------|----------------|-----------------------------------|
//! | `SVGAUTO_TORTURE_SEED`          | `20250601`     | the seed of every random choice   |
//! | `SVGAUTO_TORTURE_KILLS`         | 5              | runs killed (the last one again if it left no `.partial`) |
//! | `SVGAUTO_TORTURE_MB`            | 32             | size of the base, in MiB          |
//! | `SVGAUTO_TORTURE_RESTORE_KILLS` | max(KILLS, 6)  | restores killed                   |
//!
//! The seed fixes the data and every choice (which dossiers change, how,
//! when to kill); only where a kill lands inside the process depends on the
//! machine. `scripts/torture.sh` runs the long version (release build,
//! ≥ 30 kills, a few hundred MiB). The figures are printed on stderr
//! (`--nocapture`), on lines starting with `torture`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::harness::*;

const DEFAULT_SEED: u64 = 20_250_601;
const POLL_LIMIT: Duration = Duration::from_secs(60);
/// The tail of the report line of a dossier redone after a killed run.
const REPRISE: &str = "reprise";

// ---------------------------------------------------------------------------
// Settings, randomness
// ---------------------------------------------------------------------------

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?}: not a number: {e}")),
    )
}

struct Settings {
    seed: u64,
    kills: u64,
    mb: u64,
    restore_kills: u64,
}

impl Settings {
    fn from_env() -> Settings {
        let kills = env_u64("SVGAUTO_TORTURE_KILLS").unwrap_or(5).max(1);
        let s = Settings {
            seed: env_u64("SVGAUTO_TORTURE_SEED").unwrap_or(DEFAULT_SEED),
            kills,
            mb: env_u64("SVGAUTO_TORTURE_MB").unwrap_or(32).max(1),
            restore_kills: env_u64("SVGAUTO_TORTURE_RESTORE_KILLS")
                .unwrap_or(kills.max(6))
                .max(1),
        };
        eprintln!(
            "torture settings: SVGAUTO_TORTURE_SEED={} SVGAUTO_TORTURE_KILLS={} SVGAUTO_TORTURE_MB={} SVGAUTO_TORTURE_RESTORE_KILLS={}",
            s.seed, s.kills, s.mb, s.restore_kills
        );
        s
    }
}

// ---------------------------------------------------------------------------
// Processes, files
// ---------------------------------------------------------------------------

/// Polls `cond` every 100 µs (finer than the harness' `wait_until`: the
/// switch of a restore is short).
fn poll(timeout: Duration, cond: impl FnMut() -> bool) -> bool {
    poll_every(Duration::from_micros(100), timeout, cond)
}

/// The files of a dossier a mutation may touch, sorted (relative paths).
fn data_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk_files(dir, &mut |p| {
        let rel = p
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel != "dossier.toml" && rel != "dossier.lock" && !rel.starts_with("documents/") {
            out.push(rel);
        }
    });
    out.sort();
    out
}

/// Bytes an archive of the dossier holds (no documents, no lock).
fn dossier_bytes(dir: &Path) -> u64 {
    data_files(dir)
        .iter()
        .map(|rel| fs::metadata(dir.join(rel)).map_or(0, |m| m.len()))
        .sum()
}

/// Identity of an archive: its size and BLAKE3 hash.
type Id = (u64, [u8; 32]);

fn archive_id(p: &Path) -> Id {
    let mut f = fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut h = blake3::Hasher::new();
    let n = std::io::copy(&mut f, &mut h).unwrap();
    (n, *h.finalize().as_bytes())
}

fn archive_ids(base: &Base) -> BTreeMap<String, Id> {
    base.archived()
        .into_iter()
        .map(|code| {
            let id = archive_id(&base.archive(&code));
            (code, id)
        })
        .collect()
}

/// Every `.partial` under `sauve/` with its modification time: a partial
/// of the same name written again by a later run has another one.
fn partials_now(base: &Base) -> BTreeMap<PathBuf, SystemTime> {
    base.partials()
        .into_iter()
        .filter_map(|p| Some((p.clone(), fs::metadata(&p).ok()?.modified().ok()?)))
        .collect()
}

fn code_of_partial(p: &Path) -> String {
    let name = p.file_name().unwrap().to_string_lossy();
    name.strip_prefix('B')
        .and_then(|n| n.strip_suffix(".SVG.partial"))
        .unwrap_or_else(|| panic!("unexpected partial name {}", p.display()))
        .to_owned()
}

/// `svgauto status --base B --json`; `None` (and said) when the command
/// is not there yet (a panic, `unimplemented`).
fn status_json(base: &Base) -> Option<(Out, serde_json::Value)> {
    let out = base.svgauto(&["status", "--base", base.root().to_str().unwrap(), "--json"]);
    if out.code == Some(101)
        || out.stderr.contains("not implemented")
        || out.stderr.contains("not yet implemented")
        || out.stderr.contains("panicked")
    {
        eprintln!(
            "torture: `svgauto status` is not available (panic/unimplemented): check skipped\n{out}"
        );
        return None;
    }
    let v = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("`svgauto status --json` does not parse: {e}\n{out}"));
    Some((out, v))
}

fn status_entry<'a>(v: &'a serde_json::Value, code: &str, out: &Out) -> &'a serde_json::Value {
    v["dossiers"]
        .as_array()
        .and_then(|a| a.iter().find(|d| d["code"] == code))
        .unwrap_or_else(|| panic!("status has no dossier {code}\n{out}"))
}

// ---------------------------------------------------------------------------
// Part 1: `svgauto run` killed
// ---------------------------------------------------------------------------

#[derive(Default)]
struct RunFigures {
    kills: u64,
    killed_by_delay: u64,
    killed_on_partial: u64,
    finished_before_kill: u64,
    kills_with_partial: u64,
    archives_checked: u64,
    archives_kept: u64,
    archives_renewed: u64,
    sevenz_tests: u64,
    mutations: u64,
    dossiers_verified: u64,
    reprise_lines: u64,
}

struct Calibration {
    full_threads_default: Duration,
    full_threads_1: Duration,
    noop: Duration,
}

impl Calibration {
    /// What a run is expected to last when `fraction` of the base's bytes
    /// are to be saved.
    fn expected(&self, one_thread: bool, fraction: f64) -> Duration {
        let full = if one_thread {
            self.full_threads_1
        } else {
            self.full_threads_default
        };
        self.noop
            + full
                .saturating_sub(self.noop)
                .mul_f64(fraction.clamp(0.0, 1.0))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KillAt {
    /// After a random delay within the expected duration of the run.
    Delay,
    /// Once a new `.partial` appeared, then after a random delay (maybe 0).
    OnPartial,
}

struct RunTorture {
    base: Base,
    rng: Rng,
    eligible: Vec<String>,
    excluded: Vec<String>,
    serial: u64,
    figures: RunFigures,
    /// Archives as they were before the run about to be started.
    ids: BTreeMap<String, Id>,
    /// Archive identities that already passed `7zz t`.
    tested: HashSet<Id>,
    /// Dossiers changed since their archive was last written.
    mutated: BTreeSet<String>,
}

/// The base: one big incompressible file of several MiB (kills land in
/// the middle of its archive), a big compressible one, a dossier of many
/// small files, medium dossiers of mixed content, an empty dossier, a
/// copy, associated documents, and two dossiers the batch never saves.
fn build_run_base(mb: u64, rng: &mut Rng) -> (Base, Vec<String>, Vec<String>) {
    let total = (mb << 20) as usize;
    let base = Base::new().collaborator("COMPT", "*");
    let mut eligible = Vec::new();

    let big = (total / 4).max(6 << 20);
    base.dossier("GROS")
        .file("compta/pieces.bin", random_bytes(rng.next(), big))
        .file("compta/journal.txt", text_bytes(rng.next(), 256 << 10))
        .file("parametres.ini", "[dossier]\ncode=GROS\n");
    eligible.push("GROS".to_owned());

    let text = (total * 15 / 100).max(2 << 20);
    base.dossier("TEXTE")
        .file("compta/ecritures.dat", text_bytes(rng.next(), text))
        .file("Clôture/état récapitulatif.csv", "compte;solde\n")
        .file("documents/statuts.txt", "statuts\n");
    eligible.push("TEXTE".to_owned());

    let small_budget = total / 10;
    let n_small = (small_budget / 8192).clamp(200, 5000);
    let mut d = base.dossier("MULTI");
    for i in 0..n_small {
        let len = rng.range(64, 16 << 10) as usize;
        d = d.file(
            &format!("sous{:02}/piece{i:05}.dat", i % 25),
            rng.content(len),
        );
    }
    eligible.push("MULTI".to_owned());

    let mut left = total.saturating_sub(big + text + small_budget);
    let mut m = 0;
    while (left > 0 || m < 3) && m < 60 {
        let size = (rng.range(256 << 10, 4 << 20) as usize).min(left.max(256 << 10));
        let code = format!("M{m:02}");
        let nf = rng.range(2, 7) as usize;
        let mut d = base.dossier(&code);
        for f in 0..nf {
            let len = size / nf + if f == 0 { size % nf } else { 0 };
            d = d.file(&format!("compta/f{f}.dat"), rng.content(len));
        }
        if rng.chance(30) {
            d.file("documents/courrier.txt", text_bytes(rng.next(), 10_000));
        }
        eligible.push(code);
        left = left.saturating_sub(size);
        m += 1;
    }

    base.dossier("VIDE").empty_dir("exports");
    eligible.push("VIDE".to_owned());
    base.dossier("COPIE")
        .status("copie")
        .file("compta/ecritures.dat", text_bytes(rng.next(), 64 << 10));
    eligible.push("COPIE".to_owned());

    base.dossier("ETALON")
        .kind("etalon")
        .file("modele.dat", text_bytes(rng.next(), 100_000));
    base.dossier("NONTR")
        .transferable(false)
        .file("secret.dat", random_bytes(rng.next(), 100_000));
    let excluded = vec!["ETALON".to_owned(), "NONTR".to_owned()];
    (base, eligible, excluded)
}

impl RunTorture {
    fn all_codes(&self) -> BTreeSet<String> {
        self.eligible.iter().cloned().collect()
    }

    /// Between two runs, what users do: append to a file, rewrite one, add,
    /// remove, rename; now and then a new dossier.
    fn mutate(&mut self) {
        let n = self.rng.range(1, 5);
        for _ in 0..n {
            self.serial += 1;
            let serial = self.serial;
            self.figures.mutations += 1;
            if self.rng.chance(8) {
                let code = format!("N{serial:03}");
                let len = self.rng.range(1 << 10, 2 << 20) as usize;
                let c = self.rng.content(len);
                self.base
                    .dossier(&code)
                    .file("compta/ecritures.dat", c)
                    .file("parametres.ini", format!("[dossier]\ncode={code}\n"));
                eprintln!("  new dossier {code}");
                self.mutated.insert(code.clone());
                self.eligible.push(code);
                continue;
            }
            let code = self.eligible[self.rng.below(self.eligible.len())].clone();
            let files = data_files(&self.base.dossier_dir(&code));
            let pick = |rng: &mut Rng| files[rng.below(files.len())].clone();
            let what = match self.rng.below(5) {
                0 if !files.is_empty() => {
                    let f = pick(&mut self.rng);
                    let len = self.rng.range(1, 256 << 10) as usize;
                    let c = self.rng.content(len);
                    self.base.append(&code, &f, c);
                    format!("append to {f}")
                }
                1 if !files.is_empty() => {
                    let f = pick(&mut self.rng);
                    let old = fs::metadata(self.base.path(&code, &f)).unwrap().len() as usize;
                    // Big files keep their size: only their bytes and time change.
                    let len = if old > 1 << 20 || self.rng.chance(50) {
                        old
                    } else {
                        self.rng.range(0, 512 << 10) as usize
                    };
                    let c = self.rng.content(len);
                    self.base.write(&code, &f, c);
                    format!("rewrite {f} ({len} bytes)")
                }
                3 if files.len() > 1 => {
                    let f = pick(&mut self.rng);
                    self.base.remove(&code, &f);
                    format!("remove {f}")
                }
                4 if !files.is_empty() => {
                    let f = pick(&mut self.rng);
                    let to = format!("renomme/{serial}-{}", f.rsplit('/').next().unwrap_or("f"));
                    self.base.rename(&code, &f, &to);
                    format!("rename {f} -> {to}")
                }
                _ => {
                    let len = self.rng.range(1 << 10, 2 << 20) as usize;
                    let c = self.rng.content(len);
                    let f = format!("ajouts/f{serial}.dat");
                    self.base.write(&code, &f, c);
                    format!("add {f} ({len} bytes)")
                }
            };
            eprintln!("  {code}: {what}");
            self.mutated.insert(code);
        }
    }

    /// Starts a run, kills it as `at` says, checks what is left. Returns the
    /// codes whose `.partial` is left after the kill (all of them: the next
    /// run takes them as interrupted).
    fn kill_one(
        &mut self,
        k: u64,
        at: KillAt,
        all: bool,
        one_thread: bool,
        calib: &Calibration,
    ) -> BTreeSet<String> {
        let leftover = partials_now(&self.base);
        let under_way_before: BTreeSet<String> =
            leftover.keys().map(|p| code_of_partial(p)).collect();
        // What this run is expected to save, for the delay.
        let total: u64 = self
            .eligible
            .iter()
            .map(|c| dossier_bytes(&self.base.dossier_dir(c)))
            .sum();
        let todo: u64 = self
            .eligible
            .iter()
            .filter(|c| {
                all || self.mutated.contains(*c)
                    || under_way_before.contains(*c)
                    || !self.ids.contains_key(*c)
            })
            .map(|c| dossier_bytes(&self.base.dossier_dir(c)))
            .sum();
        let expected = calib.expected(one_thread, todo as f64 / total.max(1) as f64);

        let mut args = vec!["--user", "COMPT"];
        if all {
            args.push("--all");
        }
        if one_thread {
            args.extend(["--threads", "1"]);
        }
        let mut run = self.base.spawn_run(&args, &format!("torture-run-{k}"));
        let (out_path, err_path) = (run.stdout.clone(), run.stderr.clone());
        let t0 = Instant::now();
        match at {
            KillAt::Delay => {
                let d = self.rng.delay(expected.mul_f64(1.1));
                std::thread::sleep(d);
                self.figures.killed_by_delay += 1;
            }
            KillAt::OnPartial => {
                wait_until(POLL_LIMIT, || {
                    partials_now(&self.base)
                        .iter()
                        .any(|(p, t)| leftover.get(p) != Some(t))
                        || run.has_exited()
                });
                if self.rng.chance(60) {
                    let d = self.rng.delay(expected / 2);
                    std::thread::sleep(d);
                }
                self.figures.killed_on_partial += 1;
            }
        }
        let at_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let code = run.kill9();
        self.figures.kills += 1;
        if let Some(c) = code {
            self.figures.finished_before_kill += 1;
            assert_eq!(
                c,
                0,
                "run #{k} ended by itself before the kill, with exit {c}\nstdout:\n{}\nstderr:\n{}",
                fs::read_to_string(&out_path).unwrap_or_default(),
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }

        let after = partials_now(&self.base);
        let fresh: Vec<String> = after
            .iter()
            .filter(|(p, t)| leftover.get(*p) != Some(*t))
            .map(|(p, _)| code_of_partial(p))
            .collect();
        if !fresh.is_empty() {
            self.figures.kills_with_partial += 1;
        }
        let under_way: BTreeSet<String> = after.keys().map(|p| code_of_partial(p)).collect();
        eprintln!(
            "torture kill #{k}: {at:?}, args {args:?}, at {at_ms:.1} ms (expected run {:.1} ms), {}; partials being written: {fresh:?}, left: {under_way:?}",
            expected.as_secs_f64() * 1000.0,
            match code {
                Some(_) => "the run had finished".to_owned(),
                None => "killed".to_owned(),
            }
        );
        self.check_after_kill(k, &under_way, &fresh);
        under_way
    }

    /// After a kill: every archive sound (`svgauto verify`, `7zz t`); for
    /// each dossier, its previous archive byte for byte, or a complete new
    /// one equal to the dossier; none for a dossier never saved unless
    /// complete; none for excluded dossiers; the status says which were
    /// interrupted.
    fn check_after_kill(&mut self, k: u64, under_way: &BTreeSet<String>, fresh: &[String]) {
        let when = format!("after kill #{k}");
        let now = archive_ids(&self.base);
        if !now.is_empty() {
            let out = self.base.verify(&[&self.base.sauve()]);
            assert!(
                out.code == Some(0),
                "{when}: svgauto verify sauve/ must find every archive sound\n{out}"
            );
        }
        let all = self.all_codes();
        for code in now.keys() {
            assert!(
                all.contains(code),
                "{when}: an archive B{code}.SVG appeared for a dossier the batch must not save (or that does not exist); eligible: {all:?}"
            );
        }
        for x in &self.excluded {
            assert!(!now.contains_key(x), "{when}: {x} must never be archived");
        }
        // A `.partial` written by this run is not renamed yet: the archive
        // beside it is the one from before the run (or none).
        for code in fresh {
            assert!(
                now.get(code) == self.ids.get(code),
                "{when}: B{code}.SVG.partial was being written, yet B{code}.SVG is no longer the archive from before the run"
            );
        }
        let (mut kept, mut renewed) = (0, 0);
        for code in &self.eligible {
            let before = self.ids.get(code);
            match (before, now.get(code)) {
                (None, None) => {}
                (Some(_), None) => panic!(
                    "{when}: the archive B{code}.SVG that existed before the run is gone; sauve/ holds {:?}",
                    list_dir(&self.base.sauve())
                ),
                (Some(b), Some(n)) if b == n => {
                    kept += 1;
                    if self.tested.insert(*n) {
                        sevenz_test(&self.base.archive(code));
                        self.figures.sevenz_tests += 1;
                    }
                }
                (_, Some(n)) => {
                    // A new archive (or the first one): complete, and the
                    // dossier's current state.
                    renewed += 1;
                    self.mutated.remove(code);
                    let x = self.base.assert_archive_matches(code, false);
                    let _ = fs::remove_dir_all(x);
                    self.tested.insert(*n);
                    self.figures.sevenz_tests += 1;
                }
            }
        }
        self.figures.archives_checked += now.len() as u64;
        self.figures.archives_kept += kept;
        self.figures.archives_renewed += renewed;
        eprintln!(
            "  checked {} archives: {kept} as before the run, {renewed} new and equal to their dossier",
            now.len()
        );
        self.ids = now;

        if let Some((out, v)) = status_json(&self.base) {
            assert!(
                matches!(out.code, Some(0 | 1)),
                "{when}: svgauto status must establish the status (0 or 1)\n{out}"
            );
            for code in under_way {
                let d = status_entry(&v, code, &out);
                assert!(
                    d["last_result"] == "interrupted"
                        && d["attention"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|x| x == "interrupted")),
                    "{when}: {code} has a .partial left, its backup was under way: status must say interrupted\n{d:#}"
                );
            }
        }
    }
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn torture_kill_9_runs_at_random_moments_never_lose_a_good_archive() {
    let t_start = Instant::now();
    let settings = Settings::from_env();
    let mut rng = Rng::new(settings.seed, 1);
    let (base, eligible, excluded) = build_run_base(settings.mb, &mut rng);
    let mut t = RunTorture {
        base,
        rng,
        eligible,
        excluded,
        serial: 0,
        figures: RunFigures::default(),
        ids: BTreeMap::new(),
        tested: HashSet::new(),
        mutated: BTreeSet::new(),
    };
    let total: u64 = t
        .eligible
        .iter()
        .map(|c| dossier_bytes(&t.base.dossier_dir(c)))
        .sum();
    eprintln!(
        "torture base: {} dossiers to save ({:.1} MiB) + {} excluded",
        t.eligible.len(),
        total as f64 / f64::from(1 << 20),
        t.excluded.len()
    );

    // Calibration: uninterrupted runs, timed.
    let timed = |base: &Base, args: &[&str]| {
        let t0 = Instant::now();
        base.run_compt(args).code(0);
        t0.elapsed()
    };
    let full_threads_default = timed(&t.base, &[]);
    assert_eq!(
        t.base.archived(),
        t.all_codes(),
        "the first run saves every dossier"
    );
    let full_threads_1 = timed(&t.base, &["--all", "--threads", "1"]);
    let before = archive_ids(&t.base);
    let noop = timed(&t.base, &[]);
    assert_eq!(
        before,
        archive_ids(&t.base),
        "a run with nothing modified rewrites no archive"
    );
    let calib = Calibration {
        full_threads_default,
        full_threads_1,
        noop,
    };
    eprintln!(
        "torture calibration: full run {:.0} ms, full run --threads 1 {:.0} ms, run with nothing to do {:.0} ms",
        full_threads_default.as_secs_f64() * 1000.0,
        full_threads_1.as_secs_f64() * 1000.0,
        noop.as_secs_f64() * 1000.0
    );
    t.ids = before;
    for code in t.all_codes() {
        sevenz_test(&t.base.archive(&code));
        t.tested.insert(t.ids[&code]);
    }

    let mut under_way = BTreeSet::new();
    for k in 0..settings.kills - 1 {
        t.mutate();
        let at = if k % 2 == 0 {
            KillAt::Delay
        } else {
            KillAt::OnPartial
        };
        let all = t.rng.chance(40);
        let one = t.rng.chance(50);
        under_way = t.kill_one(k, at, all, one, &calib);
    }
    // The last kill must leave a backup under way, for the check of the
    // final run's report: --all, killed as soon as an archive is being
    // written; again if it came too late.
    for attempt in 0..5 {
        t.mutate();
        let one = t.rng.chance(50);
        let k = settings.kills - 1 + attempt;
        under_way = t.kill_one(k, KillAt::OnPartial, true, one, &calib);
        if !under_way.is_empty() {
            break;
        }
        eprintln!("  attempt {attempt}: no backup left under way, again");
    }
    assert!(
        !under_way.is_empty(),
        "could not kill a run --all while an archive was being written"
    );

    // Final run, uninterrupted (one thread: the order of the lines is the
    // order of the work).
    t.mutate();
    let out = t.base.run_compt(&["--threads", "1"]);
    out.code(0);
    let all = t.all_codes();
    assert_eq!(
        t.base.archived(),
        all,
        "after the final run every eligible dossier has its archive, no other"
    );
    for code in &all {
        let x = t.base.assert_archive_matches(code, false);
        let _ = fs::remove_dir_all(x);
        t.figures.dossiers_verified += 1;
    }
    let v = t.base.verify(&[&t.base.sauve()]);
    assert!(v.code == Some(0), "svgauto verify after the final run\n{v}");
    assert!(
        t.base.partials().is_empty(),
        "partials left after a complete run: {:?}",
        t.base.partials()
    );
    t.base.assert_no_restore_leftovers();

    let report = t.base.report();
    let lines = report.dossier_lines();
    for (code, line) in report.codes().iter().zip(&lines) {
        assert!(
            line.starts_with(&saved_line(code)),
            "the final run saves every dossier it takes\n{report}"
        );
    }
    report.assert_summary(lines.len(), 0, lines.len());
    for code in &under_way {
        let line = report.line(code);
        assert!(
            line.contains(REPRISE),
            "{code} was under way when the last run was killed: its line must say `reprise`\n{report}"
        );
        t.figures.reprise_lines += 1;
    }
    // Redone first: every `reprise` line before every other line.
    let first_other = lines.iter().position(|l| !l.contains(REPRISE));
    let last_reprise = lines.iter().rposition(|l| l.contains(REPRISE));
    if let (Some(o), Some(r)) = (first_other, last_reprise) {
        assert!(
            r < o,
            "the dossiers under way when the run died are redone first\n{report}"
        );
    }

    match status_json(&t.base) {
        None => eprintln!("torture: status check after the final run SKIPPED"),
        Some((out, v)) => {
            assert_eq!(
                out.code,
                Some(0),
                "status after a complete run: all backed up\n{out}"
            );
            assert_eq!(v["all_backed_up"], true, "{out}");
            assert_eq!(v["run_in_progress"], false, "{out}");
            assert_eq!(v["totals"]["interrupted"], 0, "{out}");
            for code in &all {
                let d = status_entry(&v, code, &out);
                assert!(
                    d["state"] == "up-to-date"
                        && d["last_result"] == "ok"
                        && d["archive_present"] == true
                        && d["attention"].as_array().is_some_and(Vec::is_empty),
                    "status of {code} after the final run\n{d:#}"
                );
            }
            for code in &t.excluded {
                let d = status_entry(&v, code, &out);
                assert_eq!(d["state"], "excluded", "status of {code}\n{d:#}");
            }
            eprintln!("torture: status agrees after the final run");
        }
    }

    // Nothing left to redo.
    let before = archive_ids(&t.base);
    t.base.run_compt(&[]).code(0);
    assert_eq!(
        before,
        archive_ids(&t.base),
        "a run after the final one rewrites nothing"
    );
    t.base.report().assert_no_dossier_lines();

    let f = &t.figures;
    eprintln!(
        "torture figures (run): seed={} MiB={:.1} dossiers={} kills={} (by delay {}, on partial {}) finished_before_kill={} kills_with_partial={} archives_checked={} (kept {}, new {}) 7zz_tests={} mutations={} reprise_lines={} dossiers_verified={} elapsed={:.1}s",
        settings.seed,
        total as f64 / f64::from(1 << 20),
        all.len(),
        f.kills,
        f.killed_by_delay,
        f.killed_on_partial,
        f.finished_before_kill,
        f.kills_with_partial,
        f.archives_checked,
        f.archives_kept,
        f.archives_renewed,
        f.sevenz_tests,
        f.mutations,
        f.reprise_lines,
        f.dossiers_verified,
        t_start.elapsed().as_secs_f64()
    );
    assert!(
        f.kills - f.finished_before_kill >= 1,
        "no run was actually killed: the torture tested nothing"
    );
}

// ---------------------------------------------------------------------------
// Part 2: `svgauto restore` killed
// ---------------------------------------------------------------------------

/// Where a kill of `restore` landed, from what it left in `dossiers/`
/// (`X` the dossier, `new-X`, `ready-X`, `old-X` its temporary folders).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Phase {
    /// Nothing left, the dossier in its old state: killed before anything.
    NotStarted,
    /// `new-X` beside the old `X`: extraction under way.
    Extracting,
    /// `ready-X` (complete) beside the old `X`: switch not started.
    Ready,
    /// No `X`: `old-X` and `ready-X`, both complete, between the renames.
    BetweenRenames,
    /// The new `X`, and `old-X` being removed.
    CleaningUp,
    /// The new `X`, nothing left: the restore had finished.
    Done,
}

#[derive(Clone, Copy, Debug)]
enum RestoreKillAt {
    /// After a random delay within the expected duration.
    Delay,
    /// Once the extraction folder appeared, then after a random delay.
    OnExtraction,
    /// As soon as the switch shows (`ready-X` or `old-X`), at once.
    OnSwitch,
}

/// How many entries differ between two snapshots.
fn distance(a: &Snapshot, b: &Snapshot) -> usize {
    let mut n = a.0.iter().filter(|(k, v)| b.0.get(*k) != Some(*v)).count();
    n += b.0.keys().filter(|k| !a.0.contains_key(*k)).count();
    n
}

/// The snapshot of a folder as the trees of the test are taken (the lock
/// file aside: taking a lock may create it).
fn tree_of(dir: &Path) -> Snapshot {
    snapshot(dir, &|rel| rel == "dossier.lock")
}

/// `got` must be exactly `old` or exactly `new` (names, kinds, bytes,
/// modification times); returns which (`false`: old, `true`: new).
#[track_caller]
fn old_or_new(got: &Snapshot, old: &Snapshot, new: &Snapshot, what: &str) -> bool {
    if got == old {
        return false;
    }
    if got == new {
        return true;
    }
    let (closer, name) = if distance(got, old) <= distance(got, new) {
        (old, "old")
    } else {
        (new, "new")
    };
    assert_same_snapshot(
        closer,
        got,
        &format!(
            "{what} is neither the old tree nor the new one, compared with the closer, the {name}"
        ),
    );
    unreachable!()
}

#[derive(Default)]
struct RestoreFigures {
    kills: u64,
    phases: BTreeMap<String, u64>,
    simulated_between_renames: u64,
    recovered_by_run: u64,
    recovered_by_restore: u64,
    snapshots_compared: u64,
}

struct RestoreTorture {
    base: Base,
    rng: Rng,
    /// The two states of dossier R, as trees, and their archives (copies
    /// outside `sauve/`, which the recovery runs rewrite).
    trees: [Snapshot; 2],
    archives: [PathBuf; 2],
    /// The archive of another dossier: restoring it settles R's leftovers
    /// without touching R.
    other: PathBuf,
    /// Which of the two states R is in.
    current: usize,
    expected: Duration,
    figures: RestoreFigures,
    attempt: u64,
}

const R: &str = "R";

fn temp_dir(base: &Base, what: &str) -> PathBuf {
    base.root()
        .join("dossiers")
        .join(format!(".svgauto-{what}-{R}"))
}

/// A dossier R of many small files (extraction, each file flushed, and the
/// removal of the old folder take measurable time), with nanosecond
/// modification times, empty folders and associated documents; two states
/// of it saved, A and B; a small dossier S.
fn build_restore_base(files: usize, rng: &mut Rng) -> RestoreTorture {
    let base = Base::new().collaborator("COMPT", "*");
    let mut d = base
        .dossier(R)
        .empty_dir("exports/vide")
        .file("documents/statuts.txt", "statuts\n")
        .file("documents/kbis/kbis.pdf", random_bytes(rng.next(), 20_000));
    for i in 0..files {
        let len = rng.range(0, 6000) as usize;
        d = d.file(
            &format!("compta/{:02}/ecr{i:05}.dat", i % 40),
            rng.content(len),
        );
    }
    let mut i = 0u64;
    let stamp = |p: &Path, i: &mut u64| {
        *i += 1;
        set_mtime(
            p,
            SystemTime::UNIX_EPOCH
                + Duration::new(
                    1_600_000_000 + *i * 37,
                    (*i as u32).wrapping_mul(7919) % 1_000_000_000,
                ),
        );
    };
    walk_files(&base.dossier_dir(R), &mut |p| stamp(p, &mut i));
    base.dossier("S")
        .file("compta/ecritures.dat", text_bytes(rng.next(), 20_000));
    base.run_compt(&[]).code(0);
    let a = base.copy_archive(R, "etat-A", "BR.SVG");
    let other = base.copy_archive("S", "autre", "BS.SVG");
    let tree_a = base.dossier_snapshot(R, true);

    // State B: a third of the files rewritten, a tenth removed, new files
    // in a new folder, the empty folder gone, another one.
    for (n, rel) in data_files(&base.dossier_dir(R)).iter().enumerate() {
        match rng.below(10) {
            0..=2 => {
                let len = rng.range(0, 6000) as usize;
                let c = rng.content(len);
                base.write(R, rel, c);
                stamp(&base.path(R, rel), &mut i);
            }
            3 if n % 2 == 0 => base.remove(R, rel),
            _ => {}
        }
    }
    for j in 0..files / 10 {
        let rel = format!("nouveaux/n{j:04}.dat");
        let len = rng.range(0, 6000) as usize;
        let c = rng.content(len);
        base.write(R, &rel, c);
        stamp(&base.path(R, &rel), &mut i);
    }
    fs::remove_dir(base.path(R, "exports/vide")).unwrap();
    fs::create_dir_all(base.path(R, "archives/2024")).unwrap();
    base.run_compt(&[]).code(0);
    let b = base.copy_archive(R, "etat-B", "BR.SVG");
    let tree_b = base.dossier_snapshot(R, true);
    assert!(tree_a != tree_b, "the two states of R must differ");
    RestoreTorture {
        base,
        rng: Rng::new(0, 0),
        trees: [tree_a, tree_b],
        archives: [a, b],
        other,
        current: 1,
        expected: Duration::ZERO,
        figures: RestoreFigures::default(),
        attempt: 0,
    }
}

impl RestoreTorture {
    fn spawn_restore(&mut self, archive: &Path) -> Running {
        self.attempt += 1;
        let args: Vec<OsString> = vec![
            "restore".into(),
            "--base".into(),
            self.base.root().into(),
            archive.into(),
        ];
        self.base
            .spawn(&args, &format!("torture-restore-{}", self.attempt))
    }

    /// Kills a restore of the other state as `at` says and checks what is
    /// left; with `simulate_first_rename`, when the kill left the switch
    /// ready but not started, does the first rename of the switch itself
    /// (live → `old-X`): exactly the state of a kill between the renames.
    /// Then settles it with a run or a restore of another dossier and
    /// checks the outcome. Returns the phase.
    fn kill_one(&mut self, k: u64, at: RestoreKillAt, simulate_first_rename: bool) -> Phase {
        let target = 1 - self.current;
        let (old, new) = (
            &self.trees[self.current].clone(),
            &self.trees[target].clone(),
        );
        let archive = self.archives[target].clone();
        let (new_dir, ready_dir, old_dir) = (
            temp_dir(&self.base, "new"),
            temp_dir(&self.base, "ready"),
            temp_dir(&self.base, "old"),
        );
        let live = self.base.dossier_dir(R);
        let mut p = self.spawn_restore(&archive);
        let t0 = Instant::now();
        match at {
            RestoreKillAt::Delay => std::thread::sleep(self.rng.delay(self.expected.mul_f64(1.1))),
            RestoreKillAt::OnExtraction => {
                poll(POLL_LIMIT, || new_dir.exists() || p.has_exited());
                std::thread::sleep(self.rng.delay(self.expected));
            }
            RestoreKillAt::OnSwitch => {
                poll(POLL_LIMIT, || {
                    ready_dir.exists() || old_dir.exists() || p.has_exited()
                });
            }
        }
        let at_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let (code, said) = p.kill9_said();
        self.figures.kills += 1;
        let when = format!("after restore kill #{k} ({at:?}, {at_ms:.1} ms)");
        if let Some(c) = code {
            assert_eq!(
                c, 0,
                "{when}: the restore ended by itself, with exit {c}\n{said}"
            );
            self.expected = self.expected.min(t0.elapsed());
        }

        // What the kill left.
        let (has_live, has_new, has_ready, has_old) = (
            live.exists(),
            new_dir.exists(),
            ready_dir.exists(),
            old_dir.exists(),
        );
        let live_tree = has_live.then(|| self.base.dossier_snapshot(R, true));
        let phase = match &live_tree {
            None => {
                // Between the two renames: both states complete, aside.
                assert!(
                    has_ready && has_old && !has_new,
                    "{when}: dossiers/{R} is missing and new={has_new} ready={has_ready} old={has_old}: the restore lost the dossier"
                );
                assert_same_snapshot(new, &tree_of(&ready_dir), &format!("{when}: ready-{R}"));
                assert_same_snapshot(old, &tree_of(&old_dir), &format!("{when}: old-{R}"));
                self.figures.snapshots_compared += 2;
                Phase::BetweenRenames
            }
            Some(t) => {
                self.figures.snapshots_compared += 1;
                let is_new = old_or_new(t, old, new, &format!("{when}: dossiers/{R}"));
                assert!(
                    !(has_new && has_ready),
                    "{when}: new-{R} and ready-{R} at once"
                );
                if is_new {
                    // Switched: nothing of the extraction is left aside.
                    assert!(
                        !has_new && !has_ready,
                        "{when}: dossiers/{R} is the new state, yet new={has_new} ready={has_ready}"
                    );
                    if has_old {
                        Phase::CleaningUp
                    } else {
                        Phase::Done
                    }
                } else {
                    assert!(
                        !has_old,
                        "{when}: dossiers/{R} is the old state, yet old-{R} exists"
                    );
                    if has_ready {
                        // Only a complete extraction is renamed ready.
                        assert_same_snapshot(
                            new,
                            &tree_of(&ready_dir),
                            &format!("{when}: ready-{R}"),
                        );
                        self.figures.snapshots_compared += 1;
                        Phase::Ready
                    } else if has_new {
                        Phase::Extracting
                    } else {
                        Phase::NotStarted
                    }
                }
            }
        };
        // (A kill after the cleanup, while the restore records and prints,
        // leaves nothing either: `Done` whether it was killed or not.)
        if code.is_some() {
            assert_eq!(
                phase,
                Phase::Done,
                "{when}: the restore ended by itself (exit 0): dossiers/{R} must be the new state, nothing left aside\n{said}"
            );
        }
        let mut expected_after = match live_tree {
            Some(t) => t,
            None => new.clone(),
        };
        let mut phase_name = format!("{phase:?}");
        if simulate_first_rename && phase == Phase::Ready {
            fs::rename(&live, &old_dir).unwrap();
            expected_after = new.clone();
            phase_name = "BetweenRenames (simulated: first rename done by the test)".into();
            self.figures.simulated_between_renames += 1;
        }
        *self.figures.phases.entry(phase_name.clone()).or_default() += 1;
        eprintln!(
            "torture restore kill #{k}: {at:?} at {at_ms:.1} ms (expected {:.0} ms), {} -> phase {phase_name}",
            self.expected.as_secs_f64() * 1000.0,
            if code.is_some() {
                "it had finished"
            } else {
                "killed"
            },
        );

        // The next command settles it: R as the kill left it, or the new
        // state if it was between the renames; nothing left aside.
        let leftovers = new_dir.exists() || ready_dir.exists() || old_dir.exists();
        if self.rng.chance(50) {
            let out = self.base.restore(&[&self.other]);
            out.code(0).restored("S", "BS.SVG");
            if leftovers {
                out.stdout_has(&[&format!("Dossier {R} : remontée interrompue précédemment")]);
            }
            self.figures.recovered_by_restore += 1;
        } else {
            self.base.run_compt(&[]).code(0);
            self.figures.recovered_by_run += 1;
        }
        self.base.assert_no_restore_leftovers();
        let after = self.base.dossier_snapshot(R, true);
        assert_same_snapshot(
            &expected_after,
            &after,
            &format!("{when}: dossiers/{R} once settled by the next command"),
        );
        self.figures.snapshots_compared += 1;
        self.current = if old_or_new(&after, old, new, "dossiers/R") {
            target
        } else {
            1 - target
        };
        phase
    }
}

#[test]
#[ignore = "large (restores killed over and over, about 30 s): scripts/test"]
fn torture_kill_9_restore_leaves_the_old_or_the_new_dossier_whole() {
    let t_start = Instant::now();
    let settings = Settings::from_env();
    let mut rng = Rng::new(settings.seed, 2);
    let files = (600 + settings.mb as usize * 10).min(5000);
    let mut t = build_restore_base(files, &mut rng);
    t.rng = rng;

    // Calibration: two restores, uninterrupted, timed (A, then B back); the
    // shorter (the first flushes may pay for whatever the machine wrote
    // before), lowered again whenever a restore is seen finished sooner.
    let mut took = Duration::MAX;
    for state in [0, 1] {
        let t0 = Instant::now();
        t.base
            .restore(&[&t.archives[state]])
            .code(0)
            .restored(R, "BR.SVG");
        took = took.min(t0.elapsed());
        assert_same_snapshot(
            &t.trees[state],
            &t.base.dossier_snapshot(R, true),
            &format!("R restored to state {}", ["A", "B"][state]),
        );
        t.base.assert_no_restore_leftovers();
    }
    t.expected = took;
    t.current = 1;
    eprintln!(
        "torture restore base: {files} files in R; an uninterrupted restore takes {:.0} ms",
        t.expected.as_secs_f64() * 1000.0
    );

    let mut between = 0;
    for k in 0..settings.restore_kills {
        let at = match k % 3 {
            0 => RestoreKillAt::Delay,
            1 => RestoreKillAt::OnExtraction,
            _ => RestoreKillAt::OnSwitch,
        };
        let simulate = t.rng.chance(50);
        let phase = t.kill_one(k, at, simulate);
        if phase == Phase::BetweenRenames || (simulate && phase == Phase::Ready) {
            between += 1;
        }
    }
    // A kill between the two renames must have been settled at least once:
    // kill on the switch until one lands before it, and do the first rename.
    let mut k = settings.restore_kills;
    while between == 0 && k < settings.restore_kills + 20 {
        let phase = t.kill_one(k, RestoreKillAt::OnSwitch, true);
        if matches!(phase, Phase::BetweenRenames | Phase::Ready) {
            between += 1;
        }
        k += 1;
    }
    assert!(
        between > 0,
        "no restore kill landed before the switch in 20 tries: the state between the renames was never checked"
    );

    let f = &t.figures;
    eprintln!(
        "torture figures (restore): seed={} files={files} restore_kills={} phases={:?} simulated_between_renames={} recovered_by_run={} recovered_by_restore={} trees_compared={} elapsed={:.1}s",
        settings.seed,
        f.kills,
        f.phases,
        f.simulated_between_renames,
        f.recovered_by_run,
        f.recovered_by_restore,
        f.snapshots_compared,
        t_start.elapsed().as_secs_f64()
    );
    let interrupted = f
        .phases
        .iter()
        .filter(|(p, _)| !p.starts_with("Done") && !p.starts_with("NotStarted"))
        .map(|(_, n)| n)
        .sum::<u64>();
    assert!(
        interrupted > 0,
        "no restore was killed while under way: the torture tested nothing"
    );
}

/// README ("Restore"): "A crash at any moment leaves the old dossier or the
/// new one complete; the next `run`, `restore` or `import` settles what was
/// left aside (and says so)." The run too: on stdout, stderr, or in its
/// report.
#[test]
fn torture_a_run_settling_a_killed_restore_says_so() {
    let settings = Settings::from_env();
    let mut rng = Rng::new(settings.seed, 3);
    let mut t = build_restore_base(1500, &mut rng);
    let new_dir = temp_dir(&t.base, "new");
    let archive = t.archives[0].clone();
    // Killed during the extraction (it lasts hundreds of ms): `new-R` left.
    let mut caught = false;
    for _ in 0..5 {
        let mut p = t.spawn_restore(&archive);
        poll(POLL_LIMIT, || new_dir.exists() || p.has_exited());
        let (code, said) = p.kill9_said();
        if new_dir.exists() {
            caught = true;
            break;
        }
        assert_eq!(code, Some(0), "{said}");
        // It finished: back to state B, and again.
        t.base.restore(&[&t.archives[1]]).code(0);
    }
    assert!(caught, "could not kill a restore during its extraction");
    let before = t.base.dossier_snapshot(R, true);

    let out = t.base.run_compt(&[]);
    out.code(0);
    t.base.assert_no_restore_leftovers();
    assert_same_snapshot(
        &before,
        &t.base.dossier_snapshot(R, true),
        "R, settled by the run",
    );
    let report = t.base.report();
    let json = t.base.report_json();
    let says = |text: &str| text.contains("remontée interrompue") && text.contains(R);
    assert!(
        says(&out.stdout)
            || says(&out.stderr)
            || says(&report.text)
            || says(&json.value.to_string()),
        "the run settled what a killed restore left in dossiers/, and must say so (stdout, stderr or report)\n{out}\n{report}"
    );
}

/// Two kills in a row. A run killed while `BX.SVG.partial` was being
/// written, before the catalog's in-progress marker was committed (the
/// worker announces the dossier, then writes; the catalog's writer commits
/// a moment later), leaves only the `.partial` to say that X was under way
/// (README: "the catalog's in-progress marker or a leftover `.partial` says
/// which"). The next run removes that `.partial` first thing; killed in
/// turn before it recorded anything of X, the information must survive: the
/// status says X was interrupted, and the run after redoes X first, its
/// line saying `reprise` (DESIGN.md §3).
#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn torture_a_dossier_under_way_stays_interrupted_when_the_next_run_is_killed_too() {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("X").file("a.bin", random_bytes(7, 2 << 20));
    // Some work before X is taken up again: a scan of many dossiers.
    for i in 0..40u64 {
        base.dossier(&format!("D{i:02}"))
            .file("a.txt", text_bytes(i, 20_000));
    }
    base.run_compt(&[]).code(0);
    let archive = archive_id(&base.archive("X"));
    let partial = base.sauve().join("BX.SVG.partial");
    let mut caught = None;
    for attempt in 0..20 {
        // What the first kill left: the head of an archive.
        fs::write(&partial, &fs::read(base.archive("X")).unwrap()[..4096]).unwrap();
        let mut run = base.spawn_run(&["--user", "COMPT"], &format!("second-kill-{attempt}"));
        poll(POLL_LIMIT, || !partial.exists() || run.has_exited());
        let code = run.kill9();
        if code.is_none() && !partial.exists() && archive_id(&base.archive("X")) == archive {
            caught = Some(attempt);
            break;
        }
        // The run had finished X, or written a new `.partial`: again.
        base.run_compt(&[]).code(0);
    }
    let attempt = caught.expect(
        "could not kill the second run after it removed the .partial and before it finished X",
    );
    eprintln!("torture: second run killed after it removed BX.SVG.partial (attempt {attempt})");

    if let Some((out, v)) = status_json(&base) {
        let d = status_entry(&v, "X", &out);
        assert_eq!(
            d["last_result"], "interrupted",
            "X was under way when the first run died, and not finished by the second: status\n{d:#}"
        );
    }
    base.run_compt(&[]).code(0);
    let report = base.report();
    let line = report.line("X");
    assert!(
        line.starts_with(&saved_line("X")) && line.contains(REPRISE),
        "X's backup was under way when a run died and no run finished it since: redone, and its line says `reprise`\n{report}"
    );
    assert_eq!(report.codes()[0], "X", "redone first\n{report}");
    base.assert_archive_matches("X", false);
}
