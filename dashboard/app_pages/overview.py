"""Overview: the seven numbers with their change, first-try success, success-rate and first-try trends
(change markers drawn on them), attempts per day, the full report and an eval set to download."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from functools import partial

import streamlit as st

from dashboard import charts, url_filters
from dashboard.data import query
from dashboard.issues import error_table
from dashboard.rate_tiles import rate_tile, rates_meaningless
from dashboard.sidebar import current
from dashboard.widgets import altair_chart, lazy_tabs, no_data_notice, session_table, window_notice
from loaders.analysis import metrics
from loaders.analysis.attempts import recent_attempts
from loaders.analysis.first_try import daily_first_try
from loaders.analysis.metrics import daily_success_rate
from loaders.analysis.states import what_changed
from loaders.analysis.triage import triaged_groups
from loaders.annotations.markers import markers_frame
from loaders.outputs.evals import eval_cases, evals_jsonl
from loaders.outputs.report import analysis_report

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

# One wrapping row of fixed-width tiles: four abreast on a desktop, two on a 400 px phone screen
# (columns would stack them one per line there, off the first screen). A delta only where there
# is something to compare: no arrow, no "+0" on empty windows.
top, bottom, first_try_row = (st.container(horizontal=True, wrap=True, gap="small") for _ in range(3))
TILE_WIDTH = "stretch"
top.metric(
    "Total failures",
    f"{summary.total_failures:,}",
    f"+{new_failures} in 7 days" if new_failures else None,
    delta_color="inverse",
    width=TILE_WIDTH,
)
top.metric(
    "Total successes",
    f"{summary.total_successes:,}",
    f"+{new_successes} in 7 days" if new_successes else None,
    width=TILE_WIDTH,
)
top.metric("Unfixed failures", f"{summary.unfixed_failures:,}", width=TILE_WIDTH)
top.metric("Fixed failures", f"{summary.fixed_failures:,}", width=TILE_WIDTH)
rates, changes = summary.rates(), summary.changes()
failures_only = rates_meaningless(ctx.flt)
rate_tile(bottom, "Overall success rate", rates["overall_success_rate"], None, failures_only)
rate_tile(
    bottom,
    f"Success rate ({ctx.window_label})",
    rates["recent_success_rate_7d"],
    changes["success_rate_7d"],
    failures_only,
)
bottom.metric(
    f"Attempts ({ctx.window_label})",
    f"{summary.recent_attempts_7d:,}",
    f"{summary.recent_attempts_7d - summary.previous_attempts_7d:+d} vs previous 7 days"
    if summary.recent_attempts_7d != summary.previous_attempts_7d
    else None,
    delta_color="off",
    width=TILE_WIDTH,
)
bottom.metric(
    "Sessions",
    f"{summary.sessions:,}",
    f"{summary.skipped_files:,} files skipped" if summary.skipped_files else None,
    delta_color="off",
    delta_arrow="off",
    width=TILE_WIDTH,
)
rate_tile(
    first_try_row,
    "First-try success",
    rates["first_try_success_rate"],
    None,
    failures_only,
    "Sessions whose first attempt succeeded, of the sessions started in the filter",
)
rate_tile(
    first_try_row,
    f"First-try success ({ctx.window_label})",
    rates["recent_first_try_success_rate_7d"],
    changes["first_try_success_rate_7d"],
    failures_only,
    "Of the sessions started in the 7 days",
)
first_try_row.metric(
    "Mean attempts to success",
    f"{summary.mean_attempts_to_success:.2f}" if summary.mean_attempts_to_success is not None else "–",
    help="Attempts until the first success, over the sessions that had one",
    width=TILE_WIDTH,
)
first_try_row.metric(
    f"New sessions ({ctx.window_label})",
    f"{summary.recent_sessions_7d:,}",
    f"{summary.recent_sessions_7d - summary.previous_sessions_7d:+d} vs previous 7 days"
    if summary.recent_sessions_7d != summary.previous_sessions_7d
    else None,
    delta_color="off",
    width=TILE_WIDTH,
)
st.caption(f"7-day window: ({ctx.as_of - timedelta(days=7):%Y-%m-%d %H:%M}, {ctx.as_of:%Y-%m-%d %H:%M}]")

changes = markers_frame(ctx.index.root)
st.subheader("Success rate per day, with the rolling 7-day rate")
altair_chart(charts.success_rate_chart(daily, changes), width="stretch")
st.subheader("First-try success per day, with the rolling 7-day rate")
first_try_daily = query(daily_first_try, ctx.index, ctx.flt)
if first_try_daily.empty:
    st.info("No session started in this range.")
else:
    by_day_tab, by_model_tab = lazy_tabs(["All models", "Per model"], key="overview_first_try_view")
    if by_day_tab.open:
        with by_day_tab:
            altair_chart(charts.first_try_chart(first_try_daily, changes), width="stretch")
    if by_model_tab.open:
        with by_model_tab:
            by_model = query(daily_first_try, ctx.index, ctx.flt, by_model=True)
            altair_chart(charts.first_try_by_model_chart(by_model, changes), width="stretch")
st.caption(
    "Sessions count on the day their first attempt ran. Dashed rules are change markers "
    '(`analyze_logs.py mark "system_context v12"`); compare before and after one on the Compare page.'
)
st.subheader("Attempts per day")
altair_chart(
    charts.attempts_chart(daily),
    width="stretch",
    key="overview_days_chart",
    on_select=partial(url_filters.filter_to_picked_day, "overview_days_chart"),
)
st.caption("Click a day's bar to see that day only.")

st.subheader("What changed this week")
reopened = query(triaged_groups, ctx.index, ctx.flt, as_of=ctx.as_of, wanted="unresolved", cache_key=ctx.triage_version)
reopened = reopened[reopened["triage"].isin(["regressed", "escalating"])]
if not reopened.empty:
    st.error(
        f"{len(reopened)} error(s) the team had resolved or ignored are back: regressed (failed again after "
        "its resolution) or escalating (its ignore ran out).",
        icon=":material/replay:",
    )
    error_table(
        reopened[["error", "triage", "count", "last_seen", "assignee", "category", "fingerprint"]],
        key="overview_reopened",
        empty="",
    )
week = query(what_changed, ctx.index, ctx.flt, as_of=ctx.as_of)
WEEK_COLUMNS = ["example_error", "count_7d", "count_previous_7d", "change", "state", "category", "fingerprint"]
new_col, regressed_col = st.columns(2)
with new_col:
    st.caption(f"New errors: {len(week.new)} (first seen in the 7 days)")
    error_table(week.new[WEEK_COLUMNS], key="overview_new", empty="No new error in the 7 days.")
with regressed_col:
    st.caption(f"Regressed: {len(week.regressed)} (all fixed before, back again)")
    error_table(week.regressed[WEEK_COLUMNS], key="overview_regressed", empty="No error came back in the 7 days.")
st.caption("Biggest movers (failures in the 7 days against the 7 before)")
error_table(week.movers[WEEK_COLUMNS], key="overview_movers", empty="No error changed in count.")

st.subheader("Recent failures")
failures_filter = replace(ctx.flt, statuses=("failed",))
recent = query(recent_attempts, ctx.index, failures_filter, limit=20)
session_table(
    recent[["timestamp", "error_line", "category", "ai_model", "is_fixed", "session_id", "log_id"]],
    key="overview_recent_failures",
    name="recent_failures",
    empty="No failure in this range.",
)


def _full_report() -> bytes:
    report = query(analysis_report, ctx.index, ctx.flt, as_of=ctx.as_of)
    return json.dumps(report, indent=2, ensure_ascii=False, default=str).encode("utf-8")


def _eval_set() -> bytes:
    return evals_jsonl(query(eval_cases, ctx.index, ctx.flt))


downloads = st.container(horizontal=True, gap="small")
downloads.download_button(
    "Download the full report (JSON)",
    _full_report,
    "analysis_export.json",
    "application/json",
    key="overview_report",
    icon=":material/download:",
)
downloads.download_button(
    "Download an eval set of the failed sessions (JSONL)",
    _eval_set,
    "evals.jsonl",
    "application/x-ndjson",
    key="overview_evals",
    icon=":material/download:",
    help="One line per failed session: prompt, input file, model, the first failing code, its error and "
    "fingerprint, and the code that finally worked",
)
