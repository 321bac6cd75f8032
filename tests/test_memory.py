"""dashboard.memory: what a run freed is given back to the system, in the background."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from dashboard import memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")


def resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_freed_memory_is_given_back_after_a_trim_is_asked_for():
    before = resident_mib()
    blocks = [bytearray(3000) for _ in range(100_000)]  # about 300 MiB from malloc, in small blocks
    kept = blocks[::50]  # one block in 50 kept: the heap cannot shrink from its top alone
    del blocks
    grown = resident_mib()
    assert grown - before > 200
    trims = memory.trims_done()
    assert memory.trim_soon()
    deadline = time.monotonic() + 10
    while memory.trims_done() == trims and time.monotonic() < deadline:
        time.sleep(0.05)
    assert memory.trims_done() > trims
    assert resident_mib() < grown - 150, (before, grown, resident_mib())
    assert len(kept) == 2000


def test_many_asks_within_an_interval_make_one_trim():
    memory.trim_soon()
    time.sleep(0.2)
    trims = memory.trims_done()
    for _ in range(50):
        memory.trim_soon()
    time.sleep(memory.TRIM_INTERVAL_SECONDS / 2)
    assert memory.trims_done() - trims <= 1
    time.sleep(memory.TRIM_INTERVAL_SECONDS * 1.5)
    assert memory.trims_done() - trims == 1  # the fifty asks made one trim
