"""This process's copy of the index (the dashboard's and the API's): in memory, plain or compressed, in
parts; or, for a large tree, in files of this process's own that DuckDB's buffer manager pages in."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import duckdb

from loaders.ingest.parsing import worker_count
from loaders.store.facts import attempts_sql, part_of_table
from loaders.store.schema import EXPOSED_VIEWS

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
# From FILE_COPY_FROM_ATTEMPTS attempts on (about 220,000 sessions) each part is a database file in
# the index's spill directory (the connection's temp_directory, removed with the index: see LogIndex),
# not in memory: the copy's blocks are then read as queries need them and dropped again, and between
# refreshes DuckDB holds at most FILE_COPY_MEMORY_LIMIT. An in-memory copy grew with the tree: 1.1 GiB
# at 300,000 sessions, about 3.8 GiB at 1,000,000. A refresh (its reads, facts and the copy itself)
# has REFRESH_MEMORY_LIMIT, DuckDB spilling what does not fit.
FILE_COPY_FROM_ATTEMPTS = 500_000
FILE_COPY_MEMORY_LIMIT = "384MiB"
REFRESH_MEMORY_LIMIT = "1GiB"
# A process without a copy (a CLI command: ``in_memory=False``) queries the index file itself, whose
# blocks DuckDB reads as it needs them and can drop again. Unbounded, DuckDB held them and every
# query's work besides (by default up to 80% of the machine): the first fix recipes after a load
# took a CLI process to 1.1 GiB at 300,000 sessions and 2.9 GiB at 1,000,000.
INDEX_FILE_MEMORY_LIMIT = "512MiB"
# While a copy in files is made, DuckDB holds at most this much: what it writes goes to the files. Under
# REFRESH_MEMORY_LIMIT the making of the copy took a dashboard at 1,000,000 sessions to 1.3 GiB.
FILE_COPY_WORK_MEMORY_LIMIT = "640MiB"
logger = logging.getLogger("fixtrail.index")


def copy_tables(connection: duckdb.DuckDBPyConnection, inferred: bool, parts: int) -> None:
    """Copy ``attempts`` (with its session facts), ``session_files`` and ``skipped_files`` into this
    process's copy, and point the views of those names at it (see PLAIN_COPY, COMPRESSED_COPY,
    FILE_COPY_FROM_ATTEMPTS); a compressed copy is made in ``parts`` parts, copy_parts() at once."""
    attempts = connection.execute("SELECT count(*) FROM idx.attempt_files").fetchone()[0]
    compress = attempts >= COMPRESS_FROM_ATTEMPTS
    # One thread copies a table in about 60% of the time two take (45 ms against 70 for 45,000 attempts).
    connection.execute("SET threads = 1")
    try:
        if compress:
            targets = _copy_compressed(connection, inferred, parts, in_files=attempts >= FILE_COPY_FROM_ATTEMPTS)
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


def _copy_compressed(
    connection: duckdb.DuckDBPyConnection, inferred: bool, parts: int, in_files: bool = False
) -> list[str]:
    """Copy the tables in ``parts`` parts into as many compressed databases (in memory, or ``in_files``
    of this process's spill directory: see FILE_COPY_FROM_ATTEMPTS), each in a thread, and compress
    them; their names."""
    # The number of parts in the names: a copy in other parts never replaces the tables the views read.
    kind = "file" if in_files else "memory"
    targets = [f"{COMPRESSED_COPY}_{kind}_{parts}_{number}" for number in range(parts)]
    cursors = [connection.cursor() for _ in targets]  # made here: one connection object, one thread at a time
    directory = connection.execute("SELECT current_setting('temp_directory')").fetchone()[0] if in_files else None
    before = None  # the limit to put back once a copy in files is made
    if directory:
        os.makedirs(directory, exist_ok=True)
        before = connection.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        _set_memory_limit(connection, FILE_COPY_WORK_MEMORY_LIMIT)

    def copy_part(number: int) -> None:
        with cursors[number] as cursor:
            target = targets[number]
            if directory:
                cursor.execute(f"ATTACH IF NOT EXISTS ? AS {target}", [os.path.join(directory, f"{target}.duckdb")])
            else:
                cursor.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {target} (COMPRESS)")
            _copy_part(cursor, target, inferred, (number, parts) if parts > 1 else None)
            try:
                cursor.execute(f"CHECKPOINT {target}")
            except duckdb.Error as exc:  # queries running on the copy: it stays uncompressed until the next one
                logger.info("the in-memory copy was not compressed: %s", exc)

    try:
        with ThreadPoolExecutor(max_workers=min(parts, copy_parts()), thread_name_prefix="index-copy") as pool:
            list(pool.map(copy_part, range(parts)))  # list(): a part's error is raised here
    finally:
        if before is not None:  # the rest of the refresh has its own limit back
            _set_memory_limit(connection, before)
    return targets


def _drop_other_copies(connection: duckdb.DuckDBPyConnection, kept: list[str]) -> None:
    """Free the copies of the other kind or number of parts (the tree grew past, or fell below,
    COMPRESS_FROM_ATTEMPTS or FILE_COPY_FROM_ATTEMPTS; the CPUs changed), and delete their files."""
    if PLAIN_COPY not in kept:
        connection.execute(f"DROP SCHEMA IF EXISTS {PLAIN_COPY} CASCADE")
    attached = connection.execute(
        "SELECT database_name, path FROM duckdb_databases() WHERE starts_with(database_name, ?)", [COMPRESSED_COPY]
    ).fetchall()
    for name, path in attached:
        if name not in kept:
            connection.execute(f"DETACH DATABASE IF EXISTS {name}")
            for suffix in ("", ".wal"):
                if path and path != ":memory:":
                    with contextlib.suppress(OSError):
                        os.remove(path + suffix)


def restore_memory_limit(
    connection: duckdb.DuckDBPyConnection, refreshing: bool = False, serving_copy: bool = True
) -> None:
    """DuckDB's memory limit back to its steady value: INDEX_FILE_MEMORY_LIMIT in a process that
    queries the index file (not ``serving_copy``); REFRESH_MEMORY_LIMIT while a process that serves
    queries from a copy is ``refreshing``; else FILE_COPY_MEMORY_LIMIT while a copy in files serves
    queries, or DuckDB's default (the copy is in memory)."""
    if not serving_copy:
        limit = INDEX_FILE_MEMORY_LIMIT
    elif refreshing:
        limit = REFRESH_MEMORY_LIMIT
    else:
        in_files = connection.execute(
            "SELECT count(*) FROM duckdb_databases() WHERE starts_with(database_name, ?)", [f"{COMPRESSED_COPY}_file_"]
        ).fetchone()[0]
        limit = FILE_COPY_MEMORY_LIMIT if in_files else None
    if limit is None:
        connection.execute("RESET memory_limit")
        return
    _set_memory_limit(connection, limit)


def _set_memory_limit(connection: duckdb.DuckDBPyConnection, limit: str) -> None:
    try:
        connection.execute(f"SET memory_limit = '{limit}'")
    except duckdb.OutOfMemoryException as exc:  # a query holds more just now: the limit stays as it was
        logger.info("DuckDB's memory limit was left as it was: %s", exc)


class EarlyCopy:
    """This process's copy of the state the index file holds, made in a thread while the tree is scanned.

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
            copy_tables(self._cursor, self._state[2], copy_parts())
        except BaseException as exc:  # the refresh copies again in its own thread, where errors surface
            self._error = exc
        finally:
            self._cursor.close()

    def wait(self) -> tuple[str | None, int, bool] | None:
        """Wait for the copy; what it copied, or None when it failed."""
        self._thread.join()
        return None if self._error else self._state
