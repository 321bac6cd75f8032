"""The shared sidebar: reload controls and the filters every page applies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import streamlit as st

from dashboard.data import log_index, query
from loaders.filters import STATUSES, AttemptFilter
from loaders.index import LogIndex
from loaders.metrics import date_range, filter_choices

CONTEXT_KEY = "dashboard_context"
AUTO_REFRESH_SECONDS = 30


@dataclass(frozen=True)
class PageContext:
    """What every page needs: the index, the filter, the end of the 7-day window and why."""

    index: LogIndex
    flt: AttemptFilter
    as_of: datetime
    window_note: str | None
    has_data: bool
    sessions_inferred: bool = False


def current() -> PageContext:
    """The context the sidebar drew for this run."""
    return st.session_state[CONTEXT_KEY]


def _refresh(index: LogIndex, full: bool = False) -> None:
    with st.spinner("Loading new log files…"):
        index.refresh(full=full)


@st.fragment(run_every=AUTO_REFRESH_SECONDS)
def _auto_refresh(index: LogIndex) -> None:
    before = index.state_token
    index.refresh()
    if index.state_token != before:
        st.rerun()


def _reload_controls(index: LogIndex) -> None:
    loaded_key = f"sidebar_loaded_{index.root}"
    if st.sidebar.button("Reload logs", icon="🔄", width="stretch", help="Checks every file, edited ones included"):
        _refresh(index, full=True)
    elif loaded_key not in st.session_state:
        _refresh(index)
    st.session_state[loaded_key] = True
    if st.sidebar.toggle(
        "Auto-refresh", key="sidebar_auto_refresh", help=f"Look for new files every {AUTO_REFRESH_SECONDS} s"
    ):
        with st.sidebar:
            _auto_refresh(index)
    report = index.last_report
    if report:
        st.sidebar.caption(f"{report.files_seen:,} files · last load {report.seconds:.2f} s, {report.parsed:,} read")


def _window(newest: datetime | None, end_chosen: bool, flt: AttemptFilter) -> tuple[datetime, str | None]:
    # "now" at whole minutes (the end of the current one): results are cached per window end, so
    # the window moves once a minute rather than on every rerun.
    now = datetime.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    if end_chosen:
        return flt.as_of(now), None
    if newest is not None and newest < now - timedelta(days=7):
        return newest, f"Nothing in the last 7 days: 7-day numbers end at the newest record ({newest:%Y-%m-%d %H:%M})."
    return now, None


DATES_KEY = "filter_dates"
DATES_CHOSEN_KEY = "filter_dates_chosen"


def _remember_chosen_dates() -> None:
    st.session_state[DATES_CHOSEN_KEY] = True


SESSION_MODE_LABELS = {"auto": "Automatic", "linked": "As logged", "inferred": "Inferred"}


def draw(logs_dir: str) -> PageContext:
    """Draw the sidebar for the tree at ``logs_dir`` and store the PageContext for the pages."""
    mode = (
        st.sidebar.segmented_control(
            "Sessions",
            list(SESSION_MODE_LABELS),
            format_func=SESSION_MODE_LABELS.get,
            default="auto",
            key="filter_session_mode",
            help="Inferred sessions chain attempts of the same prompt, input file and model; automatic infers "
            "them when the logs do not link attempts.",
        )
        or "auto"
    )
    index = log_index(logs_dir, mode)
    _reload_controls(index)
    oldest, newest, count = query(date_range, index)
    choices = query(filter_choices, index)
    sidebar = st.sidebar
    sidebar.subheader("Filters")
    start = end = None
    if count:
        first, last = oldest.date(), newest.date()
        if DATES_CHOSEN_KEY not in st.session_state:
            # Until someone picks dates, the range follows the data (new days included after a reload).
            st.session_state[DATES_KEY] = (first, last)
        picked = sidebar.date_input(
            "Dates",
            min_value=first,
            max_value=max(last, datetime.now().date()),
            key=DATES_KEY,
            on_change=_remember_chosen_dates,
        )
        if isinstance(picked, (tuple, list)) and len(picked) == 2:
            start = picked[0] if picked[0] != first else None
            end = picked[1] if picked[1] != last else None
    flt = AttemptFilter(
        start=start,
        end=end,
        models=tuple(sidebar.multiselect("Model", choices["models"], key="filter_models")),
        statuses=tuple(sidebar.multiselect("Status", STATUSES, key="filter_statuses")),
        categories=tuple(sidebar.multiselect("Error category", choices["categories"], key="filter_categories")),
        tags=tuple(sidebar.multiselect("Tag", choices["tags"], key="filter_tags")),
        text=sidebar.text_input("Search errors and prompts", key="filter_text") or None,
    )
    as_of, note = _window(newest, end is not None, flt)
    sidebar.caption(f"Logs: `{index.root}`")
    if index.sessions_inferred:
        sidebar.info("Sessions are inferred: the logs do not link attempts.", icon="🔗")
    context = PageContext(index, flt, as_of, note, bool(count), index.sessions_inferred)
    st.session_state[CONTEXT_KEY] = context
    return context
