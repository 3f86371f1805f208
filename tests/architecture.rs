//! The code map's promise, checked: no import cycle between the top-level
//! modules of `src/` (the folders and files `lib.rs` lists). It reads every
//! `crate::` path in the code of `src/` (comments and `#[cfg(test)]`
//! modules left out: a unit test may reach anywhere), builds the graph of
//! "module → module it names" and fails on any cycle, printing it.
//!
//! A separate test binary, not part of `tests/cli/`: it reads the source and
//! never runs svgauto. Written by hand because it is a few dozen lines and
//! the crates that check module graphs (cargo-modules) are command-line
//! tools, not libraries a test can call.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to: its first component
/// without `.rs` (`src/run/pool.rs` → `run`, `src/clock.rs` → `clock`).
fn module_of(src: &Path, file: &Path) -> String {
    let first = file.strip_prefix(src).unwrap().components().next().unwrap();
    let name = first.as_os_str().to_str().unwrap();
    name.strip_suffix(".rs").unwrap_or(name).to_owned()
}

/// The code of a file without comment lines and without its `#[cfg(test)]`
/// modules, as one text (a group import may span lines). A line
/// `#[cfg(test)]` followed by `mod NAME {` starts an inline test module,
/// which ends at the next line closing a brace at its indentation;
/// followed by `mod NAME;` it declares a test-only file, whose name is
/// returned (that file is left out, the lines after it are not).
fn code_text(text: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut test_files = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        let next = lines.peek().map(|n| n.trim_start()).unwrap_or("");
        if t == "#[cfg(test)]" && next.starts_with("mod ") {
            let decl = lines.next().unwrap_or_default().trim();
            if let Some(name) = decl.strip_prefix("mod ").and_then(|d| d.strip_suffix(';')) {
                test_files.push(name.trim().to_owned());
                continue;
            }
            let indent = line.len() - t.len();
            for inner in lines.by_ref() {
                if inner.len() > indent && inner[indent..].starts_with('}') {
                    break;
                }
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    (out, test_files)
}

/// The files a test-only `mod NAME;` declared in `file` stands for.
fn declared_files(file: &Path, name: &str) -> [PathBuf; 2] {
    let stem = file.file_stem().unwrap().to_str().unwrap();
    let dir = match stem {
        "mod" | "lib" | "main" => file.parent().unwrap().to_owned(),
        _ => file.with_extension(""),
    };
    [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ]
}

/// The first path segment of every `crate::` path in `text`, groups
/// included (`crate::{a, b::c}` names `a` and `b`, over several lines too).
fn named_modules(text: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 1 => {
                        out.push(ident(&group[j..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(after));
        }
        rest = after;
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

/// Module → the other top-level modules its code names.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(src, f))
        .filter(|m| m != "main" && m != "lib")
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    let mut code = BTreeMap::new();
    let mut test_only = BTreeSet::new();
    for f in &files {
        let (text, tests) = code_text(&fs::read_to_string(f).unwrap());
        test_only.extend(tests.iter().flat_map(|t| declared_files(f, t)));
        code.insert(f.clone(), text);
    }
    for (f, text) in &code {
        let from = module_of(src, f);
        if !modules.contains(&from) || test_only.contains(f) {
            continue;
        }
        for to in named_modules(text) {
            if to != from && modules.contains(&to) {
                edges.get_mut(&from).unwrap().insert(to);
            }
        }
    }
    edges
}

/// One cycle of the graph, as the modules along it, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit<'a>(
        m: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        marks.insert(m, Mark::Open);
        stack.push(m);
        for to in &edges[m] {
            match marks[to.as_str()] {
                Mark::Open => {
                    let start = stack.iter().position(|s| s == to).unwrap();
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(to.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(to, edges, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(m, Mark::Done);
        None
    }
    let mut marks: BTreeMap<&str, Mark> = edges.keys().map(|k| (k.as_str(), Mark::New)).collect();
    for m in edges.keys() {
        if marks[m.as_str()] == Mark::New
            && let Some(c) = visit(m, edges, &mut marks, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// The groups of modules that reach each other (strongly connected
/// components of more than one module, Tarjan's algorithm): every module
/// caught in some cycle, group by group.
fn tangled(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        groups: Vec<Vec<String>>,
    }
    fn connect<'a>(s: &mut State<'a>, m: &'a str) {
        let i = s.index.len();
        s.index.insert(m, i);
        s.low.insert(m, i);
        s.stack.push(m);
        for to in &s.edges[m] {
            let to = to.as_str();
            if !s.index.contains_key(to) {
                connect(s, to);
                let l = s.low[m].min(s.low[to]);
                s.low.insert(m, l);
            } else if s.stack.contains(&to) {
                let l = s.low[m].min(s.index[to]);
                s.low.insert(m, l);
            }
        }
        if s.low[m] == s.index[m] {
            let mut group = Vec::new();
            while let Some(x) = s.stack.pop() {
                group.push(x.to_owned());
                if x == m {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.groups.push(group);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        groups: Vec::new(),
    };
    for m in edges.keys() {
        if !s.index.contains_key(m.as_str()) {
            connect(&mut s, m);
        }
    }
    s.groups
}

fn shown(edges: &BTreeMap<String, BTreeSet<String>>) -> String {
    edges
        .iter()
        .map(|(m, to)| {
            format!(
                "{m} → {}\n",
                to.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect()
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = graph(&src);
    println!("{}", shown(&edges));
    if let Some(cycle) = find_cycle(&edges) {
        let groups: Vec<String> = tangled(&edges)
            .iter()
            .map(|g| format!("{} modules: {}", g.len(), g.join(", ")))
            .collect();
        panic!(
            "import cycle between top-level modules of src/: {}\n\
             modules caught in cycles:\n{}\n\nthe whole graph:\n{}",
            cycle.join(" → "),
            groups.join("\n"),
            shown(&edges)
        );
    }
}

/// The checker itself can fail: a made-up source tree with a cycle through
/// a group import and an inline path is caught, and test modules and
/// comments are not counted.
#[test]
fn the_cycle_check_sees_a_cycle_and_ignores_tests_and_comments() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    fs::create_dir(src.join("run")).unwrap();
    fs::write(
        src.join("lib.rs"),
        "pub mod run; pub mod archive; pub mod sys;",
    )
    .unwrap();
    fs::write(
        src.join("run/mod.rs"),
        "use crate::{sys::lock, archive::write};\n",
    )
    .unwrap();
    fs::write(
        src.join("sys.rs"),
        "// see crate::run\n#[cfg(test)]\nmod tests {\n    use crate::run;\n}\n",
    )
    .unwrap();
    fs::write(src.join("archive.rs"), "fn f() { crate::sys::x(); }\n").unwrap();
    let edges = graph(src);
    assert_eq!(find_cycle(&edges), None, "{}", shown(&edges));
    assert!(edges["sys"].is_empty(), "{}", shown(&edges));

    fs::write(
        src.join("sys.rs"),
        "pub fn x() { let _ = crate::run::f; }\n",
    )
    .unwrap();
    let edges = graph(src);
    assert_eq!(
        find_cycle(&edges),
        Some(vec![
            "archive".into(),
            "sys".into(),
            "run".into(),
            "archive".into()
        ]),
        "{}",
        shown(&edges)
    );
}

/// What a test-only file declaration and a group import over several
/// lines do: the file is left out, the lines after the declaration and
/// every module of the group are still read (a blind spot here once let a
/// real cycle through).
#[test]
fn the_cycle_check_reads_past_a_test_only_file_and_across_lines() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    fs::create_dir(src.join("run")).unwrap();
    fs::write(
        src.join("lib.rs"),
        "pub mod run; pub mod commands; pub mod sys;",
    )
    .unwrap();
    fs::write(
        src.join("run/mod.rs"),
        "#[cfg(test)]\nmod test_base;\n\nuse crate::{\n    sys::lock,\n    commands::hold,\n};\n",
    )
    .unwrap();
    fs::write(src.join("run/test_base.rs"), "use crate::sys;\n").unwrap();
    fs::write(src.join("commands.rs"), "use crate::run;\n").unwrap();
    fs::write(src.join("sys.rs"), "").unwrap();
    let edges = graph(src);
    assert_eq!(
        edges["run"].iter().map(String::as_str).collect::<Vec<_>>(),
        ["commands", "sys"],
        "{}",
        shown(&edges)
    );
    assert_eq!(
        find_cycle(&edges),
        Some(vec!["commands".into(), "run".into(), "commands".into()]),
        "{}",
        shown(&edges)
    );
    // The test-only file's own imports are not the module's.
    fs::write(src.join("run/mod.rs"), "#[cfg(test)]\nmod test_base;\n").unwrap();
    fs::write(src.join("run/test_base.rs"), "use crate::commands;\n").unwrap();
    assert_eq!(find_cycle(&graph(src)), None);
}
