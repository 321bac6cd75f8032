"""The REST API: every endpoint, its error cases, a real uvicorn server, and a schemathesis run."""

from __future__ import annotations

import csv
import io
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.server import create_app
from tests.conftest import AS_OF, write_record

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def client(small_tree, cache_dir):
    return TestClient(create_app(small_tree, cache_dir))


def test_summary_has_the_original_shape(client):
    body = client.get("/api/logs/summary", params={"as_of": AS_OF.isoformat()}).json()
    assert body["success"] is True
    summary = body["summary"]
    assert (summary["total_failures"], summary["total_successes"], summary["unfixed_failures"]) == (4, 3, 1)
    assert (summary["recent_attempts_7d"], summary["recent_success_rate_7d"]) == (4, 50.0)
    assert (summary["sessions"], summary["skipped_files"]) == (4, 0)


def test_summary_filters(client):
    body = client.get("/api/logs/summary", params={"model": "model-b"}).json()
    assert (body["summary"]["total_failures"], body["summary"]["total_successes"]) == (0, 1)


def test_failures_and_unfixed_only(client):
    body = client.get("/api/logs/failures", params={"limit": 2}).json()
    assert body["count"] == 2 and [f["log_id"] for f in body["failures"]] == ["s2-a1", "s4-a1"]
    assert "code" in body["failures"][0]
    unfixed = client.get("/api/logs/failures", params={"unfixed_only": "true"}).json()
    assert [f["log_id"] for f in unfixed["failures"]] == ["s2-a1"]


def test_successes_as_csv(client):
    response = client.get("/api/logs/successes", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["log_id"] for r in rows) == ["s1-a3", "s3-a1", "s4-a2"]


def test_session_and_log(client):
    body = client.get("/api/logs/session/S1").json()
    assert body["session"]["status"] == "resolved"
    assert [a["log_id"] for a in body["attempts"]] == ["s1-a1", "s1-a2", "s1-a3"]
    log = client.get("/api/logs/log/s2-a1").json()["log"]
    assert log["error_type"] == "ModuleNotFoundError"


def test_context_patterns_recommendations_analysis(client):
    assert "No module named 'cv2'" in client.get("/api/logs/ai-context").json()["context"]
    patterns = client.get("/api/logs/error-patterns").json()
    assert {p["category"] for p in patterns["error_patterns"]} == {"unknown", "import_error", "data_access_error"}
    assert patterns["fingerprints"][0]["count"] == 2
    assert client.get("/api/logs/recommendations").json()["recommendations"]
    analysis = client.get("/api/logs/analysis").json()["analysis"]
    assert analysis["summary"]["total_failures"] == 4


@pytest.mark.parametrize(
    "path",
    [
        "/api/logs/session/nope",
        "/api/logs/log/nope",
        "/api/logs/log/..%2F..%2Fetc%2Fpasswd",
        "/api/logs/log/%2e%2e",
        "/api/logs/log/..",
        "/api/logs/session/a%5Cb",
        "/api/logs/log/a%00b",
        "/api/logs/log/%2Fetc%2Fpasswd",
        "/api/logs/log/" + "a" * 300,
        "/api/logs/session/..%2Fsessions%2FS1",
    ],
)
def test_bad_or_unknown_ids_are_404_or_422_without_content(client, path):
    response = client.get(path)
    assert response.status_code in (404, 422)
    assert response.json()["success"] is False
    assert "Traceback" not in response.text and "root:" not in response.text


@pytest.mark.parametrize("limit", [0, -1, 1001, "x"])
def test_limit_is_bounded(client, limit):
    assert client.get("/api/logs/failures", params={"limit": limit}).status_code == 422


def test_no_deleting_endpoint(client):
    assert client.post("/api/logs/clear").status_code in (404, 405)
    assert client.delete("/api/logs/log/s2-a1").status_code == 405


def test_openapi_describes_every_endpoint(client):
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/api/logs/summary",
        "/api/logs/analysis",
        "/api/logs/failures",
        "/api/logs/successes",
        "/api/logs/session/{session_id}",
        "/api/logs/log/{log_id}",
        "/api/logs/ai-context",
        "/api/logs/error-patterns",
        "/api/logs/recommendations",
    } <= paths
    for item in spec["paths"].values():
        assert "200" in item["get"]["responses"] and "404" in item["get"]["responses"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_real_server_over_http(small_tree, cache_dir):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "analyze_logs.py"), "--logs-dir", str(small_tree), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/logs/summary", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
        assert response.json()["summary"]["total_failures"] == 4
        assert httpx.get(f"http://127.0.0.1:{port}/api/logs/session/S2").json()["attempts"][0]["log_id"] == "s2-a1"
    finally:
        server.terminate()
        server.wait(20)


def test_api_conforms_to_its_schema(small_tree, cache_dir):
    """A bounded schemathesis run: every operation, generated inputs, never a 5xx, responses match."""
    api_schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(small_tree, cache_dir))
    checked = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call()
            assert response.status_code < 500, response.text
            case.validate_response(response)

        check()
        checked += 1
    assert checked == 11


def test_fix_rules_and_fingerprint_states(cv2_fix_tree, cache_dir):
    logs = cv2_fix_tree
    client = TestClient(create_app(logs, cache_dir))
    rules = client.get("/api/logs/fix-rules").json()
    assert [r["text"] for r in rules["rules"]] == ["cv2 -> skimage: 3 fixes, 100%"]
    states = client.get("/api/logs/fingerprints", params={"as_of": AS_OF.isoformat()}).json()["fingerprints"]
    assert [(s["state"], s["count_7d"]) for s in states] == [("new", 3)]
    assert client.get("/api/logs/summary", params={"sessions": "inferred"}).json()["summary"]["sessions_inferred"]
    assert client.get("/api/logs/summary", params={"sessions": "bogus"}).status_code == 422


def test_new_files_show_without_restart(small_tree, cache_dir):
    client = TestClient(create_app(small_tree, cache_dir))
    assert client.get("/api/logs/summary").json()["summary"]["total_failures"] == 4
    write_record(small_tree, log_id="late", session_id="LATE")
    deadline = time.monotonic() + 20
    while client.get("/api/logs/summary").json()["summary"]["total_failures"] != 5:
        assert time.monotonic() < deadline, "the new failure never showed"
        time.sleep(0.3)
