"""What the routes are given: the up-to-date index and the filter from the query string."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Annotated

from fastapi import Query, Request

from loaders.filters import STATUSES, AttemptFilter
from loaders.index import LogIndex

REFRESH_INTERVAL_SECONDS = 1.0


class IndexProvider:
    """Hands out the index, refreshing it at most once per interval (new files show within a second)."""

    def __init__(self, index: LogIndex, interval: float = REFRESH_INTERVAL_SECONDS):
        self.index = index
        self.interval = interval
        self._checked = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> LogIndex:
        with self._lock:
            if time.monotonic() - self._checked >= self.interval:
                self.index.refresh()
                self._checked = time.monotonic()
        return self.index


def get_index(request: Request) -> LogIndex:
    """The app's index (tests override this dependency)."""
    return request.app.state.index_provider()


def get_filter(
    model: Annotated[list[str] | None, Query(description="ai_model, repeatable")] = None,
    status: Annotated[list[str] | None, Query(description="failed or success, repeatable")] = None,
    category: Annotated[list[str] | None, Query(description="derived error category, repeatable")] = None,
    tag: Annotated[list[str] | None, Query(description="tag, repeatable (any of)")] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in error or prompt")] = None,
    start: Annotated[date | None, Query(description="first day, YYYY-MM-DD")] = None,
    end: Annotated[date | None, Query(description="last day, YYYY-MM-DD")] = None,
) -> AttemptFilter:
    """The dashboard's filters, from the query string."""
    statuses = tuple(s for s in (status or []) if s in STATUSES)
    return AttemptFilter(start, end, tuple(model or ()), statuses, tuple(category or ()), tuple(tag or ()), q)


def get_as_of(
    as_of: Annotated[datetime | None, Query(description="end of the 7-day window, ISO 8601; default now")] = None,
) -> datetime:
    """The end of the 7-day window: ``?as_of=`` (an offset is converted to local time), else now."""
    if as_of is None:
        return datetime.now()
    return as_of.astimezone().replace(tzinfo=None) if as_of.tzinfo else as_of
