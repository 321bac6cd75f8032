"""What the original system's REST API returned, computed from the index: its execution counts, its
list items, its session document; and the cutting of big text fields in lists.

The original counted *executions* (one attempt each); its list items carried ``id``, ``status``,
``error_message``, ``started_at``, ``completed_at`` and database keys the logs do not have
(``user_id``, ``script_id``, ``script_name``: always None here). Its session route answered the
session file as written, with the attempts of that session as logged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from loaders.analysis.attempts import is_valid_id, read_record, recent_attempts, sessions_of_attempts
from loaders.analysis.filters import ALL, AttemptFilter
from loaders.analysis.sessions import find_session
from loaders.store.index import LogIndex
from loaders.text.secrets import clip

if TYPE_CHECKING:  # pandas is imported by DuckDB's .df() only when a frame is asked for
    import pandas as pd

# A text field of a list item longer than this is cut (the full text: one attempt, or one session).
LIST_TEXT_MAX_CHARS = 10_000
# The record fields that can be big: the script, its outputs, the prompt and the error.
BIG_TEXT_FIELDS = ("code", "stdout", "stderr", "error_message", "user_prompt")
# The original's /analysis listed this many of the newest executions.
RECENT_EXECUTIONS = 100
# Item keys of the original's database that the logs do not have.
ABSENT_ITEM_KEYS = ("user_id", "script_id", "script_name")


def cut_marker(total_chars: int) -> str:
    """What ends a cut text: that it was cut, and its full length in characters."""
    return f"\n... [cut: {total_chars:,} characters in all]"


def cut_text(value: Any, limit: int = LIST_TEXT_MAX_CHARS) -> Any:
    """``value`` cut to ``limit`` characters with a marker saying so and how long it was; other values as they are."""
    if not isinstance(value, str) or len(value) <= limit:
        return value
    return clip(value, limit) + cut_marker(len(value))


def cut_big_texts(record: dict[str, Any], limit: int = LIST_TEXT_MAX_CHARS) -> dict[str, Any]:
    """A copy of the record with BIG_TEXT_FIELDS cut to ``limit`` characters.

    Output: the copy, with ``cut_fields`` ({field: full length in characters}, empty when nothing was cut).
    """
    cut = dict(record)
    lengths: dict[str, int] = {}
    for name in BIG_TEXT_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and len(value) > limit:
            lengths[name] = len(value)
            cut[name] = cut_text(value, limit)
    cut["cut_fields"] = lengths
    return cut


def cut_frame_texts(frame: pd.DataFrame, limit: int = LIST_TEXT_MAX_CHARS) -> pd.DataFrame:
    """A copy of the frame with every text cell longer than ``limit`` cut (with the marker), for CSV lists."""
    cut = frame.copy()
    for column in cut.columns:
        if cut[column].dtype == object or str(cut[column].dtype).startswith("str"):
            cut[column] = cut[column].map(lambda value: cut_text(value, limit))
    return cut


@dataclass(frozen=True)
class ExecutionCounts:
    """The original's summary: executions (attempts), successful, failed (not timeouts), timeouts, success rate.

    A timeout is a failure whose category is ``timeout``: the derived category, which also knows
    "Script timed out after 60 seconds" (stored as ``unknown`` by the writer's keyword classifier) and
    keeps the stored ``timeout`` unless the exception class says otherwise. ``success_rate`` is in
    percent, rounded to 2 places (0.0 without attempts).
    """

    total_executions: int
    successful_executions: int
    failed_executions: int
    timeout_executions: int
    success_rate: float

    def as_dict(self) -> dict[str, Any]:
        """The five numbers under the original's keys."""
        return asdict(self)


EXECUTION_COUNTS_SQL = """
SELECT count(*) AS total_executions,
       count(*) FILTER (WHERE status = 'success') AS successful_executions,
       count(*) FILTER (WHERE status = 'failed' AND coalesce(category, '') <> 'timeout') AS failed_executions,
       count(*) FILTER (WHERE status = 'failed' AND coalesce(category, '') = 'timeout') AS timeout_executions
FROM attempts WHERE {where}
"""


def execution_counts(index: LogIndex, flt: AttemptFilter = ALL) -> ExecutionCounts:
    """The original's five summary numbers over the filtered attempts.

    Output: an ExecutionCounts (total_executions, successful_executions, failed_executions,
    timeout_executions, success_rate).
    """
    where, params = flt.where()
    total, ok, failed, timeouts = index.cursor().execute(EXECUTION_COUNTS_SQL.format(where=where), params).fetchone()
    rate = round(ok / total * 100, 2) if total else 0.0
    return ExecutionCounts(int(total), int(ok), int(failed), int(timeouts), rate)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


def completed_at(timestamp: Any, seconds: Any) -> str | None:
    """``timestamp`` plus ``seconds`` of run time, ISO 8601 with microseconds; None unless both are known."""
    if not isinstance(timestamp, str) or isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    try:
        return (datetime.fromisoformat(timestamp) + timedelta(seconds=seconds)).isoformat(timespec="microseconds")
    except (ValueError, OverflowError):
        return None


def execution_item(
    record: dict[str, Any], log_id: str, status: str | None, limit: int = LIST_TEXT_MAX_CHARS
) -> dict[str, Any]:
    """A list item: the record with its big texts cut, and the original's item keys beside its own.

    ``status`` is the original's word (``error``, ``timeout`` or ``success``, from the index:
    ORIGINAL_STATUS_SQL), the record's own in ``log_status``; ``id`` is the log_id (the file's stem
    when the record has none), ``started_at`` the timestamp as written, ``completed_at`` the timestamp plus
    ``execution_time_seconds`` when both are known; ``user_id``, ``script_id`` and ``script_name`` are
    None (the logs do not have them).
    """
    item = cut_big_texts(record, limit)
    item.setdefault("log_id", log_id)
    logged = _text_or_none(record.get("status"))
    item.update(
        id=_text_or_none(record.get("log_id")) or log_id,
        status=status,
        log_status=logged,
        error_message=_text_or_none(item.get("error_message")),
        started_at=_text_or_none(record.get("timestamp")),
        completed_at=completed_at(record.get("timestamp"), record.get("execution_time_seconds")),
    )
    item.update(dict.fromkeys(ABSENT_ITEM_KEYS))
    return item


def execution_items(
    index: LogIndex, log_ids: list[str], paths: list[str], limit: int = LIST_TEXT_MAX_CHARS
) -> list[dict[str, Any]]:
    """The list items of these indexed attempts, in order; unreadable ones are left out.

    Each record is cut as soon as it is read, so a list of records with huge texts never holds
    more than one of them whole.
    """
    statuses = dict(index.cursor().execute(ORIGINAL_STATUS_SQL, [list(paths)]).fetchall()) if paths else {}
    items = []
    for log_id, path in zip(log_ids, paths, strict=True):
        record = read_record(index, path)
        if record is not None:
            items.append(execution_item(record, log_id, statuses.get(path), limit))
    return items


# The original's item status from what the index holds (the same derived category execution_counts counts).
ORIGINAL_STATUS_SQL = """
SELECT path, CASE WHEN status = 'success' THEN 'success'
                  WHEN coalesce(category, '') = 'timeout' THEN 'timeout' ELSE 'error' END
FROM attempts WHERE list_contains(?, path)
"""


def recent_executions(
    index: LogIndex, flt: AttemptFilter = ALL, limit: int = RECENT_EXECUTIONS, unfixed_only: bool = False
) -> list[dict[str, Any]]:
    """The newest attempts under the filter as the original's list items (see execution_item)."""
    frame = recent_attempts(index, flt, limit=limit, unfixed_only=unfixed_only)
    return execution_items(index, list(frame["log_id"]), list(frame["path"]))


LOGGED_SESSION_SQL = """
SELECT log_id, session_id, timestamp, status, path FROM attempts
WHERE logged_session_id = ? ORDER BY timestamp, log_id
"""

SESSION_ATTEMPTS_SQL = """
SELECT log_id, session_id, timestamp, status, path FROM attempts
WHERE session_id = ? ORDER BY timestamp, log_id
"""

SESSION_FILE_PATH_SQL = "SELECT path FROM session_files WHERE session_id = ? ORDER BY mtime_ns DESC LIMIT 1"

INFERRED_ATTEMPTS_SQL = """
SELECT log_id FROM attempts WHERE list_contains(?, session_id) ORDER BY timestamp, log_id
"""


LOGGED_AS_SQL = "SELECT DISTINCT session_id FROM attempts WHERE logged_session_id = ? ORDER BY 1"


def fixtrail_session_id(index: LogIndex, text: str) -> str | None:
    """The session (as Fixtrail groups attempts, inferred or not) that an exact id names, or None.

    ``text`` may be a session id, a session id as logged whose attempts all sit in one (inferred)
    session, or an attempt's log_id. Never a prefix; None when it names no attempt or several sessions.
    """
    if not is_valid_id(text):
        return None
    cursor = index.cursor()
    if cursor.execute("SELECT 1 FROM attempts WHERE session_id = ? LIMIT 1", [text]).fetchone():
        return text
    logged = [row[0] for row in cursor.execute(LOGGED_AS_SQL, [text]).fetchall()]
    if logged:
        return logged[0] if len(logged) == 1 else None
    candidates = find_session(index, text).candidates
    # A session file alone (its id has no attempt) names no session to show.
    exact = sorted(set(candidates.loc[candidates["exact"], "session_id"]) - {text})
    return exact[0] if len(exact) == 1 else None


@dataclass
class OriginalSession:
    """A session as the original answered it, and Fixtrail's view of it beside.

    ``session``: the session file as written (or, without a readable one, the same shape made from
    the attempts: session_id, created_at, attempts [{log_id, timestamp, status}], status
    resolved/in_progress, updated_at, resolved_at). ``attempts``: full records in time order.
    ``missing_attempt_ids``: listed by the session file, unknown to the index. ``inferred_session_ids``
    and ``inferred_attempt_ids``: when sessions are inferred, the sessions these attempts belong to
    and all of their attempts.
    """

    session: dict[str, Any]
    attempts: list[dict[str, Any]]
    missing_attempt_ids: list[str] = field(default_factory=list)
    sessions_inferred: bool = False
    inferred_session_ids: list[str] = field(default_factory=list)
    inferred_attempt_ids: list[str] = field(default_factory=list)


def _stamp(record: dict[str, Any], indexed: Any) -> str | None:
    """The record's timestamp as written, else the indexed one as ISO text (None when unknown: NaT)."""
    written = _text_or_none(record.get("timestamp"))
    if written or indexed is None or indexed != indexed:
        return written
    return indexed.isoformat(timespec="microseconds")


def _made_session(session_id: str, rows: pd.DataFrame, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The session file the original writer would have written for these attempts."""
    stamps = [_stamp(r, ts) for r, ts in zip(records, rows["timestamp"], strict=True)]
    statuses = list(rows["status"])
    session: dict[str, Any] = {
        "session_id": session_id,
        "created_at": stamps[0] if stamps else None,
        "attempts": [
            {"log_id": log_id, "timestamp": stamp, "status": status}
            for log_id, stamp, status in zip(rows["log_id"], stamps, statuses, strict=True)
        ],
        "status": "resolved" if "success" in statuses else "in_progress",
        "updated_at": stamps[-1] if stamps else None,
    }
    if "success" in statuses:
        session["resolved_at"] = stamps[statuses.index("success")]
    return session


def original_session(index: LogIndex, session_id: str) -> OriginalSession | None:
    """The session an exact id names, as the original answered it; None when nothing names it.

    The attempts are those logged with this session id (when sessions are inferred too, so a
    logged session merged into an inferred one still has its attempts); without any, those of the
    session ``fixtrail_session_id`` finds (an inferred session's id, an attempt's log_id).
    """
    if not is_valid_id(session_id):
        return None
    cursor = index.cursor()
    rows = cursor.execute(LOGGED_SESSION_SQL, [session_id]).df()
    file_row = cursor.execute(SESSION_FILE_PATH_SQL, [session_id]).fetchone()
    if rows.empty and file_row is None:  # an attempt's log_id, or an inferred session's id
        found = fixtrail_session_id(index, session_id)
        if found is None:
            return None
        session_id = found
        rows = cursor.execute(SESSION_ATTEMPTS_SQL, [found]).df()
        # Inferred, the file of the session the first attempt was logged in lists that attempt alone.
        file_row = None if index.sessions_inferred else cursor.execute(SESSION_FILE_PATH_SQL, [found]).fetchone()
    positions, records = [], []
    for position, path in enumerate(rows["path"]):
        record = read_record(index, path)
        if record is not None:
            positions.append(position)
            records.append(record)
    rows = rows.iloc[positions]
    written = read_record(index, file_row[0]) if file_row else None
    session = written if written is not None else _made_session(session_id, rows, records)
    entries = session.get("attempts")
    listed = [a.get("log_id") for a in entries if isinstance(a, dict)] if isinstance(entries, list) else []
    # The attempts read above are known; only ids the file lists beyond them are looked up (a scan).
    read = set(rows["log_id"])
    others = [i for i in listed if isinstance(i, str) and i not in read]
    known = read | set(sessions_of_attempts(index, others))
    missing = [i for i in listed if isinstance(i, str) and i not in known]
    result = OriginalSession(session, records, missing, index.sessions_inferred)
    if index.sessions_inferred:
        result.inferred_session_ids = sorted(set(rows["session_id"]))
        if result.inferred_session_ids:
            result.inferred_attempt_ids = [
                row[0] for row in cursor.execute(INFERRED_ATTEMPTS_SQL, [result.inferred_session_ids]).fetchall()
            ]
    return result
