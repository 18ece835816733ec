"""The exceptions lstmcli raises for problems a user can fix.

The command-line layer catches :class:`LstmcliError` in one place and prints its message as a single
``Error: ...`` line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class LstmcliError(Exception):
    """A problem with the user's input, options or run directory; the message says how to fix it."""


class DataError(LstmcliError):
    """The input CSV or text cannot be used as it is."""


class ConfigError(LstmcliError):
    """An option or a saved configuration has a value lstmcli cannot use."""


class RunDirError(LstmcliError):
    """The run directory is missing, incomplete, locked, or written by an incompatible version."""
