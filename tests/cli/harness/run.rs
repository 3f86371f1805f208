//! Running the real binary: the commands of a [`Base`] (`run`, `restore`,
//! `import`, `verify`, `hold`, in the foreground or the background), what a
//! finished command gave ([`Out`], with assertions that print the whole
//! output), a command still running ([`Running`]), a held dossier lock
//! ([`Holder`]), polling helpers, and [`settle`], the wait that keeps a test
//! out of svgauto's racy window unless it means to be in it.

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Base;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_svgauto");

/// No single command of these tests takes more than a few seconds; this only
/// turns a hang into a failure.
const TIMEOUT: Duration = Duration::from_secs(120);

impl Base {
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
        self.spawn_env(args, &[], tag)
    }

    /// [`Base::spawn`] with `env` set for svgauto (the off-site tests'
    /// credential variables, `SVGAUTO_NOW`).
    pub fn spawn_env<S: AsRef<std::ffi::OsStr>>(
        &self,
        args: &[S],
        env: &[(&str, &str)],
        tag: &str,
    ) -> Running {
        self.settle();
        self.note_new_reports();
        let stdout = self.scratch(&format!("{tag}.stdout"));
        let stderr = self.scratch(&format!("{tag}.stderr"));
        let child = std::process::Command::new(BIN)
            .args(args)
            .env_remove("SVGAUTO_CONFIG")
            .env_remove("SVGAUTO_NOW")
            .envs(env.iter().copied())
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
}

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
            .and_then(|t| t.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128)
    }
}
