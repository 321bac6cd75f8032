"""The refresh pipeline of an index: find what changed, parse it, write it in one transaction, expose it.

``IndexRefresh`` is the part of ``LogIndex`` (loaders.store.index) that brings the index file up to date;
it uses the lifecycle the index provides (``_open_file``, ``close``, ``_detach_after_error``, ``_meta``,
``_set_meta``, ``_update_inferred_facts``) and its attributes (``source``, ``cache_dir``, ``in_memory``,
``_connection``, ``_thread_lock``, the version and generation).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb

from loaders.ingest.parsing import DirectoryTask, WorkerPool, worker_count
from loaders.ingest.records import FileStamp, rows_to_json, skipped_row, utc_now_iso
from loaders.ingest.scan import ChangeSet
from loaders.store.facts import (
    AFFECTED_SESSIONS_SQL,
    COUNTED_ATTEMPTS_SQL,
    EMPTY_INFERRED_FACTS_SQL,
    LOGGED_FACTS_SQL,
    MORE_AFFECTED_BY_OLD_PATHS_SQL,
    MORE_AFFECTED_SESSIONS_SQL,
    NO_AFFECTED_SESSIONS_SQL,
    UNLINKED_SHARE_SQL,
    UPDATE_COUNTED_ATTEMPTS_SQL,
    UPDATE_LOGGED_FACTS_SQL,
    WIDEN_AFFECTED_SESSIONS_SQL,
    attempts_sql,
)
from loaders.store.memory_copy import EarlyCopy, copy_parts, copy_tables, restore_memory_limit
from loaders.store.schema import (
    DATA_TABLES,
    FILE_COUNT_SQL,
    MANIFEST_VIEW_SQL,
    PRUNE_CHANGED_TRANSITIONS_SQL,
    PRUNE_TRANSITIONS_SQL,
    TABLE_COLUMNS,
)

Progress = Callable[[int, int], None]
CHECKPOINT_AFTER_FILES = 2000
JSON_OBJECT_FLOOR = 16 << 20  # DuckDB's default largest JSON object (see LogIndex._insert_json_files)
BOUNDED_CHANGE_FILES = 20_000  # from this many files on, an index bounds its memory while it applies them
APPLY_MEMORY_HEADROOM = 192 << 20  # DuckDB's memory while it does: what it held before, this, and the reader's


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


def is_large_change(changes: ChangeSet) -> bool:
    """A change that an index applies with its memory bounded (a first load, or many files)."""
    return bool(changes.directories) or len(changes.stale) + len(changes.removed) >= BOUNDED_CHANGE_FILES


class IndexRefresh:
    """The refresh pipeline of ``LogIndex`` (see the module docstring)."""

    def _refresh(self, progress: Progress | None, full: bool) -> RefreshReport:
        started = time.perf_counter()
        with self._thread_lock, self._refresh_memory():
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
        self, full: bool, progress: Progress | None, pool: WorkerPool | None, early_copy: EarlyCopy | None = None
    ) -> tuple[ChangeSet, int, int]:
        """Find what changed and write it to the index; returns (changes, files parsed, files skipped).

        On a first load of a local tree the workers list it (``ChangeFinder.first_load``). Closes
        ``pool``. ``early_copy``: the copy being made while the tree is scanned (see EarlyCopy).
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
    def _refresh_memory(self) -> Iterator[None]:
        """While a process that serves queries from a copy (``in_memory``) refreshes, DuckDB's memory is
        REFRESH_MEMORY_LIMIT, and its steady limit again afterwards (see loaders.store.memory_copy).
        A process that queries the index file refreshes unbounded (a large change is bounded by
        _memory_bounded, with room for the JSON reader's buffers) and has INDEX_FILE_MEMORY_LIMIT again
        for its queries afterwards."""
        if not self.in_memory:
            self._connection.execute("RESET memory_limit")
            try:
                yield
            finally:
                with contextlib.suppress(duckdb.Error):
                    restore_memory_limit(self._connection, serving_copy=False)
            return
        restore_memory_limit(self._connection, refreshing=True)
        try:
            yield
        finally:
            with contextlib.suppress(duckdb.Error):  # never in the way of the error that ended the block
                restore_memory_limit(self._connection)

    @contextlib.contextmanager
    def _memory_bounded(self, changes: ChangeSet, early_copy: EarlyCopy | None) -> Iterator[None]:
        """Bound DuckDB's memory while a large change (a first load, or BOUNDED_CHANGE_FILES files) is applied.

        The blocks already written to the index file are then dropped from memory instead of kept
        (and an operator that needs more spills to the index's temporary directory). At 100,000
        sessions a first load's insert and session facts took a bare process to 470-520 MiB (a
        dashboard building its index to 630); bounded, to 385 MiB, in the same time. A CLI's
        first load at 300,000 sessions peaked at 1.7 GiB unbounded, 0.66 GiB bounded, in the same
        time. A process that has a copy to serve queries from is not bounded so (the bound holds for
        every query of the process: theirs would be squeezed): it has REFRESH_MEMORY_LIMIT.
        An early copy (whose tables count against the bound) is waited for first: a change this
        large is copied again anyway.
        """
        if self.version >= 0 or not is_large_change(changes):
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
                restore_memory_limit(self._connection, refreshing=self.in_memory, serving_copy=self.in_memory)

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

        ``copied``: the state an early copy made (see EarlyCopy), kept when it is the current one.
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
            if incremental and old_paths:
                con.execute(AFFECTED_SESSIONS_SQL, [old_paths, old_paths])
            elif incremental:  # nothing replaced or removed: no scan of every path for none
                con.execute(NO_AFFECTED_SESSIONS_SQL)
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
                    gone = follow_up.replaced + follow_up.removed
                    if incremental and gone:  # before their rows go, as the change's own (AFFECTED_SESSIONS_SQL)
                        con.execute(MORE_AFFECTED_BY_OLD_PATHS_SQL, [gone, gone])
                    old_paths += gone
                    self._delete_paths(gone)
                    items = [(stamp, folder) for stamp, folder, _ in follow_up.stale]
                    more, more_skipped, _ = self._insert_parsed(items, None)
                    parsed, skipped = parsed + more, skipped + more_skipped
                    changes.stale += follow_up.stale
                    changes.removed += follow_up.removed
            if incremental:
                self._update_facts(old_paths, [stamp.path for stamp, _, _ in changes.stale])
            elif changes.changed or not self._facts_exist():
                con.execute(LOGGED_FACTS_SQL)
                con.execute(COUNTED_ATTEMPTS_SQL)
            con.execute(EMPTY_INFERRED_FACTS_SQL)
            if incremental:
                if old_paths:
                    con.execute(PRUNE_CHANGED_TRANSITIONS_SQL, [old_paths, old_paths])
            elif changes.changed:
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
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'idx' AND table_name = 'counted_attempts'"
            ).fetchone()[0]
        )

    def _update_facts(self, old_paths: list[str], new_paths: list[str]) -> None:
        """Recompute the facts and counted attempts of the sessions a small change touched (see
        facts.AFFECTED_SESSIONS_SQL): ``old_paths`` replaced or removed, ``new_paths`` parsed."""
        con = self._connection
        con.execute(MORE_AFFECTED_SESSIONS_SQL, [new_paths])
        for _ in range(3):  # copies of a log_id in other sessions, and theirs in turn (rare: stop when none)
            if not con.execute(WIDEN_AFFECTED_SESSIONS_SQL).fetchone()[0]:
                break
        compute_facts, delete_facts, insert_facts = UPDATE_LOGGED_FACTS_SQL
        con.execute(compute_facts)
        con.execute(delete_facts, [old_paths])
        con.execute(insert_facts)
        for statement in UPDATE_COUNTED_ATTEMPTS_SQL:
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
        """Make ``attempts``, ``session_files`` and ``skipped_files`` queryable: this process's copy
        (``in_memory``: see loaders.store.memory_copy) or views over the index file.

        ``lean`` (the process's first copy follows a large change: a dashboard or an API server
        building its index) copies in twice as many parts, as many at once as otherwise: at
        100,000 sessions the copy after a first load peaked 70 MiB lower (370 instead of 440 MiB in
        a bare process) for 0.05 s more. The process's later copies keep the number of parts of its
        first: a copy in other parts detaches the databases of the one before, which a query
        running on them would fail on. A first copy of an index built before (EarlyCopy) keeps
        the faster way.
        """
        if self.in_memory:
            if self._copy_parts is None:
                self._copy_parts = 2 * copy_parts() if lean else copy_parts()
            copy_tables(self._connection, self.sessions_inferred, self._copy_parts)
            return
        self._connection.execute(f"CREATE OR REPLACE VIEW attempts AS {attempts_sql(self.sessions_inferred)}")
        for name in ("session_files", "skipped_files"):
            # names are this module's constants, never input
            self._connection.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM idx.{name}")  # noqa: S608

    def _start_early_copy(self) -> EarlyCopy | None:
        """Start copying what the index file holds now, if this process has no copy of it (see EarlyCopy)."""
        if not self.in_memory or self._meta("loaded_at") is None:
            return None
        generation, version = self._meta("generation"), int(self._meta("version") or 0)
        if (generation, version) == (self._generation, self.version):
            return None
        self.unlinked_share = float(self._connection.execute(UNLINKED_SHARE_SQL.format(source="idx.")).fetchone()[0])
        inferred = self.sessions_inferred
        if inferred and self._meta("inferred_facts_of") != f"{generation}:{version}":
            return None
        return EarlyCopy(self._connection, (generation, version, inferred))
