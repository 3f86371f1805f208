//! The commands the Windows documents tell an administrator to type —
//! `LISEZMOI.txt` (in the Windows package), the README's "Windows" section,
//! `docs/windows-checklist.md` — name subcommands and options svgauto has:
//! a renamed option must not leave a step that fails on the server.

use std::fs;
use std::path::Path;

use crate::harness::*;

/// The documents, relative to the repository.
const DOCS: &[&str] = &[
    "docs/LISEZMOI.txt",
    "docs/windows-checklist.md",
    "README.md",
];

/// Each svgauto command line of `text` (after `svgauto.exe` or `$exe`,
/// PowerShell's name for it in the checklist), as its words: the
/// subcommand, then the rest. Lines of the README outside its Windows
/// section are left out (the Linux examples are tested elsewhere).
fn command_lines(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        for marker in ["svgauto.exe\" ", "svgauto.exe ", "& $exe "] {
            if let Some(at) = line.find(marker) {
                // One space, then a word: a command, not a file listing.
                let rest = &line[at + marker.len()..];
                let rest = rest.split(';').next().unwrap_or("");
                let words: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
                let is_subcommand = |w: &String| {
                    w.starts_with(|c: char| c.is_ascii_lowercase())
                        && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                };
                if !rest.starts_with(' ') && words.first().is_some_and(is_subcommand) {
                    out.push(words);
                }
                break;
            }
        }
    }
    out
}

/// The README's "Windows" section.
fn windows_section(readme: &str) -> &str {
    let start = readme
        .find("\n## Windows\n")
        .expect("README has a Windows section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

#[test]
fn windows_documents_name_commands_svgauto_has() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = Base::new();
    let mut checked = 0;
    for doc in DOCS {
        let text = fs::read_to_string(root.join(doc)).unwrap();
        let text = if *doc == "README.md" {
            windows_section(&text).to_owned()
        } else {
            text
        };
        let lines = command_lines(&text);
        assert!(!lines.is_empty(), "{doc}: no svgauto command found");
        for words in lines {
            // `offsite push …`: a subcommand of a subcommand, when the
            // second word is one too.
            let nested = words.len() > 1
                && words[0] == "offsite"
                && words[1].chars().all(|c| c.is_ascii_lowercase());
            let sub = if nested {
                format!("{} {}", words[0], words[1])
            } else {
                words[0].clone()
            };
            let mut args: Vec<&str> = sub.split(' ').collect();
            args.push("--help");
            let help = base.svgauto(&args);
            assert_eq!(
                help.code,
                Some(0),
                "{doc}: `{}`: no such subcommand\n{help}",
                words.join(" ")
            );
            for option in words.iter().filter(|w| w.starts_with("--")) {
                assert!(
                    help.stdout.contains(&format!("{option} "))
                        || help.stdout.contains(&format!("{option}\n")),
                    "{doc}: `{}`: svgauto {sub} has no option {option}\n{help}",
                    words.join(" ")
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} command lines found");
}
