"""Giving the memory a script run freed back to the system.

glibc's allocator keeps what Python frees (frames, cached results' copies, the messages a run
sends) for reuse: after two tours of its pages (bench/browser_timing.py's visits) a dashboard at
100,000 sessions held 413-426 MiB without trims and 396-401 MiB with them (three runs each; its
peak, about 560 MiB, did not change). ``trim_soon()`` asks a background thread to call
``malloc_trim(0)``, at most once per TRIM_INTERVAL_SECONDS, so that no run waits for it (a trim of
a fragmented heap of a few hundred MiB takes tens of milliseconds). Elsewhere than glibc it does
nothing.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable

TRIM_INTERVAL_SECONDS = 1.0
logger = logging.getLogger("fixtrail.memory")


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library is another one."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


class _Trimmer:
    """One daemon thread that trims the heap when asked, at most once per TRIM_INTERVAL_SECONDS."""

    def __init__(self, trim: Callable[[int], int]):
        self._trim = trim
        self._asked = threading.Event()
        self.trims = 0
        threading.Thread(target=self._run, name="fixtrail-memory-trim", daemon=True).start()

    def ask(self) -> None:
        self._asked.set()

    def _run(self) -> None:
        while True:
            self._asked.wait()
            self._asked.clear()
            try:
                self._trim(0)
                self.trims += 1
            except Exception:  # never worth stopping the dashboard for
                logger.exception("malloc_trim failed")
                return
            time.sleep(TRIM_INTERVAL_SECONDS)


_trimmer: _Trimmer | None = None
_lock = threading.Lock()


def trim_soon() -> bool:
    """Ask for the freed memory to be given back soon (in a background thread); False where that cannot be done."""
    global _trimmer
    with _lock:
        if _trimmer is None:
            trim = _malloc_trim()
            if trim is None:
                return False
            _trimmer = _Trimmer(trim)
    _trimmer.ask()
    return True


def trims_done() -> int:
    """How many trims this process has made (for tests and diagnostics)."""
    return _trimmer.trims if _trimmer else 0
