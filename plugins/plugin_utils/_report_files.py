# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report files on the controller: a directory made if missing, files replaced whole.

Controller-side only (the action plugin report_files): writing a report is a local file
operation, so it costs no module run. A file is written beside its final name and renamed over
it, so a reader sees the old report or the new one, never half of one; a symbolic link at the
final name is replaced, never written through.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import os
import tempfile

DIR_MODE = 0o755
FILE_MODE = 0o644


class ReportDirError(Exception):
    """The reports cannot go where they were asked to; the message says why."""


def ready_dir(path):
    """Make `path` (and its parents) when missing; ReportDirError unless it is a writable directory."""
    try:
        os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    except FileExistsError:
        raise ReportDirError("%s exists and is not a directory" % path)
    except OSError as exc:
        raise ReportDirError("cannot make %s: %s" % (path, exc.strerror or exc))
    if not os.path.isdir(path):
        raise ReportDirError("%s exists and is not a directory" % path)
    if not os.access(path, os.W_OK | os.X_OK):
        raise ReportDirError("%s is read-only, or not writable by this user" % path)


def check_name(name):
    """A report's file name: a plain name inside the directory, nothing that climbs out of it."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ReportDirError("a report file name must be a plain file name, got %r" % (name,))


def write_file(directory, name, content, mode=FILE_MODE):
    """Replace directory/name with `content` (text, written as UTF-8); its path."""
    check_name(name)
    if not isinstance(content, str):
        raise ReportDirError("the content of %s must be text, got %s" % (name, type(content).__name__))
    path = os.path.join(directory, name)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(content.encode("utf-8"))
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise ReportDirError("cannot write %s: %s" % (path, exc.strerror or exc))
    return path


def write_reports(directory, files):
    """Make `directory` ready and write every name: content of `files` in it, in order; the paths written."""
    for name, content in files.items():
        check_name(name)
        if not isinstance(content, str):
            raise ReportDirError("the content of %s must be text, got %s" % (name, type(content).__name__))
    ready_dir(directory)
    return [write_file(directory, name, content) for name, content in files.items()]
