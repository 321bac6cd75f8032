"""api.windows: the default window's answer is never waited for when only the minute turned."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from api.windows import Window, known_answer, windowed
from tests.conftest import AS_OF, write_record


class SlowCount:
    """A computation that counts its calls and may be held until released."""

    def __init__(self):
        self.calls: list = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, end):
        self.calls.append(end)
        self.release.wait(10)
        return f"answer for {end:%H:%M}"


def test_a_new_minute_is_answered_at_once_from_the_last_and_worked_out_behind(small_tree, index_of):
    index = index_of(small_tree)
    compute = SlowCount()
    minute = AS_OF
    assert windowed(index, "t", (1,), Window(minute, named=False), compute) == "answer for 12:00"
    assert windowed(index, "t", (1,), Window(minute, named=False), compute) == "answer for 12:00"
    assert compute.calls == [minute]

    compute.release.clear()  # the next minute's computation is held: the request must not wait for it
    next_minute = minute + timedelta(minutes=1)
    started = time.monotonic()
    assert windowed(index, "t", (1,), Window(next_minute, named=False), compute) == "answer for 12:00"
    assert time.monotonic() - started < 5
    compute.release.set()
    deadline = time.monotonic() + 10
    while windowed(index, "t", (1,), Window(next_minute, named=False), compute) != "answer for 12:01":
        assert time.monotonic() < deadline, "the new minute's answer was never worked out"
        time.sleep(0.05)
    assert compute.calls == [minute, next_minute]


def test_new_logs_or_a_named_window_are_worked_out_before_answering(small_tree, index_of):
    index = index_of(small_tree)
    compute = SlowCount()
    assert windowed(index, "t", (), Window(AS_OF, named=False), compute) == "answer for 12:00"
    write_record(small_tree, log_id="late", session_id="LATE")
    index.refresh()
    later = AS_OF + timedelta(minutes=1)
    assert windowed(index, "t", (), Window(later, named=False), compute) == "answer for 12:01"  # not the stale one
    earlier = AS_OF - timedelta(minutes=5)
    assert windowed(index, "t", (), Window(earlier, named=True), compute) == "answer for 11:55"
    assert compute.calls == [AS_OF, later, earlier]


def test_known_answer_never_works_anything_out_in_the_caller(small_tree, index_of):
    """What async routes call on the event loop: an answer already known, or None, never a computation."""
    index = index_of(small_tree)
    compute = SlowCount()
    for name, window in (("default", Window(AS_OF, named=False)), ("named", Window(AS_OF, named=True))):
        assert known_answer(index, name, (), window, compute) is None
        assert windowed(index, name, (), window, compute) == "answer for 12:00"
        assert known_answer(index, name, (), window, compute) == "answer for 12:00"
    assert compute.calls == [AS_OF, AS_OF]
