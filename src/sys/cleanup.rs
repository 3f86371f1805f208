//! Removing the trees svgauto itself made or set aside (restore's temporary
//! folders), whatever the permission modes inside them.
//!
//! A dossier may hold read-only folders (mode `0555`, or `0000`): their
//! owner may remove them, but `std::fs::remove_dir_all` cannot empty them
//! and fails half-way. [`remove_tree`] then gives back to the owner the
//! rights needed to empty each folder of the tree (`u+rwx`, only on folders
//! it owns) and tries again. Symbolic links are never followed: every
//! folder is opened relative to its parent's descriptor with `O_NOFOLLOW`,
//! and its mode is changed through that descriptor, so a link swapped in
//! meanwhile cannot redirect the change outside the tree. It must only be
//! given trees svgauto created or moved aside itself: the user's own
//! folders are never touched this way.

use std::fs;
use std::io;
use std::path::Path;

/// Removes the file or tree at `path` (a symbolic link is removed, not
/// followed). Missing is not an error. When the plain removal fails, folders
/// of the tree owned by the current account get `u+rwx` and the removal is
/// tried once more; the error of that last attempt is returned (typically
/// `PermissionDenied` for a folder owned by another account, `EBUSY` for a
/// mount point, `EPERM` for an immutable file).
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return missing_is_ok(fs::remove_file(path));
    }
    if missing_is_ok(fs::remove_dir_all(path)).is_ok() {
        return Ok(());
    }
    // Best effort: whatever it could not open or change, the removal below
    // says.
    let _ = make_removable(path);
    missing_is_ok(fs::remove_dir_all(path))
}

fn missing_is_ok(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Gives the owner `rwx` on every folder of the tree at `root` that he owns
/// and lacks any of them, without following symbolic links.
#[cfg(unix)]
fn make_removable(root: &Path) -> io::Result<()> {
    use rustix::fs::CWD;
    let uid = rustix::process::geteuid().as_raw();
    let fd = open_dir(CWD, root, uid)?;
    walk(fd, uid)
}

#[cfg(unix)]
fn walk(dir: rustix::fd::OwnedFd, uid: u32) -> io::Result<()> {
    use rustix::fs::{AtFlags, Dir, FileType, statat};
    // Children first collected: the folder is not read while we descend.
    let mut subdirs = Vec::new();
    for entry in Dir::read_from(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            FileType::Unknown => statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
            _ => false,
        };
        if is_dir {
            subdirs.push(name.to_owned());
        }
    }
    for name in subdirs {
        // One that cannot be opened or changed is left to the removal, which
        // then fails and says so.
        if let Ok(child) = open_dir(&dir, name.as_c_str(), uid) {
            let _ = walk(child, uid);
        }
    }
    Ok(())
}

/// Opens the folder `name` of `parent` for reading, never through a
/// symbolic link, first giving its owner `u+rwx` if he is `uid` and lacks
/// any of them. A folder its owner cannot read (`0000`, `0300`) is opened
/// as a bare reference (`O_PATH`, Linux) to change its mode through
/// `/proc/self/fd`, which names exactly that folder.
#[cfg(unix)]
fn open_dir<Fd: rustix::fd::AsFd, P: rustix::path::Arg + Copy>(
    parent: Fd,
    name: P,
    uid: u32,
) -> io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags, fchmod, fstat, openat};
    let read = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let needs = |st: &rustix::fs::Stat| st.st_uid == uid && st.st_mode & 0o700 != 0o700;
    let widened = |st: &rustix::fs::Stat| Mode::from_raw_mode((st.st_mode | 0o700) & 0o7777);
    match openat(&parent, name, read, Mode::empty()) {
        Ok(fd) => {
            let st = fstat(&fd)?;
            if needs(&st) {
                fchmod(&fd, widened(&st))?;
            }
            Ok(fd)
        }
        #[cfg(target_os = "linux")]
        Err(rustix::io::Errno::ACCESS) => {
            use rustix::fd::AsRawFd;
            let path = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let pinned = openat(&parent, name, path, Mode::empty())?;
            let st = fstat(&pinned)?;
            if !needs(&st) {
                return Err(io::Error::from(rustix::io::Errno::ACCESS));
            }
            rustix::fs::chmod(
                format!("/proc/self/fd/{}", pinned.as_raw_fd()).as_str(),
                widened(&st),
            )?;
            Ok(openat(&pinned, c".", read, Mode::empty())?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Clears the read-only attribute of every file and folder of the tree
/// (Windows refuses to delete a read-only file); links are not followed.
#[cfg(not(unix))]
fn make_removable(root: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(root)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if meta.permissions().readonly() {
        let mut p = meta.permissions();
        // Not Unix: this clears the read-only attribute, nothing else.
        #[allow(clippy::permissions_set_readonly_false)]
        p.set_readonly(false);
        fs::set_permissions(root, p)?;
    }
    if meta.is_dir() {
        for e in fs::read_dir(root)? {
            let _ = make_removable(&e?.path());
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn mode(p: &Path, m: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    }

    /// Read-only and unreadable folders inside the tree go; a folder outside
    /// it, reached through a symbolic link, keeps its mode and content.
    #[test]
    fn read_only_folders_are_removed_and_links_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep.txt"), "keep").unwrap();
        mode(&outside, 0o500);
        let t = d.path().join("tree");
        fs::create_dir_all(t.join("ro/deeper")).unwrap();
        fs::write(t.join("ro/deeper/f.txt"), "x").unwrap();
        mode(&t.join("ro/deeper/f.txt"), 0o444);
        fs::create_dir_all(t.join("closed/inner")).unwrap();
        fs::write(t.join("closed/inner/g.txt"), "y").unwrap();
        symlink(&outside, t.join("ro/link")).unwrap();
        mode(&t.join("ro/deeper"), 0o555);
        mode(&t.join("ro"), 0o555);
        mode(&t.join("closed"), 0o000);
        mode(&t, 0o555);

        // The mode pass alone (as root the plain removal needs none).
        make_removable(&t).unwrap();
        for dir in ["", "ro", "ro/deeper", "closed", "closed/inner"] {
            let m = fs::metadata(t.join(dir)).unwrap().permissions().mode();
            assert_eq!(m & 0o700, 0o700, "{dir}/ is made removable by its owner");
        }
        let m = fs::metadata(t.join("ro/deeper/f.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o444, "files keep their mode");
        mode(&t.join("closed"), 0o000);
        mode(&t, 0o555);

        remove_tree(&t).unwrap();
        assert!(!t.exists());
        let m = fs::metadata(&outside).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o500, "the folder behind the link keeps its mode");
        assert_eq!(
            fs::read_to_string(outside.join("keep.txt")).unwrap(),
            "keep"
        );
        mode(&outside, 0o700);
    }

    #[test]
    fn missing_files_and_links_are_fine() {
        let d = tempfile::tempdir().unwrap();
        remove_tree(&d.path().join("absent")).unwrap();
        let target = d.path().join("target");
        fs::create_dir(&target).unwrap();
        symlink(&target, d.path().join("link")).unwrap();
        remove_tree(&d.path().join("link")).unwrap();
        assert!(target.is_dir(), "a link is removed, its target kept");
    }
}
