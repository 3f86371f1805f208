//! `svgauto schedule`: the scheduled task running the batch every day, ready
//! to paste — a crontab line, a systemd service + timer, or `schtasks`.
//!
//! Everything is checked before anything is printed — the base opens with
//! its settings, the collaborator exists — so that a typo shows now, not at
//! 21:00 in a log nobody reads. The text itself is a pure function of a
//! [`Spec`] ([`render`]). Each scheduler gets its own quoting, because each
//! has its own parser between the text and svgauto's arguments: /bin/sh
//! after cron's `%` handling, systemd's `ExecStart=` rules (`%` specifiers,
//! `$` variables, C escapes), or the Windows command-line rules twice (the
//! task's command line inside `schtasks /TR "…"`) under cmd.exe's.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::base::Base;
use crate::cli::{ScheduleArgs, ScheduleFormat, format_duration};
use crate::error::CommandError;

/// The task's name in the Windows Task Scheduler ("Planificateur de
/// tâches"), in a folder `svgauto` of its library.
pub const TASK_NAME: &str = r"svgauto\Sauvegarde des dossiers modifiés";
/// Where the systemd units go; each is announced by a comment line naming
/// its path, which is how `render` separates them.
pub const SERVICE_PATH: &str = "/etc/systemd/system/svgauto.service";
pub const TIMER_PATH: &str = "/etc/systemd/system/svgauto.timer";
/// The file the systemd service reads the SMTP password's variable from.
pub const ENV_FILE: &str = "/etc/svgauto/svgauto.env";
/// `schtasks /TR` refuses longer commands.
const SCHTASKS_TR_MAX: usize = 261;

/// What a scheduled entry says, as the strings it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The svgauto program the task runs.
    pub exe: String,
    /// The base, absolute.
    pub base: String,
    pub user: String,
    /// Time of day (hour, minute).
    pub at: (u8, u8),
    /// The system account the task runs as.
    pub account: String,
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
}

/// `svgauto schedule …`: the text to print.
pub fn schedule_command(args: &ScheduleArgs) -> Result<String, CommandError> {
    let base = Base::open(&args.base, args.settings.file.as_deref())?;
    base.rights(&args.user)?;
    // Neither cron, systemd nor the Task Scheduler starts in the folder the
    // admin is in: every local path is made absolute. `absolute` rather
    // than `canonicalize`: it keeps the path the admin chose (a symbolic
    // link, a mapped drive) and adds no `\\?\` prefix on Windows.
    let root = absolute(&args.base)?;
    let settings = &base.effective.settings;
    let log_dir =
        text(&root.join(&settings.backup.dir).join("log"))? + std::path::MAIN_SEPARATOR_STR;
    let exe = match &args.exe {
        Some(p) => task_program(p)?,
        None => {
            let p = std::env::current_exe().map_err(|source| CommandError::Io {
                path: PathBuf::from("svgauto"),
                source: io::Error::new(
                    source.kind(),
                    format!("chemin de ce programme introuvable ({source}) ; le donner avec --exe"),
                ),
            })?;
            text(&p)?
        }
    };
    let config = match args.settings.file.as_deref() {
        Some(f) => Some(text(&absolute(f)?)?),
        None => None,
    };
    let spec = Spec {
        exe,
        base: text(&root)?,
        user: plain("collaborateur", &args.user)?,
        at: args.at,
        account: plain("compte", &args.account)?,
        max_duration: args.max_duration,
        config,
        log_dir,
        password_env: Some(settings.smtp.password_env.clone()).filter(|v| !v.is_empty()),
    };
    let format = args.format.unwrap_or(if cfg!(windows) {
        ScheduleFormat::Schtasks
    } else {
        ScheduleFormat::Cron
    });
    if format == ScheduleFormat::Systemd && !systemd_can_start(&spec.exe) {
        return Err(CommandError::Io {
            path: PathBuf::from(&spec.exe),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "systemd refuse de lancer un programme dont le chemin contient une apostrophe, \
                 un guillemet ou une barre oblique inverse : installer svgauto ailleurs \
                 (par exemple /usr/local/bin/svgauto) et le désigner avec --exe",
            ),
        });
    }
    Ok(render(format, &spec))
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
    let bad = |why: &str| CommandError::Io {
        path: p.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, why.to_owned()),
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
        return Err(CommandError::Io {
            path: PathBuf::from(s),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{what} contenant un caractère de contrôle"),
            ),
        });
    }
    Ok(s.to_owned())
}

/// The entry for `format`, ready to paste.
pub fn render(format: ScheduleFormat, spec: &Spec) -> String {
    match format {
        ScheduleFormat::Cron => cron(spec),
        ScheduleFormat::Systemd => systemd(spec),
        ScheduleFormat::Schtasks => schtasks(spec),
    }
}

/// Appends `text`'s lines to `out`, each prefixed with `prefix` (`# `, `REM `;
/// an empty line gets the bare marker).
fn comment(out: &mut String, prefix: &str, text: &str) {
    for l in text.lines() {
        if l.is_empty() {
            out.push_str(prefix.trim_end());
        } else {
            out.push_str(prefix);
            out.push_str(l);
        }
        out.push('\n');
    }
}

fn cron(s: &Spec) -> String {
    let mut o = String::new();
    comment(
        &mut o,
        "# ",
        &format!(
            "\
svgauto : sauvegarde des dossiers modifiés de la base {base},
chaque jour à {time}, par le collaborateur {user}.

Ligne de crontab pour {account}, le compte dédié qui a les droits sur les
dossiers de la base et sur le répertoire de sauvegarde. En root :
    crontab -u {account} -e
puis ajouter la dernière ligne ci-dessous.

Rapports de traitement : {log}
Code de sortie : 0 tout est sauvegardé ; 1 au moins un dossier en erreur (voir
le rapport) ; 2 le traitement n'a pas pu avoir lieu (base inaccessible…) : pas
de rapport, seule la sortie du traitement le dit, et cron l'envoie par mail au
compte (variable MAILTO de la crontab).",
            base = s.base,
            time = s.time(),
            user = s.user,
            account = s.account,
            log = s.log_dir,
        ),
    );
    if let Some(var) = &s.password_env {
        comment(
            &mut o,
            "# ",
            &format!(
                "\
Mot de passe SMTP : svgauto le lit dans la variable {var} (smtp.password_env).
La définir au début de cette crontab, que seuls le compte et root peuvent lire,
par une ligne {var}=…"
            ),
        );
    }
    let words: Vec<String> = std::iter::once(s.exe.clone())
        .chain(s.run_args())
        .map(|w| cron_word(&w))
        .collect();
    let _ = writeln!(o, "{} {} * * * {}", s.at.1, s.at.0, words.join(" "));
    o
}

fn systemd(s: &Spec) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {SERVICE_PATH}");
    comment(
        &mut o,
        "# ",
        &format!(
            "\
svgauto : sauvegarde des dossiers modifiés de la base {base},
par le collaborateur {user}, lancée chaque jour à {time} par svgauto.timer.
Rapports de traitement : {log}
Code de sortie 1 (au moins un dossier en erreur, voir le rapport) ou 2 (le
traitement n'a pas pu avoir lieu) : le service apparaît en échec
(systemctl --failed) ; journalctl -u svgauto.service dit pourquoi.",
            base = s.base,
            user = s.user,
            time = s.time(),
            log = s.log_dir,
        ),
    );
    o.push_str(
        "\
[Unit]
Description=Sauvegarde des dossiers modifiés (svgauto)
# La base peut être sur un partage réseau : attendre le réseau et les montages.
Wants=network-online.target
After=network-online.target remote-fs.target

[Service]
Type=oneshot
",
    );
    let _ = writeln!(
        o,
        "# {}, compte dédié qui a les droits sur les dossiers de la base\n\
         # et sur le répertoire de sauvegarde.\nUser={}",
        s.account, s.account
    );
    if let Some(var) = &s.password_env {
        comment(
            &mut o,
            "# ",
            &format!(
                "\
Mot de passe SMTP : svgauto le lit dans la variable {var} (smtp.password_env),
définie dans ce fichier par une ligne {var}=… (propriétaire root, chmod 600)."
            ),
        );
        let _ = writeln!(o, "EnvironmentFile={ENV_FILE}");
    }
    let words: Vec<String> = std::iter::once(systemd_program(&s.exe))
        .chain(s.run_args().iter().map(|w| systemd_word(w)))
        .collect();
    let _ = writeln!(o, "ExecStart={}", words.join(" "));
    o.push_str(
        "\
# Arrêt (systemctl stop, extinction du serveur) : SIGINT, comme un Ctrl-C.
# svgauto termine les dossiers en cours, écrit le rapport et sort avec le code
# 130 ; les dossiers non commencés passent en tête au traitement suivant.
# Passé TimeoutStopSec, SIGKILL : aucune archive n'est abîmée pour autant, le
# traitement suivant refait d'abord les dossiers interrompus.
KillSignal=SIGINT
TimeoutStopSec=10min
# Priorité aux utilisateurs qui travaillent tard, pour le processeur et le
# disque. Classe d'E/S best-effort au plus bas plutôt que idle : avec idle, une
# activité disque continue (antivirus, autre sauvegarde) peut bloquer la
# sauvegarde sans fin.
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7

",
    );
    let _ = writeln!(o, "# {TIMER_PATH}");
    let _ = write!(
        o,
        "\
[Unit]
Description=Sauvegarde des dossiers modifiés chaque jour à {time} (svgauto)

[Timer]
OnCalendar=*-*-* {time}:00
# Un traitement manqué (serveur éteint à {time}) a lieu au démarrage suivant.
Persistent=true

[Install]
WantedBy=timers.target

# Installation, en root : enregistrer les deux fichiers ci-dessus, puis
#     systemctl daemon-reload
#     systemctl enable --now svgauto.timer
# Prochain déclenchement : systemctl list-timers svgauto.timer
# Traitement immédiat : systemctl start svgauto.service
",
        time = s.time(),
    );
    o
}

fn schtasks(s: &Spec) -> String {
    let mut o = String::from("@chcp 65001 >NUL\n");
    comment(
        &mut o,
        "REM ",
        &format!(
            "\
svgauto : sauvegarde des dossiers modifiés de la base {base},
chaque jour à {time}, par le collaborateur {user}.

À exécuter dans une invite de commandes (cmd.exe, pas PowerShell) ouverte en
tant qu'administrateur ; la première ligne fait lire ces lignes en UTF-8.
La tâche s'exécute sous {account}, compte dédié qui a les droits sur les dossiers
de la base et sur le répertoire de sauvegarde, comme le recommande la
documentation du produit d'origine. /RP * demande son mot de passe : la tâche
s'exécute alors « que l'utilisateur soit connecté ou non ». /RL HIGHEST :
« exécuter avec les autorisations maximales ».

Rapports de traitement : {log}
Dernier résultat de la tâche : 0 tout est sauvegardé ; 1 (0x1) au moins un
dossier en erreur (voir le rapport) ; 2 (0x2) le traitement n'a pas pu avoir lieu.
Pour rattraper un traitement manqué (serveur éteint à {time}) : Planificateur de
tâches, propriétés de la tâche, onglet Paramètres, « Exécuter la tâche dès que
possible si un démarrage planifié est manqué ».",
            base = s.base,
            time = s.time(),
            user = s.user,
            account = s.account,
            log = s.log_dir,
        ),
    );
    if let Some(var) = &s.password_env {
        comment(
            &mut o,
            "REM ",
            &format!(
                "\
Mot de passe SMTP : svgauto le lit dans la variable {var} (smtp.password_env),
à définir dans les variables d'environnement du compte {account} (ou du système)
avant le premier traitement.",
                account = s.account,
            ),
        );
    }
    let args: Vec<String> = s.run_args().iter().map(|a| windows_arg(a)).collect();
    let task = format!("{} {}", windows_program(&s.exe), args.join(" "));
    if task.chars().count() > SCHTASKS_TR_MAX {
        comment(
            &mut o,
            "REM ",
            &format!(
                "\
Attention : la commande de la tâche dépasse {SCHTASKS_TR_MAX} caractères, la limite de
schtasks /TR : raccourcir les chemins, ou créer la tâche dans le Planificateur."
            ),
        );
    }
    if task.contains('%') {
        comment(
            &mut o,
            "REM ",
            "\
Attention : « % » dans un chemin peut être pris pour une variable d'environnement
par cmd.exe et par le Planificateur : vérifier l'action de la tâche créée.",
        );
    }
    let line = format!(
        "schtasks /Create /TN {} /TR {} /SC DAILY /ST {} /RU {} /RP * /RL HIGHEST /F",
        windows_arg(TASK_NAME),
        windows_arg_quoted(&task),
        s.time(),
        windows_arg(&s.account),
    );
    o.push_str(&cmd_escape(&line));
    o.push('\n');
    o
}

// ---------------------------------------------------------------------------
// Quoting, one function per parser
// ---------------------------------------------------------------------------

/// Characters no parser here treats specially.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-./:,+@".contains(c)
}

/// One word for /bin/sh: as is when plain, else in single quotes (`'`
/// written `'\''`).
pub fn sh_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(is_plain) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One word of a crontab command: /bin/sh's, where every `%` is written
/// `\%` — cron turns an unescaped `%` into a line break and the rest of the
/// line into the command's input. The `\%` always stands outside the
/// shell's quotes, never after a backslash of the path: cron would take
/// `\\%` for a backslash then a bare `%`.
pub fn cron_word(s: &str) -> String {
    if !s.contains('%') {
        return sh_word(s);
    }
    s.split('%')
        .map(|part| {
            if part.is_empty() {
                String::new()
            } else {
                sh_word(part)
            }
        })
        .collect::<Vec<_>>()
        .join(r"\%")
}

/// One word of a systemd `ExecStart=`: plain, or in double quotes with `\`
/// and `"` escaped; everywhere `%` (a specifier) is written `%%` and `$` (a
/// variable) `$$`.
pub fn systemd_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(is_plain) {
        return s.to_owned();
    }
    let mut o = String::from('"');
    for c in s.chars() {
        match c {
            '\\' => o.push_str(r"\\"),
            '"' => o.push_str("\\\""),
            '%' => o.push_str("%%"),
            '$' => o.push_str("$$"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Whether systemd runs a program of this path: it refuses any quote or
/// backslash in the executable's name ("Executable name contains special
/// characters"), however it is written.
pub fn systemd_can_start(exe: &str) -> bool {
    !exe.contains(['\'', '"', '\\'])
}

/// The program of a systemd `ExecStart=`: like an argument, except that `$`
/// stays as it is — systemd substitutes variables in the arguments only.
/// (A path [`systemd_can_start`] refuses is the caller's to turn away.)
pub fn systemd_program(s: &str) -> String {
    let quoted = !s.chars().all(|c| is_plain(c) || c == '$');
    let s = s.replace('%', "%%");
    if quoted { format!("\"{s}\"") } else { s }
}

/// The program of a Windows command line: in double quotes when it holds a
/// space (Windows reads the program up to the closing quote, without
/// escapes; a file name cannot hold `"`).
fn windows_program(s: &str) -> String {
    if s.is_empty() || s.contains([' ', '\t']) {
        format!("\"{s}\"")
    } else {
        s.to_owned()
    }
}

/// One argument of a Windows command line, as the C runtime (and Rust's
/// `std::env::args`) splits it back: plain when it holds no space, tab or
/// quote, else quoted.
pub fn windows_arg(s: &str) -> String {
    if !s.is_empty() && !s.contains([' ', '\t', '"']) {
        return s.to_owned();
    }
    windows_arg_quoted(s)
}

/// `s` in double quotes for the C runtime's rules: `"` becomes `\"`, and
/// backslashes are doubled where they come before a `"` (including the
/// closing one); elsewhere they stay as they are.
pub fn windows_arg_quoted(s: &str) -> String {
    let mut o = String::from('"');
    let mut backslashes = 0;
    for c in s.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                o.push_str(&"\\".repeat(2 * backslashes + 1));
                o.push('"');
                backslashes = 0;
            }
            c => {
                o.push_str(&"\\".repeat(backslashes));
                o.push(c);
                backslashes = 0;
            }
        }
    }
    o.push_str(&"\\".repeat(2 * backslashes));
    o.push('"');
    o
}

/// A line for cmd.exe: `& | < > ^` outside cmd's quotes escaped with `^`.
/// cmd knows no `\"`: every `"` opens or closes its quotes, so a quoted
/// argument holding `\"` has stretches cmd sees unquoted.
pub fn cmd_escape(line: &str) -> String {
    let mut o = String::new();
    let mut quoted = false;
    for c in line.chars() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted && "&|<>^".contains(c) {
            o.push('^');
        }
        o.push(c);
    }
    o
}

#[cfg(test)]
mod tests {
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

    /// cron's own reading of a command (cronie and Vixie cron
    /// `do_command.c`): `\%` is a `%`, a bare `%` ends the command (the rest
    /// is its input), other backslashes stay for the shell.
    fn cron_unescape(cmd: &str) -> String {
        let mut o = String::new();
        let mut escaped = false;
        for c in cmd.chars() {
            if escaped {
                if c != '%' {
                    o.push('\\');
                }
                o.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '%' {
                break;
            } else {
                o.push(c);
            }
        }
        if escaped {
            o.push('\\');
        }
        o
    }

    /// /bin/sh's reading of words made of plain characters, single-quoted
    /// stretches and backslash escapes (all `sh_word` writes).
    fn sh_split(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut w: Option<String> = None;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                ' ' => words.extend(w.take()),
                '\'' => {
                    let w = w.get_or_insert_default();
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                        w.push(c);
                    }
                }
                '\\' => w.get_or_insert_default().extend(chars.next()),
                c => w.get_or_insert_default().push(c),
            }
        }
        words.extend(w);
        words
    }

    /// The C runtime's reading of a command line's arguments (after the
    /// program), as documented for `CommandLineToArgvW` / MSVC 2008+.
    fn windows_split(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut w: Option<String> = None;
        let mut quoted = false;
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                let n = chars[i..].iter().take_while(|&&c| c == '\\').count();
                i += n;
                let w = w.get_or_insert_default();
                if chars.get(i) == Some(&'"') {
                    w.push_str(&"\\".repeat(n / 2));
                    if n % 2 == 1 {
                        w.push('"');
                        i += 1;
                    }
                } else {
                    w.push_str(&"\\".repeat(n));
                }
                continue;
            }
            match c {
                '"' if quoted && chars.get(i + 1) == Some(&'"') => {
                    w.get_or_insert_default().push('"');
                    i += 1;
                }
                '"' => {
                    quoted = !quoted;
                    w.get_or_insert_default();
                }
                ' ' | '\t' if !quoted => words.extend(w.take()),
                c => w.get_or_insert_default().push(c),
            }
            i += 1;
        }
        words.extend(w);
        words
    }

    const AWKWARD: &[&str] = &[
        "plain",
        "",
        "with space",
        "l'apostrophe",
        "100%",
        r"a\%b",
        "%%",
        "$HOME",
        "${X}",
        r#"dit "oui""#,
        r"C:\Program Files\svgauto\",
        r"\\serveur\partage\",
        r#"a\"b"#,
        "Société & Cie | <x> ^",
        "tab\there",
    ];

    #[test]
    fn sh_words_split_back_to_themselves() {
        assert_eq!(sh_word("/srv/cabinet"), "/srv/cabinet");
        assert_eq!(sh_word("/srv/mon cabinet"), "'/srv/mon cabinet'");
        assert_eq!(sh_word("d'Aix"), r"'d'\''Aix'");
        assert_eq!(sh_word(""), "''");
        assert_eq!(sh_word("$HOME"), "'$HOME'");
        for s in AWKWARD {
            assert_eq!(sh_split(&sh_word(s)), [*s], "{s:?}");
        }
    }

    #[test]
    fn cron_words_escape_percent_outside_the_quotes() {
        assert_eq!(cron_word("/srv/100%"), r"/srv/100\%");
        assert_eq!(cron_word("/srv/100% sûr"), r"/srv/100\%' sûr'");
        // A backslash before `%`: cron must not see `\\%`.
        assert_eq!(cron_word(r"a\%b"), r"'a\'\%b");
        assert_eq!(cron_word("%%"), r"\%\%");
        for s in AWKWARD {
            let w = cron_word(s);
            assert_eq!(sh_split(&cron_unescape(&w)), [*s], "{s:?} written {w}");
        }
    }

    #[test]
    fn systemd_words_escape_specifiers_variables_and_quotes() {
        assert_eq!(systemd_word("/srv/cabinet"), "/srv/cabinet");
        assert_eq!(systemd_word("/srv/mon cabinet"), r#""/srv/mon cabinet""#);
        assert_eq!(systemd_word("/srv/100%"), r#""/srv/100%%""#);
        assert_eq!(systemd_word("/srv/$HOME"), r#""/srv/$$HOME""#);
        assert_eq!(systemd_word(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(systemd_word("d'Aix"), r#""d'Aix""#);
        assert_eq!(systemd_word(""), r#""""#);
        // The program: `$` is not a variable there.
        assert_eq!(
            systemd_program("/usr/local/bin/svgauto"),
            "/usr/local/bin/svgauto"
        );
        assert_eq!(systemd_program("/opt/$X/svgauto"), "/opt/$X/svgauto");
        assert_eq!(
            systemd_program("/opt/a b 5%/svgauto"),
            r#""/opt/a b 5%%/svgauto""#
        );
        assert!(systemd_can_start("/opt/a b 5% $X/svgauto"));
        for refused in [
            "/opt/d'Aix/svgauto",
            r#"/opt/"x"/svgauto"#,
            r"/opt/a\b/svgauto",
        ] {
            assert!(!systemd_can_start(refused), "{refused}");
        }
    }

    #[test]
    fn windows_args_split_back_to_themselves() {
        assert_eq!(windows_arg(r"D:\Cabinet"), r"D:\Cabinet");
        assert_eq!(windows_arg(r"D:\Mon Cabinet"), r#""D:\Mon Cabinet""#);
        assert_eq!(windows_arg(r"D:\Mon Cabinet\"), r#""D:\Mon Cabinet\\""#);
        assert_eq!(windows_arg(r#"a"b"#), r#""a\"b""#);
        for s in AWKWARD {
            assert_eq!(windows_split(&windows_arg(s)), [*s], "{s:?}");
            assert_eq!(windows_split(&windows_arg_quoted(s)), [*s], "{s:?}");
        }
        // The task's command line inside `/TR "…"`: split twice.
        let task = format!(
            "{} {}",
            windows_program(r"C:\Program Files\svgauto\svgauto.exe"),
            AWKWARD
                .iter()
                .map(|s| windows_arg(s))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let outer = windows_split(&windows_arg_quoted(&task));
        assert_eq!(outer, std::slice::from_ref(&task));
        let inner = windows_split(task.split_once(".exe\" ").unwrap().1);
        assert_eq!(inner, AWKWARD);
    }

    #[test]
    fn cmd_sees_metacharacters_only_outside_its_quotes() {
        assert_eq!(cmd_escape("a & b"), "a ^& b");
        assert_eq!(cmd_escape(r#""a & b""#), r#""a & b""#);
        // In `"\"x & y\" z"` cmd's quotes close at `\"`.
        assert_eq!(cmd_escape(r#""\"x & y\" z""#), r#""\"x ^& y\" z""#);
        assert_eq!(cmd_escape("a|b<c>d^e"), "a^|b^<c^>d^^e");
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
        let out = render(ScheduleFormat::Cron, &s);
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
        let out = render(ScheduleFormat::Systemd, &s);
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
        let out = render(ScheduleFormat::Systemd, &s);
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
        let out = render(ScheduleFormat::Schtasks, &s);
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
        let out = render(ScheduleFormat::Schtasks, &s);
        assert!(out.contains("dépasse 261 caractères"), "{out}");
        assert!(out.contains("« % » dans un chemin"), "{out}");
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
}
