"""Errors: categories (derived and stored), their trend, top errors, fingerprints, libraries."""

from __future__ import annotations

import streamlit as st

from dashboard import charts
from dashboard.data import query
from dashboard.sidebar import current
from dashboard.widgets import downloads, no_data_notice, session_table
from loaders.errors import error_categories, error_categories_daily, error_fingerprints, library_issues, top_errors
from loaders.states import fingerprint_states

ctx = current()
st.title("Errors")
if no_data_notice():
    st.stop()

derived = query(error_categories, ctx.index, ctx.flt)
stored = query(error_categories, ctx.index, ctx.flt, which="stored")
if derived.empty:
    st.info("No failures match the filters.")
    st.stop()

left, right = st.columns([3, 2])
with left:
    st.subheader("Failures by category")
    st.altair_chart(charts.category_chart(derived), width="stretch")
with right:
    st.subheader("Derived vs stored category")
    side_by_side = (
        derived[["category", "count", "fixed_share"]]
        .merge(stored[["category", "count"]], on="category", how="outer", suffixes=("_derived", "_stored"))
        .fillna({"count_derived": 0, "count_stored": 0})
    )
    st.dataframe(
        side_by_side,
        hide_index=True,
        width="stretch",
        key="errors_categories_table",
        column_config={"fixed_share": st.column_config.NumberColumn("fixed %", format="%.0f")},
    )
    downloads(side_by_side, "error_categories", "errors_categories")

st.subheader("Categories over time")
st.altair_chart(charts.categories_over_time_chart(query(error_categories_daily, ctx.index, ctx.flt)), width="stretch")

st.subheader("Top specific errors")
top = query(top_errors, ctx.index, ctx.flt, limit=50)
session_table(
    top[["error", "category", "count", "fix_rate", "first_seen", "last_seen", "sessions", "example_sessions"]],
    key="errors_top_table",
    name="top_errors",
    session_column="example_sessions",
    column_config={"fix_rate": st.column_config.NumberColumn("fix rate %", format="%.0f")},
)

st.subheader("Error fingerprints")
marks = query(error_fingerprints, ctx.index, ctx.flt, limit=100)
states = query(fingerprint_states, ctx.index, ctx.flt, as_of=ctx.as_of)
marks = marks.merge(states[["fingerprint", "state", "count_7d", "change", "regressions"]], on="fingerprint", how="left")
session_table(
    marks[
        [
            "fingerprint",
            "signature",
            "state",
            "category",
            "count",
            "count_7d",
            "change",
            "sessions",
            "fix_rate",
            "unfixed",
            "regressions",
            "mean_attempts_to_fix",
            "mean_seconds_to_fix",
            "first_seen",
            "last_seen",
            "example_sessions",
        ]
    ],
    key="errors_fingerprint_table",
    name="error_fingerprints",
    session_column="example_sessions",
)

st.subheader("States per model")
per_model = query(fingerprint_states, ctx.index, ctx.flt, as_of=ctx.as_of, by_model=True)
session_table(
    per_model[["ai_model", "example_error", "state", "count_7d", "change", "failures", "unfixed", "example_sessions"]],
    key="errors_model_states",
    name="fingerprint_states_by_model",
    session_column="example_sessions",
)

st.subheader("Library issues")
libraries = query(library_issues, ctx.index, ctx.flt)
if libraries.empty:
    st.info("No library is involved in the filtered failures.")
else:
    st.dataframe(libraries, hide_index=True, width="stretch", key="errors_library_table")
    downloads(libraries, "library_issues", "errors_libraries")
