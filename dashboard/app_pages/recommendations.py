"""Recommendations and the AI context for the model's prompt, ready to copy."""

from __future__ import annotations

import streamlit as st

from dashboard.data import query
from dashboard.sidebar import current
from dashboard.widgets import no_data_notice, session_table, window_notice
from loaders.context import ai_context
from loaders.recipes import fix_rules
from loaders.report import analysis_report

ctx = current()
st.title("Recommendations")
if no_data_notice():
    st.stop()
window_notice()
report = query(analysis_report, ctx.index, ctx.flt, as_of=ctx.as_of)
if report["recommendations"]:
    for number, advice in enumerate(report["recommendations"], 1):
        st.text(f"{number}. {advice}")
else:
    st.success("No recommendations: nothing is failing under these filters.")

st.subheader("Fix recipes")
st.caption("What changed from a failed attempt to the next one, counted where the next one succeeded.")
rules = query(fix_rules, ctx.index, ctx.flt)
session_table(
    rules[["kind", "change", "fixes", "tries", "success_rate", "example_sessions"]],
    key="recommendations_rules",
    name="fix_recipes",
    session_column="example_sessions",
    column_config={"success_rate": st.column_config.NumberColumn("success %", format="%.0f")},
)

st.subheader("AI context")
left, right = st.columns(2)
examples = left.slider("Examples", 1, 30, 10, key="recommendations_examples")
budget = right.number_input("Character budget", 500, 50_000, 6000, step=500, key="recommendations_budget")
context = query(ai_context, ctx.index, max_examples=examples, max_chars=int(budget), flt=ctx.flt)
st.caption(f"{len(context):,} characters · copy with the button at the top right of the block")
st.code(context or "(no failures: nothing to tell the model)", language=None)
st.download_button(
    "Download as text", context.encode("utf-8"), "ai_context.txt", "text/plain", key="recommendations_download"
)

st.subheader("AI learning summary")
st.code(report["ai_learning_summary"], language=None)
