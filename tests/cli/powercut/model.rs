//! A crash model of a file system: the states a disk may hold after a
//! power cut, given the calls made so far ([`Model::apply`],
//! [`Model::states`]).
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

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use super::strace::{Call, fd_of, unquote};

pub(super) type Ino = usize;

#[derive(Debug, Clone)]
pub(super) enum Op {
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
pub(super) struct Node {
    pub(super) dir: bool,
    /// Existed before the traced command: durable as found.
    pub(super) pre: bool,
    /// Completion positions of the changes to a file's data.
    pub(super) writes: Vec<usize>,
    /// How many of `writes` are durable for sure.
    pub(super) synced_writes: usize,
    /// A folder's durable entries as found.
    pub(super) base: BTreeMap<String, Ino>,
    /// A folder's entry changes since, with their completion positions.
    pub(super) ops: Vec<(usize, Op)>,
    /// How many of `ops` are durable for sure.
    pub(super) synced_ops: usize,
    /// A folder's entries now.
    pub(super) entries: BTreeMap<String, Ino>,
}

/// Figures of one replay.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Stats {
    pub(super) calls: usize,
    pub(super) crash_points: usize,
    pub(super) states: usize,
    pub(super) writes: usize,
    pub(super) renames: usize,
    pub(super) file_fsyncs: usize,
    pub(super) dir_fsyncs: usize,
    pub(super) catalog_records: usize,
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
pub(super) struct Model {
    /// The modelled tree: everything under it (a test's temp folder).
    pub(super) root: String,
    /// The traced command's working folder, for relative paths.
    cwd: String,
    pub(super) nodes: Vec<Node>,
    /// Open descriptors (one process: its threads share them).
    fds: HashMap<i64, Ino>,
    pub(super) stats: Stats,
}

impl Model {
    /// The tree under `root` as it is on disk now, all of it durable.
    pub(super) fn of_disk(root: &Path) -> Model {
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
    pub(super) fn of_paths(root: &str, paths: &[&str]) -> Model {
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
    pub(super) fn comps(&self, path: &str) -> Option<Vec<String>> {
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

    pub(super) fn lookup_path(&self, path: &str) -> Option<Ino> {
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
    pub(super) fn apply(&mut self, c: &Call) -> Result<(), String> {
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
    pub(super) fn states(&self, dir: Ino) -> Vec<BTreeMap<String, Ino>> {
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
