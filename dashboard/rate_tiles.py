"""A rate as a tile: its value only when it rests on enough, its change only when the change is more than noise.

Below the minimum n (``$FIXTRAIL_MIN_N``) a tile reads "-" with "too few attempts (n = 1)"; a change is
drawn as a change (arrow, colour) only when its 95 % interval excludes zero, and reads "no clear
change (-0.3 pts, 95% CI -8.1 to +7.5)" otherwise; under a filter that keeps failures only (status
= failed, an error category) a rate is not shown and the tile says why.
"""

from __future__ import annotations

from typing import Any

from loaders.analysis.filters import AttemptFilter
from loaders.analysis.rates import Rate, change_text
from loaders.analysis.stats import Difference

FAILURES_ONLY = "not shown: the filter keeps failures only (status = failed, or an error category)"


def rates_meaningless(flt: AttemptFilter) -> bool:
    """True when the filter keeps failures only, so that every success rate under it would read 0 %."""
    return flt.statuses == ("failed",) or bool(flt.categories)


def rate_tile(
    container: Any,
    label: str,
    rate: Rate,
    change: Difference | None,
    failures_only: bool,
    help: str | None = None,
) -> None:
    """Draw one rate tile in ``container`` (a Streamlit container), as the module docstring says."""
    basis = rate.basis()
    value, delta, significant = rate.short(), basis, False
    if failures_only:
        value, delta = "-", FAILURES_ONLY
    elif not rate.enough:
        value = "-"
    elif change is not None and change.delta is not None:  # else nothing to compare with: what it rests on
        delta, significant = change_text(change), change.significant
    if rate.enough and not failures_only:
        help = f"{help}. {basis}." if help else f"{basis}."
    container.metric(
        label,
        value,
        delta,
        delta_color="normal" if significant else "off",
        delta_arrow="auto" if significant else "off",
        help=help,
        width="stretch",
    )
