"""The shared sidebar: reload controls and the filters every page applies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import streamlit as st

from dashboard import url_filters
from dashboard.data import log_index, query
from dashboard.markdown import escape_markdown
from loaders.analysis.filters import STATUSES, AttemptFilter
from loaders.analysis.metrics import date_range, filter_choices, window_of
from loaders.annotations.triage import triage_version
from loaders.store.cache import IndexBusyError
from loaders.store.index import LogIndex

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
    window_label: str = "7 days"  # what the 7-day tiles say of their window
    triage_version: str = ""  # changes when the team records a decision (a cache key of the pages that show them)


def current() -> PageContext:
    """The context the sidebar drew for this run."""
    return st.session_state[CONTEXT_KEY]


# Why a load can fail for a while (another process holds the index, a full cache disk): said, not raised.
LOAD_FAILURES = (IndexBusyError, OSError, duckdb.Error)


def _load_failure_text(index: LogIndex, exc: BaseException) -> str:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"Cannot load the logs into the index in {index.cache_dir}: {reason}"


def _refresh(index: LogIndex, full: bool = False) -> None:
    with st.spinner("Loading new log files…"):
        try:
            index.refresh(full=full)
        except LOAD_FAILURES as exc:
            st.error(escape_markdown(_load_failure_text(index, exc)) + ". *Reload logs* tries again.")
            if index.version < 0:
                st.stop()  # nothing was ever loaded: no page can answer


@st.fragment(run_every=AUTO_REFRESH_SECONDS)
def _auto_refresh(index: LogIndex) -> None:
    before = index.state_token
    try:
        index.refresh()
    except LOAD_FAILURES as exc:
        st.warning(escape_markdown(_load_failure_text(index, exc)), icon=":material/warning:")
        return
    if index.state_token != before:
        st.rerun()


def _reload_controls(index: LogIndex) -> None:
    loaded_key = f"sidebar_loaded_{index.root}"
    if st.sidebar.button(
        "Reload logs", icon=":material/refresh:", width="stretch", help="Checks every file, edited ones included"
    ):
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


def _window(index: LogIndex, flt: AttemptFilter) -> tuple[datetime, str | None, str]:
    """The end of the 7-day window (the rule every surface uses: loaders.analysis.metrics.window_of), a
    note when it is not now, and the tiles' label for it."""
    # "now" is the end of the current hour: results are cached per index version and window end, so
    # the full report is worked out again when logs change or once an hour, not on every rerun.
    now = datetime.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    window = query(window_of, index, flt, now)
    if window.rule == "now":
        return window.end, None, "7 days"
    return window.end, window.note(), f"7 days to {window.end:%Y-%m-%d}"


SESSION_MODE_LABELS = {"auto": "Automatic", "linked": "As logged", "inferred": "Inferred"}


FILTERS_BOX = "sidebar_filters"
# Kept in the page but not shown: a bound widget left out of a run would drop its URL parameter, and the
# filters would be gone on the next page that uses them.
_FILTERS_HIDDEN = f"<style>.st-key-{FILTERS_BOX} {{ display: none; }}</style>"


def draw(logs_dir: str, page_uses_filters: bool = True) -> PageContext:
    """Draw the sidebar for the tree at ``logs_dir`` and store the PageContext for the pages.

    Every filter is bound to its URL query parameter (url_filters.FILTER_KEYS): a copied URL
    reopens the same view, and the values survive a page switch and F5. A page that does not use the
    filters (``page_uses_filters`` false: Compare, Data health) gets a line saying so instead; the filters
    are kept for the pages that do.
    """
    url_filters.accept_comma_lists()
    mode = (
        st.sidebar.segmented_control(
            "Sessions",
            list(SESSION_MODE_LABELS),
            format_func=SESSION_MODE_LABELS.get,
            default="auto",
            key=url_filters.SESSIONS,
            bind="query-params",
            help="Inferred sessions chain attempts of the same prompt, input file and model; automatic infers "
            "them when the logs do not link attempts.",
        )
        or "auto"
    )
    try:
        index = log_index(logs_dir, mode)
    except LOAD_FAILURES as exc:
        st.error(escape_markdown(f"Cannot keep an index of the logs: {exc}"))
        st.stop()
    _reload_controls(index)
    _, newest, count = query(date_range, index)
    choices = query(filter_choices, index)
    if not page_uses_filters:
        st.html(_FILTERS_HIDDEN)
        st.sidebar.caption("This page does not use the filters; the other pages keep them.")
    sidebar = st.sidebar.container(key=FILTERS_BOX)
    sidebar.subheader("Filters")
    url_filters.quick_ranges(sidebar, newest.date() if newest else None)
    start = url_filters.date_field(sidebar, url_filters.START)
    end = url_filters.date_field(sidebar, url_filters.END)
    if start and end and start > end:
        sidebar.warning(f"From ({start}) is after To ({end}): no attempt can match.")
    flt = AttemptFilter(
        start=start,
        end=end,
        models=tuple(sidebar.multiselect("Model", choices["models"], key=url_filters.MODEL, bind="query-params")),
        statuses=tuple(sidebar.multiselect("Status", STATUSES, key=url_filters.STATUS, bind="query-params")),
        categories=tuple(
            sidebar.multiselect("Error category", choices["categories"], key=url_filters.CATEGORY, bind="query-params")
        ),
        tags=tuple(sidebar.multiselect("Tag", choices["tags"], key=url_filters.TAG, bind="query-params")),
        text=sidebar.text_input("Search errors and prompts", key=url_filters.TEXT, bind="query-params") or None,
    )
    as_of, note, window_label = _window(index, flt)
    sidebar.caption(f"Logs: {escape_markdown(index.root)}")
    if index.sessions_inferred:
        reason = "you chose inferred sessions" if mode == "inferred" else "the logs do not link attempts"
        sidebar.info(f"Sessions are inferred: {reason}.", icon=":material/link:")
    decided = triage_version(index.root)
    context = PageContext(index, flt, as_of, note, bool(count), index.sessions_inferred, window_label, decided)
    st.session_state[CONTEXT_KEY] = context
    return context
