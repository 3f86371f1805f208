"""A FUSE file system for the svgauto tests (tests/cli/hunt2.rs): every
operation passes through to a backing folder, except flushing a folder
(fsync on a directory), which fails with the errno named on the command
line -- EINVAL as CIFS/SMB did before Linux 4.17 and as some FUSE and
network file systems still do, or EIO for a real I/O error.

Usage: python3 fsyncdir_fs.py BACKING MOUNTPOINT EINVAL|EIO

Runs in the foreground until unmounted. Uses fusepy (Debian's
python3-fusepy names the module `fusepy`; pip's package names it `fuse`)
over libfuse 2; mounting needs root, as the tests that use it do.
"""

import errno
import os
import sys

try:
    from fusepy import FUSE, FuseOSError, Operations
except ImportError:  # fusepy installed with pip
    from fuse import FUSE, FuseOSError, Operations


class Passthrough(Operations):
    # Times in nanoseconds, both ways (getattr and utimens).
    use_ns = True

    def __init__(self, backing, dir_flush_errno):
        self.backing = os.path.realpath(backing)
        self.dir_flush_errno = dir_flush_errno

    def real(self, path):
        return os.path.join(self.backing, path.lstrip("/"))

    # -- what is refused -------------------------------------------------
    def fsyncdir(self, path, datasync, fh):
        raise FuseOSError(self.dir_flush_errno)

    # -- metadata ----------------------------------------------------------
    def getattr(self, path, fh=None):
        st = os.lstat(self.real(path))
        attrs = {
            key: getattr(st, key)
            for key in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size")
        }
        # Nanosecond times (`use_ns`).
        attrs["st_atime"] = st.st_atime_ns
        attrs["st_mtime"] = st.st_mtime_ns
        attrs["st_ctime"] = st.st_ctime_ns
        return attrs

    def access(self, path, mode):
        if not os.access(self.real(path), mode):
            raise FuseOSError(errno.EACCES)

    def chmod(self, path, mode):
        os.chmod(self.real(path), mode)

    def chown(self, path, uid, gid):
        os.lchown(self.real(path), uid, gid)

    def utimens(self, path, times=None):
        if times is None:
            os.utime(self.real(path), follow_symlinks=False)
        else:
            os.utime(self.real(path), ns=times, follow_symlinks=False)

    def statfs(self, path):
        s = os.statvfs(self.real(path))
        return {
            key: getattr(s, key)
            for key in (
                "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax",
            )
        }

    # -- names -------------------------------------------------------------
    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self.real(path))

    def mkdir(self, path, mode):
        os.mkdir(self.real(path), mode)

    def rmdir(self, path):
        os.rmdir(self.real(path))

    def unlink(self, path):
        os.unlink(self.real(path))

    def rename(self, old, new):
        os.rename(self.real(old), self.real(new))

    def link(self, target, source):
        os.link(self.real(source), self.real(target))

    def symlink(self, target, source):
        os.symlink(source, self.real(target))

    def readlink(self, path):
        return os.readlink(self.real(path))

    def mknod(self, path, mode, dev):
        os.mknod(self.real(path), mode, dev)

    # -- data --------------------------------------------------------------
    def create(self, path, mode, fi=None):
        return os.open(self.real(path), os.O_RDWR | os.O_CREAT, mode)

    def open(self, path, flags):
        return os.open(self.real(path), flags)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        if fh is None:
            os.truncate(self.real(path), length)
        else:
            os.ftruncate(fh, length)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        if datasync:
            os.fdatasync(fh)
        else:
            os.fsync(fh)
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0


def main():
    backing, mountpoint, name = sys.argv[1:4]
    # The kernel has applied the caller's umask to the modes it passes on;
    # ours must not remove more.
    os.umask(0)
    FUSE(
        Passthrough(backing, getattr(errno, name)),
        mountpoint,
        foreground=True,
        nothreads=True,
    )


if __name__ == "__main__":
    main()
