//! A base ("base commune", DESIGN §2): its on-disk layout, its
//! `base.toml` (common settings and collaborators' rights) and the
//! identity of each dossier (`dossier.toml`).
//!
//! Every name of the layout is defined here, once:
//!
//! ```text
//! <base>/
//! ├── base.toml                    BASE_TOML
//! ├── dossiers/                    DOSSIERS_DIR
//! │   ├── <CODE>/                  a dossier (identity.rs: valid_code)
//! │   │   ├── dossier.toml         DOSSIER_TOML
//! │   │   ├── dossier.lock         LOCK_FILE
//! │   │   └── documents/           DOCUMENTS
//! │   └── .svgauto-<kind>-<CODE>   TEMP_PREFIX (a restore's temporary trees)
//! ├── maj/                         MAJ_DIR (archives to import)
//! └── .svgauto/                    STATE_DIR: the catalog, RUN_LOCK
//! <backup.dir>/                    Base::backup_dir
//! ├── [<rotation>/]B<CODE>.SVG     target_dir, file_name
//! ├── log/                         LOG_DIR (the run reports)
//! ├── EchangePrest/ Cloture/       EXCHANGE_DIR, CLOSING_DIR (event saves)
//! └── AvantRemontee/               SAFEGUARD_DIR (states saved before a restore)
//! ```
//!
//! Opening a base validates everything a run needs before it touches
//! anything: the folder, the settings layers, the collaborator
//! (`rights.rs`). Dossier identities are parsed per dossier
//! (`identity.rs`), so one bad `dossier.toml` is an error line for that
//! dossier, never the end of the run.

mod identity;
mod rights;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Local};
use thiserror::Error;

use crate::config::{self, ConfigError, Effective, Layer, LayerTable, Subdir};
use crate::sys::lock::{self, LockError};
pub use identity::{Identity, IdentityError, Kind, Status, read_identity, valid_code};
pub use rights::Rights;
use rights::parse_collaborators;

/// The base's settings and collaborators, at its root.
pub const BASE_TOML: &str = "base.toml";
/// The folder of the dossiers, at the base's root.
pub const DOSSIERS_DIR: &str = "dossiers";
/// A dossier's identity, in its folder.
pub const DOSSIER_TOML: &str = "dossier.toml";
/// A dossier's lock file, in its folder: applications hold it while the
/// dossier is open; never part of an archive.
pub const LOCK_FILE: &str = "dossier.lock";
/// A dossier's associated documents, archived only when
/// `backup.include_documents` says so.
pub const DOCUMENTS: &str = "documents";
/// svgauto's own folder at the base's root: the catalog and the run lock.
pub const STATE_DIR: &str = ".svgauto";
/// The base's run lock, in [`STATE_DIR`]: one svgauto at a time writes
/// into a base.
pub const RUN_LOCK: &str = "run.lock";
/// The folder of archives to import (`svgauto import`), at the base's root.
pub const MAJ_DIR: &str = "maj";
/// The folder of the run reports, in `backup.dir`.
pub const LOG_DIR: &str = "log";
/// The folder of `backup.dir` where a restore saves the live state of a
/// dossier no archive holds.
pub const SAFEGUARD_DIR: &str = "AvantRemontee";
/// Names of restore's temporary folders in `dossiers/` start with this.
pub const TEMP_PREFIX: &str = ".svgauto-";
/// The folder of `backup.dir` for backups taken before a provider exchange.
pub const EXCHANGE_DIR: &str = "EchangePrest";
/// The folder of `backup.dir` for backups taken before closing a dossier.
pub const CLOSING_DIR: &str = "Cloture";

/// Why a base cannot be used (French, for the user): the command stops
/// before it touches anything.
#[derive(Debug, Error)]
pub enum BaseError {
    #[error("base introuvable : {} n'est pas un dossier lisible", path.display())]
    Missing {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("base invalide : {} n'a pas de sous-dossier `dossiers/`", path.display())]
    NoDossiers { path: PathBuf },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "une autre exécution de svgauto travaille déjà sur cette base (verrou {}) ; celle-ci s'arrête sans rien faire",
        path.display()
    )]
    Busy { path: PathBuf },
    #[error("répertoire d'état {} inutilisable", path.display())]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{what} est à l'intérieur du répertoire des dossiers : {} (chemin réel {}, sous {}) ; ce qu'il contient serait sauvegardé avec le dossier qui l'abrite, et restaurer ce dossier le remettrait dans un état ancien. Choisir un répertoire hors de {}",
        path.display(),
        resolved.display(),
        dossiers.display(),
        dossiers.display()
    )]
    InsideDossiers {
        /// The folder and the setting that puts it there, in French.
        what: String,
        path: PathBuf,
        /// `path` with its links resolved (its nearest existing ancestor
        /// resolved, when it does not exist yet).
        resolved: PathBuf,
        /// `dossiers/`, resolved.
        dossiers: PathBuf,
    },
    #[error("{} : `collaborators.{user}.dossiers` doit valoir \"*\" ou une liste de codes", path.display())]
    BadRights { path: PathBuf, user: String },
    #[error(
        "collaborateur inconnu : {user} (collaborateurs déclarés dans {} : {known})",
        path.display()
    )]
    UnknownUser {
        path: PathBuf,
        user: String,
        known: String,
    },
}

/// An opened base, with its validated settings.
#[derive(Debug)]
pub struct Base {
    /// The base's folder, as given.
    pub root: PathBuf,
    /// The settings in force (every layer merged), with where each comes
    /// from.
    pub effective: Effective,
    /// Collaborators of `base.toml`, with their rights.
    pub collaborators: Vec<(String, Rights)>,
}

impl Base {
    /// Opens the base at `root` with an optional workstation settings file.
    pub fn open(root: &Path, workstation: Option<&Path>) -> Result<Base, BaseError> {
        std::fs::read_dir(root).map_err(|source| BaseError::Missing {
            path: root.to_owned(),
            source,
        })?;
        if !root.join(DOSSIERS_DIR).is_dir() {
            return Err(BaseError::NoDossiers {
                path: root.to_owned(),
            });
        }
        let base_path = root.join(BASE_TOML);
        let base_table = config::read_toml(&base_path)?;
        let collaborators = parse_collaborators(&base_path, &base_table)?;
        let mut layers = Vec::new();
        if let Some(ws) = workstation {
            let t = config::read_toml(ws)?;
            layers.push(LayerTable::new(
                Layer::Workstation(ws.to_owned()),
                ws,
                t,
                &[],
            )?);
        }
        layers.push(LayerTable::new(
            Layer::Base(base_path.clone()),
            &base_path,
            base_table,
            &["collaborators"],
        )?);
        let effective = config::merge(&layers)?;
        Ok(Base {
            root: root.to_owned(),
            effective,
            collaborators,
        })
    }

    /// `<base>/dossiers/`.
    pub fn dossiers_dir(&self) -> PathBuf {
        self.root.join(DOSSIERS_DIR)
    }

    /// `<base>/.svgauto/`.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    /// `<base>/.svgauto/run.lock`.
    pub fn run_lock_path(&self) -> PathBuf {
        self.state_dir().join(RUN_LOCK)
    }

    /// Takes the base's run lock (`.svgauto/run.lock`) without waiting: one
    /// svgauto at a time writes into a base (run, restore, import).
    pub fn lock_run(&self) -> Result<lock::Held, BaseError> {
        let dir = self.state_dir();
        crate::sys::owner_only::create_dir_all(&dir).map_err(|source| BaseError::State {
            path: dir.clone(),
            source,
        })?;
        let path = self.run_lock_path();
        match lock::try_exclusive(&path) {
            Ok(h) => Ok(h),
            Err(LockError::Busy) => Err(BaseError::Busy { path }),
            Err(LockError::Io(source)) => Err(BaseError::State { path, source }),
        }
    }

    /// `backup.dir`, relative to the base unless absolute.
    pub fn backup_dir(&self) -> PathBuf {
        self.root.join(&self.effective.settings.backup.dir)
    }

    /// Refuses a backup folder (`backup.dir`) or a state folder
    /// (`.svgauto`) inside `dossiers/` — directly, through a symbolic link,
    /// or by a path that resolves there: each night's archive of the dossier
    /// holding it would hold every other archive (or the catalog), and a
    /// restore of that dossier would put old ones back. Paths are compared
    /// resolved, with the folders that creating them would add
    /// ([`resolved_path`]).
    pub fn check_outside_dossiers(&self) -> Result<(), BaseError> {
        self.check_folder_outside_dossiers(
            &format!(
                "le répertoire de sauvegarde (paramètre {})",
                self.effective.setting_text("backup.dir")
            ),
            &self.backup_dir(),
        )?;
        self.check_folder_outside_dossiers(
            &format!("le répertoire d'état de la base ({STATE_DIR})"),
            &self.state_dir(),
        )
    }

    /// Refuses, before anything is written, a rotation subfolder `target`
    /// inside `dossiers/` (`backup.dir` itself is checked by
    /// [`Base::check_outside_dossiers`]).
    pub fn check_rotation_folder(&self, target: &Path) -> Result<(), BaseError> {
        if target == self.backup_dir() {
            return Ok(());
        }
        self.check_folder_outside_dossiers(
            &format!(
                "le sous-répertoire de rotation (paramètre {})",
                self.effective.setting_text("backup.subdir")
            ),
            target,
        )
    }

    /// [`Base::check_outside_dossiers`] for one more folder svgauto writes
    /// into (a rotation or event subfolder of `backup.dir`, which a link
    /// can send elsewhere); `what` names it and its setting, in French.
    pub fn check_folder_outside_dossiers(&self, what: &str, path: &Path) -> Result<(), BaseError> {
        // `dossiers/` exists (checked by `open`); unresolvable, the commands
        // that read it say why.
        let Ok(dossiers) = std::fs::canonicalize(self.dossiers_dir()) else {
            return Ok(());
        };
        let Some((resolved, created)) = resolved_path(path) else {
            return Ok(());
        };
        // The folder itself, or one that creating it would make on the way
        // (`dossiers/X/../../sauve` creates `dossiers/X`).
        let inside = std::iter::once(resolved)
            .chain(created)
            .find(|p| p.starts_with(&dossiers));
        match inside {
            Some(resolved) => Err(BaseError::InsideDossiers {
                what: what.to_owned(),
                path: path.to_owned(),
                resolved,
                dossiers,
            }),
            None => Ok(()),
        }
    }

    /// The rights of `user`, or the contract's fatal error for an unknown user.
    pub fn rights(&self, user: &str) -> Result<Rights, BaseError> {
        self.collaborators
            .iter()
            .find(|(name, _)| name == user)
            .map(|(_, r)| r.clone())
            .ok_or_else(|| BaseError::UnknownUser {
                path: self.root.join(BASE_TOML),
                user: user.to_owned(),
                known: if self.collaborators.is_empty() {
                    "aucun".into()
                } else {
                    self.collaborators
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }
}

/// `path` with every symbolic link and `..` resolved, and the folders that
/// `create_dir_all(path)` would create, in order. For a path that does not
/// exist yet: its nearest existing ancestor resolved, then the rest
/// component by component — each a new real folder, so a `..` there goes
/// back up one. `None` when no ancestor resolves.
pub fn resolved_path(path: &Path) -> Option<(PathBuf, Vec<PathBuf>)> {
    let (ancestor, mut real) = path
        .ancestors()
        .find_map(|a| Some((a, std::fs::canonicalize(a).ok()?)))?;
    let mut created = Vec::new();
    let rest = path.strip_prefix(ancestor).unwrap_or(Path::new(""));
    for c in rest.components() {
        match c {
            std::path::Component::ParentDir => {
                real.pop();
            }
            std::path::Component::Normal(name) => {
                real.push(name);
                created.push(real.clone());
            }
            _ => {}
        }
    }
    Some((real, created))
}

/// The archive name of a dossier.
pub fn file_name(code: &str) -> String {
    format!("B{code}.SVG")
}

/// The folder a run writes its archives into: `backup.dir`, plus the
/// rotation subfolder chosen from the run's start date.
pub fn target_dir(backup_dir: &Path, subdir: Subdir, started: DateTime<Local>) -> PathBuf {
    const JOURS: [&str; 7] = [
        "Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche",
    ];
    match subdir {
        Subdir::None => backup_dir.to_owned(),
        Subdir::Weekday => {
            backup_dir.join(JOURS[started.weekday().num_days_from_monday() as usize])
        }
        Subdir::Monthday => backup_dir.join(started.format("%d").to_string()),
        Subdir::Month => backup_dir.join(started.format("%m").to_string()),
        Subdir::Date => backup_dir.join(started.format("%Y-%m-%d").to_string()),
    }
}

/// A path relative to the base when it is inside it, for reports and the
/// catalog.
pub(crate) fn display_path(p: &Path, root: &Path) -> String {
    p.strip_prefix(root)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    #[cfg_attr(
        windows,
        ignore = "Unix's `..`: Windows resolves `X\\..` by the name alone, so no folder X is created on the way and none is listed"
    )]
    fn paths_resolve_through_links_and_missing_tails() {
        let d = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(real.join("dossiers/A")).unwrap();
        assert_eq!(
            resolved_path(&d.path().join("dossiers/A/sauve/Lundi")),
            Some((
                real.join("dossiers/A/sauve/Lundi"),
                vec![
                    real.join("dossiers/A/sauve"),
                    real.join("dossiers/A/sauve/Lundi")
                ]
            ))
        );
        // `..` below a folder that does not exist yet: that folder would be
        // created inside `dossiers/` on the way.
        assert_eq!(
            resolved_path(&d.path().join("dossiers/X/../../sauve")),
            Some((
                real.join("sauve"),
                vec![real.join("dossiers/X"), real.join("sauve")]
            ))
        );
        assert_eq!(
            resolved_path(&d.path().join("dossiers/../sauve")),
            Some((real.join("sauve"), vec![real.join("sauve")]))
        );
        assert_eq!(
            resolved_path(&d.path().join("dossiers/A")),
            Some((real.join("dossiers/A"), vec![]))
        );
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(real.join("dossiers/A"), real.join("lien")).unwrap();
            assert_eq!(
                resolved_path(&d.path().join("lien/sauve")),
                Some((
                    real.join("dossiers/A/sauve"),
                    vec![real.join("dossiers/A/sauve")]
                ))
            );
        }
    }

    #[test]
    fn rotation_folders() {
        let b = Path::new("sauve");
        let t = Local.with_ymd_and_hms(2026, 11, 28, 21, 0, 0).unwrap(); // a Saturday
        assert_eq!(target_dir(b, Subdir::None, t), Path::new("sauve"));
        assert_eq!(target_dir(b, Subdir::Weekday, t), Path::new("sauve/Samedi"));
        assert_eq!(target_dir(b, Subdir::Monthday, t), Path::new("sauve/28"));
        assert_eq!(target_dir(b, Subdir::Month, t), Path::new("sauve/11"));
        assert_eq!(
            target_dir(b, Subdir::Date, t),
            Path::new("sauve/2026-11-28")
        );
    }
}
