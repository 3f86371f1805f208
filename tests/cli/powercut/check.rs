//! The checker: replays a log in the [`Model`] and checks every state the
//! disk may hold at every crash point.
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

use std::collections::BTreeSet;

use super::model::{Ino, Model, Op, Stats};
use super::strace::{Call, is_flush_of, unquote};

/// What to check, besides the archives.
#[derive(Debug, Clone)]
pub(super) enum Watch {
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
pub(super) struct Verdict {
    pub(super) violations: Vec<String>,
    pub(super) stats: Stats,
}

impl Verdict {
    #[track_caller]
    pub(super) fn assert_clean(&self, what: &str) {
        assert!(
            self.violations.is_empty(),
            "{what}: {} violation(s) of the flush order in the power cut model:\n- {}",
            self.violations.len(),
            self.violations.join("\n- ")
        );
    }

    #[track_caller]
    pub(super) fn assert_caught(&self, what: &str, needle: &str) {
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
pub(super) fn check(seed: &Model, calls: &[Call], watch: &Watch) -> Verdict {
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
