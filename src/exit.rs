//! Exit codes (DESIGN.md §3), one meaning each.

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

/// What a command has to say: lines for stdout (`Ok`) or stderr (`Err`), in
/// order, and how it ends.
#[derive(Debug)]
pub struct Said {
    /// In order; `Err` lines go to stderr, after `svgauto : `.
    pub lines: Vec<Result<String, String>>,
    /// How the command ends.
    pub exit: Exit,
}

impl Said {
    /// `Exit::Ok` if no line is an error, else `Exit::DossierErrors`.
    pub fn from_lines(lines: Vec<Result<String, String>>) -> Said {
        let exit = if lines.iter().any(Result::is_err) {
            Exit::DossierErrors
        } else {
            Exit::Ok
        };
        Said { lines, exit }
    }
}
