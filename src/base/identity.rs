//! A dossier's identity (DESIGN §2): its `dossier.toml` — code, name,
//! status, kind, whether it may leave its server — read and checked
//! against the folder that holds it, and the rule on dossier codes.
//!
//! A bad identity is an [`IdentityError`] whose message is the French
//! sentence the report shows for that dossier: one bad `dossier.toml` is an
//! error line, never the end of the run. So is an entry of `dossiers/` that
//! cannot be a dossier at all (a link, an entry that cannot be read): no
//! identity is read from it, and the scan says why in the same type.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{DOSSIER_TOML, DOSSIERS_DIR};
use crate::config;

/// Whether a dossier is the firm's own or a copy of another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Original,
    Copie,
}

/// What a dossier is for: a client's (`normal`), a template to copy from
/// (`etalon`), or a test; only normal dossiers are saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Normal,
    Etalon,
    Test,
}

/// The identity of a dossier, from its `dossier.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The dossier's code: its folder's name ([`valid_code`]).
    pub code: String,
    /// The client's name, if recorded.
    #[serde(default)]
    pub name: Option<String>,
    /// Original or copy (default: original).
    #[serde(default = "default_status")]
    pub status: Status,
    /// What the dossier is for (default: normal).
    #[serde(default = "default_kind")]
    pub kind: Kind,
    /// Whether the dossier's archives may leave its server (`backup.dir`
    /// may be a NAS); `false`: the dossier is not saved.
    #[serde(default = "default_true")]
    pub transferable: bool,
}

fn default_status() -> Status {
    Status::Original
}

fn default_kind() -> Kind {
    Kind::Normal
}

fn default_true() -> bool {
    true
}

/// Why a folder of `dossiers/` has no usable identity. Each message is the
/// French sentence the dossier's report line shows; `rel` is
/// `dossiers/<folder>/dossier.toml`. Cloned with the scan it belongs to
/// (an I/O cause is shared, not copied).
#[derive(Debug, Clone, Error)]
pub enum IdentityError {
    /// The entry of `dossiers/` is a symbolic link (or a Windows junction):
    /// never followed, so never saved — and said, not silently skipped.
    #[error(
        "Le dossier est un lien symbolique (ou une jonction) : il n'est pas suivi ni sauvegardé."
    )]
    Link,
    /// What the entry of `dossiers/` is could not be read.
    #[error("Lecture impossible du dossier : {source}.")]
    FolderUnreadable { source: Arc<std::io::Error> },
    /// The folder's name is not a dossier code ([`valid_code`]).
    #[error(
        "Nom de dossier invalide : un code fait de 1 à 32 caractères parmi A-Z a-z 0-9 _ - est attendu ({rel} non lu)."
    )]
    BadFolderName { rel: String },
    /// No `dossier.toml`.
    #[error("Fichier {rel} absent : ce dossier n'a pas d'identité.")]
    Missing { rel: String },
    /// `dossier.toml` could not be read.
    #[error("Fichier {rel} illisible : {source}.")]
    Unreadable {
        rel: String,
        source: Arc<std::io::Error>,
    },
    /// `dossier.toml` is not a valid identity (`detail`: where and why).
    #[error("Fichier {rel} invalide : {detail}.")]
    Invalid { rel: String, detail: String },
    /// `dossier.toml` names another dossier than its folder.
    #[error(
        "Fichier {rel} invalide : code = \"{code}\" ne correspond pas au nom du dossier \"{folder}\"."
    )]
    CodeMismatch {
        rel: String,
        code: String,
        folder: String,
    },
}

/// A dossier code: 1–32 of `A-Z a-z 0-9 _ -`.
pub fn valid_code(code: &str) -> bool {
    (1..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads `<dir>/dossier.toml` and checks it against the folder name.
pub fn read_identity(dir: &Path, folder: &str) -> Result<Identity, IdentityError> {
    let rel = format!("{DOSSIERS_DIR}/{folder}/{DOSSIER_TOML}");
    if !valid_code(folder) {
        return Err(IdentityError::BadFolderName { rel });
    }
    let text = match std::fs::read_to_string(dir.join(DOSSIER_TOML)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IdentityError::Missing { rel });
        }
        Err(e) => {
            return Err(IdentityError::Unreadable {
                rel,
                source: Arc::new(e),
            });
        }
    };
    let id: Identity = match toml::from_str(&text) {
        Ok(id) => id,
        Err(e) => {
            let detail = config::syntax_message(&text, &e);
            return Err(IdentityError::Invalid { rel, detail });
        }
    };
    if id.code != folder {
        return Err(IdentityError::CodeMismatch {
            rel,
            code: id.code,
            folder: folder.to_owned(),
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert!(valid_code("821516"));
        assert!(valid_code("A_b-9"));
        assert!(!valid_code(""));
        assert!(!valid_code("a b"));
        assert!(!valid_code("é"));
        assert!(!valid_code(&"x".repeat(33)));
    }

    #[test]
    fn identity_defaults_and_mismatch() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(DOSSIER_TOML), "code = \"X1\"\n").unwrap();
        let id = read_identity(d.path(), "X1").unwrap();
        assert_eq!(
            (id.status, id.kind, id.transferable),
            (Status::Original, Kind::Normal, true)
        );
        let err = read_identity(d.path(), "X2").unwrap_err().to_string();
        assert!(err.contains("dossier.toml") && err.contains("X2"), "{err}");
        std::fs::write(
            d.path().join(DOSSIER_TOML),
            "code = \"X1\"\nkind = \"bof\"\n",
        )
        .unwrap();
        let err = read_identity(d.path(), "X1").unwrap_err().to_string();
        assert!(err.contains("dossier.toml invalide"), "{err}");
    }

    /// The sentences of the entries of `dossiers/` that cannot be dossiers,
    /// as the report has always said them.
    #[test]
    fn an_entry_that_cannot_be_a_dossier_is_said_in_a_sentence() {
        assert_eq!(
            IdentityError::Link.to_string(),
            "Le dossier est un lien symbolique (ou une jonction) : il n'est pas suivi ni sauvegardé."
        );
        let source = Arc::new(std::io::Error::other("Permission non accordée"));
        assert_eq!(
            IdentityError::FolderUnreadable { source }.to_string(),
            "Lecture impossible du dossier : Permission non accordée."
        );
    }
}
