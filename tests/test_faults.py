"""The fault suite: crashes, storms of writes, hostile files, killed index updates. Bounded to seconds."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from backend.script_logger import ScriptLogger
from loaders.analysis import metrics
from loaders.demo.trees import generate_tree
from loaders.outputs import sections as report
from loaders.store.index import LogIndex
from tests.conftest import AS_OF, write_record

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _all_json_parses(logs: Path) -> list[Path]:
    """Every *.json under the tree that does not parse (none may exist)."""
    broken = []
    for path in logs.rglob("*.json"):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            broken.append(path)
    return broken


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from backend.script_logger import ScriptLogger
    logger = ScriptLogger(sys.argv[1])
    big = "x" * 400_000
    while True:
        first = logger.log_failure("import cv2\\n", "boom", "ValueError: boom\\n" + big, 1)
        logger.log_success("ok\\n", ["out.png"], session_id=first, previous_attempt_id=first, stdout=big)
    """
)


def _kill_writer_repeatedly(logs: Path, times: int, seed: int, seconds: tuple[float, float]) -> None:
    """Start the writer ``times`` times, each killed (SIGKILL) after a random moment within ``seconds``."""
    rng = random.Random(seed)
    for _ in range(times):
        proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(logs)], env=ENV)
        time.sleep(rng.uniform(*seconds))
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_writer_killed_at_random_points_never_leaves_a_partial_json(tmp_path):
    logs = tmp_path / "logs"
    _kill_writer_repeatedly(logs, times=12, seed=5, seconds=(0.15, 0.6))
    written = list(logs.rglob("*.json"))
    assert len(written) > 12
    assert _all_json_parses(logs) == []


def test_huge_fields_load(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    write_record(logs, log_id="huge", stdout="y" * 50_000_000, error_message="E" * 17_000_000)
    write_record(logs, log_id="small")
    index = LogIndex(logs, cache_dir)
    index.refresh()
    row = (
        index.cursor()
        .execute("SELECT stdout_chars, length(error_message) FROM attempts WHERE log_id = 'huge'")
        .fetchone()
    )
    assert row == (50_000_000, 17_000_000)
    assert metrics.summary(index).total_failures == 2


def _hostile_tree(logs: Path) -> dict[str, str | None]:
    """Writes every kind of odd file; returns file name -> expected skip reason prefix (None: loads)."""
    day = logs / "failures" / "2025-12-20"
    day.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str | None] = {}

    def raw(name: str, content: bytes, reason: str | None) -> None:
        (day / name).write_bytes(content)
        expected[name] = reason

    raw("truncated.json", b'{"log_id": "t", "status": "fa', "invalid JSON")
    raw("empty.json", b"", "empty file")
    raw("list.json", b"[1, 2, 3]", "JSON value is list")
    raw("null.json", b"null", "JSON value is null")
    raw("string.json", b'"bare"', "JSON value is str")
    raw("latin1.json", '{"log_id": "é"}'.encode("latin-1"), "not UTF-8")
    raw("nested.json", b"[" * 5000 + b"]" * 5000, "invalid JSON")
    raw("bom.json", b"\xef\xbb\xbf" + json.dumps({"log_id": "bom", "status": "failed"}).encode(), None)
    raw("types.json", json.dumps({"log_id": "types", "return_code": "2", "tags": "x", "timestamp": 12}).encode(), None)
    raw("badtime.json", json.dumps({"log_id": "badtime", "timestamp": "yesterday-ish"}).encode(), None)
    future = (datetime.now() + timedelta(days=400)).isoformat()
    raw("future.json", json.dumps({"log_id": "future", "timestamp": future}).encode(), None)
    raw("status.json", json.dumps({"log_id": "status", "status": "exploded"}).encode(), None)
    raw("dup-a.json", json.dumps({"log_id": "dup", "timestamp": AS_OF.isoformat()}).encode(), None)
    raw("dup-b.json", json.dumps({"log_id": "dup", "timestamp": AS_OF.isoformat()}).encode(), None)
    raw("with space é.json", json.dumps({"log_id": "space", "timestamp": AS_OF.isoformat()}).encode(), None)
    raw("bigint.json", json.dumps({"log_id": "bigint", "return_code": 10**30}).encode(), None)
    (day / "loop.json").symlink_to(day / "loop.json")
    expected["loop.json"] = "cannot be read"
    outside = logs.parent / "outside.json"
    outside.write_text(json.dumps({"log_id": "secret"}))
    (day / "outside.json").symlink_to(outside)
    expected["outside.json"] = "link points outside the log tree"
    (day / "dir.json").mkdir()
    expected["dir.json"] = "is a directory"
    # Names that are not UTF-8: in a date directory, in sessions/ (split between workers on a first
    # load), and a date directory whose files are then not read.
    raw(os.fsdecode(b"bad\xff.json"), b"{}", None)
    expected.pop(os.fsdecode(b"bad\xff.json"))
    expected["bad\\xff.json"] = "name is not UTF-8 text"
    (logs / "sessions").mkdir(exist_ok=True)
    (logs / "sessions" / os.fsdecode(b"s\xfd.json")).write_text("{}")
    expected["s\\xfd.json"] = "name is not UTF-8 text"
    hidden_day = logs / "failures" / os.fsdecode(b"2025-12-\xfe")
    hidden_day.mkdir()
    (hidden_day / "hidden.json").write_text(json.dumps({"log_id": "hidden", "status": "failed"}))
    expected["2025-12-\\xfe"] = "name is not UTF-8 text: its files are not read"
    return expected


def test_hostile_files_load_or_are_skipped_with_their_reason(small_tree, index_of):
    expected = _hostile_tree(small_tree)
    index = index_of(small_tree)
    skipped = {Path(s["path"]).name: s["reason"] for s in report.skipped_files(index)}
    for name, reason in expected.items():
        if reason is None:
            assert name not in skipped, (name, skipped.get(name))
        else:
            assert skipped.get(name, "").startswith(reason), (name, skipped.get(name))
    loaded = {
        r[0]: r[1:]
        for r in index.cursor()
        .execute("SELECT log_id, status, return_code, tags, flags, copies FROM attempts")
        .fetchall()
    }
    assert {"bom", "types", "badtime", "future", "status", "dup", "space", "bigint"} <= set(loaded)
    assert loaded["types"][1:3] == (2, ["x"])
    assert loaded["status"][0] == "failed" and any("exploded" in f for f in loaded["status"][3])
    assert any("future" in f for f in loaded["future"][3])
    assert any("file time used" in f for f in loaded["badtime"][3])
    assert loaded["bigint"][1] is None and "return_code out of range" in loaded["bigint"][3]
    assert loaded["dup"][4] == 2
    assert "secret" not in loaded and "hidden" not in loaded
    # The small tree's own records all load beside them, and no row lacks a log_id.
    assert {"s1-a1", "s2-a1", "s4-a2"} <= set(loaded)
    assert index.cursor().execute("SELECT count(*) FROM attempts WHERE log_id IS NULL").fetchone()[0] == 0


def test_hostile_files_stay_skipped_on_every_later_load(small_tree, index_of):
    """Later loads re-check skipped files one by one: a link out of the tree is still refused then."""
    expected = _hostile_tree(small_tree)
    for path in [small_tree, *small_tree.rglob("*")]:
        if not path.is_symlink():
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 3_600_000_000_000))
    index = index_of(small_tree)
    first = sorted((s["path"], s["reason"]) for s in report.skipped_files(index))
    assert len(first) == sum(reason is not None for reason in expected.values())
    for _ in range(2):
        assert index.refresh().parsed == 0
        assert sorted((s["path"], s["reason"]) for s in report.skipped_files(index)) == first
    loaded = {row[0] for row in index.cursor().execute("SELECT log_id FROM attempts").fetchall()}
    assert "secret" not in loaded and "hidden" not in loaded


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file whatever its permissions")
def test_unreadable_file_is_skipped(small_tree, index_of):
    path = small_tree / "failures" / "2025-12-19" / "locked.json"
    path.write_text("{}")
    path.chmod(0)
    skipped = {Path(s["path"]).name: s["reason"] for s in report.skipped_files(index_of(small_tree))}
    assert skipped["locked.json"].startswith("cannot be read")


ORIGINAL_WRITER_SCRIPT = textwrap.dedent(
    """
    # The original writer's way: files written in place (not atomically), fixed_by set by rewriting.
    import json, sys, uuid
    from datetime import datetime
    from pathlib import Path
    logs, count = Path(sys.argv[1]), int(sys.argv[2])
    day = logs / "failures" / datetime.now().strftime("%Y-%m-%d")
    ok_day = logs / "successes" / datetime.now().strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True); ok_day.mkdir(parents=True, exist_ok=True)
    pad = "z" * 200_000
    for n in range(count):
        fail_id, ok_id = str(uuid.uuid4()), str(uuid.uuid4())
        failure = {"log_id": fail_id, "session_id": fail_id, "timestamp": datetime.now().isoformat(),
                   "status": "failed", "stdout": pad, "error_message": "boom"}
        with open(day / f"{fail_id}.json", "w") as f:
            json.dump(failure, f, indent=2)
        success = {"log_id": ok_id, "session_id": fail_id, "timestamp": datetime.now().isoformat(),
                   "status": "success", "previous_attempt_id": fail_id, "stdout": pad}
        with open(ok_day / f"{ok_id}.json", "w") as f:
            json.dump(success, f, indent=2)
        failure["fixed_by"] = ok_id
        with open(day / f"{fail_id}.json", "w") as f:
            json.dump(failure, f, indent=2)
    """
)


def test_loads_during_a_storm_of_writes_then_exact_counts(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    ScriptLogger(logs)
    writers = [
        subprocess.Popen([sys.executable, "-c", ORIGINAL_WRITER_SCRIPT, str(logs), "60"], env=ENV),
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT.replace("while True:", "for _ in range(40):"), str(logs)], env=ENV
        ),
    ]
    index = LogIndex(logs, cache_dir)
    loads = 0
    while any(w.poll() is None for w in writers):
        index.refresh()
        summary = metrics.summary(index)
        assert summary.fixed_failures <= summary.total_failures
        assert index.cursor().execute("SELECT count(*) FROM attempts WHERE log_id IS NULL").fetchone()[0] == 0
        loads += 1
    assert [w.wait() for w in writers] == [0, 0]
    time.sleep(2.1)  # past the window in which a directory's mtime is not trusted
    index.refresh()
    summary = metrics.summary(index)
    assert loads > 1
    assert (summary.total_failures, summary.total_successes, summary.fixed_failures) == (100, 100, 100)
    assert summary.skipped_files == 0


def test_index_update_killed_midway_is_repaired(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    counts = generate_tree(logs, sessions=2500, days=10, seed=3)  # enough files for the worker processes
    script = "import sys; from loaders.store.index import LogIndex; LogIndex(sys.argv[1], sys.argv[2]).refresh()"
    rng = random.Random(7)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", script, str(logs), str(cache_dir)], env=ENV)
        time.sleep(rng.uniform(0.2, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    index = LogIndex(logs, cache_dir)
    index.refresh()
    summary = metrics.summary(index)
    assert (summary.total_failures, summary.total_successes) == (counts.failures, counts.successes)
    assert summary.fixed_failures == counts.fixed_failures
    assert summary.sessions == counts.sessions


def _child_parse_workers() -> list[str]:
    """This process's children that are parse workers (read from /proc)."""
    found = []
    for proc_dir in Path("/proc").iterdir():
        try:
            parent = int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc_dir / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"loaders.ingest.parse_worker" in cmdline:
            found.append(proc_dir.name)
    return found


def test_parse_workers_end_with_the_load(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    generate_tree(logs, sessions=1500, days=5, seed=9)
    before = {t.name for t in threading.enumerate()}
    seen_during_load: list[int] = []
    LogIndex(logs, cache_dir).refresh(progress=lambda done, total: seen_during_load.append(len(_child_parse_workers())))
    assert max(seen_during_load) >= 1  # the load did use worker processes
    assert _child_parse_workers() == []
    assert {t.name for t in threading.enumerate()} <= before | {"MainThread"}


def test_a_load_killed_after_its_commit_is_not_counted_twice(tmp_path, cache_dir):
    """A load killed between its commit and writing ``loaded_at`` leaves rows in an index that looks
    never loaded: the next load replaces them (it doubled every count, seen once in CI)."""
    logs = tmp_path / "logs"
    counts = generate_tree(logs, sessions=200, days=5, seed=11)
    LogIndex(logs, cache_dir, in_memory=False).refresh()
    index = LogIndex(logs, cache_dir, in_memory=False)
    with index.index_file() as connection:
        connection.execute("DELETE FROM idx.meta WHERE key = 'loaded_at'")  # the state such a kill leaves
    index.close()
    index = LogIndex(logs, cache_dir)
    summary = metrics.summary(index)
    assert (summary.total_failures, summary.total_successes) == (counts.failures, counts.successes)
    assert summary.sessions == counts.sessions
