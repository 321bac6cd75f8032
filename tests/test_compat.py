"""A client of the original keeps working: its REST shapes, its analyzer, its CLI habits.

The original's response shapes are stated here (keys and types, as the issue that asked for them
lists them) and every route and every CLI command is checked against them, on a tree written by the
original's writer (backend.script_logger, its format) with known contents.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import NoneType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.server import create_app
from backend.log_analyzer import LogAnalyzer
from backend.script_logger import ScriptLogger
from cli.main import main as cli_main

TEXT = str
MAYBE_TEXT = (str, NoneType)
NUMBER = (int, float)

# The original API's summary: executions are attempts.
FIVE_NUMBERS = {
    "total_executions": int,
    "successful_executions": int,
    "failed_executions": int,
    "timeout_executions": int,
    "success_rate": float,
}
# The original analyzer's summary (LogAnalyzer.analyze_all()["summary"], the CLI's summary --json).
SEVEN_NUMBERS = {
    "total_failures": int,
    "total_successes": int,
    "unfixed_failures": int,
    "fixed_failures": int,
    "overall_success_rate": NUMBER,
    "recent_success_rate_7d": NUMBER,
    "recent_attempts_7d": int,
}
# An attempt record as the writer writes it (LOG_FORMAT.md).
RECORD = {
    "log_id": TEXT,
    "session_id": TEXT,
    "timestamp": TEXT,
    "status": TEXT,
    "code": TEXT,
    "code_hash": TEXT,
    "user_prompt": MAYBE_TEXT,
    "ai_model": MAYBE_TEXT,
    "image_filename": MAYBE_TEXT,
    "error_message": MAYBE_TEXT,
    "error_type": MAYBE_TEXT,
    "stderr": MAYBE_TEXT,
    "stdout": MAYBE_TEXT,
    "return_code": (int, NoneType),
    "output_files": (list, NoneType),
    "execution_time_seconds": (*NUMBER, NoneType),
    "previous_attempt_id": MAYBE_TEXT,
    "fixed_by": MAYBE_TEXT,
    "error_category": MAYBE_TEXT,
    "tags": (list, NoneType),
}
# An item of the original's lists: its own keys (the database ones null), beside the record's.
ITEM = {
    "id": TEXT,
    "status": TEXT,
    "error_message": MAYBE_TEXT,
    "started_at": TEXT,
    "completed_at": MAYBE_TEXT,
    "user_id": NoneType,
    "script_id": NoneType,
    "script_name": NoneType,
} | {key: kind for key, kind in RECORD.items() if key not in ("error_message",)}
SESSION_FILE = {
    "session_id": TEXT,
    "created_at": TEXT,
    "attempts": [{"log_id": TEXT, "timestamp": TEXT, "status": TEXT}],
    "status": TEXT,
    "updated_at": TEXT,
}
ERROR_PATTERN = {
    "category": TEXT,
    "count": int,
    "examples": [{"log_id": TEXT, "error_message": TEXT, "timestamp": TEXT, "fixed": bool}],
}
COMMON_ERROR = {
    "error": TEXT,
    "count": int,
    "fixed_count": int,
    "fix_rate": NUMBER,
    "examples": [{"log_id": TEXT, "session_id": TEXT, "fixed": bool}],
}
LIBRARY_ISSUES = {"libraries_with_issues": [{"library": TEXT, "count": int, "errors": [dict]}]}
MAPBRIDGE_ISSUES = {
    "request_type_errors": int,
    "stdin_parsing_errors": int,
    "output_errors": int,
    "channel_errors": int,
    "other_errors": int,
    "examples": list,
}
ANALYSIS = {
    "generated_at": TEXT,
    "summary": SEVEN_NUMBERS,
    "error_patterns": [ERROR_PATTERN],
    "common_errors": [COMMON_ERROR],
    "fix_strategies": [dict],
    "library_issues": LIBRARY_ISSUES,
    "mapbridge_issues": MAPBRIDGE_ISSUES,
    "recommendations": [TEXT],
    "ai_learning_summary": TEXT,
}

# Every route of the original, with the shape it answered.
ROUTES: dict[str, dict[str, Any]] = {
    "/api/logs/summary": {"success": bool, "summary": FIVE_NUMBERS | SEVEN_NUMBERS, "generated_at": TEXT},
    "/api/logs/analysis": {
        "success": bool,
        "analysis": ANALYSIS | {"summary": FIVE_NUMBERS | SEVEN_NUMBERS, "recent_executions": [ITEM]},
    },
    "/api/logs/failures": {"success": bool, "failures": [ITEM], "count": int},
    "/api/logs/failures?unfixed_only=true": {"success": bool, "failures": [ITEM], "count": int},
    "/api/logs/successes": {"success": bool, "successes": [ITEM], "count": int},
    "/api/logs/session/{session_id}": {"success": bool, "session": SESSION_FILE, "attempts": [RECORD]},
    "/api/logs/log/{log_id}": {"success": bool, "log": RECORD},
    "/api/logs/ai-context": {"success": bool, "context": TEXT, "summary": TEXT},
    "/api/logs/error-patterns": {
        "success": bool,
        "error_patterns": [ERROR_PATTERN],
        "common_errors": [COMMON_ERROR],
        "library_issues": LIBRARY_ISSUES,
        "mapbridge_issues": MAPBRIDGE_ISSUES,
        "fingerprints": [dict],
    },
    "/api/logs/recommendations": {"success": bool, "recommendations": [TEXT], "ai_learning_summary": TEXT},
}


def mismatches(value: Any, shape: Any, where: str = "$") -> list[str]:
    """Where ``value`` differs from ``shape``: a dict of keys to shapes, ``[shape]`` for every item
    of a non-empty list, a type or a tuple of types (``bool`` is not taken for a number)."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        found = []
        for key, kind in shape.items():
            if key not in value:
                found.append(f"{where}.{key}: missing")
            else:
                found += mismatches(value[key], kind, f"{where}.{key}")
        return found
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        if not value:
            return [f"{where}: empty (the tree has items for it)"]
        return [problem for i, item in enumerate(value) for problem in mismatches(item, shape[0], f"{where}[{i}]")]
    kinds = shape if isinstance(shape, tuple) else (shape,)
    if isinstance(value, bool) and bool not in kinds:
        return [f"{where}: bool, not {kinds}"]
    return [] if isinstance(value, kinds) else [f"{where}: {type(value).__name__} {value!r:.60}, not {kinds}"]


ORIGINAL_PREFIX = "Script exited with code 1. Error: User code error: "
# 88 characters: the original cut the message at 80, prefix included, leaving 29 of them.
LONG_ERROR = "could not broadcast input array from shape (512,512,3) into shape (256,256,3) for tile 7"


@pytest.fixture(scope="module")
def written_tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tree written by the original's writer, with known numbers.

    Session A: fail, fail, success (linked, run time 2.5 s). Session B: one unfixed failure with a
    long error. Session C: a timeout failure, unfixed. Session D: a failure, then a success in the
    same session that names no previous attempt (fixed by the later success alone).
    Executions 8: 3 successful, 5 failed of which 1 timeout -> failed_executions 4, 37.5%.
    """
    logs = tmp_path_factory.mktemp("compat") / "logs"
    writer = ScriptLogger(logs)
    ids: dict[str, str] = {}
    ids["a1"] = writer.log_failure(
        "import cv2\n", "No module named 'cv2'", "ModuleNotFoundError: No module named 'cv2'\n", 1, user_prompt="blur"
    )
    ids["a2"] = writer.log_failure(
        "x = y\n",
        ORIGINAL_PREFIX + "name 'y' is not defined",
        "NameError: name 'y' is not defined\n",
        1,
        session_id=ids["a1"],
        previous_attempt_id=ids["a1"],
    )
    ids["a3"] = writer.log_success(
        "x = 1\n", ["out.png"], session_id=ids["a1"], previous_attempt_id=ids["a2"], execution_time=2.5
    )
    ids["b1"] = writer.log_failure(
        "a[:] = b\n", ORIGINAL_PREFIX + LONG_ERROR, f"ValueError: {LONG_ERROR}\n", 1, user_prompt="tile"
    )
    ids["c1"] = writer.log_failure(
        "while True: pass\n", "Execution timeout: the script ran for more than 30 s", "", -9, user_prompt="loop"
    )
    ids["d1"] = writer.log_failure("1/0\n", "division by zero", "ZeroDivisionError: division by zero\n", 1)
    ids["d2"] = writer.log_success("print(1)\n", ["o.png"], session_id=ids["d1"])
    # A plain one for the successes list.
    ids["e1"] = writer.log_success("print(2)\n", ["p.png"], execution_time=1.0)
    return {"logs": logs, "ids": ids}


@pytest.fixture
def client(written_tree, cache_dir) -> TestClient:
    return TestClient(create_app(written_tree["logs"], cache_dir, extra_hosts=("testserver",)))


def _path(route: str, ids: dict[str, str]) -> str:
    return route.format(session_id=ids["a1"], log_id=ids["b1"])


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_route_answers_the_original_shape(client, written_tree, route):
    response = client.get(_path(route, written_tree["ids"]))
    assert response.status_code == 200, response.text
    assert mismatches(response.json(), ROUTES[route]) == []
    assert response.json()["success"] is True


def test_the_original_routes_are_all_checked(client):
    spec = set(client.get("/openapi.json").json()["paths"])
    original = {route.split("?")[0] for route in ROUTES}
    assert original <= spec


def test_summary_numbers_come_from_the_logs(client):
    summary = client.get("/api/logs/summary").json()["summary"]
    assert {key: summary[key] for key in FIVE_NUMBERS} == {
        "total_executions": 8,
        "successful_executions": 3,
        "failed_executions": 4,
        "timeout_executions": 1,
        "success_rate": 37.5,
    }
    assert (summary["total_failures"], summary["unfixed_failures"], summary["fixed_failures"]) == (5, 2, 3)
    analysis = client.get("/api/logs/analysis").json()["analysis"]
    assert {key: analysis["summary"][key] for key in FIVE_NUMBERS} == {key: summary[key] for key in FIVE_NUMBERS}


def test_success_rate_is_rounded_to_two_places(tmp_path, cache_dir):
    writer = ScriptLogger(tmp_path / "logs")
    writer.log_success("print(1)\n", ["o.png"])
    for _ in range(2):
        writer.log_failure("1/0\n", "division by zero", "ZeroDivisionError: division by zero\n", 1)
    client = TestClient(create_app(tmp_path / "logs", cache_dir, extra_hosts=("testserver",)))
    assert client.get("/api/logs/summary").json()["summary"]["success_rate"] == 33.33


def test_a_timeout_is_counted_whatever_the_writer_stored(tmp_path, cache_dir):
    writer = ScriptLogger(tmp_path / "logs")
    timed_out = writer.log_failure("while True: pass\n", "Script timed out after 60 seconds", "", -9)
    assert writer.get_log(timed_out)["error_category"] == "unknown"  # the writer's keyword classifier
    writer.log_failure(
        "f(timeout=1)\n",
        "f() got an unexpected keyword argument 'timeout'",
        "TypeError: f() got an unexpected keyword argument 'timeout'\n",
        1,
    )
    client = TestClient(create_app(tmp_path / "logs", cache_dir, extra_hosts=("testserver",)))
    summary = client.get("/api/logs/summary").json()["summary"]
    assert (summary["timeout_executions"], summary["failed_executions"], summary["success_rate"]) == (1, 1, 0.0)


def test_list_items_carry_the_original_item_keys(client, written_tree):
    ids = written_tree["ids"]
    successes = {item["id"]: item for item in client.get("/api/logs/successes").json()["successes"]}
    linked = successes[ids["a3"]]
    started = datetime.fromisoformat(linked["started_at"])
    assert linked["started_at"] == linked["timestamp"] and linked["id"] == linked["log_id"]
    assert datetime.fromisoformat(linked["completed_at"]) == started + timedelta(seconds=2.5)
    assert successes[ids["d2"]]["completed_at"] is None  # no run time logged
    failures = client.get("/api/logs/failures").json()["failures"]
    assert [item["id"] for item in failures][:2] == [ids["d1"], ids["c1"]]
    assert all(item["completed_at"] is None and item["log_status"] == "failed" for item in failures)
    # The original's words: a timeout is "timeout", any other failure "error" (never Fixtrail's "failed").
    statuses = {item["id"]: item["status"] for item in failures}
    assert statuses[ids["c1"]] == "timeout" and statuses[ids["d1"]] == statuses[ids["b1"]] == "error"
    assert {item["status"] for item in successes.values()} == {"success"}
    assert all(item[key] is None for item in failures for key in ("user_id", "script_id", "script_name"))
    unfixed = client.get("/api/logs/failures", params={"unfixed_only": "true"}).json()
    assert sorted(item["id"] for item in unfixed["failures"]) == sorted([ids["b1"], ids["c1"]])
    assert unfixed["count"] == 2


@pytest.mark.parametrize(("limit", "failures", "successes"), [(0, 1, 1), (-5, 1, 1), (5000, 5, 3)])
def test_out_of_range_limits_are_clamped_not_refused(client, limit, failures, successes):
    for key, count in (("failures", failures), ("successes", successes)):
        response = client.get(f"/api/logs/{key}", params={"limit": limit})
        assert response.status_code == 200, response.text
        assert response.json()["count"] == len(response.json()[key]) == count


def test_session_is_the_session_file_as_written(client, written_tree):
    ids = written_tree["ids"]
    body = client.get(f"/api/logs/session/{ids['a1']}").json()
    written = json.loads((written_tree["logs"] / "sessions" / f"{ids['a1']}.json").read_text())
    assert body["session"] == written
    assert body["session"]["status"] == "resolved"
    assert [a["log_id"] for a in body["attempts"]] == [ids["a1"], ids["a2"], ids["a3"]]
    assert body["attempts"][0]["code"] == "import cv2\n"  # full records
    assert (body["attempt_count"], body["missing_attempt_ids"]) == (3, [])
    in_progress = client.get(f"/api/logs/session/{ids['b1']}").json()["session"]
    assert in_progress["status"] == "in_progress"


@pytest.mark.parametrize("session_id", ["nope", "a%5Cb", "x" * 200, "%2E%2E", "..%2Fsessions"])
def test_unknown_and_badly_formed_sessions_answer_the_original_error(client, session_id):
    response = client.get(f"/api/logs/session/{session_id}")
    assert response.status_code == 404
    assert response.json()["error"] == "Session not found"


def test_ai_context_has_the_learning_summary_and_clamps_max_examples(client, written_tree):
    body = client.get("/api/logs/ai-context", params={"max_examples": 5000}).json()
    analyzer = LogAnalyzer(written_tree["logs"])
    assert body["summary"] == analyzer._generate_ai_summary()
    assert body["summary"].startswith("=== SCRIPT GENERATION LEARNINGS FROM EXECUTION LOGS ===")
    assert "Seen 1 time in 1 session" in body["context"]
    assert client.get("/api/logs/ai-context", params={"max_examples": -3}).json()["context"] == ""


def test_common_error_examples_say_whether_they_were_fixed(client, written_tree):
    ids = written_tree["ids"]
    common = client.get("/api/logs/error-patterns").json()["common_errors"]
    fixed = {example["log_id"]: example["fixed"] for error in common for example in error["examples"]}
    assert fixed[ids["a2"]] is True and fixed[ids["d1"]] is True and fixed[ids["b1"]] is False


def test_root_points_to_the_docs_and_the_docs_need_no_cdn(client):
    root = client.get("/").json()
    assert root["docs"] == "/docs" and "/api/logs/summary" in root["endpoints"]
    page = client.get("/docs").text
    assert "cdn" not in page.lower() and "https://" not in page
    scripts = [part.split('"')[0] for part in page.split('src="')[1:]]
    styles = [part.split('"')[0] for part in page.split('href="')[1:]]
    assert scripts and styles
    for asset in scripts + styles:
        served = client.get(asset)
        assert served.status_code == 200 and len(served.content) > 1000, asset
    assert "SwaggerUIBundle" in client.get(scripts[0]).text


BRIDGE_SCRIPT = (
    "import numpy as np\nfrom MapsBridge import MapsBridge\nbridge = MapsBridge.FromStdIn()\n"
    "image = bridge.LoadImage('tile.png')\nrgb = np.asarray(image)\n"
)


def test_a_logged_session_merged_into_an_inferred_one_keeps_its_attempt(tmp_path, cache_dir, capsys):
    """The original's published tree: every attempt alone in a session of its own id."""
    logs = tmp_path / "logs"
    writer = ScriptLogger(logs)
    chains = []
    for n in range(8):  # 8 retries of one task each: 24 unlinked attempts, so sessions are inferred
        task = {"user_prompt": f"Blur tile {n}", "image_filename": f"t{n}.png", "ai_model": "m"}
        chains.append(
            [
                writer.log_failure(
                    BRIDGE_SCRIPT + "out = rgb_array * 2\n",
                    "name 'rgb_array' is not defined",
                    "NameError: name 'rgb_array' is not defined\n",
                    1,
                    **task,
                ),
                writer.log_failure(
                    BRIDGE_SCRIPT + "out = rgb.blur()\n",
                    "'ndarray' object has no attribute 'blur'",
                    "AttributeError: 'numpy.ndarray' object has no attribute 'blur'\n",
                    1,
                    **task,
                ),
                writer.log_success(BRIDGE_SCRIPT + "out = rgb * 2\n", ["o.png"], **task),
            ]
        )
    client = TestClient(create_app(logs, cache_dir, extra_hosts=("testserver",)))
    first, second, third = chains[3]
    body = client.get(f"/api/logs/session/{second}").json()
    assert body["sessions_inferred"] is True
    assert body["inferred_session_ids"] == [first]  # merged into the session inferred from the first attempt
    assert body["inferred_attempt_ids"] == [first, second, third]
    assert [a["log_id"] for a in body["attempts"]] == [second]  # never []
    assert body["session"]["session_id"] == second and body["session"]["status"] == "in_progress"
    assert [a["log_id"] for a in client.get(f"/api/logs/session/{third}").json()["attempts"]] == [third]
    assert client.get(f"/api/logs/session/{third}").json()["session"]["status"] == "resolved"
    # The CLI shows Fixtrail's (inferred) session for it: the whole chain.
    status, out, _ = run(capsys, "session", second, "--logs-dir", str(logs))
    assert status == 0 and "Attempts: 3" in out
    assert [line.split()[-1] for line in out.splitlines() if "Log ID:" in line] == [first, second, third]


def test_an_attempt_id_names_its_session(client, written_tree):
    ids = written_tree["ids"]
    body = client.get(f"/api/logs/session/{ids['a2']}").json()
    assert body["session"]["session_id"] == ids["a1"] and body["session"]["status"] == "resolved"
    assert [a["log_id"] for a in body["attempts"]] == [ids["a1"], ids["a2"], ids["a3"]]
    prefix = client.get(f"/api/logs/session/{ids['a1'][:8]}")
    assert (prefix.status_code, prefix.json()["error"]) == (404, "Session not found")  # exact ids only


# The CLI: every command, as the original's users type them.
def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli_main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


COMMAND_TITLES = {
    "summary": "SCRIPT EXECUTION SUMMARY",
    "errors": "COMMON ERROR PATTERNS",
    "recommendations": "RECOMMENDATIONS FOR IMPROVEMENT",
    "unfixed": "UNFIXED FAILURES",
    "context": "AI CONTEXT (For Improving Script Generation)",
    "all": "LIBRARY-SPECIFIC ISSUES",
}
JSON_SHAPES: dict[str, Any] = {
    "summary": SEVEN_NUMBERS,
    "errors": {key: ANALYSIS[key] for key in ("error_patterns", "common_errors", "library_issues", "mapbridge_issues")},
    "recommendations": {"recommendations": [TEXT], "ai_learning_summary": TEXT},
    "unfixed": [{"log_id": TEXT, "session_id": TEXT, "timestamp": TEXT, "error_message": TEXT}],
    "context": {"context": TEXT},
    "all": ANALYSIS,
}


@pytest.mark.parametrize("command", list(COMMAND_TITLES))
def test_every_command_in_any_case_with_options_before_or_after(written_tree, cache_dir, capsys, command):
    logs = str(written_tree["logs"])
    status, before, _ = run(capsys, "--logs-dir", logs, command)
    assert status == 0 and COMMAND_TITLES[command] in before
    status, upper, _ = run(capsys, "--logs-dir", logs, command.upper())
    assert status == 0 and COMMAND_TITLES[command] in upper
    status, after, _ = run(capsys, command.capitalize(), "--json", "--logs-dir", logs)
    assert status == 0
    assert mismatches(json.loads(after), JSON_SHAPES[command]) == []


def test_session_and_export_commands(written_tree, cache_dir, capsys, tmp_path):
    logs, ids = str(written_tree["logs"]), written_tree["ids"]
    status, out, _ = run(capsys, "SESSION", ids["a1"], "--logs-dir", logs)
    assert status == 0
    records = [json.loads(p.read_text()) for p in Path(logs).rglob("*.json") if p.stem in (ids["a1"], ids["a3"])]
    stamps = {r["log_id"]: r["timestamp"] for r in records if "log_id" in r}
    assert f"   Time: {stamps[ids['a1']]}" in out and f"   Time: {stamps[ids['a3']]}" in out
    assert "1. FAILED" in out and "3. SUCCESS" in out and "NO FAILED" not in out and "OK SUCCESS" not in out
    assert "Error: name 'y' is not defined" in out  # the runner's prefix dropped
    status, out, _ = run(capsys, "session", ids["a1"], "--json", "--logs-dir", logs)
    assert status == 0 and [a["log_id"] for a in json.loads(out)["attempts"]] == [ids["a1"], ids["a2"], ids["a3"]]
    target = tmp_path / "export.json"
    status, out, _ = run(capsys, "EXPORT", str(target), "--logs-dir", logs)
    assert status == 0 and mismatches(json.loads(target.read_text()), ANALYSIS) == []


def test_json_times_keep_their_microseconds(written_tree, cache_dir, capsys):
    logs, ids = str(written_tree["logs"]), written_tree["ids"]
    status, out, _ = run(capsys, "unfixed", "--json", "--logs-dir", logs)
    assert status == 0
    written = {p.stem: json.loads(p.read_text())["timestamp"] for p in (Path(logs) / "failures").rglob("*.json")}
    rows = {row["log_id"]: row["timestamp"] for row in json.loads(out)}
    assert rows == {ids["b1"]: written[ids["b1"]], ids["c1"]: written[ids["c1"]]}


def test_text_says_one_time_never_fixed_once_and_the_whole_error(written_tree, cache_dir, capsys):
    logs = str(written_tree["logs"])
    _, context, _ = run(capsys, "context", "--logs-dir", logs)
    assert "Seen 1 time in 1 session" in context and "Seen 1 times" not in context
    _, errors, _ = run(capsys, "errors", "--logs-dir", logs)
    assert "To fix: never fixed" in errors and "never fixed, never fixed" not in errors
    _, unfixed, _ = run(capsys, "unfixed", "--logs-dir", logs)
    assert f"   Error: {LONG_ERROR}" in unfixed.splitlines()
    assert "Error: Script exited with code" not in unfixed


def test_no_arguments_prints_the_help_and_exits_1(capsys):
    status, out, _ = run(capsys)
    assert status == 1 and "usage: analyze_logs.py" in out and "summary" in out


def test_the_analyzer_keeps_the_original_attributes(written_tree, cache_dir):
    logs = written_tree["logs"]
    analyzer = LogAnalyzer(logs)
    assert (analyzer.failures_dir, analyzer.successes_dir) == (logs / "failures", logs / "successes")
    assert (analyzer.sessions_dir, analyzer.analysis_dir) == (logs / "sessions", logs / "analysis")
    started = time.monotonic()
    assert analyzer._generate_ai_summary() == analyzer.analyze_all()["ai_learning_summary"]
    assert time.monotonic() - started < 60


def test_clear_answers_in_the_original_shape_and_deletes_nothing(client, written_tree):
    files = sorted(Path(written_tree["logs"]).rglob("*.json"))
    response = client.post("/api/logs/clear")
    assert response.status_code == 403
    body = response.json()
    assert body["success"] is False and body["error"].startswith("Fixtrail never deletes logs")
    assert sorted(Path(written_tree["logs"]).rglob("*.json")) == files


def test_the_writer_writes_text_where_the_original_wrote_text(tmp_path):
    """The original analyzer fails on null error_message or stderr: Fixtrail's writer never writes them."""
    log_id = ScriptLogger(tmp_path).log_failure("print(1/0)", None, None, 1)
    record = json.loads(next(tmp_path.glob(f"failures/*/{log_id}.json")).read_text())
    assert record["error_message"] == "" and record["stderr"] == ""


def test_the_cli_finds_its_tree_and_says_when_it_shows_the_demo(tmp_path, small_tree, cache_dir):
    """--logs-dir, then $FIXTRAIL_LOGS_DIR, then ./logs; elsewhere than the clone a clear error; in the
    clone the bundled demo tree is said to be the demo."""
    import os
    import subprocess
    import sys

    clone = Path(__file__).resolve().parents[1]
    cli = [sys.executable, str(clone / "analyze_logs.py"), "--json", "summary"]
    env = {key: value for key, value in os.environ.items() if key != "FIXTRAIL_LOGS_DIR"}

    def run_in(folder: Path, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            cli, cwd=folder, env={**env, **(extra or {})}, capture_output=True, text=True, timeout=120
        )

    nowhere = tmp_path / "elsewhere"  # tmp_path itself holds small_tree's logs/
    nowhere.mkdir()
    elsewhere = run_in(nowhere)
    assert elsewhere.returncode == 1 and "set FIXTRAIL_LOGS_DIR" in elsewhere.stderr
    assert "Traceback" not in elsewhere.stderr
    named = run_in(nowhere, {"FIXTRAIL_LOGS_DIR": str(small_tree)})
    assert named.returncode == 0 and json.loads(named.stdout)["total_failures"] == 4 and named.stderr == ""
    demo = run_in(clone)
    assert demo.returncode == 0 and "note: showing the demo logs bundled with Fixtrail" in demo.stderr


def test_library_issues_keep_the_original_meaning_and_blame_beside(tmp_path, cache_dir):
    """The original counted failures mentioning (using) a library; Fixtrail's blame goes in ``blamed``."""
    from loaders.outputs.sections import library_report
    from loaders.store.index import LogIndex
    from tests.conftest import write_record

    logs = tmp_path / "logs"
    write_record(logs, log_id="n1", tags=["lib:numpy"], code="import numpy\n")  # a NameError: not numpy's fault
    write_record(
        logs,
        log_id="n2",
        tags=["lib:numpy"],
        code="import numpy\n",
        error_message="No module named 'numpy'",
        stderr="ModuleNotFoundError: No module named 'numpy'\n",
    )
    libraries = {lib["library"]: lib for lib in library_report(LogIndex(logs, cache_dir))["libraries_with_issues"]}
    assert libraries["numpy"]["count"] == 2 and libraries["numpy"]["blamed"] == 1
    assert sorted(e["log_id"] for e in libraries["numpy"]["errors"]) == ["n1", "n2"]
    assert [e["log_id"] for e in libraries["numpy"]["blamed_errors"]] == ["n2"]
