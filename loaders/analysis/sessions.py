"""Sessions: the list of them, and one session's attempts in time order with their full texts."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from loaders.analysis.attempts import is_valid_id, read_record
from loaders.analysis.filters import ALL, AttemptFilter
from loaders.store.index import LogIndex

if TYPE_CHECKING:  # pandas is imported by DuckDB's .df() only when a frame is asked for
    import pandas as pd

# The page's sessions are chosen first (by their last attempt), and only theirs are summed up: summing
# every session up before cutting a page of 50 took 9.4 s at 1,000,000 sessions.
SESSIONS_SQL = """
WITH chosen AS (SELECT DISTINCT session_id FROM attempts WHERE {where}),
page AS (
    SELECT a.session_id, max(a.timestamp) AS last_at
    FROM attempts a JOIN chosen USING (session_id)
    GROUP BY a.session_id
    ORDER BY last_at DESC, a.session_id
    LIMIT ? OFFSET ?
),
per_session AS (
    SELECT a.session_id,
           count(*) AS attempts,
           count(*) FILTER (WHERE a.status = 'failed') AS failures,
           count(*) FILTER (WHERE a.status = 'success') AS successes,
           min(a.timestamp) AS first_at,
           max(a.timestamp) AS last_at,
           arg_max(a.status, a.timestamp) AS final_outcome,
           arg_min(a.user_prompt, a.timestamp) AS user_prompt,
           mode(a.ai_model) AS ai_model,
           arg_max(a.error_line, a.timestamp) FILTER (WHERE a.status = 'failed') AS last_error
    FROM attempts a JOIN page USING (session_id)
    GROUP BY a.session_id
),
latest_files AS (
    SELECT * FROM session_files WHERE session_id IN (SELECT session_id FROM page)
    QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY mtime_ns DESC) = 1
),
missing AS (
    SELECT session_id, count(*) AS missing_records
    FROM (SELECT session_id, unnest(attempt_ids) AS log_id FROM latest_files)
    WHERE log_id NOT IN (SELECT log_id FROM attempts)
    GROUP BY session_id
)
SELECT p.session_id,
       CASE WHEN p.successes > 0 THEN 'resolved' ELSE 'unresolved' END AS status,
       p.attempts, p.failures, p.successes, p.first_at, p.last_at,
       epoch(p.last_at) - epoch(p.first_at) AS duration_seconds,
       p.final_outcome, p.ai_model, p.user_prompt, p.last_error,
       f.status AS file_status,
       f.path IS NOT NULL AS has_session_file,
       coalesce(m.missing_records, 0) AS missing_records
FROM per_session p
LEFT JOIN latest_files f USING (session_id)
LEFT JOIN missing m USING (session_id)
ORDER BY p.last_at DESC, p.session_id
"""

SESSION_COUNTS_SQL = """
WITH chosen AS (SELECT DISTINCT session_id FROM attempts WHERE {where})
SELECT count(*) AS sessions, count(*) FILTER (WHERE resolved) AS resolved
FROM (SELECT session_id, bool_or(status = 'success') AS resolved
      FROM attempts JOIN chosen USING (session_id) GROUP BY session_id)
"""


def sessions(index: LogIndex, flt: AttemptFilter = ALL, limit: int = 100_000, offset: int = 0) -> pd.DataFrame:
    """Sessions with at least one attempt under the filter, newest activity first (``limit`` of
    them from ``offset``: a page).

    Output columns: session_id, status (resolved when any success), attempts, failures,
    successes, first_at, last_at, duration_seconds, final_outcome (status of the last attempt),
    ai_model (most used), user_prompt (first), last_error, file_status (the session file's own
    status, None without a file), has_session_file, missing_records (attempts the session file
    lists whose record is missing).
    """
    where, params = flt.where()
    return index.frame(SESSIONS_SQL.format(where=where), [*params, limit, offset])


def session_counts(index: LogIndex, flt: AttemptFilter = ALL) -> tuple[int, int]:
    """(sessions, resolved sessions) with at least one attempt under the filter."""
    where, params = flt.where()
    total, resolved = index.cursor().execute(SESSION_COUNTS_SQL.format(where=where), params).fetchone()
    return int(total), int(resolved)


SESSION_ATTEMPTS_SQL = """
SELECT attempt_no, log_id, timestamp, status, category, error_category, error_type, error_line,
       ai_model, user_prompt, image_filename, return_code, output_files, execution_time_seconds,
       previous_attempt_id, fixed_by, is_fixed, fixed_by_effective, code_hash, tags, flags,
       inferred_previous_id, inferred_similarity, path
FROM attempts WHERE session_id = ?
ORDER BY timestamp, log_id
"""

SESSION_FILE_SQL = """
SELECT created_at, status, updated_at, resolved_at, attempt_ids, path
FROM session_files WHERE session_id = ? ORDER BY mtime_ns DESC LIMIT 1
"""


@dataclass
class SessionDetail:
    """One session: its attempts (slim, time order), their full records, and the session file."""

    session_id: str
    attempts: pd.DataFrame
    records: list[dict[str, Any] | None]
    session_file: dict[str, Any] | None
    missing_attempt_ids: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``resolved`` when any attempt succeeded, else ``unresolved``."""
        return "resolved" if (self.attempts["status"] == "success").any() else "unresolved"

    def records_or_stand_ins(self) -> list[dict[str, Any]]:
        """The full records, each one that cannot be read now (gone, changed to something unreadable
        since it was indexed) replaced by what the index holds of it and why: ``record_unreadable``."""
        if all(record is not None for record in self.records):
            return list(self.records)
        from loaders.core.rows import frame_records  # pandas, loaded already for self.attempts

        indexed = frame_records(self.attempts[list(STAND_IN_KEYS)])  # JSON-safe: ISO times, null for NaN
        return [
            record
            if record is not None
            else {"session_id": self.session_id, **row, "record_unreadable": UNREADABLE_RECORD}
            for record, row in zip(self.records, indexed, strict=True)
        ]


STAND_IN_KEYS = ("log_id", "timestamp", "status", "error_type", "previous_attempt_id", "fixed_by", "path")
UNREADABLE_RECORD = "the file is gone or cannot be read any more; these fields are from the index"


FIND_SESSIONS_SQL = """
WITH hits AS (
    SELECT session_id, 'session' AS matched_by, session_id AS matched_id, timestamp FROM attempts
    WHERE starts_with(session_id, $text)
    UNION ALL
    SELECT session_id, 'attempt', log_id, timestamp FROM attempts WHERE starts_with(log_id, $text)
    UNION ALL
    SELECT session_id, 'logged session', logged_session_id, timestamp FROM attempts
    WHERE logged_session_id <> session_id AND starts_with(logged_session_id, $text)
    UNION ALL
    SELECT session_id, 'session file', session_id, created_at FROM session_files
    WHERE starts_with(session_id, $text)
)
SELECT session_id, arg_min(matched_by, matched_id) AS matched_by, min(matched_id) AS matched_id,
       bool_or(matched_id = $text) AS exact, max(timestamp) AS last_at
FROM hits
GROUP BY session_id
ORDER BY exact DESC, last_at DESC NULLS LAST, session_id
LIMIT $limit
"""


@dataclass(frozen=True)
class SessionLookup:
    """What an id or the start of one names: ``session_id`` when it names one session, else ``candidates``."""

    session_id: str | None
    candidates: pd.DataFrame


def find_session(index: LogIndex, text: str, limit: int = 20) -> SessionLookup:
    """The session that ``text`` names: a session id, an attempt's log_id, a session id as logged
    (when sessions are inferred), or a unique start of any of them; an exact id wins over prefixes.

    Output: a SessionLookup; ``candidates`` has columns session_id, matched_by (session, attempt,
    logged session, session file), matched_id, exact, last_at (at most ``limit`` rows).
    """
    text = text.strip()
    if not is_valid_id(text):
        return SessionLookup(None, index.frame(FIND_SESSIONS_SQL, {"text": "", "limit": 0}))
    found = index.frame(FIND_SESSIONS_SQL, {"text": text, "limit": limit})
    exact = found[found["exact"]]
    if len(exact) == 1:
        return SessionLookup(str(exact["session_id"].iloc[0]), found)
    if len(found) == 1:
        return SessionLookup(str(found["session_id"].iloc[0]), found)
    return SessionLookup(None, found)


def session_detail(index: LogIndex, session_id: str) -> SessionDetail | None:
    """The session's attempts with full texts, or None when no record or session file names it."""
    if not is_valid_id(session_id):
        return None
    cursor = index.cursor()
    attempts = cursor.execute(SESSION_ATTEMPTS_SQL, [session_id]).df()
    file_row = cursor.execute(SESSION_FILE_SQL, [session_id]).fetchone()
    if attempts.empty and file_row is None:
        return None
    session_file = None
    missing: list[str] = []
    if file_row is not None:
        keys = ("created_at", "status", "updated_at", "resolved_at", "attempt_ids", "path")
        session_file = dict(zip(keys, file_row, strict=False))
        present = set(attempts["log_id"])
        missing = [log_id for log_id in session_file["attempt_ids"] or [] if log_id not in present]
    records = [read_record(index, path) for path in attempts["path"]]
    return SessionDetail(session_id, attempts, records, session_file, missing)


def code_diff(previous_code: str | None, code: str | None, previous_name: str, name: str) -> str:
    """A unified diff between two attempts' code ('' when either is missing or they are equal)."""
    if not previous_code or not code or previous_code == code:
        return ""
    lines = difflib.unified_diff(
        previous_code.splitlines(), code.splitlines(), fromfile=previous_name, tofile=name, lineterm=""
    )
    return "\n".join(lines)


ABANDONED_SESSIONS_SQL = """
WITH per_session AS (
    SELECT session_id,
           count(*) AS attempts,
           max(timestamp) AS last_at,
           arg_max(status, timestamp) AS final_outcome,
           arg_max(error_line, timestamp) AS last_error,
           arg_min(user_prompt, timestamp) AS user_prompt,
           mode(ai_model) AS ai_model
    FROM attempts
    WHERE {where} AND timestamp <= ?
    GROUP BY session_id
)
SELECT session_id, attempts, last_at, last_error, user_prompt, ai_model,
       round((epoch(CAST(? AS TIMESTAMP)) - epoch(last_at)) / 3600.0, 1) AS idle_hours{total}
FROM per_session
WHERE final_outcome = 'failed' AND last_at < ?
ORDER BY last_at DESC, session_id{limit}
"""

DEFAULT_ABANDON_HOURS = 1.0


def abandoned_sessions(
    index: LogIndex,
    flt: AttemptFilter = ALL,
    as_of: datetime | None = None,
    after_hours: float = DEFAULT_ABANDON_HOURS,
    limit: int | None = None,
) -> pd.DataFrame:
    """Sessions whose last attempt failed and that nothing followed for ``after_hours`` before ``as_of``,
    the most recently active first; ``limit``: only that many (see newest_rows).

    Output columns: session_id, attempts, last_at, last_error, user_prompt, ai_model, idle_hours.
    """
    as_of = as_of or datetime.now()
    where, params = flt.where()
    cutoff = as_of - timedelta(hours=after_hours)
    return newest_rows(index, ABANDONED_SESSIONS_SQL, where, [*params, as_of, as_of, cutoff], limit)


def newest_rows(index: LogIndex, sql: str, where: str, params: list, limit: int | None) -> pd.DataFrame:
    """The rows of ``sql`` (with ``{where}``, ``{total}`` and ``{limit}`` to fill in), or, with a
    ``limit``, only the first that many, and how many there are in all in the frame's ``attrs["total"]``
    (counted by the same query: the lists a report holds grow with the tree, 43 MB of abandoned
    sessions at 1,000,000 sessions)."""
    if limit is None:
        return index.frame(sql.format(where=where, total="", limit=""), params)
    counted = sql.format(where=where, total=", count(*) OVER () AS total", limit=f" LIMIT {int(limit)}")
    frame = index.frame(counted, params)
    frame.attrs["total"] = int(frame["total"].iloc[0]) if len(frame) else 0
    return frame.drop(columns="total")


SILENT_SUCCESSES_SQL = """
SELECT timestamp, log_id, session_id, ai_model, user_prompt, execution_time_seconds, stdout_chars{total}
FROM attempts
WHERE status = 'success' AND (output_files IS NULL OR len(output_files) = 0) AND {where}
ORDER BY timestamp DESC, log_id{limit}
"""


def silent_successes(index: LogIndex, flt: AttemptFilter = ALL, limit: int | None = None) -> pd.DataFrame:
    """Successes that produced no output file (the script ran, but did it do anything?), newest first;
    ``limit``: only that many (see newest_rows).

    Output columns: timestamp, log_id, session_id, ai_model, user_prompt, execution_time_seconds,
    stdout_chars.
    """
    where, params = flt.where()
    return newest_rows(index, SILENT_SUCCESSES_SQL, where, params, limit)
