"""First-try success: did a session's first attempt work, and how long did it take to get one that did.

A session belongs to a filter (a cohort, a window) by its **first** attempt: the session is counted
where and when it started, and its later attempts come with it. Sessions are those of the index's
mode (logged or inferred), so first-try numbers hold on trees that never link their attempts too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from loaders.analysis.filters import ALL, AttemptFilter
from loaders.store.index import LogIndex

if TYPE_CHECKING:
    import pandas as pd

# The sessions whose first attempt matches the filter ({where}), one row each with its outcome.
SESSION_OUTCOMES_SQL = """
WITH cohort AS (
    SELECT session_id, timestamp AS started_at, day, ai_model, status = 'success' AS first_try_success
    FROM attempts WHERE attempt_no = 1 AND {where}
),
outcome AS (
    SELECT a.session_id, count(*) AS attempts,
           count(*) FILTER (WHERE a.status = 'success') AS successes,
           count(*) FILTER (WHERE a.status = 'failed') AS failures,
           count(*) FILTER (WHERE a.status = 'failed' AND a.is_fixed) AS fixed_failures,
           min(a.attempt_no) FILTER (WHERE a.status = 'success') AS attempts_to_success,
           min(a.timestamp) FILTER (WHERE a.status = 'success') AS succeeded_at
    FROM attempts a JOIN cohort c USING (session_id)
    GROUP BY a.session_id
)
SELECT c.session_id, c.started_at, c.day, c.ai_model, c.first_try_success, o.attempts, o.successes,
       o.failures, o.fixed_failures, o.attempts_to_success,
       epoch(o.succeeded_at) - epoch(c.started_at) AS seconds_to_success
FROM cohort c JOIN outcome o USING (session_id)
"""


def session_outcomes(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Each session whose first attempt matches ``flt``, oldest first.

    Output columns: session_id, started_at, day, ai_model (of the first attempt), first_try_success,
    attempts, successes, failures, fixed_failures, attempts_to_success (the number of the first
    successful attempt; NaN without one), seconds_to_success (from the first attempt's start to
    the first success's; NaN without one).
    """
    where, params = flt.where()
    return index.frame(SESSION_OUTCOMES_SQL.format(where=where) + " ORDER BY c.started_at, c.session_id", params)


# The same counts as over session_outcomes, from one row per session (its first attempt's).
FIRST_TRY_COUNTS_SQL = """
SELECT count(*), count(*) FILTER (WHERE status = 'success'), avg(first_success_no)
FROM attempts
WHERE attempt_no = 1 AND {where}
  AND (CAST(? AS TIMESTAMP) IS NULL OR timestamp > ?) AND (CAST(? AS TIMESTAMP) IS NULL OR timestamp <= ?)
"""


@dataclass(frozen=True)
class FirstTryCounts:
    """Sessions, those whose first attempt succeeded, and the mean attempts until the first success
    (over the sessions that had one; None when none did)."""

    sessions: int
    first_try_successes: int
    mean_attempts_to_success: float | None

    @property
    def rate(self) -> float:
        """First-try successes / sessions in percent; 0.0 without sessions (as the success rate)."""
        return self.first_try_successes / self.sessions * 100 if self.sessions else 0.0


def first_try_counts(
    index: LogIndex, flt: AttemptFilter = ALL, after: datetime | None = None, until: datetime | None = None
) -> FirstTryCounts:
    """First-try counts of the sessions whose first attempt matches ``flt`` and started in (after, until]."""
    where, params = flt.where()
    sql = FIRST_TRY_COUNTS_SQL.format(where=where)
    sessions, first, mean = index.cursor().execute(sql, [*params, after, after, until, until]).fetchone()
    return FirstTryCounts(int(sessions), int(first), None if mean is None else float(mean))


# One pass over the attempts for the summary's three first-try numbers: every session with its
# first attempt's start and outcome, in the filter's cohort ({where}) and in its cohort without
# dates ({undated}, for the 7-day windows).
FIRST_TRY_WINDOWS_SQL = """
WITH per_session AS (
    SELECT ({where}) AS in_cohort, ({undated}) AS in_undated, timestamp AS started_at,
           status = 'success' AS first_try_success, first_success_no AS attempts_to_success
    FROM attempts WHERE attempt_no = 1
)
SELECT count(*) FILTER (WHERE in_cohort),
       count(*) FILTER (WHERE in_cohort AND first_try_success),
       avg(attempts_to_success) FILTER (WHERE in_cohort),
       count(*) FILTER (WHERE in_undated AND started_at > $week_start AND started_at <= $as_of),
       count(*) FILTER (WHERE in_undated AND started_at > $week_start AND started_at <= $as_of AND first_try_success),
       avg(attempts_to_success) FILTER (WHERE in_undated AND started_at > $week_start AND started_at <= $as_of),
       count(*) FILTER (WHERE in_undated AND started_at > $previous_start AND started_at <= $week_start),
       count(*) FILTER (WHERE in_undated AND started_at > $previous_start AND started_at <= $week_start
                        AND first_try_success),
       avg(attempts_to_success) FILTER (WHERE in_undated AND started_at > $previous_start
                                        AND started_at <= $week_start)
FROM per_session
"""


def first_try_windows(
    index: LogIndex, flt: AttemptFilter, as_of: datetime, days: int = 7
) -> tuple[FirstTryCounts, FirstTryCounts, FirstTryCounts]:
    """The first-try counts of the filter's cohort, of the ``days`` to ``as_of`` and of the ``days``
    before (those two over the filter without its dates), in one pass: what the summary shows."""
    where, params = flt.where()
    undated, undated_params = flt.without_dates().where()
    named = {f"w{n}": value for n, value in enumerate(params)} | {f"u{n}": v for n, v in enumerate(undated_params)}
    sql = FIRST_TRY_WINDOWS_SQL.format(where=_named(where, "w"), undated=_named(undated, "u"))
    week_start = as_of - timedelta(days=days)
    named |= {"as_of": as_of, "week_start": week_start, "previous_start": week_start - timedelta(days=days)}
    row = index.cursor().execute(sql, named).fetchone()
    return tuple(  # type: ignore[return-value]
        FirstTryCounts(int(row[i]), int(row[i + 1]), None if row[i + 2] is None else float(row[i + 2]))
        for i in (0, 3, 6)
    )


def _named(condition: str, prefix: str) -> str:
    """A condition's ``?`` placeholders as ``$<prefix>0``, ``$<prefix>1``, ... (to mix two conditions)."""
    parts = condition.split("?")
    return "".join(part + (f"${prefix}{n}" if n < len(parts) - 1 else "") for n, part in enumerate(parts))


# {group} is one of GROUPS' expressions (never user input).
DAILY_FIRST_TRY_SQL = """
WITH outcomes AS ({outcomes}),
bounds AS (SELECT min(day) AS first_day, max(day) AS last_day FROM outcomes),
calendar AS (
    SELECT CAST(d AS DATE) AS day
    FROM bounds, generate_series(bounds.first_day, bounds.last_day, INTERVAL 1 DAY) AS t(d)
    WHERE bounds.first_day IS NOT NULL
),
grouped AS (SELECT *, {group} AS model FROM outcomes),
models AS (SELECT DISTINCT model FROM grouped),
per_day AS (
    SELECT day, model, count(*) AS sessions, count(*) FILTER (WHERE first_try_success) AS first_try_successes
    FROM grouped GROUP BY day, model
),
filled AS (
    SELECT c.day, m.model, coalesce(p.sessions, 0) AS sessions,
           coalesce(p.first_try_successes, 0) AS first_try_successes
    FROM calendar c CROSS JOIN models m LEFT JOIN per_day p ON p.day = c.day AND p.model = m.model
)
SELECT day, model AS ai_model, sessions, first_try_successes,
       CASE WHEN sessions > 0 THEN first_try_successes * 100.0 / sessions END AS first_try_success_rate,
       sum(sessions) OVER w AS sessions_7d,
       CASE WHEN sum(sessions) OVER w > 0
            THEN sum(first_try_successes) OVER w * 100.0 / sum(sessions) OVER w END
           AS rolling_first_try_success_rate_7d
FROM filled
WINDOW w AS (PARTITION BY model ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)
ORDER BY day, ai_model
"""
ALL_MODELS = "all models"
UNKNOWN_MODEL = "(no model)"
GROUPS = {False: f"'{ALL_MODELS}'", True: f"coalesce(ai_model, '{UNKNOWN_MODEL}')"}


def daily_first_try(index: LogIndex, flt: AttemptFilter = ALL, by_model: bool = False) -> pd.DataFrame:
    """First-try success of the sessions started each day, every day from the first to the last one.

    With ``by_model`` one row per day and model of the first attempt ("(no model)" when unknown),
    else ai_model is "all models".
    Output columns: day, ai_model, sessions, first_try_successes, first_try_success_rate (percent,
    NaN on days without sessions), sessions_7d, rolling_first_try_success_rate_7d (the 7 days ending
    that day).
    """
    where, params = flt.where()
    outcomes = SESSION_OUTCOMES_SQL.format(where=where)
    return index.frame(DAILY_FIRST_TRY_SQL.format(outcomes=outcomes, group=GROUPS[by_model]), params)
