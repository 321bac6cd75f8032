"""Did the change help? Two cohorts side by side, each difference with its 95 % interval.

A cohort is the sessions whose first attempt matches a filter (loaders.analysis.first_try); its attempts
are every attempt of those sessions. Per cohort: success rate (successes / attempts), first-try
success rate (sessions whose first attempt succeeded / sessions), fix rate (fixed failures /
failures) and the mean attempts until the first success (over the sessions that had one). The
differences are B - A: Newcombe's interval for rates (loaders.analysis.stats), Welch's for the mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loaders.analysis.filters import AttemptFilter
from loaders.analysis.first_try import SESSION_OUTCOMES_SQL
from loaders.analysis.stats import Difference, Moments, moments_difference, rate_difference
from loaders.core.rows import frame_records
from loaders.store.index import LogIndex

if TYPE_CHECKING:
    import pandas as pd

COHORT_COUNTS_SQL = """
WITH outcomes AS ({outcomes})
SELECT count(*) AS sessions, count(*) FILTER (WHERE first_try_success) AS first_try_successes,
       coalesce(sum(attempts), 0) AS attempts, coalesce(sum(successes), 0) AS successes,
       coalesce(sum(failures), 0) AS failures, coalesce(sum(fixed_failures), 0) AS fixed_failures,
       count(attempts_to_success) AS succeeded, avg(attempts_to_success) AS mean_attempts,
       var_samp(attempts_to_success) AS attempts_variance
FROM outcomes
"""


@dataclass(frozen=True)
class CohortCounts:
    """What one cohort holds: sessions, attempts and their outcomes, the attempts until the first success
    of the sessions that had one (their count, mean and variance)."""

    sessions: int
    first_try_successes: int
    attempts: int
    successes: int
    failures: int
    fixed_failures: int
    attempts_to_success: Moments


def cohort_counts(index: LogIndex, flt: AttemptFilter) -> CohortCounts:
    """The counts of the sessions whose first attempt matches ``flt``."""
    where, params = flt.where()
    sql = COHORT_COUNTS_SQL.format(outcomes=SESSION_OUTCOMES_SQL.format(where=where))
    row = index.cursor().execute(sql, params).fetchone()
    return CohortCounts(*(int(value) for value in row[:6]), Moments(int(row[6]), row[7], row[8]))


COHORT_FINGERPRINTS_SQL = """
WITH outcomes AS ({outcomes})
SELECT a.fingerprint, arg_max(a.error_line, a.timestamp) AS example_error, count(*) AS failures
FROM attempts a JOIN outcomes o USING (session_id)
WHERE a.status = 'failed' AND a.fingerprint IS NOT NULL
GROUP BY a.fingerprint
"""


def cohort_fingerprints(index: LogIndex, flt: AttemptFilter) -> pd.DataFrame:
    """Failures per fingerprint among the attempts of the cohort's sessions.

    Output columns: fingerprint, example_error (the newest key line), failures.
    """
    where, params = flt.where()
    return index.frame(COHORT_FINGERPRINTS_SQL.format(outcomes=SESSION_OUTCOMES_SQL.format(where=where)), params)


def fingerprint_moves(
    index: LogIndex, flt_a: AttemptFilter, flt_b: AttemptFilter, attempts_a: int, attempts_b: int
) -> pd.DataFrame:
    """Fingerprints of either cohort with their failures per 100 attempts in each, largest move first.

    Output columns: fingerprint, example_error, failures_a, failures_b, per_100_a, per_100_b,
    change (per_100_b - per_100_a), movement ("appeared": only in B, "disappeared": only in A,
    else "moved").
    """
    a, b = cohort_fingerprints(index, flt_a), cohort_fingerprints(index, flt_b)
    both = a.merge(b, on="fingerprint", how="outer", suffixes=("_a", "_b"))
    both["example_error"] = both["example_error_b"].fillna(both["example_error_a"])
    both = both.fillna({"failures_a": 0, "failures_b": 0}).astype({"failures_a": int, "failures_b": int})
    both["per_100_a"] = both["failures_a"] * 100.0 / attempts_a if attempts_a else 0.0
    both["per_100_b"] = both["failures_b"] * 100.0 / attempts_b if attempts_b else 0.0
    both["change"] = both["per_100_b"] - both["per_100_a"]
    both["movement"] = "moved"
    both.loc[both["failures_a"] == 0, "movement"] = "appeared"
    both.loc[both["failures_b"] == 0, "movement"] = "disappeared"
    both["size"] = both["change"].abs()
    both = both.sort_values(["size", "fingerprint"], ascending=[False, True])
    columns = ["fingerprint", "example_error", "failures_a", "failures_b", "per_100_a", "per_100_b", "change"]
    return both[[*columns, "movement"]].reset_index(drop=True)


METRICS = {
    "success_rate": "Success rate",
    "first_try_success_rate": "First-try success",
    "fix_rate": "Fix rate",
    "mean_attempts_to_success": "Mean attempts to success",
}


@dataclass(frozen=True)
class Comparison:
    """Cohort B against cohort A: each metric's Difference, the cohorts' sizes, the fingerprint moves."""

    a: CohortCounts
    b: CohortCounts
    metrics: dict[str, Difference]
    fingerprints: pd.DataFrame

    def empty_cohorts(self) -> list[str]:
        """The cohorts (``A``, ``B``) that hold no session: a comparison with one says nothing."""
        return [name for name, counts in (("A", self.a), ("B", self.b)) if counts.sessions == 0]

    def as_dict(self, top: int = 10) -> dict[str, Any]:
        """JSON: cohort sizes, ``metrics`` {name: Difference.as_dict()}, ``sentences``, and the ``top``
        fingerprints that ``appeared``, ``disappeared`` and ``moved`` (largest change first)."""
        moves = self.fingerprints
        return {
            "cohorts": {
                name: {"sessions": c.sessions, "attempts": c.attempts, "failures": c.failures}
                for name, c in (("a", self.a), ("b", self.b))
            },
            "metrics": {name: diff.as_dict() for name, diff in self.metrics.items()},
            "sentences": [describe(name, diff) for name, diff in self.metrics.items()],
            **{kind: frame_records(moves[moves["movement"] == kind].head(top)) for kind in MOVEMENTS},
        }


MOVEMENTS = ("appeared", "disappeared", "moved")


def compare(index: LogIndex, flt_a: AttemptFilter, flt_b: AttemptFilter) -> Comparison:
    """Compare the sessions whose first attempt matches ``flt_a`` (A) with those matching ``flt_b`` (B)."""
    a, b = cohort_counts(index, flt_a), cohort_counts(index, flt_b)
    metrics = {
        "success_rate": rate_difference(a.successes, a.attempts, b.successes, b.attempts),
        "first_try_success_rate": rate_difference(a.first_try_successes, a.sessions, b.first_try_successes, b.sessions),
        "fix_rate": rate_difference(a.fixed_failures, a.failures, b.fixed_failures, b.failures),
        "mean_attempts_to_success": moments_difference(a.attempts_to_success, b.attempts_to_success),
    }
    return Comparison(a, b, metrics, fingerprint_moves(index, flt_a, flt_b, a.attempts, b.attempts))


def _points(value: float) -> str:
    return f"{round(value):+d}"


def describe(name: str, diff: Difference) -> str:
    """One sentence on a metric's change, e.g. "First-try success rose from 41 % to 78 % (+37 points,
    95 % interval +28 to +46): a real improvement" or "... not distinguishable from noise"."""
    label = METRICS.get(name, name)
    is_rate = name != "mean_attempts_to_success"
    if diff.a is None or diff.b is None:
        return f"{label}: not comparable (a cohort has no {'data' if is_rate else 'successful session'})."
    if is_rate:
        a, b, unit = f"{round(diff.a)} %", f"{round(diff.b)} %", "points"
    else:
        a, b, unit = f"{diff.a:.2f}", f"{diff.b:.2f}", "attempts"
    delta = diff.delta or 0.0
    shown = _points(delta) if is_rate else f"{delta:+.2f}"
    verb = "rose" if delta > 0 else "fell" if delta < 0 else "stayed"
    move = f"{verb} from {a} to {b}" if delta else f"stayed at {a}"
    if diff.ci_low is None or diff.ci_high is None:
        return f"{label} {move} ({shown} {unit}): too few sessions to tell."
    interval = (
        f"{_points(diff.ci_low)} to {_points(diff.ci_high)}"
        if is_rate
        else f"{diff.ci_low:+.2f} to {diff.ci_high:+.2f}"
    )
    better = delta > 0 if is_rate else delta < 0  # fewer attempts to success is better
    verdict = (
        ("a real improvement" if better else "a real decline") if diff.significant else "not distinguishable from noise"
    )
    return f"{label} {move} ({shown} {unit}, 95 % interval {interval}): {verdict}"
