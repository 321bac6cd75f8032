"""The seed-compatible Python API: ScriptLogger round trips and faults, and LogAnalyzer's report."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import multiprocessing
import os
import uuid
from datetime import timedelta

import pytest

from backend import script_logger
from backend.log_analyzer import LogAnalyzer
from backend.script_logger import ScriptLogger
from loaders.analysis import metrics, sessions
from loaders.ingest.records import parse_json_object
from loaders.store.index import open_index
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


def _files_and_dirs(logs):
    """Everything under the tree, as relative paths, except the session lock file."""
    return sorted(str(p.relative_to(logs)) for p in logs.rglob("*") if p.name != ".lock")


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == script_logger.__name__ and r.levelno == logging.WARNING]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_files_follow_the_umask(tmp_path, umask, mode):
    """A dashboard running as another user must be able to read what the writer wrote."""
    logs = tmp_path / "logs"
    previous = os.umask(umask)
    try:
        logger = ScriptLogger(logs)
        failure = logger.log_failure("x\n", "boom", "ValueError: boom", 1)
        success = logger.log_success("x\n", ["out.png"], session_id=failure, previous_attempt_id=failure)
    finally:
        os.umask(previous)
    written = [*logs.glob(f"failures/*/{failure}.json"), *logs.glob(f"successes/*/{success}.json")]
    written.append(logs / "sessions" / f"{failure}.json")
    assert logger.get_log(failure)["fixed_by"] == success  # the failure file was rewritten, mode too
    assert [oct(path.stat().st_mode & 0o777) for path in written] == [oct(mode)] * 3


ODD_SESSION_IDS = {
    "space": "with space",
    "guid": "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}",
    "at": "user@example.org",
    "non-ascii": "séance-日本語",
    "hidden": ".hidden",
    "128 ascii": "x" * 128,
    "128 bytes": "é" * 64,  # the limit is in UTF-8 bytes
}


@pytest.mark.parametrize("session_id", ODD_SESSION_IDS.values(), ids=ODD_SESSION_IDS.keys())
def test_session_ids_safe_as_a_file_name_round_trip(tmp_path, session_id):
    logs = tmp_path / "logs"
    logger = ScriptLogger(logs)
    failure = logger.log_failure("x\n", "boom", "ValueError: boom", 1, session_id=session_id)
    success = logger.log_success("x\n", ["out.png"], session_id=session_id, previous_attempt_id=failure)
    session = json.loads((logs / "sessions" / f"{session_id}.json").read_text(encoding="utf-8"))
    assert session["session_id"] == session_id
    assert [a["log_id"] for a in session["attempts"]] == [failure, success]
    assert session["status"] == "resolved"
    assert logger.get_session(session_id) == session
    assert logger.get_log(failure)["session_id"] == logger.get_log(success)["session_id"] == session_id
    assert logger.get_log(failure)["fixed_by"] == success


def test_odd_session_ids_load_in_the_index(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    logger = ScriptLogger(logs)
    # Readers skip hidden files, so the session file of ".hidden" is not read (its records are).
    visible = [session_id for session_id in ODD_SESSION_IDS.values() if not session_id.startswith(".")]
    for session_id in visible:
        first = logger.log_failure("x\n", "boom", "ValueError: boom", 1, session_id=session_id)
        logger.log_success("x\n", ["out.png"], session_id=session_id, previous_attempt_id=first)
    listed = sessions.sessions(open_index(logs, cache_dir)).set_index("session_id")
    assert sorted(listed.index) == sorted(visible)
    assert set(listed["attempts"]) == {2}
    assert set(listed["status"]) == {"resolved"}
    assert listed["has_session_file"].all()
    assert set(listed["file_status"]) == {"resolved"}


UNSAFE_SESSION_IDS = {
    "slash": "a/b",
    "backslash": "a\\b",
    "dot": ".",
    "dot-dot": "..",
    "129 ascii": "x" * 129,
    "130 bytes": "é" * 65,  # 65 characters
    "200 ascii": "x" * 200,
    "nul": "a\x00b",
    "lone surrogate": "a\udc80",  # not text: it cannot be written as a UTF-8 file name
}


@pytest.mark.parametrize("session_id", UNSAFE_SESSION_IDS.values(), ids=UNSAFE_SESSION_IDS.keys())
@pytest.mark.parametrize("status", ["failed", "success"])
def test_unsafe_session_ids_are_refused_before_anything_is_written(tmp_path, session_id, status):
    logs = tmp_path / "logs"
    logger = ScriptLogger(logs)
    before = _files_and_dirs(logs)
    with pytest.raises(ValueError, match="session_id"):
        if status == "failed":
            logger.log_failure("x\n", "boom", "ValueError: boom", 1, session_id=session_id)
        else:
            logger.log_success("x\n", ["out.png"], session_id=session_id)
    assert before == ["analysis", "failures", "sessions", "successes"]
    assert _files_and_dirs(logs) == before
    assert logger.get_session(session_id) is None


def test_a_full_disk_during_the_session_rewrite_still_logs_the_attempt(tmp_path, monkeypatch, caplog):
    logs = tmp_path / "logs"
    logger = ScriptLogger(logs)
    write_anything = script_logger.write_json_atomically

    def full_disk_for_sessions(path, data):
        if path.parent == logger.sessions_dir:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        write_anything(path, data)

    monkeypatch.setattr(script_logger, "write_json_atomically", full_disk_for_sessions)
    failure = logger.log_failure("x\n", "boom", "ValueError: boom", 1)
    success = logger.log_success("x\n", ["out.png"], session_id=failure, previous_attempt_id=failure)
    assert logger.get_log(failure)["log_id"] == failure
    assert logger.get_log(failure)["fixed_by"] == success
    assert logger.get_log(success)["session_id"] == failure
    assert not (logs / "sessions" / f"{failure}.json").exists()
    assert not list(logs.rglob("*.tmp"))
    messages = _warnings(caplog)
    assert len(messages) == 2
    assert all("No space left on device" in m and "session file" in m for m in messages)
    assert failure in messages[0] and success in messages[1]


def test_a_failed_directory_fsync_after_the_rename_still_returns_the_log_id(tmp_path, monkeypatch, caplog):
    """Raising would make the caller log the attempt again: its file is already in place."""
    logs = tmp_path / "logs"
    logger = ScriptLogger(logs)

    def broken_fsync(directory):
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(directory))

    monkeypatch.setattr(script_logger, "_fsync_directory", broken_fsync)
    failure = logger.log_failure("x\n", "boom", "ValueError: boom", 1)
    assert logger.get_log(failure)["log_id"] == failure
    assert len(list(logs.glob("failures/*/*.json"))) == 1
    assert any(failure in m and "fsync" in m for m in _warnings(caplog))


def test_a_deeply_nested_previous_failure_does_not_stop_the_success(tmp_path, caplog):
    logs = tmp_path / "logs"
    logger = ScriptLogger(logs)
    previous = str(uuid.uuid4())
    deep = logs / "failures" / "2025-12-20" / f"{previous}.json"
    deep.parent.mkdir()
    content = b"[" * 100_000 + b"]" * 100_000
    deep.write_bytes(content)
    success = logger.log_success("x\n", ["out.png"], previous_attempt_id=previous)
    assert logger.get_log(success)["previous_attempt_id"] == previous
    assert deep.read_bytes() == content
    assert any(previous in m and "fixed_by" in m for m in _warnings(caplog))


def test_lone_surrogates_are_written_as_text_every_reader_parses(tmp_path, cache_dir):
    """Undecodable bytes of a script's output arrive as lone surrogates, which UTF-8 cannot hold.

    Their JSON escape (``"\\udc80"``) is refused by strict parsers, the index's orjson among them,
    so each is written as the six characters ``\\udc80``.
    """
    logs = tmp_path / "logs"
    logger = ScriptLogger(logs)
    failure = logger.log_failure(
        "print('\udc80 é')\n",
        "bad byte \udc80",
        "ValueError: bad byte \udc80\ud800 é",
        1,
        stdout="\udcff",
        user_prompt="blur é",
    )
    raw = next(logs.glob("failures/*/*.json")).read_bytes()
    record = json.loads(raw.decode("utf-8"))
    assert record == parse_json_object(raw)
    assert record["code"] == "print('\\udc80 é')\n"
    assert record["error_message"] == "bad byte \\udc80"
    assert record["stderr"] == "ValueError: bad byte \\udc80\\ud800 é"
    assert record["stdout"] == "\\udcff"
    assert "blur é".encode() in raw  # other text stays as written (ensure_ascii=False)
    assert record["code_hash"] == hashlib.md5(record["code"].strip().encode()).hexdigest()[:16]
    summary = metrics.summary(open_index(logs, cache_dir))
    assert (summary.total_failures, summary.skipped_files) == (1, 0)
    assert logger.get_log(failure)["stderr"] == record["stderr"]


UNPARSEABLE_SESSION_FILES = {
    "torn": b'{"session_id": "S", "attempts": [{"log_id": "a1", "status": "fai',
    "empty": b"",
    "not an object": b'[{"log_id": "a1"}]',
    "attempts not a list": b'{"session_id": "S", "attempts": "a1"}',
    "not UTF-8": '{"session_id": "S", "note": "é"}'.encode("latin-1"),
    "deeply nested": b'{"attempts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("content", UNPARSEABLE_SESSION_FILES.values(), ids=UNPARSEABLE_SESSION_FILES.keys())
def test_an_unparseable_session_file_is_kept_aside(tmp_path, caplog, content):
    logs = tmp_path / "logs"
    logger = ScriptLogger(logs)
    session_file = logs / "sessions" / "S.json"
    session_file.write_bytes(content)
    attempt = logger.log_failure("x\n", "boom", "ValueError: boom", 1, session_id="S")
    aside = list(logs.glob("sessions/S.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert not aside[0].name.endswith(".json")  # readers list only *.json
    session = json.loads(session_file.read_text(encoding="utf-8"))
    assert [a["log_id"] for a in session["attempts"]] == [attempt]
    assert any(aside[0].name in m for m in _warnings(caplog))


def test_a_later_success_in_the_session_fixes_a_failure_as_documented(tmp_path, cache_dir):
    logger = ScriptLogger(tmp_path / "logs")
    assert "later success in the same session" in ScriptLogger.get_unfixed_failures.__doc__
    early_success = logger.log_success("x = 1\n", ["o.png"])
    after_success = logger.log_failure(
        "1/0\n", "division by zero", "ZeroDivisionError: division by zero\n", 1, session_id=early_success
    )
    fixed_later = logger.log_failure("x = y\n", "name 'y' is not defined", "NameError: name 'y'\n", 1)
    logger.log_success("x = 2\n", ["o.png"], session_id=fixed_later)  # no previous_attempt_id: no fixed_by
    assert logger.get_log(fixed_later)["fixed_by"] is None
    assert [r["log_id"] for r in logger.get_unfixed_failures()] == [after_success]
    summary = metrics.summary(open_index(tmp_path / "logs", cache_dir))
    assert (summary.unfixed_failures, summary.fixed_failures) == (1, 1)


def test_log_analyzer_keeps_the_original_attributes_and_summary_method(small_tree, cache_dir):
    analyzer = LogAnalyzer(small_tree, as_of=AS_OF)
    assert analyzer.failures_dir == small_tree / "failures" and analyzer.successes_dir == small_tree / "successes"
    assert analyzer.sessions_dir == small_tree / "sessions" and analyzer.analysis_dir == small_tree / "analysis"
    summary_text = analyzer._generate_ai_summary()
    assert summary_text == analyzer.analyze_all()["ai_learning_summary"]
    assert "No module named 'cv2'" in summary_text and summary_text.endswith("=== END LEARNINGS ===")
