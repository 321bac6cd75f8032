"""Data health: where the logs and the index are, what was loaded, and what looks wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from loaders.store.index import LogIndex

if TYPE_CHECKING:  # pandas is imported by DuckDB's .df() only when a frame is asked for
    import pandas as pd

COUNTS_SQL = """
SELECT (SELECT count(*) FROM attempts) AS attempts,
       (SELECT count(*) FROM session_files) AS session_files,
       (SELECT count(*) FROM skipped_files) AS skipped_files,
       (SELECT coalesce(sum(copies - 1), 0) FROM attempts) AS duplicate_files,
       (SELECT count(*) FROM attempts WHERE len(flags) > 0) AS flagged_records,
       (SELECT coalesce(sum(size), 0) FROM attempts) AS attempt_bytes
"""


@dataclass(frozen=True)
class IndexHealth:
    """Where things are and how much was loaded."""

    logs_dir: str
    index_path: str
    index_bytes: int
    loaded_at: str | None
    version: int
    attempts: int
    session_files: int
    skipped_files: int
    duplicate_files: int
    flagged_records: int
    attempt_bytes: int
    last_refresh_seconds: float | None
    last_refresh_parsed: int | None


def index_health(index: LogIndex) -> IndexHealth:
    """The index's location, size, load time and counts (attempts, session files, skipped, ...)."""
    counts = index.cursor().execute(COUNTS_SQL).fetchone()
    report = index.last_report
    return IndexHealth(
        str(index.root),
        str(index.path),
        index.path.stat().st_size if index.path.exists() else 0,
        index.loaded_at,
        index.version,
        *(int(value) for value in counts),
        report.seconds if report else None,
        report.parsed if report else None,
    )


FLAGGED_SQL = """
SELECT log_id, path, array_to_string(flags, '; ') AS flags FROM attempts WHERE len(flags) > 0 ORDER BY path
"""


def flagged_records(index: LogIndex) -> pd.DataFrame:
    """Records loaded with coerced values. Output columns: log_id, path, flags (what was coerced)."""
    return index.frame(FLAGGED_SQL)


SECRETS_SQL = """
SELECT log_id, session_id, timestamp, array_to_string(secret_kinds, ', ') AS kinds, path
FROM attempts WHERE len(secret_kinds) > 0 ORDER BY timestamp DESC, path
"""


def attempts_with_secrets(index: LogIndex) -> pd.DataFrame:
    """Attempts whose prompt, code, error message, stderr or stdout hold a secret (loaders.text.secrets),
    newest first: what to purge at the source (every way out of Fixtrail shows them masked).

    Output columns: log_id, session_id, timestamp, kinds (the kinds of secret, comma-separated), path.
    """
    return index.frame(SECRETS_SQL)


DUPLICATES_SQL = "SELECT log_id, copies AS files, path AS counted_path FROM attempts WHERE copies > 1 ORDER BY log_id"


def duplicate_log_ids(index: LogIndex) -> pd.DataFrame:
    """log_ids found in more than one file; the newest file is the one counted.

    Output columns: log_id, files (how many files hold it), counted_path.
    """
    return index.frame(DUPLICATES_SQL)
