"""The exceptions lstmcli raises for problems a user can fix.

The command-line layer catches :class:`LstmcliError` in one place and prints its message as a single
``Error: ...`` line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os


class LstmcliError(Exception):
    """A problem with the user's input, options or run directory; the message says how to fix it."""


class DataError(LstmcliError):
    """The input CSV or text cannot be used as it is."""


class ConfigError(LstmcliError):
    """An option or a saved configuration has a value lstmcli cannot use."""


class RunDirError(LstmcliError):
    """The run directory is missing, incomplete, locked, or written by an incompatible version."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, systemd, Docker), raised where Ctrl-C raises KeyboardInterrupt: training stops the
    same way, saving the best model so far."""


# What a user's machine or paths can cause, as opposed to a bug: reported as one line with the fix.
_OS_FIXES = {
    errno.ENOSPC: "free some space, or pass --run-dir on another disk",
    errno.EDQUOT: "free some space within your quota, or pass --run-dir on another disk",
    errno.EACCES: "check the permissions, or pass another path",
    errno.EPERM: "check the permissions, or pass another path",
    errno.EROFS: "the file system is read-only: pass a path on a writable one",
    errno.ENOTDIR: "a part of the path is a file, not a directory: pass another path",
    errno.EEXIST: "a file is in the way: pass another path",
    errno.EISDIR: "it is a directory: pass a file",
    errno.ENAMETOOLONG: "pass a shorter path",
    errno.ENOENT: "check the path",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
}
USER_ERRNOS = frozenset(_OS_FIXES)


def os_error_message(exc: OSError, path: object = None, doing: str = "") -> str:
    """One line for an OSError a user can cause: what failed, on which path, and the fix.

    E.g. ``cannot write run/data/train_x.npy: no space left on device; free some space, or pass --run-dir on
    another disk`` (``doing="cannot write"``), or without ``doing`` ``no space left on device: run/...; ...``.
    """
    reason = (exc.strerror or os.strerror(exc.errno)).lower() if exc.errno else str(exc) or type(exc).__name__
    where = exc.filename if exc.filename is not None else path
    if where is None:
        message = f"{doing}: {reason}" if doing else reason
    else:
        message = f"{doing} {where}: {reason}" if doing else f"{reason}: {where}"
    fix = _OS_FIXES.get(exc.errno or 0)
    return f"{message}; {fix}" if fix else message
