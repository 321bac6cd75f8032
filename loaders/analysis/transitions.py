"""Transitions (a failed attempt and the next attempt of its session) and what changed in each.

What changed (imports added and removed, tokens) is worked out once per pair of files, on first
demand: the imports from the index's ``imports`` column, the tokens from the files themselves (the
index does not keep the code). It is recorded in the index file (``idx.transition_changes``,
dropped when either file changes). Fix recipes (``loaders.analysis.recipes``) read them back as Arrow
batches, one at a time, and turn each into Python values in turn: at 100,000 sessions (128,000
transitions) holding them all as Python values, with every worker's answer beside them, took 300
MiB more while the report was worked out; at 1,000,000 sessions one Arrow table of them took 1.3 GiB.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from loaders.analysis.filters import ALL, AttemptFilter
from loaders.ingest.code_changes import CHANGE_COLUMNS, token_changes
from loaders.ingest.parsing import ChangesTask, WorkerPool, worker_count
from loaders.ingest.sources.local import LocalTreeSource
from loaders.store.index import LogIndex

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

TRANSITIONS_SQL = """
WITH ordered AS (
    SELECT *,
           lead(log_id) OVER w AS next_id,
           lead(status) OVER w AS next_status,
           lead(path) OVER w AS next_path,
           lead(mtime_ns) OVER w AS next_mtime,
           lead(timestamp) OVER w AS next_at,
           lead(imports) OVER w AS next_imports
    FROM attempts
    WINDOW w AS (PARTITION BY session_id ORDER BY timestamp, log_id)
)
SELECT log_id AS failure_id, next_id, session_id, fingerprint, category, error_line, ai_model,
       next_status = 'success' AS fixed, timestamp AS failed_at, next_at,
       path AS failure_path, mtime_ns AS failure_mtime, next_path, next_mtime,
       coalesce(imports, []) AS failure_imports, coalesce(next_imports, []) AS next_imports
FROM ordered
WHERE status = 'failed' AND next_id IS NOT NULL AND {where}
"""

RECORDED_SQL = """
SELECT DISTINCT ON (failure_path, failure_mtime, next_path, next_mtime) * FROM idx.transition_changes
"""

# The transitions with their recorded changes (NULL lists where none is recorded yet): a hash join in
# DuckDB, where a dict per recorded change in Python cost seconds at 100,000 sessions. Only the
# columns rules and the changes' reading use: at 100,000 sessions (128,000 transitions) the ids,
# error lines and models took 60 MiB more while the report was worked out.
CHANGED_TRANSITIONS_SQL = """
WITH moves AS ({transitions}), recorded AS ({recorded})
SELECT m.session_id, m.fingerprint, m.fixed, m.failed_at, m.failure_path, m.failure_mtime, m.next_path,
       m.next_mtime, r.removed_imports, r.added_imports, r.removed_tokens, r.added_tokens
FROM moves m LEFT JOIN recorded r
  ON r.failure_path IS NOT DISTINCT FROM m.failure_path AND r.failure_mtime IS NOT DISTINCT FROM m.failure_mtime
 AND r.next_path IS NOT DISTINCT FROM m.next_path AND r.next_mtime IS NOT DISTINCT FROM m.next_mtime
ORDER BY m.failed_at, m.failure_id
"""

# Transitions whose changes are not recorded yet, in the order they are best read in: by session, so
# that the attempt that followed one failure and is the next transition's failure is read once,
# and sessions in the order they started, so that the directories read from follow one another (a
# tree split by day: each directory's descriptor is then opened once, see loaders.ingest.tree.InsideOpener,
# where random order reopened a third). What the imports changed comes from the index's ``imports``
# column (lists sorted and distinct, as list_filter keeps them): only the tokens need the files.
MISSING_SQL = """
WITH moves AS ({transitions}), recorded AS ({recorded}),
missing AS (
    SELECT m.* FROM moves m ANTI JOIN recorded r
      ON r.failure_path IS NOT DISTINCT FROM m.failure_path AND r.failure_mtime IS NOT DISTINCT FROM m.failure_mtime
     AND r.next_path IS NOT DISTINCT FROM m.next_path AND r.next_mtime IS NOT DISTINCT FROM m.next_mtime
)
SELECT failure_path, failure_mtime, next_path, next_mtime,
       list_filter(failure_imports, lambda m: NOT list_contains(next_imports, m)) AS removed_imports,
       list_filter(next_imports, lambda m: NOT list_contains(failure_imports, m)) AS added_imports
FROM (SELECT *, min(failed_at) OVER (PARTITION BY session_id) AS session_started FROM missing)
ORDER BY session_started, session_id, failed_at, failure_path
"""

# Failed attempts followed by another of their session, less the changes recorded: an estimate of
# MISSING_SQL's count (filters apply to the failures, the recorded changes are all counted).
LIKELY_MISSING_SQL = """
SELECT (SELECT count(*) FROM attempts WHERE status = 'failed' AND attempt_no < session_attempts AND {where})
     - (SELECT count(*) FROM idx.transition_changes)
"""

RECORD_CHANGES_SQL = """
INSERT INTO idx.transition_changes
SELECT failure_path, failure_mtime, next_path, next_mtime, removed_imports, added_imports, removed_tokens,
       added_tokens
FROM fresh_changes
"""

TRANSITION_KEY = ("failure_path", "failure_mtime", "next_path", "next_mtime")
CHANGE_SCHEMA = pa.schema(
    [
        ("failure_path", pa.string()),
        ("failure_mtime", pa.int64()),
        ("next_path", pa.string()),
        ("next_mtime", pa.int64()),
        *((column, pa.list_(pa.string())) for column in CHANGE_COLUMNS),
    ]
)
PARALLEL_CHANGES = 2000  # from this many transitions on, the parse workers work the changes out
CHANGES_PER_TASK = 4096  # at most this many transitions per piece of work (a worker's task, one insert)
MIN_PIECE = 256  # at least this many (but for the last piece): a low estimate must not make thousands of pieces
BATCH_ROWS = 8192  # transitions per batch that fix recipes turn into Python values at once


class ChangesCancelled(Exception):
    """Working out the missing changes was stopped (see cancelled_by): what was recorded stays."""


# The event that stops record_missing_changes in this thread's context, between pieces of work.
_cancel: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("changes_cancel", default=None)


@contextlib.contextmanager
def cancelled_by(event: threading.Event) -> Iterator[None]:
    """Within the block, record_missing_changes raises ChangesCancelled once ``event`` is set
    (checked before each piece of work is recorded; the pieces recorded so far are kept)."""
    token = _cancel.set(event)
    try:
        yield
    finally:
        _cancel.reset(token)


def _cancelled() -> bool:
    event = _cancel.get()
    return event is not None and event.is_set()


def _stop_if_cancelled() -> None:
    if _cancelled():
        raise ChangesCancelled("stopped before all changes were worked out")


def transitions(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Each failed attempt with the next attempt of its session (filter applies to the failure).

    Output columns: failure_id, next_id, session_id, fingerprint, category, error_line, ai_model,
    fixed (the next attempt succeeded), failed_at, next_at, failure_path, failure_mtime, next_path,
    next_mtime, failure_imports, next_imports; ordered by failed_at, failure_id.
    """
    where, params = flt.where()
    return index.frame(TRANSITIONS_SQL.format(where=where) + " ORDER BY failed_at, failure_id", params)


def transition_changes(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Each transition (see transitions()) with what changed in it, as one frame.

    Output columns: session_id, fingerprint, fixed, failed_at, failure_path, failure_mtime,
    next_path, next_mtime, and those of CHANGE_COLUMNS (lists of text); ordered as transitions().
    Changes not recorded yet are worked out from the two files and recorded first.
    """
    with changed_transitions(index, flt) as batches:
        table = batches.read_all()
    frame = table.drop_columns(list(CHANGE_COLUMNS)).to_pandas()
    for column in CHANGE_COLUMNS:  # lists, not the NumPy arrays to_pandas makes of them
        frame[column] = table.column(column).to_pylist()
    return frame


@contextlib.contextmanager
def changed_transitions(index: LogIndex, flt: AttemptFilter = ALL) -> Iterator[pa.RecordBatchReader]:
    """The rows of transition_changes(), for the ``with`` block, as Arrow batches of BATCH_ROWS rows
    read one at a time: turn each into Python values in turn (loaders.core.rows.plain_batch_rows).

    Changes not recorded yet are worked out and recorded first (record_missing_changes). The block
    holds the index file (LogIndex.index_file). As one Arrow table the rows took 1.3 GiB at
    1,000,000 sessions (1.3 million transitions), on top of what the query held.
    """
    where, params = flt.where()
    index.cursor()  # loads the index on first use
    # A cursor of its own: the index file's connection may hold a result another call left unfetched.
    with index.index_file() as file_connection, file_connection.cursor() as connection:
        record_missing_changes(index, connection, flt)
        reader = connection.sql(_over_transitions(CHANGED_TRANSITIONS_SQL, where), params=params).to_arrow_reader(
            BATCH_ROWS
        )
        try:
            yield reader
        finally:
            reader.close()  # left open (the block ended early), it would keep the index file attached after DETACH


def record_missing_changes(index: LogIndex, connection: duckdb.DuckDBPyConnection, flt: AttemptFilter = ALL) -> int:
    """Work out and record the changes of the transitions that have none recorded; return how many.

    ``connection``: a cursor with the index file attached (LogIndex.index_file). The missing
    transitions are read a piece at a time (at most CHANGES_PER_TASK), and each piece's changes
    recorded as it comes (through a cursor of its own). In a local tree the parse workers work
    them out: started at once when many are likely (LIKELY_MISSING_SQL), else once PARALLEL_CHANGES
    have been worked out here (the estimate counts every recorded change, so it runs low for a
    filter). Only the pieces in the workers' hands are held. Raises ChangesCancelled when stopped
    (cancelled_by).
    """
    where, params = flt.where()
    workers = worker_count()
    likely = _likely_missing(connection, where, params)
    local = isinstance(index.source, LocalTreeSource) and workers > 1
    # Pieces for every worker busy to the end, as far as the estimate tells.
    size = max(MIN_PIECE, min(CHANGES_PER_TASK, -(-likely // (workers * 4))))
    pool = WorkerPool(workers) if local and likely >= PARALLEL_CHANGES else None  # starts as the query runs
    missing = None
    recorded = 0
    try:
        missing = connection.sql(_over_transitions(MISSING_SQL, where), params=params).to_arrow_reader(size)
        pieces = (pa.Table.from_batches([batch]) for batch in missing if batch.num_rows)
        with connection.cursor() as writer:
            if pool is None:
                for piece in pieces:
                    _stop_if_cancelled()
                    _record_changes(writer, piece, token_changes(_pairs(piece), index.source.read_record))
                    recorded += piece.num_rows
                    if local and recorded >= PARALLEL_CHANGES:
                        pool = WorkerPool(workers)  # more than the estimate said: the workers take the rest
                        break
            if pool is not None:
                in_hand: dict[int, pa.Table] = {}
                tasks = _tasks(index, pieces, in_hand)
                for number, changes in pool.changes(tasks, ahead=2 * workers, stopped=_cancelled):
                    _stop_if_cancelled()
                    piece = in_hand.pop(number)
                    _record_changes(writer, piece, changes)
                    recorded += piece.num_rows
                _stop_if_cancelled()  # the answers stop coming when it is
        return recorded
    finally:
        if missing is not None:  # read to its end or not: an open reader keeps the index file attached after DETACH
            missing.close()
        if pool is not None:
            pool.close(kill=_cancelled())


def _tasks(index: LogIndex, pieces: Iterator[pa.Table], in_hand: dict[int, pa.Table]) -> Iterator[ChangesTask]:
    """A ChangesTask for each piece, numbered in turn; each piece is kept in ``in_hand`` until answered."""
    for number, piece in enumerate(pieces):
        in_hand[number] = piece
        yield ChangesTask(number, str(index.root), _pairs(piece))


def _likely_missing(connection: duckdb.DuckDBPyConnection, where: str, params: list) -> int:
    """About how many transitions have no change recorded (LIKELY_MISSING_SQL): a scan, not a join."""
    return int(connection.execute(LIKELY_MISSING_SQL.format(where=where), params).fetchall()[0][0])


def _over_transitions(sql: str, where: str) -> str:
    """A query of transitions (``{transitions}``) and recorded changes (``{recorded}``) for a filter's WHERE text."""
    return sql.format(transitions=TRANSITIONS_SQL.format(where=where), recorded=RECORDED_SQL)


def _pairs(piece: pa.Table) -> list[tuple[str, str]]:
    return list(zip(piece.column("failure_path").to_pylist(), piece.column("next_path").to_pylist(), strict=True))


def _record_changes(connection: duckdb.DuckDBPyConnection, piece: pa.Table, tokens: list[Any]) -> None:
    """Insert one piece's changes as one Arrow table (``executemany`` costs about 1 ms a row).

    ``piece``: rows of MISSING_SQL (the transitions' keys and what their imports changed);
    ``tokens``: (removed, added) tokens of each row (loaders.ingest.code_changes.token_changes).
    """
    columns = [piece.column(key) for key in (*TRANSITION_KEY, "removed_imports", "added_imports")]
    columns += [pa.array([change[side] for change in tokens], pa.list_(pa.string())) for side in (0, 1)]
    connection.register("fresh_changes", pa.Table.from_arrays(columns, schema=CHANGE_SCHEMA))
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(RECORD_CHANGES_SQL)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.unregister("fresh_changes")
