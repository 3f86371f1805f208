//! Other programs and the account the tests run as: a program found on the
//! PATH (how the tests find 7-Zip, unzip, strace), a system command that must
//! succeed, and whether the tests run as root.

use std::path::PathBuf;
use std::process::Stdio;

#[cfg(unix)]
use super::Base;

/// The first of `names` found on the PATH.
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in names {
        for dir in std::env::split_paths(&path) {
            for candidate in [dir.join(name), dir.join(format!("{name}.exe"))] {
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
        }
    }
    None
}

/// Whether the tests run as root (a file we create belongs to uid 0).
#[cfg(unix)]
pub fn running_as_root(base: &Base) -> bool {
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    let p = base.scratch(&format!("whoami-{}", super::unique()));
    fs::write(&p, "").unwrap();
    let root = fs::metadata(&p).unwrap().uid() == 0;
    fs::remove_file(p).unwrap();
    root
}

/// Runs a system command, panicking with its output if it fails.
#[track_caller]
pub fn sh(program: &str, args: &[&std::ffi::OsStr]) {
    let o = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        o.status.success(),
        "{program} {args:?} failed: {}\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The port a test server started by the tests listens on: the first line
/// it writes on `stdout`, `ready <port>`, within 30 s; `None` if it wrote
/// something else, or nothing in time (the SMTP server, the S3 proxy).
pub fn ready_port(stdout: std::process::ChildStdout) -> Option<u16> {
    use std::io::{BufRead, BufReader};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let res = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(res);
    });
    match rx.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(Ok(line)) => line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok()),
        _ => None,
    }
}
