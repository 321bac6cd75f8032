"""The issue view the Errors and Unfixed pages share: failures grouped into errors, and one error
opened (its occurrences and its sessions), shareable as ``?error=FINGERPRINT``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, links, triage_panel
from dashboard.data import query
from dashboard.markdown import escape_markdown
from dashboard.sidebar import current
from dashboard.widgets import altair_chart, downloads, drawn_table, selected_row, session_table, shown_table, table
from loaders.analysis.attempts import attempt_record
from loaders.analysis.errors import error_groups, error_occurrences, error_sessions
from loaders.analysis.states import state_help
from loaders.analysis.triage import group_detail, group_members

ERROR_PARAM = links.ERROR_PARAM
TRACE_LIMIT = 20_000  # the end of a long stderr: where the traceback is
ERRORS_PAGE = "app_pages/errors.py"
# Errors lead with what a reader scans for (the error, how often, how lately, its state, whose it is);
# ids last.
GROUP_COLUMNS = [
    "error",
    "count",
    "last_seen",
    "triage",
    "assignee",
    "daily",
    "state",
    "sessions",
    "fix_rate",
    "first_seen",
    "models",
    "category",
    "fingerprint",
]
OCCURRENCE_COLUMNS = [
    "timestamp",
    "error_line",
    "attempt_no",
    "session_attempts",
    "ai_model",
    "is_fixed",
    "seconds_to_fix",
    "fixed_by",
    "user_prompt",
    "image_filename",
    "session_id",
    "log_id",
]
SESSION_COLUMNS = [
    "session_id",
    "occurrences",
    "attempts",
    "status",
    "final_outcome",
    "first_seen",
    "last_seen",
    "duration_seconds",
    "ai_model",
    "user_prompt",
]


def opened_error() -> str | None:
    """The fingerprint in the URL (``?error=``), if any."""
    return st.query_params.get(ERROR_PARAM) or None


def _close(list_key: str) -> None:
    if ERROR_PARAM in st.query_params:
        del st.query_params[ERROR_PARAM]
    for key in (list_key, narrow_key(list_key)):  # a row selected in either layout would open it again
        st.session_state.pop(key, None)


def narrow_key(list_key: str) -> str:
    """The key of the issue list's narrow-screen table."""
    return f"{list_key}_narrow"


# A phone (a narrow window) gets the list with a narrow error column, so that the count and when it was
# last seen fit beside it; a wide window gets the full one. Both are sent; the browser shows one.
NARROW_SCREEN = "640px"


def _one_layout_shown(key: str) -> str:
    return f"""<style>
@media (max-width: {NARROW_SCREEN}) {{ .st-key-{key}_wide_layout {{ display: none; }} }}
@media not all and (max-width: {NARROW_SCREEN}) {{ .st-key-{key}_narrow_layout {{ display: none; }} }}
</style>"""


def issue_list(
    groups: pd.DataFrame, key: str, name: str, count_label: str, empty: str, page: str = links.ERRORS_PAGE_PATH
) -> None:
    """The errors, one row each; clicking an error (or selecting its row) opens it on ``page`` (the
    address path of the page drawing the list) and puts it in the URL. A narrow screen gets the same list
    with the error narrowed, so that its count and last seen show beside it."""
    if groups.empty:
        table(groups, key, empty=empty)
        return
    # One scale for every row's sparkline, so that a taller bar means more failures.
    peak = max((int(max(days)) for days in groups["daily"] if len(days)), default=1)
    config = {
        "count": st.column_config.NumberColumn(count_label, format="%d"),
        "daily": st.column_config.BarChartColumn(
            "Daily, 7 days", y_min=0, y_max=max(peak, 1), help="Failures on each of the 7 days, oldest first"
        ),
    }
    narrow = {  # about 330 pixels for the three, beside the row's selection box
        **config,
        "error": st.column_config.LinkColumn("Error", width=150, display_text=links.SHOWN_FRAGMENT),
        "count": st.column_config.NumberColumn(count_label, format="%d", width=56),
        "last_seen": st.column_config.DatetimeColumn("Last seen", format="MM-DD HH:mm", width=92),
    }
    st.html(_one_layout_shown(key))
    prepared = shown_table(groups[GROUP_COLUMNS], errors_here=page)  # once for both layouts
    events = []
    for layout, table_key, columns in (("wide", key, config), ("narrow", narrow_key(key), narrow)):
        with st.container(key=f"{key}_{layout}_layout"):
            events.append(drawn_table(prepared, table_key, columns, on_select="rerun", selection_mode="single-row"))
    row = next((found for found in map(selected_row, events) if found is not None), None)
    if row is not None:
        st.query_params[ERROR_PARAM] = groups.iloc[row]["fingerprint"]
        st.rerun()
    st.caption("Click an error (or select its row) to open it: its occurrences and its sessions.")
    downloads(groups.drop(columns=["daily"]), name, key)


def error_table(frame: pd.DataFrame, key: str, empty: str) -> None:
    """A table of errors (with a ``fingerprint`` column) whose selected row opens that error on the
    Errors page."""
    event = table(frame, key, empty=empty, on_select="rerun", selection_mode="single-row")
    row = selected_row(event)
    if row is not None:
        st.switch_page(ERRORS_PAGE, query_params={ERROR_PARAM: frame.iloc[row]["fingerprint"]})
    if event is not None:
        st.caption("Click an error (or select its row) to open it.")


def issue_detail(fingerprint: str, list_key: str, unfixed_only: bool = False) -> None:
    """One error: what it is, its numbers, its failures per day, its occurrences and its sessions."""
    ctx = current()
    back = "All unfixed errors" if unfixed_only else "All errors"
    st.button(back, icon=":material/arrow_back:", key=f"{list_key}_back", on_click=_close, args=(list_key,))
    decided = triage_panel.decisions_of(fingerprint)
    if decided is not None and decided.fingerprint != fingerprint:  # a merged member opens its group
        fingerprint = decided.fingerprint
    members = tuple(group_members(fingerprint, {fingerprint: decided} if decided else {}))
    groups = query(
        group_detail,
        ctx.index,
        fingerprint,
        ctx.flt,
        as_of=ctx.as_of,
        unfixed_only=unfixed_only,
        cache_key=ctx.triage_version,
    )
    if groups.empty:
        what = "unfixed failure" if unfixed_only else "failure"
        st.warning(f"No {what} of the error {escape_markdown(fingerprint)} under the current filters.")
        return
    error = groups.iloc[0]
    st.subheader("Error")
    st.code(error["error"], language=None, wrap_lines=True)
    state = error["state"] if isinstance(error["state"], str) else None
    facts = [escape_markdown(error["category"] or "uncategorised")]
    if error["models"] is not None and len(error["models"]):
        facts.append("models " + escape_markdown(", ".join(error["models"])))
    facts.append(f"fingerprint {escape_markdown(fingerprint)}")
    st.caption(" · ".join(facts))
    cols = st.columns(4)
    cols[0].metric("Unfixed failures" if unfixed_only else "Occurrences", f"{int(error['count']):,}")
    cols[1].metric("Sessions", f"{int(error['sessions']):,}")
    fixed = f"{int(error['fixed'])} of {int(error['failures'])} failures fixed"
    cols[2].metric("Fix rate", f"{error['fix_rate']:.0f}%", help=fixed)
    cols[3].metric("This week", state or "–", help=state_help())
    st.caption(f"First seen {error['first_seen']:%Y-%m-%d %H:%M} · last seen {error['last_seen']:%Y-%m-%d %H:%M}")
    others = query(error_groups, ctx.index, as_of=ctx.as_of)[["fingerprint", "error"]].itertuples(index=False)
    with st.container(border=True):
        triage_panel.decision_panel(fingerprint, [(row.fingerprint, row.error) for row in others])
    everything = not unfixed_only or st.toggle("Include fixed failures", key=f"{list_key}_with_fixed")
    occurrences = query(error_occurrences, ctx.index, members, ctx.flt, unfixed_only=not everything)
    sessions = query(error_sessions, ctx.index, members, ctx.flt, unfixed_only=not everything)
    if not occurrences.empty:
        altair_chart(charts.occurrences_chart(occurrences), width="stretch")
        newest = occurrences.iloc[0]
        record = query(attempt_record, ctx.index, newest["log_id"]) or {}
        if record.get("stderr"):
            when = f"{newest['timestamp']:%Y-%m-%d %H:%M}"
            label = f"stderr of the newest occurrence ({when}, {escape_markdown(newest['log_id'])})"
            with st.expander(label, expanded=True, icon=":material/terminal:"):
                st.code(record["stderr"][-TRACE_LIMIT:], language=None, wrap_lines=True, height=320)
    occurrences_tab, sessions_tab = st.tabs([f"Occurrences ({len(occurrences):,})", f"Sessions ({len(sessions):,})"])
    with occurrences_tab:
        session_table(
            occurrences[OCCURRENCE_COLUMNS], key=f"{list_key}_occurrences", name=f"error_{fingerprint}_failures"
        )
    with sessions_tab:
        session_table(sessions[SESSION_COLUMNS], key=f"{list_key}_sessions", name=f"error_{fingerprint}_sessions")
    st.caption("The page's address opens this error: copy it to share.")
