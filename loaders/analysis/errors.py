"""What breaks: error categories, their trend, the top specific errors, fingerprints, libraries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from loaders.analysis.filters import ALL, AttemptFilter
from loaders.analysis.states import fingerprint_states
from loaders.store.index import LogIndex
from loaders.text.domain import current_domain

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


ERROR_CATEGORIES_HOURLY_SQL = """
SELECT date_trunc('hour', timestamp) AS day, category, count(*) AS count
FROM attempts
WHERE status = 'failed' AND timestamp IS NOT NULL AND {where}
GROUP BY ALL
ORDER BY day, category
"""

HOURLY_UP_TO_DAYS = 2


def error_categories_over_time(index: LogIndex, flt: AttemptFilter = ALL) -> tuple[pd.DataFrame, str]:
    """Failures per derived category in buckets of a day, or of an hour when they span
    HOURLY_UP_TO_DAYS calendar days or fewer (a day's bar of a short tree says nothing of its course).

    Returns the frame (columns day: the bucket's start, category, count) and its unit, "day" or "hour".
    """
    daily = error_categories_daily(index, flt)
    if daily.empty or daily["day"].nunique() > HOURLY_UP_TO_DAYS:
        return daily, "day"
    where, params = flt.where()
    return index.frame(ERROR_CATEGORIES_HOURLY_SQL.format(where=where), params), "hour"


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
       arg_min(session_id, (-epoch_us(timestamp), log_id), 3) AS example_sessions,
       arg_min(log_id, (-epoch_us(timestamp), log_id), 3) AS example_log_ids
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
       arg_min(session_id, (-epoch_us(timestamp), log_id), 3) AS example_sessions
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


# Examples are the newest three (ties by log_id) as arg_min(x, (-epoch_us(timestamp), log_id), 3): a list
# of every failure sorted and cut to three held them all (at 1,000,000 sessions, out of memory).
LIBRARY_ISSUES_SQL = """
WITH filtered AS (SELECT * FROM attempts a WHERE {where}),
uses AS (
    SELECT f.*, unnest(list_distinct(list_concat(
        coalesce(imports, []),
        list_transform(list_filter(coalesce(tags, []), lambda t: starts_with(t, 'lib:')), lambda t: t[5:])
    ))) AS library
    FROM filtered f
),
per_library AS (
    SELECT library,
           count(*) FILTER (WHERE status = 'failed' AND list_contains(blamed_libraries, library)) AS failures,
           count(*) AS attempts,
           count(*) FILTER (WHERE status = 'failed') AS failures_using,
           count(*) FILTER (WHERE status = 'failed' AND list_contains(blamed_libraries, library) AND is_fixed)
               AS fixed,
           count(*) FILTER (WHERE status = 'failed' AND list_contains(blamed_libraries, library)
                            AND regexp_extract(error_line, 'No module named ''([A-Za-z0-9_]+)', 1) = library)
               AS import_failures,
           arg_max(error_line, timestamp) FILTER (WHERE status = 'failed' AND list_contains(blamed_libraries, library))
               AS latest_error,
           arg_min({{'log_id': log_id, 'error': error_line, 'fixed': is_fixed}}, (-epoch_us(timestamp), log_id), 3)
               FILTER (WHERE status = 'failed' AND list_contains(blamed_libraries, library)) AS blamed,
           arg_min({{'log_id': log_id, 'error': error_line, 'fixed': is_fixed}}, (-epoch_us(timestamp), log_id), 3)
               FILTER (WHERE status = 'failed') AS using_failures
    FROM uses
    GROUP BY library
)
SELECT library, failures, attempts,
       attempts * 100.0 / (SELECT count(*) FROM filtered) AS usage_share,
       failures * 100.0 / attempts AS failure_rate,
       failures_using, fixed, import_failures, latest_error,
       list_transform(blamed[1:3], lambda e: e.log_id) AS example_log_ids,
       list_transform(blamed[1:3], lambda e: e.error) AS example_errors,
       list_transform(blamed[1:3], lambda e: e.fixed) AS example_fixed,
       list_transform(using_failures[1:3], lambda e: e.log_id) AS using_log_ids,
       list_transform(using_failures[1:3], lambda e: e.error) AS using_errors,
       list_transform(using_failures[1:3], lambda e: e.fixed) AS using_fixed
FROM per_library
WHERE {counted} > 0 AND (CAST(? AS VARCHAR[]) IS NULL OR list_contains(CAST(? AS VARCHAR[]), library))
ORDER BY {counted} DESC, library
"""


def library_issues(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Failures laid at each library (loaders.text.error_text.blamed_libraries: its import failed, the
    error names it, or the failing frame is in it), among the libraries the code imports or the
    ``lib:`` tags name (only the tracked ones when the domain configuration names them).

    Output columns: library, failures (blamed on it), attempts (using it), usage_share (percent of
    the filtered attempts using it), failure_rate (blamed failures per attempt using it, percent),
    failures_using (every failure of an attempt using it, blamed or not), fixed, import_failures,
    latest_error, example_log_ids, example_errors (each example's own key error line),
    example_fixed (whether each example is fixed), and using_log_ids, using_errors, using_fixed (the
    newest failures using it, blamed or not).
    """
    return _libraries(index, flt, "failures")


def library_failures(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Every library with a failure of an attempt using it, blamed or not (the original report's meaning of
    a library issue: failures mentioning the library), most such failures first.

    Output columns: those of library_issues, rows ordered by failures_using; using_log_ids,
    using_errors and using_fixed are its three newest failures' examples.
    """
    return _libraries(index, flt, "failures_using")


def _libraries(index: LogIndex, flt: AttemptFilter, counted: str) -> pd.DataFrame:
    where, params = flt.where("a")
    tracked = current_domain().tracked_libraries
    tracked_list = list(tracked) if tracked is not None else None
    # ``counted`` is one of two column names of this module, never input.
    sql = LIBRARY_ISSUES_SQL.format(where=where, counted=counted)
    return index.frame(sql, [*params, tracked_list, tracked_list])


# A failure with no error text at all has no fingerprint; the issue view groups those under this key
# (written as 'none' in the SQL below).
NO_FINGERPRINT = "none"
SPARKLINE_DAYS = 7

ERROR_GROUPS_SQL = """
WITH failures AS (
    SELECT *, coalesce(fingerprint, 'none') AS error_key, (NOT ? OR NOT is_fixed) AS counted
    FROM attempts
    WHERE status = 'failed' AND {where} AND (CAST(? AS VARCHAR) IS NULL OR coalesce(fingerprint, 'none') = ?)
),
days AS (
    SELECT CAST(unnest(generate_series(CAST(? AS DATE) - INTERVAL (? - 1) DAY, CAST(? AS DATE), INTERVAL 1 DAY))
                AS DATE) AS day
),
per_day AS (
    SELECT error_key, day, count(*) AS occurrences FROM failures WHERE counted GROUP BY ALL
),
sparklines AS (
    SELECT k.error_key, list(coalesce(p.occurrences, 0) ORDER BY d.day) AS daily
    FROM (SELECT DISTINCT error_key FROM failures WHERE counted) k
    CROSS JOIN days d
    LEFT JOIN per_day p ON p.error_key = k.error_key AND p.day = d.day
    GROUP BY k.error_key
)
SELECT f.error_key AS fingerprint,
       coalesce(arg_max(f.error_line, f.timestamp) FILTER (WHERE f.counted), 'Unknown error (no error text)') AS error,
       arg_max(f.category, f.timestamp) FILTER (WHERE f.counted) AS category,
       count(*) FILTER (WHERE f.counted) AS count,
       count(DISTINCT f.session_id) FILTER (WHERE f.counted) AS sessions,
       min(f.timestamp) FILTER (WHERE f.counted) AS first_seen,
       max(f.timestamp) FILTER (WHERE f.counted) AS last_seen,
       list(DISTINCT f.ai_model ORDER BY f.ai_model) FILTER (WHERE f.counted AND f.ai_model IS NOT NULL) AS models,
       any_value(s.daily) AS daily,
       count(*) AS failures,
       count(*) FILTER (WHERE f.is_fixed) AS fixed,
       count(*) FILTER (WHERE f.is_fixed) * 100.0 / count(*) AS fix_rate,
       any_value(f.error_signature) AS signature,
       arg_min(f.session_id, (-epoch_us(f.timestamp), f.log_id), 3) FILTER (WHERE f.counted) AS example_sessions
FROM failures f JOIN sparklines s USING (error_key)
GROUP BY f.error_key
HAVING count(*) FILTER (WHERE f.counted) > 0
ORDER BY count DESC, last_seen DESC, fingerprint
LIMIT ?
"""


def error_groups(
    index: LogIndex,
    flt: AttemptFilter = ALL,
    as_of: datetime | None = None,
    unfixed_only: bool = False,
    fingerprint: str | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Failures grouped into errors by fingerprint (an issue list), most frequent first.

    Parameters: ``as_of`` (end of the sparkline and of the 7-day window of ``state``; default now),
    ``unfixed_only`` (count, sessions, first/last seen, models and the sparkline count unfixed
    failures only; fix rate and state stay those of every failure), ``fingerprint`` (just that
    error), ``limit``. Failures without error text share the fingerprint NO_FINGERPRINT.
    Output columns: fingerprint, error (newest key line), category, count, sessions, first_seen,
    last_seen, models (list), daily (occurrences on each of the SPARKLINE_DAYS days ending at
    ``as_of``, oldest first), failures (all of the error's failures), fixed, fix_rate (percent),
    signature, example_sessions, state (see loaders.analysis.states), count_7d, change (against the 7 days
    before).
    """
    as_of = as_of or datetime.now()
    where, params = flt.where()
    day = as_of.date()
    groups = index.frame(
        ERROR_GROUPS_SQL.format(where=where),
        [unfixed_only, *params, fingerprint, fingerprint, day, SPARKLINE_DAYS, day, limit],
    )
    states = fingerprint_states(index, flt, as_of)[["fingerprint", "state", "count_7d", "change"]]
    return groups.merge(states, on="fingerprint", how="left")


ERROR_OCCURRENCES_SQL = """
SELECT timestamp, log_id, session_id, attempt_no, session_attempts, ai_model, category, error_type,
       error_line, is_fixed, fixed_by_effective AS fixed_by,
       epoch(fixed_at) - epoch(timestamp) AS seconds_to_fix, user_prompt, image_filename
FROM attempts
WHERE status = 'failed' AND list_contains(CAST(? AS VARCHAR[]), coalesce(fingerprint, 'none')) AND {where}
  AND (NOT ? OR NOT is_fixed)
ORDER BY timestamp DESC, log_id
LIMIT ?
"""


def error_occurrences(
    index: LogIndex,
    fingerprint: str | list[str],
    flt: AttemptFilter = ALL,
    unfixed_only: bool = False,
    limit: int = 10_000,
) -> pd.DataFrame:
    """Every failure of one error (by fingerprint, or the fingerprints of a merged group), newest first.

    Output columns: timestamp, log_id, session_id, attempt_no (its place in its session),
    session_attempts, ai_model, category, error_type, error_line, is_fixed, fixed_by (the success
    that fixed it), seconds_to_fix, user_prompt, image_filename.
    """
    where, params = flt.where()
    fingerprints = [fingerprint] if isinstance(fingerprint, str) else list(fingerprint)
    return index.frame(ERROR_OCCURRENCES_SQL.format(where=where), [fingerprints, *params, unfixed_only, limit])


ERROR_SESSIONS_SQL = """
WITH hits AS (
    SELECT session_id,
           count(*) AS occurrences,
           count(*) FILTER (WHERE NOT is_fixed) AS unfixed,
           min(timestamp) AS first_seen,
           max(timestamp) AS last_seen
    FROM attempts
    WHERE status = 'failed' AND list_contains(CAST(? AS VARCHAR[]), coalesce(fingerprint, 'none')) AND {where}
      AND (NOT ? OR NOT is_fixed)
    GROUP BY session_id
),
whole AS (
    SELECT session_id,
           count(*) AS attempts,
           bool_or(status = 'success') AS resolved,
           arg_max(status, timestamp) AS final_outcome,
           mode(ai_model) AS ai_model,
           arg_min(user_prompt, timestamp) AS user_prompt,
           epoch(max(timestamp)) - epoch(min(timestamp)) AS duration_seconds
    FROM attempts
    WHERE session_id IN (SELECT session_id FROM hits)
    GROUP BY session_id
)
SELECT h.session_id, h.occurrences, h.unfixed, w.attempts,
       CASE WHEN w.resolved THEN 'resolved' ELSE 'unresolved' END AS status,
       w.final_outcome, h.first_seen, h.last_seen, w.duration_seconds, w.ai_model, w.user_prompt
FROM hits h JOIN whole w USING (session_id)
ORDER BY h.last_seen DESC, h.session_id
"""


def error_sessions(
    index: LogIndex, fingerprint: str | list[str], flt: AttemptFilter = ALL, unfixed_only: bool = False
) -> pd.DataFrame:
    """The sessions in which one error (by fingerprint, or a merged group's) happened, most recent first.

    Output columns: session_id, occurrences (failures of this error in it), unfixed, attempts (all
    of the session's), status (resolved when any success), final_outcome, first_seen, last_seen (of
    this error), duration_seconds (of the session), ai_model (most used), user_prompt (first).
    """
    where, params = flt.where()
    fingerprints = [fingerprint] if isinstance(fingerprint, str) else list(fingerprint)
    return index.frame(ERROR_SESSIONS_SQL.format(where=where), [fingerprints, *params, unfixed_only])
