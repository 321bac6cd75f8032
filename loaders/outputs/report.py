"""The full analysis report: every key of the original's ``analyze_all()``, and Fixtrail's beside them.

The window's numbers come from loaders.analysis.metrics; the sections that do not depend on the
window from loaders.outputs.report_sections (worked out in loaders.outputs.sections, once per
index version).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loaders.analysis import metrics, sessions
from loaders.analysis.filters import ALL, AttemptFilter
from loaders.analysis.states import fingerprint_states
from loaders.analysis.triage import by_fingerprint, current_triage
from loaders.core.rows import frame_records
from loaders.outputs.report_sections import report_sections
from loaders.outputs.sections import REPORT_LIST_ROWS
from loaders.store.index import LogIndex


def analysis_report(
    index: LogIndex, flt: AttemptFilter = ALL, as_of: datetime | metrics.Window | None = None
) -> dict[str, Any]:
    """The full analysis with every key of the original's analyze_all(), plus ``skipped_files`` and
    ``first_try`` (first-try success numbers, FIRST_TRY_KEYS).

    Beside them: the window (``window_start``, ``window_end``, ``window_rule``) and what each rate rests
    on (``rates``, ``changes``, ``min_n``: loaders.analysis.metrics.Summary.as_dict). Fixtrail's lists
    that grow with the tree (``abandoned_sessions``, ``silent_successes``) hold their newest
    REPORT_LIST_ROWS, with how many there are in all (``abandoned_sessions_total``, ``silent_successes_total``).

    Parameters: the filter and ``as_of`` (end of the 7-day window; default loaders.analysis.metrics.window_of).
    The sections that do not depend on the window are worked out once per index version (report_sections).
    ``fingerprints`` carry the team's decisions (ignored ones left out: decided_fingerprints).
    """
    summary = metrics.summary(index, flt, as_of)  # None: the window every surface uses
    summary_dict = summary.as_dict()
    sections = report_sections(index, flt)
    abandoned = sessions.abandoned_sessions(index, flt, summary.as_of, limit=REPORT_LIST_ROWS)
    return {
        "generated_at": datetime.now().isoformat(),
        "summary": {key: summary_dict[key] for key in SUMMARY_KEYS},
        **{key: sections[key] for key in ORIGINAL_SECTIONS},
        "as_of": summary_dict["as_of"],
        "sessions": summary.sessions,
        "sessions_inferred": summary.sessions_inferred,
        "first_try": {key: summary_dict[key] for key in FIRST_TRY_KEYS},
        **{key: summary_dict[key] for key in WINDOW_KEYS},
        "skipped_files": sections["skipped_files"],
        "fix_rules": sections["fix_rules"],
        "fingerprints": decided_fingerprints(index, frame_records(fingerprint_states(index, flt, summary.as_of))),
        "abandoned_sessions": frame_records(abandoned),
        "abandoned_sessions_total": abandoned.attrs["total"],
        "silent_successes": sections["silent_successes"],
        "silent_successes_total": sections["silent_successes_total"],
    }


def decided_fingerprints(index: LogIndex, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's fingerprints with the team's decisions: those it ignores left out, the others with
    ``triage`` (loaders.analysis.triage.TRIAGE_STATES) and ``assignee``."""
    decided = by_fingerprint(current_triage(index)[0])
    kept = []
    for item in items:
        state = decided.get(item["fingerprint"])
        if state is not None and state.state == "ignored":
            continue
        kept.append(
            {**item, "triage": state.state if state else "unresolved", "assignee": state.assignee if state else None}
        )
    return kept


# The original's sections, in its order, between "summary" and Fixtrail's own keys.
ORIGINAL_SECTIONS = (
    "error_patterns",
    "common_errors",
    "fix_strategies",
    "library_issues",
    "mapbridge_issues",
    "recommendations",
    "ai_learning_summary",
)


SUMMARY_KEYS = (
    "total_failures",
    "total_successes",
    "unfixed_failures",
    "fixed_failures",
    "overall_success_rate",
    "recent_success_rate_7d",
    "recent_attempts_7d",
)

# Fixtrail's first-try numbers, kept beside the original's summary (whose keys stay the original's).
FIRST_TRY_KEYS = (
    "first_try_success_rate",
    "recent_first_try_success_rate_7d",
    "recent_sessions_7d",
    "previous_first_try_success_rate_7d",
    "previous_sessions_7d",
    "mean_attempts_to_success",
)

# The window the report's 7-day numbers cover and what its rates rest on, beside the original's keys.
WINDOW_KEYS = ("window_start", "window_end", "window_rule", "rates", "changes", "min_n")
