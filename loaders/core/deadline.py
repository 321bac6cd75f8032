"""One overall deadline for a network call, whatever the other side does.

Client libraries time out one read at a time: a server that sends a byte every two seconds keeps a
call alive for good (a webhook receiver held ``check --timeout 3`` for 120 s, an S3 object held a
load for 240 s). ``within_deadline`` runs the call in a daemon thread and stops waiting when the
deadline passes: the caller gets DeadlineExceeded, ``on_timeout`` may cut the connection so that the
thread ends, and a thread that is still stuck never keeps the process from exiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")


class DeadlineExceeded(TimeoutError):
    """The call did not finish within its deadline; the message says what and how long."""


def within_deadline(
    call: Callable[[], Result], seconds: float, what: str, on_timeout: Callable[[], None] | None = None
) -> Result:
    """``call()``'s result, or its exception, if it ends within ``seconds``; else DeadlineExceeded
    ("``what`` took longer than N s"), after ``on_timeout()`` (which must not raise)."""
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append((False, exc))

    worker = threading.Thread(target=run, daemon=True, name="deadline")
    worker.start()
    worker.join(seconds)
    if not outcome:
        if on_timeout is not None:
            on_timeout()
        raise DeadlineExceeded(f"{what} took longer than {seconds:g} s")
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[return-value]
    raise value  # type: ignore[misc]
