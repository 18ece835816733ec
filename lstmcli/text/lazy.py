"""Patterns of the ``regex`` module (Unicode classes, graphemes) compiled on their first use.

Importing ``regex`` and compiling such patterns costs about 10-20 ms, which a command that reads only ASCII or
UTF-8 text never needs: ``lstmcli predict`` on one line of English, for one. Each pattern is declared where it
is used, as the compiled one would be, and compiled by the first method call.
"""

from __future__ import annotations

from typing import Any


class LazyRegex:
    """``regex.compile(pattern)`` on first use; every attribute (``findall``, ``sub``, ``search``...) is the
    compiled pattern's. Flags go inline in the pattern (``(?V1)``), so that declaring one imports nothing."""

    def __init__(self, pattern: str | bytes) -> None:
        self.source = pattern
        self._compiled: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            import regex

            self._compiled = regex.compile(self.source)
        return getattr(self._compiled, name)
