//! `svgauto offsite push | status | restore | verify` (DESIGN §10): the
//! commands around off-site copies. The push itself is
//! [`crate::offsite::push()`]; here are opening the base and its target,
//! what each command says, the way back (a version fetched, decrypted,
//! then restored exactly as `restore` does) and the restore drill.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use chrono::{DateTime, Local};
use serde::Serialize;

use crate::base::Base;
use crate::catalog::Catalog;
use crate::clock::{Clock, rfc3339};
use crate::config::{self, Layer, LayerTable};
use crate::error::CommandError;
use crate::exit::{Exit, Line, Output};
use crate::offsite::location::{VersionKey, stamp, stamp_time};
use crate::offsite::push::{PushError, PushReport, PushRequest, STAGING};
use crate::offsite::{S3Error, Target, seal};

fn invalid(what: impl Into<String>, detail: impl Into<String>) -> CommandError {
    CommandError::Invalid {
        what: what.into(),
        detail: detail.into(),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The base's target, or the error saying `[offsite]` is not set.
fn target_of(base: &Base) -> Result<Target, CommandError> {
    let s = &base.effective.settings.offsite;
    Target::from_settings(s, &env_var, None)
        .map_err(|e| invalid("[offsite]", e.0))?
        .ok_or_else(|| {
            invalid(
                "offsite.url",
                "vide : pas de copie externalisée configurée (voir la section « Copie externalisée » du README)",
            )
        })
}

/// The JSON of `offsite push --json`.
#[derive(Serialize)]
struct PushJson<'a> {
    format: u32,
    url: String,
    exit_code: i32,
    #[serde(flatten)]
    report: &'a PushReport,
}

/// What a push's outcome makes of the exit code: 1 when a dossier was not
/// copied, in error or deferred (`--max-duration`, Ctrl-C): DESIGN §10's
/// "at least one dossier not copied".
pub fn push_exit(report: &PushReport) -> Exit {
    let (_, errors, deferred) = report.counts();
    if errors + deferred > 0 {
        Exit::DossierErrors
    } else {
        Exit::Ok
    }
}

/// `svgauto offsite push`: under the base's run lock (a run does not
/// replace an archive being read).
pub fn push_command(
    root: &Path,
    workstation: Option<&Path>,
    max_duration: Option<std::time::Duration>,
    json: bool,
    clock: &dyn Clock,
    interrupted: &AtomicBool,
) -> Result<Output, CommandError> {
    let base = Base::open(root, workstation)?;
    let monitoring = base.effective.settings.monitoring.clone();
    super::with_pings(&monitoring, || {
        push_base(base, max_duration, json, clock, interrupted)
    })
}

/// `offsite push` once the base is open.
fn push_base(
    base: Base,
    max_duration: Option<std::time::Duration>,
    json: bool,
    clock: &dyn Clock,
    interrupted: &AtomicBool,
) -> Result<Output, CommandError> {
    let target = target_of(&base)?;
    let _held = base.lock_run()?;
    let catalog = Catalog::open(&base.state_dir())?;
    let states = catalog.states()?;
    let backup_dir = base.backup_dir();
    let request = PushRequest {
        target: &target,
        states: &states,
        root: &base.root,
        backup_dir: &backup_dir,
        now: clock.now(),
        deadline: max_duration.map(|d| Instant::now() + d),
        interrupted,
    };
    let (result, _catalog) = crate::offsite::push(&request, catalog);
    let report = match result {
        Ok(r) => r,
        Err(PushError::Unusable(e)) => {
            return Err(invalid(
                "[offsite]",
                target.unusable(&e, &base.effective.settings.offsite),
            ));
        }
        Err(e) => return Err(invalid("offsite push", e.to_string())),
    };
    let exit = push_exit(&report);
    let url = target.location.url();
    let mut lines = Vec::new();
    if json {
        let j = PushJson {
            format: 1,
            url,
            exit_code: exit.code(),
            report: &report,
        };
        lines.push(Line::Stdout(
            serde_json::to_string_pretty(&j).expect("the push serializes"),
        ));
    } else {
        let bucket = format!("s3://{}", target.location.bucket);
        lines.extend(
            report
                .dossiers
                .iter()
                .map(|d| Line::Stdout(d.line(&bucket))),
        );
        if !report.dossiers.is_empty() {
            lines.extend(report.summary().into_iter().map(Line::Stdout));
        } else {
            lines.push(Line::Stdout(format!(
                "Copie externalisée à jour ({url}) : rien à envoyer"
            )));
        }
    }
    lines.extend(report.warnings.iter().map(|w| Line::Stderr(w.clone())));
    Ok(Output { lines, exit })
}

/// One dossier of `offsite status --base`.
#[derive(Debug, Serialize)]
struct BaseDossier {
    code: String,
    #[serde(serialize_with = "rfc3339::option")]
    local: Option<DateTime<chrono::FixedOffset>>,
    offsite: Option<String>,
    versions: usize,
    #[serde(serialize_with = "rfc3339::option")]
    verified_at: Option<DateTime<chrono::FixedOffset>>,
    late: bool,
}

#[derive(Debug, Serialize)]
struct BaseStatus {
    format: u32,
    url: String,
    #[serde(serialize_with = "rfc3339::option")]
    last_drill: Option<DateTime<chrono::FixedOffset>>,
    dossiers: Vec<BaseDossier>,
}

/// `svgauto offsite status --base`: from the catalog alone (no network),
/// per dossier its newest local backup, its newest version off-site and
/// whether a drill checked it; late ones first. Exit 1 when one is late.
pub fn status_base_command(
    root: &Path,
    workstation: Option<&Path>,
    json: bool,
) -> Result<Output, CommandError> {
    let base = Base::open(root, workstation)?;
    let url = base.effective.settings.offsite.url.clone();
    let (states, versions, drill) = match Catalog::open_read_only(&base.state_dir())? {
        Some(c) => (c.states()?, c.offsite_versions()?, c.last_drill()?),
        None => Default::default(),
    };
    let mut by_code: BTreeMap<&str, Vec<&crate::catalog::OffsiteVersion>> = BTreeMap::new();
    for v in &versions {
        by_code.entry(v.code.as_str()).or_default().push(v);
    }
    let mut codes: Vec<&str> = states.keys().map(String::as_str).collect();
    codes.extend(by_code.keys().copied());
    codes.sort();
    codes.dedup();
    let mut dossiers: Vec<BaseDossier> = codes
        .into_iter()
        .map(|code| {
            let local = states.get(code).and_then(|s| s.last_backup_at);
            let vs = by_code.get(code).map(Vec::as_slice).unwrap_or(&[]);
            let newest = vs.iter().map(|v| v.stamp.clone()).max();
            let late = local.is_some_and(|t| !vs.iter().any(|v| v.stamp == stamp(&t)));
            BaseDossier {
                code: code.to_owned(),
                local,
                offsite: newest,
                versions: vs.len(),
                verified_at: vs.iter().filter_map(|v| v.verified_at).max(),
                late,
            }
        })
        .collect();
    dossiers.sort_by(|a, b| b.late.cmp(&a.late).then(a.code.cmp(&b.code)));
    let late = dossiers.iter().filter(|d| d.late).count();
    let exit = if late > 0 {
        Exit::DossierErrors
    } else {
        Exit::Ok
    };
    let status = BaseStatus {
        format: 1,
        url,
        last_drill: drill.as_ref().map(|d| d.at),
        dossiers,
    };
    if json {
        let text = serde_json::to_string_pretty(&status).expect("the status serializes");
        return Ok(Output {
            lines: vec![Line::Stdout(text)],
            exit,
        });
    }
    let mut lines = vec![format!(
        "Copie externalisée : {}",
        if status.url.is_empty() {
            "non configurée"
        } else {
            &status.url
        }
    )];
    lines.push(match &drill {
        Some(d) => format!(
            "Dernier contrôle de restauration (offsite verify) : {} — {} version(s) relue(s), {} altérée(s)",
            d.at.format("%d/%m/%Y %H:%M"),
            d.checked,
            d.damaged
        ),
        None => "Dernier contrôle de restauration (offsite verify) : jamais".into(),
    });
    for d in &status.dossiers {
        let local = d
            .local
            .map(|t| t.format("%d/%m/%Y %H:%M").to_string())
            .unwrap_or_else(|| "jamais".into());
        let off = match &d.offsite {
            Some(s) => format!("{s} UTC, {} version(s)", d.versions),
            None => "aucune".into(),
        };
        let verified = match d.verified_at {
            Some(t) => format!("relue le {}", t.format("%d/%m/%Y")),
            None => "jamais relue".into(),
        };
        let mark = if d.late { "EN RETARD" } else { "à jour" };
        lines.push(format!(
            "Dossier {} : {mark} — sauvegarde locale {local} ; externalisée {off} ; {verified}",
            d.code
        ));
    }
    lines.push(format!("{late} dossier(s) en retard"));
    Ok(Output {
        lines: lines.into_iter().map(Line::Stdout).collect(),
        exit,
    })
}

/// The settings of a workstation without a base: the defaults under the
/// workstation file, if any (`offsite status --url`).
fn workstation_settings(file: Option<&Path>) -> Result<config::Settings, CommandError> {
    let mut layers = Vec::new();
    if let Some(f) = file {
        let t =
            config::read_toml(f).map_err(|e| invalid(f.display().to_string(), e.to_string()))?;
        layers.push(
            LayerTable::new(Layer::Workstation(f.to_owned()), f, t, &[])
                .map_err(|e| invalid(f.display().to_string(), e.to_string()))?,
        );
    }
    config::merge(&layers)
        .map(|e| e.settings)
        .map_err(|e| invalid("réglages", e.to_string()))
}

#[derive(Debug, Serialize)]
struct UrlDossier {
    code: String,
    versions: Vec<String>,
    newest: String,
    late: bool,
}

#[derive(Debug, Serialize)]
struct UrlPrefix {
    prefix: String,
    dossiers: Vec<UrlDossier>,
}

#[derive(Debug, Serialize)]
struct UrlStatus {
    format: u32,
    url: String,
    prefixes: Vec<UrlPrefix>,
}

/// `svgauto offsite status --url s3://BUCKET[/PREFIX]`: from any machine
/// with read credentials, every prefix under the bucket (one per server of
/// a multi-agency firm) with its dossiers, late ones first (late: newest
/// version older than `stale_days`). Exit 1 when one is late.
pub fn status_url_command(
    url: &str,
    workstation: Option<&Path>,
    stale_days: u32,
    json: bool,
    now: DateTime<Local>,
) -> Result<Output, CommandError> {
    let settings = workstation_settings(workstation)?;
    let target = Target::from_settings(&settings.offsite, &env_var, Some(url))
        .map_err(|e| invalid("--url", e.0))?
        .ok_or_else(|| invalid("--url", "vide"))?;
    let listed = target
        .store
        .list(&target.location.key_prefix())
        .map_err(|e| invalid("--url", target.unusable(&e, &settings.offsite)))?;
    let mut tree: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for o in &listed {
        if let Some(v) = VersionKey::parse(&o.key) {
            tree.entry(v.prefix)
                .or_default()
                .entry(v.code)
                .or_default()
                .push(v.stamp);
        }
    }
    let limit = now.with_timezone(&chrono::Utc) - chrono::Duration::days(i64::from(stale_days));
    let mut late_count = 0;
    let prefixes: Vec<UrlPrefix> = tree
        .into_iter()
        .map(|(prefix, codes)| {
            let mut dossiers: Vec<UrlDossier> = codes
                .into_iter()
                .map(|(code, mut versions)| {
                    versions.sort();
                    let newest = versions.last().cloned().unwrap_or_default();
                    let late = stamp_time(&newest).is_none_or(|t| t < limit);
                    UrlDossier {
                        code,
                        versions,
                        newest,
                        late,
                    }
                })
                .collect();
            dossiers.sort_by(|a, b| {
                b.late
                    .cmp(&a.late)
                    .then(a.newest.cmp(&b.newest))
                    .then(a.code.cmp(&b.code))
            });
            late_count += dossiers.iter().filter(|d| d.late).count();
            UrlPrefix { prefix, dossiers }
        })
        .collect();
    let exit = if late_count > 0 {
        Exit::DossierErrors
    } else {
        Exit::Ok
    };
    let status = UrlStatus {
        format: 1,
        url: target.location.url(),
        prefixes,
    };
    if json {
        let text = serde_json::to_string_pretty(&status).expect("the status serializes");
        return Ok(Output {
            lines: vec![Line::Stdout(text)],
            exit,
        });
    }
    let mut lines = vec![format!("Copies externalisées sous {}", status.url)];
    for p in &status.prefixes {
        let name = if p.prefix.is_empty() {
            "(racine du bucket)"
        } else {
            &p.prefix
        };
        lines.push(format!("Préfixe {name} : {} dossier(s)", p.dossiers.len()));
        for d in &p.dossiers {
            lines.push(format!(
                "  Dossier {} : {} — dernière version {} UTC, {} version(s)",
                d.code,
                if d.late { "EN RETARD" } else { "à jour" },
                d.newest,
                d.versions.len()
            ));
        }
    }
    lines.push(format!(
        "{late_count} dossier(s) en retard (plus de {stale_days} jour(s))"
    ));
    Ok(Output {
        lines: lines.into_iter().map(Line::Stdout).collect(),
        exit,
    })
}

/// The versions of `code` the bucket holds, oldest first: (stamp, key).
fn versions_of(target: &Target, code: &str) -> Result<Vec<(String, String)>, S3Error> {
    let mut v: Vec<(String, String)> = target
        .store
        .list(&target.location.dossier_prefix(code))?
        .into_iter()
        .filter_map(|o| {
            let k = VersionKey::parse(&o.key)?;
            (k.code == code && k.prefix == target.location.prefix).then_some((k.stamp, o.key))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Downloads `key` and decrypts it (when it is `.age`) into
/// `<dir>/B<CODE>.SVG`; returns that path and the SHA-256 of the object.
fn fetch(
    target: &Target,
    key: &str,
    code: &str,
    ids: Option<&seal::Identities>,
    dir: &Path,
) -> Result<(PathBuf, String), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{} : {e}", dir.display()))?;
    let object = dir.join(format!("{}.download", crate::base::file_name(code)));
    // Owner-only, as the local archives: the decrypted copy is the data.
    let mut f = crate::sys::owner_only::replace(&object)
        .map_err(|e| format!("{} : {e}", object.display()))?;
    target
        .store
        .get(key, &mut f)
        .map_err(|e| format!("{key} : {e}"))?;
    drop(f);
    let (sha, _) = seal::sha256_of(&object).map_err(|e| format!("{} : {e}", object.display()))?;
    let archive = dir.join(crate::base::file_name(code));
    if key.ends_with(crate::offsite::location::AGE_SUFFIX) {
        let ids = ids.ok_or("copie chiffrée : --identity est nécessaire")?;
        let mut out = crate::sys::owner_only::replace(&archive)
            .map_err(|e| format!("{} : {e}", archive.display()))?;
        let input = File::open(&object).map_err(|e| format!("{} : {e}", object.display()))?;
        seal::unseal(input, ids, &mut out).map_err(|e| format!("{key} : {e}"))?;
        out.sync_all()
            .map_err(|e| format!("{} : {e}", archive.display()))?;
        let _ = fs::remove_file(&object);
    } else {
        fs::rename(&object, &archive).map_err(|e| format!("{} : {e}", archive.display()))?;
    }
    Ok((archive, sha))
}

/// Which version `--at` names: a stamp, or an RFC 3339 time (the newest
/// version at or before it); `None`: the newest.
fn choose<'a>(
    versions: &'a [(String, String)],
    at: Option<&str>,
) -> Result<&'a (String, String), String> {
    let Some(at) = at else {
        return versions
            .last()
            .ok_or_else(|| "aucune version sur le serveur".to_owned());
    };
    if let Some(v) = versions.iter().find(|(s, _)| s == at) {
        return Ok(v);
    }
    let limit = crate::clock::parse(at).map(|t| stamp(&t)).ok_or_else(|| {
        format!("--at « {at} » : ni une version (AAAAMMJJ-HHMMSS) ni une date RFC 3339")
    })?;
    versions
        .iter()
        .rev()
        .find(|(s, _)| *s <= limit)
        .ok_or_else(|| format!("aucune version au {at} ou avant"))
}

/// `svgauto offsite restore`: fetches a version of one dossier, decrypts
/// it with the identity file, then restores it as `svgauto restore` does
/// (same checks, the dossier recreated if it was deleted; `--to`
/// elsewhere). The downloaded files are removed afterwards.
pub fn restore_command(
    root: &Path,
    workstation: Option<&Path>,
    code: &str,
    identity: Option<&Path>,
    at: Option<&str>,
    to: Option<&Path>,
    clock: &dyn Clock,
) -> Result<Output, CommandError> {
    let base = Base::open(root, workstation)?;
    let target = target_of(&base)?;
    let ids = identity
        .map(seal::read_identities)
        .transpose()
        .map_err(|e| invalid("--identity", e))?;
    let versions = versions_of(&target, code).map_err(|e| {
        invalid(
            "[offsite]",
            target.unusable(&e, &base.effective.settings.offsite),
        )
    })?;
    let (stamp, key) = choose(&versions, at).map_err(|e| invalid(format!("dossier {code}"), e))?;
    let dir = base
        .backup_dir()
        .join(STAGING)
        .join(format!("restore-{}", std::process::id()));
    let fetched = fetch(&target, key, code, ids.as_ref(), &dir);
    let out = match fetched {
        Ok((archive, _)) => {
            let mut out = crate::commands::restore::restore_command(
                if to.is_some() { None } else { Some(&base.root) },
                to,
                std::slice::from_ref(&archive),
                clock,
            );
            if let Ok(o) = &mut out {
                o.lines.insert(
                    0,
                    Line::Stdout(format!(
                        "Version {stamp} UTC téléchargée de s3://{}/{key}",
                        target.location.bucket
                    )),
                );
            }
            out
        }
        Err(e) => Err(invalid(format!("dossier {code}"), e)),
    };
    let _ = crate::sys::cleanup::remove_tree(&dir);
    out
}

/// `svgauto offsite verify --sample N`: a restore drill. Downloads the
/// newest version of up to N dossiers (never drill-checked first, then the
/// longest unchecked), decrypts each, checks its SHA-256 against the
/// catalog's and the archive as `verify` does; records the drill. Exit 1
/// if one is damaged.
pub fn verify_command(
    root: &Path,
    workstation: Option<&Path>,
    sample: usize,
    identity: &Path,
    clock: &dyn Clock,
) -> Result<Output, CommandError> {
    let base = Base::open(root, workstation)?;
    let target = target_of(&base)?;
    let ids = seal::read_identities(identity).map_err(|e| invalid("--identity", e))?;
    let catalog = Catalog::open(&base.state_dir())?;
    let mut newest: HashMap<String, crate::catalog::OffsiteVersion> = HashMap::new();
    for v in catalog.offsite_versions()? {
        let e = newest.entry(v.code.clone()).or_insert_with(|| v.clone());
        if v.stamp > e.stamp {
            *e = v;
        }
    }
    let mut picked: Vec<_> = newest.into_values().collect();
    picked.sort_by(|a, b| a.verified_at.cmp(&b.verified_at).then(a.code.cmp(&b.code)));
    picked.truncate(sample);
    let dir = base
        .backup_dir()
        .join(STAGING)
        .join(format!("verify-{}", std::process::id()));
    let mut lines = Vec::new();
    let mut damaged = 0;
    for v in &picked {
        let checked =
            fetch(&target, &v.key, &v.code, Some(&ids), &dir).and_then(|(archive, sha)| {
                if sha != v.sha256 {
                    return Err(format!(
                        "{} : SHA-256 {sha} au lieu de {} enregistré à l'envoi",
                        v.key, v.sha256
                    ));
                }
                crate::archive::read::check(&archive, None)
                    .map(drop)
                    .map_err(|e| format!("{} : archive déchiffrée altérée : {e}", v.key))
            });
        let _ = crate::sys::cleanup::remove_tree(&dir);
        match checked {
            Ok(()) => {
                catalog.mark_offsite_verified(&v.code, &v.stamp, clock.now())?;
                lines.push(Line::Stdout(format!(
                    "Dossier {} : version {} relue, déchiffrée et contrôlée",
                    v.code, v.stamp
                )));
            }
            Err(e) => {
                damaged += 1;
                lines.push(Line::Stderr(format!("Dossier {} : {e}", v.code)));
            }
        }
    }
    catalog.record_drill(clock.now(), picked.len() as u64, damaged)?;
    lines.push(Line::Stdout(format!(
        "{} version(s) contrôlée(s), {damaged} altérée(s)",
        picked.len()
    )));
    Ok(Output::from_lines(lines))
}
