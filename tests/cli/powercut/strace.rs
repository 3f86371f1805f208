//! Running `svgauto` under `strace -f`, and the parser of its log: each
//! system call of the log as one [`Call`] (the `<unfinished ...>` and
//! `<... resumed>` halves of a thread's call joined), with the paths
//! strace's `-y` annotates descriptors with; and the helpers that edit a log
//! for the negative controls.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use crate::harness::*;

// ---------------------------------------------------------------------------
// Running the binary under strace
// ---------------------------------------------------------------------------

/// The calls that change a file system or flush it (and `openat`/`close`, to
/// know which file a descriptor is). `?`: a name this architecture lacks is
/// not an error.
pub(super) const TRACED: &str = "trace=?open,openat,?creat,close,write,pwrite64,writev,pwritev,pwritev2,\
                      ftruncate,?truncate,fsync,fdatasync,sync_file_range,sync,syncfs,\
                      ?rename,renameat,renameat2,?unlink,unlinkat,?rmdir,?mkdir,mkdirat,\
                      ?link,linkat,?symlink,symlinkat";

pub(super) fn strace() -> PathBuf {
    find_program(&["strace"]).unwrap_or_else(|| {
        panic!(
            "strace is not installed: the power cut tests need it \
             (`apt-get install -y strace`; scripts/test installs it)"
        )
    })
}

/// A command traced into `<scratch>/<tag>.strace`.
pub(super) struct Traced {
    pub(super) log: String,
    pub(super) out: Out,
}

/// Runs `svgauto <args>` under strace (in `base.top()`), and returns the log.
pub(super) fn traced(base: &Base, args: &[&str], tag: &str) -> Traced {
    let log = base.scratch(&format!("{tag}.strace"));
    let mut c = assert_cmd::Command::new(strace());
    c.args(["-f", "-qq", "-tt", "-y", "-s", "65536", "-e", TRACED, "-o"])
        .arg(&log)
        .arg("--")
        .arg(BIN)
        .args(args)
        .env_remove("SVGAUTO_CONFIG")
        .env_remove("SVGAUTO_NOW")
        .current_dir(base.top())
        .timeout(std::time::Duration::from_secs(120));
    let out = Out::of(&mut c);
    let log = fs::read_to_string(&log).unwrap_or_else(|e| {
        panic!(
            "no strace log {}: {e}\n{}\nstderr:\n{}",
            log.display(),
            out.cmdline,
            out.stderr
        )
    });
    assert!(
        log.lines().any(|l| l.contains("openat(")),
        "strace logged no call (is ptrace allowed here?)\n{}\nstderr:\n{}",
        out.cmdline,
        out.stderr
    );
    Traced { log, out }
}

// ---------------------------------------------------------------------------
// Parsing the log
// ---------------------------------------------------------------------------

/// One call of the log.
#[derive(Debug, Clone)]
pub(super) struct Call {
    /// Line (1-based) where the call completed, for messages.
    pub(super) line: usize,
    /// Positions where the call entered and completed (line indexes: an
    /// `<unfinished ...>` call spans the lines up to its `resumed`).
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) name: String,
    /// Top-level arguments, as strace printed them.
    pub(super) args: Vec<String>,
    /// What follows ` = `.
    pub(super) ret: String,
}

impl Call {
    pub(super) fn ok(&self) -> bool {
        !(self.ret.starts_with('-') || self.ret.starts_with('?') || self.ret.is_empty())
    }

    pub(super) fn arg(&self, i: usize) -> &str {
        self.args.get(i).map_or("", String::as_str)
    }

    /// The path strace annotated the descriptor of argument `i` with.
    pub(super) fn fd_path(&self, i: usize) -> Option<String> {
        fd_of(self.arg(i)).1
    }

    pub(super) fn show(&self) -> String {
        let mut s = format!("line {}: {}(", self.line, self.name);
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            if a.len() > 90 {
                let mut cut = 60;
                while !a.is_char_boundary(cut) {
                    cut -= 1;
                }
                let _ = write!(s, "{}…", &a[..cut]);
            } else {
                s.push_str(a);
            }
        }
        let _ = write!(s, ") = {}", self.ret);
        s
    }
}

/// Parses a log of `strace -f -tt -y`: `TID HH:MM:SS.us name(args) = ret`,
/// with the `<unfinished ...>` / `<... name resumed>` pairs of threads
/// joined into one call.
pub(super) fn parse_log(text: &str) -> Vec<Call> {
    let mut pending: HashMap<String, (usize, String)> = HashMap::new();
    let mut calls = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some((tid, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Some((_time, rest)) = rest.trim_start().split_once(' ') else {
            continue;
        };
        if rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        if let Some(r) = rest.strip_prefix("<... ") {
            let Some((_, tail)) = r.split_once("resumed>") else {
                continue;
            };
            if let Some((start, head)) = pending.remove(tid) {
                calls.extend(parse_call(&format!("{head}{tail}"), start, i));
            }
        } else if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(tid.to_owned(), (i, head.to_owned()));
        } else {
            calls.extend(parse_call(rest, i, i));
        }
    }
    calls
}

fn parse_call(s: &str, start: usize, end: usize) -> Option<Call> {
    let open = s.find('(')?;
    let name = &s[..open];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let (mut args, after) = split_args(&s[open + 1..])?;
    if args.len() == 1 && args[0].is_empty() {
        args.clear();
    }
    let ret = after.trim_start().strip_prefix("= ").unwrap_or("").trim();
    Some(Call {
        line: end + 1,
        start,
        end,
        name: name.to_owned(),
        args,
        ret: ret.to_owned(),
    })
}

/// Splits `a, b, {c, d}, "e,f")rest` into its top-level arguments and what
/// follows the closing parenthesis. `-y` escapes `<` and `>` inside the
/// paths it prints, so they nest like brackets.
fn split_args(s: &str) -> Option<(Vec<String>, &str)> {
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    let mut args = Vec::new();
    let mut from = 0;
    for (i, c) in s.bytes().enumerate() {
        if in_str {
            match c {
                _ if esc => esc = false,
                b'\\' => esc = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'(' | b'[' | b'{' | b'<' => depth += 1,
            b')' if depth == 0 => {
                args.push(s[from..i].trim().to_owned());
                return Some((args, &s[i + 1..]));
            }
            b')' | b']' | b'}' | b'>' => depth -= 1,
            b',' if depth == 0 => {
                args.push(s[from..i].trim().to_owned());
                from = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// Decodes strace's C escapes (`\n`, `\"`, `\303`, `\x41`…).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b[i + 1];
        i += 2;
        match c {
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                let mut n = 1;
                while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'x' => {
                let h = s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(h.unwrap_or(b'?'));
                i += 2;
            }
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            other => out.push(other),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The text of a quoted argument `"..."` (maybe followed by `...`).
pub(super) fn unquote(arg: &str) -> Option<String> {
    let body = arg.strip_prefix('"')?;
    let mut esc = false;
    for (i, c) in body.bytes().enumerate() {
        match c {
            _ if esc => esc = false,
            b'\\' => esc = true,
            b'"' => return Some(unescape(&body[..i])),
            _ => {}
        }
    }
    None
}

/// `9</a/b>` → (Some(9), Some("/a/b")); `AT_FDCWD</cwd>` → (None, "/cwd").
/// A deleted file's descriptor has no usable path.
pub(super) fn fd_of(arg: &str) -> (Option<i64>, Option<String>) {
    let (num, path) = match arg.split_once('<') {
        Some((n, p)) => (n, Some(p.strip_suffix('>').unwrap_or(p))),
        None => (arg, None),
    };
    let path = path
        .filter(|p| p.starts_with('/') && !p.ends_with(" (deleted)"))
        .map(unescape);
    (num.trim().parse().ok(), path)
}

/// The calls renumbered one after the other (for edited logs).
pub(super) fn resequence(calls: Vec<Call>) -> Vec<Call> {
    calls
        .into_iter()
        .enumerate()
        .map(|(i, c)| Call {
            start: i,
            end: i,
            ..c
        })
        .collect()
}

pub(super) fn is_flush_of(c: &Call, pred: impl Fn(&str) -> bool) -> bool {
    (c.name == "fsync" || c.name == "fdatasync") && c.fd_path(0).is_some_and(|p| pred(&p))
}

/// The log as it would be where `flush_files` cannot flush a group with
/// one `syncfs` (another file system, another system): each `syncfs`
/// replaced by an `fsync` of every file then open for writing (the files
/// of a group wait open for their flush), at the same place.
pub(super) fn syncfs_as_fsyncs(calls: &[Call]) -> Vec<Call> {
    let mut open: std::collections::BTreeMap<i64, String> = Default::default();
    let mut out = Vec::with_capacity(calls.len());
    for c in calls {
        match c.name.as_str() {
            "open" | "openat" | "creat" if c.ok() => {
                let flags = match c.name.as_str() {
                    "open" => c.arg(1),
                    "openat" => c.arg(2),
                    _ => "O_WRONLY",
                };
                if let (Some(fd), Some(path)) = fd_of(&c.ret)
                    && (flags.contains("O_WRONLY") || flags.contains("O_RDWR"))
                {
                    open.insert(fd, path);
                }
            }
            "close" => {
                if let (Some(fd), _) = fd_of(c.arg(0)) {
                    open.remove(&fd);
                }
            }
            "syncfs" => {
                out.extend(open.iter().map(|(fd, path)| Call {
                    name: "fsync".into(),
                    args: vec![format!("{fd}<{path}>")],
                    ret: "0".into(),
                    ..c.clone()
                }));
                continue;
            }
            _ => {}
        }
        out.push(c.clone());
    }
    out
}

/// The paths of the files the log creates (`O_CREAT`) under `dir`.
pub(super) fn created_under(calls: &[Call], dir: &str) -> BTreeSet<String> {
    let under = format!("{dir}/");
    calls
        .iter()
        .filter(|c| c.ok() && c.name == "openat" && c.arg(2).contains("O_CREAT"))
        .filter_map(|c| fd_of(&c.ret).1)
        .filter(|p| p.starts_with(&under))
        .collect()
}
