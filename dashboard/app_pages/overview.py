"""Overview: the seven numbers with their change, success-rate trend, attempts per day, full report."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import streamlit as st

from dashboard import charts
from dashboard.data import query
from dashboard.sidebar import current
from dashboard.widgets import no_data_notice, session_table, window_notice
from loaders import metrics
from loaders.attempts import recent_attempts
from loaders.metrics import daily_success_rate
from loaders.report import analysis_report
from loaders.states import what_changed

ctx = current()
st.title("Overview")
if no_data_notice():
    st.stop()
window_notice()
summary = query(metrics.summary, ctx.index, ctx.flt, as_of=ctx.as_of)
daily = query(daily_success_rate, ctx.index, ctx.flt)
window_start = (ctx.as_of - timedelta(days=7)).date()
this_week = daily[daily["day"].dt.date > window_start] if not daily.empty else daily
new_failures = int(this_week["failures"].sum()) if not this_week.empty else 0
new_successes = int(this_week["successes"].sum()) if not this_week.empty else 0

top = st.columns(4)
top[0].metric("Total failures", f"{summary.total_failures:,}", f"+{new_failures} in 7 days", delta_color="inverse")
top[1].metric("Total successes", f"{summary.total_successes:,}", f"+{new_successes} in 7 days")
top[2].metric("Unfixed failures", f"{summary.unfixed_failures:,}")
top[3].metric("Fixed failures", f"{summary.fixed_failures:,}")
bottom = st.columns(4)
bottom[0].metric("Overall success rate", f"{summary.overall_success_rate:.1f}%")
bottom[1].metric(
    "Success rate (7 days)",
    f"{summary.recent_success_rate_7d:.1f}%",
    f"{summary.recent_success_rate_7d - summary.previous_success_rate_7d:+.1f} pts vs previous 7 days",
)
bottom[2].metric(
    "Attempts (7 days)",
    f"{summary.recent_attempts_7d:,}",
    f"{summary.recent_attempts_7d - summary.previous_attempts_7d:+d} vs previous 7 days",
    delta_color="off",
)
bottom[3].metric("Sessions", f"{summary.sessions:,}", f"{summary.skipped_files} files skipped", delta_color="off")
st.caption(f"7-day window: ({ctx.as_of - timedelta(days=7):%Y-%m-%d %H:%M}, {ctx.as_of:%Y-%m-%d %H:%M}]")

st.subheader("Success rate per day, with the rolling 7-day rate")
st.altair_chart(charts.success_rate_chart(daily), width="stretch")
st.subheader("Attempts per day")
st.altair_chart(charts.attempts_chart(daily), width="stretch")

st.subheader("What changed this week")
week = query(what_changed, ctx.index, ctx.flt, as_of=ctx.as_of)
WEEK_COLUMNS = ["example_error", "category", "count_7d", "count_previous_7d", "change", "state", "example_sessions"]
new_col, regressed_col = st.columns(2)
with new_col:
    st.caption(f"New errors: {len(week.new)} (first seen in the 7 days)")
    session_table(
        week.new[WEEK_COLUMNS],
        key="overview_new",
        name="new_errors",
        session_column="example_sessions",
        downloadable=False,
    )
with regressed_col:
    st.caption(f"Regressed: {len(week.regressed)} (all fixed before, back again)")
    session_table(
        week.regressed[WEEK_COLUMNS],
        key="overview_regressed",
        name="regressed_errors",
        session_column="example_sessions",
        downloadable=False,
    )
st.caption("Biggest movers (failures in the 7 days against the 7 before)")
session_table(week.movers[WEEK_COLUMNS], key="overview_movers", name="movers", session_column="example_sessions")

st.subheader("Recent failures")
failures_filter = replace(ctx.flt, statuses=("failed",))
recent = query(recent_attempts, ctx.index, failures_filter, limit=20)
session_table(
    recent[["timestamp", "category", "error_line", "ai_model", "is_fixed", "session_id", "log_id"]],
    key="overview_recent_failures",
    name="recent_failures",
)


def _full_report() -> bytes:
    report = query(analysis_report, ctx.index, ctx.flt, as_of=ctx.as_of)
    return json.dumps(report, indent=2, ensure_ascii=False, default=str).encode("utf-8")


st.download_button(
    "Download the full report (JSON)",
    _full_report,
    "analysis_export.json",
    "application/json",
    key="overview_report",
    icon="📄",
)
