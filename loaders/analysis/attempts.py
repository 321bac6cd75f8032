"""Attempts one by one: unfixed failures, recent attempts, and full records read on demand."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loaders.analysis.filters import ALL, AttemptFilter
from loaders.store.index import LogIndex

if TYPE_CHECKING:  # pandas is imported by DuckDB's .df() only when a frame is asked for
    import pandas as pd

# A log or session id: what the writer makes (UUIDs) and what older trees used; never a path.
MAX_ID_BYTES = 128
_NOT_IN_IDS = re.compile(r"[/\\\x00-\x1f\x7f]")


def is_valid_id(value: str) -> bool:
    """True for an id the writer can have written: text safe as one file name, at most 128 UTF-8 bytes.

    Refused: ``.`` and ``..``, separators, NUL and other control characters, lone surrogates. Ids
    are only ever bound as SQL parameters, never joined into a path.
    """
    if not isinstance(value, str) or value in ("", ".", "..") or _NOT_IN_IDS.search(value):
        return False
    try:
        return len(value.encode("utf-8")) <= MAX_ID_BYTES
    except UnicodeEncodeError:
        return False


UNFIXED_FAILURES_SQL = """
SELECT timestamp, category, error_category, error_type, error_line, ai_model, user_prompt,
       session_id, session_attempts, log_id, image_filename, fingerprint, error_message,
       round((epoch(CAST(? AS TIMESTAMP)) - epoch(timestamp)) / 3600.0, 1) AS age_hours
FROM attempts
WHERE status = 'failed' AND NOT is_fixed AND {where}
ORDER BY timestamp DESC, log_id
LIMIT ? OFFSET ?
"""


def unfixed_failures(
    index: LogIndex, flt: AttemptFilter = ALL, as_of: datetime | None = None, limit: int | None = None, offset: int = 0
) -> pd.DataFrame:
    """Failures with no fix (no fixed_by, no later success in their session), newest first; ``limit``
    rows from ``offset`` on (all by default).

    Output columns: timestamp, category, error_category, error_type, error_line, ai_model,
    user_prompt, session_id, session_attempts, log_id, image_filename, fingerprint, error_message,
    age_hours
    (hours before ``as_of``, default now).
    """
    where, params = flt.where()
    return index.frame(UNFIXED_FAILURES_SQL.format(where=where), [as_of or datetime.now(), *params, limit, offset])


UNFIXED_COUNTS_SQL = """
SELECT count(*), count(DISTINCT session_id) FROM attempts WHERE status = 'failed' AND NOT is_fixed AND {where}
"""


def unfixed_counts(index: LogIndex, flt: AttemptFilter = ALL) -> tuple[int, int]:
    """(unfixed failures, sessions they are in) under the filter: unfixed_failures' rows without reading them."""
    where, params = flt.where()
    failures, sessions = index.cursor().execute(UNFIXED_COUNTS_SQL.format(where=where), params).fetchone()
    return int(failures), int(sessions)


RECENT_ATTEMPTS_SQL = """
SELECT timestamp, status, log_id, session_id, ai_model, category, error_line, user_prompt,
       is_fixed, fixed_by_effective AS fixed_by, execution_time_seconds, output_files, path
FROM attempts
WHERE {where} AND (NOT ? OR (status = 'failed' AND NOT is_fixed))
ORDER BY timestamp DESC, log_id
LIMIT ? OFFSET ?
"""
COUNT_ATTEMPTS_SQL = "SELECT count(*) FROM attempts WHERE {where} AND (NOT ? OR (status = 'failed' AND NOT is_fixed))"


def recent_attempts(
    index: LogIndex, flt: AttemptFilter = ALL, limit: int = 50, unfixed_only: bool = False, offset: int = 0
) -> pd.DataFrame:
    """The newest attempts under the filter (set ``flt.statuses`` to pick failures or successes), after
    skipping the ``offset`` newest.

    Output columns: timestamp, status, log_id, session_id, ai_model, category, error_line,
    user_prompt, is_fixed, fixed_by (the fixing success, linked or inferred from the session),
    execution_time_seconds, output_files, path.
    """
    where, params = flt.where()
    return index.frame(RECENT_ATTEMPTS_SQL.format(where=where), [*params, unfixed_only, limit, offset])


def count_attempts(index: LogIndex, flt: AttemptFilter = ALL, unfixed_only: bool = False) -> int:
    """How many attempts recent_attempts pages through (the same filter)."""
    where, params = flt.where()
    return int(index.cursor().execute(COUNT_ATTEMPTS_SQL.format(where=where), [*params, unfixed_only]).fetchone()[0])


ATTEMPT_PATH_SQL = "SELECT path FROM attempts WHERE log_id = ?"


def read_record(index: LogIndex, path: str) -> dict[str, Any] | None:
    """Read the full JSON record at an indexed path (from the index's source); None if gone or unreadable."""
    return index.source.read_record(path)


def attempt_record(index: LogIndex, log_id: str) -> dict[str, Any] | None:
    """The full record (code, stderr, stdout included) of one attempt, or None if unknown."""
    if not is_valid_id(log_id):
        return None
    row = index.cursor().execute(ATTEMPT_PATH_SQL, [log_id]).fetchone()
    return read_record(index, row[0]) if row else None


def full_records(index: LogIndex, paths: list[str]) -> list[dict[str, Any]]:
    """The full records at these indexed paths, in order; unreadable ones are left out."""
    records = (read_record(index, path) for path in paths)
    return [record for record in records if record is not None]


SESSIONS_OF_ATTEMPTS_SQL = "SELECT log_id, session_id FROM attempts WHERE list_contains(?, log_id)"


def sessions_of_attempts(index: LogIndex, log_ids: list[str]) -> dict[str, str]:
    """The session of each of these attempts that the index knows: {log_id: session_id}."""
    wanted = sorted({log_id for log_id in log_ids if isinstance(log_id, str) and log_id})
    if not wanted:
        return {}
    return dict(index.cursor().execute(SESSIONS_OF_ATTEMPTS_SQL, [wanted]).fetchall())


FIXED_OF_ATTEMPTS_SQL = "SELECT log_id, is_fixed FROM attempts WHERE list_contains(?, log_id)"


def fixed_of_attempts(index: LogIndex, log_ids: list[str]) -> dict[str, bool]:
    """Whether each of these attempts that the index knows is fixed: {log_id: is_fixed}."""
    wanted = sorted({log_id for log_id in log_ids if isinstance(log_id, str) and log_id})
    if not wanted:
        return {}
    return {log_id: bool(fixed) for log_id, fixed in index.cursor().execute(FIXED_OF_ATTEMPTS_SQL, [wanted]).fetchall()}
