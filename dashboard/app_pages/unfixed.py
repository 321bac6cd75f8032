"""Unfixed failures: every failure with no fix yet; a row opens its session."""

from __future__ import annotations

import streamlit as st

from dashboard.data import query
from dashboard.sidebar import current
from dashboard.widgets import no_data_notice, session_table
from loaders.attempts import unfixed_failures

ctx = current()
st.title("Unfixed failures")
if no_data_notice():
    st.stop()
unfixed = query(unfixed_failures, ctx.index, ctx.flt, as_of=ctx.as_of)
st.metric("Unfixed failures", f"{len(unfixed):,}")
columns = [
    "timestamp",
    "category",
    "error_type",
    "error_line",
    "ai_model",
    "user_prompt",
    "session_id",
    "session_attempts",
    "age_hours",
    "log_id",
]
session_table(
    unfixed[columns],
    key="unfixed_table",
    name="unfixed_failures",
    column_config={
        "age_hours": st.column_config.NumberColumn("age (h)", format="%.1f"),
        "session_attempts": st.column_config.NumberColumn("attempts in session"),
    },
    height=560,
)
