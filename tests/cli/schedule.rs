//! `svgauto schedule` (DESIGN.md §8): the entry it prints, pinned by
//! snapshots and by the examples of `scripts/schedule/`, and proved by
//! handing it to the parsers it is written for — cron's `%` rule then
//! /bin/sh, `systemd-analyze verify`, an XML parser and the Task Scheduler
//! schema's rules (`task_schema.rs`) — and running the batch it names on a
//! base whose path holds a space, a `'`, a `%`, a `\` and a `$`. Also
//! `svgauto completions` and `svgauto man`, which only print.

use std::fs;
use std::path::Path;

use crate::harness::*;

#[path = "../../src/commands/schedule/argv.rs"]
mod argv;
use argv::windows_split;

const EXE: &str = "/usr/local/bin/svgauto";
const WIN_EXE: &str = r"C:\Program Files\svgauto\svgauto.exe";
/// The bases of the examples in `scripts/schedule/`.
const EXAMPLE_BASE: &str = "/srv/cabinet";
const WIN_EXAMPLE_BASE: &str = r"D:\Cabinet";
/// A folder name every parser on the way must leave alone.
#[cfg(unix)]
const AWKWARD_NAME: &str = r"Cabinet d'Aix \%100 $HOME";

fn base() -> Base {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("821516")
        .file("compta/ecritures.dat", text_bytes(1, 5_000));
    base
}

fn root(base: &Base) -> &str {
    base.root().to_str().unwrap()
}

/// `svgauto schedule --base <base> --user COMPT --at 21:00 --format <format> <extra>`.
fn schedule(base: &Base, base_path: &str, format: &str, extra: &[&str]) -> Out {
    let mut args = vec![
        "schedule", "--base", base_path, "--user", "COMPT", "--at", "21:00", "--format", format,
    ];
    args.extend_from_slice(extra);
    base.svgauto(&args)
}

/// The output for the examples of `scripts/schedule/`, temp base path replaced.
fn example_output(format: &str, exe: &str) -> String {
    let base = base();
    let out = schedule(&base, root(&base), format, &["--exe", exe]);
    out.code(0);
    if format == "schtasks" {
        // What Windows prints for D:\Cabinet: its log folder with `\`.
        let log = format!("{}/sauve/log/", root(&base));
        out.stdout
            .replace(&log, &format!(r"{WIN_EXAMPLE_BASE}\sauve\log\"))
            .replace(root(&base), WIN_EXAMPLE_BASE)
    } else {
        out.stdout.replace(root(&base), EXAMPLE_BASE)
    }
}

/// The Task Scheduler XML for the example of `scripts/schedule/`: the
/// temp base replaced by `D:\Cabinet` (what Windows writes for it), in the
/// file's own encoding.
fn example_xml() -> Vec<u8> {
    let base = base();
    let (_, bytes) = schedule_xml(&base, root(&base), &["--exe", WIN_EXE]);
    let text = utf16_task(&bytes);
    let log = format!("{}/sauve/log/", root(&base));
    let text = text
        .replace(&log, &format!(r"{WIN_EXAMPLE_BASE}\sauve\log\"))
        .replace(root(&base), WIN_EXAMPLE_BASE);
    let mut out = vec![0xFF, 0xFE];
    for unit in text.replace('\n', "\r\n").encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// The output, split into the systemd units it holds: (service, timer).
fn split_units(out: &str) -> (&str, &str) {
    let at = out
        .find("# /etc/systemd/system/svgauto.timer\n")
        .unwrap_or_else(|| panic!("no timer unit in:\n{out}"));
    assert!(
        out.starts_with("# /etc/systemd/system/svgauto.service\n"),
        "the output must start with the service unit:\n{out}"
    );
    out.split_at(at)
}

// ---------------------------------------------------------------------------
// What is printed
// ---------------------------------------------------------------------------

fn snapshot_pair(format: &str, exe: &str) -> (String, String) {
    let base = base();
    let mut shown = Vec::new();
    for extra in [&[][..], &["--max-duration", "2h30m"][..]] {
        let mut args = vec!["--exe", exe];
        args.extend_from_slice(extra);
        let out = schedule(&base, root(&base), format, &args);
        out.code(0);
        assert_eq!(out.stderr, "", "nothing on stderr\n{out}");
        shown.push(out.stdout.replace(root(&base), "[BASE]"));
    }
    let with = shown.pop().unwrap();
    (shown.pop().unwrap(), with)
}

#[test]
fn cron_snapshot() {
    let (plain, with) = snapshot_pair("cron", EXE);
    assert!(with.ends_with(
        " * * * /usr/local/bin/svgauto run --base [BASE] --user COMPT --no-progress --max-duration 2h30m\n"
    ));
    insta::assert_snapshot!("cron", plain);
    insta::assert_snapshot!("cron_max_duration", with);
}

#[test]
fn systemd_snapshot() {
    let (plain, with) = snapshot_pair("systemd", EXE);
    assert!(with.contains(
        "\nExecStart=/usr/local/bin/svgauto run --base [BASE] --user COMPT --no-progress --max-duration 2h30m\n"
    ));
    insta::assert_snapshot!("systemd", plain);
    insta::assert_snapshot!("systemd_max_duration", with);
}

#[test]
fn schtasks_snapshot() {
    let (plain, with) = snapshot_pair("schtasks", WIN_EXE);
    assert!(with.contains(
        r#" /TR "\"C:\Program Files\svgauto\svgauto.exe\" run --base [BASE] --user COMPT --no-progress --max-duration 2h30m" /SC DAILY /ST 21:00 /RU svgauto /RP * /RL HIGHEST /F"#
    ));
    insta::assert_snapshot!("schtasks", plain);
    insta::assert_snapshot!("schtasks_max_duration", with);
}

/// `svgauto schedule --format schtasks-xml --output <file> <extra>`: the
/// command's output and the file's bytes.
fn schedule_xml(base: &Base, base_path: &str, extra: &[&str]) -> (Out, Vec<u8>) {
    let file = base.scratch("svgauto-tache.xml");
    let _ = fs::remove_file(&file);
    let mut args = vec!["--output", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = schedule(base, base_path, "schtasks-xml", &args);
    out.code(0);
    assert_eq!(out.stderr, "", "nothing on stderr\n{out}");
    assert_eq!(
        out.stdout,
        format!("Tâche planifiée écrite dans {}\n", file.display())
    );
    let bytes = fs::read(&file).unwrap();
    (out, bytes)
}

/// The text of a task definition as `schtasks /Create /XML` reads it: a
/// UTF-16LE byte order mark, UTF-16LE, CRLF line ends only, a declaration
/// saying UTF-16. Returned with `\n` line ends.
fn utf16_task(bytes: &[u8]) -> String {
    assert_eq!(bytes[..2], [0xFF, 0xFE], "no UTF-16LE byte order mark");
    assert_eq!(bytes.len() % 2, 0, "odd number of bytes");
    let units: Vec<u16> = bytes[2..]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let text = String::from_utf16(&units).expect("valid UTF-16");
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n"),
        "{text}"
    );
    assert!(text.ends_with("</Task>\r\n"), "{text}");
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "a line end that is not CRLF"
    );
    text.replace("\r\n", "\n")
}

#[test]
fn schtasks_xml_snapshot() {
    let base = base();
    let (_, plain) = schedule_xml(&base, root(&base), &["--exe", WIN_EXE]);
    let (_, with) = schedule_xml(
        &base,
        root(&base),
        &["--exe", WIN_EXE, "--max-duration", "2h30m"],
    );
    let plain = utf16_task(&plain).replace(root(&base), "[BASE]");
    let with = utf16_task(&with).replace(root(&base), "[BASE]");
    assert!(with.contains(
        "<Arguments>run --base [BASE] --user COMPT --no-progress --max-duration 2h30m</Arguments>"
    ));
    assert!(with.contains("<ExecutionTimeLimit>PT3H30M</ExecutionTimeLimit>"));
    insta::assert_snapshot!("schtasks_xml", plain);
    insta::assert_snapshot!("schtasks_xml_max_duration", with);
}

/// Printed rather than written: the same bytes, for `> svgauto-tache.xml`
/// in cmd.exe or a pipe (not for a terminal, which main.rs refuses).
#[test]
fn schtasks_xml_on_stdout_is_the_file() {
    let base = base();
    let (_, file) = schedule_xml(&base, root(&base), &["--exe", WIN_EXE]);
    let printed = base
        .command(&[
            "schedule",
            "--base",
            root(&base),
            "--user",
            "COMPT",
            "--at",
            "21:00",
            "--format",
            "schtasks-xml",
            "--exe",
            WIN_EXE,
        ])
        .output()
        .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    assert_eq!(printed.stdout, file);
}

/// On a terminal the UTF-16 bytes would not show (and a Windows console
/// refuses them): svgauto says to use `--output`, exit 2. The terminal is
/// util-linux's `script`, which runs the command on a pseudo-terminal.
#[cfg(unix)]
#[test]
fn schtasks_xml_is_not_printed_to_a_terminal() {
    let base = base();
    let script = find_program(&["script"]).expect("script (util-linux) is needed by this test");
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line = [
        BIN,
        "schedule",
        "--base",
        root(&base),
        "--user",
        "COMPT",
        "--at",
        "21:00",
    ]
    .iter()
    .map(|w| quote(w))
    .collect::<Vec<_>>()
    .join(" ");
    for format in ["schtasks-xml", "schtasks"] {
        let mut c = assert_cmd::Command::new(&script);
        c.args([
            "-q",
            "-e",
            "-c",
            &format!("{line} --format {format}"),
            "/dev/null",
        ]);
        let out = Out::of(&mut c);
        if format == "schtasks-xml" {
            out.code(2).stdout_has(&[
                "svgauto : erreur : ",
                "UTF-16",
                "--output svgauto-tache.xml",
            ]);
        } else {
            // Text formats print to a terminal as ever.
            out.code(0).stdout_has(&["schtasks /Create /TN"]);
        }
    }
}

/// The definition follows the Task Scheduler schema, and says what issue 14
/// and the original documentation ask: daily at the given time, as the
/// dedicated account whether logged on or not, highest privileges, not
/// stopped on batteries, one instance at a time, the batch's command line.
#[test]
fn schtasks_xml_follows_the_task_scheduler_schema() {
    use crate::task_schema::{TASK_NS, duration_seconds, violations};

    // A TOML quoted key: the collaborator `C&<o>"mpt' é`.
    let base = Base::new().collaborator(r#""C&<o>\"mpt' é""#, "*");
    base.dossier("821516")
        .file("compta/ecritures.dat", text_bytes(1, 100));
    for extra in [&[][..], &["--max-duration", "1h30m"][..]] {
        let mut args = vec!["--exe", WIN_EXE, "--account", r"CABINET\svgauto"];
        args.extend_from_slice(extra);
        let file = base.scratch("t.xml");
        let mut a = vec![
            "schedule",
            "--base",
            root(&base),
            "--user",
            r#"C&<o>"mpt' é"#,
            "--at",
            "06:30",
            "--format",
            "schtasks-xml",
            "--output",
            file.to_str().unwrap(),
        ];
        a.extend_from_slice(&args);
        base.svgauto(&a).code(0);
        let text = utf16_task(&fs::read(&file).unwrap());
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(violations(&doc), Vec::<String>::new(), "{text}");

        let task = doc.root_element();
        let get = |path: &[&str]| -> String {
            let mut n = task;
            for name in path {
                n = n
                    .children()
                    .find(|c| c.has_tag_name((TASK_NS, *name)))
                    .unwrap_or_else(|| panic!("no {path:?}\n{text}"));
            }
            n.text().unwrap_or("").to_owned()
        };
        assert_eq!(task.attribute("version"), Some("1.2"));
        assert_eq!(
            get(&["Triggers", "CalendarTrigger", "StartBoundary"]),
            "2026-01-01T06:30:00"
        );
        assert_eq!(
            get(&[
                "Triggers",
                "CalendarTrigger",
                "ScheduleByDay",
                "DaysInterval"
            ]),
            "1"
        );
        assert_eq!(
            get(&["Principals", "Principal", "UserId"]),
            r"CABINET\svgauto"
        );
        assert_eq!(get(&["Principals", "Principal", "LogonType"]), "Password");
        assert_eq!(
            get(&["Principals", "Principal", "RunLevel"]),
            "HighestAvailable"
        );
        assert_eq!(get(&["Settings", "MultipleInstancesPolicy"]), "IgnoreNew");
        assert_eq!(get(&["Settings", "DisallowStartIfOnBatteries"]), "false");
        assert_eq!(get(&["Settings", "StopIfGoingOnBatteries"]), "false");
        let limit = duration_seconds(&get(&["Settings", "ExecutionTimeLimit"])).unwrap();
        // Longer than --max-duration (the dossiers under way finish), and
        // over before the next day's start without it.
        assert_eq!(
            limit,
            if extra.is_empty() {
                23 * 3600
            } else {
                150 * 60
            }
        );
        assert_eq!(
            get(&["Actions", "Exec", "Command"]),
            format!("\"{WIN_EXE}\"")
        );
        // The arguments as the C runtime splits them: what svgauto gets.
        let mut want = vec![
            "run".to_owned(),
            "--base".into(),
            root(&base).into(),
            "--user".into(),
            r#"C&<o>"mpt' é"#.into(),
            "--no-progress".into(),
        ];
        want.extend(extra.iter().map(|s| s.to_string()));
        assert_eq!(windows_split(&get(&["Actions", "Exec", "Arguments"])), want);
    }
}

/// The files of `scripts/schedule/` are what `svgauto schedule` prints for
/// the base `/srv/cabinet` (Windows: `D:\Cabinet`). With
/// `SVGAUTO_UPDATE_EXAMPLES=1` this test rewrites them instead.
#[test]
fn examples_are_what_schedule_prints() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/schedule");
    let cron = example_output("cron", EXE);
    let systemd = example_output("systemd", EXE);
    let (service, timer) = split_units(&systemd);
    let schtasks = example_output("schtasks", WIN_EXE);
    let files = [
        ("svgauto.cron", cron.as_str()),
        ("svgauto.service", service),
        ("svgauto.timer", timer),
        ("svgauto-schtasks.cmd", schtasks.as_str()),
    ];
    let update = std::env::var_os("SVGAUTO_UPDATE_EXAMPLES").is_some_and(|v| v == "1");
    let xml = example_xml();
    let xml_path = dir.join("svgauto-tache.xml");
    if update {
        fs::write(&xml_path, &xml).unwrap();
    } else {
        let on_disk = fs::read(&xml_path).unwrap_or_else(|e| panic!("{}: {e}", xml_path.display()));
        if on_disk != xml {
            let want = utf16_task(&xml);
            let got = utf16_task(&on_disk);
            panic!(
                "{} is not what `svgauto schedule` prints (SVGAUTO_UPDATE_EXAMPLES=1 rewrites it):\n{}",
                xml_path.display(),
                line_diff(
                    &want.lines().collect::<Vec<_>>(),
                    &got.lines().collect::<Vec<_>>()
                )
            );
        }
    }
    for (name, printed) in files {
        let path = dir.join(name);
        if update {
            fs::write(&path, printed).unwrap();
            continue;
        }
        let on_disk =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if on_disk != printed {
            let want: Vec<&str> = printed.lines().collect();
            let got: Vec<&str> = on_disk.lines().collect();
            panic!(
                "{} is not what `svgauto schedule` prints (SVGAUTO_UPDATE_EXAMPLES=1 rewrites it):\n{}",
                path.display(),
                line_diff(&want, &got)
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Bad input: exit 2, a message naming what is wrong, nothing printed
// ---------------------------------------------------------------------------

#[test]
fn unknown_user() {
    let base = base();
    let out = base.svgauto(&[
        "schedule",
        "--base",
        root(&base),
        "--user",
        "DUPONT",
        "--at",
        "21:00",
    ]);
    out.code(2).stderr_has(&["DUPONT", "COMPT"]);
    assert_eq!(out.stdout, "", "nothing to paste\n{out}");
}

#[test]
fn missing_base() {
    let base = base();
    let missing = base.scratch("pas-de-base");
    let out = schedule(&base, missing.to_str().unwrap(), "cron", &[]);
    out.code(2).stderr_has(&[missing.to_str().unwrap()]);
    assert_eq!(out.stdout, "", "nothing to paste\n{out}");
    assert!(!missing.exists());
}

#[test]
fn missing_settings_file() {
    let base = base();
    let missing = base.scratch("poste.toml");
    let out = schedule(
        &base,
        root(&base),
        "systemd",
        &["--config", missing.to_str().unwrap()],
    );
    out.code(2).stderr_has(&["poste.toml"]);
    assert_eq!(out.stdout, "", "nothing to paste\n{out}");
}

/// What the Task Scheduler's XML cannot hold is refused with a message
/// naming it (exit 2, nothing written); the other formats take it.
#[test]
fn schtasks_xml_refuses_what_the_task_scheduler_cannot_hold() {
    let base = Base::new()
        .collaborator("COMPT", "*")
        // TOML quoted keys: `A`, U+FFFF, `B`; `A`, a line feed, `B`.
        .collaborator(r#""A\uFFFFB""#, "*")
        .collaborator(r#""A\nB""#, "*");
    let file = base.scratch("t.xml");
    let xml = |user: &str, exe: &str| {
        base.svgauto(&[
            "schedule",
            "--base",
            root(&base),
            "--user",
            user,
            "--at",
            "21:00",
            "--format",
            "schtasks-xml",
            "--exe",
            exe,
            "--output",
            file.to_str().unwrap(),
        ])
    };
    let long = format!(r"C:\{}\svgauto.exe", "x".repeat(250));
    for (user, exe, says) in [
        ("A\u{FFFF}B", WIN_EXE, "U+FFFF"),
        ("A\nB", WIN_EXE, "caractère de contrôle"),
        ("COMPT", long.as_str(), "trop long"),
        ("COMPT", r#"/opt/"x"/svgauto"#, "guillemet"),
    ] {
        let out = xml(user, exe);
        out.code(2).stderr_has(&["svgauto : erreur : ", says]);
        assert_eq!(out.stdout, "", "{out}");
        assert!(!file.exists(), "nothing written\n{out}");
    }
    schedule(&base, root(&base), "schtasks", &["--exe", &long]).code(0);
}

#[test]
fn bad_time_of_day() {
    let base = base();
    for at in ["24:00", "9h", "21:60", ""] {
        let out = base.svgauto(&[
            "schedule",
            "--base",
            root(&base),
            "--user",
            "COMPT",
            "--at",
            at,
        ]);
        // clap's message, with the parser's reason.
        out.code(2).stderr_has(&[
            &format!("invalid value '{at}' for '--at <HH:MM>'"),
            "heure invalide",
        ]);
        assert_eq!(out.stdout, "", "nothing to paste\n{out}");
    }
}

// ---------------------------------------------------------------------------
// The entries work: parsed by their scheduler's rules, then run
// ---------------------------------------------------------------------------

/// A base reached through a path holding a space, `'`, `\%` and `$HOME`
/// (a symbolic link to the harness' base, so its helpers still find the
/// reports), and the program under `bin_dir` (a link to the binary).
#[cfg(unix)]
fn awkward_paths(base: &Base, bin_dir: &str) -> (String, String) {
    let link = base.scratch(AWKWARD_NAME);
    std::os::unix::fs::symlink(base.root(), &link).unwrap();
    let bin_dir = base.scratch(bin_dir);
    fs::create_dir(&bin_dir).unwrap();
    let exe = bin_dir.join("svgauto");
    std::os::unix::fs::symlink(BIN, &exe).unwrap();
    (
        link.to_str().unwrap().to_owned(),
        exe.to_str().unwrap().to_owned(),
    )
}

/// A workstation settings file with an awkward name, for `--config`.
#[cfg(unix)]
fn awkward_settings(base: &Base) -> String {
    let p = base.config_file("poste d'essai 10%.toml", "[run]\nthreads = 1\n");
    p.to_str().unwrap().to_owned()
}

/// cron's reading of a command (cronie and Vixie cron, `do_command.c`):
/// `\%` is a `%`, the first bare `%` ends the command and starts its input.
#[cfg(unix)]
fn cron_command(cmd: &str) -> (String, Option<String>) {
    let mut out = String::new();
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('%') => out.push('%'),
                Some(c) => {
                    out.push('\\');
                    out.push(c);
                }
                None => out.push('\\'),
            },
            '%' => return (out, Some(chars.collect())),
            c => out.push(c),
        }
    }
    (out, None)
}

/// The run the entry started left its report, and saved the dossier.
#[cfg(unix)]
fn assert_batch_ran(base: &Base, out: &Out) {
    out.code(0);
    base.report().assert_line("821516", &saved_line("821516"));
    base.assert_archive_matches("821516", false);
}

#[cfg(unix)]
#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn cron_line_runs_the_batch_through_sh() {
    use std::process::{Command, Stdio};

    let base = base();
    let (base_path, exe) = awkward_paths(&base, "bin d'essai 50% $X");
    let settings = awkward_settings(&base);
    let out = schedule(
        &base,
        &base_path,
        "cron",
        &[
            "--exe",
            &exe,
            "--max-duration",
            "2h30m",
            "--config",
            &settings,
        ],
    );
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let (entry, comments) = lines.split_last().unwrap();
    for c in comments {
        assert!(c.starts_with('#'), "not a comment: {c:?}\n{out}");
    }
    // Five time fields, then the command.
    let fields: Vec<&str> = entry.splitn(6, ' ').collect();
    assert_eq!(fields[..5], ["0", "21", "*", "*", "*"], "{entry}");
    let (command, input) = cron_command(fields[5]);
    assert_eq!(input, None, "a bare % would cut the command: {entry}");

    // Run as cron does: /bin/sh -c, a bare environment, in the account's home.
    let home = base.scratch("home");
    fs::create_dir(&home).unwrap();
    let mut sh = Command::new("/bin/sh");
    sh.arg("-c")
        .arg(&command)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("SHELL", "/bin/sh")
        .current_dir(&home)
        .stdin(Stdio::null());
    let ran = Out::of(&mut assert_cmd::Command::from_std(sh));
    // Had a path been cut or mangled on the way, the run would have
    // stopped with exit 2 (no such base, no such settings file).
    assert_batch_ran(&base, &ran);
}

/// systemd's reading of an `ExecStart=` value: specifiers (`%%`), then
/// words with double or single quotes and C escapes, then `$$` in the
/// arguments (not in the program's path).
#[cfg(unix)]
fn systemd_exec(value: &str) -> Vec<String> {
    let value = value.replace("%%", "\u{0}");
    assert!(!value.contains('%'), "unknown specifier in {value:?}");
    let value = value.replace('\u{0}', "%");
    let mut words = Vec::new();
    let mut w: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                let e = chars.next().expect("escape at the end");
                let c = match e {
                    'n' => '\n',
                    't' => '\t',
                    '\\' | '"' | '\'' | ' ' => e,
                    _ => panic!("escape \\{e} not expected in {value:?}"),
                };
                w.get_or_insert_default().push(c);
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                w.get_or_insert_default();
            }
            (c, Some(q)) if c == q => quote = None,
            (' ' | '\t', None) => words.extend(w.take()),
            (c, _) => w.get_or_insert_default().push(c),
        }
    }
    assert_eq!(quote, None, "unterminated quote in {value:?}");
    words.extend(w);
    let program = words.remove(0);
    std::iter::once(program)
        .chain(words.into_iter().map(|w| {
            let w = w.replace("$$", "\u{0}");
            assert!(!w.contains('$'), "variable in {w:?}");
            w.replace('\u{0}', "$")
        }))
        .collect()
}

#[cfg(unix)]
#[test]
#[ignore = "needs 7-Zip: scripts/test"]
fn systemd_units_verify_and_exec_start_runs_the_batch() {
    let base = base();
    // systemd refuses a quote or a backslash in the program's path (see
    // `systemd_refuses_some_program_paths`), not in its arguments.
    let (base_path, exe) = awkward_paths(&base, "bin d essai 50% $X");
    let settings = awkward_settings(&base);
    let out = schedule(
        &base,
        &base_path,
        "systemd",
        &[
            "--exe",
            &exe,
            "--max-duration",
            "2h30m",
            "--config",
            &settings,
        ],
    );
    out.code(0);
    let (service, timer) = split_units(&out.stdout);

    match find_program(&["systemd-analyze"]) {
        Some(analyze) => {
            let dir = base.scratch("units");
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join("svgauto.service"), service).unwrap();
            fs::write(dir.join("svgauto.timer"), timer).unwrap();
            let mut verify = assert_cmd::Command::new(analyze);
            verify
                .arg("verify")
                .arg(dir.join("svgauto.service"))
                .arg(dir.join("svgauto.timer"))
                .env("SYSTEMD_LOG_LEVEL", "notice");
            let checked = Out::of(&mut verify);
            checked.code(0);
            let own: Vec<&str> = checked
                .stderr
                .lines()
                .filter(|l| l.contains("svgauto"))
                .collect();
            assert!(own.is_empty(), "systemd-analyze complains:\n{checked}");
        }
        None => eprintln!(
            "note: systemd-analyze is not installed: the units are checked by this test's own reading of ExecStart= only"
        ),
    }

    let exec: Vec<&str> = service
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .collect();
    assert_eq!(exec.len(), 1, "one ExecStart=\n{service}");
    let argv = systemd_exec(exec[0]);
    let want: Vec<&str> = vec![
        &exe,
        "run",
        "--base",
        &base_path,
        "--user",
        "COMPT",
        "--no-progress",
        "--max-duration",
        "2h30m",
        "--config",
        &settings,
    ];
    assert_eq!(argv, want, "{}", exec[0]);
    for (key, value) in [
        ("Type", "oneshot"),
        ("User", "svgauto"),
        ("KillSignal", "SIGINT"),
    ] {
        assert!(
            service.lines().any(|l| l == format!("{key}={value}")),
            "{key}={value} missing:\n{service}"
        );
    }
    for line in [
        "OnCalendar=*-*-* 21:00:00",
        "Persistent=true",
        "WantedBy=timers.target",
    ] {
        assert!(timer.lines().any(|l| l == line), "{line} missing:\n{timer}");
    }

    // Run what systemd would run.
    let mut cmd = assert_cmd::Command::new(&argv[0]);
    cmd.args(&argv[1..]).current_dir("/");
    assert_batch_ran(&base, &Out::of(&mut cmd));
}

#[test]
fn systemd_refuses_some_program_paths() {
    let base = base();
    for exe in ["/opt/d'Aix/svgauto", r"/opt/a\b/svgauto"] {
        let out = schedule(&base, root(&base), "systemd", &["--exe", exe]);
        out.code(2).stderr_has(&[exe, "systemd refuse"]);
        assert_eq!(out.stdout, "", "nothing to paste\n{out}");
        // The other formats take it.
        schedule(&base, root(&base), "cron", &["--exe", exe]).code(0);
    }
}

// ---------------------------------------------------------------------------
// completions and man
// ---------------------------------------------------------------------------

/// The subcommands `svgauto --help` lists (but `help`), and at least those
/// of DESIGN.md §3 and §8.
fn subcommands() -> Vec<String> {
    let out = Base::new().svgauto(&["--help"]);
    out.code(0);
    let listed: Vec<String> = out
        .stdout
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    for c in [
        "run",
        "save",
        "restore",
        "import",
        "verify",
        "status",
        "config",
        "schedule",
        "completions",
        "man",
    ] {
        assert!(listed.iter().any(|l| l == c), "{c} not in --help:\n{out}");
    }
    listed
}

/// `word` in `text`, not as part of a longer name.
fn mentions(text: &str, word: &str) -> bool {
    let part_of_name =
        |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
    text.match_indices(word).any(|(i, _)| {
        !part_of_name(text[..i].chars().next_back())
            && !part_of_name(text[i + word.len()..].chars().next())
    })
}

#[test]
fn bash_completion_loads() {
    let base = Base::new();
    let out = base.svgauto(&["completions", "bash"]);
    out.code(0);
    let script = base.scratch("svgauto.bash");
    fs::write(&script, &out.stdout).unwrap();
    let bash = find_program(&["bash"]).expect("bash is needed by this test");
    let mut c = assert_cmd::Command::new(bash);
    c.args([
        "--norc",
        "--noprofile",
        "-c",
        r#"source "$1" && complete -p svgauto"#,
        "bash",
    ])
    .arg(&script);
    let loaded = Out::of(&mut c);
    loaded.code(0);
    assert!(
        loaded.stdout.starts_with("complete ") && mentions(&loaded.stdout, "svgauto"),
        "{loaded}"
    );
    assert_eq!(loaded.stderr, "", "{loaded}");
    for sub in subcommands() {
        assert!(mentions(&out.stdout, &sub), "bash completion lacks {sub}");
    }
}

#[test]
fn other_shells_complete_every_subcommand() {
    let base = Base::new();
    let subs = subcommands();
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = base.svgauto(&["completions", shell]);
        out.code(0);
        assert!(!out.stdout.trim().is_empty(), "{shell}: empty\n{out}");
        for sub in &subs {
            assert!(mentions(&out.stdout, sub), "{shell} completion lacks {sub}");
        }
    }
    base.svgauto(&["completions", "tcsh"])
        .code(2)
        .stderr_has(&["tcsh"]);
}

#[test]
fn man_page() {
    let base = Base::new();
    let out = base.svgauto(&["man"]);
    out.code(0);
    let roff = &out.stdout;
    // A roff document: requests from the first line, the title header early.
    assert!(roff.starts_with('.'), "not roff:\n{roff}");
    assert!(
        roff.lines()
            .take(5)
            .any(|l| l.to_ascii_lowercase().starts_with(".th svgauto ")),
        "no .TH header:\n{roff}"
    );
    let text = roff.replace(r"\-", "-");
    for sub in subcommands() {
        assert!(
            mentions(&text, &format!("svgauto-{sub}")),
            "man page lacks {sub}"
        );
    }
    let page = base.scratch("svgauto.1");
    fs::write(&page, roff).unwrap();
    let mut rendered = false;
    if let Some(groff) = find_program(&["groff"]) {
        let mut c = assert_cmd::Command::new(groff);
        // -P-cbu: plain text, without overstriking.
        c.args(["-man", "-Tutf8", "-ww", "-P-cbu"]).arg(&page);
        let r = Out::of(&mut c);
        r.code(0);
        assert_eq!(r.stderr, "", "groff warns\n{r}");
        assert!(r.stdout.contains("SUBCOMMANDS"), "{r}");
        rendered = true;
    }
    if let Some(man) = find_program(&["man"]) {
        let mut c = assert_cmd::Command::new(man);
        c.args(["-l", "-P", "cat"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0");
        let r = Out::of(&mut c);
        r.code(0);
        assert!(r.stdout.contains("svgauto"), "{r}");
        rendered = true;
    }
    if !rendered {
        eprintln!("note: neither groff nor man is installed: the man page is not rendered");
    }
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let base = Base::new();
    let dir = base.scratch("man1");
    base.svgauto(&["man", "--dir", dir.to_str().unwrap()])
        .code(0);
    let mut want = vec!["svgauto.1".to_owned()];
    want.extend(subcommands().iter().map(|s| format!("svgauto-{s}.1")));
    // Subcommands of `offsite` get a page each, too.
    want.extend(
        ["push", "status", "restore", "verify"]
            .iter()
            .map(|s| format!("svgauto-offsite-{s}.1")),
    );
    want.sort();
    assert_eq!(list_dir(&dir), want);
    let save = fs::read_to_string(dir.join("svgauto-save.1")).unwrap();
    for option in ["\\-\\-dossier", "\\-\\-event", "provider\\-exchange"] {
        assert!(
            save.contains(option),
            "svgauto-save.1 lacks {option}:\n{save}"
        );
    }
}
