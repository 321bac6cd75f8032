"""The 7-day window of a request, and answers for the default window that never make a client wait.

A request that names no ``as_of`` gets the window ending at the end of the current minute, so the
answers of one minute are shared. When the minute turns while the logs stay the same, the answer
worked out for the last minute is sent at once and the new minute's is worked out in the
background (at 100,000 sessions ``/analysis`` takes about a second to work out: without this,
every request of the first second of each minute would wait for it). When the logs change, the
next request waits for the new answer: new logs show at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fastapi.concurrency import run_in_threadpool

from loaders.store.index import LogIndex
from loaders.store.stored_results import recalled, remembered

Answer = TypeVar("Answer")
LATEST_ENTRIES = 128  # (index, route, arguments) whose latest default-window answer is kept


@dataclass(frozen=True)
class Window:
    """The end of a request's 7-day window, and whether the client named it (``?as_of=``)."""

    end: datetime
    named: bool
    rule: str = "as given"  # why it ends there (loaders.analysis.metrics.Window.rule)


_latest: OrderedDict[tuple[int, str, str], tuple[str, datetime, Any]] = OrderedDict()
_working: set[tuple[int, str, str]] = set()
_lock = threading.Lock()


def windowed(index: LogIndex, name: str, args: tuple, window: Window, compute: Callable[[datetime], Answer]) -> Answer:
    """``compute(window.end)``, kept per index state and arguments (``remembered``).

    For the default window, the latest answer of the same index state is returned at once even
    when its minute has passed; the new minute's answer is then worked out in a background thread.
    """
    answer = known_answer(index, name, args, window, compute)
    if answer is not None:
        return answer
    answer = remembered(index, name, (*args, window.end), lambda: compute(window.end))
    if not window.named:
        _keep(_latest_key(index, name, args), index.state_token, window.end, answer)
    return answer


def known_answer(
    index: LogIndex, name: str, args: tuple, window: Window, compute: Callable[[datetime], Answer]
) -> Answer | None:
    """What ``windowed`` would return without working anything out in this thread, else None.

    Never waits (safe on the event loop); may start the background work of a new minute.
    """
    if window.named:
        return recalled(index, name, (*args, window.end))
    key = _latest_key(index, name, args)
    state = index.state_token
    with _lock:
        known = _latest.get(key)
        if known is None or known[0] != state or known[1] > window.end:
            return None
        if known[1] < window.end and key not in _working:
            _working.add(key)
            thread = threading.Thread(target=_work_out, args=(index, name, args, key, window.end, compute), daemon=True)
            thread.start()
    return known[2]


async def window_answer(
    index: LogIndex, name: str, args: tuple, window: Window, compute: Callable[[datetime], Answer]
) -> Answer:
    """``windowed`` for an async route: answered on the event loop when known, else in a worker thread."""
    answer = known_answer(index, name, args, window, compute)
    if answer is not None:
        return answer
    return await run_in_threadpool(windowed, index, name, args, window, compute)


def _work_out(
    index: LogIndex, name: str, args: tuple, key: tuple[int, str, str], end: datetime, compute: Callable
) -> None:
    """Work out the answer of a window that has just begun (a background thread) and keep it as the latest."""
    try:
        state = index.state_token
        _keep(key, state, end, remembered(index, name, (*args, end), lambda: compute(end)))
    except Exception:  # the next request works it out in its own thread, where errors are answered
        with _lock:
            _latest.pop(key, None)
    finally:
        with _lock:
            _working.discard(key)


def _latest_key(index: LogIndex, name: str, args: tuple) -> tuple[int, str, str]:
    """Where the latest default-window answer of a route and its arguments is kept in ``_latest``."""
    return (id(index), name, repr(args))


def _keep(key: tuple[int, str, str], state: str, end: datetime, answer: Any) -> None:
    with _lock:
        known = _latest.get(key)
        if known is not None and known[0] == state and known[1] > end:
            return  # a later window's answer is already kept
        _latest[key] = (state, end, answer)
        _latest.move_to_end(key)
        while len(_latest) > LATEST_ENTRIES:
            _latest.popitem(last=False)
