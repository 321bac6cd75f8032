"""Unfixed failures grouped into errors (open one with ?error=FINGERPRINT), and every unfixed
failure a page at a time; a failure's row opens its session."""

from __future__ import annotations

import streamlit as st

from dashboard import issues, triage_panel
from dashboard.data import query
from dashboard.sidebar import current
from dashboard.widgets import (
    TABLE_PAGE_SIZE,
    downloads,
    lazy_tabs,
    no_data_notice,
    row_page,
    rows_shown_caption,
    session_table,
    window_notice,
)
from loaders.analysis.attempts import unfixed_counts, unfixed_failures

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
unfixed, sessions_affected = query(unfixed_counts, ctx.index, ctx.flt)
groups = triage_panel.groups_for(unfixed_only=True)
cols = st.columns(3)
cols[0].metric("Unfixed failures", f"{unfixed:,}")
cols[1].metric("Errors", f"{len(groups):,}", help="Distinct errors (fingerprints) among the unfixed failures")
cols[2].metric("Sessions affected", f"{sessions_affected:,}")

grouped_tab, flat_tab = lazy_tabs(["Grouped by error", "Every failure"], key="unfixed_view")
if grouped_tab.open:
    with grouped_tab:
        triage_panel.filter_bar("unfixed")
        st.caption("Counts, sessions and daily counts are of unfixed failures; fix rate and state are the error's own.")
        issues.issue_list(
            groups, "unfixed_groups", "unfixed_errors", "Unfixed", "No unfixed failure in this range.", page="unfixed"
        )
if flat_tab.open:
    with flat_tab:
        offset = row_page(unfixed, key="unfixed_page")
        listed = query(unfixed_failures, ctx.index, ctx.flt, as_of=ctx.as_of, limit=TABLE_PAGE_SIZE, offset=offset)
        rows_shown_caption(offset, len(listed), unfixed, "Unfixed failures", "newest first")
        session_table(
            listed[FLAT_COLUMNS],
            key="unfixed_table",
            name="unfixed_failures",
            height=560,
            downloadable=False,
            empty="No unfixed failure in this range.",
        )
        if unfixed:  # every unfixed failure, worked out when a download is clicked
            downloads(
                lambda: query(unfixed_failures, ctx.index, ctx.flt, as_of=ctx.as_of)[FLAT_COLUMNS],
                "unfixed_failures",
                "unfixed_table",
            )
