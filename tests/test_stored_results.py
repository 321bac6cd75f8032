"""Results kept per index version: computed once, shared by the next process, dropped when the tree changes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from loaders.analysis.filters import AttemptFilter
from loaders.analysis.recipes import fix_rules
from loaders.outputs.report import analysis_report
from loaders.store.index import LogIndex
from loaders.store.stored_results import remembered, stored_result
from tests.conftest import AS_OF, write_record


def _counting():
    calls = []

    def compute():
        calls.append(1)
        return {"rows": [1, 2, 3], "when": "2025-12-20T10:00:00", "rate": 0.5}

    return calls, compute


def test_a_result_is_computed_once_per_index_version_even_across_processes(small_tree, cache_dir):
    calls, compute = _counting()
    first = stored_result(LogIndex(small_tree, cache_dir), "test.thing", (AttemptFilter(),), compute)
    with LogIndex(small_tree, cache_dir, in_memory=False) as other_process:
        again = stored_result(other_process, "test.thing", (AttemptFilter(),), compute)
    assert first == again == {"rows": [1, 2, 3], "when": "2025-12-20T10:00:00", "rate": 0.5}
    assert len(calls) == 1


def test_arguments_key_the_result(small_tree, cache_dir):
    index = LogIndex(small_tree, cache_dir)
    calls, compute = _counting()
    stored_result(index, "test.thing", (AttemptFilter(),), compute)
    stored_result(index, "test.thing", (AttemptFilter(models=("model-b",)),), compute)
    stored_result(index, "test.thing", (AttemptFilter(models=("model-b",)),), compute)
    assert len(calls) == 2


def test_a_change_to_the_tree_computes_again(small_tree, cache_dir):
    index = LogIndex(small_tree, cache_dir)
    calls, compute = _counting()
    stored_result(index, "test.thing", (), compute)
    write_record(small_tree, log_id="late-1", status="success", when=AS_OF - timedelta(minutes=5))
    index.refresh()
    stored_result(index, "test.thing", (), compute)
    assert len(calls) == 2


def test_callers_cannot_change_what_the_next_caller_gets(small_tree, cache_dir):
    index = LogIndex(small_tree, cache_dir)
    _, compute = _counting()
    stored_result(index, "test.thing", (), compute)["rows"].append(99)
    assert stored_result(index, "test.thing", (), compute)["rows"] == [1, 2, 3]


def test_remembered_keeps_results_in_memory_only_until_the_tree_changes(small_tree, cache_dir):
    index = LogIndex(small_tree, cache_dir)
    calls = []
    assert remembered(index, "test.count", (), lambda: calls.append(1) or len(calls)) == 1
    assert remembered(index, "test.count", (), lambda: calls.append(1) or len(calls)) == 1
    assert remembered(LogIndex(small_tree, cache_dir), "test.count", (), lambda: calls.append(1) or len(calls)) == 2
    write_record(small_tree, log_id="late-2", status="failed", when=AS_OF - timedelta(minutes=5))
    index.refresh()
    assert remembered(index, "test.count", (), lambda: calls.append(1) or len(calls)) == 3


def test_the_report_and_the_fix_rules_are_the_same_computed_or_stored(cv2_fix_tree, cache_dir):
    computed = analysis_report(LogIndex(cv2_fix_tree, cache_dir), as_of=AS_OF)
    with LogIndex(cv2_fix_tree, cache_dir, in_memory=False) as later:
        stored = analysis_report(later, as_of=AS_OF)
        rules = fix_rules(later)
    computed.pop("generated_at"), stored.pop("generated_at")
    assert stored == computed
    assert list(stored) == list(computed)
    assert rules.iloc[0]["change"] == "cv2 -> skimage" and rules.iloc[0]["fixes"] >= 2
    assert isinstance(rules.iloc[0]["fingerprint_fixes"], dict)


def test_requests_asking_at_once_wait_for_one_computation(small_tree, cache_dir):
    index = LogIndex(small_tree, cache_dir)
    index.refresh()
    calls = []
    started = threading.Event()

    def slow():
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return {"n": len(calls)}

    with ThreadPoolExecutor(8) as pool:
        stored = list(pool.map(lambda _: stored_result(index, "test.slow", (), slow), range(8)))
        kept = list(pool.map(lambda _: remembered(index, "test.slow_memory", (), slow), range(8)))
    assert started.is_set()
    assert stored == [{"n": 1}] * 8 and kept == [{"n": 2}] * 8
    assert len(calls) == 2


def test_the_index_file_keeps_a_bounded_number_of_results_least_recently_used_first(small_tree, cache_dir):
    """Issue 29, item 16: 300 distinct filters (300 API clients' model= values) keep the file bounded."""
    from loaders.store import stored_results

    index = LogIndex(small_tree, cache_dir)
    kept_in_use = AttemptFilter(models=("favourite",))
    stored_result(index, "test.big", (kept_in_use,), lambda: {"text": "y" * 7000})
    for number in range(300):
        stored_result(index, "test.big", (AttemptFilter(models=(f"m{number}" * 700,)),), lambda: {"text": "x" * 7000})
        if number % 50 == 0:  # another process asks for the favourite now and then: it stays in use
            with LogIndex(small_tree, cache_dir, in_memory=False) as other:
                stored_result(other, "test.big", (kept_in_use,), lambda: {"text": "recomputed"})
    with index.index_file() as connection:
        rows, size = connection.execute("SELECT count(*), sum(strlen(payload)) FROM idx.stored_results").fetchone()
        favourite = connection.execute(
            "SELECT count(*) FROM idx.stored_results WHERE args = ?", [repr((kept_in_use,))]
        ).fetchone()[0]
    assert rows <= stored_results.STORED_ENTRIES and size <= stored_results.STORED_MAX_BYTES
    assert favourite == 1
    with LogIndex(small_tree, cache_dir, in_memory=False) as other:
        assert stored_result(other, "test.big", (kept_in_use,), lambda: {"text": "recomputed"})["text"] == "y" * 7000
