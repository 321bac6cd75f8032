"""Pieces the pages share: tables whose rows open their session, downloads, empty states."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import columns, links
from dashboard.sidebar import current
from loaders.analysis.filters import ALL
from loaders.outputs.exports import json_records, safe_csv

SESSIONS_PAGE = "app_pages/sessions.py"
TABLE_PAGE_SIZE = 500  # rows of a long list (every session, every unfixed failure) sent to the browser at a time


def altair_chart(chart: alt.TopLevelMixin, **kwargs: Any) -> Any:
    """``st.altair_chart`` without Altair's JSON-schema validation of the whole spec on every run.

    Streamlit turns the chart into its spec with ``to_dict()``, which validates it against the
    Vega-Lite schema: 0.2 of the 0.7 s of an Overview run, for charts that never change shape.
    The tests validate every chart dashboard.charts makes (tests/test_charts.py).
    """
    object.__setattr__(chart, "to_dict", functools.partial(type(chart).to_dict, chart, validate=False))
    return st.altair_chart(chart, **kwargs)


def lazy_tabs(labels: list[str], key: str) -> Sequence[Any]:
    """``st.tabs`` whose closed tabs are not drawn: use ``if tab.open:`` around each tab's content.

    Streamlit sends every tab's content, shown or not, and the browser builds the hidden grids and
    charts too (the Unfixed page's hidden list of every failure had 31,000 rows at 100,000
    sessions). Opening a tab reruns the page, which then draws that tab alone.
    """
    return st.tabs(labels, key=key, on_change="rerun")


def keep_value(key: str, default: Any) -> None:
    """Keep the value of the widget ``key`` while a run does not draw it (its lazy tab is closed):
    Streamlit forgets a widget's state once a run leaves it out. Call just before drawing the widget,
    and give the widget no value of its own: its state gives it (``default`` at first)."""
    kept = f"kept_{key}"
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(kept, default)
    st.session_state[kept] = st.session_state[key]


def open_session(session_id: str, attempt: str | None = None) -> None:
    """Go to the Sessions page showing this session's timeline (shareable as ?session=ID), opened at
    ``attempt`` (a log_id: ``&attempt=ID``) when given."""
    params = {links.SESSION_PARAM: session_id, **({links.ATTEMPT_PARAM: attempt} if attempt else {})}
    st.switch_page(SESSIONS_PAGE, query_params=params)


def downloads(frame: pd.DataFrame | Callable[[], pd.DataFrame], name: str, key: str) -> None:
    """CSV (formula cells neutralised) and JSON download buttons for a table, made when clicked.

    ``frame`` may be a function that makes the frame, for a table shown a page at a time.
    """
    whole = frame if callable(frame) else lambda: frame
    left, right = st.columns(2)
    left.download_button(
        "Download CSV", lambda: safe_csv(whole()), f"{name}.csv", "text/csv", key=f"{key}_csv", width="stretch"
    )
    right.download_button(
        "Download JSON",
        lambda: json_records(whole()),
        f"{name}.json",
        "application/json",
        key=f"{key}_json",
        width="stretch",
    )


def empty_message(empty: str | None = None) -> str:
    """What an empty table says: that the filters hide everything, or else what did not happen."""
    if current().flt != ALL:
        return "Nothing matches the filters."
    return empty or "Nothing to show: no attempt in this range."


def table(
    frame: pd.DataFrame,
    key: str,
    column_config: dict | None = None,
    height: int | None = None,
    empty: str | None = None,
    errors_here: str | None = None,
    **selection: Any,
) -> Any:
    """A table with the dashboard's column headers and formats (dashboard.columns), its ids, errors and
    sessions as links (dashboard.links: errors open on the Errors page, or in place on the page at the
    address path ``errors_here``); an empty frame shows ``empty`` (or what the filters explain) instead.
    Returns st.dataframe's result, or None."""
    if frame.empty:
        st.info(empty_message(empty))
        return None
    return drawn_table(shown_table(frame, errors_here), key, column_config, height, **selection)


def shown_table(frame: pd.DataFrame, errors_here: str | None = None) -> tuple[pd.DataFrame, dict, list[str]]:
    """What ``table`` draws of a frame: the frame as shown (durations in words, links), the links' column
    configuration, and the frame's columns; made once for a frame drawn in more than one layout."""
    shown, link_config = links.with_links(columns.readable(frame), errors_here)
    return shown, link_config, list(frame.columns)


def drawn_table(
    prepared: tuple[pd.DataFrame, dict, list[str]],
    key: str,
    column_config: dict | None = None,
    height: int | None = None,
    **selection: Any,
) -> Any:
    """Draw a frame made ready by ``shown_table`` (not empty); returns st.dataframe's result."""
    shown, link_config, names = prepared
    return st.dataframe(
        shown,
        key=key,
        hide_index=True,
        column_config=columns.column_config(names, {**link_config, **(column_config or {})}),
        width="stretch",
        height=height or "auto",
        placeholder=columns.MISSING,
        **selection,
    )


def selected_row(event: Any) -> int | None:
    """The position of the row selected in a table drawn with ``on_select``, or None."""
    rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
    return rows[0] if rows else None


def session_table(
    frame: pd.DataFrame,
    key: str,
    name: str,
    session_column: str = "session_id",
    column_config: dict | None = None,
    height: int | None = None,
    downloadable: bool = True,
    empty: str | None = None,
) -> None:
    """A table whose selected row opens that row's session, with its downloads below."""
    event = table(frame, key, column_config, height, empty, on_select="rerun", selection_mode="single-row")
    if event is None:
        return
    row = selected_row(event)
    if row is not None:
        value = frame.iloc[row][session_column]
        session_id = value[0] if isinstance(value, (list, tuple)) or hasattr(value, "tolist") else value
        attempt = frame.iloc[row]["log_id"] if "log_id" in frame else None  # a row of one attempt opens at it
        if isinstance(session_id, str):
            open_session(session_id, attempt if isinstance(attempt, str) else None)
    st.caption("Click an id to open it, or select a row to open its session.")
    if downloadable:
        downloads(frame, name, key)


def row_page(total: int, key: str) -> int:
    """A page picker for a list of ``total`` rows shown TABLE_PAGE_SIZE at a time (only those reach
    the browser), drawn once there is more than one page; returns the first row's offset."""
    pages = max(1, -(-total // TABLE_PAGE_SIZE))
    if pages == 1:
        return 0
    page = int(st.number_input(f"Page (of {pages:,})", 1, pages, 1, key=key, width=160))
    return (page - 1) * TABLE_PAGE_SIZE


def rows_shown_caption(offset: int, shown: int, total: int, noun: str, order: str) -> None:
    """Say which rows of a paged list are shown ("Sessions 501 to 1,000 of 20,000, newest activity first.")."""
    if total > TABLE_PAGE_SIZE:
        st.caption(f"{noun} {offset + 1:,} to {offset + shown:,} of {total:,}, {order}.")


def no_data_notice() -> bool:
    """Show a notice and return True when the tree holds no attempt record yet."""
    if not current().has_data:
        st.info("No attempt records in this log tree yet. New files appear after *Reload logs*.")
        return True
    return False


def window_notice() -> None:
    """Say where the 7-day window ends when it is not now, and when sessions are inferred."""
    note = current().window_note
    if note:
        st.caption(note)
    if current().sessions_inferred:
        st.caption("Sessions, fixes and fix rates below use inferred sessions (the logs do not link attempts).")
