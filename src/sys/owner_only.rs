//! Files and folders only their owner may open: what svgauto writes that
//! holds or names clients' data — archives and their `.partial`, reports,
//! the list of dossiers in error, the catalog — and the folders it creates
//! for them (the backup folder, its rotation, event and `log/` subfolders,
//! the state folder `.svgauto/`).
//!
//! On Unix a file is created with mode `0600` and a folder with `0700`,
//! whatever the process's umask (a umask only removes permissions, so the
//! result is never wider): a dossier only its owner can read must not end up
//! in an archive every local account can read. Nothing is ever widened, and
//! what already exists keeps the permissions it has (an administrator's
//! choice for a folder; an archive or report is replaced by a new file, so
//! it gets these). Elsewhere (Windows) new files and folders inherit the
//! ACL of their folder, as usual there.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// Permissions of a file svgauto creates (Unix): read and write for the
/// owner only.
pub const FILE_MODE: u32 = 0o600;
/// Permissions of a folder svgauto creates (Unix): the owner only.
pub const DIR_MODE: u32 = 0o700;

/// `fs::create_dir_all`, every folder it creates being [`DIR_MODE`];
/// folders that exist are left as they are. Errors are those of
/// `fs::create_dir_all`.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b.create(path)
}

/// Creates the file `path`, which must not exist (`AlreadyExists`
/// otherwise), opened for writing, with [`FILE_MODE`].
pub fn create_new(path: &Path) -> io::Result<File> {
    options().create_new(true).open(path)
}

/// Creates the file `path` for writing with [`FILE_MODE`], replacing any
/// file of that name: the old one is removed first, so the new one never
/// keeps the permissions an earlier release (or the umask) gave it.
pub fn replace(path: &Path) -> io::Result<File> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    create_new(path)
}

fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(FILE_MODE);
    }
    o
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_for_the_owner_only_and_replaced_files_too() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        create_dir_all(&dir).unwrap();
        assert_eq!(mode(&d.path().join("a")), DIR_MODE);
        assert_eq!(mode(&dir), DIR_MODE);
        // An existing folder is left as it is.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        create_dir_all(&dir).unwrap();
        assert_eq!(mode(&dir), 0o755);

        let f = dir.join("f");
        drop(create_new(&f).unwrap());
        assert_eq!(mode(&f), FILE_MODE);
        assert_eq!(
            create_new(&f).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        drop(replace(&f).unwrap());
        assert_eq!(mode(&f), FILE_MODE);
    }
}
