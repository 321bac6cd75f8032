"""The seed-compatible Python API: ScriptLogger round trips and LogAnalyzer's report."""

from __future__ import annotations

import json
import multiprocessing
from datetime import timedelta

from backend.log_analyzer import LogAnalyzer
from backend.script_logger import ScriptLogger
from loaders import metrics, sessions
from loaders.index import open_index
from tests.conftest import AS_OF, write_record

ORIGINAL_KEYS = {
    "generated_at",
    "summary",
    "error_patterns",
    "common_errors",
    "fix_strategies",
    "library_issues",
    "mapbridge_issues",
    "recommendations",
    "ai_learning_summary",
}
SUMMARY_KEYS = {
    "total_failures",
    "total_successes",
    "unfixed_failures",
    "fixed_failures",
    "overall_success_rate",
    "recent_success_rate_7d",
    "recent_attempts_7d",
}


def test_round_trip_fail_fail_success(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    logger = ScriptLogger(logs)
    first = logger.log_failure("import cv2\n", "No module named 'cv2'", "ModuleNotFoundError: No module named 'cv2'", 1)
    second = logger.log_failure(
        "x = y\n",
        "name 'y' is not defined",
        "NameError: name 'y' is not defined",
        1,
        session_id=first,
        previous_attempt_id=first,
    )
    success = logger.log_success(
        "x = 1\n", ["out.png"], session_id=first, previous_attempt_id=second, execution_time=0.5
    )
    assert logger.get_log(second)["fixed_by"] == success
    assert logger.get_log(first)["error_category"] == "import_error"
    session = logger.get_session(first)
    assert session["status"] == "resolved" and len(session["attempts"]) == 3
    assert logger.get_unfixed_failures() == []
    assert [r["log_id"] for r in logger.get_recent_failures(1)] == [second]
    index = open_index(logs, cache_dir)
    summary = metrics.summary(index)
    assert (summary.total_failures, summary.fixed_failures, summary.sessions) == (2, 2, 1)
    listed = sessions.sessions(index)
    assert (listed["attempts"].iloc[0], listed["status"].iloc[0]) == (3, "resolved")
    assert not list(logs.rglob("*.tmp"))


def _append_attempts(logs, session_id, count):
    logger = ScriptLogger(logs)
    for _ in range(count):
        logger.log_failure("x\n", "boom", "ValueError: boom", 1, session_id=session_id)


def test_concurrent_writers_lose_no_session_attempt(tmp_path):
    logs = tmp_path / "logs"
    ScriptLogger(logs)
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_attempts, args=(logs, "shared", 50)) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0] * 8
    session = json.loads((logs / "sessions" / "shared.json").read_text())
    assert len(session["attempts"]) == 400
    files = list(logs.glob("failures/*/*.json"))
    assert len(files) == 400
    for path in files:
        json.loads(path.read_text())


def test_analyze_all_has_every_original_key_and_saves(small_tree, cache_dir):
    analyzer = LogAnalyzer(small_tree, as_of=AS_OF)
    analysis = analyzer.analyze_all()
    assert set(analysis) >= ORIGINAL_KEYS
    assert set(analysis["summary"]) == SUMMARY_KEYS
    assert analysis["summary"]["recent_attempts_7d"] == 4
    saved = json.loads((small_tree / "analysis" / "latest_analysis.json").read_text())
    assert saved["summary"] == analysis["summary"]
    # analysis/ is output: loading again does not count it as a record.
    assert metrics.summary(open_index(small_tree, cache_dir)).total_failures == 4


def test_fixed_failure_with_import_change_does_not_crash_the_summary(tmp_path, cache_dir):
    """The original crashed here: its summary read a key its fix list did not have."""
    logs = tmp_path / "logs"
    write_record(
        logs,
        log_id="f1",
        session_id="S",
        code="import cv2\n",
        when=AS_OF - timedelta(minutes=5),
        stderr="ModuleNotFoundError: No module named 'cv2'\n",
        error_category="import_error",
    )
    write_record(
        logs,
        log_id="ok1",
        session_id="S",
        status="success",
        code="from skimage import filters\n",
        when=AS_OF,
        previous_attempt_id="f1",
    )
    analysis = LogAnalyzer(logs, as_of=AS_OF).analyze_all()
    strategy = analysis["fix_strategies"][0]
    assert strategy["error_type"] == "import_error" and strategy["fix_count"] == 1
    assert ["removed import cv2", 1] in strategy["common_changes"]
    assert (
        "import_error errors fixed by: Added imports: skimage, Removed imports: cv2" in analysis["ai_learning_summary"]
    )


def test_context_for_ai_names_the_fix(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    for n in range(3):
        write_record(
            logs,
            log_id=f"f{n}",
            session_id=f"S{n}",
            code="import cv2\n",
            when=AS_OF - timedelta(hours=n, minutes=5),
            stderr="ModuleNotFoundError: No module named 'cv2'\n",
            error_type="ModuleNotFoundError",
        )
        write_record(
            logs,
            log_id=f"ok{n}",
            session_id=f"S{n}",
            status="success",
            when=AS_OF - timedelta(hours=n),
            code="from skimage.filters import gaussian\n",
        )
    text = LogAnalyzer(logs).generate_context_for_ai(max_examples=5)
    assert "ModuleNotFoundError: No module named 'cv2'" in text
    assert (
        "Instead: Don't import cv2: it is not installed; use skimage instead (3 fixes, 100% of tries worked)." in text
    )
    assert text == LogAnalyzer(logs).generate_context_for_ai(max_examples=5)


def test_context_is_empty_without_failures(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    write_record(logs, status="success")
    assert LogAnalyzer(logs).generate_context_for_ai() == ""
