//! The run's plan (DESIGN.md §3, steps 1–2): scan every dossier, decide
//! each ([`super::select::decide`]), order what is to be saved
//! ([`super::select::order`]). Shared by the run and `--dry-run`; `status`
//! takes the two helpers that feed selection ([`last_archives`],
//! [`twins_of`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::base::{Base, Kind, Rights};
use crate::catalog::DossierState;
use crate::scan::{self, DossierScan};
use crate::state::Outcome;
use crate::state::SaveReason;

use super::prepare::Setup;
use super::select::{self, Facts, LastArchive, Rules};
use super::{RunError, RunOptions};

/// One dossier to save, in plan order.
#[derive(Debug)]
pub(crate) struct Planned {
    pub scan: DossierScan,
    pub why: SaveReason,
}

/// Every dossier of the base, decided.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Decided without being saved (unchanged, excluded, in error), with
    /// their outcome, in scan order.
    pub decided: Vec<(DossierScan, Outcome)>,
    /// To save, in the order the run takes them.
    pub todo: Vec<Planned>,
}

impl Plan {
    /// The bytes the run will read.
    pub fn bytes(&self) -> u64 {
        self.todo.iter().map(|p| p.scan.total_bytes).sum()
    }
}

/// The plan stage of a run: scan the base (after the leftovers were
/// claimed, so a leftover's dossier is walked as it is now), then select
/// and order.
pub(crate) fn plan(opts: &RunOptions, setup: &Setup) -> Result<Plan, RunError> {
    let scans = scan_all(&setup.base)?;
    let rules = rules(opts, &setup.base, &setup.rights);
    Ok(select_all(
        scans,
        &setup.states,
        &setup.archives,
        &setup.leftovers,
        &rules,
    ))
}

/// Every dossier of the base, scanned in parallel, without their entries
/// ([`DossierScan::drop_entries`]): selection needs only fingerprints and
/// totals, and a dossier is walked again, under its lock, before it is
/// archived.
pub(crate) fn scan_all(base: &Base) -> Result<Vec<DossierScan>, RunError> {
    let include_documents = base.effective.settings.backup.include_documents;
    scan::scan_base_keeping(&base.dossiers_dir(), include_documents, |_| false).map_err(|source| {
        RunError::Scan {
            path: base.dossiers_dir(),
            source,
        }
    })
}

/// The selection rules of a run with these options on this base.
pub(crate) fn rules<'a>(opts: &'a RunOptions, base: &Base, rights: &'a Rights) -> Rules<'a> {
    let settings = &base.effective.settings;
    Rules {
        force_all: opts.force_all,
        modified_only: settings.backup.modified_only,
        dossiers: settings.backup.dossiers,
        user: &opts.user,
        rights,
    }
}

/// Selection and order (DESIGN.md §3, steps 1–2) over the whole base:
/// `leftovers` are the dossiers whose `.partial` a killed run left (they
/// count as interrupted, as an in-progress marker in `states` does).
pub(crate) fn select_all(
    scans: Vec<DossierScan>,
    states: &HashMap<String, DossierState>,
    archives: &HashMap<String, LastArchive>,
    leftovers: &HashSet<String>,
    rules: &Rules<'_>,
) -> Plan {
    let twins = twins_of(&scans);
    let mut plan = Plan::default();
    for s in scans {
        let state = states.get(&s.code);
        let facts = Facts {
            identity: &s.identity,
            walk_error: s.walk_error.as_ref(),
            fingerprint: &s.fingerprint,
            state,
            interrupted: state.is_some_and(|st| st.in_progress_run.is_some())
                || leftovers.contains(&s.code),
            last_archive: archives.get(&s.code).copied().unwrap_or_default(),
            case_twins: twins.get(&s.code).map_or(&[], Vec::as_slice),
        };
        match select::decide(facts, rules).outcome() {
            Ok(outcome) => plan.decided.push((s, outcome)),
            Err(why) => plan.todo.push(Planned { scan: s, why }),
        }
    }
    select::order(&mut plan.todo, |p| {
        (p.why, p.scan.total_bytes, p.scan.code.as_str())
    });
    plan
}

/// What is on disk for each dossier's last recorded archive
/// ([`LastArchive::of`]): one `stat` per archive, shared by the checks and
/// the selection of a run.
pub(crate) fn last_archives(
    root: &Path,
    states: &HashMap<String, DossierState>,
) -> HashMap<String, LastArchive> {
    states
        .iter()
        .map(|(code, st)| (code.clone(), LastArchive::of(root, Some(st))))
        .collect()
}

/// For each dossier the batch or an event could archive (a valid identity,
/// neither étalon, test nor non transférable), the others whose code
/// differs only by case ([`select::case_twins`]).
pub(crate) fn twins_of(scans: &[DossierScan]) -> HashMap<String, Vec<String>> {
    select::case_twins(scans.iter().filter_map(|s| {
        s.identity
            .as_ref()
            .ok()
            .filter(|id| id.kind == Kind::Normal && id.transferable)
            .map(|_| s.code.as_str())
    }))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;
    use crate::base::display_path;
    use crate::run::leftovers::claim_leftovers;
    use crate::run::test_base::{base_with, catalog_with_run};
    use crate::sys::lock;

    /// The plan a run by COMPT would make of `base`, from these states
    /// (read before the leftovers were claimed) and leftovers.
    fn plan_of(
        base: &Base,
        states: &HashMap<String, DossierState>,
        leftovers: &HashSet<String>,
    ) -> Plan {
        let opts = RunOptions {
            base: base.root.clone(),
            workstation: None,
            user: "COMPT".into(),
            force_all: false,
            threads: None,
            verify: false,
            max_duration: None,
        };
        let rights = base.rights("COMPT").unwrap();
        let rules = rules(&opts, base, &rights);
        let archives = last_archives(&base.root, states);
        select_all(
            scan_all(base).unwrap(),
            states,
            &archives,
            leftovers,
            &rules,
        )
    }

    /// The plan's dossiers to save, in order, as (code, why).
    type Todo<'a> = Vec<(&'a str, SaveReason)>;
    /// The others, as (code, outcome).
    type Decided<'a> = Vec<(&'a str, String)>;

    fn summary(plan: &Plan) -> (Todo<'_>, Decided<'_>) {
        (
            plan.todo
                .iter()
                .map(|p| (p.scan.code.as_str(), p.why))
                .collect(),
            plan.decided
                .iter()
                .map(|(s, o)| (s.code.as_str(), format!("{o:?}")))
                .collect(),
        )
    }

    fn partial(dir: &Path, code: &str) -> PathBuf {
        fs::create_dir_all(dir).unwrap();
        let p = dir.join(format!("B{code}.SVG.partial"));
        fs::write(&p, b"half").unwrap();
        p
    }

    #[test]
    fn leftovers_are_claimed_then_planned_first_and_the_rest_largest_first() {
        let (_tmp, base) = base_with(&[
            ("A", "normal", 100),
            ("B", "normal", 5000),
            ("C", "etalon", 10),
            ("D", "normal", 10),
        ]);
        let (catalog, run) = catalog_with_run(&base.state_dir());
        let states = catalog.states().unwrap();
        let backup = base.backup_dir();
        // D: the batch's own leftover. A: an event's, removed but not the
        // batch's. B: locked right now, a `save` at work: left alone.
        let d = partial(&backup.join("Lundi"), "D");
        let a = partial(&backup.join(crate::base::CLOSING_DIR), "A");
        let b = partial(&backup, "B");
        let held = lock::try_exclusive(&base.dossiers_dir().join("B").join(crate::base::LOCK_FILE))
            .unwrap();

        let leftovers = claim_leftovers(&catalog, run, &backup, &base.dossiers_dir()).unwrap();
        drop(held);
        assert_eq!(leftovers, HashSet::from(["D".to_owned()]));
        assert!(!d.exists() && !a.exists() && b.exists());
        let marked = catalog.states().unwrap();
        assert_eq!(marked["D"].in_progress_run, Some(run));
        assert!(
            !marked.contains_key("A"),
            "an event's partial is not the batch's"
        );

        let plan = plan_of(&base, &states, &leftovers);
        let (todo, decided) = summary(&plan);
        assert_eq!(
            todo,
            [
                ("D", SaveReason::Interrupted),
                ("B", SaveReason::New),
                ("A", SaveReason::New)
            ]
        );
        assert_eq!(decided, [("C", "Excluded { reason: Etalon }".to_owned())]);
        // What the run will read: the three dossiers' files, `dossier.toml` included.
        assert!(plan.bytes() > 5110, "{}", plan.bytes());
    }

    #[test]
    fn the_catalog_decides_a_retry_first_and_an_unchanged_dossier_is_not_saved() {
        let (_tmp, base) = base_with(&[
            ("A", "normal", 100),
            ("B", "normal", 10),
            ("N", "normal", 50),
        ]);
        let (catalog, run) = catalog_with_run(&base.state_dir());
        // A saved (its fingerprint taken by a walk long after its files
        // were written: not racy), its archive in place at the size
        // recorded; B failed.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        let a = scan::scan_dossier_at("A", &base.dossiers_dir().join("A"), false, later);
        fs::create_dir_all(base.backup_dir()).unwrap();
        fs::write(base.backup_dir().join("BA.SVG"), b"zip").unwrap();
        let archive = display_path(&base.backup_dir().join("BA.SVG"), &base.root);
        catalog
            .record_success(
                "A",
                Some(run),
                &a.fingerprint.recorded(),
                chrono::Local::now(),
                &archive,
                3,
            )
            .unwrap();
        catalog.record_error("B", Some(run), "Echec.").unwrap();
        let states = catalog.states().unwrap();

        assert_eq!(
            last_archives(&base.root, &states)["A"],
            LastArchive::Present
        );
        let plan = plan_of(&base, &states, &HashSet::new());
        let (todo, decided) = summary(&plan);
        assert_eq!(todo, [("B", SaveReason::Retry), ("N", SaveReason::New)]);
        assert_eq!(decided, [("A", "Unchanged".to_owned())]);
    }
}
