//! Test tooling shared by the unit tests of `schedule/` and the
//! integration tests (`tests/cli/schedule.rs` includes this file by path):
//! how a Windows program reads its command line back into arguments, to
//! prove the Windows formats quote each argument so that it comes back
//! whole. Not compiled into svgauto.

/// The C runtime's reading of a command line's arguments (after the
/// program), as documented for `CommandLineToArgvW` / MSVC 2008+: what the
/// tests read the Windows formats back with.
pub fn windows_split(line: &str) -> Vec<String> {
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
