"""Sessions: the list, and one session's timeline (open with ?session=ID, shareable)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.data import query
from dashboard.formatting import duration_text, gap_text
from dashboard.markdown import escape_markdown
from dashboard.sidebar import current
from dashboard.widgets import (
    SESSIONS_PAGE,
    TABLE_PAGE_SIZE,
    altair_chart,
    downloads,
    lazy_tabs,
    no_data_notice,
    row_page,
    rows_shown_caption,
    session_table,
    window_notice,
)
from loaders.analysis.attempts import sessions_of_attempts
from loaders.analysis.recipes import recognised_edits
from loaders.analysis.sessions import (
    SessionDetail,
    abandoned_sessions,
    code_diff,
    find_session,
    session_counts,
    session_detail,
    sessions,
    silent_successes,
)
from loaders.analysis.timeline import attempt_waterfall, session_export
from loaders.text.secrets import clip

TEXT_LIMIT = 20_000


def _clipped(text: str | None) -> str:
    if not text:
        return ""
    if len(text) <= TEXT_LIMIT:
        return text
    return text[:TEXT_LIMIT] + f"\n… ({len(text) - TEXT_LIMIT:,} more characters; download the attempt as JSON)"


STATUS_ICONS = {"success": ":material/check_circle:", "failed": ":material/error:"}


def _attempt_label(row: pd.Series, step: pd.Series) -> str:
    status = row["status"] if row["status"] in STATUS_ICONS else escape_markdown(row["status"])
    parts = [f"#{row['attempt_no']}", status, f"{row['timestamp']:%Y-%m-%d %H:%M:%S}", gap_text(step["gap_seconds"])]
    run = duration_text(step["run_seconds"])
    if run:
        parts.append(f"ran {run}")
    error = row.get("error_line")
    # A failure's header says what failed (its key error line); the id comes last.
    parts.append(escape_markdown(clip(error, 100)) if row["status"] == "failed" and isinstance(error, str) else "")
    parts.append(escape_markdown(row["log_id"]))
    return " · ".join(part for part in parts if part)


def _attempt_link(label: str, log_id: object, sessions_by_attempt: dict[str, str], icon: str) -> None:
    """A link to the session of the attempt ``log_id`` names (or its id alone when unknown)."""
    if not isinstance(log_id, str) or not log_id:
        return
    session_id = sessions_by_attempt.get(log_id)
    if session_id is None:
        st.caption(f"{label}: {escape_markdown(log_id)} (no record of it in the logs)")
        return
    st.page_link(
        SESSIONS_PAGE,
        label=f"{label}: {escape_markdown(log_id)}",
        icon=icon,
        query_params={"session": session_id},
        help="Open the session of this attempt",
    )


def _attempt(
    detail: SessionDetail,
    position: int,
    previous_code: str | None,
    step: pd.Series,
    sessions_by_attempt: dict[str, str],
    expanded: bool,
) -> None:
    row = detail.attempts.iloc[position]
    record = detail.records[position] or {}
    icon = STATUS_ICONS.get(row["status"], ":material/help:")
    with st.expander(_attempt_label(row, step), expanded=expanded, icon=icon):
        facts = [
            ("Model", row["ai_model"]),
            ("Category", row["category"]),
            ("Exception", row["error_type"]),
            ("Return code", row["return_code"]),
            ("Input file", row["image_filename"]),
        ]
        shown = [f"{name} **{escape_markdown(value)}**" for name, value in facts if pd.notna(value) and value != ""]
        run = duration_text(step["run_seconds"])
        if run:
            shown.append(f"Run time **{run}**")
        if shown:
            st.caption(" · ".join(shown))
        _attempt_link("Previous attempt", row["previous_attempt_id"], sessions_by_attempt, ":material/undo:")
        if isinstance(row["inferred_previous_id"], str):
            similarity = row["inferred_similarity"]
            how = f"code similarity {similarity:.2f}" if pd.notna(similarity) else "the same prompt"
            _attempt_link(
                f"Retries (inferred from {how})", row["inferred_previous_id"], sessions_by_attempt, ":material/link:"
            )
        _attempt_link("Fixed by", row["fixed_by_effective"], sessions_by_attempt, ":material/check_circle:")
        if record.get("user_prompt"):
            st.caption("Prompt")
            st.code(_clipped(record["user_prompt"]), language=None, wrap_lines=True)
        if row["status"] == "failed":
            st.caption("Error")
            st.code(_clipped(record.get("error_message") or row["error_line"]), language=None, wrap_lines=True)
            if record.get("stderr"):
                st.caption("stderr")
                st.code(_clipped(record["stderr"]), language=None, wrap_lines=True)
        elif record.get("output_files"):
            st.caption("Output files")
            st.code("\n".join(map(str, record["output_files"])), language=None, wrap_lines=True)
        st.caption("Code")
        st.code(_clipped(record.get("code")), language="python", line_numbers=True)
        diff = code_diff(previous_code, record.get("code"), "previous attempt", f"attempt #{row['attempt_no']}")
        if diff:
            edits = recognised_edits(previous_code or "", record.get("code") or "")
            st.caption("Change from the previous attempt" + (f": {escape_markdown('; '.join(edits))}" if edits else ""))
            st.code(_clipped(diff), language="diff")
        if record.get("stdout"):
            st.caption("stdout")
            st.code(_clipped(record["stdout"]), language=None, wrap_lines=True)
        if row["flags"] is not None and len(row["flags"]):
            st.warning("Loaded with coerced values: " + escape_markdown("; ".join(row["flags"])))


def _expanded_positions(attempts: pd.DataFrame) -> set[int]:
    """The attempts shown open: the one the URL names (``?attempt=LOG_ID``, opened from an occurrence),
    else the last failure and the final success (the rest stay collapsed)."""
    wanted = st.query_params.get("attempt")
    if wanted in set(attempts["log_id"]):
        return {list(attempts["log_id"]).index(wanted)}
    statuses = list(attempts["status"])
    shown = set()
    for status in ("failed", "success"):
        if status in statuses:
            shown.add(len(statuses) - 1 - statuses[::-1].index(status))
    return shown


def _back_to_list() -> None:
    for param in ("session", "attempt"):
        if param in st.query_params:
            del st.query_params[param]


def timeline(session_id: str) -> None:
    """The timeline of one session: its numbers, a waterfall of its attempts, then every attempt
    with its texts (the last failure and the final success open), and the download of it all."""
    ctx = current()
    detail = query(session_detail, ctx.index, session_id)
    st.button("All sessions", icon=":material/arrow_back:", key="sessions_back", on_click=_back_to_list)
    if detail is None:
        st.error(f"Session not found: {escape_markdown(session_id)}")
        return
    st.title("Session timeline")
    st.code(session_id, language=None)
    attempts = detail.attempts
    waterfall = attempt_waterfall(detail)
    cols = st.columns(4)
    cols[0].metric("Status", detail.status)
    cols[1].metric("Attempts", len(attempts))
    cols[2].metric("Failures", int((attempts["status"] == "failed").sum()))
    if len(attempts):
        cols[3].metric("Duration", duration_text(waterfall["offset_seconds"].iloc[-1]), help="First to last attempt")
        altair_chart(charts.session_timeline_chart(waterfall), width="stretch")
    if detail.session_file is None:
        st.caption("No session file: shown from the attempt records alone.")
    if detail.missing_attempt_ids:
        st.warning(
            "The session file lists attempts whose record is missing: "
            + escape_markdown(", ".join(detail.missing_attempt_ids))
        )
    linked = [*attempts["previous_attempt_id"], *attempts["fixed_by_effective"], *attempts["inferred_previous_id"]]
    sessions_by_attempt = query(sessions_of_attempts, ctx.index, [i for i in linked if isinstance(i, str)])
    expanded = _expanded_positions(attempts)
    previous_code = None
    for position in range(len(attempts)):
        _attempt(detail, position, previous_code, waterfall.iloc[position], sessions_by_attempt, position in expanded)
        previous_code = (detail.records[position] or {}).get("code")
    st.caption("The downloads hold every attempt with its code, error, stderr and stdout.")
    downloads(session_export(detail), f"session_{session_id}", "sessions_attempts")


def session_list() -> None:
    """All sessions under the filters; a row opens its timeline."""
    ctx = current()
    st.title("Sessions")
    if no_data_notice():
        return
    _find_box()
    total, resolved = query(session_counts, ctx.index, ctx.flt)
    cols = st.columns(3)
    cols[0].metric("Sessions", f"{total:,}")
    cols[1].metric("Resolved", f"{resolved:,}")
    cols[2].metric("Unresolved", f"{total - resolved:,}")
    window_notice()
    everything, abandoned_tab, silent_tab = lazy_tabs(
        ["All sessions", "Abandoned", "Silent successes"], key="sessions_view"
    )
    if abandoned_tab.open:
        with abandoned_tab:
            abandoned = query(abandoned_sessions, ctx.index, ctx.flt, as_of=ctx.as_of)
            st.caption(f"{len(abandoned):,} sessions whose last attempt failed and nothing followed for an hour.")
            session_table(
                abandoned[["last_error", "attempts", "idle_hours", "last_at", "user_prompt", "ai_model", "session_id"]],
                key="sessions_abandoned",
                name="abandoned_sessions",
                empty="No session was left on a failure.",
            )
    if silent_tab.open:
        with silent_tab:
            silent = query(silent_successes, ctx.index, ctx.flt)
            st.caption(f"{len(silent):,} successes that produced no output file.")
            session_table(
                silent[
                    [
                        "timestamp",
                        "user_prompt",
                        "ai_model",
                        "execution_time_seconds",
                        "stdout_chars",
                        "session_id",
                        "log_id",
                    ]
                ],
                key="sessions_silent",
                name="silent_successes",
                empty="Every success produced an output file.",
            )
    if everything.open:
        with everything:
            _all_sessions(total)


def _all_sessions(total: int) -> None:
    """The sessions a page at a time (TABLE_PAGE_SIZE rows reach the browser, not every session)."""
    ctx = current()
    offset = row_page(total, key="sessions_page")
    listed = query(sessions, ctx.index, ctx.flt, limit=TABLE_PAGE_SIZE, offset=offset)
    rows_shown_caption(offset, len(listed), total, "Sessions", "newest activity first")
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
        downloadable=False,
    )
    downloads(lambda: query(sessions, ctx.index, ctx.flt), "sessions", "sessions_table")


def _open_found() -> None:
    text = (st.session_state.get("sessions_find") or "").strip()
    st.session_state["sessions_find"] = ""
    if text:
        st.query_params["session"] = text


def _find_box() -> None:
    """A search box: a session id, an attempt's log_id or the start of either opens that session."""
    st.text_input(
        "Find a session or attempt",
        key="sessions_find",
        placeholder="session id, attempt id, or their first characters",
        icon=":material/search:",
        on_change=_open_found,
    )


def open_by_id(text: str) -> None:
    """The timeline of the session ``text`` names (loaders.analysis.sessions.find_session), or the candidates."""
    lookup = query(find_session, current().index, text)
    if lookup.session_id is not None:
        if lookup.session_id != text:
            st.query_params["session"] = lookup.session_id  # the URL names the session itself
        timeline(lookup.session_id)
        return
    if lookup.candidates.empty:
        timeline(text)  # says it was not found
        return
    st.button("All sessions", icon=":material/arrow_back:", key="sessions_back", on_click=_back_to_list)
    st.title("Which session?")
    st.caption(f"{len(lookup.candidates):,} sessions match {escape_markdown(text)}: select one to open it.")
    session_table(lookup.candidates, key="sessions_candidates", name="matching_sessions", downloadable=False)


chosen = st.query_params.get("session")
if chosen:
    open_by_id(chosen)
else:
    session_list()
