"""Eval sets from failures: one line per failed session, checked against the records written."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient

from api.server import create_app
from loaders.analysis.filters import AttemptFilter
from loaders.outputs.evals import eval_cases, evals_jsonl
from tests.conftest import AS_OF, CV2_CODE, SKIMAGE_CODE, write_record
from tests.test_cli import run_cli


def _eval_tree(root):
    """FIX: a cv2 import fails twice, then skimage works. OPEN: a KeyError never fixed (model-b).
    GOOD: a success at first try (not a case)."""
    start = AS_OF - timedelta(days=1)
    common = {"user_prompt": "Blur the tile", "image_filename": "tile_0007.png", "ai_model": "model-a"}
    write_record(
        root,
        log_id="fix-1",
        session_id="FIX",
        when=start,
        code=CV2_CODE,
        error_type="ModuleNotFoundError",
        error_message="Script exited with code 1. Error: User code error: No module named 'cv2'",
        stderr="ModuleNotFoundError: No module named 'cv2'\n",
        **common,
    )
    write_record(
        root, log_id="fix-2", session_id="FIX", when=start + timedelta(minutes=1), code=CV2_CODE + "# again\n", **common
    )
    write_record(
        root,
        log_id="fix-3",
        session_id="FIX",
        status="success",
        when=start + timedelta(minutes=2),
        code=SKIMAGE_CODE,
        **common,
    )
    write_record(
        root,
        log_id="open-1",
        session_id="OPEN",
        when=start + timedelta(hours=1),
        ai_model="model-b",
        user_prompt="Read band 4",
        image_filename=None,
        code="bands = {}\nx = bands['band']\n",
        error_type="KeyError",
        error_message="KeyError: 'band'",
        stderr="Traceback (most recent call last):\nKeyError: 'band'\n",
    )
    write_record(root, log_id="good-1", session_id="GOOD", status="success", when=start + timedelta(hours=2))
    return root


def test_one_case_per_failed_session(tmp_path, index_of):
    cases = eval_cases(index_of(_eval_tree(tmp_path / "logs")))
    assert [case["session_id"] for case in cases] == ["FIX", "OPEN"]
    fixed, still_open = cases
    assert fixed == {
        "session_id": "FIX",
        "prompt": "Blur the tile",
        "input_file": "tile_0007.png",
        "model": "model-a",
        "failing_code": CV2_CODE,
        "error_line": "ModuleNotFoundError: No module named 'cv2'",
        "fingerprint": fixed["fingerprint"],
        "category": fixed["category"],
        "fixed": True,
        "fixed_code": SKIMAGE_CODE,
        "failed_log_id": "fix-1",
        "fixed_log_id": "fix-3",
        "failed_at": (AS_OF - timedelta(days=1)).isoformat(timespec="microseconds"),
    }
    assert isinstance(fixed["fingerprint"], str) and len(fixed["fingerprint"]) == 12
    assert (still_open["fixed"], still_open["fixed_code"], still_open["fixed_log_id"]) == (False, None, None)
    assert (still_open["model"], still_open["input_file"], still_open["error_line"]) == (
        "model-b",
        None,
        "KeyError: 'band'",
    )
    assert still_open["failing_code"] == "bands = {}\nx = bands['band']\n"
    assert [c["session_id"] for c in eval_cases(index_of(tmp_path / "logs"), AttemptFilter(models=("model-b",)))] == [
        "OPEN"
    ]


def test_export_evals_cli_and_api(tmp_path, cache_dir, index_of):
    logs = _eval_tree(tmp_path / "logs")
    out = tmp_path / "evals.jsonl"
    result = run_cli("--logs-dir", str(logs), "export-evals", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("✓ 2 eval cases (1 fixed) written to")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["session_id"] for line in lines] == ["FIX", "OPEN"]
    assert json.loads(lines[0])["fixed_code"] == SKIMAGE_CODE
    assert out.read_bytes() == evals_jsonl(eval_cases(index_of(logs)))
    only_b = run_cli("--logs-dir", str(logs), "--json", "export-evals", str(out), "--filter", "model=model-b")
    assert json.loads(only_b.stdout)["cases"] == 1
    client = TestClient(create_app(logs, cache_dir, extra_hosts=("testserver",)))
    response = client.get("/api/logs/evals.jsonl")
    assert response.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line)["failed_log_id"] for line in response.text.splitlines()] == ["fix-1", "open-1"]
    assert client.get("/api/logs/evals.jsonl", params={"model": "model-a"}).text.count("\n") == 1
