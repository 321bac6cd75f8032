"""The log tree under an s3:// prefix, read through a real S3 API (moto's server on 127.0.0.1)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from api.server import create_app
from backend.log_analyzer import LogAnalyzer
from cli.main import main as cli_main
from loaders.analysis.attempts import attempt_record
from loaders.analysis.metrics import summary
from loaders.ingest.sources import SourceUnavailable
from loaders.ingest.sources.s3 import LATE_WRITE_SECONDS, S3PrefixSource
from loaders.store.index import LogIndex
from loaders.store.schema import MANIFEST_VIEW_SQL
from tests.conftest import AS_OF, write_record
from tests.ports import free_port
from tests.s3_server import client, moto_server, new_bucket, upload_tree, use_endpoint

logging.getLogger("werkzeug").setLevel(logging.ERROR)

# Every column of ``attempts`` but where the record was read from.
COMPARED = "SELECT * EXCLUDE (path, dir, size, mtime_ns) FROM attempts ORDER BY log_id, timestamp, status, error_line"


def test_prefix_gives_the_same_numbers_as_the_local_tree(s3_env, demo_tree, cache_dir):
    root, counts = demo_tree
    uploaded = upload_tree(s3_env, root, "logs", "fleet/a")
    local = LogIndex(root, cache_dir)
    remote = LogIndex("s3://logs/fleet/a", cache_dir)
    report = remote.refresh()
    assert report.parsed == uploaded == counts.failures + counts.successes
    assert remote.root == "s3://logs/fleet/a"
    assert summary(remote, as_of=AS_OF) == summary(local, as_of=AS_OF)
    assert remote.frame(COMPARED).equals(local.frame(COMPARED))
    some_path = remote.frame("SELECT path FROM attempts LIMIT 1").iloc[0, 0]
    assert some_path.startswith("s3://logs/fleet/a/failures/") or some_path.startswith("s3://logs/fleet/a/successes/")


def test_a_second_refresh_reads_only_new_objects(s3_env, tmp_path, cache_dir):
    root, now = tmp_path / "logs", datetime.now()
    for n in range(4):
        write_record(root, log_id=f"a{n}", when=now - timedelta(days=n % 2))
    write_record(root, log_id="old1", when=AS_OF)  # a day long past: its prefix is closed once seen
    upload_tree(s3_env, root, "logs", "p")
    index = LogIndex("s3://logs/p", cache_dir)
    assert index.refresh().parsed == 5
    assert index.refresh().parsed == 0
    assert index.refresh().changed is False
    more = tmp_path / "more"
    write_record(more, log_id="b1", when=now)  # a date prefix already listed, still open
    write_record(more, log_id="b2", status="success", when=AS_OF + timedelta(days=3))  # a new prefix
    write_record(more, log_id="old2", when=AS_OF)  # a closed prefix: read by a full refresh only
    upload_tree(s3_env, more, "logs", "p")
    report = index.refresh()
    assert (report.parsed, report.files_seen) == (2, 7)
    with index.index_file() as con:
        marks = dict(con.execute("SELECT scope, mark FROM idx.source_marks").fetchall())
    day = now.strftime("%Y-%m-%d")
    assert marks[f"p/failures/{day}/"] == f"p/failures/{day}/b1.json"  # the last key seen in the prefix
    assert index.refresh(full=True).files_seen == 8


def _uuid7(moment: datetime) -> str:
    """A version-7 UUID (time-ordered) for ``moment``, as the S3 sink makes them."""
    millis = int(moment.timestamp() * 1000)
    value = (millis << 80) | (0x7 << 76) | (uuid.uuid4().int & ((1 << 76) - 1))
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return str(uuid.UUID(int=value))


def test_listing_starts_after_the_last_key_less_the_late_window(s3_env, cache_dir):
    s3 = client(s3_env)
    now = datetime.now(UTC)
    day = now.strftime("%Y-%m-%d")

    def put(log_id: str) -> None:
        record = {"log_id": log_id, "session_id": log_id, "timestamp": now.isoformat(), "status": "failed"}
        s3.put_object(Bucket="logs", Key=f"q/failures/{day}/{log_id}.json", Body=json.dumps(record).encode())

    put(_uuid7(now))
    index = LogIndex("s3://logs/q", cache_dir)
    assert index.refresh().parsed == 1
    late = _uuid7(now - timedelta(seconds=LATE_WRITE_SECONDS // 2))  # written earlier, uploaded later: read
    too_late = _uuid7(now - timedelta(seconds=LATE_WRITE_SECONDS * 3))  # before the window: not listed
    put(late)
    put(too_late)
    assert index.refresh().parsed == 1
    ids = set(index.frame("SELECT log_id FROM attempts").log_id)
    assert late in ids and too_late not in ids
    assert index.refresh(full=True).parsed == 3  # a full reload lists every key
    assert too_late in set(index.frame("SELECT log_id FROM attempts").log_id)


HOSTILE = {
    "not-json.json": b"{not json",
    "empty.json": b"",
    "array.json": b"[1, 2]",
    "latin1.json": '{"log_id": "caf\xe9"}'.encode("latin-1"),
    "bom.json": b'\xef\xbb\xbf{"log_id": "bom", "status": "failed", "timestamp": "2025-12-20T10:00:00+02:00"}',
    "odd.json": b'{"log_id": "odd", "timestamp": "2025-12-20T09:00:00", "status": "failed", "return_code": "2", '
    b'"tags": "lib:cv2, lib:numpy"}',
    "notes.txt": b"not a candidate",
    ".hidden.json": b"{}",
}


def test_odd_objects_are_read_or_skipped_with_the_same_reasons_as_files(s3_env, tmp_path, cache_dir):
    root = tmp_path / "logs"
    folder = root / "failures" / "2025-12-20"
    folder.mkdir(parents=True)
    for name, data in HOSTILE.items():
        (folder / name).write_bytes(data)
    upload_tree(s3_env, root, "logs", "odd")
    local, remote = LogIndex(root, cache_dir), LogIndex("s3://logs/odd", cache_dir)
    skipped = "SELECT parse_filename(path) AS name, reason FROM skipped_files ORDER BY name"
    assert remote.frame(skipped).equals(local.frame(skipped))
    assert len(remote.frame(skipped)) == 4
    assert remote.frame(COMPARED).equals(local.frame(COMPARED))
    flags = remote.frame("SELECT flags FROM attempts WHERE log_id = 'odd'").iloc[0, 0]
    assert "return_code was str" in list(flags) and "tags was a string" in list(flags)


def test_an_object_deleted_after_listing_is_left_out(s3_env, tmp_path, cache_dir):
    root = tmp_path / "logs"
    for n in range(4):
        write_record(root, log_id=f"d{n}")
    upload_tree(s3_env, root, "logs", "del")
    index = LogIndex("s3://logs/del", cache_dir)
    with index.index_file() as con:
        con.execute(MANIFEST_VIEW_SQL)
        changes = index.source.find_changes(con, full=False, first_load=True, workers=1)
    assert len(changes.stale) == 4
    gone = changes.stale[0][0].path
    client(s3_env).delete_object(Bucket="logs", Key=gone.removeprefix("s3://logs/"))
    batches = list(index.source.parsed_batches([(s, f) for s, f, _ in changes.stale], None, None, None))
    rows = [row for batch in batches for row in json.loads(batch.attempts)]
    assert sorted(row["path"] for row in rows) == sorted(s.path for s, _, _ in changes.stale[1:])
    assert sum(batch.skipped_count for batch in batches) == 0
    report = index.refresh()  # the index as a whole: three attempts, nothing skipped
    assert (report.files_seen, report.skipped) == (3, 0)


def test_a_full_refresh_drops_objects_deleted_since(s3_env, tmp_path, cache_dir):
    root = tmp_path / "logs"
    for n in range(3):
        write_record(root, log_id=f"f{n}")
    upload_tree(s3_env, root, "logs", "full")
    index = LogIndex("s3://logs/full", cache_dir)
    index.refresh()
    day = (AS_OF - timedelta(hours=1)).strftime("%Y-%m-%d")
    client(s3_env).delete_object(Bucket="logs", Key=f"full/failures/{day}/f0.json")
    assert index.refresh().files_seen == 3  # objects are immutable: an incremental refresh does not look back
    report = index.refresh(full=True)
    assert (report.parsed, report.files_seen) == (2, 2)


def test_drill_down_fetches_the_record_by_its_key(s3_env, tmp_path, cache_dir):
    root = tmp_path / "logs"
    write_record(root, log_id="r1", code="import cv2\nprint('x')\n", stdout="hello\n")
    upload_tree(s3_env, root, "logs", "drill")
    index = LogIndex("s3://logs/drill", cache_dir)
    record = attempt_record(index, "r1")
    assert record["code"] == "import cv2\nprint('x')\n" and record["stdout"] == "hello\n"
    assert index.source.read_record("s3://logs/elsewhere/failures/x.json") is None
    assert index.source.read_record("s3://logs/drill/failures/2025-12-21/missing.json") is None


def test_the_cli_reads_a_prefix_like_a_directory(s3_env, demo_tree, capsys):
    root, _ = demo_tree
    upload_tree(s3_env, root, "logs", "cli")
    as_of = AS_OF.isoformat()
    assert cli_main(["--logs-dir", str(root), "--as-of", as_of, "--json", "summary"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert cli_main(["--logs-dir", "s3://logs/cli", "--as-of", as_of, "--json", "summary"]) == 0
    assert json.loads(capsys.readouterr().out) == local


def test_the_api_the_dashboard_and_the_analyzer_read_a_prefix(s3_env, demo_tree, cache_dir, monkeypatch):
    root, counts = demo_tree
    upload_tree(s3_env, root, "logs", "readers")
    url, as_of = "s3://logs/readers", {"as_of": AS_OF.isoformat()}
    remote = TestClient(create_app(url, cache_dir, extra_hosts=("testserver",))).get("/api/logs/summary", params=as_of)
    local = TestClient(create_app(root, cache_dir, extra_hosts=("testserver",))).get("/api/logs/summary", params=as_of)
    assert remote.status_code == 200
    assert remote.json()["summary"] == local.json()["summary"]
    analysis = LogAnalyzer(url, as_of=AS_OF, cache_dir=cache_dir).analyze_all()
    assert analysis["summary"] == LogAnalyzer(root, as_of=AS_OF, cache_dir=cache_dir).analyze_all()["summary"]
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", url)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py"))
    at.run(timeout=60)
    assert not at.exception, [e.message for e in at.exception]
    shown = " ".join(str(c.value) for c in at.caption)
    assert "logs/readers" in shown and f"{counts.failures + counts.successes} files" in shown


def test_an_unreachable_endpoint_is_a_clear_error_then_works_when_back(tmp_path, monkeypatch, cache_dir, capsys):
    port = free_port()
    use_endpoint(monkeypatch, f"http://127.0.0.1:{port}")
    index = LogIndex("s3://logs/down", cache_dir)
    with pytest.raises(SourceUnavailable, match=f"object storage at http://127.0.0.1:{port} cannot be used"):
        index.refresh()
    assert cli_main(["--logs-dir", "s3://logs/down", "summary"]) == 1
    assert f"error: object storage at http://127.0.0.1:{port} cannot be used" in capsys.readouterr().err
    root = tmp_path / "logs"
    write_record(root, log_id="u1")
    with moto_server(port) as endpoint:
        new_bucket(endpoint, "logs")
        upload_tree(endpoint, root, "logs", "down")
        assert index.refresh().parsed == 1
        assert attempt_record(index, "u1")["log_id"] == "u1"


@pytest.mark.parametrize("url", ["s3://", "s3://Bad_Bucket/x", "s3://logs/a/../b"])
def test_malformed_urls_are_refused(url):
    with pytest.raises(ValueError):
        S3PrefixSource(url)


def _object_get(path: str, method: str) -> bool:
    """A GetObject of an attempt (not a listing, which has a query string with list-type)."""
    return method == "GET" and "list-type" not in path and path.endswith(".json")


def test_a_transient_error_is_retried_on_the_next_refresh(s3_env, tmp_path, cache_dir, monkeypatch):
    """Issue 29, item 11: GetObject answering 500 (past boto3's own retries) stops the refresh;
    the next one, the storage well again, loads the object."""
    from tests.s3_proxy import misbehaving_proxy

    root = tmp_path / "logs"
    write_record(root, log_id="t1", session_id="T")
    upload_tree(s3_env, root, "logs", "flaky")
    failing = {"on": True}

    def behaviour(method: str, path: str) -> str:
        return "500" if failing["on"] and _object_get(path, method) else "pass"

    with misbehaving_proxy(s3_env, behaviour) as proxy:
        use_endpoint(monkeypatch, proxy)
        index = LogIndex("s3://logs/flaky", cache_dir)
        with pytest.raises(SourceUnavailable, match="InternalError"):
            index.refresh()
        failing["on"] = False
        index.refresh()
        assert index.frame("SELECT log_id FROM attempts")["log_id"].tolist() == ["t1"]
        assert index.frame("SELECT count(*) AS n FROM skipped_files")["n"][0] == 0


def test_an_object_answered_without_content_length_loads(s3_env, tmp_path, cache_dir, monkeypatch):
    """Issue 29, item 14: a chunked answer (no Content-Length) is read like any other."""
    from tests.s3_proxy import misbehaving_proxy

    root = tmp_path / "logs"
    write_record(root, log_id="c1", session_id="C")
    upload_tree(s3_env, root, "logs", "chunked")
    with misbehaving_proxy(s3_env, lambda method, path: "chunked" if _object_get(path, method) else "pass") as proxy:
        use_endpoint(monkeypatch, proxy)
        index = LogIndex("s3://logs/chunked", cache_dir)
        index.refresh()
        assert index.frame("SELECT log_id FROM attempts")["log_id"].tolist() == ["c1"]
        assert attempt_record(index, "c1")["log_id"] == "c1"


def test_a_dripped_object_stops_the_refresh_at_its_deadline(s3_env, tmp_path, cache_dir, monkeypatch):
    """Issue 29, item 10: an object sent a byte every half second is given up on at the deadline."""
    from loaders.ingest.sources import s3
    from tests.s3_proxy import misbehaving_proxy

    root = tmp_path / "logs"
    write_record(root, log_id="d1", session_id="D")
    upload_tree(s3_env, root, "logs", "drip")
    monkeypatch.setattr(s3, "OBJECT_DEADLINE_SECONDS", 3.0)
    with misbehaving_proxy(s3_env, lambda method, path: "drip" if _object_get(path, method) else "pass") as proxy:
        use_endpoint(monkeypatch, proxy)
        started = time.monotonic()
        with pytest.raises(SourceUnavailable, match="took longer than 3 s"):
            LogIndex("s3://logs/drip", cache_dir).refresh()
        assert time.monotonic() - started < 30
