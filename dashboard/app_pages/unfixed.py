"""Unfixed failures grouped into errors (open one with ?error=FINGERPRINT), and every unfixed
failure; a failure's row opens its session."""

from __future__ import annotations

import streamlit as st

from dashboard import issues
from dashboard.data import query
from dashboard.sidebar import current
from dashboard.widgets import lazy_tabs, no_data_notice, session_table, window_notice
from loaders.attempts import unfixed_failures
from loaders.errors import error_groups

FLAT_COLUMNS = [
    "timestamp",
    "error_line",
    "category",
    "age_hours",
    "ai_model",
    "session_attempts",
    "user_prompt",
    "error_type",
    "session_id",
    "log_id",
]

ctx = current()
st.title("Unfixed failures")
if no_data_notice():
    st.stop()
opened = issues.opened_error()
if opened:
    issues.issue_detail(opened, list_key="unfixed_groups", unfixed_only=True)
    st.stop()
window_notice()
unfixed = query(unfixed_failures, ctx.index, ctx.flt, as_of=ctx.as_of)
groups = query(error_groups, ctx.index, ctx.flt, as_of=ctx.as_of, unfixed_only=True)
cols = st.columns(3)
cols[0].metric("Unfixed failures", f"{len(unfixed):,}")
cols[1].metric("Errors", f"{len(groups):,}", help="Distinct errors (fingerprints) among the unfixed failures")
cols[2].metric("Sessions affected", f"{unfixed['session_id'].nunique():,}")

grouped_tab, flat_tab = lazy_tabs(["Grouped by error", "Every failure"], key="unfixed_view")
if grouped_tab.open:
    with grouped_tab:
        st.caption("Counts, sessions and daily counts are of unfixed failures; fix rate and state are the error's own.")
        issues.issue_list(groups, "unfixed_groups", "unfixed_errors", "Unfixed", "No unfixed failure in this range.")
if flat_tab.open:
    with flat_tab:
        session_table(
            unfixed[FLAT_COLUMNS],
            key="unfixed_table",
            name="unfixed_failures",
            height=560,
            empty="No unfixed failure in this range.",
        )
