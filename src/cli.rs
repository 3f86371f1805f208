//! Command-line arguments (clap types live here only), including the
//! original product's form `/P:<base> /C:<user> /CO.BATCH.SAUVEGARDEAUTO`,
//! which is rewritten into `run --base … --user …` before parsing so that
//! existing scheduled tasks keep working.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "svgauto",
    version,
    about = "Sauvegarde des dossiers modifiés : chaque dossier modifié dans son archive B<CODE>.SVG"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save every dossier modified since its last backup (the nightly batch).
    Run(RunArgs),
    /// "Remonter": bring dossiers back to the state of their `B<CODE>.SVG`.
    Restore {
        /// The base whose dossiers are restored.
        #[arg(long, required_unless_present = "to")]
        base: Option<PathBuf>,
        /// Restore into `DIR/<CODE>/` instead, without touching any base.
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// The archives.
        #[arg(required = true, value_name = "FILE.SVG")]
        files: Vec<PathBuf>,
    },
    /// Restore every B*.SVG dropped into <base>/maj/, then move it to done/ or failed/.
    Import {
        #[arg(long)]
        base: PathBuf,
    },
    /// Check archives (CRCs and manifest); folders are searched for *.SVG.
    Verify {
        #[arg(required = true, value_name = "FILE.SVG|DIR")]
        paths: Vec<PathBuf>,
    },
    /// Send a test message to the report's recipients with the effective settings.
    MailTest {
        #[arg(long)]
        base: PathBuf,
        #[command(flatten)]
        settings: SettingsArg,
    },
    /// Hold a dossier's lock until killed, as an application that opened it.
    Hold {
        #[arg(long)]
        base: PathBuf,
        #[arg(long)]
        dossier: String,
    },
    /// Print every effective setting and the layer it comes from.
    Config {
        #[arg(long)]
        base: PathBuf,
        #[command(flatten)]
        settings: SettingsArg,
    },
}

#[derive(Debug, Args)]
pub struct SettingsArg {
    /// Workstation settings file ("Poste"), over base.toml.
    #[arg(long = "config", env = "SVGAUTO_CONFIG", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The base (folder holding base.toml and dossiers/).
    #[arg(long)]
    pub base: PathBuf,
    /// The collaborator code the batch runs as.
    #[arg(long)]
    pub user: String,
    /// Save every dossier, modified or not (after a mass update).
    #[arg(long)]
    pub all: bool,
    /// Worker threads (overrides run.threads; 0: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub threads: Option<u16>,
    /// Read each archive back and check it before putting it in place.
    #[arg(long)]
    pub verify: bool,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub settings: SettingsArg,
}

/// Rewrites the original command line into the modern one; other command
/// lines are returned unchanged. `/P:` may name the base or a file in it
/// (such as `BZZ.GIW`).
pub fn translate_legacy(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let is_legacy = args.iter().skip(1).any(|a| {
        let s = a.to_string_lossy().to_ascii_uppercase();
        s.starts_with("/P:") || s.starts_with("/C:") || s.starts_with("/CO.")
    });
    if !is_legacy {
        return Ok(args);
    }
    let (mut base, mut user, mut batch) = (None, None, false);
    for a in args.iter().skip(1) {
        let s = a.to_string_lossy();
        let upper = s.to_ascii_uppercase();
        if upper.starts_with("/P:") {
            base = Some(s[3..].to_string());
        } else if upper.starts_with("/CO.") {
            if upper != "/CO.BATCH.SAUVEGARDEAUTO" {
                return Err(format!(
                    "commande d'origine non prise en charge : {s} (seule /CO.BATCH.SAUVEGARDEAUTO l'est)"
                ));
            }
            batch = true;
        } else if upper.starts_with("/C:") {
            user = Some(s[3..].to_string());
        } else {
            return Err(format!("argument inattendu dans la forme d'origine : {s}"));
        }
    }
    let base = base.ok_or("forme d'origine : /P:<base commune> manquant")?;
    let user = user.ok_or("forme d'origine : /C:<code collaborateur> manquant")?;
    if !batch {
        return Err("forme d'origine : /CO.BATCH.SAUVEGARDEAUTO manquant".into());
    }
    let p = Path::new(&base);
    let base = if p.is_file() {
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    } else {
        p.to_path_buf()
    };
    Ok(vec![
        args[0].clone(),
        "run".into(),
        "--base".into(),
        base.into_os_string(),
        "--user".into(),
        user.into(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn legacy_form_becomes_run() {
        let d = tempfile::tempdir().unwrap();
        let giw = d.path().join("BZZ.GIW");
        std::fs::write(&giw, "").unwrap();
        let args = os(&[
            "svgauto",
            &format!("/P:{}", giw.display()),
            "/C:COMPT",
            "/CO.BATCH.SAUVEGARDEAUTO",
        ]);
        let out = translate_legacy(args).unwrap();
        assert_eq!(out[1], "run");
        assert_eq!(PathBuf::from(&out[3]), d.path());
        assert_eq!(out[5], "COMPT");
    }

    #[test]
    fn legacy_form_needs_every_part() {
        assert!(translate_legacy(os(&["svgauto", "/P:x", "/C:COMPT"])).is_err());
        assert!(translate_legacy(os(&["svgauto", "/P:x", "/CO.BATCH.SAUVEGARDEAUTO"])).is_err());
        assert!(translate_legacy(os(&["svgauto", "/P:x", "/C:A", "/CO.AUTRE"])).is_err());
        let modern = os(&["svgauto", "run", "--base", "/b", "--user", "A"]);
        assert_eq!(translate_legacy(modern.clone()).unwrap(), modern);
    }
}
