"""Every regular expression Fixtrail runs over log text, compiled here and kept in one registry.

Log text is written by generated scripts and their users: a stderr of a megabyte, a line of a
million dots, a thousand unclosed quotes. Python's ``re`` backtracks, so a pattern that can restart
a long scan at every position costs time in the square of its input (``^\\s*File "`` over a run of
newlines: 98 s at 200 KB). Every pattern over log text is made with ``log_pattern``, which records
it in ``LOG_TEXT_PATTERNS``; ``tests/test_patterns.py`` runs each one on 1 MB adversarial inputs in
a child process with a deadline, so a pattern that backtracks fails the suite the day it is added.

Rules that keep a pattern linear (each pattern's comment says which it relies on):
- a run that may restart at every position starts at a boundary (``\\b\\w+``: only the first
  character of a word can start it, and the leftmost match starts there anyway);
- a class that must stop at a line end excludes ``\\n`` (``[ \\t]*``, ``[^"\\n]+``);
- an optional part is optional as a whole (``\\d+(?:\\.\\d*)?``, not ``\\d+\\.?\\d*``);
- a pattern over text whose length its caller bounds says so with ``bound`` (the caller cuts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class LogTextPattern:
    """A registered pattern: where it is defined, and the length its callers cut the text to (None: any)."""

    name: str
    pattern: re.Pattern[str]
    bound: int | None


LOG_TEXT_PATTERNS: list[LogTextPattern] = []


def log_pattern(name: str, regex: str, flags: int = 0, bound: int | None = None) -> re.Pattern[str]:
    """Compile ``regex`` for use over log text and register it under ``name`` (``module.CONSTANT``).

    ``bound``: the callers only run it over text cut to this many characters (tested at that size).
    """
    compiled = re.compile(regex, flags)
    LOG_TEXT_PATTERNS.append(LogTextPattern(name, compiled, bound))
    return compiled
