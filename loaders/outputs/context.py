"""The AI context: what the generating model must be told to stop doing, ranked and within a budget.

One entry per error fingerprint, ranked by how often and how recently it fails (unfixed ones
weighted double); each says what went wrong and, where a fix recipe exists, what to do instead.
The same tree gives the same text: recency is measured from the newest record unless told.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from loaders.analysis import errors
from loaders.analysis.filters import ALL, AttemptFilter
from loaders.analysis.metrics import date_range
from loaders.analysis.rates import fixed_text
from loaders.analysis.recipes import best_rule_by_fingerprint, fix_rules, instead
from loaders.analysis.triage import Triage, by_fingerprint, current_triage
from loaders.store.index import LogIndex

HALF_LIFE_DAYS = 14.0
DEFAULT_MAX_CHARS = 6000
DEFAULT_EXAMPLES = 10
HEADER = "## Common Script Errors to Avoid\n\nBased on recent script execution failures:\n"


def ranked_mistakes(index: LogIndex, flt: AttemptFilter = ALL, as_of: datetime | None = None) -> pd.DataFrame:
    """Fingerprints ranked by how often and how recently they fail, unfixed ones weighted double.

    Output columns: those of errors.error_fingerprints plus score and recipe (the rule that fixed
    the fingerprint most often, as a dict of fix_rules' columns, or None).
    """
    marks = errors.error_fingerprints(index, flt, limit=500)
    if marks.empty:
        return marks.assign(score=[], recipe=[])
    as_of = as_of or date_range(index)[1] or datetime.now()
    age_days = (pd.Timestamp(as_of) - pd.to_datetime(marks["last_seen"])).dt.total_seconds() / 86400
    recency = 0.5 ** (age_days.clip(lower=0) / HALF_LIFE_DAYS)
    marks["score"] = marks["count"] * recency * (1 + (marks["unfixed"] > 0))
    best = best_rule_by_fingerprint(fix_rules(index, flt, min_fixes=1))  # a fix seen once says so
    marks["recipe"] = [best.get(fp) for fp in marks["fingerprint"]]
    return marks.sort_values(["score", "fingerprint"], ascending=[False, True]).reset_index(drop=True)


def with_decisions(marks: pd.DataFrame, decided: dict[str, Triage]) -> pd.DataFrame:
    """The ranked mistakes without the errors the team ignores, and a ``resolved`` line for those it
    resolved ("Resolved on 2026-11-20 by ana: if the model makes it again, it is a regression")."""
    if marks.empty or not decided:
        return marks
    states = [decided.get(fp) for fp in marks["fingerprint"]]
    kept = [state is None or state.state != "ignored" for state in states]
    resolved = [
        f"Resolved on {state.resolved_at:%Y-%m-%d} by {_resolver(state)}: making it again is a regression."
        if state is not None and state.state == "resolved" and state.resolved_at
        else None
        for state in states
    ]
    return marks.assign(resolved=resolved)[kept].reset_index(drop=True)


def _resolver(state: Triage) -> str:
    return next((event.who for event in reversed(state.events) if event.action == "resolve"), "the team")


def _times(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _entry(number: int, mark: pd.Series) -> str:
    lines = [f"### {number}. {mark['category']}: {mark['example_error']}"]
    last_seen = pd.Timestamp(mark["last_seen"]).strftime("%Y-%m-%d")
    lines.append(
        f"Seen {_times(int(mark['count']), 'time')} in {_times(int(mark['sessions']), 'session')}, "
        f"last on {last_seen}; {fixed_text(int(mark['count']) - int(mark['unfixed']), int(mark['count']))}, "
        f"{int(mark['unfixed'])} still unfixed."
    )
    if isinstance(mark.get("resolved"), str):
        lines.append(mark["resolved"])
    if isinstance(mark["recipe"], dict):
        lines.append("Instead: " + instead(mark["recipe"], mark["example_error"]))
    return "\n".join(lines) + "\n"


def ai_context(
    index: LogIndex,
    max_examples: int = DEFAULT_EXAMPLES,
    max_chars: int = DEFAULT_MAX_CHARS,
    flt: AttemptFilter = ALL,
    as_of: datetime | None = None,
) -> str:
    """The text block for the model's prompt: the top mistakes, one per fingerprint.

    Parameters: ``max_examples`` entries at most, ``max_chars`` characters at most (entries that
    would not fit are left out whole), ``as_of`` for recency (default: the newest record, so the
    same tree and the same decisions give the same text). Errors the team ignores are left out, and
    resolved ones say so (loaders.analysis.triage). Output: "" when there are no failures.
    """
    marks = with_decisions(ranked_mistakes(index, flt, as_of), by_fingerprint(current_triage(index)[0]))
    if marks.empty or max_examples <= 0 or len(HEADER) > max_chars:
        return ""
    text = HEADER
    for number, (_, mark) in enumerate(marks.head(max_examples).iterrows(), 1):
        entry = "\n" + _entry(number, mark)
        if len(text) + len(entry) > max_chars:
            break
        text += entry
    return text
