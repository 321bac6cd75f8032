"""How the dashboard's tables show each column: a header in words, a format, a help tooltip.

Loaders name columns for code (``first_seen``, ``fix_rate``); every table the pages draw looks its
columns up here (widgets.table), so the same column reads the same on every page.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.formatting import duration_text
from loaders.analysis.rates import min_n
from loaders.analysis.states import state_help

TIME_FORMAT = "YYYY-MM-DD HH:mm:ss"
# What a table shows in a cell with no value (instead of "None").
MISSING = "–"


def _time(label: str, help: str | None = None) -> dict:
    return st.column_config.DatetimeColumn(label, format=TIME_FORMAT, help=help)


def _count(label: str, help: str | None = None) -> dict:
    return st.column_config.NumberColumn(label, format="%d", help=help)


def _percent(label: str, help: str | None = None) -> dict:
    return st.column_config.NumberColumn(label, format="%.0f%%", help=help)


def _text(label: str, width: str | None = None, help: str | None = None) -> dict:
    return st.column_config.TextColumn(label, width=width, help=help)


def _hours(label: str, help: str | None = None) -> dict:
    return st.column_config.NumberColumn(label, format="%.1f h", help=help)


COLUMNS: dict[str, dict] = {
    # what and where
    "error": _text("Error", "large"),
    "error_line": _text("Error", "large"),
    "example_error": _text("Error", "large"),
    "last_error": _text("Last error", "large"),
    "latest_error": _text("Latest error", "large"),
    "error_message": _text("Error message", "large"),
    "category": _text("Category", help="Derived from the exception class when known, else the logged category"),
    "error_category": _text("Logged category"),
    "error_type": _text("Exception"),
    "signature": _text("Signature", "medium", "The key error line with names, numbers and paths masked"),
    "fingerprint": _text("Fingerprint", "small", "Hash of the signature: one error, whatever its names and paths"),
    "state": _text("State", "small", state_help()),
    "status": _text("Status", "small"),
    "final_outcome": _text("Last attempt", "small"),
    "ai_model": _text("Model"),
    "models": st.column_config.ListColumn("Models"),
    "user_prompt": _text("Prompt", "medium"),
    "image_filename": _text("Input file"),
    "tags": st.column_config.ListColumn("Tags"),
    "library": _text("Library"),
    "kind": _text("Kind", "small"),
    "triage": _text(
        "Triage",
        "small",
        "What the team decided: regressed (failed again after it was resolved), escalating (an ignore ran out), "
        "unresolved, resolving (by the next marker), resolved, ignored",
    ),
    "assignee": _text("Assignee", "small"),
    # identifiers (last in every table)
    "session_id": _text("Session", "small"),
    "log_id": _text("Attempt ID", "small"),
    "example_sessions": st.column_config.ListColumn("Example sessions"),
    "example_log_ids": st.column_config.ListColumn("Example attempts"),
    "example_fixed": st.column_config.ListColumn("Examples fixed"),
    "fixed_by": _text("Fixed by", "small", "The success that fixed it (logged, or the next success of its session)"),
    "path": _text("File"),
    # counts
    "count": _count("Count"),
    "occurrences": _count("Occurrences", "Failures of this error in the session"),
    "failures": _count("Failures"),
    "successes": _count("Successes"),
    "attempts": _count("Attempts"),
    "sessions": _count("Sessions", "Sessions affected"),
    "session_attempts": _count("Attempts in session"),
    "attempt_no": _count("#", "Its place in its session"),
    "fixed": _count("Fixed"),
    "unfixed": _count("Unfixed"),
    "fixed_count": _count("Fixed"),
    "fixes": _count("Fixes", "Failures the change fixed (the next attempt succeeded)"),
    "tries": _count("Tries", "Failures followed by an attempt with this change"),
    "count_7d": _count("7 days", "Failures in the 7-day window"),
    "count_previous_7d": _count("7 days before", "Failures in the 7 days before the window"),
    "change": st.column_config.NumberColumn("Change", format="%+d", help="7 days against the 7 before"),
    "regressions": _count("Regressions", "Failures after every earlier one had been fixed"),
    "import_failures": _count("Import failures", "The library itself could not be imported"),
    "missing_records": _count("Missing records", "Attempts the session file lists whose record is missing"),
    "stdout_chars": _count("stdout characters"),
    "size": st.column_config.NumberColumn("Size", format="bytes"),
    "daily": st.column_config.BarChartColumn("Daily, 7 days", y_min=0, help="Occurrences on each of the 7 days"),
    # rates and times
    "fix_rate": _percent("Fix rate", "Share of the error's failures that were fixed"),
    "fixed_share": _percent("Fixed"),
    "share": _percent("Share of failures"),
    "success_rate": _percent("Success rate"),
    "failure_rate": _percent("Failure rate"),
    "mean_attempts_to_fix": st.column_config.NumberColumn("Attempts to fix", format="%.1f"),
    "age_hours": _hours("Age", "Hours before the end of the 7-day window"),
    "idle_hours": _hours("Idle", "Hours since the last attempt"),
    "execution_time_seconds": st.column_config.NumberColumn("Run time", format="%.1f s"),
    "is_fixed": st.column_config.CheckboxColumn("Fixed"),
    "has_session_file": st.column_config.CheckboxColumn("Session file"),
    "timestamp": _time("Time"),
    "first_seen": _time("First seen"),
    "last_seen": _time("Last seen"),
    "first_at": _time("Started"),
    "last_at": _time("Last attempt at"),
    # seconds, shown as text by readable() ("8 min 42 s")
    "duration_seconds": _text("Duration", "small", "First to last attempt"),
    "seconds_to_fix": _text("Time to fix", "small", "From the failure to the success that fixed it"),
    "mean_seconds_to_fix": _text("Time to fix", "small", "Mean time from the failure to the success that fixed it"),
}
DURATION_COLUMNS = ("duration_seconds", "seconds_to_fix", "mean_seconds_to_fix")


def column_config(columns: list[str], overrides: dict | None = None) -> dict:
    """The configuration of these columns (those named here), with ``overrides`` on top."""
    config = {name: COLUMNS[name] for name in columns if name in COLUMNS}
    config.update(overrides or {})
    return config


# A rate column and the columns that may hold the n it is worked out of (the first present counts):
# below the minimum n (FIXTRAIL_MIN_N)
# a table shows MISSING for the rate, as the tiles show "-" (the n stays in its own column).
RATE_BASES = {
    "fix_rate": ("count",),
    "fixed_share": ("count", "count_derived"),
    "success_rate": ("attempts",),
    "failure_rate": ("attempts",),
}


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as a table shows it: durations in seconds as text ("8 min 42 s"), and rates worked out of
    fewer than the minimum n left blank."""
    changed = {
        name: frame[name].map(lambda seconds: duration_text(seconds) or None)  # None: the table's placeholder
        for name in DURATION_COLUMNS
        if name in frame.columns
    }
    least = min_n()
    for rate, bases in RATE_BASES.items():
        basis = next((name for name in bases if name in frame.columns), None)
        if rate in frame.columns and basis is not None:
            changed[rate] = frame[rate].where(frame[basis] >= least)
    return frame.assign(**changed) if changed else frame
