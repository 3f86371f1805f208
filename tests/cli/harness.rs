//! The test harness: a builder that lays out a base of dossiers in a temp
//! folder (DESIGN.md §2), helpers that run the real `svgauto` binary and
//! read what it leaves behind (reports, archives), and assertions that print
//! a readable account of what differs when they fail.
//!
//! Everything here goes through the file system and the command line, like a
//! scheduled task would: the tests never call the library.

#![allow(dead_code)] // every test module uses a different part of it

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_svgauto");

/// No single command of these tests takes more than a few seconds; this only
/// turns a hang into a failure.
const TIMEOUT: Duration = Duration::from_secs(120);

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

// ---------------------------------------------------------------------------
// The base builder
// ---------------------------------------------------------------------------

/// A base in a temp folder: `<tmp>/base/` is the base, `<tmp>/` also holds
/// scratch files (workstation settings, extractions) outside it.
pub struct Base {
    tmp: tempfile::TempDir,
    root: PathBuf,
    /// `[collaborators.X] dossiers = <value>`, in order.
    collaborators: RefCell<Vec<(String, String)>>,
    /// `[section] key = <value>` (values are TOML text).
    settings: RefCell<BTreeMap<String, Vec<(String, String)>>>,
    /// The text reports in the order the runs wrote them, as the harness
    /// saw them appear (see [`Base::reports`]).
    seen_reports: RefCell<Vec<PathBuf>>,
}

impl Default for Base {
    fn default() -> Self {
        Self::new()
    }
}

impl Base {
    /// An empty base: `base.toml` without collaborators and `dossiers/`.
    pub fn new() -> Base {
        let tmp = tempfile::Builder::new()
            .prefix("svgauto-test-")
            .tempdir()
            .expect("temp dir");
        let root = tmp.path().join("base");
        fs::create_dir_all(root.join("dossiers")).unwrap();
        let base = Base {
            tmp,
            root,
            collaborators: RefCell::new(Vec::new()),
            settings: RefCell::new(BTreeMap::new()),
            seen_reports: RefCell::new(Vec::new()),
        };
        base.write_base_toml();
        base
    }

    /// `[collaborators.<user>] dossiers = "*"` when `rights` is `"*"`,
    /// otherwise `rights` is a comma-separated list of codes.
    pub fn collaborator(self, user: &str, rights: &str) -> Base {
        let value = if rights == "*" {
            "\"*\"".to_owned()
        } else {
            let codes: Vec<String> = rights
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| format!("\"{c}\""))
                .collect();
            format!("[{}]", codes.join(", "))
        };
        self.collaborators
            .borrow_mut()
            .push((user.to_owned(), value));
        self.write_base_toml();
        self
    }

    /// Builder form of [`Base::set`].
    pub fn setting(self, section: &str, key: &str, toml_value: &str) -> Base {
        self.set(section, key, toml_value);
        self
    }

    /// Sets `[section] key = toml_value` in `base.toml` (rewritten whole, so
    /// a section never appears twice).
    pub fn set(&self, section: &str, key: &str, toml_value: &str) {
        {
            let mut s = self.settings.borrow_mut();
            let keys = s.entry(section.to_owned()).or_default();
            keys.retain(|(k, _)| k != key);
            keys.push((key.to_owned(), toml_value.to_owned()));
        }
        self.write_base_toml();
    }

    fn write_base_toml(&self) {
        let mut t = String::from("# written by the svgauto test harness\n");
        for (section, keys) in self.settings.borrow().iter() {
            let _ = writeln!(t, "\n[{section}]");
            for (k, v) in keys {
                let _ = writeln!(t, "{k} = {v}");
            }
        }
        for (user, value) in self.collaborators.borrow().iter() {
            let _ = writeln!(t, "\n[collaborators.{user}]\ndossiers = {value}");
        }
        fs::write(self.root.join("base.toml"), t).unwrap();
    }

    /// Starts a dossier `<base>/dossiers/<code>/` with a default
    /// `dossier.toml` (original, normal, transferable).
    pub fn dossier(&self, code: &str) -> Dossier {
        let d = Dossier {
            dir: self.root.join("dossiers").join(code),
            code: code.to_owned(),
            status: "original".into(),
            kind: "normal".into(),
            transferable: true,
            raw: false,
        };
        fs::create_dir_all(&d.dir).unwrap();
        d.write_toml();
        d
    }

    /// The three kinds the batch never saves: an étalon `ETALON`, a test
    /// `TEST01` and a non-transferable `CONFID`, each with a small file.
    pub fn excluded_dossiers(&self) {
        self.dossier("ETALON")
            .kind("etalon")
            .file("plan.dat", "plan\n");
        self.dossier("TEST01")
            .kind("test")
            .file("plan.dat", "plan\n");
        self.dossier("CONFID")
            .transferable(false)
            .file("plan.dat", "plan\n");
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path in the temp folder, outside the base.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The temp folder itself: the base and every scratch file are under
    /// it, so a snapshot of it tells whether a command wrote anywhere.
    pub fn top(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes a workstation settings file (for `--config`) outside the base.
    pub fn config_file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.scratch(name);
        fs::write(&p, text).unwrap();
        p
    }

    // -- files of dossiers ---------------------------------------------------

    pub fn dossier_dir(&self, code: &str) -> PathBuf {
        self.root.join("dossiers").join(code)
    }

    pub fn path(&self, code: &str, rel: &str) -> PathBuf {
        self.dossier_dir(code).join(rel)
    }

    pub fn write(&self, code: &str, rel: &str, bytes: impl AsRef<[u8]>) {
        let p = self.path(code, rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }

    pub fn append(&self, code: &str, rel: &str, bytes: impl AsRef<[u8]>) {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.path(code, rel))
            .unwrap();
        f.write_all(bytes.as_ref()).unwrap();
    }

    pub fn remove(&self, code: &str, rel: &str) {
        fs::remove_file(self.path(code, rel)).unwrap();
    }

    pub fn rename(&self, code: &str, from: &str, to: &str) {
        let to = self.path(code, to);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::rename(self.path(code, from), to).unwrap();
    }

    /// Changes only the modification time of a file.
    pub fn set_mtime(&self, code: &str, rel: &str, t: SystemTime) {
        set_mtime(&self.path(code, rel), t);
    }

    // -- running svgauto -----------------------------------------------------

    /// Waits until the newest change in the base's dossiers is older than
    /// svgauto's racy window for sub-second stamps (scan::FINE_TICK, 100 ms):
    /// a run started sooner cannot prove those files unchanged and saves
    /// them again at the next run — right for svgauto, but not what a test
    /// of another rule means. `racy.rs` runs svgauto without this wait.
    pub fn settle(&self) {
        settle(&self.root.join("dossiers"));
    }

    /// A command for the binary with a clean environment for the variables
    /// svgauto reads, and a timeout; the dossiers are [settled](Base::settle).
    pub fn command(&self, args: &[&str]) -> assert_cmd::Command {
        self.settle();
        self.command_unsettled(args)
    }

    /// `svgauto <args>` as the unprivileged account `nobody` (through
    /// `setpriv`: the tests run as root), from `/`, the dossiers settled
    /// first; add the arguments.
    #[cfg(unix)]
    pub fn command_as_nobody(&self) -> assert_cmd::Command {
        self.settle();
        self.note_new_reports();
        let mut c = assert_cmd::Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN])
            .env_remove("SVGAUTO_CONFIG")
            .env_remove("SVGAUTO_NOW")
            .current_dir("/")
            .timeout(TIMEOUT);
        c
    }

    /// [`Base::command`] without waiting for the dossiers to settle.
    pub fn command_unsettled(&self, args: &[&str]) -> assert_cmd::Command {
        self.note_new_reports();
        let mut c = assert_cmd::Command::new(BIN);
        c.args(args)
            .env_remove("SVGAUTO_CONFIG")
            .env_remove("SVGAUTO_NOW")
            .current_dir(self.tmp.path())
            .timeout(TIMEOUT);
        c
    }

    /// `svgauto <args>`.
    pub fn svgauto(&self, args: &[&str]) -> Out {
        Out::of(&mut self.command(args))
    }

    /// `svgauto run --base <base> --no-progress <args>`.
    pub fn run(&self, args: &[&str]) -> Out {
        Out::of(&mut self.command(&self.run_args(args)))
    }

    /// `svgauto run --base <base> --no-progress --user COMPT <args>`.
    pub fn run_compt(&self, args: &[&str]) -> Out {
        let mut a = vec!["--user", "COMPT"];
        a.extend_from_slice(args);
        self.run(&a)
    }

    pub fn run_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec![
            "run",
            "--base",
            self.root.to_str().unwrap(),
            "--no-progress",
        ];
        a.extend_from_slice(args);
        a
    }

    /// Starts `svgauto run …` in the background, its output going to files
    /// in the scratch folder, for the tests that kill it.
    pub fn spawn_run(&self, args: &[&str], tag: &str) -> Running {
        self.spawn(&self.run_args(args), tag)
    }

    /// Starts `svgauto <args>` in the background, its output going to
    /// `<tag>.stdout` and `<tag>.stderr` in the scratch folder.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], tag: &str) -> Running {
        self.settle();
        self.note_new_reports();
        let stdout = self.scratch(&format!("{tag}.stdout"));
        let stderr = self.scratch(&format!("{tag}.stderr"));
        let child = std::process::Command::new(BIN)
            .args(args)
            .env_remove("SVGAUTO_CONFIG")
            .env_remove("SVGAUTO_NOW")
            .current_dir(self.tmp.path())
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn svgauto");
        let what: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        Running {
            child: Some(child),
            what: format!("svgauto {}", what.join(" ")),
            stdout,
            stderr,
        }
    }

    /// `svgauto hold --base <base> --dossier <code>`: returns once the lock
    /// is taken (the holder said so on stdout); the lock goes with the guard.
    pub fn hold(&self, code: &str) -> Holder {
        self.note_new_reports();
        let mut child = std::process::Command::new(BIN)
            .args([
                "hold",
                "--base",
                self.root.to_str().unwrap(),
                "--dossier",
                code,
            ])
            .env_remove("SVGAUTO_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn svgauto hold");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let res = r.read_line(&mut line).map(|_| line);
            let _ = tx.send((res, r));
        });
        let expected = format!("Verrou pris sur le dossier {code}");
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((Ok(line), reader)) if line.trim_end() == expected => Holder {
                child,
                _stdout: Some(reader),
            },
            other => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "`svgauto hold --dossier {code}` did not print {expected:?}: got {:?}\nexit: {:?}\nstderr:\n{}",
                    other.map(|(l, _)| l),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }

    // -- what a run leaves ---------------------------------------------------

    pub fn sauve(&self) -> PathBuf {
        self.root.join("sauve")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.sauve().join("log")
    }

    pub fn archive(&self, code: &str) -> PathBuf {
        self.sauve().join(format!("B{code}.SVG"))
    }

    /// Codes of the `B*.SVG` files in `sauve/`.
    pub fn archived(&self) -> BTreeSet<String> {
        let Ok(rd) = fs::read_dir(self.sauve()) else {
            return BTreeSet::new();
        };
        rd.filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            Some(name.strip_prefix('B')?.strip_suffix(".SVG")?.to_owned())
        })
        .collect()
    }

    /// Every `*.partial` file under `sauve/`.
    pub fn partials(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk_files(&self.sauve(), &mut |p| {
            if p.to_string_lossy().ends_with(".partial") {
                out.push(p.to_owned());
            }
        });
        out
    }

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
    fn note_new_reports(&self) {
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

    /// Identity of every archive: to tell later which were rewritten.
    pub fn stamps(&self) -> Stamps {
        Stamps(
            self.archived()
                .into_iter()
                .map(|code| {
                    let s = Stamp::of(&self.archive(&code));
                    (code, s)
                })
                .collect(),
        )
    }

    /// The files and folders of a dossier as an archive must hold them:
    /// without the lock file, and without `documents/` unless included.
    pub fn dossier_tree(&self, code: &str, include_documents: bool) -> Tree {
        read_tree(&self.dossier_dir(code), &|rel| {
            rel == "dossier.lock"
                || (!include_documents && (rel == "documents" || rel.starts_with("documents/")))
        })
    }

    /// `7zz t` the archive, extract it with `7zz x` and compare it with the
    /// dossier, file by file and byte by byte (the manifest aside). Returns
    /// the extraction folder.
    pub fn assert_archive_matches(&self, code: &str, include_documents: bool) -> PathBuf {
        let archive = self.archive(code);
        assert!(
            archive.is_file(),
            "no archive {}; sauve/ holds {:?}",
            archive.display(),
            list_dir(&self.sauve())
        );
        sevenz_test(&archive);
        let dest = self.scratch(&format!("x-{code}-{}", unique()));
        sevenz_extract(&archive, &dest);
        let got = read_tree(&dest, &|rel| {
            rel == ".svgauto" || rel == ".svgauto/manifest.json"
        });
        let want = self.dossier_tree(code, include_documents);
        assert_same_tree(
            &want,
            &got,
            &format!("archive {} vs dossier {code}", archive.display()),
        );
        assert!(
            dest.join(".svgauto/manifest.json").is_file(),
            "{}: no .svgauto/manifest.json entry",
            archive.display()
        );
        assert_eq!(
            last_entry(&archive),
            ".svgauto/manifest.json",
            "{}: the manifest must be the last entry",
            archive.display()
        );
        dest
    }
}

pub struct Dossier {
    dir: PathBuf,
    code: String,
    status: String,
    kind: String,
    transferable: bool,
    raw: bool,
}

impl Dossier {
    fn write_toml(&self) {
        if self.raw {
            return;
        }
        fs::write(
            self.dir.join("dossier.toml"),
            format!(
                "code = \"{}\"\nname = \"Dossier {}\"\nstatus = \"{}\"\nkind = \"{}\"\ntransferable = {}\n",
                self.code, self.code, self.status, self.kind, self.transferable
            ),
        )
        .unwrap();
    }

    pub fn status(mut self, status: &str) -> Self {
        self.status = status.into();
        self.write_toml();
        self
    }

    pub fn kind(mut self, kind: &str) -> Self {
        self.kind = kind.into();
        self.write_toml();
        self
    }

    pub fn transferable(mut self, t: bool) -> Self {
        self.transferable = t;
        self.write_toml();
        self
    }

    /// Replaces `dossier.toml` by this text, or removes it (`None`).
    pub fn raw_toml(mut self, text: Option<&str>) -> Self {
        self.raw = true;
        let p = self.dir.join("dossier.toml");
        match text {
            Some(t) => fs::write(p, t).unwrap(),
            None => {
                let _ = fs::remove_file(p);
            }
        }
        self
    }

    pub fn file(self, rel: &str, bytes: impl AsRef<[u8]>) -> Self {
        let p = self.dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
        self
    }

    pub fn empty_dir(self, rel: &str) -> Self {
        fs::create_dir_all(self.dir.join(rel)).unwrap();
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

// ---------------------------------------------------------------------------
// Commands and their output
// ---------------------------------------------------------------------------

/// What a finished command gave.
pub struct Out {
    pub cmdline: String,
    /// `None` when killed by a signal (or by the harness' timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn of(cmd: &mut assert_cmd::Command) -> Out {
        let cmdline = format!(
            "{} {}",
            cmd.get_program().to_string_lossy(),
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let o = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmdline}: {e}"));
        Out {
            cmdline,
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the exit code is `expected`.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert!(
            self.code == Some(expected),
            "expected exit code {expected}\n{self}"
        );
        self
    }

    /// Panics unless stderr contains every one of `needles`.
    #[track_caller]
    pub fn stderr_has(&self, needles: &[&str]) -> &Self {
        self.stream_has("stderr", &self.stderr, needles)
    }

    /// Panics unless `text` (the named output stream) contains every one of
    /// `needles`.
    #[track_caller]
    fn stream_has(&self, name: &str, text: &str, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(text.contains(n), "{name} should contain {n:?}\n{self}");
        }
        self
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.cmdline)?;
        writeln!(f, "exit code: {:?}", self.code)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

/// A `svgauto` command in the background; killed if still running when
/// dropped.
pub struct Running {
    child: Option<Child>,
    what: String,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Kills it (SIGKILL on Unix: no chance to clean up) and reaps it.
    pub fn kill9(self) -> Option<i32> {
        self.kill9_said().0
    }

    /// [`Running::kill9`], with what it had printed: the exit code if it had
    /// ended by itself first.
    pub fn kill9_said(mut self) -> (Option<i32>, String) {
        let mut c = self.child.take().unwrap();
        let _ = c.kill();
        let code = c.wait().unwrap().code();
        let said = format!(
            "--- stdout ---\n{}--- stderr ---\n{}",
            fs::read_to_string(&self.stdout).unwrap_or_default(),
            fs::read_to_string(&self.stderr).unwrap_or_default()
        );
        (code, said)
    }

    pub fn has_exited(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_some()
    }

    /// Waits for the end (bounded by the harness' timeout).
    pub fn wait(mut self) -> Out {
        let mut c = self.child.take().unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(s) = c.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > TIMEOUT {
                let _ = c.kill();
                break c.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Out {
            cmdline: format!("{} (pid {})", self.what, c.id()),
            code: status.code(),
            stdout: fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A `svgauto hold` holding a dossier's lock; killed when dropped.
pub struct Holder {
    child: Child,
    _stdout: Option<BufReader<std::process::ChildStdout>>,
}

impl Holder {
    /// Ends the holder and waits until it is gone (the OS drops its lock).
    pub fn release(self) {}
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every few milliseconds until it holds or `timeout` passes;
/// for the few things no event tells (a file appearing under a running
/// process).
pub fn wait_until(timeout: Duration, cond: impl FnMut() -> bool) -> bool {
    poll_every(Duration::from_millis(2), timeout, cond)
}

/// [`wait_until`], checking every `interval` (finer for short windows).
pub fn poll_every(interval: Duration, timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(interval);
    }
}

/// xorshift64*: the random choices of a test, replayable from its seed;
/// `stream` separates the sequences of one seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng((seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            | 1);
        r.next();
        r
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// In `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next() % (hi - lo)
        }
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.range(0, n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// Compressible or incompressible bytes, half and half.
    pub fn content(&mut self, len: usize) -> Vec<u8> {
        if self.chance(50) {
            random_bytes(self.next(), len)
        } else {
            text_bytes(self.next(), len)
        }
    }

    /// A duration in `0..n` milliseconds.
    pub fn millis(&mut self, n: u64) -> Duration {
        Duration::from_millis(self.range(0, n))
    }

    /// A duration in `0..max`.
    pub fn delay(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.range(0, max.as_micros().max(1) as u64))
    }
}

/// The seed of a randomized test: `SVGAUTO_TEST_SEED`, else one from the
/// clock — printed, so a failure can be replayed.
pub fn test_seed() -> u64 {
    let seed = std::env::var("SVGAUTO_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64
        });
    eprintln!("SVGAUTO_TEST_SEED={seed}");
    seed
}

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Archives
// ---------------------------------------------------------------------------

/// What tells an archive file apart from a rewritten one.
#[derive(Clone, PartialEq, Eq)]
pub struct Stamp {
    #[cfg(unix)]
    ino: u64,
    mtime: SystemTime,
    bytes: Vec<u8>,
}

impl Stamp {
    pub fn of(p: &Path) -> Stamp {
        let md = fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        Stamp {
            #[cfg(unix)]
            ino: std::os::unix::fs::MetadataExt::ino(&md),
            mtime: md.modified().unwrap(),
            bytes: fs::read(p).unwrap(),
        }
    }

    fn describe_change(&self, new: &Stamp) -> String {
        let mut what = Vec::new();
        #[cfg(unix)]
        if self.ino != new.ino {
            what.push("new file (inode)".to_owned());
        }
        if self.mtime != new.mtime {
            what.push(format!("mtime {:?} -> {:?}", self.mtime, new.mtime));
        }
        if self.bytes != new.bytes {
            what.push(format!(
                "bytes differ ({} -> {} bytes)",
                self.bytes.len(),
                new.bytes.len()
            ));
        }
        what.join(", ")
    }
}

pub struct Stamps(pub BTreeMap<String, Stamp>);

impl Stamps {
    /// Asserts the archives rewritten (or created) since `self` are exactly
    /// `expected`, and that none disappeared.
    #[track_caller]
    pub fn assert_rewritten(&self, after: &Stamps, expected: &[&str]) {
        let expected: BTreeSet<&str> = expected.iter().copied().collect();
        let mut msg = String::new();
        for (code, old) in &self.0 {
            match after.0.get(code) {
                None => {
                    let _ = writeln!(msg, "  B{code}.SVG disappeared");
                }
                Some(new) => {
                    let changed = old != new;
                    if changed && !expected.contains(code.as_str()) {
                        let _ = writeln!(
                            msg,
                            "  B{code}.SVG was rewritten: {}",
                            old.describe_change(new)
                        );
                    }
                    if !changed && expected.contains(code.as_str()) {
                        let _ = writeln!(
                            msg,
                            "  B{code}.SVG was expected to be rewritten but is untouched"
                        );
                    }
                }
            }
        }
        for code in after.0.keys() {
            if !self.0.contains_key(code) && !expected.contains(code.as_str()) {
                let _ = writeln!(msg, "  B{code}.SVG appeared");
            }
        }
        for code in &expected {
            if !after.0.contains_key(*code) {
                let _ = writeln!(msg, "  B{code}.SVG was expected but does not exist");
            }
        }
        assert!(
            msg.is_empty(),
            "archives rewritten: expected exactly {expected:?}\n{msg}"
        );
    }

    #[track_caller]
    pub fn assert_untouched(&self, after: &Stamps) {
        self.assert_rewritten(after, &[]);
    }
}

/// The name of the last entry of a zip archive.
pub fn last_entry(archive: &Path) -> String {
    let z = zip::ZipArchive::new(fs::File::open(archive).unwrap())
        .unwrap_or_else(|e| panic!("{}: not a zip archive: {e}", archive.display()));
    let n = z.len();
    assert!(n > 0, "{}: empty archive", archive.display());
    z.name_for_index(n - 1).unwrap().unwrap().into_owned()
}

/// Compression method of every entry: name → method.
pub fn entry_methods(archive: &Path) -> BTreeMap<String, zip::CompressionMethod> {
    let mut z = zip::ZipArchive::new(fs::File::open(archive).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let f = z.by_index_raw(i).unwrap();
            (f.name().unwrap().into_owned(), f.compression())
        })
        .collect()
}

/// `7zz` or else `7z` from the PATH; these tests need one of them.
pub fn seven_zip() -> PathBuf {
    find_program(&["7zz", "7z"]).unwrap_or_else(|| {
        panic!("7-Zip not found on the PATH (looked for 7zz, 7z): install it (Debian/Ubuntu: apt-get install 7zip) — these tests need it")
    })
}

/// The first of `names` found on the PATH.
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in names {
        for dir in std::env::split_paths(&path) {
            for candidate in [dir.join(name), dir.join(format!("{name}.exe"))] {
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
        }
    }
    None
}

fn run_tool(program: &Path, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let o = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    (
        o.status.success(),
        format!(
            "$ {} {}\nexit: {}\n{}{}",
            program.display(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// `7zz t <archive>` must succeed.
#[track_caller]
pub fn sevenz_test(archive: &Path) {
    let (ok, out) = run_tool(&seven_zip(), &["t".as_ref(), archive.as_os_str()]);
    assert!(ok, "7-Zip finds {} damaged:\n{out}", archive.display());
}

/// `7zz x -o<dest> -y <archive>`.
#[track_caller]
pub fn sevenz_extract(archive: &Path, dest: &Path) {
    let o = format!("-o{}", dest.display());
    let (ok, out) = run_tool(
        &seven_zip(),
        &["x".as_ref(), o.as_ref(), "-y".as_ref(), archive.as_os_str()],
    );
    assert!(ok, "7-Zip cannot extract {}:\n{out}", archive.display());
}

/// `unzip -t <archive>` must succeed (Info-ZIP: deflate archives).
#[track_caller]
pub fn unzip_test(archive: &Path) {
    let unzip = find_program(&["unzip"])
        .unwrap_or_else(|| panic!("Info-ZIP unzip not found on the PATH: install it (apt-get install unzip) — this test needs it"));
    let (ok, out) = run_tool(&unzip, &["-t".as_ref(), archive.as_os_str()]);
    assert!(ok, "unzip -t finds {} damaged:\n{out}", archive.display());
}

// ---------------------------------------------------------------------------
// Trees of files
// ---------------------------------------------------------------------------

#[derive(Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File(Vec<u8>),
}

/// Relative path (with `/`) → node, for every file and folder under `root`
/// except those `skip` names (a skipped folder is not entered).
pub type Tree = BTreeMap<String, Node>;

pub fn read_tree(root: &Path, skip: &dyn Fn(&str) -> bool) -> Tree {
    fn go(dir: &Path, prefix: &str, skip: &dyn Fn(&str) -> bool, out: &mut Tree) {
        for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let e = e.unwrap();
            let name = e
                .file_name()
                .into_string()
                .unwrap_or_else(|n| panic!("non UTF-8 name {n:?} in {}", dir.display()));
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if skip(&rel) {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                out.insert(rel.clone(), Node::Dir);
                go(&e.path(), &rel, skip, out);
            } else {
                out.insert(rel, Node::File(fs::read(e.path()).unwrap()));
            }
        }
    }
    let mut out = Tree::new();
    go(root, "", skip, &mut out);
    out
}

/// Shows a name with its non-ASCII characters spelled out, so that an NFC
/// and an NFD name look different in a failure message.
pub fn show(name: &str) -> String {
    if name.is_ascii() {
        return name.to_owned();
    }
    let escaped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", c as u32)
            }
        })
        .collect();
    format!("{name} [{escaped}]")
}

/// Panics with a per-path account of the differences.
#[track_caller]
pub fn assert_same_tree(want: &Tree, got: &Tree, what: &str) {
    let mut msg = String::new();
    for (p, w) in want {
        match (w, got.get(p)) {
            (_, None) => {
                let _ = writeln!(msg, "  missing:  {}", show(p));
            }
            (Node::Dir, Some(Node::File(_))) => {
                let _ = writeln!(msg, "  expected a folder, got a file: {}", show(p));
            }
            (Node::File(_), Some(Node::Dir)) => {
                let _ = writeln!(msg, "  expected a file, got a folder: {}", show(p));
            }
            (Node::File(a), Some(Node::File(b))) if a != b => {
                let at = first_difference(a, b);
                let _ = writeln!(
                    msg,
                    "  differs:  {} (expected {} bytes, got {} bytes, first difference at byte {at})",
                    show(p),
                    a.len(),
                    b.len()
                );
            }
            _ => {}
        }
    }
    for p in got.keys() {
        if !want.contains_key(p) {
            let _ = writeln!(msg, "  unexpected: {}", show(p));
        }
    }
    assert!(msg.is_empty(), "{what}: trees differ\n{msg}");
}

/// Calls `f` on every file under `dir` (recursively); nothing if `dir` does
/// not exist.
pub fn walk_files(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            walk_files(&e.path(), f);
        } else {
            f(&e.path());
        }
    }
}

pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn set_mtime(p: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .set_modified(t)
        .unwrap();
}

pub fn mtime(p: &Path) -> SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
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

// ---------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------

/// Deterministic incompressible bytes (xorshift64*).
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Deterministic compressible text: accounting-like lines.
pub fn text_bytes(seed: u64, len: usize) -> Vec<u8> {
    let r = random_bytes(seed, len / 8 + 64);
    let mut out = Vec::with_capacity(len + 80);
    let mut i = 0usize;
    while out.len() < len {
        let n = u32::from_le_bytes([
            r[i % r.len()],
            r[(i + 1) % r.len()],
            r[(i + 2) % r.len()],
            0,
        ]);
        let _ = writeln!(
            WriteBytes(&mut out),
            "VT;2025{:02}{:02};VT{i:06};411000;Facture client {};{}.{:02};0.00",
            n % 12 + 1,
            n % 28 + 1,
            n % 9973,
            n % 100_000,
            n % 100
        );
        i += 1;
    }
    out.truncate(len);
    out
}

struct WriteBytes<'a>(&'a mut Vec<u8>);

impl fmt::Write for WriteBytes<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A value that differs at each call, for scratch folder names.
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Reads a whole file as a string, with the path in the panic.
pub fn read_to_string(p: &Path) -> String {
    let mut s = String::new();
    fs::File::open(p)
        .and_then(|mut f| f.read_to_string(&mut s))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    s
}

/// A base of `n` dossiers `D01…`, each with `random_kb` of incompressible and
/// `text_kb` of compressible data in a few files: big enough for a run to
/// last a little while with `--threads 1`.
pub fn big_base(n: usize, random_kb: usize, text_kb: usize) -> Base {
    let base = Base::new().collaborator("COMPT", "*");
    for i in 0..n {
        let code = format!("D{i:02}");
        let s = i as u64 * 1000;
        base.dossier(&code)
            .file("compta/ecritures.dat", text_bytes(s + 1, text_kb * 1024))
            .file("compta/pieces.bin", random_bytes(s + 2, random_kb * 1024))
            .file("compta/plan.dat", text_bytes(s + 3, 4096))
            .file("parametres.ini", format!("[dossier]\ncode={code}\n"));
    }
    base
}

/// A set of codes, to compare with [`Base::archived`].
pub fn set(codes: &[&str]) -> BTreeSet<String> {
    codes.iter().map(|c| (*c).to_owned()).collect()
}

// ---------------------------------------------------------------------------
// Restore, import, verify
// ---------------------------------------------------------------------------

/// The manifest's entry name (DESIGN.md §5).
pub const MANIFEST: &str = ".svgauto/manifest.json";

impl Base {
    /// `svgauto restore --base <base> <files…>`.
    pub fn restore(&self, files: &[&Path]) -> Out {
        Out::of(
            self.command(&["restore", "--base"])
                .arg(&self.root)
                .args(files),
        )
    }

    /// `svgauto restore --to <dir> <files…>` (no `--base`).
    pub fn restore_to(&self, dir: &Path, files: &[&Path]) -> Out {
        Out::of(self.command(&["restore", "--to"]).arg(dir).args(files))
    }

    /// `svgauto import --base <base>`.
    pub fn import(&self) -> Out {
        Out::of(self.command(&["import", "--base"]).arg(&self.root))
    }

    /// `svgauto verify <paths…>`.
    pub fn verify(&self, paths: &[&Path]) -> Out {
        Out::of(self.command(&["verify"]).args(paths))
    }

    /// The drop folder of `svgauto import`.
    pub fn maj(&self) -> PathBuf {
        self.root.join("maj")
    }

    /// Copies `sauve/B<code>.SVG` to `<scratch>/<folder>/<name>` and returns
    /// the copy.
    pub fn copy_archive(&self, code: &str, folder: &str, name: &str) -> PathBuf {
        let dir = self.scratch(folder);
        fs::create_dir_all(&dir).unwrap();
        let to = dir.join(name);
        fs::copy(self.archive(code), &to)
            .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", code, to.display()));
        to
    }

    /// A dossier as a restore must give it back: every file with its bytes
    /// and modification time, every folder; without the lock file, and
    /// without `documents/` unless `with_documents`.
    pub fn dossier_snapshot(&self, code: &str, with_documents: bool) -> Snapshot {
        snapshot(&self.dossier_dir(code), &|rel| {
            rel == "dossier.lock"
                || (!with_documents && (rel == "documents" || rel.starts_with("documents/")))
        })
    }

    /// Everything under the temp folder (the base and every scratch file)
    /// but the lock files, which taking a lock may create, and the tool's
    /// own state (`<base>/.svgauto/`: catalog, run lock), where it may
    /// record what it did.
    pub fn everything(&self) -> Snapshot {
        snapshot(self.top(), &|rel| {
            rel.ends_with("/dossier.lock") || rel == "base/.svgauto"
        })
    }

    /// Asserts `dossiers/` holds no `.svgauto-*` folder or file left by a
    /// restore (its staging and swap-out folders).
    #[track_caller]
    pub fn assert_no_restore_leftovers(&self) {
        let left: Vec<String> = list_dir(&self.root.join("dossiers"))
            .into_iter()
            .filter(|n| n.starts_with(".svgauto-"))
            .collect();
        assert!(
            left.is_empty(),
            "restore left {left:?} in {}",
            self.root.join("dossiers").display()
        );
    }
}

impl Out {
    /// Panics unless stdout contains every one of `needles`.
    #[track_caller]
    pub fn stdout_has(&self, needles: &[&str]) -> &Self {
        self.stream_has("stdout", &self.stdout, needles)
    }

    /// Panics unless the process exited by itself with 0 or 1: not a panic
    /// (101), not a usage error (2), not killed by a signal.
    #[track_caller]
    pub fn exited_0_or_1(&self) -> &Self {
        assert!(
            matches!(self.code, Some(0 | 1)),
            "expected exit code 0 or 1 (no panic, no signal)\n{self}"
        );
        self
    }

    /// Panics unless stderr has a line `svgauto : <…file> : refusé : <reason>`
    /// naming `file`, whose reason holds each of `needles`.
    #[track_caller]
    pub fn refused(&self, file: &str, needles: &[&str]) -> &Self {
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with("svgauto : ") && l.contains(file) && l.contains(" : refusé : "))
            .unwrap_or_else(|| {
                panic!("stderr should have a line `svgauto : …{file} : refusé : …`\n{self}")
            });
        let reason = &line[line.find(" : refusé : ").unwrap()..];
        for n in needles {
            assert!(
                reason.contains(n),
                "the refusal of {file} should say {n:?}: {line}\n{self}"
            );
        }
        self
    }

    /// Panics unless stdout has the line `Dossier <code> : remonté depuis
    /// <…file>`.
    #[track_caller]
    pub fn restored(&self, code: &str, file: &str) -> &Self {
        let prefix = format!("Dossier {code} : remonté depuis ");
        assert!(
            self.stdout
                .lines()
                .any(|l| l.starts_with(&prefix) && l.trim_end().ends_with(file)),
            "stdout should have the line `{prefix}…{file}`\n{self}"
        );
        self
    }

    /// The stdout lines, without line-end characters.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// One thing of a tree, as precisely as a restore must give it back.
#[derive(Clone, PartialEq, Eq)]
pub enum Item {
    Dir,
    File {
        bytes: Vec<u8>,
        mtime: SystemTime,
    },
    Link(PathBuf),
    /// FIFO, socket, device.
    Special,
}

/// Relative path (with `/`) → item, for everything under a folder; empty
/// when the folder does not exist. Symbolic links are recorded, never
/// followed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Snapshot(pub BTreeMap<String, Item>);

impl Snapshot {
    /// The files alone, without their times.
    pub fn files(&self) -> BTreeMap<&str, &[u8]> {
        self.0
            .iter()
            .filter_map(|(p, i)| match i {
                Item::File { bytes, .. } => Some((p.as_str(), bytes.as_slice())),
                _ => None,
            })
            .collect()
    }

    /// The part under `prefix/`, with paths relative to it.
    pub fn under(&self, prefix: &str) -> Snapshot {
        let p = format!("{prefix}/");
        Snapshot(
            self.0
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(&p)?.to_owned(), v.clone())))
                .collect(),
        )
    }
}

/// Snapshot of `root`, leaving out what `skip` names (a skipped folder is
/// not entered).
pub fn snapshot(root: &Path, skip: &dyn Fn(&str) -> bool) -> Snapshot {
    fn go(dir: &Path, prefix: &str, skip: &dyn Fn(&str) -> bool, out: &mut Snapshot) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let e = e.unwrap();
            let name = escaped(e.file_name().as_encoded_bytes());
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if skip(&rel) {
                continue;
            }
            let p = e.path();
            let md = fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let ft = md.file_type();
            if ft.is_symlink() {
                out.0
                    .insert(rel, Item::Link(fs::read_link(&p).unwrap_or_default()));
            } else if ft.is_dir() {
                out.0.insert(rel.clone(), Item::Dir);
                go(&p, &rel, skip, out);
            } else if ft.is_file() {
                let bytes = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                out.0.insert(
                    rel,
                    Item::File {
                        bytes,
                        mtime: md.modified().unwrap(),
                    },
                );
            } else {
                out.0.insert(rel, Item::Special);
            }
        }
    }
    let mut out = Snapshot::default();
    go(root, "", skip, &mut out);
    out
}

fn show_time(t: SystemTime) -> String {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => format!("{}.{:09}", d.as_secs(), d.subsec_nanos()),
        Err(e) => format!("-{:?}", e.duration()),
    }
}

fn show_item(i: &Item) -> String {
    match i {
        Item::Dir => "a folder".into(),
        Item::File { bytes, mtime } => {
            format!(
                "a file of {} bytes, mtime {}",
                bytes.len(),
                show_time(*mtime)
            )
        }
        Item::Link(t) => format!("a symbolic link to {}", t.display()),
        Item::Special => "a special file".into(),
    }
}

/// Panics with a per-path account of the differences: names, kinds, bytes
/// and modification times (to the nanosecond).
#[track_caller]
pub fn assert_same_snapshot(want: &Snapshot, got: &Snapshot, what: &str) {
    let mut msg = String::new();
    for (p, w) in &want.0 {
        let Some(g) = got.0.get(p) else {
            let _ = writeln!(msg, "  missing:    {} ({})", show(p), show_item(w));
            continue;
        };
        match (w, g) {
            (
                Item::File {
                    bytes: a,
                    mtime: ta,
                },
                Item::File {
                    bytes: b,
                    mtime: tb,
                },
            ) => {
                if a != b {
                    let at = first_difference(a, b);
                    let _ = writeln!(
                        msg,
                        "  differs:    {} (expected {} bytes, got {} bytes, first difference at byte {at})",
                        show(p),
                        a.len(),
                        b.len()
                    );
                }
                if ta != tb {
                    let _ = writeln!(
                        msg,
                        "  mtime:      {} (expected {}, got {})",
                        show(p),
                        show_time(*ta),
                        show_time(*tb)
                    );
                }
            }
            (w, g) if w != g => {
                let _ = writeln!(
                    msg,
                    "  kind:       {} (expected {}, got {})",
                    show(p),
                    show_item(w),
                    show_item(g)
                );
            }
            _ => {}
        }
    }
    for (p, g) in &got.0 {
        if !want.0.contains_key(p) {
            let _ = writeln!(msg, "  unexpected: {} ({})", show(p), show_item(g));
        }
    }
    assert!(msg.is_empty(), "{what}: trees differ\n{msg}");
}

/// Flips one byte in the middle of `content` where the archive stores it
/// (an entry written with the `store` method, so its bytes are there as
/// they are): a CRC mismatch that leaves every header intact.
pub fn flip_stored_byte(archive: &Path, content: &[u8]) {
    assert!(content.len() >= 256, "give a file of at least 256 bytes");
    let mid = content.len() / 2;
    let window = &content[mid - 64..mid + 64];
    let mut bytes = fs::read(archive).unwrap();
    let at = bytes
        .windows(window.len())
        .position(|w| w == window)
        .unwrap_or_else(|| {
            panic!(
                "{}: the file's bytes are not stored as they are (method store?)",
                archive.display()
            )
        });
    bytes[at + 64] ^= 0x5A;
    fs::write(archive, bytes).unwrap();
}

/// Keeps only the first half of a file.
pub fn cut_in_half(p: &Path) {
    let bytes = fs::read(p).unwrap();
    fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
}

/// The manifest of an archive, parsed.
pub fn read_manifest(archive: &Path) -> serde_json::Value {
    let mut z = zip::ZipArchive::new(fs::File::open(archive).unwrap())
        .unwrap_or_else(|e| panic!("{}: not a zip archive: {e}", archive.display()));
    let mut text = String::new();
    z.by_name(MANIFEST)
        .unwrap_or_else(|e| panic!("{}: no {MANIFEST}: {e}", archive.display()))
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: manifest is not JSON: {e}\n{text}", archive.display()))
}

enum Extra {
    File(Vec<u8>),
    Symlink(String),
}

/// A real archive rewritten with changes, to craft damaged or hostile
/// archives that otherwise look like svgauto's own: the entries are copied
/// raw (same data, times, extra fields), then the added entries, then the
/// manifest — its fingerprint recomputed as `scan` does, so that the only
/// thing wrong is the one the test put there.
pub struct Craft {
    src: PathBuf,
    pub manifest: serde_json::Value,
    dropped: BTreeSet<String>,
    extra: Vec<(String, Extra)>,
}

impl Craft {
    pub fn of(archive: &Path) -> Craft {
        Craft {
            src: archive.to_owned(),
            manifest: read_manifest(archive),
            dropped: BTreeSet::new(),
            extra: Vec::new(),
        }
    }

    /// Leaves entry `name` out of the zip; the manifest still lists it.
    pub fn drop_entry(mut self, name: &str) -> Craft {
        self.dropped.insert(name.to_owned());
        self
    }

    /// Adds a file entry; `listed`: the manifest describes it, exactly.
    pub fn add_file(mut self, name: &str, bytes: &[u8], listed: bool) -> Craft {
        if listed {
            self.list(name, bytes);
        }
        self.extra
            .push((name.to_owned(), Extra::File(bytes.to_vec())));
        self
    }

    /// Adds a symbolic link entry; `listed`: the manifest describes it as a
    /// file holding the target's path (which is what the zip stores).
    pub fn add_symlink(mut self, name: &str, target: &str, listed: bool) -> Craft {
        if listed {
            self.list(name, target.as_bytes());
        }
        self.extra
            .push((name.to_owned(), Extra::Symlink(target.to_owned())));
        self
    }

    /// Changes the manifest's entry of `path`.
    pub fn edit_entry(mut self, path: &str, f: impl FnOnce(&mut serde_json::Value)) -> Craft {
        let e = self.manifest["entries"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e["path"] == path)
            .unwrap_or_else(|| panic!("no manifest entry {path}"));
        f(e);
        self
    }

    fn list(&mut self, name: &str, bytes: &[u8]) {
        let entries = self.manifest["entries"]
            .as_array_mut()
            .expect("manifest `entries` array");
        entries.push(serde_json::json!({
            "path": name,
            "type": "file",
            "size": bytes.len(),
            "mtime": "2025-01-02T03:04:05.000000006Z",
            "mtime_s": 1_735_787_045i64,
            "mtime_ns": 6,
            "crc32": format!("{:08x}", crc32fast::hash(bytes)),
        }));
        entries.sort_by(|a, b| {
            a["path"]
                .as_str()
                .unwrap_or("")
                .cmp(b["path"].as_str().unwrap_or(""))
        });
    }

    /// The fingerprint `scan` computes, over the manifest's entries.
    fn refresh_fingerprint(&mut self) {
        let mut h = blake3::Hasher::new();
        for e in self.manifest["entries"].as_array().unwrap() {
            h.update(e["path"].as_str().unwrap_or("").as_bytes());
            h.update(&[0]);
            if e["type"] == "file" {
                h.update(&e["size"].as_u64().unwrap_or(0).to_le_bytes());
                h.update(&e["mtime_s"].as_i64().unwrap_or(0).to_le_bytes());
                h.update(&(e["mtime_ns"].as_u64().unwrap_or(0) as u32).to_le_bytes());
            }
            h.update(&[1]);
        }
        if self.manifest.get("fingerprint").is_some() {
            self.manifest["fingerprint"] = h.finalize().to_hex().to_string().into();
        }
    }

    /// Writes the crafted archive to `dest` (its folder is created).
    pub fn write(mut self, dest: &Path) {
        use std::io::Write;
        use zip::write::SimpleFileOptions;
        self.refresh_fingerprint();
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let mut src = zip::ZipArchive::new(fs::File::open(&self.src).unwrap()).unwrap();
        let mut w = zip::ZipWriter::new(fs::File::create(dest).unwrap());
        for i in 0..src.len() {
            let f = src.by_index_raw(i).unwrap();
            let name = f.name().unwrap().into_owned();
            if name == MANIFEST || self.dropped.contains(&name) {
                continue;
            }
            w.raw_copy_file(f)
                .unwrap_or_else(|e| panic!("copy of entry {name}: {e}"));
        }
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::from_date_and_time(2025, 1, 2, 3, 4, 6).unwrap());
        for (name, extra) in &self.extra {
            match extra {
                Extra::File(bytes) => {
                    w.start_file(name.as_str(), opts)
                        .unwrap_or_else(|e| panic!("entry {name}: {e}"));
                    w.write_all(bytes).unwrap();
                }
                Extra::Symlink(target) => {
                    w.add_symlink(name.as_str(), target.as_str(), opts)
                        .unwrap_or_else(|e| panic!("symlink entry {name}: {e}"));
                }
            }
        }
        w.start_file(MANIFEST, opts).unwrap();
        w.write_all(&serde_json::to_vec_pretty(&self.manifest).unwrap())
            .unwrap();
        w.finish().unwrap();
    }
}

/// The incompressible file of dossier `A` of [`restorable_base`]: big
/// enough that a byte flipped in its middle lands in file data, far from
/// any header.
pub fn pieces_bin() -> Vec<u8> {
    random_bytes(41, 300_000)
}

/// A base with two saved dossiers, `A` and `C`, archived with `method`
/// (`zstd`, `deflate`, `store`): files with nanosecond modification times,
/// an empty folder, accented names, associated documents (not archived by
/// default).
pub fn restorable_base(method: &str) -> Base {
    let base = Base::new().collaborator("COMPT", "*").setting(
        "archive",
        "method",
        &format!("\"{method}\""),
    );
    base.dossier("A")
        .file("compta/ecritures.dat", text_bytes(40, 40_000))
        .file("compta/pieces.bin", pieces_bin())
        .file("notes.txt", "à relire\n")
        .file("a/b/profond.txt", "tout au fond\n")
        .file("Clôture/état récapitulatif.csv", "compte;solde\n")
        .file("vide.dat", "")
        .empty_dir("exports")
        .file("documents/statuts.txt", "statuts\n");
    base.dossier("C")
        .file("compta/ecritures.dat", text_bytes(42, 10_000))
        .file("documents/kbis.txt", "kbis\n");
    let mut i = 0;
    for code in ["A", "C"] {
        walk_files(&base.dossier_dir(code), &mut |p| {
            i += 1;
            set_mtime(
                p,
                SystemTime::UNIX_EPOCH
                    + Duration::new(1_600_000_000 + i * 3_607, 123_456_789 + i as u32),
            );
        });
    }
    base.run_compt(&[]).code(0);
    assert_eq!(base.archived(), set(&["A", "C"]), "archives in sauve/");
    base
}

/// The offset of the first byte where `a` and `b` differ (the shorter
/// length if one is a prefix of the other), for readable diffs.
pub fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Sleeps until the newest change time (ctime) under `dir` is more than
/// 150 ms old by the file system's clock (svgauto's racy window for
/// sub-second stamps is 100 ms, judged by that clock: the change time of
/// the dossier's lock file once touched). The file system's clock is read
/// the same way, from a probe file outside the base, so the wait holds when the
/// tests' wall clock is moved (the faketime pass of scripts/test). A file
/// system with whole-second stamps has a 3 s window: the tests that use one
/// (racy.rs) wait themselves.
pub fn settle(dir: &Path) {
    fn newest(dir: &Path, max: &mut i128) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            // Restore's temporary trees are no dossier's, and the lock
            // file is in none (a run sets its time to read the file
            // system's clock: waiting on it would wait for the run).
            let name = e.file_name();
            if name.to_string_lossy().starts_with(".svgauto-") || name == "dossier.lock" {
                continue;
            }
            let Ok(m) = e.metadata() else { continue };
            // Files only: svgauto judges only files' stamps racy, and a
            // folder's change time moves when a run makes a lock file in it.
            if m.is_dir() {
                newest(&e.path(), max);
            } else {
                *max = (*max).max(changed_nanos(&m));
            }
        }
    }
    let mut max = i128::MIN;
    newest(dir, &mut max);
    if max == i128::MIN {
        return;
    }
    // Beside the tests' temp folders, on the same file system, outside them
    // (tests compare their trees before and after commands).
    let probe = std::env::temp_dir().join(format!(".svgauto-settle-{}", std::process::id()));
    loop {
        fs::write(&probe, b"").unwrap();
        let m = fs::metadata(&probe).unwrap();
        let now = changed_nanos(&m);
        let wait = max + 150_000_000 - now;
        if wait <= 0 {
            return;
        }
        std::thread::sleep(Duration::from_nanos(wait as u64));
    }
}

/// A file's change time (ctime) in nanoseconds since the epoch; its
/// modification time where there is none (Windows).
fn changed_nanos(m: &fs::Metadata) -> i128 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec())
    }
    #[cfg(not(unix))]
    {
        m.modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128)
    }
}

/// A name as svgauto shows it: its bytes that are not UTF-8 as `\xNN`.
pub fn escaped(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// Whether the tests run as root (a file we create belongs to uid 0).
#[cfg(unix)]
pub fn running_as_root(base: &Base) -> bool {
    use std::os::unix::fs::MetadataExt;
    let p = base.scratch(&format!("whoami-{}", unique()));
    fs::write(&p, "").unwrap();
    let root = fs::metadata(&p).unwrap().uid() == 0;
    fs::remove_file(p).unwrap();
    root
}

/// Runs a system command, panicking with its output if it fails.
#[track_caller]
pub fn sh(program: &str, args: &[&std::ffi::OsStr]) {
    let o = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        o.status.success(),
        "{program} {args:?} failed: {}\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
