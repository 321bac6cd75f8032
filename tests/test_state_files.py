"""Fixtrail's own files (markers, the alert memory, exports) are read guarded and written atomically (issue 29).

Items 2 (a FIFO or /dev/zero as markers.json), 5 (concurrent marks), 6 (an unreadable file kept aside),
7 (bad entries skipped and listed), 8 (labels that cohorts cannot name), 13 (the umask's mode),
17 (the alert memory), 19 (exports replaced whole).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.server import create_app
from loaders.analysis import alerts
from loaders.annotations.markers import load_markers, markers_file, read_markers
from loaders.core.files import StateFileError, read_state_json, write_atomically
from tests.conftest import AS_OF

ROOT = Path(__file__).resolve().parents[1]
COMMAND_DEADLINE = 60


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, in a process of its own with a deadline (a hang fails the test)."""
    return subprocess.run(
        [sys.executable, "analyze_logs.py", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_DEADLINE,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def fifo_markers(small_tree: Path) -> Path:
    path = markers_file(small_tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return small_tree


@pytest.mark.parametrize(
    "argv",
    [
        ["markers"],
        ["compare", "--a", "model=model-a", "--b", "start=2025-12-15"],
        ["export-evals", "{tmp}/evals.jsonl"],
    ],
)
def test_a_fifo_as_markers_json_never_hangs_a_command(fifo_markers, cache_dir, tmp_path, argv):
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    done = _cli("--logs-dir", str(fifo_markers), "--as-of", AS_OF.isoformat(), *argv)
    assert done.returncode == 0, done.stderr
    assert "markers not read" in done.stderr and "not a regular file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_fifo_as_markers_json_never_hangs_the_api(fifo_markers, cache_dir):
    client = TestClient(create_app(fifo_markers, cache_dir, extra_hosts=("testserver",)))
    response = client.get("/api/logs/compare", params={"a": "model=model-a", "b": "start=2025-12-15"})
    assert response.status_code == 200


def test_a_link_to_dev_zero_is_refused_not_read(small_tree):
    path = markers_file(small_tree)
    path.parent.mkdir(parents=True)
    path.symlink_to("/dev/zero")
    found = load_markers(small_tree)
    assert found.markers == [] and "not a regular file" in found.problems[0]


def test_a_huge_state_file_is_refused_by_size(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b"[" + b"0," * (1 << 20) + b"0]")
    with pytest.raises(StateFileError, match="larger than"):
        read_state_json(path, max_bytes=1 << 20)


def test_deep_nesting_is_an_error_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(StateFileError, match="not valid JSON"):
        read_state_json(path)


def test_concurrent_marks_keep_every_marker(small_tree):
    def mark(number: int) -> int:
        return _cli("--logs-dir", str(small_tree), "mark", f"change {number}").returncode

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(mark, range(24)))
    assert codes == [0] * 24
    assert sorted(m.label for m in read_markers(small_tree)) == sorted(f"change {n}" for n in range(24))


@pytest.mark.parametrize(
    "content",
    [
        '{"markers": [{"label": "v1", "at": "2026-11-01T00:00:00"}',  # cut short
        '{"markers": [{"label": "v1", "at": "2026-11-01T00:00:00"},]}',  # a trailing comma
        '{"markers": [{"label": "v1", "at": "2026-11-01T00:00:00"}, {"label": "v2", "at": "last tuesday"}]}',
    ],
)
def test_mark_keeps_a_file_it_cannot_read_whole_aside_and_says_so(small_tree, content):
    path = markers_file(small_tree)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    done = _cli("--logs-dir", str(small_tree), "mark", "v3")
    assert done.returncode == 0, done.stderr
    aside = list(path.parent.glob("markers.json.unreadable-*"))
    assert len(aside) == 1 and aside[0].read_text() == content
    assert "kept aside" in done.stderr
    labels = [m.label for m in read_markers(small_tree)]
    assert labels[-1] == "v3" and ("v1" in labels) == ("last tuesday" in content)


def test_a_label_that_is_not_utf8_is_refused_and_leaves_no_temporary_file(small_tree):
    done = _cli("--logs-dir", str(small_tree), "mark", "v\udcff", env={"PYTHONUTF8": "1"})
    assert done.returncode == 1 and "UTF-8" in done.stderr
    assert not list((small_tree / "analysis").glob(".markers*.tmp"))


@pytest.mark.parametrize(
    "entry",
    [
        {"label": "v1", "at": "0001-01-01T00:00:00+14:00"},
        {"label": "v1", "at": 5},
        {"label": ["x"], "at": "2026-11-01T00:00:00"},
        5,
        [[[[[[[[[[]]]]]]]]]],
    ],
)
def test_one_bad_marker_entry_is_skipped_and_listed(small_tree, cache_dir, entry):
    path = markers_file(small_tree)
    path.parent.mkdir(parents=True)
    good = {"label": "v2", "at": "2025-12-15T00:00:00"}
    path.write_text(json.dumps({"markers": [entry, good]}))
    found = load_markers(small_tree)
    assert [m.label for m in found.markers] == ["v2"] and len(found.problems) == 1
    done = _cli(
        "--logs-dir", str(small_tree), "--as-of", AS_OF.isoformat(), "compare", "--a", "before=v2", "--b", "after=v2"
    )
    assert done.returncode == 0 and "marker skipped" in done.stderr, done.stderr
    client = TestClient(create_app(small_tree, cache_dir, extra_hosts=("testserver",)))
    assert client.get("/api/logs/compare", params={"a": "before=v2", "b": "after=v2"}).status_code == 200


@pytest.mark.parametrize("content", ['{"markers": 5}', "[" * 5000 + "]" * 5000])
def test_a_markers_file_of_the_wrong_shape_is_refused_with_a_reason(small_tree, content):
    path = markers_file(small_tree)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    found = load_markers(small_tree)
    assert found.markers == [] and found.problems and found.problems[0].startswith("markers not read")


@pytest.mark.parametrize("label", ["A,B", "A&B", "v2,model=claude-sonnet-4", "x=y"])
def test_mark_refuses_labels_that_a_cohort_could_not_name(small_tree, label):
    done = _cli("--logs-dir", str(small_tree), "mark", label)
    assert done.returncode == 1 and "cohorts" in done.stderr
    assert read_markers(small_tree) == []


def test_files_fixtrail_writes_take_the_umask(small_tree, tmp_path):
    old = os.umask(0o022)
    try:
        assert _cli("--logs-dir", str(small_tree), "mark", "v1").returncode == 0
        target = tmp_path / "export.json"
        assert _cli("--logs-dir", str(small_tree), "export", str(target)).returncode == 0
        write_atomically(tmp_path / "memory.json", b"{}")
    finally:
        os.umask(old)
    for path in (markers_file(small_tree), target, tmp_path / "memory.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_an_export_onto_a_fifo_replaces_it_instead_of_blocking(small_tree, tmp_path):
    target = tmp_path / "evals.jsonl"
    os.mkfifo(target)
    done = _cli("--logs-dir", str(small_tree), "export-evals", str(target))
    assert done.returncode == 0, done.stderr
    assert target.is_file() and not list(tmp_path.glob(".evals.jsonl.*.tmp"))


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path):
    target = tmp_path / "export.json"
    target.write_text("previous")

    with pytest.raises(TypeError):  # the write fails half-way (as on a full disk): text where bytes go
        write_atomically(target, "new")  # type: ignore[arg-type]
    assert target.read_text() == "previous" and sorted(p.name for p in tmp_path.iterdir()) == ["export.json"]


@pytest.mark.parametrize(
    "content",
    [
        '{"last_check": "2025-12-20T10:00:00+00:00", "reported": {}}',
        "[" * 100_000 + "]" * 100_000,
        "FIFO",
    ],
)
def test_the_alert_memory_never_breaks_check(small_tree, cache_dir, index_of, content):
    index = index_of(small_tree)
    memory = alerts.memory_path(index)
    memory.parent.mkdir(parents=True, exist_ok=True)
    if content == "FIFO":
        os.mkfifo(memory)
    else:
        memory.write_text(content)
    done = _cli("--logs-dir", str(small_tree), "--as-of", AS_OF.isoformat(), "check")
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr and "error:" not in done.stderr, done.stderr
    if content.startswith("{"):
        assert alerts.last_check(memory) is not None and alerts.last_check(memory).tzinfo is None


@pytest.mark.parametrize("cache", ["/proc", "~nosuchuser-fixtrail/cache", "{loop}"])
def test_an_unusable_cache_dir_is_one_line_at_once(small_tree, tmp_path, cache):
    """Issue 29, item 18: no 120 s wait on a lock that cannot be made, no RuntimeError traceback."""
    loop = tmp_path / "loop-a"
    loop.symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(loop)
    started = time.monotonic()
    where = cache.replace("{loop}", str(loop))
    done = _cli("--logs-dir", str(small_tree), "summary", env={"FIXTRAIL_CACHE_DIR": where})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "cannot use the index in" in done.stderr, done.stderr
    assert time.monotonic() - started < 30
