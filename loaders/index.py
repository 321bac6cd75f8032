"""The persistent DuckDB index of a log tree, and the one connection every query runs on.

Where the rows come from is its source (``loaders.sources``: a local tree, an ``s3://`` prefix, a
Delta table); what follows describes a local tree, whose source finds changes by mtimes. The index
stores whatever rows a source yields, the same way for all of them.

One DuckDB file per log tree lives in the cache directory (``$FIXTRAIL_CACHE_DIR`` or the user's
cache directory, never inside the tree). It holds the slim columns of every attempt file, the
session files and the skipped files, each with the size and mtime it was read at, and the mtime of
every directory. ``refresh()`` finds what changed (``loaders.scan``), parses only files that are
new or whose size or mtime changed, drops rows of files that are gone, and commits all of it in one
transaction under an inter-process lock, so that a dashboard and a CLI can load at once and a
killed update leaves the previous state.

With ``in_memory`` (the dashboard, the API), queries do not touch that file: after each refresh
that changed something the process copies the index into its own (compressed) in-memory DuckDB
database, enriched with what depends on other rows (whether a failure is fixed, its position in its session);
a process's first copy is made while the tree is scanned. The file is closed between refreshes.
Otherwise (the CLI), queries run on views over the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import platformdirs
from filelock import FileLock, Timeout

from loaders.domain import current_domain
from loaders.facts import (
    AFFECTED_SESSIONS_SQL,
    EMPTY_INFERRED_FACTS_SQL,
    INFERENCE_SINGLE_SHARE,
    LOGGED_FACTS_SQL,
    MORE_AFFECTED_SESSIONS_SQL,
    UNLINKED_SHARE_SQL,
    UPDATE_LOGGED_FACTS_SQL,
    WIDEN_AFFECTED_SESSIONS_SQL,
    attempts_sql,
    compute_inferred_facts,
    part_of_table,
)
from loaders.parsing import DirectoryTask, WorkerPool, worker_count
from loaders.records import (
    ATTEMPT_COLUMNS,
    SESSION_COLUMNS,
    SKIPPED_COLUMNS,
    FileStamp,
    max_record_bytes,
    rows_to_json,
    skipped_row,
    utc_now_iso,
)
from loaders.scan import ChangeSet
from loaders.sources import Source, open_source

if TYPE_CHECKING:  # pandas is imported by DuckDB's .df() only when a frame is asked for
    import pandas as pd

# Bump whenever a stored column or its derivation changes: older indexes are then rebuilt.
SCHEMA_VERSION = "21"
CACHE_DIR_ENV = "FIXTRAIL_CACHE_DIR"

Progress = Callable[[int, int], None]


def _table_sql(name: str, columns: tuple[tuple[str, str], ...], extra: str = "") -> str:
    body = ", ".join(f'"{col}" {kind}' for col, kind in columns)
    return f"CREATE TABLE IF NOT EXISTS idx.{name} ({body}{extra})"


CREATE_TABLES_SQL = (
    "CREATE TABLE IF NOT EXISTS idx.meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    _table_sql("attempt_files", ATTEMPT_COLUMNS),
    _table_sql("session_files", SESSION_COLUMNS),
    _table_sql("skipped_files", SKIPPED_COLUMNS),
    "CREATE TABLE IF NOT EXISTS idx.dir_stamps (path VARCHAR PRIMARY KEY, mtime_ns BIGINT)",
    # Where a source lists from next time (an object-storage prefix's last key, a table's version).
    "CREATE TABLE IF NOT EXISTS idx.source_marks (scope VARCHAR PRIMARY KEY, mark VARCHAR)",
    # What changed from a failed attempt to the next attempt of its session (loaders.transitions fills it).
    """CREATE TABLE IF NOT EXISTS idx.transition_changes (
        failure_path VARCHAR, failure_mtime BIGINT, next_path VARCHAR, next_mtime BIGINT,
        removed_imports VARCHAR[], added_imports VARCHAR[], removed_tokens VARCHAR[], added_tokens VARCHAR[])""",
    # Results computed once per index state (loaders.stored_results): the report's costly sections.
    """CREATE TABLE IF NOT EXISTS idx.stored_results (
        name VARCHAR, args VARCHAR, state VARCHAR, payload VARCHAR, PRIMARY KEY (name, args))""",
)

# Changes recorded for attempts whose file is gone or changed no longer describe anything.
PRUNE_TRANSITIONS_SQL = """
DELETE FROM idx.transition_changes t
WHERE NOT EXISTS (SELECT 1 FROM idx.attempt_files a WHERE a.path = t.failure_path AND a.mtime_ns = t.failure_mtime)
   OR NOT EXISTS (SELECT 1 FROM idx.attempt_files a WHERE a.path = t.next_path AND a.mtime_ns = t.next_mtime)
"""

MANIFEST_VIEW_SQL = """
CREATE OR REPLACE TEMP VIEW idx_manifest AS
SELECT path, dir, size, mtime_ns FROM idx.attempt_files
UNION ALL SELECT path, dir, size, mtime_ns FROM idx.session_files
UNION ALL SELECT path, dir, size, mtime_ns FROM idx.skipped_files
"""

FILE_COUNT_SQL = (
    "SELECT (SELECT count(*) FROM idx.attempt_files) + (SELECT count(*) FROM idx.session_files)"
    " + (SELECT count(*) FROM idx.skipped_files)"
)
DATA_TABLES = ("attempt_files", "session_files", "skipped_files")
TABLE_COLUMNS = {"attempt_files": ATTEMPT_COLUMNS, "session_files": SESSION_COLUMNS, "skipped_files": SKIPPED_COLUMNS}

# What queries read: ``attempts`` (every attempt that counts, with its facts), ``session_files`` and
# ``skipped_files``, as this process's in-memory tables or as views over the index file.
SESSION_MODES = ("auto", "linked", "inferred")
EXPOSED_VIEWS = ("attempts", "session_files", "skipped_files")
LOCK_TIMEOUT_SECONDS = 120
# Row groups of 8,192 rows instead of DuckDB's 122,880: a load of thousands of files then writes its
# rows straight into the file's blocks instead of the write-ahead log (no second write at commit:
# a first load of 45,000 attempts commits in 6 ms instead of 130 ms), and scans split into more
# row groups run on more threads. Measured in `make bench`.
ATTACH_SQL = "ATTACH ? AS idx (ROW_GROUP_SIZE 8192)"
# DuckDB draws a progress bar on standard output for queries over 2 s (a first load of 100,000
# sessions): it would corrupt the CLI's JSON and every pipe. It cannot be set when connecting, only
# on the connection (its cursors follow): quiet_connection().
CHECKPOINT_AFTER_FILES = 2000
JSON_OBJECT_FLOOR = 16 << 20  # DuckDB's default largest JSON object (see LogIndex._insert_json_files)
BOUNDED_CHANGE_FILES = 20_000  # from this many files on, an in-memory index bounds its memory while it applies them
APPLY_MEMORY_HEADROOM = 192 << 20  # DuckDB's memory while it does: what it held before, this, and the reader's


# What reading a damaged index file raises (a disk-full error aside: see is_disk_full).
UNREADABLE_INDEX_ERRORS = (
    duckdb.IOException,
    duckdb.InternalException,
    duckdb.SerializationException,
    duckdb.FatalException,
)


# Memory DuckDB has freed goes back to the system: jemalloc's background threads purge it, and a
# task that peaked above the threshold flushes the allocator's caches. Without these a dashboard at
# 100,000 sessions kept the few hundred MiB its first load and copy peaked at for good.
ALLOCATOR_SETTINGS = {"allocator_background_threads": True, "allocator_flush_threshold": "16MiB"}


def quiet_connection(config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection that never draws a progress bar on standard output and
    gives freed memory back (ALLOCATOR_SETTINGS)."""
    connection = duckdb.connect(":memory:", config=config or {})
    connection.execute("SET enable_progress_bar = false")
    for name, value in ALLOCATOR_SETTINGS.items():
        connection.execute(f"SET {name} = ?", [value])
    return connection


def is_disk_full(error: BaseException) -> bool:
    """True when ``error`` says the disk (or a quota) is full: rebuilding would not help."""
    text = str(error)
    return "No space left on device" in text or "Disk quota exceeded" in text or "ENOSPC" in text


class IndexBusyError(Exception):
    """Another process held the index's lock for longer than LOCK_TIMEOUT_SECONDS."""


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh did: files seen, parsed, removed, skipped now, and seconds taken."""

    files_seen: int
    parsed: int
    removed: int
    skipped: int
    changed: bool
    version: int
    seconds: float
    rebuilt_because: str | None = None


def default_cache_dir() -> Path:
    """Return ``$FIXTRAIL_CACHE_DIR`` if set, else the user's cache directory for Fixtrail."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else Path(platformdirs.user_cache_dir("fixtrail"))


SPILL_SUFFIX = ".tmp-"  # an instance's spill directory: the index's path, this, its process id and a random part


def _remove_stale_spill_directories(index_path: Path) -> None:
    """Remove the spill directories of processes that are gone (DuckDB leaves its own behind when a
    process is stopped by a signal: one per start of a dashboard would pile up)."""
    for directory in index_path.parent.glob(index_path.name + SPILL_SUFFIX + "*"):
        pid_text = directory.name[len(index_path.name + SPILL_SUFFIX) :].partition("-")[0]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        shutil.rmtree(directory, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def index_path_for(root: Path | str, cache_dir: Path) -> Path:
    """Return the index file for a resolved log tree (or a source's URL): one per source, named after its hash."""
    digest = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:16]
    name = root.name if isinstance(root, Path) else str(root).rstrip("/").rpartition("/")[2]
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40] or "logs"
    return cache_dir / f"{safe_name}-{digest}.duckdb"


class LogIndex:
    """The index of one log tree and this process's query connection over it.

    Parameters: ``logs_dir`` (the tree: a directory that exists, an ``s3://bucket/prefix``, or a
    ``loaders.sources.Source``), ``table`` (a Delta table's URL: the source instead of ``logs_dir``),
    ``cache_dir`` (default: default_cache_dir()),
    ``in_memory`` (default True): queries run on an in-memory copy made after each refresh that
    changed something, and the index file is closed between refreshes. With ``in_memory=False``
    (for a short-lived process such as one CLI command) queries run on the file itself, which stays
    open and locked until ``close()``: no copy is made, other processes' refreshes wait.
    Use ``refresh()`` to bring it up to date, ``cursor()`` to query the tables ``attempts``,
    ``session_files`` and ``skipped_files``. Safe to share between threads.
    """

    def __init__(
        self,
        logs_dir: str | os.PathLike[str] | Source,
        cache_dir: str | os.PathLike[str] | None = None,
        in_memory: bool = True,
        session_mode: str = "auto",
        table: str | None = None,
    ):
        self.source = open_source(logs_dir, table)
        self.root = self.source.root
        self.cache_dir = Path(cache_dir).expanduser().resolve() if cache_dir else default_cache_dir().resolve()
        if isinstance(self.root, Path) and self.cache_dir.is_relative_to(self.root):
            raise ValueError(f"the index must not live inside the log tree: {self.cache_dir}")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = index_path_for(self.root, self.cache_dir)
        self._file_lock = FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS)
        self.in_memory = in_memory
        if session_mode not in SESSION_MODES:
            raise ValueError(f"session_mode must be one of {', '.join(SESSION_MODES)}: {session_mode!r}")
        self.session_mode = session_mode
        self.unlinked_share = 0.0
        self._attached = False
        self._thread_lock = threading.RLock()
        # What a bounded change (_memory_bounded) spills goes next to the index, not into the working
        # directory, in a directory of this instance's own (DuckDB names its files alike in each).
        _remove_stale_spill_directories(self.path)
        spill = f"{self.path}{SPILL_SUFFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._connection = quiet_connection(config={"preserve_insertion_order": False, "temp_directory": spill})
        self.version = -1
        self._generation: str | None = None
        self.loaded_at: str | None = None
        self.last_report: RefreshReport | None = None
        # While a change is bounded (_memory_bounded): DuckDB's memory when it began, the largest object read.
        self._memory_bound: list[int] | None = None
        self._copy_parts: int | None = None  # the parts of this process's in-memory copies (_expose_tables)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """Return a cursor on this process's in-memory copy; refresh() first if never loaded."""
        if self.version < 0:
            self.refresh()
        return self._connection.cursor()

    @property
    def state_token(self) -> str:
        """Changes whenever the loaded contents or the session mode change (for caching results)."""
        return f"{self._generation}:{self.version}:{self.sessions_inferred}"

    @property
    def sessions_inferred(self) -> bool:
        """True when sessions are inferred (mode ``inferred``, or ``auto`` on a tree that does not link attempts)."""
        if self.session_mode == "auto":
            return self.unlinked_share >= INFERENCE_SINGLE_SHARE
        return self.session_mode == "inferred"

    @property
    def inference_reason(self) -> str | None:
        """Why sessions are inferred, in words (None when they are not): chosen, or unlinked logs."""
        if not self.sessions_inferred:
            return None
        if self.session_mode == "inferred":
            return "inferred sessions were chosen"
        return "the logs do not link attempts"

    def set_session_mode(self, mode: str) -> None:
        """Switch between logged and inferred sessions (``auto``, ``linked``, ``inferred``); reloads."""
        if mode not in SESSION_MODES:
            raise ValueError(f"session_mode must be one of {', '.join(SESSION_MODES)}: {mode!r}")
        with self._thread_lock:
            self.session_mode = mode
            self._generation = None  # expose the tables again, with the mode's session facts
            self.refresh()

    def _update_inferred_facts(self, state: str) -> bool:
        """Compute the inferred sessions' facts if this mode uses them and they are not of ``state``."""
        if not self.sessions_inferred or self._meta("inferred_facts_of") == state:
            return False
        compute_inferred_facts(self._connection)
        self._set_meta("inferred_facts_of", state)
        return True

    def frame(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        """Run one query on this process's copy (positional or ``$name`` parameters) and return a pandas frame."""
        return self.cursor().execute(sql, params or []).df()

    def refresh(self, progress: Progress | None = None, full: bool = False) -> RefreshReport:
        """Bring the index up to date with the tree; return what it did.

        Parameters: ``progress(done, total)``, called while new or changed files are parsed;
        ``full`` to stat every file instead of trusting unchanged directory mtimes (loaders.scan).
        """
        try:
            return self._refresh(progress, full)
        except UNREADABLE_INDEX_ERRORS as exc:
            if is_disk_full(exc):
                self._detach_after_error()
                raise
            # ATTACH accepted the file, yet a block could not be read (a cut or damaged file): rebuild.
            self.discard_index_file()
            report = self._refresh(progress, full=True)
            why = f"unreadable index ({str(exc).splitlines()[0][:100]})"
            self.last_report = dataclasses.replace(report, rebuilt_because=why)
            return self.last_report

    def discard_index_file(self) -> None:
        """Forget this process's view of the index and delete its file; the next refresh rebuilds it.

        For an index file that cannot be read: DuckDB's ATTACH accepts a file cut short, and the
        error comes only when a missing block is read.
        """
        with self._thread_lock:
            self._detach_after_error()
            with self._file_lock:
                self._delete_index_files()
            self.version = -1
            self._generation = None

    def _detach_after_error(self) -> None:
        """Detach and unlock the index file after a failed refresh, so that the next one starts clean."""
        with self._thread_lock:
            if not self._attached:
                return
            with contextlib.suppress(duckdb.Error):
                self._connection.execute("DETACH idx")
            self._attached = False
            self._file_lock.release()

    def _refresh(self, progress: Progress | None, full: bool) -> RefreshReport:
        started = time.perf_counter()
        with self._thread_lock:
            # A first load parses every file: start the workers now, their start-up overlaps opening the index.
            first_load = self.source.parallel_first_load and not self._attached and not self.path.exists()
            pool = WorkerPool() if worker_count() > 1 and first_load else None
            try:
                rebuilt_because = self._open_file()
            except BaseException:
                if pool:
                    pool.close()
                raise
            early_copy = None
            try:
                self._connection.execute(MANIFEST_VIEW_SQL)
                early_copy = self._start_early_copy() if rebuilt_because is None else None
                changes, parsed, skipped = self._scan_and_apply(
                    full or rebuilt_because is not None, progress, pool, early_copy
                )
                copied = early_copy.wait() if early_copy else None
                self._publish(changes, parsed, copied)
                files = self._connection.execute(FILE_COUNT_SQL).fetchone()[0]
            except BaseException:
                if early_copy:
                    early_copy.wait()
                self._detach_after_error()
                raise
            if early_copy:
                early_copy.wait()
            self._connection.execute("DROP VIEW IF EXISTS idx_manifest")
            if self.in_memory:
                self.close()
        report = RefreshReport(
            files_seen=int(files),
            parsed=parsed,
            removed=len(changes.removed),
            skipped=skipped,
            changed=changes.changed,
            version=self.version,
            seconds=time.perf_counter() - started,
            rebuilt_because=rebuilt_because,
        )
        self.last_report = report
        return report

    def _scan_and_apply(
        self, full: bool, progress: Progress | None, pool: WorkerPool | None, early_copy: _EarlyCopy | None = None
    ) -> tuple[ChangeSet, int, int]:
        """Find what changed and write it to the index; returns (changes, files parsed, files skipped).

        On a first load of a local tree the workers list it (``ChangeFinder.first_load``). Closes
        ``pool``. ``early_copy``: the copy being made while the tree is scanned (see _EarlyCopy).
        """
        try:
            first_load = self._meta("loaded_at") is None
            workers = pool.size if pool else worker_count()
            changes = self.source.find_changes(self._connection, full, first_load, workers)
            if changes.directories and not pool and worker_count() > 1:
                pool = WorkerPool()
            with self._memory_bounded(changes, early_copy):
                parsed, skipped = self._apply(changes, progress, pool)
        finally:
            if pool:
                pool.close()
        return changes, parsed, skipped

    @contextlib.contextmanager
    def _memory_bounded(self, changes: ChangeSet, early_copy: _EarlyCopy | None) -> Iterator[None]:
        """Bound DuckDB's memory while a large change is applied in a long-running process (``in_memory``).

        The blocks already written to the index file are then dropped from memory instead of kept
        (and an operator that needs more spills to the index's temporary directory). At 100,000
        sessions a first load's insert and session facts took a bare process to 470-520 MiB (a
        dashboard building its index to 630); bounded, to 385 MiB, in the same time. The CLI,
        which exits after its command, is not bounded, nor is a process that has a copy to serve
        queries from (the bound holds for every query of the process: theirs would be squeezed).
        An early copy (whose tables count against the bound) is waited for first: a change this
        large is copied again anyway.
        """
        if not self.in_memory or self.version >= 0 or not _is_large(changes):
            yield
            return
        if early_copy:
            early_copy.wait()
        try:
            in_use = self._connection.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
            self._memory_bound = [int(in_use or 0), JSON_OBJECT_FLOOR]
            self._bound_memory()
            yield
        finally:
            self._memory_bound = None
            with contextlib.suppress(duckdb.Error):  # never in the way of the error that ended the block
                self._connection.execute("RESET memory_limit")

    def _bound_memory(self, reading: int = 0) -> None:
        """Set the bound of _memory_bounded, with room for the JSON reader's buffers for objects of
        up to ``reading`` bytes (and for the largest read so far: its rows are written at commit)."""
        if self._memory_bound is None:
            return
        self._memory_bound[1] = largest = max(self._memory_bound[1], reading)
        threads = int(self._connection.execute("SELECT current_setting('threads')").fetchone()[0])
        # The reader holds two of its largest object per thread (a 36 MiB row: 72 MiB).
        bound = self._memory_bound[0] + APPLY_MEMORY_HEADROOM + 2 * threads * largest
        try:
            self._connection.execute(f"SET memory_limit = '{bound >> 20}MiB'")
        except duckdb.OutOfMemoryException:  # DuckDB holds more than that already: go on unbounded
            self._connection.execute("RESET memory_limit")

    def _publish(self, changes: ChangeSet, parsed: int, copied: tuple[str | None, int, bool] | None) -> None:
        """Record the new version, bring the inferred facts up to date, and expose the tables queries read.

        ``copied``: the state an early copy made (see _EarlyCopy), kept when it is the current one.
        """
        generation = self._meta("generation")
        stored_version = int(self._meta("version") or 0)
        if changes.changed:
            stored_version += 1
            self._set_meta("version", str(stored_version))
            self._set_meta("loaded_at", utc_now_iso())
        self.unlinked_share = float(self._connection.execute(UNLINKED_SHARE_SQL.format(source="idx.")).fetchone()[0])
        inferred_now = self._update_inferred_facts(f"{generation}:{stored_version}")
        if parsed + len(changes.removed) >= CHECKPOINT_AFTER_FILES or inferred_now:
            # Small changes stay in the (durable) write-ahead log, which DuckDB folds in by itself.
            self._connection.execute("CHECKPOINT idx")
        if inferred_now or (generation, stored_version) != (self._generation, self.version):
            if inferred_now or copied != (generation, stored_version, self.sessions_inferred):
                self._expose_tables(lean=parsed + len(changes.removed) >= BOUNDED_CHANGE_FILES)
            elif copied is not None:
                self._copy_parts = copy_parts()  # the early copy's parts: kept by the copies that follow
            self.version = stored_version
            self._generation = generation
        self.loaded_at = self._meta("loaded_at")

    def close(self) -> None:
        """Close the index file and release its lock (a no-op when it is not open)."""
        with self._thread_lock:
            if not self._attached:
                return
            if not self.in_memory:
                for name in EXPOSED_VIEWS:
                    self._connection.execute(f"DROP VIEW IF EXISTS {name}")
                self.version = -1
            self._connection.execute("DETACH idx")
            self._attached = False
            self._file_lock.release()

    @contextlib.contextmanager
    def index_file(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The index file attached as ``idx`` (read-write, under the lock) for the ``with`` block.

        For the few things kept out of the in-memory copy and computed on demand (fix recipes).
        """
        with self._thread_lock:
            opened_here = not self._attached
            if opened_here:
                self._open_file()
            try:
                yield self._connection
            finally:
                if opened_here:
                    self.close()

    def __enter__(self) -> LogIndex:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _open_file(self) -> str | None:
        """Lock and attach the index file unless already open; return why it was rebuilt, if it was."""
        if self._attached:
            return None
        try:
            self._file_lock.acquire()
        except Timeout as exc:
            raise IndexBusyError(
                f"the index {self.path} is locked by another process for over {LOCK_TIMEOUT_SECONDS} s"
            ) from exc
        try:
            reason = self._attach()
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self._connection.execute("DETACH idx")  # attached, then unreadable: start clean next time
            self._file_lock.release()
            raise
        self._attached = True
        return reason

    def _attach(self) -> str | None:
        """Attach the index file as ``idx``; rebuild it when corrupt or of another version."""
        reason = None
        try:
            self._connection.execute(ATTACH_SQL, [str(self.path)])
        except duckdb.Error as exc:
            reason = f"unreadable index ({str(exc).splitlines()[0][:100]})"
            self._delete_index_files()
            self._connection.execute(ATTACH_SQL, [str(self.path)])
        for statement in CREATE_TABLES_SQL:
            self._connection.execute(statement)
        stored = self._meta("schema_version")
        stored_root = self._meta("logs_dir")
        if stored is not None and (stored != self._index_version or stored_root != str(self.root)):
            reason = f"index of another version ({stored})"
            self._connection.execute("DETACH idx")
            self._delete_index_files()
            self._connection.execute(ATTACH_SQL, [str(self.path)])
            for statement in CREATE_TABLES_SQL:
                self._connection.execute(statement)
            stored = None
        if stored is None:
            self._set_meta("generation", uuid.uuid4().hex)
            self._set_meta("schema_version", self._index_version)
            self._set_meta("logs_dir", str(self.root))
        return reason

    @property
    def _index_version(self) -> str:
        """The schema version, the digest of the domain settings and the file size limit indexing applied."""
        return f"{SCHEMA_VERSION}-{current_domain().digest}-{max_record_bytes()}"

    def _delete_index_files(self) -> None:
        for suffix in ("", ".wal"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    def _meta(self, key: str) -> str | None:
        row = self._connection.execute("SELECT value FROM idx.meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._connection.execute("INSERT OR REPLACE INTO idx.meta VALUES (?, ?)", [key, value])

    def _apply(self, changes: ChangeSet, progress: Progress | None, pool: WorkerPool | None = None) -> tuple[int, int]:
        """Replace the rows of stale files, drop removed ones, remember directory mtimes; one transaction.

        Returns (files parsed, files skipped). Session files of the sessions whose attempts were
        parsed are checked afterwards (a writer rewrites them in place).
        """
        con = self._connection
        con.execute("BEGIN TRANSACTION")
        try:
            old_paths = changes.replaced + changes.removed
            incremental = (
                changes.changed
                and changes.items_are_records
                and not changes.replace_all
                and self._facts_exist()
                and len(old_paths) + len(changes.stale) < 5000
            )
            if incremental:
                con.execute(AFFECTED_SESSIONS_SQL, [old_paths])
            if changes.replace_all:
                for table in DATA_TABLES:
                    con.execute(f"DELETE FROM idx.{table}")  # noqa: S608 (this module's constants)
            self._delete_paths(old_paths)
            rejected = [skipped_row(s, f, reason) for s, f, reason in changes.stale if reason is not None]
            if rejected:
                self._insert_json("skipped_files", rows_to_json(rejected))
            to_parse = [(stamp, folder) for stamp, folder, reason in changes.stale if reason is None]
            parsed, skipped, session_ids = self._insert_parsed(to_parse, progress, pool, changes.directories)
            if not changes.every_file_checked:
                follow_up = self.source.rewritten_files_of(con, sorted(session_ids), not changes.sessions_listed)
                if follow_up.changed:
                    self._delete_paths(follow_up.replaced + follow_up.removed)
                    items = [(stamp, folder) for stamp, folder, _ in follow_up.stale]
                    more, more_skipped, _ = self._insert_parsed(items, None)
                    parsed, skipped = parsed + more, skipped + more_skipped
                    changes.stale += follow_up.stale
                    changes.removed += follow_up.removed
            if incremental:
                self._update_facts([stamp.path for stamp, _, _ in changes.stale])
            elif changes.changed or not self._facts_exist():
                con.execute(LOGGED_FACTS_SQL)
            con.execute(EMPTY_INFERRED_FACTS_SQL)
            if changes.changed:
                con.execute(PRUNE_TRANSITIONS_SQL)
            if changes.gone_dirs or changes.dir_stamps:
                con.execute(
                    "DELETE FROM idx.dir_stamps WHERE list_contains(?, path)",
                    [changes.gone_dirs + [path for path, _ in changes.dir_stamps]],
                )
                con.executemany("INSERT INTO idx.dir_stamps VALUES (?, ?)", changes.dir_stamps)
            if changes.marks:
                con.executemany("INSERT OR REPLACE INTO idx.source_marks VALUES (?, ?)", changes.marks)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return parsed, skipped + len(rejected)

    def _facts_exist(self) -> bool:
        return bool(
            self._connection.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'idx' AND table_name = 'attempt_facts'"
            ).fetchone()[0]
        )

    def _update_facts(self, new_paths: list[str]) -> None:
        """Recompute the facts of the sessions a small change touched (see facts.AFFECTED_SESSIONS_SQL)."""
        con = self._connection
        con.execute(MORE_AFFECTED_SESSIONS_SQL, [new_paths])
        for _ in range(3):  # copies of a log_id in other sessions, and theirs in turn
            con.execute(WIDEN_AFFECTED_SESSIONS_SQL)
        for statement in UPDATE_LOGGED_FACTS_SQL:
            con.execute(statement)
        con.execute("DROP TABLE affected_sessions")

    def _insert_parsed(
        self,
        items: list[tuple[FileStamp, str]],
        progress: Progress | None,
        pool: WorkerPool | None = None,
        directories: list[DirectoryTask] | None = None,
    ) -> tuple[int, int, set[str]]:
        """Parse items and directory tasks, insert their rows; returns (files parsed, skipped, session ids named).

        Each batch is written to a file of its own as it arrives (the rows are never all held in
        memory), and each table takes all its files in one insert at the end: the parent stays out
        of the workers' way while they parse.
        """
        session_ids: set[str] = set()
        skipped = files = 0
        with tempfile.TemporaryDirectory(prefix="incoming-", dir=self.cache_dir) as scratch:
            written: dict[str, list[str]] = {table: [] for table in DATA_TABLES}
            batches = self.source.parsed_batches(items, progress, pool, directories) if items or directories else ()
            for number, batch in enumerate(batches):
                if batch.attempt_table is not None:  # rows read from a table come as Arrow: inserted as they are
                    self._insert_arrow("attempt_files", batch.attempt_table)
                for table, rows_json in zip(DATA_TABLES, (batch.attempts, batch.sessions, batch.skipped), strict=True):
                    if rows_json != b"[]":
                        path = os.path.join(scratch, f"{table}-{number}.json")
                        with open(path, "wb") as handle:
                            handle.write(rows_json)
                        written[table].append(path)
                skipped += batch.skipped_count
                files += batch.files
                session_ids.update(batch.session_ids)
            for table, paths in written.items():
                self._insert_json_files(table, paths)
        return files, skipped, session_ids

    def _delete_paths(self, paths: list[str]) -> None:
        if not paths:
            return
        for table in DATA_TABLES:
            # table names are this module's constants, never input
            self._connection.execute(f"DELETE FROM idx.{table} WHERE list_contains(?, path)", [paths])  # noqa: S608

    def _insert_json(self, table: str, rows_json: bytes) -> None:
        """Insert rows given as a JSON array (made in this process)."""
        if rows_json == b"[]":
            return
        with tempfile.NamedTemporaryFile(prefix="incoming-", suffix=".json", dir=self.cache_dir) as handle:
            handle.write(rows_json)
            handle.flush()
            self._insert_json_files(table, [handle.name])

    def _insert_arrow(self, table: str, rows: object) -> None:
        """Insert the rows of an Arrow table (read from a Delta table) by column name."""
        self._connection.register("incoming_arrow_rows", rows)
        try:
            # table names are this module's constants, never input
            self._connection.execute(f"INSERT INTO idx.{table} BY NAME SELECT * FROM incoming_arrow_rows")  # noqa: S608
        finally:
            self._connection.unregister("incoming_arrow_rows")

    def _insert_json_files(self, table: str, paths: list[str]) -> None:
        """Insert the rows of files each holding a JSON array, read with the table's explicit column types.

        No row is larger than the file holding it: the reader's largest object is the largest file
        (at least DuckDB's default). A fixed 1 GiB limit made the reader reserve and touch more
        memory: 0.1 s more CPU for the 45,000 attempts of 20,000 sessions.
        """
        if not paths:
            return
        largest = max(JSON_OBJECT_FLOOR, *(os.path.getsize(path) for path in paths))
        self._bound_memory(reading=largest)
        self._connection.execute(
            # table names are this module's constants, the size a number: never input
            f"INSERT INTO idx.{table} BY NAME SELECT * FROM read_json(?, format = 'array', "  # noqa: S608
            f"columns = ?, maximum_object_size = {int(largest)})",
            [paths, dict(TABLE_COLUMNS[table])],
        )

    def _expose_tables(self, lean: bool = False) -> None:
        """Make ``attempts``, ``session_files`` and ``skipped_files`` queryable: in-memory tables
        (``in_memory``, the joins done once here) or views over the index file.

        ``lean`` (the process's first copy follows a large change: a dashboard or an API server
        building its index) copies in twice as many parts, as many at once as otherwise: at
        100,000 sessions the copy after a first load peaked 70 MiB lower (370 instead of 440 MiB in
        a bare process) for 0.05 s more. The process's later copies keep the number of parts of its
        first: a copy in other parts detaches the databases of the one before, which a query
        running on them would fail on. A first copy of an index built before (_EarlyCopy) keeps
        the faster way.
        """
        if self.in_memory:
            if self._copy_parts is None:
                self._copy_parts = 2 * copy_parts() if lean else copy_parts()
            _copy_tables(self._connection, self.sessions_inferred, self._copy_parts)
            return
        self._connection.execute(f"CREATE OR REPLACE VIEW attempts AS {attempts_sql(self.sessions_inferred)}")
        for name in ("session_files", "skipped_files"):
            # names are this module's constants, never input
            self._connection.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM idx.{name}")  # noqa: S608

    def _start_early_copy(self) -> _EarlyCopy | None:
        """Start copying what the index file holds now, if this process has no copy of it (see _EarlyCopy)."""
        if not self.in_memory or self._meta("loaded_at") is None:
            return None
        generation, version = self._meta("generation"), int(self._meta("version") or 0)
        if (generation, version) == (self._generation, self.version):
            return None
        self.unlinked_share = float(self._connection.execute(UNLINKED_SHARE_SQL.format(source="idx.")).fetchone()[0])
        inferred = self.sessions_inferred
        if inferred and self._meta("inferred_facts_of") != f"{generation}:{version}":
            return None
        return _EarlyCopy(self._connection, (generation, version, inferred))


# Where a process's copy lives: a schema of its default in-memory database, or, from
# COMPRESS_FROM_ATTEMPTS attempts on (about 100 MiB uncompressed), compressed in-memory databases
# compressed by a checkpoint once written. At 100,000 sessions (228,000 attempts) the compressed
# copy takes 80 MiB instead of 234 MiB; at 20,000 sessions the memory saved is not worth the time.
# A checkpoint compresses on one thread: the tables are copied in copy_parts() parts (databases
# compressed_copy_0, _1, ..., each with a share of every table's rows), side by side, and each
# table is their union (at 100,000 sessions on 2 cores 1.3 -> 0.7 s a copy, the same memory and
# query times).
PLAIN_COPY = "memory.copied"
COMPRESSED_COPY = "compressed_copy"
COMPRESS_FROM_ATTEMPTS = 100_000
logger = logging.getLogger("fixtrail.index")


def _is_large(changes: ChangeSet) -> bool:
    """A change that an in-memory index applies with its memory bounded (a first load, or many files)."""
    return bool(changes.directories) or len(changes.stale) + len(changes.removed) >= BOUNDED_CHANGE_FILES


def _copy_tables(connection: duckdb.DuckDBPyConnection, inferred: bool, parts: int) -> None:
    """Copy ``attempts`` (joined to its session facts), ``session_files`` and ``skipped_files`` into memory,
    and point the views of those names at the copy (see PLAIN_COPY, COMPRESSED_COPY); a compressed
    copy is made in ``parts`` parts, copy_parts() at once."""
    compress = connection.execute("SELECT count(*) FROM idx.attempt_files").fetchone()[0] >= COMPRESS_FROM_ATTEMPTS
    # One thread copies a table in about 60% of the time two take (45 ms against 70 for 45,000 attempts).
    connection.execute("SET threads = 1")
    try:
        if compress:
            targets = _copy_compressed(connection, inferred, parts)
        else:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {PLAIN_COPY}")
            _copy_part(connection, PLAIN_COPY, inferred, None)
            targets = [PLAIN_COPY]
        for name in EXPOSED_VIEWS:
            union = " UNION ALL ".join(f"SELECT * FROM {target}.{name}" for target in targets)  # noqa: S608
            connection.execute(f"CREATE OR REPLACE VIEW {name} AS {union}")
        _drop_other_copies(connection, targets)
    finally:
        connection.execute("RESET threads")


def _copy_part(
    connection: duckdb.DuckDBPyConnection, target: str, inferred: bool, part: tuple[int, int] | None
) -> None:
    """Copy the exposed tables (or a ``part`` of each: see facts.part_of_table) into ``target``."""
    # names are this module's constants, never input
    connection.execute(f"CREATE OR REPLACE TABLE {target}.attempts AS {attempts_sql(inferred, part)}")
    for name in ("session_files", "skipped_files"):
        connection.execute(f"CREATE OR REPLACE TABLE {target}.{name} AS SELECT * FROM {part_of_table(name, part)}")  # noqa: S608


def copy_parts() -> int:
    """In how many parts a compressed copy is made at once: one per CPU this process may use, at most 4."""
    return min(worker_count(), 4)


def _copy_compressed(connection: duckdb.DuckDBPyConnection, inferred: bool, parts: int) -> list[str]:
    """Copy the tables in ``parts`` parts into as many compressed in-memory databases, each in a
    thread, and compress them; their names."""
    # The number of parts in the names: a copy in other parts never replaces the tables the views read.
    targets = [f"{COMPRESSED_COPY}_{parts}_{number}" for number in range(parts)]
    cursors = [connection.cursor() for _ in targets]  # made here: one connection object, one thread at a time

    def copy_part(number: int) -> None:
        with cursors[number] as cursor:
            target = targets[number]
            cursor.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {target} (COMPRESS)")
            _copy_part(cursor, target, inferred, (number, parts) if parts > 1 else None)
            try:
                cursor.execute(f"CHECKPOINT {target}")
            except duckdb.Error as exc:  # queries running on the copy: it stays uncompressed until the next one
                logger.info("the in-memory copy was not compressed: %s", exc)

    with ThreadPoolExecutor(max_workers=min(parts, copy_parts()), thread_name_prefix="index-copy") as pool:
        list(pool.map(copy_part, range(parts)))  # list(): a part's error is raised here
    return targets


def _drop_other_copies(connection: duckdb.DuckDBPyConnection, kept: list[str]) -> None:
    """Free the copies of the other kind or number of parts (the tree grew past, or fell below,
    COMPRESS_FROM_ATTEMPTS; the CPUs changed)."""
    if PLAIN_COPY not in kept:
        connection.execute(f"DROP SCHEMA IF EXISTS {PLAIN_COPY} CASCADE")
    attached = connection.execute(
        "SELECT database_name FROM duckdb_databases() WHERE starts_with(database_name, ?)", [COMPRESSED_COPY]
    ).fetchall()
    for (name,) in attached:
        if name not in kept:
            connection.execute(f"DETACH DATABASE IF EXISTS {name}")


class _EarlyCopy:
    """The in-memory copy of the state the index file holds, made in a thread while the tree is scanned.

    A process's first refresh on an unchanged tree (a dashboard or an API server starting) then
    costs the longer of the scan and the copy rather than their sum. ``wait()`` returns the
    (generation, version, sessions inferred) it copied, or None if it failed; refresh() copies
    again when the scan changed anything.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection, state: tuple[str | None, int, bool]):
        self._state = state
        self._cursor = connection.cursor()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            _copy_tables(self._cursor, self._state[2], copy_parts())
        except BaseException as exc:  # the refresh copies again in its own thread, where errors surface
            self._error = exc
        finally:
            self._cursor.close()

    def wait(self) -> tuple[str | None, int, bool] | None:
        """Wait for the copy; what it copied, or None when it failed."""
        self._thread.join()
        return None if self._error else self._state


def open_index(
    logs_dir: str | os.PathLike[str] | Source,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    in_memory: bool = True,
    session_mode: str = "auto",
    table: str | None = None,
) -> LogIndex:
    """Open the index of a log tree (or of an ``s3://`` prefix, or a Delta ``table``) and bring it up to date."""
    index = LogIndex(logs_dir, cache_dir, in_memory, session_mode, table)
    index.refresh(progress)
    return index
