"""Longer fault runs (``make soak``): the fault suite's checks, many more times. Not in ``make test``."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from backend.script_logger import ScriptLogger
from loaders.analysis import metrics
from loaders.store.index import LogIndex
from tests.test_faults import ENV, ORIGINAL_WRITER_SCRIPT, WRITER_SCRIPT, _all_json_parses, _kill_writer_repeatedly

pytestmark = pytest.mark.soak


def test_writer_killed_many_times(tmp_path):
    logs = tmp_path / "logs"
    _kill_writer_repeatedly(logs, times=150, seed=11, seconds=(0.1, 0.8))
    assert _all_json_parses(logs) == []


def test_long_storm_then_exact_counts(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    ScriptLogger(logs)
    writers = [
        subprocess.Popen([sys.executable, "-c", ORIGINAL_WRITER_SCRIPT, str(logs), "600"], env=ENV) for _ in range(2)
    ] + [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT.replace("while True:", "for _ in range(300):"), str(logs)], env=ENV
        )
        for _ in range(2)
    ]
    index = LogIndex(logs, cache_dir)
    while any(w.poll() is None for w in writers):
        index.refresh()
        assert metrics.summary(index).fixed_failures <= metrics.summary(index).total_failures
    assert [w.wait() for w in writers] == [0, 0, 0, 0]
    time.sleep(2.1)
    index.refresh()
    summary = metrics.summary(index)
    assert (summary.total_failures, summary.total_successes, summary.fixed_failures) == (1800, 1800, 1800)
