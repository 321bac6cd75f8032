"""Headline numbers and trends: the summary, daily attempts and the rolling 7-day success rate."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from loaders.analysis.filters import ALL, AttemptFilter
from loaders.analysis.first_try import first_try_windows
from loaders.analysis.rates import Rate, min_n, rate_change
from loaders.analysis.stats import Difference
from loaders.store.index import LogIndex
from loaders.store.stored_results import remembered

if TYPE_CHECKING:  # pandas is imported by DuckDB's .df() only when a frame is asked for
    import pandas as pd

WINDOW_DAYS = 7


TOTALS_SQL = """
SELECT count(*) FILTER (WHERE status = 'failed') AS total_failures,
       count(*) FILTER (WHERE status = 'success') AS total_successes,
       count(*) FILTER (WHERE status = 'failed' AND NOT is_fixed) AS unfixed_failures,
       count(*) FILTER (WHERE status = 'failed' AND is_fixed) AS fixed_failures,
       {sessions} AS sessions
FROM attempts WHERE {where}
"""
# Sessions among the filtered attempts. Unfiltered, each session has exactly one first attempt: counting
# those is a scan, counting distinct ids a hash of every id (0.2 s of a 0.5 s summary at 1,000,000).
SESSIONS_OF_ALL = "count(*) FILTER (WHERE attempt_no = 1)"
SESSIONS_OF_SOME = "count(DISTINCT session_id)"

WINDOW_SQL = """
SELECT count(*) AS attempts, count(*) FILTER (WHERE status = 'success') AS successes
FROM attempts WHERE {where} AND timestamp > ? AND timestamp <= ?
"""

SKIPPED_COUNT_SQL = "SELECT count(*) FROM skipped_files"


@dataclass(frozen=True)
class Summary:
    """The original's seven numbers, plus sessions, skipped files and the previous 7-day window.

    ``sessions_inferred``: sessions (and so fixed/unfixed) come from inference, not from the logs;
    ``sessions_inferred_because`` says why (chosen, or the logs do not link attempts).
    First-try numbers count sessions by their first attempt: ``first_try_success_rate`` (percent of
    the filtered sessions whose first attempt succeeded), the same over the sessions started in the
    7-day window and in the 7 days before, and ``mean_attempts_to_success`` (attempts until the first
    success, over the sessions that had one; None when none did). The successes behind each rate are
    kept too (``recent_successes_7d``, ``first_try_successes``, ...), so that ``rates()`` can say what each
    rate rests on; ``window_rule`` says why the window ends at ``as_of`` (Window.rule).
    """

    total_failures: int
    total_successes: int
    unfixed_failures: int
    fixed_failures: int
    overall_success_rate: float
    recent_success_rate_7d: float
    recent_attempts_7d: int
    sessions: int
    skipped_files: int
    previous_success_rate_7d: float
    previous_attempts_7d: int
    first_try_success_rate: float
    recent_first_try_success_rate_7d: float
    recent_sessions_7d: int
    previous_first_try_success_rate_7d: float
    previous_sessions_7d: int
    mean_attempts_to_success: float | None
    as_of: datetime
    sessions_inferred: bool = False
    sessions_inferred_because: str | None = None
    recent_successes_7d: int = 0
    previous_successes_7d: int = 0
    first_try_sessions: int = 0
    first_try_successes: int = 0
    recent_first_try_successes_7d: int = 0
    previous_first_try_successes_7d: int = 0
    window_rule: str = "as given"

    def rates(self) -> dict[str, Rate]:
        """Each rate of the summary with what it rests on (loaders.analysis.rates.Rate), by its JSON key."""
        return {
            "overall_success_rate": Rate(self.total_successes, self.total_successes + self.total_failures),
            "recent_success_rate_7d": Rate(self.recent_successes_7d, self.recent_attempts_7d),
            "previous_success_rate_7d": Rate(self.previous_successes_7d, self.previous_attempts_7d),
            "first_try_success_rate": Rate(self.first_try_successes, self.first_try_sessions, "sessions"),
            "recent_first_try_success_rate_7d": Rate(
                self.recent_first_try_successes_7d, self.recent_sessions_7d, "sessions"
            ),
            "previous_first_try_success_rate_7d": Rate(
                self.previous_first_try_successes_7d, self.previous_sessions_7d, "sessions"
            ),
        }

    def changes(self, rates: dict[str, Rate] | None = None) -> dict[str, Difference]:
        """The 7-day window against the 7 days before: success rate and first-try rate, in points
        (``rates``: this summary's rates(), when the caller has them already)."""
        rates = rates or self.rates()
        return {
            "success_rate_7d": rate_change(rates["previous_success_rate_7d"], rates["recent_success_rate_7d"]),
            "first_try_success_rate_7d": rate_change(
                rates["previous_first_try_success_rate_7d"], rates["recent_first_try_success_rate_7d"]
            ),
        }

    def as_dict(self) -> dict[str, Any]:
        """The summary as the original's JSON (seven numbers first), with ``as_of`` as ISO text, and beside
        them: ``rates`` (each rate's n, interval and whether it is ``enough``), ``changes`` (each 7-day
        change with its interval and ``significant``), ``min_n``, and the window (``window_start``,
        ``window_end``, ``window_rule``: why it ends there)."""
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat(timespec="seconds")
        data["window_start"] = (self.as_of - timedelta(days=WINDOW_DAYS)).isoformat(timespec="seconds")
        data["window_end"] = data["as_of"]
        rates = self.rates()
        data["rates"] = {name: rate.as_dict() for name, rate in rates.items()}
        data["changes"] = {name: diff.as_dict() for name, diff in self.changes(rates).items()}
        data["min_n"] = min_n()
        return data


def success_rate(successes: int, attempts: int) -> float:
    """Successes / attempts in percent; 0.0 when there were no attempts (as the original)."""
    return successes / attempts * 100 if attempts else 0.0


def window_counts(index: LogIndex, flt: AttemptFilter, as_of: datetime) -> tuple[int, int]:
    """Return (attempts, successes) in (as_of - 7 days, as_of] under the filter, dates aside."""
    where, params = flt.without_dates().where()
    row = (
        index.cursor()
        .execute(WINDOW_SQL.format(where=where), [*params, as_of - timedelta(days=WINDOW_DAYS), as_of])
        .fetchone()
    )
    return int(row[0]), int(row[1])


@dataclass(frozen=True)
class Window:
    """Where a 7-day window ends and why: ``rule`` is "as given", "the filter's end date",
    "the newest record" (nothing in the 7 days to now) or "now"."""

    end: datetime
    rule: str

    @property
    def start(self) -> datetime:
        """Where the window starts (exclusive): WINDOW_DAYS before its end."""
        return self.end - timedelta(days=WINDOW_DAYS)

    def note(self) -> str | None:
        """A sentence for people when the window does not end now (None when it does)."""
        if self.rule == "the newest record":
            return f"Nothing in the 7 days to now: 7-day numbers end at the newest record ({self.end:%Y-%m-%d %H:%M})."
        return None


NEWEST_SQL = "SELECT max(timestamp) FROM attempts"


def window_of(index: LogIndex, flt: AttemptFilter = ALL, now: datetime | None = None) -> Window:
    """The 7-day window every surface (CLI, API, LogAnalyzer, dashboard) uses when none is named.

    It ends at the end of the filter's end date when there is one; else at ``now`` (default: the end of
    the current minute, as the CLI, the API and LogAnalyzer take it; the dashboard passes the end of
    the current hour, which its caches are keyed on), unless the tree holds nothing in the 7 days to
    ``now``: then at its newest record, so that a tree that stopped growing still shows its last week
    rather than an empty one.
    """
    now = now or datetime.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    if flt.end is not None:
        return Window(flt.as_of(now), "the filter's end date")
    # Kept until the index changes: the API asks on every request, and at 1,000,000 sessions the
    # scan of every attempt's time held /summary to 177 requests a second.
    newest = remembered(index, "metrics.newest", (), lambda: index.cursor().execute(NEWEST_SQL).fetchone()[0])
    if newest is not None and newest <= now - timedelta(days=WINDOW_DAYS):
        return Window(newest, "the newest record")
    return Window(now, "now")


def summary(index: LogIndex, flt: AttemptFilter = ALL, as_of: datetime | Window | None = None) -> Summary:
    """The summary of the filtered attempts; 7-day numbers end at ``as_of`` (a time, or a Window that also
    says why it ends there; default: window_of()).

    Output: a Summary (totals over the filter, windows over the filter without its dates).
    """
    if not isinstance(as_of, Window):
        as_of = Window(as_of, "as given") if as_of else window_of(index, flt)
    window = as_of
    as_of = window.end
    where, params = flt.where()
    cursor = index.cursor()
    failures, successes, unfixed, fixed, sessions = cursor.execute(
        TOTALS_SQL.format(where=where, sessions=SESSIONS_OF_ALL if where == "TRUE" else SESSIONS_OF_SOME), params
    ).fetchone()
    recent, recent_ok = window_counts(index, flt, as_of)
    previous, previous_ok = window_counts(index, flt, as_of - timedelta(days=WINDOW_DAYS))
    skipped = cursor.execute(SKIPPED_COUNT_SQL).fetchone()[0]
    first_try, recent_first, previous_first = first_try_windows(index, flt, as_of, WINDOW_DAYS)
    return Summary(
        total_failures=int(failures),
        total_successes=int(successes),
        unfixed_failures=int(unfixed),
        fixed_failures=int(fixed),
        overall_success_rate=success_rate(int(successes), int(failures + successes)),
        recent_success_rate_7d=success_rate(recent_ok, recent),
        recent_attempts_7d=recent,
        sessions=int(sessions),
        skipped_files=int(skipped),
        previous_success_rate_7d=success_rate(previous_ok, previous),
        previous_attempts_7d=previous,
        first_try_success_rate=first_try.rate,
        recent_first_try_success_rate_7d=recent_first.rate,
        recent_sessions_7d=recent_first.sessions,
        previous_first_try_success_rate_7d=previous_first.rate,
        previous_sessions_7d=previous_first.sessions,
        mean_attempts_to_success=first_try.mean_attempts_to_success,
        as_of=as_of,
        sessions_inferred=index.sessions_inferred,
        sessions_inferred_because=index.inference_reason,
        recent_successes_7d=recent_ok,
        previous_successes_7d=previous_ok,
        first_try_sessions=first_try.sessions,
        first_try_successes=first_try.first_try_successes,
        recent_first_try_successes_7d=recent_first.first_try_successes,
        previous_first_try_successes_7d=previous_first.first_try_successes,
        window_rule=window.rule,
    )


DAILY_SUCCESS_SQL = """
WITH filtered AS (SELECT * FROM attempts WHERE {where}),
bounds AS (SELECT min(day) AS first_day, max(day) AS last_day FROM filtered),
calendar AS (
    SELECT CAST(d AS DATE) AS day
    FROM bounds, generate_series(bounds.first_day, bounds.last_day, INTERVAL 1 DAY) AS t(d)
    WHERE bounds.first_day IS NOT NULL
),
per_day AS (
    SELECT day, count(*) FILTER (WHERE status = 'failed') AS failures,
           count(*) FILTER (WHERE status = 'success') AS successes
    FROM filtered GROUP BY day
),
filled AS (
    SELECT c.day, coalesce(p.failures, 0) AS failures, coalesce(p.successes, 0) AS successes
    FROM calendar c LEFT JOIN per_day p USING (day)
)
SELECT day, failures + successes AS attempts, failures, successes,
       CASE WHEN failures + successes > 0 THEN successes * 100.0 / (failures + successes) END AS success_rate,
       sum(successes) OVER w AS successes_7d,
       sum(failures + successes) OVER w AS attempts_7d,
       CASE WHEN sum(failures + successes) OVER w > 0
            THEN sum(successes) OVER w * 100.0 / sum(failures + successes) OVER w END AS rolling_success_rate_7d
FROM filled
WINDOW w AS (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)
ORDER BY day
"""


def daily_success_rate(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Attempts and success rate per day, every day from the first to the last one present.

    Output columns: day, attempts, failures, successes, success_rate (percent, NaN on empty days),
    successes_7d, attempts_7d, rolling_success_rate_7d (the 7 days ending that day).
    """
    where, params = flt.where()
    return index.frame(DAILY_SUCCESS_SQL.format(where=where), params)


DATE_RANGE_SQL = "SELECT min(timestamp), max(timestamp), count(*) FROM attempts"


def date_range(index: LogIndex) -> tuple[datetime | None, datetime | None, int]:
    """Return (oldest timestamp, newest timestamp, attempt count) of the whole index."""
    oldest, newest, count = index.cursor().execute(DATE_RANGE_SQL).fetchone()
    return oldest, newest, int(count)


FILTER_CHOICES_SQL = {
    "models": "SELECT DISTINCT ai_model FROM attempts WHERE ai_model IS NOT NULL ORDER BY 1",
    "categories": "SELECT DISTINCT category FROM attempts WHERE category IS NOT NULL ORDER BY 1",
    "tags": "SELECT DISTINCT unnest(tags) AS tag FROM attempts ORDER BY 1",
}


def filter_choices(index: LogIndex) -> dict[str, list[str]]:
    """The values present for the model, category and tag filters: {name: sorted values}."""
    cursor = index.cursor()
    return {name: [row[0] for row in cursor.execute(sql).fetchall()] for name, sql in FILTER_CHOICES_SQL.items()}
