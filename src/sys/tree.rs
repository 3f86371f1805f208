//! Walking folder trees with a bounded number of open folders, whatever
//! their depth.
//!
//! A walk that descends while it still reads a folder keeps one open folder
//! per level: a dossier 1 500 folders deep (a path well under `PATH_MAX`)
//! then needs 1 500 file descriptors, and fails every night under the usual
//! limit of 1 024 ("Too many open files"). Every recursive walk of svgauto
//! reads a folder whole with [`read_folder`] — which closes it — and only
//! then goes into its subfolders, keeping their paths (not open folders) on
//! a list: one folder is open at a time.
//!
//! Note: a `std::fs::DirEntry` keeps its folder open (the standard library
//! reads metadata relative to it), so none is kept past [`read_folder`].

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One entry of a folder, as read while the folder was open.
#[derive(Debug)]
pub struct Item {
    /// The entry's name in the folder.
    pub name: OsString,
    /// The folder's path joined with `name`.
    pub path: PathBuf,
    /// Its type, not following a symbolic link.
    pub file_type: io::Result<fs::FileType>,
    /// Its metadata, not following a symbolic link (only when asked for).
    pub metadata: Option<io::Result<fs::Metadata>>,
}

/// The entries of the folder `dir`, in the order the system gives them, the
/// folder closed again before this returns. An entry that could not be read
/// is an `Err` in its place; `with_metadata` also reads each entry's
/// metadata while the folder is open (as `DirEntry::metadata` would). The
/// error of opening the folder is returned as it is.
pub fn read_folder(dir: &Path, with_metadata: bool) -> io::Result<Vec<io::Result<Item>>> {
    Ok(fs::read_dir(dir)?
        .map(|entry| {
            entry.map(|e| Item {
                name: e.file_name(),
                path: e.path(),
                file_type: e.file_type(),
                metadata: with_metadata.then(|| e.metadata()),
            })
        })
        .collect())
}

/// Flushes every folder of the tree at `root` (deepest first), so the names
/// of its files and folders are on disk before the tree is published by a
/// rename: after a power cut, a published tree is never missing entries.
/// An error comes with the path it is about.
pub fn sync_tree(root: &Path) -> Result<(), (PathBuf, io::Error)> {
    let mut dirs = vec![root.to_owned()];
    let mut i = 0;
    while i < dirs.len() {
        let at = |e| (dirs[i].clone(), e);
        let rd = fs::read_dir(&dirs[i]).map_err(at)?;
        let mut found = Vec::new();
        for e in rd {
            let e = e.map_err(at)?;
            if e.file_type().map_err(|err| (e.path(), err))?.is_dir() {
                found.push(e.path());
            }
        }
        dirs.extend(found);
        i += 1;
    }
    for d in dirs.iter().rev() {
        crate::sys::fs::sync_dir(d).map_err(|e| (d.clone(), e))?;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_read_whole() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("sous")).unwrap();
        fs::write(d.path().join("f"), b"x").unwrap();
        let mut items = read_folder(d.path(), true).unwrap();
        items.sort_by(|a, b| a.as_ref().unwrap().name.cmp(&b.as_ref().unwrap().name));
        let names: Vec<_> = items
            .iter()
            .map(|i| i.as_ref().unwrap().name.clone())
            .collect();
        assert_eq!(names, ["f", "sous"]);
        let sous = items[1].as_ref().unwrap();
        assert!(sous.file_type.as_ref().unwrap().is_dir());
        assert!(sous.metadata.as_ref().unwrap().as_ref().unwrap().is_dir());
        assert_eq!(sous.path, d.path().join("sous"));
    }
}
