//! Power cut simulation (issue "Reliability"): proves the flush order of
//! DESIGN.md §3–5 on the real binary.
//!
//! The binary runs under `strace -f` (a run over the archives of a previous
//! run, sequential then parallel, and a `restore`); the log of its file
//! system calls is then replayed in a model of a file system that loses, at
//! a power cut, everything that was not flushed. At every crash point (the
//! start, and after each call of the log) every state the disk may hold is
//! enumerated and checked.
//!
//! The model — pessimistic, like ext4 `data=writeback`/delayed allocation
//! without `auto_da_alloc`, or XFS, and POSIX's `fsync(2)`:
//! - what existed before the traced command is durable as found;
//! - a file's data (write, pwrite, writev, truncation) are durable only up to
//!   the last `fsync`/`fdatasync` of that file: a later write may be lost in
//!   whole or in part, so such a file may be found empty or torn;
//!   `sync_file_range` flushes nothing for sure; `sync`/`syncfs` flush all;
//! - `fsync` of a file does not make its name durable: directory operations
//!   (create, mkdir, link, rename, unlink, rmdir) are durable only once an
//!   `fsync` of that folder started after them; each operation is atomic,
//!   and a folder's operations reach the disk in order (as a journal commits
//!   them), but any number of those since the folder's last fsync may be
//!   there — each such prefix is one possible state; folders are
//!   independent (a rename across folders is two operations);
//! - a flush covers the calls that completed before it started (a call is
//!   taken at its completion in the log; `-f` keeps cause before effect).
//!
//! Checked in every possible state at every crash point:
//! - every name `B*.SVG` names either an archive that was there before, or
//!   a file all of whose writes (in the whole log) are flushed: never a
//!   torn, empty or still growing archive;
//! - an archive that was there before is never durably gone;
//! - (runs) the catalog write holding a dossier's new fingerprint — its
//!   success record — starts after the folder fsync that made the rename of
//!   `B<CODE>.SVG` durable; it is found, so the check is not vacuous;
//! - (restore) `dossiers/<CODE>` — or, where a crash left it absent, what
//!   `restore::recover` puts back: `.svgauto-ready-<CODE>`, else
//!   `.svgauto-old-<CODE>` — is either the old tree, whole, or the new tree
//!   with every folder entry and every file's data flushed;
//! - (restore over a state no archive holds) wherever the dossier may be
//!   the new tree, the archive the old state was saved into
//!   (`sauve/AvantRemontee/<stamp>/B<CODE>.SVG`) is durable: its name in
//!   every folder of its path (folders created by the restore included)
//!   and all its data.
//!
//! Negative controls prove the checker can fail: a hand-written log, and
//! the real logs with a flush removed or moved after the rename.
//!
//! Needs `strace` (Debian package `strace`); without it the tests fail and
//! say so.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::harness::*;

// ---------------------------------------------------------------------------
// Running the binary under strace
// ---------------------------------------------------------------------------

/// The calls that change a file system or flush it (and `openat`/`close`, to
/// know which file a descriptor is). `?`: a name this architecture lacks is
/// not an error.
const TRACED: &str = "trace=?open,openat,?creat,close,write,pwrite64,writev,pwritev,pwritev2,\
                      ftruncate,?truncate,fsync,fdatasync,sync_file_range,sync,syncfs,\
                      ?rename,renameat,renameat2,?unlink,unlinkat,?rmdir,?mkdir,mkdirat,\
                      ?link,linkat,?symlink,symlinkat";

fn strace() -> PathBuf {
    find_program(&["strace"]).unwrap_or_else(|| {
        panic!(
            "strace is not installed: the power cut tests need it \
             (`apt-get install -y strace`; scripts/test installs it)"
        )
    })
}

/// A command traced into `<scratch>/<tag>.strace`.
struct Traced {
    log: String,
    out: Out,
}

/// Runs `svgauto <args>` under strace (in `base.top()`), and returns the log.
fn traced(base: &Base, args: &[&str], tag: &str) -> Traced {
    let log = base.scratch(&format!("{tag}.strace"));
    let mut c = assert_cmd::Command::new(strace());
    c.args(["-f", "-qq", "-tt", "-y", "-s", "65536", "-e", TRACED, "-o"])
        .arg(&log)
        .arg("--")
        .arg(BIN)
        .args(args)
        .env_remove("SVGAUTO_CONFIG")
        .env_remove("SVGAUTO_NOW")
        .current_dir(base.top())
        .timeout(std::time::Duration::from_secs(120));
    let out = Out::of(&mut c);
    let log = fs::read_to_string(&log).unwrap_or_else(|e| {
        panic!(
            "no strace log {}: {e}\n{}\nstderr:\n{}",
            log.display(),
            out.cmdline,
            out.stderr
        )
    });
    assert!(
        log.lines().any(|l| l.contains("openat(")),
        "strace logged no call (is ptrace allowed here?)\n{}\nstderr:\n{}",
        out.cmdline,
        out.stderr
    );
    Traced { log, out }
}

// ---------------------------------------------------------------------------
// Parsing the log
// ---------------------------------------------------------------------------

/// One call of the log.
#[derive(Debug, Clone)]
struct Call {
    /// Line (1-based) where the call completed, for messages.
    line: usize,
    /// Positions where the call entered and completed (line indexes: an
    /// `<unfinished ...>` call spans the lines up to its `resumed`).
    start: usize,
    end: usize,
    name: String,
    /// Top-level arguments, as strace printed them.
    args: Vec<String>,
    /// What follows ` = `.
    ret: String,
}

impl Call {
    fn ok(&self) -> bool {
        !(self.ret.starts_with('-') || self.ret.starts_with('?') || self.ret.is_empty())
    }

    fn arg(&self, i: usize) -> &str {
        self.args.get(i).map_or("", String::as_str)
    }

    /// The path strace annotated the descriptor of argument `i` with.
    fn fd_path(&self, i: usize) -> Option<String> {
        fd_of(self.arg(i)).1
    }

    fn show(&self) -> String {
        let mut s = format!("line {}: {}(", self.line, self.name);
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            if a.len() > 90 {
                let mut cut = 60;
                while !a.is_char_boundary(cut) {
                    cut -= 1;
                }
                let _ = write!(s, "{}…", &a[..cut]);
            } else {
                s.push_str(a);
            }
        }
        let _ = write!(s, ") = {}", self.ret);
        s
    }
}

/// Parses a log of `strace -f -tt -y`: `TID HH:MM:SS.us name(args) = ret`,
/// with the `<unfinished ...>` / `<... name resumed>` pairs of threads
/// joined into one call.
fn parse_log(text: &str) -> Vec<Call> {
    let mut pending: HashMap<String, (usize, String)> = HashMap::new();
    let mut calls = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some((tid, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Some((_time, rest)) = rest.trim_start().split_once(' ') else {
            continue;
        };
        if rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        if let Some(r) = rest.strip_prefix("<... ") {
            let Some((_, tail)) = r.split_once("resumed>") else {
                continue;
            };
            if let Some((start, head)) = pending.remove(tid) {
                calls.extend(parse_call(&format!("{head}{tail}"), start, i));
            }
        } else if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(tid.to_owned(), (i, head.to_owned()));
        } else {
            calls.extend(parse_call(rest, i, i));
        }
    }
    calls
}

fn parse_call(s: &str, start: usize, end: usize) -> Option<Call> {
    let open = s.find('(')?;
    let name = &s[..open];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let (mut args, after) = split_args(&s[open + 1..])?;
    if args.len() == 1 && args[0].is_empty() {
        args.clear();
    }
    let ret = after.trim_start().strip_prefix("= ").unwrap_or("").trim();
    Some(Call {
        line: end + 1,
        start,
        end,
        name: name.to_owned(),
        args,
        ret: ret.to_owned(),
    })
}

/// Splits `a, b, {c, d}, "e,f")rest` into its top-level arguments and what
/// follows the closing parenthesis. `-y` escapes `<` and `>` inside the
/// paths it prints, so they nest like brackets.
fn split_args(s: &str) -> Option<(Vec<String>, &str)> {
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    let mut args = Vec::new();
    let mut from = 0;
    for (i, c) in s.bytes().enumerate() {
        if in_str {
            match c {
                _ if esc => esc = false,
                b'\\' => esc = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'(' | b'[' | b'{' | b'<' => depth += 1,
            b')' if depth == 0 => {
                args.push(s[from..i].trim().to_owned());
                return Some((args, &s[i + 1..]));
            }
            b')' | b']' | b'}' | b'>' => depth -= 1,
            b',' if depth == 0 => {
                args.push(s[from..i].trim().to_owned());
                from = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// Decodes strace's C escapes (`\n`, `\"`, `\303`, `\x41`…).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b[i + 1];
        i += 2;
        match c {
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                let mut n = 1;
                while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'x' => {
                let h = s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(h.unwrap_or(b'?'));
                i += 2;
            }
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            other => out.push(other),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The text of a quoted argument `"..."` (maybe followed by `...`).
fn unquote(arg: &str) -> Option<String> {
    let body = arg.strip_prefix('"')?;
    let mut esc = false;
    for (i, c) in body.bytes().enumerate() {
        match c {
            _ if esc => esc = false,
            b'\\' => esc = true,
            b'"' => return Some(unescape(&body[..i])),
            _ => {}
        }
    }
    None
}

/// `9</a/b>` → (Some(9), Some("/a/b")); `AT_FDCWD</cwd>` → (None, "/cwd").
/// A deleted file's descriptor has no usable path.
fn fd_of(arg: &str) -> (Option<i64>, Option<String>) {
    let (num, path) = match arg.split_once('<') {
        Some((n, p)) => (n, Some(p.strip_suffix('>').unwrap_or(p))),
        None => (arg, None),
    };
    let path = path
        .filter(|p| p.starts_with('/') && !p.ends_with(" (deleted)"))
        .map(unescape);
    (num.trim().parse().ok(), path)
}

// ---------------------------------------------------------------------------
// The model of a file system that loses what was not flushed
// ---------------------------------------------------------------------------

type Ino = usize;

#[derive(Debug, Clone)]
enum Op {
    Add(String, Ino),
    Remove(String),
    /// Within one folder: atomic.
    Rename(String, String, Ino),
}

impl Op {
    fn apply(&self, m: &mut BTreeMap<String, Ino>) {
        match self {
            Op::Add(n, i) => {
                m.insert(n.clone(), *i);
            }
            Op::Remove(n) => {
                m.remove(n);
            }
            Op::Rename(from, to, i) => {
                m.remove(from);
                m.insert(to.clone(), *i);
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Node {
    dir: bool,
    /// Existed before the traced command: durable as found.
    pre: bool,
    /// Completion positions of the changes to a file's data.
    writes: Vec<usize>,
    /// How many of `writes` are durable for sure.
    synced_writes: usize,
    /// A folder's durable entries as found.
    base: BTreeMap<String, Ino>,
    /// A folder's entry changes since, with their completion positions.
    ops: Vec<(usize, Op)>,
    /// How many of `ops` are durable for sure.
    synced_ops: usize,
    /// A folder's entries now.
    entries: BTreeMap<String, Ino>,
}

/// Figures of one replay.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    calls: usize,
    crash_points: usize,
    states: usize,
    writes: usize,
    renames: usize,
    file_fsyncs: usize,
    dir_fsyncs: usize,
    catalog_records: usize,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} calls replayed, {} crash points, {} possible disk states checked, \
             {} writes, {} renames, {} fsyncs ({} of files, {} of folders), \
             {} catalog records checked",
            self.calls,
            self.crash_points,
            self.states,
            self.writes,
            self.renames,
            self.file_fsyncs + self.dir_fsyncs,
            self.file_fsyncs,
            self.dir_fsyncs,
            self.catalog_records
        )
    }
}

#[derive(Debug, Clone)]
struct Model {
    /// The modelled tree: everything under it (a test's temp folder).
    root: String,
    /// The traced command's working folder, for relative paths.
    cwd: String,
    nodes: Vec<Node>,
    /// Open descriptors (one process: its threads share them).
    fds: HashMap<i64, Ino>,
    stats: Stats,
}

impl Model {
    /// The tree under `root` as it is on disk now, all of it durable.
    fn of_disk(root: &Path) -> Model {
        let root = fs::canonicalize(root).unwrap();
        let mut m = Model::empty(root.to_str().unwrap());
        fn walk(m: &mut Model, dir: &Path, at: Ino) {
            for e in fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                let is_dir = e.file_type().unwrap().is_dir();
                let ino = m.new_node(is_dir, true);
                m.nodes[at].base.insert(name.clone(), ino);
                m.nodes[at].entries.insert(name, ino);
                if is_dir {
                    walk(m, &e.path(), ino);
                }
            }
        }
        walk(&mut m, &root, 0);
        m
    }

    /// A model of `root` holding `paths` (a trailing `/`: a folder), all of
    /// them durable: for hand-written logs.
    fn of_paths(root: &str, paths: &[&str]) -> Model {
        let mut m = Model::empty(root);
        for p in paths {
            let dir = p.ends_with('/');
            let comps: Vec<String> = p
                .split('/')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            let mut at = 0;
            for (i, c) in comps.iter().enumerate() {
                let last = i + 1 == comps.len();
                at = match m.nodes[at].entries.get(c) {
                    Some(&n) => n,
                    None => {
                        let n = m.new_node(!last || dir, true);
                        m.nodes[at].base.insert(c.clone(), n);
                        m.nodes[at].entries.insert(c.clone(), n);
                        n
                    }
                };
            }
        }
        m
    }

    fn empty(root: &str) -> Model {
        let mut m = Model {
            root: root.trim_end_matches('/').to_owned(),
            cwd: root.to_owned(),
            nodes: Vec::new(),
            fds: HashMap::new(),
            stats: Stats::default(),
        };
        m.new_node(true, true);
        m
    }

    fn new_node(&mut self, dir: bool, pre: bool) -> Ino {
        self.nodes.push(Node {
            dir,
            pre,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    /// The components of `path` under the root; `None` outside it.
    fn comps(&self, path: &str) -> Option<Vec<String>> {
        let rest = if path == self.root {
            ""
        } else {
            path.strip_prefix(&self.root)?.strip_prefix('/')?
        };
        let mut out: Vec<String> = Vec::new();
        for c in rest.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    out.pop()?;
                }
                c => out.push(c.to_owned()),
            }
        }
        Some(out)
    }

    fn lookup(&self, comps: &[String]) -> Option<Ino> {
        comps
            .iter()
            .try_fold(0, |at, c| self.nodes[at].entries.get(c).copied())
    }

    fn lookup_path(&self, path: &str) -> Option<Ino> {
        self.lookup(&self.comps(path)?)
    }

    /// The folder holding `comps` and the last name.
    fn parent(&self, comps: &[String], c: &Call) -> Result<(Ino, String), String> {
        let (name, dir) = comps
            .split_last()
            .ok_or_else(|| format!("the root itself changed? {}", c.show()))?;
        match self.lookup(dir) {
            Some(d) if self.nodes[d].dir => Ok((d, name.clone())),
            _ => Err(format!(
                "model out of step: no folder {}/{} for {}",
                self.root,
                dir.join("/"),
                c.show()
            )),
        }
    }

    /// The path of a call's path argument, relative ones resolved against
    /// the folder of `dirfd` (or the working folder).
    fn path_arg(&self, c: &Call, dirfd: Option<usize>, i: usize) -> Option<String> {
        let p = unquote(c.arg(i))?;
        if p.starts_with('/') {
            return Some(p);
        }
        let dir = dirfd
            .and_then(|d| c.fd_path(d))
            .unwrap_or_else(|| self.cwd.clone());
        Some(format!("{dir}/{p}"))
    }

    /// The node a descriptor argument refers to.
    fn fd_node(&self, c: &Call, i: usize) -> Option<Ino> {
        let (fd, path) = fd_of(c.arg(i));
        fd.and_then(|fd| self.fds.get(&fd).copied())
            .or_else(|| self.lookup_path(&path?))
    }

    fn add(&mut self, dir: Ino, name: String, ino: Ino, at: usize) {
        self.nodes[dir].entries.insert(name.clone(), ino);
        self.nodes[dir].ops.push((at, Op::Add(name, ino)));
    }

    fn remove(&mut self, dir: Ino, name: String, at: usize) {
        self.nodes[dir].entries.remove(&name);
        self.nodes[dir].ops.push((at, Op::Remove(name)));
    }

    /// An `fsync` started at `from`: what completed before is durable.
    fn flush(&mut self, ino: Ino, from: usize) {
        let n = &mut self.nodes[ino];
        if n.dir {
            n.synced_ops = n
                .synced_ops
                .max(n.ops.partition_point(|(at, _)| *at < from));
        } else {
            n.synced_writes = n
                .synced_writes
                .max(n.writes.partition_point(|at| *at < from));
        }
    }

    /// Replays one call.
    fn apply(&mut self, c: &Call) -> Result<(), String> {
        self.stats.calls += 1;
        if !c.ok() {
            return Ok(());
        }
        let at = c.end;
        match c.name.as_str() {
            "open" | "openat" | "creat" => {
                let (fd, got) = fd_of(&c.ret);
                let flags = match c.name.as_str() {
                    "open" => c.arg(1),
                    "openat" => c.arg(2),
                    _ => "O_CREAT|O_WRONLY|O_TRUNC",
                };
                let path = got.or_else(|| {
                    self.path_arg(
                        c,
                        (c.name == "openat").then_some(0),
                        usize::from(c.name == "openat"),
                    )
                });
                let Some(fd) = fd else { return Ok(()) };
                self.fds.remove(&fd);
                let Some(comps) = path.as_deref().and_then(|p| self.comps(p)) else {
                    return Ok(());
                };
                let ino = match self.lookup(&comps) {
                    Some(ino) => {
                        if flags.contains("O_TRUNC") && !self.nodes[ino].dir {
                            self.nodes[ino].writes.push(at);
                        }
                        ino
                    }
                    None if flags.contains("O_CREAT") => {
                        let (dir, name) = self.parent(&comps, c)?;
                        let ino = self.new_node(false, false);
                        self.add(dir, name, ino, at);
                        ino
                    }
                    None => return Err(format!("model out of step: opened unknown {}", c.show())),
                };
                self.fds.insert(fd, ino);
            }
            "close" => {
                if let (Some(fd), _) = fd_of(c.arg(0)) {
                    self.fds.remove(&fd);
                }
            }
            "write" | "pwrite64" | "writev" | "pwritev" | "pwritev2" | "ftruncate" | "truncate" => {
                let ino = if c.name == "truncate" {
                    self.path_arg(c, None, 0).and_then(|p| self.lookup_path(&p))
                } else {
                    self.fd_node(c, 0)
                };
                if let Some(ino) = ino
                    && (c.ret != "0" || c.name.ends_with("truncate"))
                {
                    self.nodes[ino].writes.push(at);
                    self.stats.writes += 1;
                }
            }
            "fsync" | "fdatasync" => {
                if let Some(ino) = self.fd_node(c, 0) {
                    if self.nodes[ino].dir {
                        self.stats.dir_fsyncs += 1;
                    } else {
                        self.stats.file_fsyncs += 1;
                    }
                    self.flush(ino, c.start);
                }
            }
            "sync" | "syncfs" => {
                for ino in 0..self.nodes.len() {
                    self.flush(ino, c.start);
                }
            }
            "rename" | "renameat" | "renameat2" => {
                if c.arg(4).contains("RENAME_EXCHANGE") {
                    return Err(format!("RENAME_EXCHANGE is not modelled: {}", c.show()));
                }
                let (src, dst) = if c.name == "rename" {
                    (self.path_arg(c, None, 0), self.path_arg(c, None, 1))
                } else {
                    (self.path_arg(c, Some(0), 1), self.path_arg(c, Some(2), 3))
                };
                let src = src.and_then(|p| self.comps(&p));
                let dst = dst.and_then(|p| self.comps(&p));
                let (src, dst) = match (src, dst) {
                    (None, None) => return Ok(()),
                    (Some(s), Some(d)) => (s, d),
                    _ => return Err(format!("a rename into or out of the model: {}", c.show())),
                };
                self.stats.renames += 1;
                let (sdir, sname) = self.parent(&src, c)?;
                let (ddir, dname) = self.parent(&dst, c)?;
                let ino = self.nodes[sdir]
                    .entries
                    .get(&sname)
                    .copied()
                    .ok_or_else(|| format!("model out of step: renamed unknown {}", c.show()))?;
                if sdir == ddir {
                    let n = &mut self.nodes[sdir];
                    n.entries.remove(&sname);
                    n.entries.insert(dname.clone(), ino);
                    n.ops.push((at, Op::Rename(sname, dname, ino)));
                } else {
                    self.remove(sdir, sname, at);
                    self.add(ddir, dname, ino, at);
                }
            }
            "unlink" | "unlinkat" | "rmdir" => {
                let p = if c.name == "unlinkat" {
                    self.path_arg(c, Some(0), 1)
                } else {
                    self.path_arg(c, None, 0)
                };
                if let Some(comps) = p.and_then(|p| self.comps(&p)) {
                    let (dir, name) = self.parent(&comps, c)?;
                    self.remove(dir, name, at);
                }
            }
            "mkdir" | "mkdirat" | "link" | "linkat" | "symlink" | "symlinkat" => {
                let (p, from) = match c.name.as_str() {
                    "mkdir" => (self.path_arg(c, None, 0), None),
                    "mkdirat" => (self.path_arg(c, Some(0), 1), None),
                    "link" => (self.path_arg(c, None, 1), self.path_arg(c, None, 0)),
                    "linkat" => (self.path_arg(c, Some(2), 3), self.path_arg(c, Some(0), 1)),
                    "symlink" => (self.path_arg(c, None, 1), None),
                    _ => (self.path_arg(c, Some(1), 2), None),
                };
                if let Some(comps) = p.and_then(|p| self.comps(&p)) {
                    let (dir, name) = self.parent(&comps, c)?;
                    let ino = match from {
                        Some(f) => self.lookup_path(&f).ok_or_else(|| {
                            format!("model out of step: linked unknown {}", c.show())
                        })?,
                        None => self.new_node(c.name.starts_with("mkdir"), false),
                    };
                    self.add(dir, name, ino, at);
                }
            }
            // `sync_file_range` makes nothing durable for sure; the rest is
            // not traced.
            _ => {}
        }
        Ok(())
    }

    /// Every state a folder may be found in after a power cut now: its
    /// durable entries plus each prefix of the operations not yet flushed.
    fn states(&self, dir: Ino) -> Vec<BTreeMap<String, Ino>> {
        let n = &self.nodes[dir];
        if n.synced_ops == n.ops.len() {
            return vec![n.entries.clone()];
        }
        let mut m = n.base.clone();
        for (_, op) in &n.ops[..n.synced_ops] {
            op.apply(&mut m);
        }
        let mut out = vec![m.clone()];
        for (_, op) in &n.ops[n.synced_ops..] {
            op.apply(&mut m);
            out.push(m.clone());
        }
        out
    }
}

// ---------------------------------------------------------------------------
// The checker
// ---------------------------------------------------------------------------

/// What to check, besides the archives.
#[derive(Debug, Clone)]
enum Watch {
    /// The B*.SVG names everywhere, and the catalog: each dossier's new
    /// fingerprint and the folder its archive is in.
    Run {
        sauve: String,
        fingerprints: Vec<(String, String)>,
    },
    /// The restore switch of dossier `code` in `dossiers`, and the archive
    /// the live state was saved into first, if any.
    Restore {
        dossiers: String,
        code: String,
        aside: Option<String>,
    },
}

/// What a replay found.
#[derive(Debug)]
struct Verdict {
    violations: Vec<String>,
    stats: Stats,
}

impl Verdict {
    #[track_caller]
    fn assert_clean(&self, what: &str) {
        assert!(
            self.violations.is_empty(),
            "{what}: {} violation(s) of the flush order in the power cut model:\n- {}",
            self.violations.len(),
            self.violations.join("\n- ")
        );
    }

    #[track_caller]
    fn assert_caught(&self, what: &str, needle: &str) {
        assert!(
            self.violations.iter().any(|v| v.contains(needle)),
            "negative control {what}: the checker should have reported {needle:?}, it reported:\n- {}",
            self.violations.join("\n- ")
        );
    }
}

fn is_archive_name(name: &str) -> bool {
    name.len() > 5 && name.starts_with('B') && name.ends_with(".SVG")
}

/// Replays `calls` on `seed` and checks every possible state at every crash
/// point.
fn check(seed: &Model, calls: &[Call], watch: &Watch) -> Verdict {
    let mut violations = Vec::new();
    // First pass: what each node receives over the whole log, to tell a
    // finished file or folder from one still being filled.
    let mut full = seed.clone();
    for c in calls {
        if let Err(e) = full.apply(c) {
            return Verdict {
                violations: vec![e],
                stats: full.stats,
            };
        }
    }
    let total_writes: Vec<usize> = full.nodes.iter().map(|n| n.writes.len()).collect();
    let total_ops: Vec<usize> = full.nodes.iter().map(|n| n.ops.len()).collect();
    // Folders where a B*.SVG name ever was.
    let archive_dirs: Vec<Ino> = (0..full.nodes.len())
        .filter(|&d| {
            let n = &full.nodes[d];
            n.dir
                && (n.base.keys().any(|k| is_archive_name(k))
                    || n.ops.iter().any(|(_, op)| match op {
                        Op::Add(x, _) | Op::Remove(x) => is_archive_name(x),
                        Op::Rename(a, b, _) => is_archive_name(a) || is_archive_name(b),
                    }))
        })
        .collect();

    let mut m = seed.clone();
    let mut seen = BTreeSet::new();
    let mut states = 0;
    let mut report = |key: String, msg: String| {
        if seen.insert(key) && seen.len() <= 20 {
            violations.push(msg);
        }
    };
    for k in 0..=calls.len() {
        if k > 0 {
            m.apply(&calls[k - 1]).expect("the first pass went through");
        }
        let when = if k == 0 {
            "power cut before the first call".to_owned()
        } else {
            format!("power cut after {}", calls[k - 1].show())
        };
        // Archives: old, or new and entirely flushed.
        for &d in &archive_dirs {
            if d >= m.nodes.len() {
                // A folder created later in the log (the one the state
                // saved before a restore goes into): nothing in it yet.
                continue;
            }
            for state in m.states(d) {
                states += 1;
                for (name, &ino) in state.iter().filter(|(n, _)| is_archive_name(n)) {
                    let n = &m.nodes[ino];
                    let flushed = !n.dir
                        && n.synced_writes == total_writes[ino]
                        && (n.pre || total_writes[ino] > 0);
                    if !flushed {
                        report(
                            format!("torn {d} {name} {ino}"),
                            format!(
                                "{when}: {name} may name a file whose data are not durable \
                                 ({} of its {} writes flushed)",
                                n.synced_writes, total_writes[ino]
                            ),
                        );
                    }
                }
                for name in m.nodes[d].base.keys().filter(|n| is_archive_name(n)) {
                    if !state.contains_key(name) {
                        report(
                            format!("lost {d} {name}"),
                            format!("{when}: the previous archive {name} may be durably gone"),
                        );
                    }
                }
            }
        }
        if let Watch::Restore {
            dossiers,
            code,
            aside: saved_first,
        } = watch
        {
            let dir = seed.lookup_path(dossiers).expect("dossiers/ exists");
            let old = seed.lookup_path(&format!("{dossiers}/{code}"));
            let ready = format!(".svgauto-ready-{code}");
            let aside = format!(".svgauto-old-{code}");
            for state in m.states(dir) {
                states += 1;
                // What `restore::recover` leaves as the dossier.
                let (seen_as, ino) = match [code, &ready, &aside]
                    .into_iter()
                    .find_map(|n| state.get(n.as_str()).map(|&i| (n.clone(), i)))
                {
                    Some(x) => x,
                    None => {
                        report(
                            format!("gone {code}"),
                            format!("{when}: dossier {code} may be durably gone"),
                        );
                        continue;
                    }
                };
                let path = format!("dossiers/{seen_as}");
                let problem = if Some(ino) == old {
                    old_tree_damage(&m, ino, &path)
                } else {
                    new_tree_gap(&m, &total_writes, &total_ops, ino, &path).or_else(|| {
                        saved_first
                            .as_deref()
                            .and_then(|a| aside_gap(&m, &total_writes, a))
                            .map(|g| format!("is the new tree, while {g}"))
                    })
                };
                if let Some(p) = problem {
                    report(
                        format!("tree {code} {seen_as}"),
                        format!("{when}: {path}, the dossier after recovery, {p}"),
                    );
                }
            }
        }
    }
    let mut stats = full.stats;
    stats.crash_points = calls.len() + 1;
    stats.states = states;
    if let Watch::Run {
        sauve,
        fingerprints,
    } = watch
    {
        let (v, n) = check_catalog(calls, sauve, fingerprints);
        violations.extend(v);
        stats.catalog_records = n;
    }
    Verdict { violations, stats }
}

/// Why the old tree is not whole any more (an entry removed or renamed in
/// it, even not yet durably).
fn old_tree_damage(m: &Model, ino: Ino, path: &str) -> Option<String> {
    let n = &m.nodes[ino];
    if !n.dir {
        return None;
    }
    if let Some((_, op)) = n.ops.iter().find(|(_, op)| !matches!(op, Op::Add(..))) {
        return Some(format!("is the old tree, no longer whole ({path}: {op:?})"));
    }
    n.base
        .iter()
        .find_map(|(name, &c)| old_tree_damage(m, c, &format!("{path}/{name}")))
}

/// What of the archive at `path` is not durable yet: its name in a folder
/// of its path, or its data.
fn aside_gap(m: &Model, total_writes: &[usize], path: &str) -> Option<String> {
    let comps = m.comps(path)?;
    let mut at = 0;
    let mut shown = m.root.clone();
    for c in &comps {
        shown = format!("{shown}/{c}");
        let Some(&next) = m.nodes[at].entries.get(c) else {
            return Some(format!("the old state's archive {path} is not written yet"));
        };
        if m.states(at).iter().any(|s| s.get(c) != Some(&next)) {
            return Some(format!(
                "the old state's archive is not durable: {shown} may be missing from its folder"
            ));
        }
        at = next;
    }
    let n = &m.nodes[at];
    (n.synced_writes < total_writes[at] || total_writes[at] == 0).then(|| {
        format!(
            "the old state's archive is not durable: {path}: {} of its {} writes flushed",
            n.synced_writes, total_writes[at]
        )
    })
}

/// What of the new tree is not durable yet: a folder whose entries are not
/// all flushed, or a file whose data are not.
fn new_tree_gap(
    m: &Model,
    total_writes: &[usize],
    total_ops: &[usize],
    ino: Ino,
    path: &str,
) -> Option<String> {
    let n = &m.nodes[ino];
    if !n.dir {
        return (n.synced_writes < total_writes[ino]).then(|| {
            format!(
                "is the new tree, not durable: {path}: {} of its {} writes flushed",
                n.synced_writes, total_writes[ino]
            )
        });
    }
    if n.synced_ops < total_ops[ino] {
        let unflushed: Vec<String> = n.ops[n.synced_ops.min(n.ops.len())..]
            .iter()
            .map(|(_, op)| match op {
                Op::Add(x, _) => format!("+{x}"),
                Op::Remove(x) => format!("-{x}"),
                Op::Rename(a, b, _) => format!("{a}->{b}"),
            })
            .collect();
        return Some(format!(
            "is the new tree, not durable: folder {path}/ never flushed after {} of its {} \
             entry changes ({})",
            total_ops[ino] - n.synced_ops,
            total_ops[ino],
            unflushed.join(" ")
        ));
    }
    n.entries.iter().find_map(|(name, &c)| {
        new_tree_gap(m, total_writes, total_ops, c, &format!("{path}/{name}"))
    })
}

/// Each dossier's success record — the first catalog write holding its new
/// fingerprint — must start after the fsync of `sauve` that follows the
/// rename of its `B<CODE>.SVG`. Returns the violations and the number of
/// records checked.
fn check_catalog(
    calls: &[Call],
    sauve: &str,
    fingerprints: &[(String, String)],
) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut checked = 0;
    for (code, fp) in fingerprints {
        let target = format!("{sauve}/B{code}.SVG");
        let Some(rename) = calls.iter().find(|c| {
            c.ok()
                && c.name.starts_with("rename")
                && c.args
                    .iter()
                    .any(|a| unquote(a).as_deref() == Some(&target))
        }) else {
            out.push(format!("dossier {code}: no rename to {target} in the log"));
            continue;
        };
        let Some(record) = calls.iter().find(|c| {
            c.ok()
                && c.name.contains("write")
                && c.fd_path(0)
                    .is_some_and(|p| p.contains("/.svgauto/catalog.sqlite"))
                && c.args.iter().any(|a| a.contains(fp.as_str()))
        }) else {
            out.push(format!(
                "dossier {code}: no catalog write holds its fingerprint {fp}"
            ));
            continue;
        };
        checked += 1;
        let flush = calls
            .iter()
            .find(|c| c.ok() && c.start > rename.end && is_flush_of(c, |p| p == sauve));
        match flush {
            Some(f) if f.end < record.start => {}
            Some(f) => out.push(format!(
                "dossier {code}: the catalog records its success ({}) before the flush of \
                 the folder that makes {} durable ({}) is done",
                record.show(),
                rename.show(),
                f.show()
            )),
            None => out.push(format!(
                "dossier {code}: the catalog records its success ({}) but the folder is never \
                 flushed after {}",
                record.show(),
                rename.show()
            )),
        }
    }
    (out, checked)
}

/// The calls renumbered one after the other (for edited logs).
fn resequence(calls: Vec<Call>) -> Vec<Call> {
    calls
        .into_iter()
        .enumerate()
        .map(|(i, c)| Call {
            start: i,
            end: i,
            ..c
        })
        .collect()
}

fn is_flush_of(c: &Call, pred: impl Fn(&str) -> bool) -> bool {
    (c.name == "fsync" || c.name == "fdatasync") && c.fd_path(0).is_some_and(|p| pred(&p))
}

// ---------------------------------------------------------------------------
// The runs
// ---------------------------------------------------------------------------

struct RunTrace {
    seed: Model,
    calls: Vec<Call>,
    watch: Watch,
}

fn canonical(p: &Path) -> String {
    fs::canonicalize(p).unwrap().to_str().unwrap().to_owned()
}

/// Every dossier modified, so that the run replaces every archive.
fn touch_all(base: &Base, codes: &[&str], round: u64) {
    for (i, code) in codes.iter().enumerate() {
        base.write(
            code,
            "compta/journal.dat",
            text_bytes(round * 100 + i as u64, 20_000 + i * 1_000),
        );
    }
}

/// A run traced over the archives of a previous run, with `threads`
/// threads and as many `io_jobs`; every dossier of `codes` must be saved.
fn traced_run(base: &Base, threads: usize, codes: &[&str], tag: &str) -> RunTrace {
    base.set("run", "io_jobs", &threads.to_string());
    let root = canonical(base.root());
    let seed = Model::of_disk(base.top());
    let t = traced(
        base,
        &[
            "run",
            "--base",
            &root,
            "--user",
            "COMPT",
            "--no-progress",
            "--threads",
            &threads.to_string(),
        ],
        tag,
    );
    assert_eq!(
        t.out.code,
        Some(0),
        "{}\nstdout:\n{}\nstderr:\n{}",
        t.out.cmdline,
        t.out.stdout,
        t.out.stderr
    );
    let report = base.report();
    let saved: Vec<String> = codes.iter().map(|c| saved_line(c)).collect();
    report.assert_lines_unordered(&saved);
    let fingerprints = codes
        .iter()
        .map(|c| {
            let m = read_manifest(&base.archive(c));
            (
                (*c).to_owned(),
                m["fingerprint"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    RunTrace {
        seed,
        calls: parse_log(&t.log),
        watch: Watch::Run {
            sauve: format!("{root}/sauve"),
            fingerprints,
        },
    }
}

/// A base saved once (not traced), then every dossier modified: the next
/// run replaces every archive.
fn saved_base() -> (Base, Vec<&'static str>) {
    let codes = vec!["GROS", "P1", "P2", "P3"];
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("GROS")
        .file("compta/pieces.bin", random_bytes(7, 3 << 20))
        .file("compta/ecritures.dat", text_bytes(8, 200_000));
    for (i, c) in codes[1..].iter().enumerate() {
        base.dossier(c)
            .file("compta/ecritures.dat", text_bytes(i as u64, 30_000))
            .file("a/b/profond.txt", "tout au fond\n")
            .file("notes.txt", "à relire\n");
    }
    base.run_compt(&[]).code(0);
    assert_eq!(base.archived(), set(&codes), "archives of the first run");
    touch_all(&base, &codes, 1);
    (base, codes)
}

fn figures(what: &str, v: &Verdict) {
    println!("power cut model, {what}: {}", v.stats);
}

/// Sequential run (one thread, `io_jobs = 1`): the order the issue asks to
/// prove, dossier after dossier. Then a parallel run over it, with a new
/// dossier beside: the same properties hold whatever the interleaving.
#[test]
fn a_power_cut_never_leaves_a_torn_archive_nor_a_record_before_it() {
    strace();
    let (base, codes) = saved_base();
    let seq = traced_run(&base, 1, &codes, "run-seq");
    let v = check(&seq.seed, &seq.calls, &seq.watch);
    figures("run --threads 1, io_jobs 1", &v);
    v.assert_clean("sequential run");
    assert_eq!(v.stats.catalog_records, codes.len(), "{v:?}");
    assert!(
        v.stats.renames >= codes.len() && v.stats.dir_fsyncs >= codes.len(),
        "every archive renamed and its folder flushed: {}",
        v.stats
    );

    touch_all(&base, &codes, 2);
    base.dossier("NOUVEAU")
        .file("compta/ecritures.dat", text_bytes(99, 10_000));
    let mut all = codes.clone();
    all.push("NOUVEAU");
    let par = traced_run(&base, 3, &all, "run-par");
    let v = check(&par.seed, &par.calls, &par.watch);
    figures("run --threads 3, io_jobs 3", &v);
    v.assert_clean("parallel run");
    assert_eq!(v.stats.catalog_records, all.len(), "{v:?}");
}

/// The checker is not one that cannot fail: a hand-written log, and the
/// real log of a run with its flushes removed or moved after the rename.
#[test]
fn the_checker_catches_a_missing_or_late_flush() {
    // 1. Hand-written: a new archive renamed over the old one.
    let seed = Model::of_paths("/r", &["sauve/BX.SVG", ".svgauto/"]);
    let log = |fsync_file: bool, fsync_dir: bool, unlink_old: bool| {
        let mut s = String::from(
            "7 10:00:00.000001 openat(AT_FDCWD</r>, \"/r/sauve/BX.SVG.partial\", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 3</r/sauve/BX.SVG.partial>\n\
             7 10:00:00.000002 write(3</r/sauve/BX.SVG.partial>, \"PK\\3\\4\"..., 1048576 <unfinished ...>\n\
             8 10:00:00.000003 openat(AT_FDCWD</r>, \"/r/.svgauto/x\", O_RDONLY) = -1 ENOENT (No such file or directory)\n\
             7 10:00:00.000004 <... write resumed>) = 1048576\n\
             7 10:00:00.000005 write(3</r/sauve/BX.SVG.partial>, \"PK\\5\\6\", 22) = 22\n",
        );
        if fsync_file {
            s.push_str("7 10:00:00.000006 fsync(3</r/sauve/BX.SVG.partial>) = 0\n");
        }
        s.push_str("7 10:00:00.000007 close(3</r/sauve/BX.SVG.partial>) = 0\n");
        if unlink_old {
            s.push_str("7 10:00:00.000008 unlink(\"/r/sauve/BX.SVG\") = 0\n");
        }
        s.push_str(
            "7 10:00:00.000008 rename(\"/r/sauve/BX.SVG.partial\", \"/r/sauve/BX.SVG\") = 0\n\
             7 10:00:00.000009 openat(AT_FDCWD</r>, \"/r/sauve\", O_RDONLY|O_CLOEXEC) = 3</r/sauve>\n",
        );
        if fsync_dir {
            s.push_str("7 10:00:00.000010 fsync(3</r/sauve>) = 0\n");
        }
        s.push_str(
            "8 10:00:00.000011 pwrite64(5</r/.svgauto/catalog.sqlite-wal>, \"\\r\\0fp-of-X\\0\", 4096, 4152) = 4096\n",
        );
        parse_log(&s)
    };
    let watch = Watch::Run {
        sauve: "/r/sauve".into(),
        fingerprints: vec![("X".into(), "fp-of-X".into())],
    };
    let good = log(true, true, false);
    assert_eq!(good.len(), 10, "{good:#?}");
    let v = check(&seed, &good, &watch);
    v.assert_clean("hand-written log with every flush");
    assert_eq!(v.stats.catalog_records, 1);
    check(&seed, &log(false, true, false), &watch).assert_caught(
        "hand-written, no fsync of the file",
        "BX.SVG may name a file whose data are not durable",
    );
    check(&seed, &log(true, false, false), &watch).assert_caught(
        "hand-written, no fsync of the folder",
        "the folder is never flushed",
    );
    check(&seed, &log(true, true, true), &watch).assert_caught(
        "hand-written, the old archive removed before the rename",
        "the previous archive BX.SVG may be durably gone",
    );

    // 2. The real log of a run.
    strace();
    let (base, codes) = saved_base();
    let t = traced_run(&base, 1, &codes, "run-neg");
    check(&t.seed, &t.calls, &t.watch).assert_clean("the real log, as is");

    // No fsync of the .partial files.
    let no_file_fsync: Vec<Call> = t
        .calls
        .iter()
        .filter(|c| !is_flush_of(c, |p| p.ends_with(".SVG.partial")))
        .cloned()
        .collect();
    assert!(no_file_fsync.len() < t.calls.len());
    let v = check(&t.seed, &no_file_fsync, &t.watch);
    figures("negative control, no fsync of the archives", &v);
    v.assert_caught(
        "real log without the fsync of the archives",
        "may name a file whose data are not durable",
    );

    // Each .partial flushed only after its rename.
    let mut late = t.calls.clone();
    let mut moved = 0;
    while let Some(i) = late
        .iter()
        .position(|c| is_flush_of(c, |p| p.ends_with(".SVG.partial")))
    {
        let f = late.remove(i);
        let partial = f.fd_path(0).unwrap();
        let r = late[i..]
            .iter()
            .position(|c| {
                c.name.starts_with("rename")
                    && c.args
                        .iter()
                        .any(|a| unquote(a).as_deref() == Some(&partial))
            })
            .expect("the partial is renamed after its flush")
            + i;
        // Renamed already: no longer matches the `.partial` search.
        let mut f = f;
        f.args[0] = f.args[0].replace(".SVG.partial>", ".SVG>");
        late.insert(r + 1, f);
        moved += 1;
    }
    assert_eq!(moved, codes.len());
    let v = check(&t.seed, &resequence(late), &t.watch);
    v.assert_caught(
        "real log with the fsync of the archives after their rename",
        "may name a file whose data are not durable",
    );

    // No fsync of the folder after the renames.
    let sauve = format!("{}/sauve", canonical(base.root()));
    let no_dir_fsync: Vec<Call> = t
        .calls
        .iter()
        .filter(|c| !is_flush_of(c, |p| p == sauve))
        .cloned()
        .collect();
    let v = check(&t.seed, &no_dir_fsync, &t.watch);
    v.assert_caught(
        "real log without the fsync of sauve/",
        "the folder is never flushed",
    );
}

// ---------------------------------------------------------------------------
// Restore
// ---------------------------------------------------------------------------

struct RestoreTrace {
    seed: Model,
    calls: Vec<Call>,
    watch: Watch,
    dossiers: String,
}

/// `restore` of dossier A (nested folders, an empty one, accented names,
/// associated documents carried over by hard links) over a live dossier
/// that changed since its backup.
fn traced_restore() -> RestoreTrace {
    strace();
    let base = restorable_base("zstd");
    base.write("A", "notes.txt", "modifié depuis\n");
    base.write("A", "compta/nouveau.dat", "ajouté depuis\n");
    base.write("A", "documents/ajout.txt", "document ajouté\n");
    let archive = base.copy_archive("A", "remonter", "BA.SVG");
    let root = canonical(base.root());
    let seed = Model::of_disk(base.top());
    let t = traced(
        &base,
        &["restore", "--base", &root, archive.to_str().unwrap()],
        "restore",
    );
    assert_eq!(
        t.out.code,
        Some(0),
        "{}\nstdout:\n{}\nstderr:\n{}",
        t.out.cmdline,
        t.out.stdout,
        t.out.stderr
    );
    assert!(
        fs::read_to_string(base.path("A", "notes.txt")).unwrap() == "à relire\n",
        "the restore brought back the archived notes.txt"
    );
    assert!(base.path("A", "documents/ajout.txt").exists());
    base.assert_no_restore_leftovers();
    // The live dossier had changed since its backup: saved first.
    let mut aside = Vec::new();
    walk_files(&base.sauve().join("AvantRemontee"), &mut |p| {
        aside.push(canonical(p))
    });
    assert_eq!(
        aside.len(),
        1,
        "one archive saved before the restore: {aside:?}"
    );
    assert!(
        t.out.stdout.contains("état précédent sauvegardé dans"),
        "{}",
        t.out.stdout
    );
    let dossiers = format!("{root}/dossiers");
    RestoreTrace {
        seed,
        calls: parse_log(&t.log),
        watch: Watch::Restore {
            dossiers: dossiers.clone(),
            code: "A".into(),
            aside: aside.pop(),
        },
        dossiers,
    }
}

/// The restore switch as it is: at every crash point, `dossiers/A` (or what
/// `recover` puts in its place) is the old tree or the new one, durable.
#[test]
fn restore_does_not_flush_the_extracted_folders_before_the_switch() {
    let r = traced_restore();
    let v = check(&r.seed, &r.calls, &r.watch);
    figures("restore", &v);
    v.assert_clean("restore");
}

/// The restore's log with the missing flushes added — an fsync of every
/// folder of the extracted tree just before `.svgauto-new-A` is renamed
/// `.svgauto-ready-A` — passes the model: the checker proves the fix. And
/// with the flushes of one subfolder taken out again, it fails.
#[test]
fn restore_passes_the_model_once_its_extracted_folders_are_flushed() {
    let r = traced_restore();
    let new = format!("{}/.svgauto-new-A", r.dossiers);
    let publish = r
        .calls
        .iter()
        .position(|c| {
            c.ok()
                && c.name.starts_with("rename")
                && unquote(c.arg(if c.name == "rename" { 0 } else { 1 })).as_deref()
                    == Some(new.as_str())
        })
        .expect("the restore renames .svgauto-new-A");
    let folders: BTreeSet<String> = r.calls[..publish]
        .iter()
        .filter(|c| c.ok() && c.name.starts_with("mkdir"))
        .filter_map(|c| unquote(c.arg(if c.name == "mkdir" { 0 } else { 1 })))
        .filter(|p| *p == new || p.starts_with(&format!("{new}/")))
        .collect();
    assert!(
        folders.len() >= 5,
        "the extracted tree has its folders: {folders:?}"
    );
    let mut fixed = r.calls.clone();
    let tmpl = r.calls[publish].clone();
    for (i, dir) in folders.iter().rev().enumerate() {
        let mut f = tmpl.clone();
        f.name = "fsync".into();
        f.args = vec![format!("{}<{dir}>", 900 + i)];
        f.ret = "0".into();
        fixed.insert(publish, f);
    }
    let fixed = resequence(fixed);
    let v = check(&r.seed, &fixed, &r.watch);
    figures("restore with the folders of the new tree flushed", &v);
    v.assert_clean("restore with the missing folder flushes added");

    // Negative control: one subfolder never flushed (neither by the added
    // calls nor by any the restore may make itself).
    let sub = format!("{new}/a/b");
    assert!(folders.contains(&sub), "{folders:?}");
    let unflushed: Vec<Call> = fixed
        .into_iter()
        .filter(|c| !is_flush_of(c, |p| p == sub || p.ends_with("/a/b")))
        .collect();
    check(&r.seed, &resequence(unflushed), &r.watch).assert_caught(
        "restore with a/b/ never flushed",
        "folder dossiers/.svgauto-ready-A/a/b/ never flushed",
    );
}

/// A restore over a state no archive holds saves that state first
/// (`sauve/AvantRemontee/<stamp>/BA.SVG`): at every crash point where the
/// dossier may already be the new tree, that archive is durable — its data,
/// and its name in every folder of its path, the folders the restore
/// created included. Negative controls: without the flush of
/// `AvantRemontee/` (which makes the new `<stamp>/` folder durable), or of
/// the archive's data, the checker reports it.
#[test]
fn the_state_saved_before_a_restore_is_durable_before_the_switch() {
    let r = traced_restore();
    let v = check(&r.seed, &r.calls, &r.watch);
    figures("restore over a state saved first", &v);
    v.assert_clean("restore over a state saved first");

    let Watch::Restore {
        aside: Some(aside), ..
    } = &r.watch
    else {
        panic!("the restore saved the live state first: {:?}", r.watch);
    };
    let stamp = Path::new(aside).parent().unwrap();
    let holder = stamp.parent().unwrap().to_str().unwrap().to_owned();
    assert!(holder.ends_with("/AvantRemontee"), "{holder}");
    let without = |pred: &dyn Fn(&str) -> bool| -> Vec<Call> {
        r.calls
            .iter()
            .filter(|c| !is_flush_of(c, pred))
            .cloned()
            .collect()
    };
    check(&r.seed, &without(&|p| p == holder), &r.watch).assert_caught(
        "restore with AvantRemontee/ never flushed",
        "may be missing from its folder",
    );
    let partial = format!("{aside}.partial");
    check(
        &r.seed,
        &without(&|p| p == partial || p == *aside),
        &r.watch,
    )
    .assert_caught(
        "restore with the saved archive's data never flushed",
        "writes flushed",
    );
}
