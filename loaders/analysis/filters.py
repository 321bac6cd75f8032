"""The filter every query takes, turned into a SQL condition with bound parameters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

STATUSES = ("failed", "success")
# The dates a query accepts: far enough from datetime's limits (years 1 and 9999) that every window
# reaching days before or after them (as_of - 14 days, end + 1 day, a time zone's offset) stays valid.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


@dataclass(frozen=True)
class AttemptFilter:
    """Which attempts a query looks at. Empty fields mean "all".

    Fields: ``start``/``end`` (inclusive local dates), ``models``, ``statuses`` (failed/success),
    ``categories`` (derived error categories; keeps failures only), ``tags`` (any of),
    ``text`` (case-insensitive, in error_message, key error line or user_prompt), ``since``/``until``
    (local times: ``since <= timestamp < until``; a change marker's cohorts before and after it).
    """

    start: date | None = None
    end: date | None = None
    models: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def without_dates(self) -> AttemptFilter:
        """The same filter over all dates and times (for windows that reach before ``start``)."""
        return replace(self, start=None, end=None, since=None, until=None)

    def where(self, alias: str = "") -> tuple[str, list[Any]]:
        """Return (SQL condition, parameters) selecting the filtered rows of ``attempts``."""
        col = f"{alias}." if alias else ""
        clauses: list[str] = ["TRUE"]
        params: list[Any] = []
        if self.start is not None:
            clauses.append(f"{col}timestamp >= ?")
            params.append(datetime.combine(self.start, time.min))
        if self.end is not None:
            clauses.append(f"{col}timestamp < ?")
            params.append(datetime.combine(self.end + timedelta(days=1), time.min))
        if self.since is not None:
            clauses.append(f"{col}timestamp >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append(f"{col}timestamp < ?")
            params.append(self.until)
        if self.models:
            clauses.append(f"{col}ai_model IN ({', '.join('?' * len(self.models))})")
            params.extend(self.models)
        if self.statuses:
            clauses.append(f"{col}status IN ({', '.join('?' * len(self.statuses))})")
            params.extend(self.statuses)
        if self.categories:
            clauses.append(f"{col}category IN ({', '.join('?' * len(self.categories))})")
            params.extend(self.categories)
        if self.tags:
            clauses.append(f"list_has_any(coalesce({col}tags, []), ?::VARCHAR[])")
            params.append(list(self.tags))
        if self.text and self.text.strip():
            clauses.append(f"contains(lower(concat_ws(' ', {col}error_message, {col}error_line, {col}user_prompt)), ?)")
            params.append(self.text.strip().lower())
        return " AND ".join(clauses), params

    def as_of(self, now: datetime | None = None) -> datetime:
        """The end of the 7-day window this filter implies: the end of ``end``, else ``now``."""
        if self.end is not None:
            return datetime.combine(self.end, time.max)
        return now or datetime.now()


ALL = AttemptFilter()
