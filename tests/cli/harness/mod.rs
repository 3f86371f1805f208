//! The test harness: a builder that lays out a base of dossiers in a temp
//! folder (DESIGN.md §2), helpers that run the real `svgauto` binary and
//! read what it leaves behind (reports, archives), and assertions that print
//! a readable account of what differs when they fail.
//!
//! Everything here goes through the file system and the command line, like a
//! scheduled task would: the tests never call the library.
//!
//! This file owns the [`Base`] builder and the [`Dossier`] builder, and the
//! paths of what a run leaves (`sauve/`, the archives, `maj/`). The rest, one
//! concern a file, is re-exported here so that a test module needs only
//! `use crate::harness::*;`:
//! - [`run`]: running the binary — [`Out`], [`Running`], [`Holder`], the
//!   commands of a base, [`settle`];
//! - [`tree`]: the model of a tree of files, [`Snapshot`], and its comparator
//!   [`assert_same_snapshot`]; small file system helpers;
//! - [`archive`]: archive [`Stamps`], reading an archive, damaging one, and the
//!   7-Zip and Info-ZIP runners;
//! - [`report`]: the text report and its JSON twin, parsed and asserted;
//! - [`zip_craft`]: [`Craft`], to make damaged or hostile archives;
//! - [`data`]: deterministic test data ([`Rng`], file contents, ready-made
//!   bases);
//! - [`s3`]: the off-site tests' S3 server (rclone), fault proxy, age keys
//!   and `[offsite]` settings;
//! - [`tools`]: other programs (found on the PATH, run), and who runs the tests.

#![allow(dead_code)] // every test module uses a different part of it

pub mod archive;
pub mod data;
pub mod report;
pub mod run;
pub mod s3;
pub mod tools;
pub mod tree;
pub mod zip_craft;

pub use archive::*;
pub use data::*;
pub use report::*;
pub use run::*;
pub use s3::*;
pub use tools::*;
pub use tree::*;
pub use zip_craft::*;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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

    /// The drop folder of `svgauto import`.
    pub fn maj(&self) -> PathBuf {
        self.root.join("maj")
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
