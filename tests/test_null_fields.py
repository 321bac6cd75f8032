"""Any field of the log format may be null, missing or of the wrong type (issue 29, item 3).

Hypothesis writes trees in which records of both kinds have fields nulled, dropped or given a value of
another type, beside ordinary records, and every command, every route and every page runs over them
without a traceback or a 5xx. The pages run over the three extreme trees (every field null, every
field missing, every field of a wrong type): an AppTest run per page costs too much per example.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from api.server import create_app
from backend.script_logger import ScriptLogger
from cli.main import main as cli_main
from tests.conftest import AS_OF, write_record

FIELDS = (
    "log_id",
    "session_id",
    "timestamp",
    "status",
    "code",
    "code_hash",
    "user_prompt",
    "ai_model",
    "image_filename",
    "error_message",
    "error_type",
    "stderr",
    "stdout",
    "return_code",
    "output_files",
    "execution_time_seconds",
    "previous_attempt_id",
    "fixed_by",
    "error_category",
    "tags",
)
WRONG_VALUES = (0, -1, 2.5, True, "", [], ["x", 1], {"a": None}, "not a date", 10**30)
CHANGES = st.one_of(
    st.just(("null", None)), st.just(("missing", None)), st.sampled_from(WRONG_VALUES).map(lambda v: ("wrong", v))
)
RECORD_EDITS = st.tuples(
    st.sampled_from(["failures", "successes"]), st.dictionaries(st.sampled_from(FIELDS), CHANGES, max_size=len(FIELDS))
)
EVERY_FIELD_NULL = ("failures", {name: ("null", None) for name in FIELDS})
EVERY_FIELD_MISSING = ("successes", {name: ("missing", None) for name in FIELDS})
EVERY_FIELD_WRONG = (
    "failures",
    {name: ("wrong", WRONG_VALUES[i % len(WRONG_VALUES)]) for i, name in enumerate(FIELDS)},
)
COMMANDS = (
    ["summary"],
    ["errors"],
    ["recommendations"],
    ["unfixed"],
    ["context"],
    ["all"],
    ["markers"],
    ["check"],
    ["compare", "--a", "model=model-a", "--b", "start=2025-12-15"],
)
APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")
PAGES = ("overview", "errors", "unfixed", "sessions", "compare", "recommendations", "health")


def _write_tree(root: Path, edits: list[tuple[str, dict[str, tuple[str, Any]]]]) -> None:
    """Ordinary records (a fixed failure, an unfixed one, a null error_message beside them), then the edited ones."""
    first = write_record(root, log_id="plain-1", session_id="P")
    write_record(root, log_id="plain-2", session_id="P", status="success", previous_attempt_id="plain-1")
    assert first.exists()
    ScriptLogger(root).log_failure("print(1/0)", None, "ZeroDivisionError: division by zero", 1)
    for number, (folder, changes) in enumerate(edits):
        log_id = str(uuid.uuid4())
        record: dict[str, Any] = {
            "log_id": log_id,
            "session_id": f"edited-{number % 2}",
            "timestamp": (AS_OF - timedelta(hours=number + 2)).isoformat(),
            "status": "failed" if folder == "failures" else "success",
            "code": "import cv2\nprint(1)\n",
            "error_message": "Script exited with code 1. Error: boom",
            "stderr": 'Traceback (most recent call last):\n  File "s.py", line 1\nValueError: boom\n',
            "tags": ["lib:cv2"],
        }
        for name, (kind, value) in changes.items():
            if kind == "missing":
                record.pop(name, None)
            else:
                record[name] = value
        day = root / folder / "2025-12-20"
        day.mkdir(parents=True, exist_ok=True)
        (day / f"{log_id}.json").write_text(json.dumps(record), encoding="utf-8")


def _every_command(root: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("FIXTRAIL_CACHE_DIR", str(cache))
    common = ["--logs-dir", str(root), "--as-of", AS_OF.isoformat()]
    session = next(root.glob("successes/*/*.json")).stem
    for command in [*COMMANDS, ["session", session], ["export", str(cache / "out.json")]]:
        for extra in ([], ["--json"]):
            status = cli_main([*common, *command, *extra])
            captured = capsys.readouterr()
            assert status in (0, 1), (command, captured.err)
            assert "Traceback" not in captured.err, (command, captured.err)
    assert cli_main([*common, "export-evals", str(cache / "evals.jsonl")]) == 0


def _every_route(root: Path, cache: Path) -> None:
    client = TestClient(create_app(root, cache, extra_hosts=("testserver",)))
    some_id = next(root.glob("failures/*/*.json")).stem
    for path in client.get("/openapi.json").json()["paths"]:
        url = path.replace("{session_id}", some_id).replace("{log_id}", some_id)
        for query in ("", "?format=csv"):
            response = client.get(url + query)
            assert response.status_code < 500, (url, response.text[:500])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(RECORD_EDITS, min_size=1, max_size=4))
@example(edits=[EVERY_FIELD_NULL])
@example(edits=[EVERY_FIELD_MISSING])
@example(edits=[EVERY_FIELD_WRONG])
def test_every_command_and_route_survives_null_missing_and_wrong_fields(edits, monkeypatch, capsys):
    with tempfile.TemporaryDirectory() as folder:
        root, cache = Path(folder) / "logs", Path(folder) / "cache"
        _write_tree(root, edits)
        _every_command(root, cache, monkeypatch, capsys)
        _every_route(root, cache)


@pytest.fixture(scope="module")
def extreme_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("extreme") / "logs"
    _write_tree(root, [EVERY_FIELD_NULL, EVERY_FIELD_MISSING, EVERY_FIELD_WRONG])
    return root


@pytest.mark.parametrize("page", PAGES)
def test_every_page_survives_null_missing_and_wrong_fields(extreme_tree, cache_dir, monkeypatch, page):
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(extreme_tree))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title


def test_the_report_keeps_a_failure_with_a_null_error_message(tmp_path, cache_dir, capsys):
    """The issue's own case: the failure is counted and listed, its message empty, not a TypeError."""
    logger = ScriptLogger(tmp_path / "logs")
    log_id = logger.log_failure("print(1/0)", None, "ZeroDivisionError: division by zero", 1)
    logger.log_failure("import x", "No module named x", "ModuleNotFoundError: No module named 'x'\n", 1)
    assert cli_main(["--logs-dir", str(tmp_path / "logs"), "errors", "--json"]) == 0, capsys.readouterr().err
    patterns = json.loads(capsys.readouterr().out)["error_patterns"]
    examples = {ex["log_id"]: ex for pattern in patterns for ex in pattern["examples"]}
    assert examples[log_id]["error_message"] == ""
