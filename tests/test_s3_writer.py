"""ScriptLogger("s3://bucket/prefix"): one immutable object per attempt, read back by the index."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend.script_logger import ScriptLogger
from loaders.store.index import LogIndex
from tests.ports import free_port
from tests.s3_server import client, use_endpoint

logging.getLogger("werkzeug").setLevel(logging.ERROR)
REPO = Path(__file__).resolve().parents[1]


def _objects(endpoint: str, prefix: str) -> dict[str, dict]:
    s3 = client(endpoint)
    listed = s3.list_objects_v2(Bucket="logs", Prefix=prefix).get("Contents", [])
    return {item["Key"]: item for item in listed}


def test_each_attempt_is_one_object_never_rewritten(s3_env, cache_dir):
    logger = ScriptLogger("s3://logs/fleet/host-1")
    first = logger.log_failure("import cv2\n", "No module named 'cv2'", "ModuleNotFoundError: cv2\n", 1, ai_model="m")
    second = logger.log_failure("x\n", "boom", "NameError: x\n", 1, session_id=first, previous_attempt_id=first)
    before = _objects(s3_env, "fleet/host-1/")
    fixed = logger.log_success("print(1)\n", ["out.png"], session_id=first, previous_attempt_id=second)
    after = _objects(s3_env, "fleet/host-1/")
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert sorted(after) == sorted(
        [
            f"fleet/host-1/failures/{day}/{first}.json",
            f"fleet/host-1/failures/{day}/{second}.json",
            f"fleet/host-1/successes/{day}/{fixed}.json",
        ]
    )  # no session objects
    assert all(after[key]["ETag"] == item["ETag"] for key, item in before.items())  # the failures were not rewritten
    body = client(s3_env).get_object(Bucket="logs", Key=f"fleet/host-1/failures/{day}/{second}.json")["Body"].read()
    record = json.loads(body)
    assert record["fixed_by"] is None and record["previous_attempt_id"] == first
    assert datetime.fromisoformat(record["timestamp"]).utcoffset() is not None
    assert first[14] == "7" and first < second < fixed  # time-ordered ids: keys sort by when they were written


def test_the_index_derives_sessions_and_fixes(s3_env, cache_dir):
    logger = ScriptLogger("s3://logs/derive")
    first = logger.log_failure("a\n", "e", "NameError: a\n", 1)
    logger.log_failure("b\n", "e", "NameError: b\n", 1, session_id=first, previous_attempt_id=first)
    logger.log_success("c\n", ["o.png"], session_id=first)
    lone = logger.log_failure("d\n", "e", "KeyError: 0\n", 1)
    index = LogIndex("s3://logs/derive", cache_dir)
    facts = index.frame(
        "SELECT log_id, status, coalesce(is_fixed, false) AS is_fixed, session_attempts"
        " FROM attempts ORDER BY timestamp"
    )
    assert list(facts.status) == ["failed", "failed", "success", "failed"]
    assert list(facts.is_fixed) == [True, True, False, False]  # the later success in the session fixes both
    assert list(facts.session_attempts) == [3, 3, 3, 1]
    assert facts.log_id.iloc[3] == lone


def test_reads_are_refused_with_where_to_read(s3_env):
    logger = ScriptLogger("s3://logs/r")
    with pytest.raises(NotImplementedError, match="LogIndex"):
        logger.get_recent_failures()


def test_an_unreachable_endpoint_raises_and_writes_nothing(monkeypatch):
    use_endpoint(monkeypatch, f"http://127.0.0.1:{free_port()}")
    logger = ScriptLogger("s3://logs/down")
    with pytest.raises(Exception, match=r"127\.0\.0\.1"):
        logger.log_failure("x\n", "e", "E\n", 1)


def test_the_local_writer_imports_only_the_standard_library():
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import backend.script_logger\n"
        "new = {name.split('.')[0] for name in set(sys.modules) - before}\n"
        "ours = ('backend', '_distutils_hack')\n"
        "outside = sorted(n for n in new if n not in sys.stdlib_module_names and n not in ours)\n"
        "print(outside)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
