"""Error fingerprints over time: new, regressed, recurring, fixed or dormant; what changed this week.

A failure is a **regression** when every earlier failure of its fingerprint had been fixed before it
happened (and there was at least one): the mistake was gone and came back. Over the 7-day window
ending at ``as_of``, a fingerprint is **new** (first seen in the window), **regressed** (a regression
in the window), **recurring** (seen before and again in the window), **fixed** (not in the window,
every failure fixed) or **dormant** (not in the window, some failure still unfixed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from loaders.analysis.filters import ALL, AttemptFilter
from loaders.analysis.metrics import WINDOW_DAYS
from loaders.store.index import LogIndex

if TYPE_CHECKING:
    import pandas as pd

FINGERPRINT_STATES_SQL = """
WITH failures AS (
    SELECT *,
           count(*) OVER earlier AS earlier_failures,
           max(coalesce(fixed_at, TIMESTAMP '9999-12-31')) OVER earlier AS earlier_all_fixed_at
    FROM attempts
    WHERE status = 'failed' AND fingerprint IS NOT NULL AND {where}
    WINDOW earlier AS (PARTITION BY {group} ORDER BY timestamp, log_id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
marked AS (
    SELECT *, earlier_failures > 0 AND earlier_all_fixed_at <= timestamp AS regression,
           timestamp > ? AND timestamp <= ? AS in_window,
           timestamp > ? AND timestamp <= ? AS in_previous
    FROM failures
    WHERE timestamp <= ?
),
grouped AS (
    SELECT {group},
           arg_max(error_line, timestamp) AS example_error,
           arg_max(category, timestamp) AS category,
           count(*) AS failures,
           count(*) FILTER (WHERE in_window) AS count_7d,
           count(*) FILTER (WHERE in_previous) AS count_previous_7d,
           count(*) FILTER (WHERE regression AND in_window) AS regressions_7d,
           count(*) FILTER (WHERE regression) AS regressions,
           count(*) FILTER (WHERE NOT is_fixed) AS unfixed,
           min(timestamp) AS first_seen,
           max(timestamp) AS last_seen,
           arg_min(session_id, (-epoch_us(timestamp), log_id), 3) AS example_sessions
    FROM marked
    GROUP BY {group}
)
SELECT *,
       count_7d - count_previous_7d AS change,
       CASE WHEN first_seen > ? THEN 'new'
            WHEN regressions_7d > 0 THEN 'regressed'
            WHEN count_7d > 0 THEN 'recurring'
            WHEN unfixed = 0 THEN 'fixed'
            ELSE 'dormant' END AS state
FROM grouped
ORDER BY count_7d DESC, failures DESC, fingerprint
"""


def fingerprint_states(
    index: LogIndex, flt: AttemptFilter = ALL, as_of: datetime | None = None, by_model: bool = False
) -> pd.DataFrame:
    """Each fingerprint's state in the 7 days ending at ``as_of`` (default now); per model if asked.

    The filter's dates are ignored (a state is about the whole history up to ``as_of``).
    Output columns: fingerprint, [ai_model], example_error, category, failures, count_7d,
    count_previous_7d, change, regressions_7d, regressions, unfixed, first_seen, last_seen,
    example_sessions, state.
    """
    as_of = as_of or datetime.now()
    where, params = flt.without_dates().where()
    group = "fingerprint, ai_model" if by_model else "fingerprint"
    sql = FINGERPRINT_STATES_SQL.format(where=where, group=group)
    start = as_of - timedelta(days=WINDOW_DAYS)
    previous = start - timedelta(days=WINDOW_DAYS)
    # the filter's parameters, then the window bounds in the order they appear in the SQL
    return index.frame(sql, [*params, start, as_of, previous, start, as_of, start])


@dataclass(frozen=True)
class WeekChanges:
    """What changed in the 7 days to ``as_of``: new and regressed fingerprints, the biggest movers."""

    new: pd.DataFrame
    regressed: pd.DataFrame
    movers: pd.DataFrame


def what_changed(index: LogIndex, flt: AttemptFilter = ALL, as_of: datetime | None = None, top: int = 5) -> WeekChanges:
    """New and regressed fingerprints of the week and the ``top`` biggest changes in count."""
    states = fingerprint_states(index, flt, as_of)
    movers = states.assign(size=states["change"].abs())
    movers = movers[movers["size"] > 0].sort_values(["size", "fingerprint"], ascending=[False, True]).head(top)
    return WeekChanges(
        new=states[states["state"] == "new"].reset_index(drop=True),
        regressed=states[states["state"] == "regressed"].reset_index(drop=True),
        movers=movers.drop(columns="size").reset_index(drop=True),
    )


STATE_MEANINGS = {
    "new": "first seen in the 7 days",
    "regressed": "every earlier failure had been fixed, and it failed again in the 7 days",
    "recurring": "seen before the 7 days and again in them",
    "fixed": "not seen in the 7 days, every failure fixed",
    "dormant": "not seen in the 7 days, some failure still unfixed",
}


def state_help() -> str:
    """One line per state saying what it means (for a column's help tooltip)."""
    return "State over the 7 days to the window's end: " + "; ".join(
        f"{state}: {meaning}" for state, meaning in STATE_MEANINGS.items()
    )
