"""What the routes are given: the up-to-date index and the filter from the query string."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import date, datetime
from typing import Annotated

from fastapi import Query, Request

from loaders.filters import STATUSES, AttemptFilter
from loaders.index import LogIndex

REFRESH_INTERVAL_SECONDS = 1.0


class IndexProvider:
    """Hands out the index of the tree in a session mode, kept fresh in the background.

    One LogIndex per session mode asked for. The first request of a mode waits for its load;
    after that, a request that finds the last check older than the interval starts a refresh in
    a background thread and is answered at once from the state already loaded: new files show
    within about a second, and no request waits for a refresh.
    """

    def __init__(self, logs_dir: str | os.PathLike[str], cache_dir=None, interval: float = REFRESH_INTERVAL_SECONDS):
        self.logs_dir, self.cache_dir, self.interval = logs_dir, cache_dir, interval
        self._indexes: dict[str, LogIndex] = {}
        self._checked: dict[str, float] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, mode: str = "auto") -> LogIndex:
        with self._lock:
            index = self._indexes.get(mode)
            if index is None:
                index = self._indexes[mode] = LogIndex(self.logs_dir, self.cache_dir, session_mode=mode)
                index.refresh()
                self._checked[mode] = time.monotonic()
            elif time.monotonic() - self._checked[mode] >= self.interval and mode not in self._refreshing:
                self._refreshing.add(mode)
                threading.Thread(target=self._refresh, args=(mode, index), daemon=True).start()
        return index

    def _refresh(self, mode: str, index: LogIndex) -> None:
        try:
            index.refresh()
        except Exception:
            logging.getLogger("fixtrail.api").exception("background refresh failed")
        finally:
            with self._lock:
                self._checked[mode] = time.monotonic()
                self._refreshing.discard(mode)


def get_index(
    request: Request,
    sessions: Annotated[
        str, Query(pattern="^(auto|linked|inferred)$", description="sessions as logged, inferred, or auto")
    ] = "auto",
) -> LogIndex:
    """The app's index in the asked session mode (tests override this dependency)."""
    return request.app.state.index_provider(sessions)


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
