//! The few rules by which the texts of `templates/` are printed, so that
//! the French prose of a scheduled entry is read and edited as it is
//! printed, not inside `format!`.
//!
//! A template file is a note (ignored), then sections, each opened by a line
//! `=== name ===`. A section is its lines up to its last non-empty one (the
//! blank lines before the next marker are for the eye). In it, `{name}`
//! stands for a value, inserted as it is; a line that is only `{name}`
//! stands for a whole block (its own lines and line ends), and vanishes when
//! the block is empty. Values are never read again for placeholders, so a
//! path holding `{base}` prints as it is.

/// The values of a section's placeholders, by name.
#[derive(Debug, Default)]
pub(super) struct Vars(Vec<(&'static str, String)>);

impl Vars {
    /// These values, and `name` standing for `value`.
    pub(super) fn with(mut self, name: &'static str, value: impl Into<String>) -> Vars {
        self.0.push((name, value.into()));
        self
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Section `name` of `template`, filled with `vars`: each line ends with
/// `\n`, whatever the file's line ends.
///
/// # Panics
///
/// If `template` has no such section: the templates are part of the
/// program, and every section is printed by the unit tests.
pub(super) fn section(template: &str, name: &str, vars: &Vars) -> String {
    let marker = format!("=== {name} ===");
    let mut lines = template.lines().skip_while(|l| *l != marker);
    assert!(
        lines.next().is_some(),
        "no section `{name}` in the template"
    );
    let body: Vec<&str> = lines.take_while(|l| !l.starts_with("=== ")).collect();
    let end = body
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    let mut out = String::new();
    for line in &body[..end] {
        match whole_line_block(line, vars) {
            Some(block) => out.push_str(block),
            None => {
                fill_line(&mut out, line, vars);
                out.push('\n');
            }
        }
    }
    out
}

/// The block a line stands for, when it is only a known `{name}`.
fn whole_line_block<'v>(line: &str, vars: &'v Vars) -> Option<&'v str> {
    let name = line.strip_prefix('{')?.strip_suffix('}')?;
    vars.get(name)
}

/// Appends `line` to `out`, each known `{name}` replaced by its value; an
/// unknown one stays as written (the unit tests look for any left).
fn fill_line(out: &mut String, line: &str, vars: &Vars) {
    let mut rest = line;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after
            .find('}')
            .and_then(|close| Some((vars.get(&after[..close])?, close)));
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// `text`'s lines, each after `prefix` (`# `, `REM `); an empty line gets
/// the bare marker (`#`, `REM`).
pub(super) fn comment(prefix: &str, text: &str) -> String {
    let mut out = String::new();
    for l in text.lines() {
        if l.is_empty() {
            out.push_str(prefix.trim_end());
        } else {
            out.push_str(prefix);
            out.push_str(l);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "A note.\r\n=== one ===\r\nHello {who}, {who}!\r\n{block}\r\n{unknown} {\r\nend\r\n\r\n\r\n=== two ===\r\n\r\n  {who}\r\n";

    #[test]
    fn sections_are_filled_in_one_pass() {
        let vars = Vars::default()
            .with("who", "{block}")
            .with("block", "b1\nb2\n");
        assert_eq!(
            section(T, "one", &vars),
            "Hello {block}, {block}!\nb1\nb2\n{unknown} {\nend\n"
        );
        assert_eq!(section(T, "two", &vars), "\n  {block}\n");
        let empty = Vars::default().with("who", "x").with("block", "");
        assert_eq!(
            section(T, "one", &empty),
            "Hello x, x!\n{unknown} {\nend\n",
            "an empty block removes its line"
        );
    }

    #[test]
    #[should_panic(expected = "no section `three`")]
    fn a_missing_section_is_a_bug() {
        section(T, "three", &Vars::default());
    }

    #[test]
    fn comments_mark_every_line() {
        assert_eq!(comment("# ", "a\n\nb"), "# a\n#\n# b\n");
        assert_eq!(comment("REM ", "a\n"), "REM a\n");
    }
}
