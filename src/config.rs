//! Settings ("Paramétrage Sauvegardes"): three layers, highest first — the
//! workstation file ("Poste", `--config` or `$SVGAUTO_CONFIG`), the base's
//! `base.toml` ("Param. Commun"), then the defaults of DESIGN.md §6.
//!
//! Every key is described once in [`KEYS`]: its default, what it accepts and
//! the French label of the original product. Each layer is checked against
//! that table (unknown section, unknown key, bad value: an error naming the
//! file, the key and what is accepted), the layers are merged key by key
//! remembering where each value came from (for `svgauto config`), and only
//! then is the merged table turned into the typed [`Settings`] the rest of the
//! code reads.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;
use toml::Value;

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    Default,
    Base(PathBuf),
    Workstation(PathBuf),
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Default => f.write_str("défaut"),
            Layer::Base(_) => f.write_str("base.toml"),
            Layer::Workstation(p) => write!(f, "poste {}", p.display()),
        }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{} : lecture impossible", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} : encodage invalide, UTF-8 attendu (enregistrer le fichier en UTF-8) : ligne {line}, colonne {column}", path.display())]
    Encoding {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("{} : syntaxe TOML invalide : {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{} : section inconnue [{section}] (sections acceptées : {accepted})", path.display())]
    UnknownSection {
        path: PathBuf,
        section: String,
        accepted: String,
    },
    #[error("{} : clé inconnue `{key}` (clés acceptées dans [{section}] : {accepted})", path.display())]
    UnknownKey {
        path: PathBuf,
        section: String,
        key: String,
        accepted: String,
    },
    #[error("{} : valeur invalide pour `{key}` : {value} (attendu : {accepted})", path.display())]
    BadValue {
        path: PathBuf,
        key: String,
        value: String,
        accepted: String,
    },
    #[error("{} : `{section}` doit être une table [{section}]", path.display())]
    NotATable { path: PathBuf, section: String },
}

/// What a key accepts.
#[derive(Debug, Clone, Copy)]
enum Accepts {
    Str,
    OneOf(&'static [&'static str]),
    Bool,
    Int { min: i64, max: i64 },
    StrList,
}

impl Accepts {
    fn describe(self) -> String {
        match self {
            Accepts::Str => "une chaîne entre guillemets".into(),
            Accepts::OneOf(v) => v
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(" | "),
            Accepts::Bool => "true | false".into(),
            Accepts::Int { min, max } => format!("un entier de {min} à {max}"),
            Accepts::StrList => "une liste de chaînes, par ex. [\"a@b.fr\"]".into(),
        }
    }

    fn check(self, v: &Value) -> bool {
        match (self, v) {
            (Accepts::Str, Value::String(_)) => true,
            (Accepts::OneOf(allowed), Value::String(s)) => allowed.contains(&s.as_str()),
            (Accepts::Bool, Value::Boolean(_)) => true,
            (Accepts::Int { min, max }, Value::Integer(i)) => (min..=max).contains(i),
            (Accepts::StrList, Value::Array(a)) => a.iter().all(Value::is_str),
            _ => false,
        }
    }
}

/// One setting of DESIGN.md §6.
#[derive(Debug)]
pub struct KeyDef {
    pub section: &'static str,
    pub key: &'static str,
    default: fn() -> Value,
    accepts: Accepts,
    /// The label of the original product's settings screen.
    pub label: &'static str,
}

macro_rules! key {
    ($section:literal, $key:literal, $default:expr, $accepts:expr, $label:literal) => {
        KeyDef {
            section: $section,
            key: $key,
            default: || Value::from($default),
            accepts: $accepts,
            label: $label,
        }
    };
}

const METHODS: &[&str] = &["zstd", "deflate", "store"];

/// Every setting, in the order `svgauto config` prints them.
pub static KEYS: &[KeyDef] = &[
    key!(
        "backup",
        "dir",
        "sauve",
        Accepts::Str,
        "Répertoire local de sauvegarde"
    ),
    key!(
        "backup",
        "subdir",
        "none",
        Accepts::OneOf(&["none", "weekday", "monthday", "month", "date"]),
        "Sous-répertoire de sauvegarde"
    ),
    key!(
        "backup",
        "dossiers",
        "originals-and-copies",
        Accepts::OneOf(&["originals", "copies", "originals-and-copies"]),
        "Dossiers sauvegardés"
    ),
    key!(
        "backup",
        "modified_only",
        true,
        Accepts::Bool,
        "Dossiers modifiés depuis la dernière sauvegarde"
    ),
    key!(
        "backup",
        "include_documents",
        false,
        Accepts::Bool,
        "Sauvegarde des documents associés au dossier"
    ),
    key!(
        "events",
        "on_exit",
        false,
        Accepts::Bool,
        "A la sortie du dossier"
    ),
    key!(
        "events",
        "before_provider_exchange",
        true,
        Accepts::Bool,
        "Avant réception échange prestataire"
    ),
    key!(
        "events",
        "before_closing",
        true,
        Accepts::Bool,
        "Avant clôture du dossier"
    ),
    key!(
        "report",
        "recipients",
        Vec::<String>::new(),
        Accepts::StrList,
        "Destinataire(s) du rapport de traitement en cas d'erreur"
    ),
    key!("smtp", "name", "", Accepts::Str, "Nom"),
    key!("smtp", "email", "", Accepts::Str, "Email"),
    key!("smtp", "server", "", Accepts::Str, "Serveur Mail"),
    key!(
        "smtp",
        "port",
        25,
        Accepts::Int { min: 1, max: 65535 },
        "Port à utiliser"
    ),
    key!("smtp", "username", "", Accepts::Str, "Nom d'utilisateur"),
    key!(
        "smtp",
        "password_env",
        "",
        Accepts::Str,
        "Variable d'environnement du mot de passe"
    ),
    key!(
        "smtp",
        "tls",
        "none",
        Accepts::OneOf(&["none", "starttls", "tls"]),
        "Chiffrement"
    ),
    key!(
        "smtp",
        "delay_s",
        1,
        Accepts::Int { min: 0, max: 3600 },
        "Délai entre chaque envoi (secondes)"
    ),
    key!(
        "archive",
        "method",
        "zstd",
        Accepts::OneOf(METHODS),
        "Compression"
    ),
    key!(
        "archive",
        "level",
        3,
        Accepts::Int { min: 0, max: 22 },
        "Niveau de compression"
    ),
    key!(
        "run",
        "threads",
        0,
        Accepts::Int { min: 0, max: 1024 },
        "Threads (0 : un par cœur)"
    ),
    key!(
        "run",
        "io_jobs",
        4,
        Accepts::Int { min: 1, max: 1024 },
        "Fichiers lus ou écrits en même temps"
    ),
    key!(
        "offsite",
        "url",
        "",
        Accepts::Str,
        "Copie externalisée : s3://BUCKET/PRÉFIXE"
    ),
    key!(
        "offsite",
        "endpoint",
        "",
        Accepts::Str,
        "Point d'accès S3 (vide : AWS)"
    ),
    key!("offsite", "region", "us-east-1", Accepts::Str, "Région S3"),
    key!(
        "offsite",
        "access_key_env",
        "SVGAUTO_S3_ACCESS_KEY_ID",
        Accepts::Str,
        "Variable d'environnement de la clé d'accès"
    ),
    key!(
        "offsite",
        "secret_key_env",
        "SVGAUTO_S3_SECRET_ACCESS_KEY",
        Accepts::Str,
        "Variable d'environnement de la clé secrète"
    ),
    key!(
        "offsite",
        "recipients",
        Vec::<String>::new(),
        Accepts::StrList,
        "Clés publiques age des destinataires"
    ),
    key!(
        "offsite",
        "allow_plain",
        false,
        Accepts::Bool,
        "Copie non chiffrée autorisée"
    ),
    key!(
        "offsite",
        "after_run",
        true,
        Accepts::Bool,
        "Copie à la fin de chaque traitement"
    ),
    key!(
        "offsite",
        "bandwidth",
        "",
        Accepts::Str,
        "Débit maximal d'envoi"
    ),
    key!(
        "offsite",
        "keep_daily",
        7,
        Accepts::Int {
            min: 0,
            max: 100_000
        },
        "Versions gardées : une par jour, pour les N derniers jours"
    ),
    key!(
        "offsite",
        "keep_weekly",
        4,
        Accepts::Int {
            min: 0,
            max: 100_000
        },
        "Versions gardées : une par semaine ISO, pour les N dernières"
    ),
    key!(
        "offsite",
        "keep_monthly",
        12,
        Accepts::Int {
            min: 0,
            max: 100_000
        },
        "Versions gardées : une par mois, pour les N derniers"
    ),
    key!(
        "monitoring",
        "ping_url",
        "",
        Accepts::Str,
        "Supervision : adresse de ping (healthchecks.io, Uptime Kuma)"
    ),
    key!(
        "monitoring",
        "textfile",
        "",
        Accepts::Str,
        "Supervision : fichier de métriques Prometheus (collecteur textfile)"
    ),
];

/// Sections a settings file may hold; `base.toml` also holds `collaborators`.
const SECTIONS: &[&str] = &[
    "backup",
    "events",
    "report",
    "smtp",
    "archive",
    "run",
    "offsite",
    "monitoring",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subdir {
    None,
    Weekday,
    Monthday,
    Month,
    Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DossierSet {
    Originals,
    Copies,
    OriginalsAndCopies,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Zstd,
    Deflate,
    Store,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Backup {
    pub dir: String,
    pub subdir: Subdir,
    pub dossiers: DossierSet,
    pub modified_only: bool,
    pub include_documents: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Events {
    pub on_exit: bool,
    pub before_provider_exchange: bool,
    pub before_closing: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Report {
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Smtp {
    pub name: String,
    pub email: String,
    pub server: String,
    pub port: u16,
    pub username: String,
    pub password_env: String,
    pub tls: Tls,
    pub delay_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Archive {
    pub method: Method,
    pub level: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Run {
    pub threads: usize,
    pub io_jobs: usize,
}

/// `[offsite]` (DESIGN §10) as written; `offsite::Target` checks what the
/// values mean together (the URL, the keys, the bandwidth).
#[derive(Debug, Clone, Deserialize)]
pub struct Offsite {
    pub url: String,
    pub endpoint: String,
    pub region: String,
    pub access_key_env: String,
    pub secret_key_env: String,
    pub recipients: Vec<String>,
    pub allow_plain: bool,
    pub after_run: bool,
    pub bandwidth: String,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
}

/// `[monitoring]` (DESIGN §11); `monitoring::pinger` reads the URL,
/// `monitoring::textfile` writes the file.
#[derive(Debug, Clone, Deserialize)]
pub struct Monitoring {
    pub ping_url: String,
    pub textfile: String,
}

/// The effective settings, every value validated.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub backup: Backup,
    pub events: Events,
    pub report: Report,
    pub smtp: Smtp,
    pub archive: Archive,
    pub run: Run,
    pub offsite: Offsite,
    pub monitoring: Monitoring,
}

/// The effective settings with, for each key, its value and its layer.
#[derive(Debug, Clone)]
pub struct Effective {
    pub settings: Settings,
    /// `(section.key, value as TOML, layer)` in the order of [`KEYS`].
    pub sources: Vec<(String, Value, Layer)>,
}

impl Effective {
    /// `section.key = value, layer`, as messages name a setting: the
    /// value as TOML and the layer it comes from (`base.toml`, `poste
    /// <file>`, `défaut`).
    pub fn setting_text(&self, key: &str) -> String {
        match self.sources.iter().find(|(k, _, _)| k == key) {
            Some((_, value, layer)) => format!("{key} = {value}, {layer}"),
            None => key.to_owned(),
        }
    }
}

/// One parsed settings layer.
#[derive(Debug)]
pub struct LayerTable {
    pub layer: Layer,
    pub path: PathBuf,
    pub table: toml::Table,
}

/// Reads and parses a TOML file, with errors naming it.
pub fn read_toml(path: &Path) -> Result<toml::Table, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        // Where the first byte that is not UTF-8 is, as an editor shows it.
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
        ConfigError::Encoding {
            path: path.to_owned(),
            line,
            column,
        }
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: syntax_message(&text, &e),
        })
}

/// "ligne L, colonne C : what" from a TOML error (its own rendering spans
/// several lines, which a log line cannot hold).
pub fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim_end().trim_end_matches('.');
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("ligne {line}, colonne {col} : {what}")
        }
        None => what.to_owned(),
    }
}

impl LayerTable {
    /// Checks a layer against [`KEYS`]. `extra_sections` are sections the file
    /// may hold beyond the settings (`collaborators` in `base.toml`); they are
    /// left to their own parser.
    pub fn new(
        layer: Layer,
        path: &Path,
        table: toml::Table,
        extra_sections: &[&str],
    ) -> Result<Self, ConfigError> {
        for (section, body) in &table {
            if extra_sections.contains(&section.as_str()) {
                continue;
            }
            if !SECTIONS.contains(&section.as_str()) {
                let mut accepted: Vec<&str> = SECTIONS.to_vec();
                accepted.extend_from_slice(extra_sections);
                return Err(ConfigError::UnknownSection {
                    path: path.to_owned(),
                    section: section.clone(),
                    accepted: accepted.join(", "),
                });
            }
            let Value::Table(body) = body else {
                return Err(ConfigError::NotATable {
                    path: path.to_owned(),
                    section: section.clone(),
                });
            };
            for (key, value) in body {
                let Some(def) = KEYS.iter().find(|d| d.section == section && d.key == key) else {
                    return Err(ConfigError::UnknownKey {
                        path: path.to_owned(),
                        section: section.clone(),
                        key: format!("{section}.{key}"),
                        accepted: KEYS
                            .iter()
                            .filter(|d| d.section == section)
                            .map(|d| d.key)
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                };
                if !def.accepts.check(value) {
                    return Err(ConfigError::BadValue {
                        path: path.to_owned(),
                        key: format!("{section}.{key}"),
                        value: value.to_string(),
                        accepted: def.accepts.describe(),
                    });
                }
            }
        }
        Ok(LayerTable {
            layer,
            path: path.to_owned(),
            table,
        })
    }

    fn get(&self, section: &str, key: &str) -> Option<&Value> {
        self.table.get(section)?.as_table()?.get(key)
    }
}

/// Merges the layers (highest first) over the defaults and checks the values
/// that depend on each other.
pub fn merge(layers: &[LayerTable]) -> Result<Effective, ConfigError> {
    let mut merged: BTreeMap<&str, toml::Table> = BTreeMap::new();
    let mut sources = Vec::with_capacity(KEYS.len());
    for def in KEYS {
        let (value, layer) = layers
            .iter()
            .find_map(|l| {
                l.get(def.section, def.key)
                    .map(|v| (v.clone(), l.layer.clone()))
            })
            .unwrap_or_else(|| ((def.default)(), Layer::Default));
        merged
            .entry(def.section)
            .or_default()
            .insert(def.key.to_owned(), value.clone());
        sources.push((format!("{}.{}", def.section, def.key), value, layer));
    }
    let table: toml::Table = merged
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::Table(v)))
        .collect();
    let settings: Settings = Value::Table(table)
        .try_into()
        .expect("every key was checked against KEYS, so the merged table deserializes");

    // The level's range depends on the method, which may come from another layer.
    let (lo, hi) = match settings.archive.method {
        Method::Zstd => (1, 22),
        Method::Deflate => (0, 9),
        Method::Store => (0, 22),
    };
    if !(lo..=hi).contains(&settings.archive.level) {
        let (_, value, layer) = sources
            .iter()
            .find(|(k, _, _)| k == "archive.level")
            .expect("archive.level is in KEYS");
        let path = match layer {
            Layer::Default => PathBuf::from("(défaut)"),
            Layer::Base(p) | Layer::Workstation(p) => p.clone(),
        };
        return Err(ConfigError::BadValue {
            path,
            key: "archive.level".into(),
            value: value.to_string(),
            accepted: format!(
                "un entier de {lo} à {hi} pour archive.method = \"{}\"",
                method_name(settings.archive.method)
            ),
        });
    }
    Ok(Effective { settings, sources })
}

pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Zstd => "zstd",
        Method::Deflate => "deflate",
        Method::Store => "store",
    }
}

impl Effective {
    /// The text `svgauto config` prints: per key, the original product's
    /// label as a comment, then the value and its layer.
    pub fn render(&self) -> String {
        let width = self
            .sources
            .iter()
            .map(|(k, v, _)| k.len() + v.to_string().len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for ((key, value, layer), def) in self.sources.iter().zip(KEYS) {
            let v = value.to_string();
            let pad = width + 1 - key.len() - v.len();
            // The original product's label, so an administrator finds the
            // setting he knows from its screen.
            out.push_str(&format!(
                "# {}\n{key} = {v}{:pad$}({layer})\n",
                def.label, ""
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(text: &str) -> Result<LayerTable, ConfigError> {
        LayerTable::new(
            Layer::Workstation("poste.toml".into()),
            Path::new("poste.toml"),
            text.parse().unwrap(),
            &[],
        )
    }

    #[test]
    fn defaults_are_the_contract() {
        let e = merge(&[]).unwrap();
        assert_eq!(e.settings.backup.dir, "sauve");
        assert_eq!(e.settings.backup.subdir, Subdir::None);
        assert_eq!(e.settings.backup.dossiers, DossierSet::OriginalsAndCopies);
        assert!(e.settings.backup.modified_only);
        assert!(!e.settings.backup.include_documents);
        assert!(!e.settings.events.on_exit);
        assert_eq!(e.settings.smtp.port, 25);
        assert_eq!(e.settings.archive.method, Method::Zstd);
        assert_eq!(e.settings.archive.level, 3);
        assert_eq!(e.settings.run.io_jobs, 4);
        assert!(e.sources.iter().all(|(_, _, l)| *l == Layer::Default));
    }

    #[test]
    fn higher_layer_wins_key_by_key() {
        let ws = layer("[archive]\nmethod = \"deflate\"").unwrap();
        let base = LayerTable::new(
            Layer::Base("base.toml".into()),
            Path::new("base.toml"),
            "[archive]\nmethod = \"store\"\nlevel = 5\n[collaborators.X]\ndossiers = \"*\""
                .parse()
                .unwrap(),
            &["collaborators"],
        )
        .unwrap();
        let e = merge(&[ws, base]).unwrap();
        assert_eq!(e.settings.archive.method, Method::Deflate);
        assert_eq!(e.settings.archive.level, 5);
        let level = e
            .sources
            .iter()
            .find(|(k, _, _)| k == "archive.level")
            .unwrap();
        assert_eq!(level.2, Layer::Base("base.toml".into()));
    }

    #[test]
    fn unknown_key_names_file_key_and_accepted() {
        let err = layer("[backup]\ndirr = \"x\"").unwrap_err().to_string();
        assert!(err.contains("poste.toml"), "{err}");
        assert!(err.contains("backup.dirr"), "{err}");
        assert!(err.contains("modified_only"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        for text in [
            "[archive]\nmethod = \"rar\"",
            "[run]\nio_jobs = 0",
            "[backup]\nmodified_only = \"oui\"",
            "[report]\nrecipients = \"a@b.fr\"",
            "[smtp]\nport = 70000",
        ] {
            let err = layer(text).unwrap_err();
            assert!(matches!(err, ConfigError::BadValue { .. }), "{text}: {err}");
        }
        let err = layer("[nope]\na = 1").unwrap_err();
        assert!(matches!(err, ConfigError::UnknownSection { .. }));
    }

    #[test]
    fn level_is_checked_against_the_effective_method() {
        let ws = layer("[archive]\nmethod = \"deflate\"\nlevel = 15").unwrap();
        let err = merge(&[ws]).unwrap_err().to_string();
        assert!(
            err.contains("archive.level") && err.contains("de 0 à 9"),
            "{err}"
        );
    }
}
