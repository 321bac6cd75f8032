"""Recommendations, then fix recipes, the AI context for the model's prompt (ready to copy) and the AI
learning summary, each in a tab drawn when opened."""

from __future__ import annotations

import streamlit as st

from dashboard.data import query
from dashboard.issues import ERROR_PARAM, ERRORS_PAGE
from dashboard.markdown import escape_markdown
from dashboard.sidebar import current
from dashboard.widgets import (
    SESSIONS_PAGE,
    keep_value,
    lazy_tabs,
    no_data_notice,
    session_table,
    window_notice,
)
from loaders.analysis.recipes import fix_rules
from loaders.outputs.context import DEFAULT_EXAMPLES, DEFAULT_MAX_CHARS, ai_context
from loaders.outputs.report_sections import report_sections
from loaders.outputs.sections import prioritised_recommendations

LEVEL_ICONS = {
    "CRITICAL": ":red[:material/priority_high:]",
    "HIGH": ":orange[:material/warning:]",
    "MEDIUM": ":blue[:material/info:]",
    "LOW": ":gray[:material/low_priority:]",
}

ctx = current()
st.title("Recommendations")
if no_data_notice():
    st.stop()
window_notice()
advice = query(prioritised_recommendations, ctx.index, ctx.flt)
if advice.empty:
    st.success("No recommendations: nothing is failing under these filters.")
for number, item in enumerate(advice.itertuples(), 1):
    with st.container(border=True, key=f"recommendations_item_{number}"):
        st.markdown(f"{LEVEL_ICONS[item.level]} {escape_markdown(item.text)}")
        links = st.container(horizontal=True, gap="small")
        if isinstance(item.fingerprint, str):
            links.page_link(
                ERRORS_PAGE,
                label="Open the error",
                icon=":material/bug_report:",
                query_params={ERROR_PARAM: item.fingerprint},
            )
        if isinstance(item.session_id, str):
            links.page_link(
                SESSIONS_PAGE,
                label="Open an example session",
                icon=":material/timeline:",
                query_params={"session": item.session_id},
            )

# Lazy tabs: the copyable text blocks' browser code took 0.5 s of every visit at 100,000 sessions.
recipes_tab, context_tab, summary_tab = lazy_tabs(
    ["Fix recipes", "AI context", "AI learning summary"], key="recommendations_view"
)
if recipes_tab.open:
    with recipes_tab:
        st.caption(
            "What changed from a failed attempt to the next one, counted where the next one succeeded. "
            "A change seen once is a lead, not yet a rule (low confidence)."
        )
        rules = query(fix_rules, ctx.index, ctx.flt, min_fixes=1)
        session_table(
            rules[["change", "fixes", "tries", "success_rate", "kind", "example_sessions"]],
            key="recommendations_rules",
            name="fix_recipes",
            session_column="example_sessions",
            column_config={"change": st.column_config.TextColumn("Change", width="medium")},
            empty="No recognised change fixed a failure yet.",
        )
if context_tab.open:
    with context_tab:
        st.caption("What to add to the model's prompt: the errors to avoid and the fixes that worked.")
        left, right = st.columns(2)
        keep_value("recommendations_examples", DEFAULT_EXAMPLES)
        examples = left.slider("Examples", 1, 30, key="recommendations_examples")
        keep_value("recommendations_budget", DEFAULT_MAX_CHARS)
        budget = right.number_input("Character budget", 500, 50_000, step=500, key="recommendations_budget")
        context = query(
            ai_context,
            ctx.index,
            max_examples=examples,
            max_chars=int(budget),
            flt=ctx.flt,
            cache_key=ctx.triage_version,
        )
        st.caption(f"{len(context):,} characters · copy with the button at the top right of the block")
        st.code(context or "(no failures: nothing to tell the model)", language=None, wrap_lines=True)
        st.download_button(
            "Download as text",
            context.encode("utf-8"),
            "ai_context.txt",
            "text/plain",
            key="recommendations_download",
            icon=":material/download:",
        )
if summary_tab.open:
    with summary_tab:
        sections = query(report_sections, ctx.index, ctx.flt)  # kept per index version: no window, no full report
        st.code(sections["ai_learning_summary"], language=None, wrap_lines=True)
