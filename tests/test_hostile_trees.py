"""Round two of hostile and unlucky trees: each case stopped a whole load, hung a reader or lost records."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loaders.analysis import attempts, metrics
from loaders.ingest.records import parse_json_object
from loaders.ingest.tree import list_candidates
from loaders.outputs import sections as report
from loaders.store.index import LogIndex
from tests.conftest import AS_OF, write_record

ROOT = Path(__file__).resolve().parents[1]
OUT_OF_RANGE = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59", "0001-01-01"]


def _skipped(index: LogIndex) -> dict[str, str]:
    return {Path(s["path"]).name or Path(s["path"]).parent.name: s["reason"] for s in report.skipped_files(index)}


def _flags(index: LogIndex) -> dict[str, list[str]]:
    return dict(index.cursor().execute("SELECT log_id, flags FROM attempts").fetchall())


def test_out_of_range_timestamps_are_flagged_and_the_load_goes_on(small_tree, index_of):
    for n, value in enumerate(OUT_OF_RANGE):
        path = write_record(small_tree, log_id=f"odd{n}", session_id=f"odd{n}", when=AS_OF)
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "timestamp": value}))
    sessions = small_tree / "sessions"
    (sessions / "odd0.json").write_text(json.dumps({"session_id": "odd0", "created_at": OUT_OF_RANGE[0]}))
    index = index_of(small_tree)
    flags = _flags(index)
    for n in range(len(OUT_OF_RANGE)):
        assert "timestamp out of range" in flags[f"odd{n}"] and "file time used as timestamp" in flags[f"odd{n}"]
    assert metrics.summary(index, as_of=AS_OF).total_failures == 4 + len(OUT_OF_RANGE)
    # The daily chart spans the real days, not millennia.
    assert len(metrics.daily_success_rate(index)) < 10_000


def test_out_of_range_timestamp_does_not_stop_the_cli(small_tree, cache_dir):
    path = write_record(small_tree, log_id="odd", when=AS_OF)
    path.write_text(json.dumps({**json.loads(path.read_text()), "timestamp": OUT_OF_RANGE[1]}))
    env = {**os.environ, "FIXTRAIL_CACHE_DIR": str(cache_dir)}
    result = subprocess.run(
        [sys.executable, "analyze_logs.py", "--logs-dir", str(small_tree), "--json", "summary"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total_failures"] == 5


@pytest.mark.timeout(60)
def test_a_fifo_is_skipped_on_every_read_path_and_never_blocks(small_tree, index_of):
    day = small_tree / "failures" / "2025-12-19"
    os.mkfifo(day / "listed-fifo.json")
    index = index_of(small_tree)
    assert _skipped(index)["listed-fifo.json"] == "not a regular file"
    # A record swapped for a FIFO after it was indexed: the session view and drill-down must not block.
    swapped = small_tree / "failures" / "2025-12-11" / "s1-a1.json"
    assert swapped.exists()
    swapped.unlink()
    os.mkfifo(swapped)
    assert attempts.attempt_record(index, "s1-a1") is None
    # An in-tree link whose target later becomes a FIFO.
    target = small_tree / "failures" / "2025-12-19" / "s2-a1.json"
    link = small_tree / "failures" / "2025-12-19" / "linked.json"
    record = json.loads(target.read_text())
    target.write_text(json.dumps({**record, "log_id": "target"}))
    link.symlink_to(target)
    target.rename(small_tree / "moved.json")
    index.refresh(full=True)
    os.mkfifo(target)
    index.refresh(full=True)
    skipped = _skipped(index)
    assert skipped["s1-a1.json"] == skipped["s2-a1.json"] == skipped["linked.json"] == "not a regular file"
    assert metrics.summary(index).total_failures == 2


def test_files_over_the_size_limit_are_skipped_with_the_reason(small_tree, cache_dir, monkeypatch):
    monkeypatch.setenv("FIXTRAIL_MAX_FILE_MB", "1")
    write_record(small_tree, log_id="big", stdout="y" * 1_200_000)
    write_record(small_tree, log_id="fits", stdout="y" * 900_000)
    index = LogIndex(small_tree, cache_dir)
    index.refresh()
    reason = _skipped(index)["big.json"]
    assert reason.startswith("larger than the 1.0 MiB limit (1.1 MiB") and "FIXTRAIL_MAX_FILE_MB" in reason
    loaded = {row[0] for row in index.cursor().execute("SELECT log_id FROM attempts").fetchall()}
    assert "fits" in loaded and "big" not in loaded


def test_a_row_larger_than_the_json_readers_default_object_loads_whole(small_tree, cache_dir):
    """The reader's largest JSON object follows the incoming files, not DuckDB's 16 MiB default."""
    prompt = "p" * (36 << 20)  # DuckDB reads objects of up to twice its limit
    quoted = ['say "q"'] * 100_000  # stored as JSON text: every quote escaped once more
    write_record(small_tree, log_id="huge", user_prompt=prompt, error_message=quoted)
    index = LogIndex(small_tree, cache_dir, in_memory=False)
    index.refresh()
    row = (
        index.cursor()
        .execute("SELECT length(user_prompt), length(error_message), flags FROM attempts WHERE log_id = 'huge'")
        .fetchone()
    )
    assert row[0] == 36 << 20
    assert row[1] == len(json.dumps(quoted, ensure_ascii=False))
    assert "error_message was list" in row[2]
    assert "huge.json" not in _skipped(index)


def test_a_larger_limit_rebuilds_the_index_and_loads_the_file(small_tree, cache_dir, monkeypatch):
    monkeypatch.setenv("FIXTRAIL_MAX_FILE_MB", "1")
    write_record(small_tree, log_id="big", stdout="y" * 1_200_000)
    index = LogIndex(small_tree, cache_dir)
    index.refresh()
    assert "big.json" in _skipped(index)
    monkeypatch.setenv("FIXTRAIL_MAX_FILE_MB", "2")
    again = LogIndex(small_tree, cache_dir)
    assert again.refresh().rebuilt_because is not None
    assert "big.json" not in _skipped(again)


@pytest.mark.parametrize(
    ("raw", "field", "expected"),
    [
        (b'{"log_id": "sur", "error_message": "bad \\udc80 text"}', "error_message", "bad \\udc80 text"),
        (b'{"log_id": "inf", "execution_time_seconds": 1e400}', "execution_time_seconds", float("inf")),
    ],
)
def test_json_that_only_the_json_module_accepts_is_a_record(raw, field, expected):
    assert parse_json_object(raw)[field] == expected


def test_records_with_surrogates_and_huge_numbers_count(small_tree, index_of):
    day = small_tree / "failures" / "2025-12-19"
    (day / "sur.json").write_bytes(b'{"log_id": "sur", "status": "failed", "stderr": "NameError: \\udc80"}')
    (day / "inf.json").write_bytes(b'{"log_id": "inf", "status": "failed", "return_code": 1e400}')
    index = index_of(small_tree)
    flags = _flags(index)
    assert "sur" in flags and "inf" in flags and "return_code unreadable" in flags["inf"]
    assert _skipped(index) == {}


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("in_memory", [True, False])
def test_an_index_file_cut_short_is_rebuilt(demo_tree, cache_dir, fraction, in_memory):
    root, counts = demo_tree
    index = LogIndex(root, cache_dir)
    index.refresh()
    size = index.path.stat().st_size
    os.truncate(index.path, int(size * fraction))
    again = LogIndex(root, cache_dir, in_memory=in_memory)
    report_ = again.refresh()
    assert report_.rebuilt_because and report_.rebuilt_because.startswith("unreadable index")
    assert metrics.summary(again).total_failures == counts.failures
    again.close()


def test_a_folder_linked_out_of_the_tree_is_reported_not_loaded(small_tree, index_of, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write_record(elsewhere, log_id="outside-ok", status="success", when=AS_OF)
    (small_tree / "successes").rename(tmp_path / "old-successes")
    (small_tree / "successes").symlink_to(elsewhere / "successes")
    index = index_of(small_tree)
    assert _skipped(index)["successes"] == "link points outside the log tree: its files are not read"
    summary = metrics.summary(index)
    assert summary.total_successes == 0 and summary.total_failures == 4
    # Linked back inside, without the link's own mtime moving: the next load reads it.
    (small_tree / "successes").unlink()
    (tmp_path / "old-successes").rename(small_tree / "successes")
    index.refresh()
    assert metrics.summary(index).total_successes == 3 and "successes" not in _skipped(index)


def test_a_date_directory_swapped_for_a_look_alike_outside_the_tree_is_not_read(small_tree, index_of, tmp_path):
    """After a load, a date directory is moved away and a link to a copy outside the tree takes its place:
    same names, the directory's mtime kept, its unfixed failure rewritten. Nothing of the copy is read."""
    unfixed = next(small_tree.glob("failures/*/s2-a1.json"))
    day = unfixed.parent
    os.utime(day, (1_700_000_000, 1_700_000_000))  # an old directory: its stored mtime is trusted
    index = index_of(small_tree)
    outside = tmp_path / "outside" / day.name
    shutil.copytree(day, outside)
    for copied in outside.glob("*.json"):
        data = json.loads(copied.read_text())
        data["error_message"] = "OUTSIDE_MARKER " + str(data.get("error_message"))
        copied.write_text(json.dumps(data))
    stamp = day.stat()
    os.utime(outside, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    day.rename(tmp_path / "moved-away")
    day.symlink_to(outside)
    index.refresh()
    messages = [row[0] or "" for row in index.cursor().execute("SELECT error_message FROM attempts").fetchall()]
    assert not any("OUTSIDE_MARKER" in message for message in messages)
    assert _skipped(index)[day.name] == "link points outside the log tree: its files are not read"
    assert metrics.summary(index).total_failures == 4 - len(list(outside.glob("*.json")))


UNLISTABLE_SCRIPT = """
import json, sys
from loaders.store.index import LogIndex
from loaders.analysis import metrics
from loaders.outputs import sections as report
index = LogIndex(sys.argv[1], sys.argv[2])
index.refresh()
print(json.dumps({"failures": metrics.summary(index).total_failures,
                  "skipped": [s["reason"] for s in report.skipped_files(index)]}))
"""


def test_a_date_directory_that_cannot_be_listed_is_reported(tmp_path):
    """Run as an unprivileged user (root lists every directory whatever its mode)."""
    base = tmp_path / "shared"
    base.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(base, 0o777)
    logs = base / "logs"
    write_record(logs, log_id="readable", when=AS_OF)
    hidden = write_record(logs, log_id="hidden", when=AS_OF.replace(day=1)).parent
    for path in [logs, *logs.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    hidden.chmod(0o300)
    cache = base / "cache"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    demote = None
    if os.geteuid() == 0:
        demote = lambda: (os.setgid(65534), os.setuid(65534))  # noqa: E731
        try:
            subprocess.run([sys.executable, "-c", "import duckdb"], preexec_fn=demote, check=True, timeout=60)
        except (OSError, subprocess.CalledProcessError):
            pytest.skip("the interpreter is not reachable by an unprivileged user here")
    result = subprocess.run(
        [sys.executable, "-c", UNLISTABLE_SCRIPT, str(logs), str(cache)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(base)},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=demote,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["failures"] == 1
    assert loaded["skipped"] == ["directory cannot be listed (Permission denied): its files are not read"]


def test_a_directory_that_fails_to_list_gives_one_row_saying_why(tmp_path):
    """The listing error as any user meets it: here the date directory was replaced by a file."""
    not_a_dir = tmp_path / "failures" / "2025-12-20"
    not_a_dir.parent.mkdir()
    not_a_dir.write_text("")
    listed = list_candidates(str(not_a_dir), tmp_path)
    assert [(stamp.path, reason) for stamp, reason in listed] == [
        (f"{not_a_dir}/", "directory cannot be listed (Not a directory): its files are not read")
    ]


@pytest.mark.parametrize("headroom_mib", [192, 16])
def test_a_large_change_in_a_long_running_process_loads_whole_under_its_memory_bound(
    small_tree, cache_dir, monkeypatch, tmp_path, headroom_mib
):
    """An in-memory index bounds DuckDB's memory while it applies a large change (LogIndex._memory_bounded):
    a 36 MiB row still loads (with 16 MiB to spare, what does not fit spills next to the index, not
    into the working directory), and the bound is lifted after."""
    import contextlib

    import duckdb

    from loaders.store import index as index_module
    from loaders.store import refresh as refresh_module

    default_limit = duckdb.connect().execute("SELECT current_setting('memory_limit')").fetchone()[0]
    limits_seen = []
    bounded = index_module.LogIndex._memory_bounded

    @contextlib.contextmanager
    def watched(self, changes, early_copy):
        with bounded(self, changes, early_copy):
            limits_seen.append(self._connection.execute("SELECT current_setting('memory_limit')").fetchone()[0])
            yield

    monkeypatch.setattr(index_module.LogIndex, "_memory_bounded", watched)
    monkeypatch.setattr(refresh_module, "BOUNDED_CHANGE_FILES", 1)
    monkeypatch.setattr(refresh_module, "APPLY_MEMORY_HEADROOM", headroom_mib << 20)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    write_record(small_tree, log_id="huge", user_prompt="p" * (36 << 20))
    unbounded = LogIndex(small_tree, tmp_path / "unbounded", in_memory=False)
    unbounded.refresh()
    index = LogIndex(small_tree, cache_dir)
    sql = "SELECT log_id, length(user_prompt), fingerprint, session_id, category FROM attempts ORDER BY log_id"
    rows = index.cursor().execute(sql).fetchall()
    assert rows == unbounded.cursor().execute(sql).fetchall()
    assert ("huge", 36 << 20) in {row[:2] for row in rows}
    assert any(limit != default_limit for limit in limits_seen)  # bounded while the change was applied
    assert index.cursor().execute("SELECT current_setting('memory_limit')").fetchone()[0] == default_limit
    assert not list(work.iterdir())
    unbounded.close()


def test_a_value_nested_a_thousand_deep_loads_and_is_shown_cut(tmp_path, cache_dir):
    """stdout and code as lists 1,000 deep (2 KB): the tree loads, the record is flagged, and every way
    out shows it without a recursion error (cut at loaders.text.secrets.MAX_DEPTH)."""
    from fastapi.testclient import TestClient

    from api.server import create_app
    from loaders.text.secrets import TOO_DEEP

    day = tmp_path / "logs" / "failures" / "2026-11-02"
    day.mkdir(parents=True)
    deep = "[" * 1000 + '"x"' + "]" * 1000
    (day / "d1.json").write_text(
        '{"log_id": "d1", "session_id": "d1", "timestamp": "2026-11-02T10:00:00", "status": "failed", '
        f'"error_message": "boom", "stdout": {deep}, "code": {deep}}}'
    )
    with LogIndex(tmp_path / "logs", cache_dir) as index:
        row = index.frame("SELECT flags, stdout_chars FROM attempts WHERE log_id = 'd1'").iloc[0]
    assert "code was list" in list(row["flags"]) and row["stdout_chars"] > 0
    client = TestClient(create_app(tmp_path / "logs", cache_dir, extra_hosts=("testserver",)))
    answer = client.get("/api/logs/log/d1")
    assert answer.status_code == 200 and TOO_DEEP in answer.text
    assert client.get("/api/logs/session/d1").status_code == 200
