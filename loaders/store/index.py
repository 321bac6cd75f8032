"""The persistent DuckDB index of a log tree, and the one connection every query runs on.

Where the rows come from is its source (``loaders.ingest.sources``: a local tree, an ``s3://`` prefix, a
Delta table); what follows describes a local tree, whose source finds changes by mtimes. The index
stores whatever rows a source yields, the same way for all of them.

One DuckDB file per log tree lives in the cache directory (``$FIXTRAIL_CACHE_DIR`` or the user's
cache directory, never inside the tree). It holds the slim columns of every attempt file, the
session files and the skipped files, each with the size and mtime it was read at, and the mtime of
every directory. ``refresh()`` finds what changed (``loaders.ingest.scan``), parses only files that are
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
import os
import shutil
import threading
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
from filelock import FileLock, Timeout

from loaders.core.connection import quiet_connection
from loaders.ingest.records import max_record_bytes
from loaders.ingest.sources import Source, open_source
from loaders.store.cache import (
    SPILL_SUFFIX,
    UNREADABLE_INDEX_ERRORS,
    IndexBusyError,
    index_path_for,
    is_disk_full,
    remove_stale_spill_directories,
    usable_cache_dir,
)
from loaders.store.facts import INFERENCE_SINGLE_SHARE, compute_inferred_facts
from loaders.store.memory_copy import restore_memory_limit
from loaders.store.refresh import IndexRefresh, Progress, RefreshReport
from loaders.store.schema import ATTACH_SQL, CREATE_TABLES_SQL, EXPOSED_VIEWS, SCHEMA_VERSION, SESSION_MODES
from loaders.text.domain import current_domain

if TYPE_CHECKING:  # pandas is imported by DuckDB's .df() only when a frame is asked for
    import pandas as pd

LOCK_TIMEOUT_SECONDS = 120


class LogIndex(IndexRefresh):
    """The index of one log tree and this process's query connection over it.

    Parameters: ``logs_dir`` (the tree: a directory that exists, an ``s3://bucket/prefix``, or a
    ``loaders.ingest.sources.Source``), ``table`` (a Delta table's URL: the source instead of ``logs_dir``),
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
        self.cache_dir = usable_cache_dir(cache_dir)
        if isinstance(self.root, Path) and self.cache_dir.is_relative_to(self.root):
            raise ValueError(f"the index must not live inside the log tree: {self.cache_dir}")
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
        remove_stale_spill_directories(self.path)
        spill = f"{self.path}{SPILL_SUFFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._connection = quiet_connection(config={"preserve_insertion_order": False, "temp_directory": spill})
        # The spill directory holds the files of a large tree's copy too (loaders.store.memory_copy):
        # it goes when this index is collected or the process exits (a killed process's goes when the
        # next one opens the index: remove_stale_spill_directories).
        weakref.finalize(self, _close_and_remove, self._connection, spill)
        if not in_memory:  # queries read the index file: its blocks are paged, not held (INDEX_FILE_MEMORY_LIMIT)
            restore_memory_limit(self._connection, serving_copy=False)
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
        ``full`` to stat every file instead of trusting unchanged directory mtimes (loaders.ingest.scan).
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

        For the few things kept out of the copy and computed on demand (fix recipes); with the memory
        of a refresh (REFRESH_MEMORY_LIMIT) in a process that has a copy.
        """
        with self._thread_lock, self._refresh_memory() if self.in_memory else contextlib.nullcontext():
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
        except duckdb.ResourceInUseException:  # still attached (a result left open holds it): not unreadable
            raise
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


def _close_and_remove(connection: duckdb.DuckDBPyConnection, directory: str) -> None:
    """Close an index's connection and remove its spill directory (its copy's files with it)."""
    with contextlib.suppress(duckdb.Error):
        connection.close()
    shutil.rmtree(directory, ignore_errors=True)


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
