"""Errors, unfixed failures, sessions and drill-down on the small tree."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from loaders.analysis import attempts, errors, sessions
from loaders.analysis.filters import AttemptFilter
from tests.conftest import AS_OF, write_record


def test_error_categories_derived_and_stored(small_tree, index_of):
    index = index_of(small_tree)
    derived = errors.error_categories(index).set_index("category")
    assert derived.loc["name_error", "count"] == 2
    assert derived.loc["name_error", "fixed_share"] == 100.0
    assert derived.loc["import_error", "unfixed"] == 1
    assert derived["share"].sum() == pytest.approx(100.0)
    stored = errors.error_categories(index, which="stored").set_index("category")
    assert stored.loc["unknown", "count"] == 2


def test_top_errors_group_by_key_line(small_tree, index_of):
    top = errors.top_errors(index_of(small_tree)).set_index("error")
    name_error = top.loc["NameError: name 'x' is not defined"]
    assert (name_error["count"], name_error["fixed_count"], name_error["fix_rate"]) == (2, 2, 100.0)
    assert list(name_error["example_sessions"]) == ["S1", "S1"]
    assert top.loc["ModuleNotFoundError: No module named 'cv2'", "fix_rate"] == 0.0


def test_library_issues_blame_only_the_library_at_fault(small_tree, index_of):
    libraries = errors.library_issues(index_of(small_tree)).set_index("library")
    assert libraries.loc["cv2", "failures"] == 1
    assert libraries.loc["cv2", "import_failures"] == 1
    assert list(libraries.loc["cv2", "example_errors"]) == ["ModuleNotFoundError: No module named 'cv2'"]
    # Every attempt uses numpy, yet no error names it, fails to import it or fails inside it.
    assert "numpy" not in libraries.index


def test_library_blame_by_name_frame_or_import_with_usage_beside(tmp_path, index_of):
    logs = tmp_path / "logs"
    code = "import numpy as np\nimport scipy\nfrom MapsBridge import MapsBridge\n"
    frame = '  File "/usr/lib/python3/site-packages/scipy/ndimage/_filters.py", line 9, in gaussian_filter\n'
    write_record(logs, log_id="named", code=code, stderr="AttributeError: module 'numpy' has no attribute 'bogus'\n")
    write_record(logs, log_id="frame", code=code, stderr=f"Traceback:\n{frame}RuntimeError: sigma too big\n")
    write_record(logs, log_id="mine", code=code, stderr="NameError: name 'x' is not defined\n")
    write_record(logs, log_id="ok", code=code, status="success")
    libraries = errors.library_issues(index_of(logs)).set_index("library")
    assert dict(libraries["failures"]) == {"numpy": 1, "scipy": 1}
    assert libraries.loc["numpy", "example_errors"][0] == "AttributeError: module 'numpy' has no attribute 'bogus'"
    assert libraries.loc["scipy", "example_errors"][0] == "RuntimeError: sigma too big"
    assert libraries.loc["numpy", "attempts"] == 4 and libraries.loc["numpy", "usage_share"] == 100.0
    assert libraries.loc["numpy", "failures_using"] == 3


def test_unfixed_failures_and_their_age(small_tree, index_of):
    unfixed = attempts.unfixed_failures(index_of(small_tree), as_of=AS_OF)
    assert list(unfixed["log_id"]) == ["s2-a1"]
    assert unfixed["age_hours"].iloc[0] == 48.0
    assert unfixed["category"].iloc[0] == "import_error"


def test_recent_attempts_unfixed_only(small_tree, index_of):
    index = index_of(small_tree)
    failures = attempts.recent_attempts(index, AttemptFilter(statuses=("failed",)), limit=2)
    assert list(failures["log_id"]) == ["s2-a1", "s4-a1"]
    unfixed = attempts.recent_attempts(index, AttemptFilter(statuses=("failed",)), unfixed_only=True)
    assert list(unfixed["log_id"]) == ["s2-a1"]


def test_sessions_list(small_tree, index_of):
    listed = sessions.sessions(index_of(small_tree)).set_index("session_id")
    assert sorted(listed.index) == ["S1", "S2", "S3", "S4"]
    s1 = listed.loc["S1"]
    assert (s1["attempts"], s1["failures"], s1["status"], s1["final_outcome"]) == (3, 2, "resolved", "success")
    assert s1["duration_seconds"] == 9 * 60
    assert bool(s1["has_session_file"]) and s1["missing_records"] == 0
    assert listed.loc["S2", "status"] == "unresolved"
    assert not bool(listed.loc["S2", "has_session_file"])


@pytest.mark.parametrize(
    "flt", [AttemptFilter(), AttemptFilter(statuses=("failed",)), AttemptFilter(models=("gpt-4.1-mini",))], ids=str
)
def test_a_page_of_sessions_is_those_rows_of_the_whole_list(demo_tree, index_of, flt, tmp_path):
    """A page's sessions are chosen before they are summed up: each page holds the same rows, in the
    same order, as the whole list cut at its place (missing records and the session file included)."""
    logs = tmp_path / "logs"
    shutil.copytree(demo_tree[0], logs)
    for path in sorted(logs.glob("*e*/**/*.json"))[::5]:  # a fifth of the records their session files list
        path.unlink()
    index = index_of(logs)
    whole = sessions.sessions(index, flt)
    assert len(whole) > 20 and (whole["missing_records"] > 0).any()
    for limit, offset in ((10, 0), (7, 3), (10, len(whole) - 4)):
        page = sessions.sessions(index, flt, limit=limit, offset=offset)
        assert list(page.columns) == list(whole.columns)
        assert _cells(page) == _cells(whole.iloc[offset : offset + limit]), (limit, offset)
    assert sessions.sessions(index, flt, limit=5, offset=len(whole)).empty


def _cells(frame: pd.DataFrame) -> list[list]:
    """The frame's values, a missing one as None whatever its column's type (all missing: object)."""
    return frame.astype(object).where(frame.notna(), None).values.tolist()


def test_session_detail_reads_full_texts_in_order(small_tree, index_of):
    detail = sessions.session_detail(index_of(small_tree), "S1")
    assert list(detail.attempts["log_id"]) == ["s1-a1", "s1-a2", "s1-a3"]
    assert [r["status"] for r in detail.records] == ["failed", "failed", "success"]
    assert "NameError" in detail.records[0]["stderr"]
    assert detail.status == "resolved"
    assert list(detail.attempts["fixed_by_effective"][:2]) == ["s1-a3", "s1-a3"]


def test_session_file_without_records_is_shown_not_failed(small_tree, index_of):
    detail = sessions.session_detail(index_of(small_tree), "S9")
    assert detail.attempts.empty
    assert detail.missing_attempt_ids == ["gone-1"]


@pytest.mark.parametrize("bad_id", ["../etc/passwd", "..", "a/b", "", "x" * 200, "a\x00b"])
def test_unsafe_ids_find_nothing(small_tree, index_of, bad_id):
    index = index_of(small_tree)
    assert attempts.attempt_record(index, bad_id) is None
    assert sessions.session_detail(index, bad_id) is None


def test_attempt_record_by_id(small_tree, index_of):
    record = attempts.attempt_record(index_of(small_tree), "s2-a1")
    assert record["code"].startswith("import cv2")


def test_code_diff_between_attempts():
    diff = sessions.code_diff("import cv2\nx = 1\n", "import skimage\nx = 1\n", "a1", "a2")
    assert "-import cv2" in diff and "+import skimage" in diff
    assert sessions.code_diff("same", "same", "a", "b") == ""


def test_fingerprints_count_time_and_attempts_to_fix(small_tree, index_of):
    marks = errors.error_fingerprints(index_of(small_tree)).set_index("example_error")
    name_error = marks.loc["NameError: name 'x' is not defined"]
    assert (name_error["count"], name_error["sessions"], name_error["fix_rate"]) == (2, 1, 100.0)
    assert name_error["mean_attempts_to_fix"] == 1.5  # attempt 1 fixed by attempt 3, attempt 2 by attempt 3
    assert name_error["mean_seconds_to_fix"] == (9 * 60 + 4 * 60) / 2
    assert list(name_error["models"]) == ["model-a"]
    cv2 = marks.loc["ModuleNotFoundError: No module named 'cv2'"]
    assert pd.isna(cv2["mean_attempts_to_fix"]) and cv2["unfixed"] == 1


def test_error_patterns_lead_with_derived_categories_and_keep_the_stored_one(small_tree, index_of):
    from loaders.outputs.sections import error_patterns

    patterns = error_patterns(index_of(small_tree))
    first = patterns[0]
    assert (first["category"], first["count"], first["stored_category"]) == ("name_error", 2, "unknown")
    assert first["stored_categories"] == {"unknown": 2}
    assert {example["stored_category"] for example in first["examples"]} == {"unknown"}
    assert "unknown" not in [pattern["category"] for pattern in patterns]
