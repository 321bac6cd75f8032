"""Numbers as people read them: durations ("8 min 42 s"), gaps ("+46 s")."""

from __future__ import annotations

import math

_UNITS = ((86_400, "d"), (3_600, "h"), (60, "min"), (1, "s"))


def _missing(seconds: object) -> bool:
    return seconds is None or (isinstance(seconds, float) and math.isnan(seconds))


def duration_text(seconds: float | None) -> str:
    """A duration in its two largest units: "0.4 s", "46 s", "8 min 42 s", "3 h 5 min", "2 d 4 h".

    Under 10 seconds one decimal is kept ("1.5 s"); "8 min" rather than "8 min 0 s". Missing or
    negative durations give "".
    """
    if _missing(seconds) or seconds < 0:
        return ""
    seconds = float(seconds)
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    whole = round(seconds)
    first = next(i for i, (size, _) in enumerate(_UNITS) if whole >= size)
    (big, big_unit), (small, small_unit) = _UNITS[first], _UNITS[min(first + 1, len(_UNITS) - 1)]
    amount, rest = divmod(whole, big)
    text = f"{amount} {big_unit}"
    if small < big and rest // small:
        text += f" {rest // small} {small_unit}"
    return text


def gap_text(seconds: float | None) -> str:
    """The time since the previous event: "+46 s", "+8 min 42 s"; "" for the first (missing)."""
    if _missing(seconds):
        return ""
    return "+" + duration_text(max(float(seconds), 0.0))
