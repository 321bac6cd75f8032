"""Errors: failures grouped into errors (open one with ?error=FINGERPRINT), every failure, categories
and their trend, states per model, libraries."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import streamlit as st

from dashboard import charts, issues, triage_panel, url_filters
from dashboard.data import query
from dashboard.issues import error_table
from dashboard.sidebar import current
from dashboard.widgets import altair_chart, downloads, lazy_tabs, no_data_notice, session_table, table, window_notice
from loaders.analysis.attempts import recent_attempts
from loaders.analysis.errors import error_categories, error_categories_over_time, library_issues
from loaders.analysis.states import fingerprint_states

FLAT_LIMIT = 5000
FLAT_COLUMNS = ["timestamp", "error_line", "category", "ai_model", "is_fixed", "fixed_by", "session_id", "log_id"]

ctx = current()
st.title("Errors")
if no_data_notice():
    st.stop()
opened = issues.opened_error()
if opened:
    issues.issue_detail(opened, list_key="errors_groups")
    st.stop()
window_notice()

grouped_tab, flat_tab = lazy_tabs(["Grouped by error", "Every failure"], key="errors_view")
if grouped_tab.open:
    with grouped_tab:
        triage_panel.filter_bar("errors")
        groups = triage_panel.groups_for(unfixed_only=False)
        st.caption(
            f"{len(groups):,} errors: failures with the same key line, names, numbers and paths aside. "
            "Daily counts cover the 7 days to the window's end."
        )
        issues.issue_list(groups, "errors_groups", "errors", "Failures", "No failure in this range.")
if flat_tab.open:
    with flat_tab:
        failures = query(recent_attempts, ctx.index, replace(ctx.flt, statuses=("failed",)), limit=FLAT_LIMIT)
        st.caption(
            f"The newest {len(failures):,} failures"
            + (f" (at most {FLAT_LIMIT:,})" if len(failures) == FLAT_LIMIT else "")
        )
        session_table(
            failures[FLAT_COLUMNS], key="errors_flat", name="failures", height=520, empty="No failure in this range."
        )

derived = query(error_categories, ctx.index, ctx.flt)
if derived.empty:
    st.stop()
stored = query(error_categories, ctx.index, ctx.flt, which="stored")
left, right = st.columns([3, 2])
with left:
    st.subheader("Failures by category")
    altair_chart(
        charts.category_chart(derived),
        width="stretch",
        key="errors_category_chart",
        on_select=partial(url_filters.filter_to_picked_category, "errors_category_chart"),
    )
    st.caption("Click a bar to see that category only.")
with right:
    st.subheader("Derived vs logged category")
    side_by_side = (
        derived[["category", "count", "fixed_share"]]
        .merge(stored[["category", "count"]], on="category", how="outer", suffixes=("_derived", "_stored"))
        .fillna({"count_derived": 0, "count_stored": 0})
        .astype({"count_derived": int, "count_stored": int})
        .sort_values(["count_derived", "count_stored"], ascending=False)
    )
    table(
        side_by_side,
        "errors_categories_table",
        {
            "count_derived": st.column_config.NumberColumn("Derived", format="%d", help="Failures by derived category"),
            "count_stored": st.column_config.NumberColumn("Logged", format="%d", help="Failures by logged category"),
            "fixed_share": st.column_config.NumberColumn("Fixed", format="%.0f%%", help="Of the derived count"),
        },
    )
    downloads(side_by_side, "error_categories", "errors_categories")

st.subheader("Categories over time")
over_time, unit = query(error_categories_over_time, ctx.index, ctx.flt)
if unit == "hour":
    st.caption("By the hour: the failures span two days or fewer.")
altair_chart(charts.categories_over_time_chart(over_time, unit), width="stretch")

NO_MODEL = "(none logged)"
st.subheader("States per model")
per_model = query(fingerprint_states, ctx.index, ctx.flt, as_of=ctx.as_of, by_model=True)
per_model = per_model.assign(ai_model=per_model["ai_model"].fillna(NO_MODEL))  # a tree may not log models
error_table(
    per_model[["example_error", "ai_model", "state", "count_7d", "change", "failures", "unfixed", "fingerprint"]],
    key="errors_model_states",
    empty="No failure with an error text.",
)

st.subheader("Library issues")
libraries = query(library_issues, ctx.index, ctx.flt)
if libraries.empty:
    st.info("No library is involved in the filtered failures.")
else:
    table(
        libraries[
            [
                "library",
                "failures",
                "attempts",
                "failure_rate",
                "fixed",
                "import_failures",
                "latest_error",
                "example_log_ids",
            ]
        ],
        "errors_library_table",
        {"attempts": st.column_config.NumberColumn("Attempts", format="%d", help="Attempts using the library")},
    )
    downloads(libraries, "library_issues", "errors_libraries")
