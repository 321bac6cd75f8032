"""Sessions: the list, and one session's timeline (open with ?session=ID, shareable)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.data import query
from dashboard.sidebar import current
from dashboard.widgets import downloads, escape_markdown, no_data_notice, session_table, window_notice
from loaders.recipes import recognised_edits
from loaders.sessions import SessionDetail, abandoned_sessions, code_diff, session_detail, sessions, silent_successes

TEXT_LIMIT = 20_000


def _clipped(text: str | None) -> str:
    if not text:
        return ""
    if len(text) <= TEXT_LIMIT:
        return text
    return text[:TEXT_LIMIT] + f"\n… ({len(text) - TEXT_LIMIT:,} more characters; download the attempt as JSON)"


def _attempt(detail: SessionDetail, position: int, previous_code: str | None) -> None:
    row = detail.attempts.iloc[position]
    record = detail.records[position] or {}
    status = "✅ success" if row["status"] == "success" else "❌ failed"
    title = f"#{row['attempt_no']} · {status} · {row['timestamp']:%Y-%m-%d %H:%M:%S} · {escape_markdown(row['log_id'])}"
    with st.expander(title, expanded=position == len(detail.attempts) - 1 or row["status"] == "failed"):
        facts = {
            "model": row["ai_model"],
            "category": row["category"],
            "error type": row["error_type"],
            "return code": row["return_code"],
            "run time (s)": row["execution_time_seconds"],
            "previous attempt": row["previous_attempt_id"],
            "fixed by": row["fixed_by_effective"],
        }
        st.dataframe(
            pd.DataFrame([{k: v for k, v in facts.items() if pd.notna(v)}]),
            hide_index=True,
            key=f"sessions_facts_{position}",
        )
        if record.get("user_prompt"):
            st.caption("Prompt")
            st.text(record["user_prompt"])
        if row["status"] == "failed":
            st.caption("Error")
            st.code(_clipped(record.get("error_message") or row["error_line"]), language=None)
            if record.get("stderr"):
                st.caption("stderr")
                st.code(_clipped(record["stderr"]), language=None)
        elif record.get("output_files"):
            st.caption("Output files")
            st.code("\n".join(map(str, record["output_files"])), language=None)
        st.caption("Code")
        st.code(_clipped(record.get("code")), language="python", line_numbers=True)
        diff = code_diff(previous_code, record.get("code"), "previous attempt", f"attempt #{row['attempt_no']}")
        if diff:
            edits = recognised_edits(previous_code or "", record.get("code") or "")
            st.caption("Change from the previous attempt" + (f": {escape_markdown('; '.join(edits))}" if edits else ""))
            st.code(_clipped(diff), language="diff")
        if record.get("stdout"):
            st.caption("stdout")
            st.code(_clipped(record["stdout"]), language=None)
        if row["flags"] is not None and len(row["flags"]):
            st.warning("Loaded with coerced values: " + escape_markdown("; ".join(row["flags"])))


def timeline(session_id: str) -> None:
    """The timeline of one session: chart, then every attempt with its texts."""
    ctx = current()
    detail = query(session_detail, ctx.index, session_id)
    if st.button("← All sessions", key="sessions_back"):
        st.query_params.clear()
        st.rerun()
    if detail is None:
        st.error(f"Session not found: {escape_markdown(session_id)}")
        return
    st.title("Session timeline")
    st.code(session_id, language=None)
    failures = int((detail.attempts["status"] == "failed").sum())
    cols = st.columns(4)
    cols[0].metric("Status", detail.status)
    cols[1].metric("Attempts", len(detail.attempts))
    cols[2].metric("Failures", failures)
    if len(detail.attempts):
        span = detail.attempts["timestamp"].max() - detail.attempts["timestamp"].min()
        cols[3].metric("Duration", str(span).split(".")[0])
        st.altair_chart(charts.session_timeline_chart(detail.attempts), width="stretch")
    if detail.session_file is None:
        st.caption("No session file: shown from the attempt records alone.")
    if detail.missing_attempt_ids:
        st.warning(
            "The session file lists attempts whose record is missing: "
            + escape_markdown(", ".join(detail.missing_attempt_ids))
        )
    previous_code = None
    for position in range(len(detail.attempts)):
        _attempt(detail, position, previous_code)
        previous_code = (detail.records[position] or {}).get("code")
    downloads(detail.attempts.drop(columns=["path"]), f"session_{session_id}", "sessions_attempts")


def session_list() -> None:
    """All sessions under the filters; a row opens its timeline."""
    ctx = current()
    st.title("Sessions")
    if no_data_notice():
        return
    listed = query(sessions, ctx.index, ctx.flt)
    resolved = int((listed["status"] == "resolved").sum()) if not listed.empty else 0
    cols = st.columns(3)
    cols[0].metric("Sessions", f"{len(listed):,}")
    cols[1].metric("Resolved", f"{resolved:,}")
    cols[2].metric("Unresolved", f"{len(listed) - resolved:,}")
    window_notice()
    everything, abandoned_tab, silent_tab = st.tabs(["All sessions", "Abandoned", "Silent successes"])
    with abandoned_tab:
        abandoned = query(abandoned_sessions, ctx.index, ctx.flt, as_of=ctx.as_of)
        st.caption(f"{len(abandoned):,} sessions whose last attempt failed and nothing followed for an hour.")
        session_table(abandoned, key="sessions_abandoned", name="abandoned_sessions")
    with silent_tab:
        silent = query(silent_successes, ctx.index, ctx.flt)
        st.caption(f"{len(silent):,} successes that produced no output file.")
        session_table(silent, key="sessions_silent", name="silent_successes")
    with everything:
        _all_sessions(listed)


def _all_sessions(listed: pd.DataFrame) -> None:
    session_table(
        listed[
            [
                "session_id",
                "status",
                "attempts",
                "failures",
                "first_at",
                "last_at",
                "duration_seconds",
                "final_outcome",
                "ai_model",
                "user_prompt",
                "last_error",
                "has_session_file",
                "missing_records",
            ]
        ],
        key="sessions_table",
        name="sessions",
        height=600,
    )


chosen = st.query_params.get("session")
if chosen:
    timeline(chosen)
else:
    session_list()
