//! Quoting, one function per parser between a scheduled entry's text and
//! svgauto's arguments: /bin/sh (after cron's `%` handling for a crontab
//! line), systemd's `ExecStart=` rules (`%` specifiers, `$` variables, C
//! escapes), the Windows C runtime's argument splitting (twice: the task's
//! command line inside `schtasks /TR "…"`), and cmd.exe's metacharacters.
//!
//! Hand-written on purpose: no crate handles cron's `%`, systemd's
//! specifiers and `schtasks /TR` under cmd.exe together. Only [`sh_word`]
//! could be `shlex::try_quote`; it stays here beside [`cron_word`], which
//! builds on it. Each function is proved by a test that splits its output
//! back the way its parser does.

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
pub fn windows_program(s: &str) -> String {
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
    use crate::commands::schedule::argv::windows_split;

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
}
