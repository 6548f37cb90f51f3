# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files this collection writes on a hypervisor itself: private, atomic, never through a link.

Modules run as root there, so a symbolic link planted where a file of ours goes must not make
them write (or read) another file: every open refuses to follow a link, a new file is created
exclusively under a name nobody could predict, filled, flushed to disk and renamed over the
old one (a reader sees the old file or the new, never half), and a directory another user could
write to is refused. Files are 0640, directories 0700.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

FILE_MODE = 0o640
DIR_MODE = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _lstat(path):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _link_error(path, what):
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return DroverError("refusing to use %s: %s is a symbolic link (to %s), not a file of this collection; "
                       "remove it" % (what, path, target))


def private_dir(directory, what, mode=DIR_MODE):
    """Make `directory` (mode `mode`) when it is missing; refuse one that is a link, not a directory,
    owned by another user than this one or root, or writable by group or others."""
    st = _lstat(directory)
    if st is None:
        os.makedirs(directory, mode=mode, exist_ok=True)
        st = os.lstat(directory)
    if stat.S_ISLNK(st.st_mode):
        raise _link_error(directory, what)
    if not stat.S_ISDIR(st.st_mode):
        raise DroverError("refusing to use %s: %s is not a directory" % (what, directory))
    if st.st_uid not in (0, os.geteuid()):
        raise DroverError("refusing to use %s: %s belongs to user id %d, not to this user or root"
                          % (what, directory, st.st_uid))
    if st.st_mode & 0o022:
        raise DroverError("refusing to use %s: %s is writable by group or others (mode %04o); make it 0700"
                          % (what, directory, stat.S_IMODE(st.st_mode)))


def write_atomic(path, data, what, mode=FILE_MODE):
    """Replace the file at `path` with `data` (bytes) atomically; DroverError naming `what` when refused.

    The new content goes to a fresh temporary file beside it (created exclusively, never through
    a link), is synced, and is renamed over `path`; a link at `path` is refused, not followed.
    """
    directory = os.path.dirname(path) or "."
    private_dir(directory, what)
    st = _lstat(path)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise _link_error(path, what)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # rename() replaces a link that appeared meanwhile; it never writes through one.
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY | _NOFOLLOW)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


def read_private(path, what, limit=64 * 1024):
    """The content (bytes) of the file at `path`, None when there is none; a link is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _link_error(path, what)
        raise DroverError("cannot read %s %s: %s" % (what, path, exc.strerror))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise DroverError("cannot read %s %s: larger than %d bytes" % (what, path, limit))
    return data


def create_exclusive(path, mode=0o600):
    """Create an empty file at `path` that did not exist, never through a link; OSError otherwise."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode))
