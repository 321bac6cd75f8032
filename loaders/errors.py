"""What breaks: error categories, their trend, the top specific errors, fingerprints, libraries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loaders.domain import current_domain
from loaders.filters import ALL, AttemptFilter
from loaders.index import LogIndex

if TYPE_CHECKING:  # pandas is imported by DuckDB's .df() only when a frame is asked for
    import pandas as pd

CATEGORY_COLUMNS = {"derived": "category", "stored": "coalesce(error_category, 'unknown')"}

ERROR_CATEGORIES_SQL = """
SELECT {column} AS category,
       count(*) AS count,
       count(*) * 100.0 / sum(count(*)) OVER () AS share,
       count(*) FILTER (WHERE is_fixed) AS fixed,
       count(*) FILTER (WHERE NOT is_fixed) AS unfixed,
       count(*) FILTER (WHERE is_fixed) * 100.0 / count(*) AS fixed_share
FROM attempts
WHERE status = 'failed' AND {where}
GROUP BY 1
ORDER BY count DESC, category
"""


def error_categories(index: LogIndex, flt: AttemptFilter = ALL, which: str = "derived") -> pd.DataFrame:
    """Failures per error category.

    Parameters: ``which`` = "derived" (from the exception class; the default) or "stored"
    (error_category as written). Output columns: category, count, share (percent of failures),
    fixed, unfixed, fixed_share (percent).
    """
    where, params = flt.where()
    return index.frame(ERROR_CATEGORIES_SQL.format(column=CATEGORY_COLUMNS[which], where=where), params)


ERROR_CATEGORIES_DAILY_SQL = """
SELECT day, category, count(*) AS count
FROM attempts
WHERE status = 'failed' AND {where}
GROUP BY ALL
ORDER BY day, category
"""


def error_categories_daily(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Failures per day and derived category. Output columns: day, category, count."""
    where, params = flt.where()
    return index.frame(ERROR_CATEGORIES_DAILY_SQL.format(where=where), params)


TOP_ERRORS_SQL = """
SELECT coalesce(error_line, 'Unknown error') AS error,
       any_value(category) AS category,
       count(*) AS count,
       count(*) FILTER (WHERE is_fixed) AS fixed_count,
       count(*) FILTER (WHERE is_fixed) * 100.0 / count(*) AS fix_rate,
       min(timestamp) AS first_seen,
       max(timestamp) AS last_seen,
       count(DISTINCT session_id) AS sessions,
       list(DISTINCT ai_model ORDER BY ai_model) FILTER (WHERE ai_model IS NOT NULL) AS models,
       (list(session_id ORDER BY timestamp DESC))[1:3] AS example_sessions,
       (list(log_id ORDER BY timestamp DESC))[1:3] AS example_log_ids
FROM attempts
WHERE status = 'failed' AND {where}
GROUP BY 1
ORDER BY count DESC, last_seen DESC
LIMIT ?
"""


def top_errors(index: LogIndex, flt: AttemptFilter = ALL, limit: int = 15) -> pd.DataFrame:
    """The most frequent key error lines (stderr's exception line, else error_message).

    Output columns: error, category, count, fixed_count, fix_rate (percent), first_seen,
    last_seen, sessions, models (list), example_sessions (newest 3), example_log_ids (newest 3).
    """
    where, params = flt.where()
    return index.frame(TOP_ERRORS_SQL.format(where=where), [*params, limit])


FINGERPRINTS_SQL = """
WITH failures AS (
    SELECT f.*, fix.attempt_no - f.attempt_no AS attempts_to_fix
    FROM attempts f LEFT JOIN attempts fix ON fix.log_id = f.fixed_by_effective AND fix.session_id = f.session_id
    WHERE f.status = 'failed' AND f.fingerprint IS NOT NULL AND {where}
)
SELECT fingerprint,
       any_value(error_signature) AS signature,
       arg_max(error_line, timestamp) AS example_error,
       any_value(category) AS category,
       count(*) AS count,
       count(DISTINCT session_id) AS sessions,
       min(timestamp) AS first_seen,
       max(timestamp) AS last_seen,
       count(*) FILTER (WHERE is_fixed) * 100.0 / count(*) AS fix_rate,
       count(*) FILTER (WHERE NOT is_fixed) AS unfixed,
       avg(epoch(fixed_at) - epoch(timestamp)) FILTER (WHERE fixed_at IS NOT NULL) AS mean_seconds_to_fix,
       avg(attempts_to_fix) AS mean_attempts_to_fix,
       list(DISTINCT ai_model ORDER BY ai_model) FILTER (WHERE ai_model IS NOT NULL) AS models,
       (list(session_id ORDER BY timestamp DESC))[1:3] AS example_sessions
FROM failures
GROUP BY fingerprint
ORDER BY count DESC, last_seen DESC
LIMIT ?
"""


def error_fingerprints(index: LogIndex, flt: AttemptFilter = ALL, limit: int = 50) -> pd.DataFrame:
    """Failures grouped by fingerprint (the key line with names, numbers and paths masked).

    Output columns: fingerprint, signature, example_error, category, count, sessions, first_seen,
    last_seen, fix_rate (percent), unfixed, mean_seconds_to_fix, mean_attempts_to_fix (attempts from
    the failure to the success that fixed it, in its session), models (list), example_sessions.
    """
    where, params = flt.where("f")
    return index.frame(FINGERPRINTS_SQL.format(where=where), [*params, limit])


LIBRARY_ISSUES_SQL = """
WITH uses AS (
    SELECT a.*, unnest(list_distinct(list_concat(
        coalesce(imports, []),
        list_transform(list_filter(coalesce(tags, []), lambda t: starts_with(t, 'lib:')), lambda t: t[5:])
    ))) AS library
    FROM attempts a WHERE {where}
)
SELECT library,
       count(*) FILTER (WHERE status = 'failed') AS failures,
       count(*) AS attempts,
       count(*) FILTER (WHERE status = 'failed') * 100.0 / count(*) AS failure_rate,
       count(*) FILTER (WHERE status = 'failed' AND is_fixed) AS fixed,
       count(*) FILTER (WHERE status = 'failed'
                        AND regexp_extract(error_line, 'No module named ''([A-Za-z0-9_]+)', 1) = library)
           AS import_failures,
       arg_max(error_line, timestamp) FILTER (WHERE status = 'failed') AS latest_error,
       (list(log_id ORDER BY timestamp DESC, log_id) FILTER (WHERE status = 'failed'))[1:3] AS example_log_ids,
       (list(is_fixed ORDER BY timestamp DESC, log_id) FILTER (WHERE status = 'failed'))[1:3] AS example_fixed
FROM uses
GROUP BY library
HAVING count(*) FILTER (WHERE status = 'failed') > 0
   AND (CAST(? AS VARCHAR[]) IS NULL OR list_contains(CAST(? AS VARCHAR[]), library))
ORDER BY failures DESC, library
"""


def library_issues(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Failures per library, from the code's imports and the ``lib:`` tags (only the tracked
    libraries when the domain configuration names them, see loaders.domain).

    Output columns: library, failures, attempts (using it), failure_rate (percent), fixed,
    import_failures (the library itself could not be imported), latest_error, example_log_ids,
    example_fixed (whether each example failure is fixed).
    """
    where, params = flt.where("a")
    tracked = current_domain().tracked_libraries
    tracked_list = list(tracked) if tracked is not None else None
    return index.frame(LIBRARY_ISSUES_SQL.format(where=where), [*params, tracked_list, tracked_list])
