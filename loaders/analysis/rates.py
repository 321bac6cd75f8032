"""A rate with what it rests on: its n, its 95 % interval, whether there is enough of it to show, and
whether a change between two windows is more than noise.

Every surface shows a rate through ``Rate`` and a change through ``rate_change`` and ``change_text``,
so that the CLI, the API and the dashboard say the same thing: below the minimum n
(``$FIXTRAIL_MIN_N``, 20 by default) a rate is "-" with "too few attempts (n = 1)", and a change is
called a change only when its Newcombe interval excludes zero ("no clear change (-0.3 pts, 95 % CI
-8.1 to +7.5)" otherwise).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from loaders.analysis.stats import Difference, rate_difference, wilson_interval

MIN_N_ENV = "FIXTRAIL_MIN_N"
DEFAULT_MIN_N = 20


def min_n() -> int:
    """The fewest attempts (or sessions) a rate is shown from: ``$FIXTRAIL_MIN_N``, else DEFAULT_MIN_N."""
    try:
        value = int(os.environ.get(MIN_N_ENV, ""))
    except ValueError:
        return DEFAULT_MIN_N
    return value if value >= 1 else DEFAULT_MIN_N


@dataclass(frozen=True)
class Rate:
    """``successes`` of ``n`` (attempts or sessions, ``unit`` names them), in percent with Wilson's interval."""

    successes: int
    n: int
    unit: str = "attempts"

    @property
    def percent(self) -> float | None:
        """The rate in percent; None without any n."""
        return self.successes / self.n * 100 if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """Wilson's 95 % interval in percent; None without any n."""
        if not self.n:
            return None
        low, high = wilson_interval(self.successes, self.n)
        return low * 100, high * 100

    @property
    def enough(self) -> bool:
        """True when n reaches the minimum (min_n()): the rate is shown as a number."""
        return self.n >= min_n()

    def short(self) -> str:
        """The value of a tile: ``61.5%``, or ``-`` below the minimum n."""
        return f"{self.percent:.1f}%" if self.enough and self.percent is not None else "-"

    def basis(self) -> str:
        """What the rate rests on: ``n = 52, 95% CI 48.0-73.3``, or ``too few attempts (n = 1)``."""
        if not self.enough or self.interval is None:
            return f"too few {self.unit} (n = {self.n})"
        low, high = self.interval
        return f"n = {self.n:,}, 95% CI {low:.1f}-{high:.1f}"

    def text(self) -> str:
        """The rate and its basis in one line: ``61.5% (n = 52, 95% CI 48.0-73.3)`` or ``- (too few ...)``."""
        return f"{self.short()} ({self.basis()})"

    def as_dict(self) -> dict[str, Any]:
        """JSON beside the rate's own key: n, successes, ci_low, ci_high (percent) and enough."""
        interval = self.interval
        return {
            "n": self.n,
            "successes": self.successes,
            "ci_low": None if interval is None else round(interval[0], 2),
            "ci_high": None if interval is None else round(interval[1], 2),
            "enough": self.enough,
        }


def rate_change(before: Rate, now: Rate) -> Difference:
    """Now against before, in points, with Newcombe's 95 % interval and whether it excludes zero.

    Not significant when either side is below the minimum n: too little to call anything a change.
    """
    diff = rate_difference(before.successes, before.n, now.successes, now.n)
    if not (before.enough and now.enough) and diff.significant:
        return Difference(diff.a, diff.b, diff.n_a, diff.n_b, diff.delta, diff.ci_low, diff.ci_high, False)
    return diff


def change_text(diff: Difference, against: str = "previous 7 days") -> str:
    """A change in words: ``+5.2 pts vs previous 7 days (95% CI +1.0 to +9.4)`` when significant, else
    ``no clear change (-0.3 pts, 95% CI -8.1 to +7.5)``, or ``too few attempts to compare``."""
    if diff.delta is None or diff.ci_low is None or diff.ci_high is None:
        return "too few attempts to compare"
    interval = f"95% CI {diff.ci_low:+.1f} to {diff.ci_high:+.1f}"
    if not diff.significant:
        if min(diff.n_a, diff.n_b) < min_n():
            return f"too few to compare (n = {diff.n_a} and {diff.n_b})"
        return f"no clear change ({diff.delta:+.1f} pts, {interval})"
    # Sign first: Streamlit draws a delta's arrow and colour from its leading sign.
    return f"{diff.delta:+.1f} pts vs {against} ({interval})"


def fixed_text(fixed: int, failures: int) -> str:
    """How many of an error's failures were fixed, with what it rests on: ``40% fixed (n = 52)``, or
    ``2 of 3 fixed`` below the minimum n (a share of three failures is not a rate)."""
    share = Rate(fixed, failures, "failures")
    return f"{share.percent:.0f}% fixed (n = {failures:,})" if share.enough else f"{fixed} of {failures} fixed"
