"""Cohorts written as the dashboard's URL filters: ``model=gpt-5-mini``, ``start=2026-11-01,end=2026-11-10``,
``tag=ctx:v12``, ``q=cv2``, or a change marker: ``before=system_context v12`` / ``after=...``.

Parts are separated by ``&`` or ``,``; a part without ``=`` adds a value to the key before it, so
``model=a,b`` is two models (as ``tag=a,b`` in a URL) and ``start=X,end=Y`` two keys. A value in
double quotes keeps its separators (``before="A&B"``); ``before=`` and ``after=`` name one marker, so
a label holding a separator must be quoted (``mark`` refuses such labels: only older files hold them).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from loaders.analysis.filters import FIRST_DAY, LAST_DAY, STATUSES, AttemptFilter
from loaders.annotations.markers import Marker, find_marker

LIST_KEYS = {"model": "models", "status": "statuses", "category": "categories", "tag": "tags"}
KEYS = ("start", "end", *LIST_KEYS, "q", "before", "after")


def _pieces(text: str) -> list[str]:
    """The text split at ``&`` and ``,`` outside double quotes (the quotes dropped)."""
    pieces: list[str] = []
    current: list[str] = []
    inside = False
    for char in text:
        if char == '"':
            inside = not inside
        elif char in "&," and not inside:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    if inside:
        raise ValueError(f"a quote is not closed in {text!r}")
    pieces.append("".join(current))
    return pieces


def _parts(text: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    last: str | None = None
    for piece in _pieces(text):
        if "=" in piece:
            key, value = piece.split("=", 1)
            last = key.strip().lower()
            if last not in KEYS:
                raise ValueError(f"unknown cohort key {key.strip()!r} (keys: {', '.join(KEYS)})")
            values.setdefault(last, []).append(value.strip())
        elif piece.strip():
            if last is None:
                raise ValueError(f"not a cohort filter: {text!r} (write key=value, e.g. model=gpt-5-mini)")
            if last in ("before", "after"):
                raise ValueError(f'{last}= names one marker: quote a label that holds & or , ({last}="A&B")')
            values[last].append(piece.strip())
    return values


def _day(key: str, values: list[str]) -> date:
    try:
        day = date.fromisoformat(values[-1])
    except ValueError:
        raise ValueError(f"{key} is not a date (YYYY-MM-DD): {values[-1]!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{key} is outside {FIRST_DAY} to {LAST_DAY}: {day}")
    return day


def parse_cohort(text: str, markers: list[Marker] = ()) -> AttemptFilter:
    """The filter a cohort text describes; ``before``/``after`` name one of ``markers`` (by label).

    An empty text is every attempt. Raises ValueError (saying what is wrong) for an unknown key,
    a bad date, an unknown status or an unknown marker.
    """
    values = _parts(text or "")
    flt = AttemptFilter()
    for key in ("start", "end"):
        if key in values:
            flt = replace(flt, **{key: _day(key, values[key])})
    for key, field in LIST_KEYS.items():
        items = tuple(dict.fromkeys(v for v in values.get(key, []) if v))
        if key == "status" and any(item not in STATUSES for item in items):
            raise ValueError(f"status is one of {', '.join(STATUSES)}")
        flt = replace(flt, **{field: items})
    if values.get("q"):
        flt = replace(flt, text=",".join(values["q"]) or None)
    if values.get("before"):
        flt = replace(flt, until=find_marker(list(markers), values["before"][-1]).at)
    if values.get("after"):
        flt = replace(flt, since=find_marker(list(markers), values["after"][-1]).at)
    return flt
