//! A run that dies (kill -9), is interrupted (Ctrl-C) or meets another run
//! (DESIGN.md §3): no damaged or partial `B*.SVG`, and the next run finishes
//! the work.
//!
//! These are the only tests that wait on time: a killed process tells
//! nothing, so the tests poll the backup folder for a `.partial` file (the
//! sign that an archive is being written) or kill after a random delay.

use std::time::Duration;

use crate::harness::*;

const POLL_LIMIT: Duration = Duration::from_secs(60);

/// Every `B*.SVG` must pass `7zz t`.
fn assert_no_damaged_archive(base: &Base, when: &str) {
    for code in base.archived() {
        let archive = base.archive(&code);
        eprintln!("{when}: 7zz t {}", archive.display());
        sevenz_test(&archive);
    }
}

fn partial_of(base: &Base, code: &str) -> std::path::PathBuf {
    base.sauve().join(format!("B{code}.SVG.partial"))
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn kill_9_in_the_middle_of_runs_damages_no_archive_and_the_next_run_finishes() {
    let base = big_base(20, 1024, 1024);
    let seed = test_seed();
    let delays = random_bytes(seed, 5);
    for (i, d) in delays.iter().enumerate() {
        let delay = Duration::from_millis(50 + u64::from(*d) * 350 / 255);
        // After the first (which saves everything anyway), force the work.
        let mut args = vec!["--user", "COMPT", "--threads", "1"];
        if i > 0 {
            args.push("--all");
        }
        let run = base.spawn_run(&args, &format!("kill{i}"));
        std::thread::sleep(delay);
        let code = run.kill9();
        eprintln!(
            "kill #{i} after {delay:?} (exit {code:?}): {} archives, partials {:?}",
            base.archived().len(),
            base.partials()
        );
        assert_no_damaged_archive(&base, &format!("after kill #{i}"));
    }

    base.run_compt(&["--threads", "1"]).code(0);
    assert!(
        base.partials().is_empty(),
        "partials left after a complete run: {:?}",
        base.partials()
    );
    let all: Vec<String> = (0..20).map(|i| format!("D{i:02}")).collect();
    assert_eq!(
        base.archived(),
        all.iter().cloned().collect(),
        "every dossier has its archive"
    );
    for code in &all {
        base.assert_archive_matches(code, false);
    }
    // And the work is done: nothing left to redo.
    let before = base.stamps();
    base.run_compt(&["--threads", "1"]).code(0);
    before.assert_untouched(&base.stamps());
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn a_dossier_whose_archive_was_being_written_is_redone_first_and_the_report_says_so() {
    let base = Base::new().collaborator("COMPT", "*");
    // Distinct sizes, so that "largest first" is a known order.
    base.dossier("GRAND")
        .file("a.bin", random_bytes(1, 6 << 20))
        .file("b.txt", text_bytes(1, 1 << 20));
    base.dossier("MOYEN")
        .file("a.bin", random_bytes(2, 5 << 20));
    base.dossier("PETIT1").file("a.txt", text_bytes(3, 200_000));
    base.dossier("PETIT2").file("a.txt", text_bytes(4, 100_000));
    base.run_compt(&["--threads", "1"]).code(0);

    // Modify MOYEN alone and kill the run that saves it while its archive
    // is being written; again if the kill came too late.
    let mut caught = false;
    for attempt in 0..5 {
        base.append("MOYEN", "a.bin", format!("modification {attempt}\n"));
        let mut run = base.spawn_run(
            &["--user", "COMPT", "--threads", "1"],
            &format!("redo{attempt}"),
        );
        let partial = partial_of(&base, "MOYEN");
        wait_until(POLL_LIMIT, || partial.exists() || run.has_exited());
        run.kill9();
        if partial.exists() {
            caught = true;
            break;
        }
        eprintln!("attempt {attempt}: MOYEN was finished before the kill, again");
    }
    assert!(
        caught,
        "could not kill the run while BMOYEN.SVG.partial existed"
    );
    assert_no_damaged_archive(&base, "after the kill");

    // GRAND, bigger, is modified: yet MOYEN, interrupted, comes first.
    base.append("GRAND", "b.txt", "ajout\n");
    base.run_compt(&["--threads", "1"]).code(0);
    let report = base.report();
    assert_eq!(
        report.codes(),
        ["MOYEN", "GRAND"],
        "order of the lines\n{report}"
    );
    let moyen = report.line("MOYEN");
    assert!(
        moyen.starts_with(&saved_line("MOYEN")) && moyen.contains("interrompu"),
        "the line of the interrupted dossier must say it was saved and that the previous run was interrupted\n{report}"
    );
    report.assert_line("GRAND", &saved_line("GRAND"));
    report.assert_summary(2, 0, 2);
    assert!(
        base.partials().is_empty(),
        "partials left: {:?}",
        base.partials()
    );
    base.assert_archive_matches("MOYEN", false);
    base.assert_archive_matches("GRAND", false);
}

#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn a_second_run_while_one_is_going_stops_at_once_with_exit_2() {
    let base = big_base(16, 1024, 1024);
    let first = base.spawn_run(&["--user", "COMPT", "--threads", "1"], "first");
    // The first run is writing archives: it surely holds the base.
    assert!(
        wait_until(POLL_LIMIT, || !base.partials().is_empty()
            || !base.archived().is_empty()),
        "the first run wrote nothing"
    );
    let second = base.run_compt(&["--threads", "1"]);
    let first = first.wait();
    first.code(0);
    second.code(2);
    assert!(
        !second.stderr.trim().is_empty(),
        "the second run must say why it stops\n{second}"
    );
    assert!(
        base.partials().is_empty(),
        "partials left: {:?}",
        base.partials()
    );
    assert_eq!(
        base.archived().len(),
        16,
        "the first run saves every dossier"
    );
    assert_no_damaged_archive(&base, "after both runs");
}

#[cfg(unix)]
#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn ctrl_c_stops_cleanly_with_exit_130_and_the_next_run_finishes() {
    let base = big_base(10, 1024, 512);
    let kill = find_program(&["kill"]).expect("the `kill` command");
    let mut interrupted = None;
    for attempt in 0..5 {
        let mut args = vec!["--user", "COMPT", "--threads", "1"];
        if attempt > 0 {
            args.push("--all");
        }
        let mut run = base.spawn_run(&args, &format!("ctrlc{attempt}"));
        wait_until(POLL_LIMIT, || {
            !base.partials().is_empty() || run.has_exited()
        });
        if run.has_exited() {
            eprintln!(
                "attempt {attempt}: the run ended before an archive was seen under way, again"
            );
            continue;
        }
        let ok = std::process::Command::new(&kill)
            .args(["-INT", &run.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -INT failed");
        interrupted = Some(run.wait());
        break;
    }
    let out = interrupted.expect("never caught the run with an archive under way");
    out.code(130);
    assert!(
        base.partials().is_empty(),
        "Ctrl-C must not leave partials: {:?}",
        base.partials()
    );
    assert_no_damaged_archive(&base, "after Ctrl-C");
    let report = base.report();
    let saved = report
        .dossier_lines()
        .iter()
        .filter(|l| l.contains(SAVED))
        .count();
    assert!(
        saved < 10,
        "the run was interrupted, yet saved every dossier\n{out}\n{report}"
    );

    base.run_compt(&["--threads", "1"]).code(0);
    assert_eq!(base.archived().len(), 10, "the next run saves the rest");
    assert!(
        base.partials().is_empty(),
        "partials left: {:?}",
        base.partials()
    );
    for code in base.archived() {
        base.assert_archive_matches(&code, false);
    }
}
