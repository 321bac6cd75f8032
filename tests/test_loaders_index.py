"""The persistent index: incremental reloads, bad files, corrupt indexes, two processes."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from loaders.analysis import metrics
from loaders.ingest import scan
from loaders.outputs import sections as report
from loaders.store.cache import index_path_for
from loaders.store.index import LogIndex
from tests.conftest import AS_OF, write_record

BAD_FILES = {
    "truncated.json": b'{"log_id": "t", "status": "fai',
    "empty.json": b"",
    "list.json": b"[1, 2, 3]",
    "null.json": b"null",
    "string.json": b'"just text"',
    "latin1.json": '{"log_id": "caf\xe9"}'.encode("latin-1"),
}


def _touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def _rewrite_in_place(path: Path, **fields: object) -> None:
    """Rewrite a record's file in place (its directory's mtime does not move) with ``fields`` changed."""
    data = json.loads(path.read_text())
    data.update(fields)
    path.write_text(json.dumps(data))
    _touch_later(path)


def test_second_refresh_parses_nothing(small_tree, index_of):
    index = index_of(small_tree)
    report_again = index.refresh()
    assert (report_again.parsed, report_again.removed, report_again.changed) == (0, 0, False)


def test_new_changed_and_deleted_files(small_tree, index_of):
    index = index_of(small_tree)
    version = index.version
    new = write_record(small_tree, log_id="s5-a1", session_id="S5", when=AS_OF - timedelta(hours=2))
    assert index.refresh().parsed == 1
    assert metrics.summary(index, as_of=AS_OF).total_failures == 5
    # The fix of S2 lands after the first load: the failure file is rewritten with fixed_by.
    _rewrite_in_place(next(small_tree.glob("failures/*/s2-a1.json")), fixed_by="s3-a1")
    assert index.refresh().parsed == 1
    summary = metrics.summary(index, as_of=AS_OF)
    assert (summary.fixed_failures, summary.unfixed_failures) == (4, 1)
    new.unlink()
    refreshed = index.refresh()
    assert refreshed.removed == 1 and index.version > version
    assert metrics.summary(index, as_of=AS_OF).total_failures == 4


def test_bad_files_are_skipped_with_reasons_and_others_load(small_tree, index_of):
    day_dir = small_tree / "failures" / "2025-12-20"
    day_dir.mkdir(exist_ok=True)
    for name, content in BAD_FILES.items():
        (day_dir / name).write_bytes(content)
    (day_dir / "dir.json").mkdir()
    (day_dir / ".hidden.json").write_text("{}")
    (day_dir / "notes.txt").write_text("not a record")
    (day_dir / ".x.tmp").write_text("{")
    index = index_of(small_tree)
    skipped = {Path(s["path"]).name: s["reason"] for s in report.skipped_files(index)}
    assert set(skipped) == {*BAD_FILES, "dir.json"}
    assert skipped["empty.json"] == "empty file"
    assert skipped["list.json"] == "JSON value is list, not an object"
    assert skipped["null.json"] == "JSON value is null, not an object"
    assert skipped["latin1.json"].startswith("not UTF-8")
    assert skipped["truncated.json"].startswith("invalid JSON")
    assert skipped["dir.json"] == "is a directory, not a file"
    summary = metrics.summary(index, as_of=AS_OF)
    assert summary.total_failures == 4 and summary.skipped_files == len(BAD_FILES) + 1
    nulls = index.cursor().execute("SELECT count(*) FROM attempts WHERE log_id IS NULL").fetchone()[0]
    assert nulls == 0


def test_skipped_file_that_becomes_valid_is_loaded(small_tree, index_of):
    broken = small_tree / "failures" / "2025-12-19" / "late.json"
    broken.write_text('{"log_id": "late", "sta')
    index = index_of(small_tree)
    assert metrics.summary(index, as_of=AS_OF).skipped_files == 1
    broken.write_text(json.dumps({"log_id": "late", "status": "failed", "timestamp": AS_OF.isoformat()}))
    _touch_later(broken)
    index.refresh()
    summary = metrics.summary(index, as_of=AS_OF)
    assert (summary.skipped_files, summary.total_failures) == (0, 5)


def test_odd_values_are_coerced_and_flagged(small_tree, index_of):
    day_dir = small_tree / "failures" / "2025-12-20"
    day_dir.mkdir(exist_ok=True)
    (day_dir / "odd.json").write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(
            {"status": "failed", "return_code": "2", "tags": "lib:cv2", "timestamp": "2025-12-20T10:00:00Z"}
        ).encode()
    )
    index = index_of(small_tree)
    row = (
        index.cursor()
        .execute("SELECT log_id, session_id, return_code, tags, flags FROM attempts WHERE log_id = 'odd'")
        .fetchone()
    )
    assert row[:4] == ("odd", "odd", 2, ["lib:cv2"])
    assert "return_code was str" in row[4] and "tags was a string" in row[4]


def test_index_lives_in_the_cache_not_the_tree(small_tree, cache_dir, index_of):
    index = index_of(small_tree)
    assert index.path.parent == cache_dir.resolve()
    assert not list(small_tree.rglob("*.duckdb"))
    with pytest.raises(ValueError, match="inside the log tree"):
        LogIndex(small_tree, small_tree / "cache")


def test_corrupt_index_is_rebuilt(small_tree, cache_dir, index_of):
    index_of(small_tree)
    path = index_path_for(small_tree.resolve(), cache_dir.resolve())
    path.write_bytes(b"this is not a duckdb file" * 100)
    fresh = LogIndex(small_tree, cache_dir)
    result = fresh.refresh()
    assert result.rebuilt_because and result.parsed == 9
    assert metrics.summary(fresh, as_of=AS_OF).total_failures == 4


def test_two_processes_load_the_same_index_at_once(small_tree, cache_dir):
    script = (
        "import sys; from loaders.store.index import open_index; from loaders.analysis.metrics import summary;"
        "print(summary(open_index(sys.argv[1], sys.argv[2])).total_failures)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(small_tree), str(cache_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    assert [out.strip() for out, _ in outputs] == ["4"] * 4


def _age_directories(root: Path, seconds: int = 60) -> None:
    """Make every directory look settled (older than the racy window), as a tree at rest is."""
    for directory in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        stat = directory.stat()
        os.utime(directory, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 1_000_000_000))


def test_quick_scan_sees_in_place_rewrites_that_writers_make(small_tree, index_of):
    _age_directories(small_tree)
    index = index_of(small_tree)
    index.refresh()  # directory mtimes are now trusted
    # A new attempt of session S2 in a new date directory, and S2's session file rewritten in place.
    write_record(small_tree, log_id="s2-a2", session_id="S2", status="success", when=AS_OF)
    session_file = small_tree / "sessions" / "S2.json"
    session_file.write_text(json.dumps({"session_id": "S2", "status": "resolved", "attempts": []}))
    report_after = index.refresh()
    assert report_after.parsed == 2
    listed = index.cursor().execute("SELECT status FROM session_files WHERE session_id = 'S2'").fetchone()
    assert listed == ("resolved",)
    assert metrics.summary(index, as_of=AS_OF).unfixed_failures == 0


def test_quick_scan_trusts_settled_directories_and_full_scan_checks_everything(small_tree, index_of):
    _age_directories(small_tree)
    index = index_of(small_tree)
    index.refresh()
    # A failure that has its fixed_by, edited in place by hand: no writer does this, so only a full scan looks.
    _rewrite_in_place(next(small_tree.glob("failures/*/s4-a1.json")), ai_model="edited-by-hand")
    assert index.refresh().parsed == 0
    assert index.refresh(full=True).parsed == 1
    model = index.cursor().execute("SELECT ai_model FROM attempts WHERE log_id = 's4-a1'").fetchone()[0]
    assert model == "edited-by-hand"


def test_recently_modified_directories_are_listed_again(small_tree, index_of):
    index = index_of(small_tree)  # the tree was just written: its directories are within the racy window
    late = write_record(small_tree, log_id="late-1", session_id="L", when=AS_OF - timedelta(days=10))
    day_dir = late.parent
    # Even if the directory's mtime had not moved, a directory modified so recently is not trusted.
    stat = day_dir.stat()
    os.utime(day_dir, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert index.refresh().parsed == 1


def test_removed_date_directory_drops_its_rows(small_tree, index_of):
    index = index_of(small_tree)
    day = next(small_tree.glob("failures/*/s2-a1.json")).parent
    shutil.rmtree(day)
    report_after = index.refresh()
    assert report_after.removed == 1
    assert metrics.summary(index, as_of=AS_OF).total_failures == 3


def test_worker_processes_parse_exactly_as_this_process_does(small_tree, tmp_path):
    from loaders.ingest.parsing import WorkerPool, parse_batches
    from loaders.ingest.records import FileStamp

    (small_tree / "failures" / "2025-12-19" / "broken.json").write_text("{nope")
    items = [
        (FileStamp(str(p), -1, -1), "sessions" if p.parent.name == "sessions" else p.parts[-3])
        for p in sorted(small_tree.rglob("*.json"))
    ]
    local = list(parse_batches(items))
    with WorkerPool(2) as pool:
        remote = list(parse_batches(items, pool=pool))

    def rows(batches, part):
        return sorted(json.dumps(row, sort_keys=True) for b in batches for row in json.loads(getattr(b, part)))

    for part in ("attempts", "sessions", "skipped"):
        assert rows(remote, part) == rows(local, part)
    assert sum(b.skipped_count for b in remote) == 1
    assert len(rows(remote, "attempts")) == 7


def test_incremental_facts_equal_a_full_recompute(small_tree, index_of):
    from loaders.store.facts import COUNTED_ATTEMPTS_SELECT, LOGGED_FACTS_SELECT

    index = index_of(small_tree)
    # New attempts in an existing session, a session moved, a file removed, a duplicate log_id.
    write_record(small_tree, log_id="s2-a2", session_id="S2", status="success", when=AS_OF - timedelta(hours=20))
    _rewrite_in_place(next(small_tree.glob("failures/*/s1-a2.json")), session_id="S3")
    next(small_tree.glob("successes/*/s4-a2.json")).unlink()
    write_record(small_tree, log_id="s3-a1", session_id="S3", status="failed", when=AS_OF - timedelta(hours=2))
    assert index.refresh(full=True).parsed == 3
    with index.index_file() as connection:
        incremental = connection.execute("SELECT * FROM idx.attempt_facts ORDER BY path").fetchall()
        full = connection.execute(f"SELECT * FROM ({LOGGED_FACTS_SELECT.format(scope='')}) ORDER BY path").fetchall()
        counted = connection.execute("SELECT * FROM idx.counted_attempts ORDER BY path").fetchall()
        counted_again = connection.execute(f"SELECT * FROM ({COUNTED_ATTEMPTS_SELECT}) ORDER BY path").fetchall()
    assert incremental == full
    assert counted == counted_again  # the stored attempts queries read, row for row
    assert len(counted) == len(full)
    assert metrics.summary(index, as_of=AS_OF).total_failures == 5


def _age_everything(root: Path, seconds: int) -> None:
    """Make every file and directory of the tree look written ``seconds`` ago."""
    for path in [root, *root.rglob("*")]:
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 1_000_000_000))


def test_a_retry_logged_later_finds_the_failure_it_fixed_rewritten_in_place(tmp_path, index_of):
    """The original writer rewrites the failure a success names; the scan checks a new attempt's session."""
    root = tmp_path / "logs"
    write_record(root, log_id="r-a1", session_id="R", when=AS_OF - timedelta(hours=3))
    write_record(root, log_id="r-a2", session_id="R", previous_attempt_id="r-a1", when=AS_OF - timedelta(hours=2))
    _age_everything(root, 3600)  # settled: r-a1 is neither recent nor the last attempt of its session
    index = index_of(root)
    write_record(root, log_id="r-a3", session_id="R", status="success", previous_attempt_id="r-a1", when=AS_OF)
    _rewrite_in_place(next(root.glob("failures/*/r-a1.json")), fixed_by="r-a3")
    assert index.refresh().parsed == 2
    fixed_by = index.cursor().execute("SELECT fixed_by FROM attempts WHERE log_id = 'r-a1'").fetchone()[0]
    assert fixed_by == "r-a3"


def test_a_new_process_copies_the_index_and_sees_what_changed_since(small_tree, cache_dir):
    first = LogIndex(small_tree, cache_dir)
    first.refresh()
    unchanged = LogIndex(small_tree, cache_dir)  # its copy is made while the scan finds nothing
    unchanged.refresh()
    assert metrics.summary(unchanged, as_of=AS_OF) == metrics.summary(first, as_of=AS_OF)
    write_record(small_tree, log_id="late-2", session_id="L2", when=AS_OF - timedelta(hours=1))
    changed = LogIndex(small_tree, cache_dir)  # its early copy is out of date once the scan finds late-2
    assert changed.refresh().parsed == 1
    assert (
        metrics.summary(changed, as_of=AS_OF).total_failures == metrics.summary(first, as_of=AS_OF).total_failures + 1
    )
    on_file = LogIndex(small_tree, cache_dir, in_memory=False)
    on_file.refresh()
    assert metrics.summary(on_file, as_of=AS_OF) == metrics.summary(changed, as_of=AS_OF)
    on_file.close()


def test_first_load_directory_tasks_in_workers_equal_this_process(small_tree, tmp_path, monkeypatch):
    """A first load lets workers list and parse whole directories (folder roots split in shards)."""
    from loaders.ingest import parsing
    from loaders.ingest.parsing import WorkerPool, parse_batches
    from loaders.ingest.scan import ChangeFinder
    from loaders.ingest.tree import list_candidates

    (small_tree / "failures" / "flat-1.json").write_text(json.dumps({"log_id": "flat-1", "status": "failed"}))
    (small_tree / "failures" / "2025-12-19" / "broken.json").write_text("{nope")
    (small_tree / "successes" / "2025-12-20" / "folder.json").mkdir(parents=True)
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (small_tree / "sessions" / "linked.json").symlink_to(outside)
    sessions_dir = str(small_tree / "sessions")
    shards = [list_candidates(sessions_dir, small_tree, shard, 3) for shard in range(3)]
    names = [stamp.path for shard in shards for stamp, _ in shard]
    assert sorted(names) == sorted(stamp.path for stamp, _ in list_candidates(sessions_dir, small_tree))
    assert len(names) == len(set(names))

    tasks = ChangeFinder(small_tree, None).first_load(workers=2).directories
    local = list(parse_batches([], directories=tasks))
    with WorkerPool(2) as pool:
        remote = list(parse_batches([], pool=pool, directories=tasks))
    # A directory's files come a few at a time (a worker never holds a whole directory's rows).
    monkeypatch.setattr(parsing, "DIRECTORY_BATCH_FILES", 1)
    small_tasks = ChangeFinder(small_tree, None).first_load(workers=2).directories
    done: list[tuple[int, int]] = []
    with WorkerPool(2) as pool:
        in_batches = list(parse_batches([], lambda *step: done.append(step), pool, small_tasks))
    assert len(in_batches) > len(small_tasks) and max(b.files for b in in_batches) == 1
    assert done[-1] == (len(small_tasks), len(small_tasks))  # progress counts tasks, each once
    assert len(list(parse_batches([], directories=small_tasks))) == len(in_batches)

    def rows(batches, part):
        return sorted(json.dumps(row, sort_keys=True) for b in batches for row in json.loads(getattr(b, part)))

    for part in ("attempts", "sessions", "skipped"):
        assert rows(remote, part) == rows(local, part) == rows(in_batches, part)
    skipped = {json.loads(row)["path"].rsplit("/", 1)[-1]: json.loads(row)["reason"] for row in rows(remote, "skipped")}
    assert skipped == {
        "broken.json": skipped["broken.json"],
        "folder.json": "is a directory, not a file",
        "linked.json": "link points outside the log tree",
    }
    assert skipped["broken.json"].startswith("invalid JSON")
    assert len(rows(remote, "attempts")) == 8


def test_a_new_process_finding_thousands_of_new_files_replaces_its_early_copy(small_tree, cache_dir):
    """A load big enough to checkpoint the index waits for the copy made while scanning, then copies again."""
    from loaders.store.refresh import CHECKPOINT_AFTER_FILES

    LogIndex(small_tree, cache_dir).refresh()
    for number in range(CHECKPOINT_AFTER_FILES + 10):
        write_record(small_tree, log_id=f"bulk-{number}", when=AS_OF - timedelta(minutes=number))
    index = LogIndex(small_tree, cache_dir)
    assert index.refresh().parsed == CHECKPOINT_AFTER_FILES + 10
    assert metrics.summary(index, as_of=AS_OF).total_failures == 4 + CHECKPOINT_AFTER_FILES + 10


def _databases(index: LogIndex) -> set[str]:
    return {name for (name,) in index.cursor().execute("SELECT database_name FROM duckdb_databases()").fetchall()}


def _compressed_parts(index: LogIndex) -> set[str]:
    return {name for name in _databases(index) if name.startswith("compressed_copy")}


def test_a_big_copy_is_compressed_and_answers_the_same(small_tree, cache_dir, monkeypatch):
    """From COMPRESS_FROM_ATTEMPTS attempts on, the in-memory copy is a compressed database; the
    numbers do not change, and a tree that falls back below it gets a plain copy again."""
    import loaders.store.memory_copy

    plain = LogIndex(small_tree, cache_dir)
    expected = metrics.summary(plain, as_of=AS_OF)
    assert not _compressed_parts(plain)

    monkeypatch.setattr(loaders.store.memory_copy, "COMPRESS_FROM_ATTEMPTS", 1)
    compressed = LogIndex(small_tree, cache_dir)
    assert metrics.summary(compressed, as_of=AS_OF) == expected
    # One compressed part per CPU (at most 4), copied side by side; ``attempts`` is their union.
    parts = loaders.store.memory_copy.copy_parts()
    assert _compressed_parts(compressed) == {f"compressed_copy_memory_{parts}_{n}" for n in range(parts)}
    counts = "SELECT count(*), count(DISTINCT path) FROM attempts"
    attempts = plain.cursor().execute(counts).fetchone()[0]
    assert compressed.cursor().execute(counts).fetchone() == (attempts, attempts)  # parts disjoint, none lost
    copied = "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'memory' AND schema_name = 'copied'"
    assert compressed.cursor().execute(copied).fetchone()[0] == 0

    monkeypatch.setattr(loaders.store.memory_copy, "COMPRESS_FROM_ATTEMPTS", 10**9)
    write_record(small_tree, log_id="late", session_id="LATE")
    compressed.refresh()
    assert not _compressed_parts(compressed)
    assert metrics.summary(compressed, as_of=AS_OF).total_failures == expected.total_failures + 1


def test_a_process_that_queries_the_index_file_keeps_duckdb_to_a_bound(small_tree, cache_dir):
    """A CLI command's index (no copy) holds DuckDB to INDEX_FILE_MEMORY_LIMIT from the start, after
    its first load (bounded on its own) and after a small change: the file's blocks are paged, not
    held; a dashboard's (in-memory copy) is not bounded so."""
    from loaders.store.memory_copy import INDEX_FILE_MEMORY_LIMIT

    def limit(index: LogIndex) -> str:
        return index._connection.execute("SELECT current_setting('memory_limit')").fetchone()[0]

    expected = INDEX_FILE_MEMORY_LIMIT.replace("MiB", ".0 MiB")
    with LogIndex(small_tree, cache_dir, in_memory=False) as index:
        assert limit(index) == expected
        first = metrics.summary(index, as_of=AS_OF)
        assert limit(index) == expected
        write_record(small_tree, log_id="late", session_id="LATE")
        index.refresh()
        assert metrics.summary(index, as_of=AS_OF).total_failures == first.total_failures + 1
        assert limit(index) == expected
    dashboard = LogIndex(small_tree, cache_dir)
    dashboard.cursor()
    default = duckdb.connect().execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit(dashboard) == default  # its copy is in memory: DuckDB's default


def test_a_copy_of_a_large_tree_lives_in_files_that_go_with_it(small_tree, cache_dir, monkeypatch):
    """From FILE_COPY_FROM_ATTEMPTS attempts on, the copy's parts are database files in the process's
    spill directory and DuckDB's memory is bounded: the same answers; below it again, the files go."""
    import loaders.store.memory_copy as memory_copy

    expected = metrics.summary(LogIndex(small_tree, cache_dir), as_of=AS_OF)
    monkeypatch.setattr(memory_copy, "COMPRESS_FROM_ATTEMPTS", 1)
    monkeypatch.setattr(memory_copy, "FILE_COPY_FROM_ATTEMPTS", 1)
    index = LogIndex(small_tree, cache_dir)
    assert metrics.summary(index, as_of=AS_OF) == expected
    parts = memory_copy.copy_parts()
    assert _compressed_parts(index) == {f"compressed_copy_file_{parts}_{n}" for n in range(parts)}
    sql = "SELECT path FROM duckdb_databases() WHERE starts_with(database_name, 'compressed_copy_file_')"
    files = [Path(path) for (path,) in index.cursor().execute(sql).fetchall()]
    spill = index.cursor().execute("SELECT current_setting('temp_directory')").fetchone()[0]
    assert files and all(path.exists() and path.parent == Path(spill) for path in files)
    limit = index.cursor().execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit == "384.0 MiB"  # FILE_COPY_MEMORY_LIMIT
    write_record(small_tree, log_id="late", session_id="LATE")
    index.refresh()  # copied again into the same files
    assert metrics.summary(index, as_of=AS_OF).total_failures == expected.total_failures + 1
    assert all(path.exists() for path in files)

    monkeypatch.setattr(memory_copy, "FILE_COPY_FROM_ATTEMPTS", 10**9)
    write_record(small_tree, log_id="later", session_id="LATER")
    index.refresh()
    assert _compressed_parts(index) == {f"compressed_copy_memory_{parts}_{n}" for n in range(parts)}
    assert not any(path.exists() for path in files)  # the files went with their copy
    limit = index.cursor().execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit != "384.0 MiB"
    assert metrics.summary(index, as_of=AS_OF).total_failures == expected.total_failures + 2
    monkeypatch.setattr(memory_copy, "FILE_COPY_FROM_ATTEMPTS", 1)
    write_record(small_tree, log_id="last", session_id="LAST")
    index.refresh()
    assert any(Path(spill).glob("compressed_copy_file_*.duckdb"))
    del index
    gc.collect()
    assert not Path(spill).exists()  # the index's spill directory and its copy's files go with it


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_a_copy_in_parts_is_made_again_while_readers_query_it(small_tree, cache_dir, monkeypatch, kind):
    """The dashboard's pattern on a big tree: sessions query the compressed copy in parts while
    refreshes after new files make it again; no query fails or counts a row twice, and the last
    numbers are exact. The first load is a large change (copied in twice as many parts), the
    refreshes after it small ones, copied in as many parts as the first (a copy in other parts
    would detach the databases running queries read)."""
    import loaders.store.memory_copy
    import loaders.store.refresh

    monkeypatch.setattr(loaders.store.memory_copy, "COMPRESS_FROM_ATTEMPTS", 1)
    if kind == "file":
        monkeypatch.setattr(loaders.store.memory_copy, "FILE_COPY_FROM_ATTEMPTS", 1)
    monkeypatch.setattr(loaders.store.refresh, "BOUNDED_CHANGE_FILES", 5)  # the tree's 7 attempts make a large change
    index = LogIndex(small_tree, cache_dir)
    index.refresh()
    parts = loaders.store.memory_copy.copy_parts()
    assert _compressed_parts(index) == {f"compressed_copy_{kind}_{2 * parts}_{n}" for n in range(2 * parts)}
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                summary = metrics.summary(index, as_of=AS_OF)
                assert summary.fixed_failures <= summary.total_failures
                rows, paths = index.cursor().execute("SELECT count(*), count(DISTINCT path) FROM attempts").fetchone()
                assert rows == paths, (rows, paths)
                index.cursor().execute("SELECT count(*) FROM session_files").fetchone()
            except BaseException as exc:  # reported to the test below
                errors.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for number in range(8):
            write_record(small_tree, log_id=f"late-{number}", when=AS_OF - timedelta(minutes=number))
            index.refresh()
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=60)
    assert not errors, errors
    assert metrics.summary(index, as_of=AS_OF).total_failures == 4 + 8
    assert _compressed_parts(index) == {f"compressed_copy_{kind}_{2 * parts}_{n}" for n in range(2 * parts)}


def _settle(root: Path) -> None:
    """Date every directory a minute back: too recent a directory is listed again at every scan (scan.RACY_SECONDS)."""
    a_minute_ago = time.time() - 60
    for directory in [root, *root.rglob("*")]:
        if directory.is_dir():
            os.utime(directory, (a_minute_ago, a_minute_ago))


def test_watched_files_are_read_again_only_once_the_index_changed(small_tree, index_of, monkeypatch):
    _settle(small_tree)
    _dormant_files_due(monkeypatch)  # the dormant files are read and stat-ed at every scan
    index = index_of(small_tree)
    index.refresh()
    index.refresh()
    watched = index.source._watched
    kept = watched.files
    # S2's unfixed last failure, in a session that logged nothing for years: dormant, stat-ed in slices
    assert any(path.endswith("s2-a1.json") for path, _, _ in watched.dormant)
    index.refresh()
    assert watched.files is kept  # nothing changed: not queried again
    _rewrite_in_place(next(small_tree.glob("failures/*/s2-a1.json")), fixed_by="s3-a1")
    assert index.refresh().parsed == 1  # the rewrite is found through the dormant slice
    index.refresh()
    assert not any(path.endswith("s2-a1.json") for path, _, _ in watched.files + watched.dormant)  # fixed now


def test_dormant_failures_are_checked_a_slice_at_a_time_and_every_one_in_turn(small_tree, index_of, monkeypatch):
    """Each due check stats the next DORMANT_SLICE_FILES dormant failures where the last one stopped, so
    its cost does not grow with the tree; a rewrite of any of them is found within one sweep."""
    for number in range(5):
        write_record(small_tree, log_id=f"old-{number}", session_id=f"OLD{number}", when=datetime(2024, 1, 1))
    _settle(small_tree)
    _dormant_files_due(monkeypatch)
    monkeypatch.setattr(scan, "DORMANT_SLICE_FILES", 2)
    index = index_of(small_tree)
    index.refresh()
    watched = index.source._watched
    dormant = set()
    for _ in range(4):
        index.refresh()
        assert len(watched.dormant) <= 2
        dormant |= {path for path, _, _ in watched.dormant}
    old = {str(path) for path in small_tree.glob("failures/*/old-*.json")}
    assert len(old) == 5 and old <= dormant  # every dormant failure was stat-ed in turn
    last_seen = sorted(dormant)[-1]
    _rewrite_in_place(Path(last_seen), ai_model="rewritten")
    found = [index.refresh().parsed for _ in range(4)]
    assert found.count(1) == 1  # found once, within one sweep of the slices


def test_dormant_failures_are_checked_once_an_interval(small_tree, index_of, monkeypatch):
    """A rewrite of an old session's last failure (no retry logged with it) shows within DORMANT_CHECK_SECONDS;
    one of a recent session's failure at the next scan."""
    write_record(small_tree, log_id="now-a1", session_id="NOW", when=datetime.now() - timedelta(seconds=30))
    _settle(small_tree)
    index = index_of(small_tree)
    index.refresh()
    watched = index.source._watched
    assert any(path.endswith("now-a1.json") for path, _, _ in watched.files)
    assert not any(path.endswith("now-a1.json") for path, _, _ in watched.dormant)
    _rewrite_in_place(next(small_tree.glob("failures/*/now-a1.json")), fixed_by="now-a2")
    _rewrite_in_place(next(small_tree.glob("failures/*/s2-a1.json")), ai_model="rewritten")
    assert index.refresh().parsed == 1  # the recent session's failure; the dormant one is not due
    fixed_by = index.cursor().execute("SELECT fixed_by FROM attempts WHERE log_id = 'now-a1'").fetchone()[0]
    assert fixed_by == "now-a2"
    watched.dormant_checked_at -= scan.DORMANT_CHECK_SECONDS  # due for this process, not for the index
    assert index.refresh().parsed == 0
    _dormant_files_due(monkeypatch)
    assert index.refresh().parsed == 1
    assert index.cursor().execute("SELECT ai_model FROM attempts WHERE log_id = 's2-a1'").fetchone()[0] == "rewritten"
    assert index.refresh().parsed == 0


def _dormant_files_due(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the dormant files due at every scan from now on, for the process and the index."""
    monkeypatch.setattr(scan, "DORMANT_CHECK_SECONDS", 0.0)


def test_processes_of_one_index_check_the_dormant_failures_once_an_interval_together(
    small_tree, cache_dir, monkeypatch
):
    """A CLI command is a new process each time: the dormant files are stat-ed when no process of the
    index did in the last DORMANT_CHECK_SECONDS, not by every command (147,000 files at 1M sessions)."""
    _settle(small_tree)
    with LogIndex(small_tree, cache_dir=cache_dir) as first:  # a first load checks every file
        first.refresh()
    _rewrite_in_place(next(small_tree.glob("failures/*/s2-a1.json")), ai_model="rewritten")
    with LogIndex(small_tree, cache_dir=cache_dir) as fresh:  # within the interval: not stat-ed again
        assert fresh.refresh().parsed == 0
        assert fresh.source._watched.dormant == []  # not even read from the index
    _dormant_files_due(monkeypatch)
    with LogIndex(small_tree, cache_dir=cache_dir) as later:
        assert later.refresh().parsed == 1  # the interval passed: this process stats them


def test_the_time_of_the_last_dormant_check_is_read_with_care(tmp_path):
    connection = duckdb.connect()
    connection.execute("ATTACH ':memory:' AS idx")
    connection.execute("CREATE TABLE idx.source_marks (scope VARCHAR PRIMARY KEY, mark VARCHAR)")
    finder = scan.ChangeFinder(tmp_path, connection)
    assert finder._dormant_due_for_all()  # never checked
    for value, due in (
        (time.time(), False),
        (time.time() - scan.DORMANT_CHECK_SECONDS - 1, True),
        (time.time() + 3600, True),  # in the future: a clock set back
        ("not a time", True),
    ):
        mark = [scan.DORMANT_CHECK_MARK, str(value)]
        connection.execute("INSERT OR REPLACE INTO idx.source_marks VALUES (?, ?)", mark)
        assert finder._dormant_due_for_all() is due, value


def test_a_refresh_that_fails_after_its_scan_does_not_count_as_a_dormant_check(small_tree, cache_dir, monkeypatch):
    """The time of the check is written with the scan's changes: a refresh that fails writes neither."""
    _settle(small_tree)
    path = index_path_for(LogIndex(small_tree, cache_dir).root, cache_dir.resolve())

    def checked_at() -> float:
        with duckdb.connect(str(path), read_only=True) as connection:
            sql = "SELECT mark FROM source_marks WHERE scope = ?"
            return float(connection.execute(sql, [scan.DORMANT_CHECK_MARK]).fetchone()[0])

    with LogIndex(small_tree, cache_dir=cache_dir) as first:  # a first load checks every file
        first.refresh()
    loaded = checked_at()
    _dormant_files_due(monkeypatch)
    _rewrite_in_place(next(small_tree.glob("failures/*/s2-a1.json")), ai_model="rewritten")

    def fail(*_args, **_kwargs):
        raise OSError("disk full")

    with LogIndex(small_tree, cache_dir=cache_dir) as failing, monkeypatch.context() as patch:
        patch.setattr(type(failing), "_insert_parsed", fail)
        with pytest.raises(OSError):
            failing.refresh()
    assert checked_at() == loaded
    with LogIndex(small_tree, cache_dir=cache_dir) as next_one:
        assert next_one.refresh().parsed == 1
    assert checked_at() > loaded


def test_spill_directories_of_processes_that_are_gone_are_removed(small_tree, cache_dir):
    """Each instance spills into a directory of its own next to the index (DuckDB names its files alike in
    each); one left by a process stopped by a signal is removed by the next instance, a live one's kept."""
    from loaders.store.cache import SPILL_SUFFIX

    gone = subprocess.Popen(["true"])
    gone.wait()
    path = index_path_for(LogIndex(small_tree, cache_dir).root, cache_dir.resolve())
    stale = Path(f"{path}{SPILL_SUFFIX}{gone.pid}-0a1b2c3d")
    live = Path(f"{path}{SPILL_SUFFIX}{os.getpid()}-4e5f6a7b")
    for directory in (stale, live):
        directory.mkdir()
        (directory / "duckdb_temp_storage-0.tmp").write_bytes(b"x")
    LogIndex(small_tree, cache_dir)
    assert not stale.exists() and live.exists()


def _plain_json(path: Path) -> bool:
    """True when the file holds a JSON object Python's json module reads (a record a test may rewrite)."""
    try:
        return isinstance(json.loads(path.read_text()), dict)
    except (ValueError, OSError, RecursionError):
        return False


def _kept_equals_rebuilt(index: LogIndex, tree: Path, fresh_cache: Path) -> None:
    """The facts and counted attempts a refresh kept up to date equal those of a whole recompute, row for
    row, and the index answers as one built anew from the tree."""
    from loaders.store.facts import COUNTED_ATTEMPTS_SELECT, LOGGED_FACTS_SELECT

    with index.index_file() as connection:
        for table, select in (("attempt_facts", LOGGED_FACTS_SELECT.format(scope="")), ("counted_attempts", None)):
            kept = connection.execute(f"SELECT * FROM idx.{table} ORDER BY path").fetchall()
            whole = connection.execute(f"SELECT * FROM ({select or COUNTED_ATTEMPTS_SELECT}) ORDER BY path").fetchall()
            assert kept == whole, table
    rebuilt = LogIndex(tree, fresh_cache)
    assert metrics.summary(index, as_of=AS_OF) == metrics.summary(rebuilt, as_of=AS_OF)
    order = "SELECT * EXCLUDE (mtime_ns) FROM attempts ORDER BY path"
    assert index.cursor().execute(order).fetchall() == rebuilt.cursor().execute(order).fetchall()


@pytest.mark.parametrize("tree_kind", ["demo", "hostile", "foreign writer"])
def test_counted_attempts_kept_by_small_changes_equal_a_rebuild(tree_kind, demo_tree, small_tree, tmp_path, index_of):
    """Same answers whichever way the index was built: after retries logged, failures rewritten in place by
    a writer (fixed_by), an attempt moved to another session, a copy of a log_id in another session and
    files removed, each refresh a small change, the kept tables equal a recompute and a new index."""
    from tests.test_faults import _hostile_tree

    if tree_kind == "demo":
        tree = tmp_path / "demo"
        shutil.copytree(demo_tree[0], tree)
    else:
        tree = small_tree
        if tree_kind == "hostile":
            _hostile_tree(tree)
    index = index_of(tree)
    failed = "SELECT path FROM attempts WHERE status = 'failed' AND session_id IS NOT NULL ORDER BY path"
    loaded = [Path(path) for (path,) in index.cursor().execute(failed).fetchall() if _plain_json(Path(path))]
    first, second, third = loaded[0], loaded[1], loaded[-1]
    one = json.loads(first.read_text())
    steps = [
        lambda: write_record(tree, log_id="retry-1", session_id=one.get("session_id"), status="success", when=AS_OF),
        lambda: _rewrite_in_place(second, fixed_by="retry-1"),
        lambda: _rewrite_in_place(third, session_id=one.get("session_id")),
        lambda: write_record(tree, log_id=one["log_id"], session_id="copy-elsewhere", when=AS_OF - timedelta(hours=3)),
        lambda: first.unlink(),
        lambda: next(tree.glob("successes/*/*.json")).unlink(),
    ]
    for number, step in enumerate(steps):
        step()
        report = index.refresh(full=True)
        assert report.changed, number
        _kept_equals_rebuilt(index, tree, tmp_path / f"fresh-{number}")
