"""The REST API: every endpoint, its error cases, a real uvicorn server, and a schemathesis run."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from filelock import FileLock
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

import loaders.store.index
from api import schemas
from api.dependencies import IndexProvider
from api.server import create_app
from loaders.store.cache import index_path_for
from tests.conftest import AS_OF, write_record
from tests.ports import first_answer, free_port

ROOT = Path(__file__).resolve().parents[1]


def served_app(logs: Path, cache_dir: Path | None):
    """The app as served, also answering the name the test client sends in ``Host``."""
    return create_app(logs, cache_dir, extra_hosts=("testserver",))


@pytest.fixture
def client(small_tree, cache_dir):
    return TestClient(served_app(small_tree, cache_dir))


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
    # Led by the derived categories (a NameError is name_error); the writer's stored one beside.
    by_category = {p["category"]: p["stored_category"] for p in patterns["error_patterns"]}
    assert by_category == {
        "name_error": "unknown",
        "import_error": "import_error",
        "data_access_error": "data_access_error",
    }
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
def test_bad_or_unknown_ids_are_404_without_content(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert "Traceback" not in response.text and "root:" not in response.text


@pytest.mark.parametrize(
    ("session_id", "log_id"),
    [("nope", "nope"), ("a%5Cb", "a%00b"), ("a" * 300, "a" * 300), ("%E2%82%AC" * 50, "x%01y"), ("%2E%2E", "%2E%2E")],
)
def test_a_badly_formed_id_is_not_found_like_an_unknown_one(client, session_id, log_id):
    session = client.get(f"/api/logs/session/{session_id}")
    assert (session.status_code, session.json()) == (404, {"success": False, "error": "Session not found"})
    log = client.get(f"/api/logs/log/{log_id}")
    assert (log.status_code, log.json()) == (404, {"success": False, "error": "Log not found"})


@pytest.mark.parametrize(("limit", "count"), [(0, 1), (-1, 1), (1, 1), (1001, 4), (5000, 4), (10**30, 4)])
def test_an_out_of_range_limit_is_clamped(client, limit, count):
    response = client.get("/api/logs/failures", params={"limit": limit})
    assert response.status_code == 200, response.text
    assert response.json()["count"] == count


def test_a_limit_that_is_not_a_number_is_422(client):
    assert client.get("/api/logs/failures", params={"limit": "x"}).status_code == 422


def test_no_deleting_endpoint(client):
    assert client.post("/api/logs/clear").status_code == 403  # the original's route, answering that nothing is deleted
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
        "/",
    } <= paths
    for item in spec["paths"].values():
        answer = item.get("get") or item["post"]
        assert ("200" in answer["responses"] or "403" in answer["responses"]) and "404" in answer["responses"]


def test_real_server_over_http(small_tree, cache_dir):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "analyze_logs.py"), "--logs-dir", str(small_tree), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        response = first_answer(f"http://127.0.0.1:{port}/api/logs/summary", server)
        assert response.json()["summary"]["total_failures"] == 4
        assert httpx.get(f"http://127.0.0.1:{port}/api/logs/session/S2").json()["attempts"][0]["log_id"] == "s2-a1"
    finally:
        server.terminate()
        server.wait(20)


def test_api_conforms_to_its_schema(small_tree, cache_dir):
    """A bounded schemathesis run: every operation, generated inputs, never a 5xx, responses match.

    With a token configured, so that schemathesis also checks that an invalid one is refused."""
    from api.tokens import create_token

    token = {"Authorization": f"Bearer {create_token('schemathesis', write=True)}"}
    api_schema = schemathesis.openapi.from_asgi("/openapi.json", served_app(small_tree, cache_dir))
    # (the triage route writes into the test's own tree; the token above may write)
    checked = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call(headers=token)
            assert response.status_code < 500, response.text
            # A cohort is text in the URL filters' syntax naming dates and markers: the schema cannot
            # say which texts name a real date or marker, so a text it allows may be refused (422).
            cohorts = case.operation.path == "/api/logs/compare"
            case.validate_response(response, excluded_checks=[positive_data_acceptance] if cohorts else None)

        check()
        checked += 1
    assert checked == 17


def test_fix_rules_and_fingerprint_states(cv2_fix_tree, cache_dir):
    logs = cv2_fix_tree
    client = TestClient(served_app(logs, cache_dir))
    rules = client.get("/api/logs/fix-rules").json()
    assert [r["text"] for r in rules["rules"]] == ["cv2 -> skimage: 3 fixes, 100%"]
    states = client.get("/api/logs/fingerprints", params={"as_of": AS_OF.isoformat()}).json()["fingerprints"]
    assert [(s["state"], s["count_7d"]) for s in states] == [("new", 3)]
    assert client.get("/api/logs/summary", params={"sessions": "inferred"}).json()["summary"]["sessions_inferred"]
    assert client.get("/api/logs/summary", params={"sessions": "bogus"}).status_code == 422


def test_new_files_show_without_restart(small_tree, cache_dir):
    client = TestClient(served_app(small_tree, cache_dir))
    assert client.get("/api/logs/summary").json()["summary"]["total_failures"] == 4
    write_record(small_tree, log_id="late", session_id="LATE")
    deadline = time.monotonic() + 20
    while client.get("/api/logs/summary").json()["summary"]["total_failures"] != 5:
        assert time.monotonic() < deadline, "the new failure never showed"
        time.sleep(0.3)


def _hold_index_lock(logs: Path, cache: Path, monkeypatch: pytest.MonkeyPatch):
    """Another process holding the index's lock for longer than the (lowered) lock timeout."""
    monkeypatch.setattr(loaders.store.index, "LOCK_TIMEOUT_SECONDS", 0.2)
    cache.mkdir(parents=True)
    lock = FileLock(str(index_path_for(logs.resolve(), cache.resolve())) + ".lock")
    lock.acquire()
    return cache, lock.release


def _fill_the_disk(logs: Path, cache: Path, _monkeypatch: pytest.MonkeyPatch):
    """A full disk: the index's write-ahead log is /dev/full, where every write fails with ENOSPC."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    cache.mkdir(parents=True)
    wal = Path(str(index_path_for(logs.resolve(), cache.resolve())) + ".wal")
    wal.symlink_to("/dev/full")
    return cache, wal.unlink


def _directory_at_the_index_path(logs: Path, cache: Path, _monkeypatch: pytest.MonkeyPatch):
    index_file = index_path_for(logs.resolve(), cache.resolve())
    index_file.mkdir(parents=True)
    return cache, index_file.rmdir


def _file_in_place_of_the_cache_parent(logs: Path, cache: Path, _monkeypatch: pytest.MonkeyPatch):
    cache.parent.mkdir(parents=True, exist_ok=True)
    blocker = cache.parent / "blocker"
    blocker.write_text("not a directory")
    return blocker / "cache", blocker.unlink


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (_hold_index_lock, "is locked by another process"),
        (_fill_the_disk, "No space left on device"),
        (_directory_at_the_index_path, "Is a directory"),
        (_file_in_place_of_the_cache_parent, "Not a directory"),
    ],
)
def test_a_failed_first_load_answers_503_and_is_tried_again(small_tree, tmp_path, monkeypatch, cause, reason):
    cache, remove_cause = cause(small_tree, tmp_path / "cache", monkeypatch)
    client = TestClient(served_app(small_tree, cache), raise_server_exceptions=False)
    for _ in range(2):  # the second request loads again: no half-made index is kept from the first
        response = client.get("/api/logs/summary", params={"as_of": AS_OF.isoformat()})
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["success"] is False and reason in body["error"], body
        assert body["error"].startswith("the index could not be loaded: ") and "\n" not in body["error"]
    remove_cause()
    response = client.get("/api/logs/summary", params={"as_of": AS_OF.isoformat()})
    assert response.status_code == 200, response.text
    summary = response.json()["summary"]
    assert (summary["total_failures"], summary["total_successes"], summary["unfixed_failures"]) == (4, 3, 1)
    assert (summary["recent_attempts_7d"], summary["sessions"]) == (4, 4)


DATE_ROUTES = {
    "evals.jsonl",
    "summary",
    "analysis",
    "failures",
    "successes",
    "ai-context",
    "error-patterns",
    "recommendations",
    "fingerprints",
    "fix-rules",
}
OUTSIDE_THE_RANGE = {
    "start": ["0001-01-01", "9999-12-31", "1899-12-31"],
    "end": ["9999-12-31", "0001-01-01", "3000-01-01"],
    "as_of": [
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "1899-12-31T23:59:59",
    ],
}
# The edges of the range, also with the widest offsets: accepted values must work on every route.
AT_THE_EDGES = {
    "start": ["1900-01-01", "2999-12-31"],
    "end": ["1900-01-01", "2999-12-31"],
    "as_of": [
        "1900-01-01T00:00:00",
        "2999-12-31T23:59:59.999999",
        "1900-01-01T00:00:00+14:00",
        "2999-12-31T23:59:59-12:00",
    ],
}


def _date_parameters(client: TestClient) -> list[tuple[str, str]]:
    """(path, parameter) for every date parameter of every route, as /openapi.json documents them."""
    spec = client.get("/openapi.json").json()
    return [
        (path, parameter["name"])
        for path, item in spec["paths"].items()
        for parameter in item.get("get", {}).get("parameters", [])
        if parameter["name"] in OUTSIDE_THE_RANGE
    ]


def test_dates_outside_the_calendar_are_422(small_tree, cache_dir):
    client = TestClient(served_app(small_tree, cache_dir), raise_server_exceptions=False)
    parameters = _date_parameters(client)
    assert {path.rsplit("/", 1)[1] for path, _ in parameters} == DATE_ROUTES
    for path, name in parameters:
        for value in OUTSIDE_THE_RANGE[name]:
            response = client.get(path, params={name: value})
            assert response.status_code == 422, (path, name, value, response.text)
            expected = f"invalid query.{name}: a date from 1900-01-01 to 2999-12-31 is expected"
            assert response.json() == {"success": False, "error": expected}


def test_dates_at_the_edges_of_the_range_work_on_every_route(small_tree, cache_dir):
    client = TestClient(served_app(small_tree, cache_dir), raise_server_exceptions=False)
    for path, name in _date_parameters(client):
        for value in AT_THE_EDGES[name]:
            response = client.get(path, params={name: value})
            assert response.status_code == 200, (path, name, value, response.text)
        whole_range = client.get(path, params={"start": "1900-01-01", "end": "2999-12-31"})
        assert whole_range.status_code == 200, (path, whole_range.text)
    summary = client.get("/api/logs/summary", params={"start": "1900-01-01", "end": "2999-12-31"}).json()["summary"]
    assert (summary["total_failures"], summary["total_successes"]) == (4, 3)
    early = client.get("/api/logs/summary", params={"as_of": "1900-01-01T00:00:00+14:00"}).json()["summary"]
    assert (early["recent_attempts_7d"], early["total_failures"]) == (0, 4)


BIG = 5_000_000  # characters: a multi-MB stdout, as real runs print


def test_big_text_fields_are_cut_in_lists_and_whole_for_one_attempt(small_tree, cache_dir):
    write_record(
        small_tree,
        log_id="loud",
        session_id="LOUD",
        when=AS_OF - timedelta(minutes=5),
        stdout="o" * BIG,
        stderr="e" * (BIG // 2) + "\nValueError: bad\n",
        user_prompt="p" * 300_000,
    )
    client = TestClient(served_app(small_tree, cache_dir))
    marker = f"\n... [cut: {BIG:,} characters in all]"
    failures = client.get("/api/logs/failures")
    assert len(failures.content) < 300_000, len(failures.content)
    loud = failures.json()["failures"][0]
    assert loud["id"] == "loud" and loud["stdout"] == "o" * 10_000 + marker
    assert loud["cut_fields"] == {"stdout": BIG, "stderr": BIG // 2 + 17, "user_prompt": 300_000}
    assert failures.json()["failures"][1]["cut_fields"] == {}
    recent = client.get("/api/logs/analysis").json()["analysis"]["recent_executions"]
    assert recent[0]["id"] == "loud" and recent[0]["stdout"].endswith(marker)
    assert len(recent) == 8
    csv_list = client.get("/api/logs/failures", params={"format": "csv"})
    assert len(csv_list.content) < 100_000 and "[cut: 300,000 characters in all]" in csv_list.text
    assert len(client.get("/api/logs/log/loud").json()["log"]["stdout"]) == BIG
    assert len(client.get("/api/logs/session/LOUD").json()["attempts"][0]["stdout"]) == BIG


def test_docs_page_and_its_assets_are_served_locally(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "cdn.jsdelivr" not in page.text and "unpkg" not in page.text
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static-offline-docs/swagger-ui.css").status_code == 200
    root = client.get("/").json()
    assert root["docs"] == "/docs" and root["openapi"] == "/openapi.json"
    assert set(root["endpoints"]) == {p for p in client.get("/openapi.json").json()["paths"] if p.startswith("/api/")}


def test_one_attempt_is_answered_as_written_with_no_key_added(small_tree, cache_dir):
    day = small_tree / "failures" / "2025-12-20"
    day.mkdir(parents=True, exist_ok=True)
    record = {"log_id": "bare", "timestamp": "2025-12-20T10:00:00.123456", "status": "failed", "odd": [1]}
    (day / "bare.json").write_text(json.dumps(record), encoding="utf-8")
    client = TestClient(served_app(small_tree, cache_dir))
    assert client.get("/api/logs/log/bare").json() == {"success": True, "log": record}
    assert client.get("/api/logs/session/bare").json()["attempts"] == [record]
    item = client.get("/api/logs/failures", params={"limit": 1000}).json()["failures"]
    bare = next(i for i in item if i["id"] == "bare")
    assert (bare["started_at"], bare["completed_at"], bare["error_message"], bare["odd"]) == (
        record["timestamp"],
        None,
        None,
        [1],
    )


def test_odd_session_files_and_records_are_answered_not_500(small_tree, cache_dir):
    odd = {"session_id": "W", "attempts": 5, "status": "weird"}
    (small_tree / "sessions" / "W.json").write_text(json.dumps(odd), encoding="utf-8")
    day = small_tree / "successes" / "2025-12-20"
    day.mkdir(parents=True, exist_ok=True)
    (day / "nostamp.json").write_text(json.dumps({"status": "success", "session_id": "NS"}), encoding="utf-8")
    client = TestClient(served_app(small_tree, cache_dir), raise_server_exceptions=False)
    body = client.get("/api/logs/session/W").json()
    assert (body["session"], body["attempts"], body["missing_attempt_ids"]) == (odd, [], [])
    made = client.get("/api/logs/session/NS")
    assert made.status_code == 200, made.text
    assert made.json()["session"]["attempts"][0]["log_id"] == "nostamp"
    assert made.json()["session"]["status"] == "resolved"


def test_background_refreshes_are_spaced_by_what_they_take(small_tree, cache_dir):
    provider = IndexProvider(small_tree, cache_dir, interval=0.0)
    index = provider()
    assert provider.interval_for("auto") == 0.0
    write_record(small_tree, log_id="spaced-1", status="success", when=AS_OF)
    provider()  # the interval has passed: starts a refresh in the background
    deadline = time.monotonic() + 60
    while index.cursor().execute("SELECT count(*) FROM attempts WHERE log_id = 'spaced-1'").fetchone()[0] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    while provider.interval_for("auto") == 0.0:  # the refresh's duration is noted once it has finished
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert provider.interval_for("auto") > 0.0


ENCODED_ROUTES = {
    "/api/logs/analysis": "AnalysisResponse",
    "/api/logs/failures": "FailuresResponse",
    "/api/logs/successes": "SuccessesResponse",
    "/api/logs/ai-context": "ContextResponse",
    "/api/logs/error-patterns": "ErrorPatternsResponse",
    "/api/logs/recommendations": "RecommendationsResponse",
    "/api/logs/fix-rules": "FixRulesResponse",
    "/api/logs/fingerprints": "FingerprintsResponse",
}


def test_answers_encoded_once_follow_their_model_and_the_logs(small_tree, cache_dir):
    """Answers kept encoded (api.encoded) are what their response model gives, the same bytes when asked
    again, and new once a record is added."""
    client = TestClient(served_app(small_tree, cache_dir))
    as_of = {"as_of": AS_OF.isoformat()}
    first = {}
    for route, model_name in ENCODED_ROUTES.items():
        response = client.get(route, params=as_of)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        model = getattr(schemas, model_name)
        assert response.json() == model.model_validate(response.json()).model_dump(mode="json")
        assert client.get(route, params=as_of).content == response.content
        first[route] = response.json()
    assert first["/api/logs/analysis"]["analysis"]["summary"]["total_failures"] == 4

    write_record(small_tree, log_id="late-one", session_id="LATE", error_message="KeyError: 'late_key'")
    deadline = time.monotonic() + 20
    while client.get("/api/logs/analysis", params=as_of).json()["analysis"]["summary"]["total_failures"] != 5:
        assert time.monotonic() < deadline, "the new failure never showed in /analysis"
        time.sleep(0.3)
    failures = client.get("/api/logs/failures", params=as_of).json()
    assert "late-one" in {item["log_id"] for item in failures["failures"]}
    assert client.get("/api/logs/error-patterns", params=as_of).json() != first["/api/logs/error-patterns"]


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [("gzip, deflate", True), ("br;q=1.0, gzip;q=0.5", True), ("*", True), ("identity", False), ("gzip;q=0", False)],
)
def test_big_answers_are_gzipped_for_clients_that_accept_it(small_tree, cache_dir, accept, gzipped):
    client = TestClient(served_app(small_tree, cache_dir))
    as_of = {"as_of": AS_OF.isoformat()}  # a fixed window: the default one moves on each minute
    plain = client.get("/api/logs/analysis", params=as_of, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > 4096
    response = client.get("/api/logs/analysis", params=as_of, headers={"Accept-Encoding": accept})
    assert (response.headers.get("content-encoding") == "gzip") is gzipped
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.json() == plain.json()  # httpx decodes gzip


def test_every_list_comes_a_page_at_a_time(small_tree, cache_dir):
    """limit keeps the original's meaning; offset skips; total and next let a client walk the whole list."""
    client = TestClient(served_app(small_tree, cache_dir))
    for route, key in (
        ("/api/logs/failures", "failures"),
        ("/api/logs/successes", "successes"),
        ("/api/logs/triage", "errors"),
    ):
        whole = client.get(route, params={"limit": 1000, "state": "all"} if key == "errors" else {"limit": 1000}).json()
        assert whole["total"] == len(whole[key]) and whole["next"] is None
        seen, url = [], f"{route}?limit=1" + ("&state=all" if key == "errors" else "")
        while url:
            page = client.get(url).json()
            assert page["count"] == len(page[key]) <= 1 and page["total"] == whole["total"]
            seen += page[key]
            url = page["next"]
        assert seen == whole[key], route
    beyond = client.get("/api/logs/failures", params={"offset": 100}).json()
    assert beyond["failures"] == [] and beyond["total"] == 4 and beyond["next"] is None
    assert client.get("/api/logs/failures", params={"offset": -1}).status_code == 422
