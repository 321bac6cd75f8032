"""What the routes are given: the up-to-date index and the filter from the query string."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from api.windows import Window
from loaders.analysis.filters import FIRST_DAY, LAST_DAY, STATUSES, AttemptFilter
from loaders.analysis.metrics import window_of
from loaders.store.index import LogIndex

REFRESH_INTERVAL_SECONDS = 1.0
REFRESH_SHARE_LIMIT = 5  # the interval is at least this many times the last refresh's duration
DATE_RANGE = f"{FIRST_DAY} to {LAST_DAY}"
# The range in /openapi.json: JSON Schema bounds numbers, not dates, so the years (1900-2999) are a pattern.
IN_RANGE = {"pattern": "^(19|2[0-9])[0-9][0-9]-"}

logger = logging.getLogger("fixtrail.api")


class IndexUnavailable(Exception):
    """The first load of a session mode failed; the message says why. The next request tries again."""


class IndexProvider:
    """Hands out the index of the tree in a session mode, kept fresh in the background.

    One LogIndex per session mode asked for. The first request of a mode waits for its load;
    after that, a request that finds the last check older than the interval starts a refresh in
    a background thread and is answered at once from the state already loaded: new files show
    within about a second, and no request waits for a refresh. The interval grows to
    REFRESH_SHARE_LIMIT times what the last refresh took, so that on a big tree (a check of
    100,000 sessions takes about 0.3 s) refreshing never takes more than a fifth of the time.
    """

    def __init__(self, logs_dir: str | os.PathLike[str], cache_dir=None, interval: float = REFRESH_INTERVAL_SECONDS):
        self.logs_dir, self.cache_dir, self.interval = logs_dir, cache_dir, interval
        self._indexes: dict[str, LogIndex] = {}
        self._checked: dict[str, float] = {}
        self._refreshing: set[str] = set()
        self._took: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, mode: str = "auto") -> LogIndex:
        with self._lock:
            index = self._indexes.get(mode)
            if index is None:
                index = self._indexes[mode] = self._load(mode)
                self._checked[mode] = time.monotonic()
            else:
                self._refresh_if_due(mode, index)
        return index

    def loaded(self, mode: str = "auto") -> LogIndex | None:
        """The mode's index if it is loaded, without waiting (for the event loop): None when it is not
        loaded yet or while another thread holds the provider (a first load)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            index = self._indexes.get(mode)
            if index is not None:
                self._refresh_if_due(mode, index)
            return index
        finally:
            self._lock.release()

    def _refresh_if_due(self, mode: str, index: LogIndex) -> None:
        """Start a background refresh when the last check is older than the interval (the lock is held)."""
        if time.monotonic() - self._checked[mode] >= self.interval_for(mode) and mode not in self._refreshing:
            self._refreshing.add(mode)
            threading.Thread(target=self._refresh, args=(mode, index), daemon=True).start()

    def _load(self, mode: str) -> LogIndex:
        """The first load of a mode. On failure nothing is kept, so the next request loads again."""
        try:
            index = LogIndex(self.logs_dir, self.cache_dir, session_mode=mode)
            index.refresh()
        except Exception as exc:
            logger.exception("loading the index failed")
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise IndexUnavailable(f"the index could not be loaded: {reason}") from exc
        return index

    def interval_for(self, mode: str) -> float:
        """Seconds between two refreshes of this mode: the interval, or REFRESH_SHARE_LIMIT times the last refresh."""
        return max(self.interval, REFRESH_SHARE_LIMIT * self._took.get(mode, 0.0))

    def _refresh(self, mode: str, index: LogIndex) -> None:
        started = time.monotonic()
        try:
            index.refresh()
        except Exception:
            logger.exception("background refresh failed")
        finally:
            with self._lock:
                self._checked[mode] = time.monotonic()
                self._took[mode] = self._checked[mode] - started
                self._refreshing.discard(mode)


async def get_index(
    request: Request,
    sessions: Annotated[
        str, Query(pattern="^(auto|linked|inferred)$", description="sessions as logged, inferred, or auto")
    ] = "auto",
) -> LogIndex:
    """The app's index in the asked session mode; 503 while it cannot load.

    On the event loop when the index is loaded (no thread hop for most requests); a first load
    waits in a worker thread.
    """
    provider: IndexProvider = request.app.state.index_provider
    index = provider.loaded(sessions)
    if index is not None:
        return index
    try:
        return await run_in_threadpool(provider, sessions)
    except IndexUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc


async def get_filter(
    model: Annotated[list[str] | None, Query(description="ai_model, repeatable")] = None,
    status: Annotated[list[str] | None, Query(description="failed or success, repeatable")] = None,
    category: Annotated[list[str] | None, Query(description="derived error category, repeatable")] = None,
    tag: Annotated[list[str] | None, Query(description="tag, repeatable (any of)")] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in error or prompt")] = None,
    start: Annotated[
        date | None, Query(description=f"first day, YYYY-MM-DD ({DATE_RANGE})", json_schema_extra=IN_RANGE)
    ] = None,
    end: Annotated[
        date | None, Query(description=f"last day, YYYY-MM-DD ({DATE_RANGE})", json_schema_extra=IN_RANGE)
    ] = None,
) -> AttemptFilter:
    """The dashboard's filters, from the query string (async: run on the event loop, no thread hop)."""
    _check_day("start", start)
    _check_day("end", end)
    statuses = tuple(s for s in (status or []) if s in STATUSES)
    return AttemptFilter(start, end, tuple(model or ()), statuses, tuple(category or ()), tuple(tag or ()), q)


async def get_window(
    index: Annotated[LogIndex, Depends(get_index)],
    flt: Annotated[AttemptFilter, Depends(get_filter)],
    as_of: Annotated[
        datetime | None,
        Query(
            description=f"end of the 7-day window, ISO 8601 ({DATE_RANGE}); default as every surface ends it: the "
            "filter's end date, else the end of the current minute, or the newest record when nothing was "
            "logged in the 7 days to now",
            json_schema_extra=IN_RANGE,
        ),
    ] = None,
) -> Window:
    """The 7-day window's end: ``?as_of=`` (an offset is converted to local time), else the window every
    surface uses (loaders.analysis.metrics.window_of) with now at the end of the current minute: every
    attempt logged so far is in it, and the requests of one minute share their results (api.windows)."""
    if as_of is None:
        now = datetime.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
        default = window_of(index, flt, now)
        return Window(default.end, named=False, rule=default.rule)
    _check_day("as_of", as_of.date())
    return Window(as_of.astimezone().replace(tzinfo=None) if as_of.tzinfo else as_of, named=True)


def _check_day(name: str, day: date | None) -> None:
    """Refuse (422) a day outside FIRST_DAY..LAST_DAY: windows around it would leave the calendar."""
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": f"a date from {DATE_RANGE} is expected", "type": "value_error"}]
        )
