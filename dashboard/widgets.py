"""Pieces the pages share: tables whose rows open their session, downloads, empty states."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from dashboard.sidebar import current
from loaders.exports import json_records, safe_csv

SESSIONS_PAGE = "app_pages/sessions.py"
# Every character that Streamlit's Markdown gives a meaning to: CommonMark's punctuation, ``$`` for
# KaTeX, ``:`` for emoji and colour directives, ``~`` for strike-through.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|$:~&=\"'])")
# GFM turns bare URLs, www. names and e-mail addresses into links after escapes are read: an invisible
# zero-width space breaks each pattern.
_AUTOLINK_STARTS = re.compile(r"(://|(?<![\w.])www\.|@)", re.IGNORECASE)
_ZERO_WIDTH_SPACE = "\u200b"


def escape_markdown(value: object) -> str:
    """``value`` as text that Markdown shows literally: for log-derived text in titles, labels,
    captions, warnings and expanders (links, images and formulas in logs must never render)."""
    text = "" if value is None else str(value).replace("\n", " ").replace("\r", " ")
    text = _AUTOLINK_STARTS.sub(lambda m: m.group(0)[:-1] + _ZERO_WIDTH_SPACE + m.group(0)[-1], text)
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def open_session(session_id: str) -> None:
    """Go to the Sessions page showing this session's timeline (shareable as ?session=ID)."""
    st.switch_page(SESSIONS_PAGE, query_params={"session": session_id})


def downloads(frame: pd.DataFrame, name: str, key: str) -> None:
    """CSV (formula cells neutralised) and JSON download buttons for a table, made when clicked."""
    left, right = st.columns(2)
    left.download_button(
        "Download CSV", lambda: safe_csv(frame), f"{name}.csv", "text/csv", key=f"{key}_csv", width="stretch"
    )
    right.download_button(
        "Download JSON",
        lambda: json_records(frame),
        f"{name}.json",
        "application/json",
        key=f"{key}_json",
        width="stretch",
    )


def session_table(
    frame: pd.DataFrame,
    key: str,
    name: str,
    session_column: str = "session_id",
    column_config: dict | None = None,
    height: int | None = None,
    downloadable: bool = True,
) -> None:
    """A table whose selected row opens that row's session, with its downloads below."""
    if frame.empty:
        st.info("Nothing matches the filters.")
        return
    event = st.dataframe(
        frame,
        key=key,
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        column_config=column_config,
        width="stretch",
        height=height or "auto",
    )
    rows = event.selection.rows if event and hasattr(event, "selection") else []
    if rows:
        value = frame.iloc[rows[0]][session_column]
        session_id = value[0] if isinstance(value, (list, tuple)) or hasattr(value, "tolist") else value
        if isinstance(session_id, str):
            open_session(session_id)
    st.caption("Select a row to open its session.")
    if downloadable:
        downloads(frame, name, key)


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
