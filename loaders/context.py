"""The AI context: what the generating model must be told to stop doing, ranked and within a budget."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pandas as pd

from loaders import errors, fixes
from loaders.filters import ALL, AttemptFilter
from loaders.index import LogIndex
from loaders.metrics import date_range

HALF_LIFE_DAYS = 14.0
DEFAULT_MAX_CHARS = 6000
HEADER = "## Common Script Errors to Avoid\n\nBased on recent script execution failures:\n"


def _import_recipe(pairs: pd.DataFrame) -> tuple[str, str, int] | None:
    """The most common (removed import, added import) among a fingerprint's fixes, with its count."""
    swaps: Counter[tuple[str, str]] = Counter()
    for pair in pairs.itertuples():
        for removed in pair.removed_imports:
            for added in list(pair.added_imports) or ["(nothing)"]:
                swaps[(removed, added)] += 1
    if not swaps:
        return None
    (removed, added), count = sorted(swaps.items(), key=lambda item: (-item[1], item[0]))[0]
    return removed, added, count


def ranked_mistakes(index: LogIndex, flt: AttemptFilter = ALL, as_of: datetime | None = None) -> pd.DataFrame:
    """Fingerprints ranked by how often and how recently they fail, unfixed ones weighted double.

    Output columns: those of errors.error_fingerprints plus score, recipe_removed, recipe_added,
    recipe_fixes (the most common import swap among the fingerprint's fixes, if any).
    """
    marks = errors.error_fingerprints(index, flt, limit=500)
    if marks.empty:
        return marks
    as_of = as_of or date_range(index)[1] or datetime.now()
    age_days = (pd.Timestamp(as_of) - pd.to_datetime(marks["last_seen"])).dt.total_seconds() / 86400
    recency = 0.5 ** (age_days.clip(lower=0) / HALF_LIFE_DAYS)
    marks["score"] = marks["count"] * recency * (1 + (marks["unfixed"] > 0))
    pairs = fixes.fix_pairs(index, flt)
    recipes = {fp: _import_recipe(group) for fp, group in pairs.groupby("fingerprint")}
    marks["recipe_removed"] = [(recipes.get(fp) or (None,) * 3)[0] for fp in marks["fingerprint"]]
    marks["recipe_added"] = [(recipes.get(fp) or (None,) * 3)[1] for fp in marks["fingerprint"]]
    marks["recipe_fixes"] = [(recipes.get(fp) or (None,) * 3)[2] for fp in marks["fingerprint"]]
    return marks.sort_values(["score", "fingerprint"], ascending=[False, True]).reset_index(drop=True)


def _entry(number: int, mark: pd.Series) -> str:
    lines = [f"### {number}. {mark['category']}: {mark['example_error']}"]
    last_seen = pd.Timestamp(mark["last_seen"]).strftime("%Y-%m-%d")
    lines.append(
        f"Seen {int(mark['count'])} times in {int(mark['sessions'])} sessions, last on {last_seen}; "
        f"{mark['fix_rate']:.0f}% fixed, {int(mark['unfixed'])} still unfixed."
    )
    if isinstance(mark["recipe_removed"], str):
        if mark["recipe_added"] == "(nothing)":
            lines.append(
                f"Instead: don't import {mark['recipe_removed']} ({int(mark['recipe_fixes'])} fixes removed it)."
            )
        else:
            lines.append(
                f"Instead: don't import {mark['recipe_removed']}; use {mark['recipe_added']} "
                f"({int(mark['recipe_fixes'])} fixes)."
            )
    return "\n".join(lines) + "\n"


def ai_context(
    index: LogIndex,
    max_examples: int = 10,
    max_chars: int = DEFAULT_MAX_CHARS,
    flt: AttemptFilter = ALL,
    as_of: datetime | None = None,
) -> str:
    """The text block for the model's prompt: the top mistakes, one per fingerprint.

    Parameters: ``max_examples`` entries at most, ``max_chars`` characters at most (entries that
    would not fit are left out whole), ``as_of`` for recency (default: the newest record, so the
    same tree always gives the same text). Output: "" when there are no failures.
    """
    marks = ranked_mistakes(index, flt, as_of)
    if marks.empty or max_examples <= 0:
        return ""
    text = HEADER
    if len(text) > max_chars:
        return ""
    for number, (_, mark) in enumerate(marks.head(max_examples).iterrows(), 1):
        entry = "\n" + _entry(number, mark)
        if len(text) + len(entry) > max_chars:
            break
        text += entry
    return text
