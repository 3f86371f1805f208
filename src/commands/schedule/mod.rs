//! `svgauto schedule`: the scheduled task running the batch every day, ready
//! to paste — a crontab line, a systemd service + timer, `schtasks`, or the
//! Task Scheduler's XML that `schtasks /Create /XML` imports.
//!
//! Everything is checked before anything is printed — the base opens with
//! its settings, the collaborator exists — so that a typo shows now, not at
//! 21:00 in a log nobody reads. The text itself is a pure function of a
//! [`Spec`] ([`render`]): its French prose is in `templates/` (printed by
//! the rules of `template.rs`), and each scheduler gets its own quoting
//! (`quote.rs`), because each has its own parser between the text and
//! svgauto's arguments.
//!
//! **The XML's encoding.** `schtasks /Create /XML` reads a file in UTF-16LE
//! with its byte order mark, or in the system's ANSI code page without one:
//! it refuses UTF-8, with or without a BOM ("(1,2) incorrect document
//! syntax"), and UTF-8 declared `encoding="UTF-8"` ("unable to switch the
//! encoding": it hands the Task Scheduler the text already decoded into
//! UTF-16, whose declaration must then say UTF-16) — reported by users in
//! fatso83/vmware-auto-suspend#5 and #8, chef/chef#6639, and what
//! first-tree-ai/first-tree#1548 fixed. ANSI cannot hold every path (a
//! base `D:\Société` on a server whose code page is not Latin-1). So the
//! definition is written as Windows itself exports tasks: UTF-16LE, BOM,
//! `encoding="UTF-16"`, CRLF line ends ([`Entry`]).

#[cfg(test)]
pub(crate) mod argv;
mod quote;
mod template;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::base::Base;
use crate::clock::format_duration;
use crate::error::CommandError;
use crate::options::{ScheduleOptions, Scheduler};

use quote::{
    cmd_escape, cron_word, systemd_can_start, systemd_program, systemd_word, windows_arg,
    windows_arg_quoted, windows_program,
};
use template::{Vars, comment, section};

/// The task's name in the Windows Task Scheduler ("Planificateur de
/// tâches"), in a folder `svgauto` of its library.
pub const TASK_NAME: &str = r"svgauto\Sauvegarde des dossiers modifiés";
/// Where the systemd service unit goes; each unit is announced by a comment
/// line naming its path, which is how a reader (and the tests) separate them.
pub const SERVICE_PATH: &str = "/etc/systemd/system/svgauto.service";
/// Where the systemd timer unit goes.
pub const TIMER_PATH: &str = "/etc/systemd/system/svgauto.timer";
/// The file the systemd service reads the SMTP password's variable from.
pub const ENV_FILE: &str = "/etc/svgauto/svgauto.env";
/// `schtasks /TR` refuses longer commands.
const SCHTASKS_TR_MAX: usize = 261;
/// The Task Scheduler schema's `pathType` (an `Exec` action's `Command`):
/// at most this many characters.
const TASK_PATH_MAX: usize = 260;
/// Added to `--max-duration` for the task's `ExecutionTimeLimit`: the
/// dossiers under way when the run stops starting new ones are finished.
const FINISH_MARGIN: Duration = Duration::from_secs(3600);
/// A task without `--max-duration` is stopped after this long, so that it
/// is always over before the next day's start (which `IgnoreNew` would
/// otherwise skip while a hung run holds on).
const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(23 * 3600);
/// The first day of the daily trigger (the date a `StartBoundary` needs; any
/// past day gives the same schedule). Without a time zone: the server's
/// local time, summer and winter.
const TRIGGER_START_DAY: &str = "2026-01-01";

/// The texts, one file per scheduler.
const CRON: &str = include_str!("templates/cron.txt");
const SYSTEMD: &str = include_str!("templates/systemd.txt");
const SCHTASKS: &str = include_str!("templates/schtasks.txt");
const SCHTASKS_XML: &str = include_str!("templates/schtasks-xml.txt");

/// What `svgauto schedule` gives: the entry's bytes, ready to be printed or
/// written to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The text as the scheduler reads it: UTF-8 with `\n` line ends, or for
    /// the Task Scheduler's XML UTF-16LE with its byte order mark and CRLF
    /// line ends (see the module's documentation).
    pub bytes: Vec<u8>,
    /// Whether `bytes` is UTF-16: not for a terminal.
    pub utf16: bool,
}

impl Entry {
    /// `text` encoded for `scheduler`.
    pub fn new(scheduler: Scheduler, text: &str) -> Entry {
        match scheduler {
            Scheduler::SchtasksXml => Entry {
                bytes: utf16le_crlf(text),
                utf16: true,
            },
            _ => Entry {
                bytes: text.as_bytes().to_vec(),
                utf16: false,
            },
        }
    }

    /// Writes the entry into `path` (`--output`), replacing it.
    pub fn write_to(&self, path: &Path) -> Result<(), CommandError> {
        std::fs::write(path, &self.bytes).map_err(|source| CommandError::Io {
            path: path.to_owned(),
            source,
        })
    }
}

/// `text` in UTF-16LE after a byte order mark, each `\n` written CRLF.
pub fn utf16le_crlf(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.replace('\n', "\r\n").encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// What a scheduled entry says, as the strings it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The svgauto program the task runs.
    pub exe: String,
    /// The base, absolute.
    pub base: String,
    /// The collaborator code the batch runs as.
    pub user: String,
    /// Time of day (hour, minute).
    pub at: (u8, u8),
    /// The system account the task runs as.
    pub account: String,
    /// Passed to `run --max-duration`.
    pub max_duration: Option<Duration>,
    /// The workstation settings file, absolute.
    pub config: Option<String>,
    /// Where the reports go (`<backup.dir>/log/`), for the comments.
    pub log_dir: String,
    /// `smtp.password_env`, when set: the task's environment must hold it.
    pub password_env: Option<String>,
}

impl Spec {
    /// The task's arguments after the program.
    pub fn run_args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "run".into(),
            "--base".into(),
            self.base.clone(),
            "--user".into(),
            self.user.clone(),
            "--no-progress".into(),
        ];
        if let Some(d) = self.max_duration {
            a.extend(["--max-duration".into(), format_duration(d)]);
        }
        if let Some(c) = &self.config {
            a.extend(["--config".into(), c.clone()]);
        }
        a
    }

    fn time(&self) -> String {
        format!("{:02}:{:02}", self.at.0, self.at.1)
    }

    /// The values every scheduler's prose names.
    fn vars(&self) -> Vars {
        Vars::default()
            .with("base", &self.base)
            .with("time", self.time())
            .with("user", &self.user)
            .with("account", &self.account)
            .with("log", &self.log_dir)
    }
}

/// `svgauto schedule …`: the entry to print or to write.
pub fn schedule_command(o: &ScheduleOptions) -> Result<Entry, CommandError> {
    let base = Base::open(&o.base, o.workstation.as_deref())?;
    base.rights(&o.user)?;
    // Neither cron, systemd nor the Task Scheduler starts in the folder the
    // admin is in: every local path is made absolute. `absolute` rather
    // than `canonicalize`: it keeps the path the admin chose (a symbolic
    // link, a mapped drive) and adds no `\\?\` prefix on Windows.
    let root = absolute(&o.base)?;
    let settings = &base.effective.settings;
    let log_dir = text(&root.join(&settings.backup.dir).join(crate::base::LOG_DIR))?
        + std::path::MAIN_SEPARATOR_STR;
    let exe = match &o.exe {
        Some(p) => task_program(p)?,
        None => {
            let p = std::env::current_exe().map_err(|e| CommandError::Invalid {
                what: "svgauto".into(),
                detail: format!("chemin de ce programme introuvable ({e}) ; le donner avec --exe"),
            })?;
            text(&p)?
        }
    };
    let config = match o.workstation.as_deref() {
        Some(f) => Some(text(&absolute(f)?)?),
        None => None,
    };
    let spec = Spec {
        exe,
        base: text(&root)?,
        user: plain("collaborateur", &o.user)?,
        at: o.at,
        account: plain("compte", &o.account)?,
        max_duration: o.max_duration,
        config,
        log_dir,
        password_env: Some(settings.smtp.password_env.clone()).filter(|v| !v.is_empty()),
    };
    if o.scheduler == Scheduler::Systemd && !systemd_can_start(&spec.exe) {
        return Err(CommandError::Invalid {
            what: spec.exe,
            detail:
                "systemd refuse de lancer un programme dont le chemin contient une apostrophe, \
                     un guillemet ou une barre oblique inverse : installer svgauto ailleurs \
                     (par exemple /usr/local/bin/svgauto) et le désigner avec --exe"
                    .into(),
        });
    }
    if o.scheduler == Scheduler::SchtasksXml {
        task_scheduler_can_hold(&spec)?;
    }
    Ok(Entry::new(o.scheduler, &render(o.scheduler, &spec)))
}

/// Refuses what the Task Scheduler's XML cannot hold: a character XML 1.0
/// does not allow (U+FFFE, U+FFFF; control characters are refused for every
/// format), a program path with a `"` or longer than the schema's
/// `pathType`.
fn task_scheduler_can_hold(spec: &Spec) -> Result<(), CommandError> {
    let values = [
        Some(&spec.exe),
        Some(&spec.base),
        Some(&spec.user),
        Some(&spec.account),
        spec.config.as_ref(),
        Some(&spec.log_dir),
        spec.password_env.as_ref(),
    ];
    for v in values.into_iter().flatten() {
        if v.contains(['\u{FFFE}', '\u{FFFF}']) {
            return Err(CommandError::Invalid {
                what: v.clone(),
                detail: "caractère U+FFFE ou U+FFFF, qu'un fichier XML ne peut pas contenir : \
                         le Planificateur de tâches ne saurait pas le lire"
                    .into(),
            });
        }
    }
    if spec.exe.contains('"') {
        return Err(CommandError::Invalid {
            what: spec.exe.clone(),
            detail: "chemin du programme contenant un guillemet, impossible sous Windows : \
                     le désigner avec --exe"
                .into(),
        });
    }
    let command = windows_program(&spec.exe);
    if command.chars().count() > TASK_PATH_MAX {
        return Err(CommandError::Invalid {
            what: spec.exe.clone(),
            detail: format!(
                "chemin du programme trop long pour le Planificateur de tâches ({} caractères, \
                 {TASK_PATH_MAX} au plus guillemets compris) : installer svgauto dans un dossier \
                 plus court (par exemple C:\\svgauto) et le désigner avec --exe",
                command.chars().count()
            ),
        });
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf, CommandError> {
    std::path::absolute(p).map_err(|source| CommandError::Io {
        path: p.to_owned(),
        source,
    })
}

/// The program as the task will name it. As given when it is absolute here
/// or on the other system (a Windows entry prepared on Linux, or the
/// reverse), or when it does not exist here (a name the scheduler finds on
/// its PATH, a path of the machine the entry is for); otherwise absolute.
fn task_program(p: &Path) -> Result<String, CommandError> {
    let s = text(p)?;
    if p.is_absolute() || looks_absolute(&s) || !p.exists() {
        return Ok(s);
    }
    text(&absolute(p)?)
}

/// Absolute on Unix or on Windows: `/…`, `\\server\…`, `X:\…`, `X:/…`.
fn looks_absolute(s: &str) -> bool {
    let b = s.as_bytes();
    s.starts_with('/')
        || s.starts_with('\\')
        || (b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && matches!(b[2], b'\\' | b'/'))
}

/// A path as text a scheduler can hold: UTF-8, without control characters
/// (a line break would end a crontab line or a unit's setting).
fn text(p: &Path) -> Result<String, CommandError> {
    let bad = |why: &str| CommandError::Invalid {
        what: p.display().to_string(),
        detail: why.to_owned(),
    };
    let s = p.to_str().ok_or_else(|| {
        bad("chemin non représentable en UTF-8 : une tâche planifiée ne saurait pas le désigner")
    })?;
    if s.chars().any(char::is_control) {
        return Err(bad(
            "chemin contenant un caractère de contrôle (saut de ligne…) : une tâche planifiée ne saurait pas le désigner",
        ));
    }
    Ok(s.to_owned())
}

/// A name (collaborator, account) without control characters.
fn plain(what: &str, s: &str) -> Result<String, CommandError> {
    if s.chars().any(char::is_control) {
        return Err(CommandError::Invalid {
            what: s.to_owned(),
            detail: format!("{what} contenant un caractère de contrôle"),
        });
    }
    Ok(s.to_owned())
}

/// The entry for `scheduler`, ready to paste.
pub fn render(scheduler: Scheduler, spec: &Spec) -> String {
    match scheduler {
        Scheduler::Cron => cron(spec),
        Scheduler::Systemd => systemd(spec),
        Scheduler::Schtasks => schtasks(spec),
        Scheduler::SchtasksXml => schtasks_xml(spec),
    }
}

/// Section `name` of `template` filled with `vars`, as a comment after
/// `prefix` (`# `, `REM `): a value may hold a line break.
fn note(template: &str, name: &str, prefix: &str, vars: &Vars) -> String {
    comment(prefix, &section(template, name, vars))
}

fn cron(s: &Spec) -> String {
    let password_note = s.password_env.as_deref().map_or_else(String::new, |var| {
        note(
            CRON,
            "password_note",
            "# ",
            &Vars::default().with("var", var),
        )
    });
    let words: Vec<String> = std::iter::once(s.exe.clone())
        .chain(s.run_args())
        .map(|w| cron_word(&w))
        .collect();
    let vars = s
        .vars()
        .with("password_note", password_note)
        .with("minute", s.at.1.to_string())
        .with("hour", s.at.0.to_string())
        .with("command", words.join(" "));
    section(CRON, "entry", &vars)
}

fn systemd(s: &Spec) -> String {
    let password_note = s.password_env.as_deref().map_or_else(String::new, |var| {
        note(
            SYSTEMD,
            "password_note",
            "# ",
            &Vars::default().with("var", var),
        ) + &section(
            SYSTEMD,
            "environment_file",
            &Vars::default().with("env_file", ENV_FILE),
        )
    });
    let words: Vec<String> = std::iter::once(systemd_program(&s.exe))
        .chain(s.run_args().iter().map(|w| systemd_word(w)))
        .collect();
    let vars = s
        .vars()
        .with("service_path", SERVICE_PATH)
        .with("timer_path", TIMER_PATH)
        .with("password_note", password_note)
        .with("exec_start", words.join(" "));
    section(SYSTEMD, "units", &vars)
}

fn schtasks(s: &Spec) -> String {
    let password_note = s.password_env.as_deref().map_or_else(String::new, |var| {
        let vars = Vars::default().with("var", var).with("account", &s.account);
        note(SCHTASKS, "password_note", "REM ", &vars)
    });
    let args: Vec<String> = s.run_args().iter().map(|a| windows_arg(a)).collect();
    let task = format!("{} {}", windows_program(&s.exe), args.join(" "));
    let too_long_note = if task.chars().count() > SCHTASKS_TR_MAX {
        let vars = Vars::default().with("limit", SCHTASKS_TR_MAX.to_string());
        note(SCHTASKS, "too_long_note", "REM ", &vars)
    } else {
        String::new()
    };
    let percent_note = if task.contains('%') {
        note(SCHTASKS, "percent_note", "REM ", &Vars::default())
    } else {
        String::new()
    };
    let command = Vars::default()
        .with("task_name", windows_arg(TASK_NAME))
        .with("task", windows_arg_quoted(&task))
        .with("time", s.time())
        .with("account", windows_arg(&s.account));
    let vars = s
        .vars()
        .with("password_note", password_note)
        .with("too_long_note", too_long_note)
        .with("percent_note", percent_note)
        .with(
            "command",
            cmd_escape(&section(SCHTASKS, "command", &command)),
        );
    section(SCHTASKS, "entry", &vars)
}

/// The task's `ExecutionTimeLimit`: `--max-duration` and an hour to finish
/// the dossiers under way, else 23 hours (over before the next day's start).
pub fn task_time_limit(max_duration: Option<Duration>) -> Duration {
    max_duration.map_or(DEFAULT_TIME_LIMIT, |d| d + FINISH_MARGIN)
}

/// `d` as an XML Schema `xs:duration`: `PT2H30M`, `PT45S`, `PT0S`.
fn xs_duration(d: Duration) -> String {
    format!("PT{}", format_duration(d).to_uppercase())
}

/// `s` as an element's XML text: `&`, `<` and `>` as entities (quotes stay
/// as they are, as in the definitions Windows exports; no value goes into an
/// attribute).
fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            c => o.push(c),
        }
    }
    o
}

/// `text` as the inside of an XML comment, which may hold neither `--` nor
/// end with `-`: a space goes between two hyphens, and after a last one.
/// (The exact values are in the elements; the comment is for the eye.)
fn xml_comment_body(text: &str) -> String {
    let mut o = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '-' && o.ends_with('-') {
            o.push(' ');
        }
        o.push(c);
    }
    if o.ends_with('-') {
        o.push(' ');
    }
    o
}

fn schtasks_xml(s: &Spec) -> String {
    let password_note = s.password_env.as_deref().map_or_else(String::new, |var| {
        section(
            SCHTASKS_XML,
            "password_note",
            &Vars::default().with("var", var),
        )
    });
    let command = windows_program(&s.exe);
    let arguments: Vec<String> = s.run_args().iter().map(|a| windows_arg(a)).collect();
    let arguments = arguments.join(" ");
    let percent_note = if command.contains('%') || arguments.contains('%') {
        section(SCHTASKS_XML, "percent_note", &Vars::default())
    } else {
        String::new()
    };
    let limit = task_time_limit(s.max_duration);
    let limit_vars = Vars::default().with("limit", format_duration(limit));
    let limit_note = match s.max_duration {
        Some(d) => section(
            SCHTASKS_XML,
            "limit_max_duration",
            &limit_vars.with("max_duration", format_duration(d)),
        ),
        None => section(SCHTASKS_XML, "limit_default", &limit_vars),
    };
    let comment_vars = s
        .vars()
        .with("task_name", windows_arg(TASK_NAME))
        .with("ru", windows_arg(&s.account))
        .with("limit_note", limit_note)
        .with("password_note", password_note)
        .with("percent_note", percent_note);
    let comment = xml_comment_body(&section(SCHTASKS_XML, "comment", &comment_vars));
    let description = section(SCHTASKS_XML, "description", &s.vars());
    let task_vars = Vars::default()
        .with("description", xml_escape(description.trim_end()))
        .with("start", format!("{TRIGGER_START_DAY}T{}:00", s.time()))
        .with("account", xml_escape(&s.account))
        .with("time_limit", xs_duration(limit))
        .with("command", xml_escape(&command))
        .with("arguments", xml_escape(&arguments));
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<!--\n{comment}-->\n{}",
        section(SCHTASKS_XML, "task", &task_vars)
    )
}

#[cfg(test)]
mod tests {
    use super::argv::windows_split;
    use super::*;

    fn spec() -> Spec {
        Spec {
            exe: "/usr/local/bin/svgauto".into(),
            base: "/srv/cabinet".into(),
            user: "COMPT".into(),
            at: (21, 0),
            account: "svgauto".into(),
            max_duration: None,
            config: None,
            log_dir: "/srv/cabinet/sauve/log/".into(),
            password_env: None,
        }
    }

    #[test]
    fn run_arguments() {
        let mut s = spec();
        assert_eq!(
            s.run_args(),
            [
                "run",
                "--base",
                "/srv/cabinet",
                "--user",
                "COMPT",
                "--no-progress"
            ]
        );
        s.max_duration = Some(Duration::from_secs(9000));
        s.config = Some("/etc/svgauto/poste.toml".into());
        assert_eq!(
            s.run_args()[6..],
            [
                "--max-duration",
                "2h30m",
                "--config",
                "/etc/svgauto/poste.toml"
            ]
        );
    }

    #[test]
    fn cron_entry() {
        let mut s = spec();
        s.at = (7, 5);
        s.base = "/srv/cabinet d'Aix 100%".into();
        let out = render(Scheduler::Cron, &s);
        assert!(out.contains("crontab -u svgauto -e\n"), "{out}");
        let last = out.lines().last().unwrap();
        assert_eq!(
            last,
            r"5 7 * * * /usr/local/bin/svgauto run --base '/srv/cabinet d'\''Aix 100'\% --user COMPT --no-progress"
        );
        for l in out.lines().filter(|l| *l != last) {
            assert!(l.starts_with('#'), "not a comment: {l:?}");
        }
    }

    #[test]
    fn systemd_units() {
        let mut s = spec();
        s.base = "/srv/cabinet 100% $X".into();
        s.max_duration = Some(Duration::from_secs(90 * 60));
        let out = render(Scheduler::Systemd, &s);
        let exec: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("ExecStart="))
            .collect();
        assert_eq!(
            exec,
            [
                r#"ExecStart=/usr/local/bin/svgauto run --base "/srv/cabinet 100%% $$X" --user COMPT --no-progress --max-duration 1h30m"#
            ]
        );
        for want in [
            "Type=oneshot\n",
            "User=svgauto\n",
            "KillSignal=SIGINT\n",
            "OnCalendar=*-*-* 21:00:00\n",
            "Persistent=true\n",
            "WantedBy=timers.target\n",
            "#     systemctl enable --now svgauto.timer\n",
        ] {
            assert!(out.contains(want), "{want:?} missing:\n{out}");
        }
        let service = out.find(&format!("# {SERVICE_PATH}\n")).unwrap();
        let timer = out.find(&format!("# {TIMER_PATH}\n")).unwrap();
        assert!(service == 0 && service < timer);
        assert!(!out.contains("EnvironmentFile"));
        s.password_env = Some("SVGAUTO_SMTP_PASSWORD".into());
        let out = render(Scheduler::Systemd, &s);
        assert!(
            out.contains(&format!("\nEnvironmentFile={ENV_FILE}\n")),
            "{out}"
        );
        assert!(out.contains("SVGAUTO_SMTP_PASSWORD=…"), "{out}");
    }

    #[test]
    fn schtasks_command() {
        let mut s = spec();
        s.exe = r"C:\Program Files\svgauto\svgauto.exe".into();
        s.base = r"D:\Cabinet & Associés".into();
        s.log_dir = r"D:\Cabinet & Associés\sauve\log\".into();
        s.at = (6, 30);
        let out = render(Scheduler::Schtasks, &s);
        let last = out.lines().last().unwrap();
        assert_eq!(
            last,
            r#"schtasks /Create /TN "svgauto\Sauvegarde des dossiers modifiés" /TR "\"C:\Program Files\svgauto\svgauto.exe\" run --base \"D:\Cabinet ^& Associés\" --user COMPT --no-progress" /SC DAILY /ST 06:30 /RU svgauto /RP * /RL HIGHEST /F"#
        );
        assert!(out.starts_with("@chcp 65001 >NUL\n"));
        for l in out.lines().skip(1).filter(|l| *l != last) {
            assert!(l == "REM" || l.starts_with("REM "), "not a comment: {l:?}");
        }
        assert!(!out.contains("Attention"), "{out}");
        s.base = format!(r"D:\{}%TEMP%", "x".repeat(300));
        let out = render(Scheduler::Schtasks, &s);
        assert!(out.contains("dépasse 261 caractères"), "{out}");
        assert!(out.contains("« % » dans un chemin"), "{out}");
    }

    /// The XML as the Task Scheduler reads it back: a document in its
    /// namespace.
    fn task_xml(s: &Spec) -> String {
        let text = render(Scheduler::SchtasksXml, s);
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        text
    }

    /// The text of the element at `path` (names from the root `Task`).
    fn field(doc: &roxmltree::Document, path: &[&str]) -> String {
        let mut node = doc.root_element();
        assert_eq!(node.tag_name().name(), "Task");
        for name in path {
            node = node
                .children()
                .find(|c| c.tag_name().name() == *name)
                .unwrap_or_else(|| panic!("no {name} in {path:?}"));
        }
        node.text().unwrap_or("").to_owned()
    }

    #[test]
    fn schtasks_xml_runs_the_batch_as_the_dedicated_account() {
        let mut s = spec();
        s.exe = r"C:\Program Files\svgauto\svgauto.exe".into();
        s.base = r#"D:\Cabinet & <Associés> "Aix" l'été\"#.into();
        s.log_dir = r#"D:\Cabinet & <Associés> "Aix" l'été\sauve\log\"#.into();
        s.user = "C&<ompt>".into();
        s.account = r"CABINET\svgauto".into();
        s.at = (6, 5);
        let text = task_xml(&s);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let task = doc.root_element();
        assert_eq!(
            task.tag_name().namespace(),
            Some("http://schemas.microsoft.com/windows/2004/02/mit/task")
        );
        assert_eq!(task.attribute("version"), Some("1.2"));
        assert_eq!(
            field(&doc, &["Triggers", "CalendarTrigger", "StartBoundary"]),
            "2026-01-01T06:05:00"
        );
        assert_eq!(
            field(
                &doc,
                &[
                    "Triggers",
                    "CalendarTrigger",
                    "ScheduleByDay",
                    "DaysInterval"
                ]
            ),
            "1"
        );
        for (path, want) in [
            (
                &["Principals", "Principal", "UserId"][..],
                r"CABINET\svgauto",
            ),
            (&["Principals", "Principal", "LogonType"], "Password"),
            (&["Principals", "Principal", "RunLevel"], "HighestAvailable"),
            (&["Settings", "MultipleInstancesPolicy"], "IgnoreNew"),
            (&["Settings", "DisallowStartIfOnBatteries"], "false"),
            (&["Settings", "StopIfGoingOnBatteries"], "false"),
            (&["Settings", "ExecutionTimeLimit"], "PT23H"),
            (&["Settings", "Enabled"], "true"),
            (
                &["Actions", "Exec", "Command"],
                r#""C:\Program Files\svgauto\svgauto.exe""#,
            ),
        ] {
            assert_eq!(field(&doc, path), want, "{path:?}");
        }
        // The action runs as the principal.
        let principal = task
            .descendants()
            .find(|n| n.has_tag_name("Principal"))
            .unwrap();
        let actions = task.children().find(|n| n.has_tag_name("Actions")).unwrap();
        assert_eq!(actions.attribute("Context"), principal.attribute("id"));
        // The arguments, split as the C runtime splits them, are run's.
        let args = field(&doc, &["Actions", "Exec", "Arguments"]);
        assert_eq!(windows_split(&args), s.run_args());
        let description = field(&doc, &["RegistrationInfo", "Description"]);
        assert!(description.contains(&s.base), "{description}");
        assert!(
            description.contains("collaborateur C&<ompt>"),
            "{description}"
        );
        assert!(!text.contains("Attention"), "{text}");
    }

    #[test]
    fn schtasks_xml_time_limit_follows_max_duration() {
        assert_eq!(xs_duration(task_time_limit(None)), "PT23H");
        let limit = |secs| xs_duration(task_time_limit(Some(Duration::from_secs(secs))));
        assert_eq!(limit(9000), "PT3H30M");
        assert_eq!(limit(45), "PT1H45S");
        assert_eq!(xs_duration(Duration::ZERO), "PT0S");
        let mut s = spec();
        s.max_duration = Some(Duration::from_secs(9000));
        let text = task_xml(&s);
        assert!(text.contains("<ExecutionTimeLimit>PT3H30M</ExecutionTimeLimit>"));
        assert!(
            text.contains("Arrêt au bout de 3h30m : la durée maximale du traitement (2h30m)"),
            "{text}"
        );
        assert!(text.contains("--max-duration 2h30m</Arguments>"), "{text}");
    }

    /// A `--` or a final `-` in a value would end the comment early or make
    /// the document malformed: the comment breaks them up, the elements
    /// keep them.
    #[test]
    fn schtasks_xml_comment_survives_hyphens() {
        assert_eq!(xml_comment_body("a--b---c-"), "a- -b- - -c- ");
        let mut s = spec();
        s.base = r"D:\a--b-".into();
        s.log_dir = r"D:\a--b-\sauve\log\".into();
        s.password_env = Some("MOT--DE-PASSE-".into());
        s.exe = r"C:\outils\100%\svgauto.exe".into();
        let text = task_xml(&s);
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(
            windows_split(&field(&doc, &["Actions", "Exec", "Arguments"]))[2],
            r"D:\a--b-"
        );
        assert!(
            text.contains("MOT- -DE-PASSE- (smtp.password_env)"),
            "{text}"
        );
        assert!(text.contains("« % » dans un chemin"), "{text}");
    }

    #[test]
    fn schtasks_xml_is_utf16le_with_bom_and_crlf() {
        let bytes = utf16le_crlf("é\n<a/>\n");
        assert_eq!(
            bytes,
            [
                0xFF, 0xFE, 0xE9, 0, b'\r', 0, b'\n', 0, b'<', 0, b'a', 0, b'/', 0, b'>', 0, b'\r',
                0, b'\n', 0
            ]
        );
        let entry = Entry::new(
            Scheduler::SchtasksXml,
            &render(Scheduler::SchtasksXml, &spec()),
        );
        assert!(entry.utf16);
        assert!(entry.bytes.starts_with(&[0xFF, 0xFE, b'<', 0, b'?', 0]));
        let cron = Entry::new(Scheduler::Cron, "a\n");
        assert_eq!((cron.bytes.as_slice(), cron.utf16), (&b"a\n"[..], false));
    }

    #[test]
    fn schtasks_xml_refuses_what_the_task_scheduler_cannot_hold() {
        let mut s = spec();
        s.exe = r"C:\Program Files\svgauto\svgauto.exe".into();
        assert!(task_scheduler_can_hold(&s).is_ok());
        let message = |s: &Spec| {
            let e = task_scheduler_can_hold(s).unwrap_err();
            format!("{:#}", anyhow::Error::from(e))
        };
        s.exe = format!(r"C:\{}\svgauto.exe", "x".repeat(245));
        assert_eq!(windows_program(&s.exe).chars().count(), 260);
        assert!(task_scheduler_can_hold(&s).is_ok());
        s.exe = format!(r"C:\{} \svgauto.exe", "x".repeat(245));
        assert!(message(&s).contains("trop long"), "{}", message(&s));
        s.exe = r#"/opt/"x"/svgauto"#.into();
        assert!(message(&s).contains("guillemet"));
        let mut s = spec();
        s.user = "A\u{FFFF}".into();
        assert!(message(&s).contains("U+FFFF"));
    }

    #[test]
    fn programs_named_for_the_other_system_stay_as_given() {
        for p in [
            r"C:\Program Files\svgauto\svgauto.exe",
            "c:/svgauto/svgauto.exe",
            r"\\serveur\outils\svgauto.exe",
            "/usr/local/bin/svgauto",
        ] {
            assert!(looks_absolute(p), "{p}");
            assert_eq!(task_program(Path::new(p)).unwrap(), p);
        }
        assert_eq!(task_program(Path::new("svgauto")).unwrap(), "svgauto");
        assert!(!looks_absolute("bin/svgauto"));
    }

    #[test]
    fn paths_a_scheduler_cannot_hold_are_refused() {
        let e = text(Path::new("/srv/a\nb")).unwrap_err();
        let chain = format!("{:#}", anyhow::Error::from(e));
        assert!(chain.contains("caractère de contrôle"), "{chain}");
        assert!(plain("compte", "a\rb").is_err());
    }

    /// Every section of every template is printed, and no `{name}` is left
    /// unfilled, whatever the options.
    #[test]
    fn templates_are_filled_completely() {
        let mut s = spec();
        s.password_env = Some("SVGAUTO_SMTP_PASSWORD".into());
        s.max_duration = Some(Duration::from_secs(60));
        s.base = format!("/srv/{{base}}/{}%", "x".repeat(300));
        for scheduler in [
            Scheduler::Cron,
            Scheduler::Systemd,
            Scheduler::Schtasks,
            Scheduler::SchtasksXml,
        ] {
            let out = render(scheduler, &s);
            let unfilled = out
                .match_indices('{')
                .map(|(i, _)| &out[i..])
                .filter(|rest| !rest.starts_with("{base}"))
                .find(|rest| {
                    rest[1..].split_once('}').is_some_and(|(name, _)| {
                        name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
                });
            assert_eq!(unfilled, None, "{scheduler:?}:\n{out}");
            assert!(
                out.contains("la variable SVGAUTO_SMTP_PASSWORD (smtp.password_env)"),
                "{scheduler:?}:\n{out}"
            );
            assert!(!out.contains("\n\n\n"), "{scheduler:?}:\n{out}");
        }
        assert!(render(Scheduler::Schtasks, &s).contains("dépasse 261 caractères"));
    }
}
