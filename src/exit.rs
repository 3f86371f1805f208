//! Exit codes (DESIGN.md §3), one meaning each, and what a command says
//! ([`Output`]: its [`Line`]s for stdout or stderr, in order, and its exit).

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every selected dossier saved, or nothing to do.
    Ok,
    /// At least one dossier in error; the report says which and why.
    DossierErrors,
    /// The run could not take place: bad arguments, unreadable base or
    /// settings, report not writable, another run in progress.
    Fatal,
    /// Interrupted by Ctrl-C, after what was under way ended cleanly.
    Interrupted,
}

impl Exit {
    /// The process's exit status.
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::DossierErrors => 1,
            Exit::Fatal => 2,
            Exit::Interrupted => 130,
        }
    }
}

/// One line a command says, for stdout or stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Printed on stdout as is: what was done.
    Stdout(String),
    /// Printed on stderr after `svgauto : `: what went wrong (exit 1 in
    /// [`Output::from_lines`]).
    Stderr(String),
}

impl Line {
    /// Whether the line goes to stderr (an error).
    pub fn is_stderr(&self) -> bool {
        matches!(self, Line::Stderr(_))
    }

    /// The line's text, whichever stream it goes to.
    pub fn into_text(self) -> String {
        match self {
            Line::Stdout(l) | Line::Stderr(l) => l,
        }
    }
}

/// What a command has to say: its lines, in order, and how it ends.
#[derive(Debug)]
pub struct Output {
    /// In order, each to its stream.
    pub lines: Vec<Line>,
    /// How the command ends.
    pub exit: Exit,
}

impl Output {
    /// `Exit::Ok` if no line goes to stderr, else `Exit::DossierErrors`.
    pub fn from_lines(lines: Vec<Line>) -> Output {
        let exit = if lines.iter().any(Line::is_stderr) {
            Exit::DossierErrors
        } else {
            Exit::Ok
        };
        Output { lines, exit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_lines_ends_ok_with_stdout_lines_only() {
        let out = Output::from_lines(vec![Line::Stdout("a".into()), Line::Stdout("b".into())]);
        assert_eq!(out.exit, Exit::Ok);
        assert_eq!(
            out.lines,
            vec![Line::Stdout("a".into()), Line::Stdout("b".into())]
        );
        assert_eq!(Output::from_lines(Vec::new()).exit, Exit::Ok);
    }

    #[test]
    fn from_lines_ends_with_dossier_errors_on_any_stderr_line_and_keeps_the_order() {
        let lines = vec![
            Line::Stdout("a".into()),
            Line::Stderr("b".into()),
            Line::Stdout("c".into()),
        ];
        let out = Output::from_lines(lines.clone());
        assert_eq!(out.exit, Exit::DossierErrors);
        assert_eq!(out.exit.code(), 1);
        assert_eq!(out.lines, lines);
    }

    #[test]
    fn a_line_gives_back_its_text_whichever_stream() {
        assert_eq!(Line::Stdout("a".into()).into_text(), "a");
        assert_eq!(Line::Stderr("b".into()).into_text(), "b");
        assert!(Line::Stderr("b".into()).is_stderr());
        assert!(!Line::Stdout("a".into()).is_stderr());
    }
}
