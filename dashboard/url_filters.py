"""The dashboard's filters as URL query parameters, and the bar that lists the active ones.

The sidebar's widgets are bound to these parameters (Streamlit's ``bind="query-params"``), so a
copied URL reopens the same view: ``?start=2026-11-01&end=2026-11-10&model=gpt-5-mini&tag=ctx:v12``.
Lists take repeated parameters (``tag=a&tag=b``) or one comma-separated value (``tag=a,b``).
"""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard.charts import PICK
from dashboard.markdown import escape_markdown
from loaders.analysis.filters import FIRST_DAY, LAST_DAY

START, END, MODEL, STATUS, CATEGORY, TAG, TEXT, SESSIONS = (
    "start",
    "end",
    "model",
    "status",
    "category",
    "tag",
    "q",
    "sessions",
)
LIST_KEYS = (MODEL, STATUS, CATEGORY, TAG)
LABELS = {
    START: "From",
    END: "To",
    MODEL: "Model",
    STATUS: "Status",
    CATEGORY: "Category",
    TAG: "Tag",
    TEXT: "Search",
    SESSIONS: "Sessions",
}
DEFAULTS: dict[str, object] = {
    START: "",
    END: "",
    MODEL: [],
    STATUS: [],
    CATEGORY: [],
    TAG: [],
    TEXT: "",
    SESSIONS: "auto",
}


def accept_comma_lists() -> None:
    """Read ``tag=a,b`` as ``tag=a&tag=b`` when a session opens a URL (the widgets read repeats only)."""
    for key in LIST_KEYS:
        values = st.query_params.get_all(key)
        if key in st.session_state or not any("," in value for value in values):
            continue
        st.session_state[key] = list(dict.fromkeys(p.strip() for v in values for p in v.split(",") if p.strip()))


def date_field(container: DeltaGenerator, key: str) -> date | None:
    """A date typed as YYYY-MM-DD (bound to the URL parameter ``key``): applied on Enter or when the
    field is left, empty for no limit, and refused with the reason shown (never silently dropped)."""
    text = container.text_input(
        LABELS[key],
        key=key,
        placeholder="YYYY-MM-DD",
        bind="query-params",
        help="Empty: no limit. Applied on Enter or when you leave the field.",
    ).strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        container.warning(f"{LABELS[key]} {escape_markdown(text)} is not a date (YYYY-MM-DD): not applied.")
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        container.warning(f"{LABELS[key]} {day} is outside {FIRST_DAY} to {LAST_DAY}: not applied.")
        return None
    return day


QUICK_RANGES = {"Day": 1, "7 days": 7, "30 days": 30, "90 days": 90, "All": None}


def _set_range(start: date | None, end: date | None) -> None:
    st.session_state[START] = start.isoformat() if start else ""
    st.session_state[END] = end.isoformat() if end else ""


def quick_ranges(container: DeltaGenerator, newest: date | None) -> None:
    """Buttons for the last day, 7, 30 or 90 days (ending at the newest record's day) or all, and a
    calendar to pick a range: each sets From and To (and so the URL)."""
    row = container.container(horizontal=True, gap="small", wrap=True)
    for label, days in QUICK_RANGES.items():
        start = newest - timedelta(days=days - 1) if newest and days else None
        row.button(
            label,
            key=f"quick_range_{label}",
            type="tertiary",
            on_click=_set_range,
            args=(start, newest if days else None),
            help=f"The {label.lower()} ending at the newest record ({newest})" if days and newest else "No date limit",
        )
    with row.popover("", icon=":material/calendar_month:", help="Pick From and To on a calendar"):
        picked = st.date_input(
            "From - To", value=(), key="quick_range_calendar", min_value=FIRST_DAY, max_value=LAST_DAY
        )
        if isinstance(picked, tuple) and len(picked) == 2:
            st.button("Apply", key="quick_range_apply", on_click=_set_range, args=picked)


def active_filters() -> list[tuple[str, str]]:
    """(key, value shown) for every filter that is set, lists one entry per value."""
    active = []
    for key, default in DEFAULTS.items():
        value = st.session_state.get(key, default)
        if value in (None, "", [], default):
            continue
        if isinstance(value, (list, tuple)):
            active += [(key, str(item)) for item in value]
        else:
            active.append((key, str(value)))
    return active


def _remove(key: str, value: str) -> None:
    current = st.session_state.get(key)
    if isinstance(current, (list, tuple)):
        st.session_state[key] = [item for item in current if str(item) != value]
    else:
        st.session_state[key] = DEFAULTS[key]


def _clear_all() -> None:
    for key, default in DEFAULTS.items():
        st.session_state[key] = default


def draw_filter_bar(page_uses_filters: bool = True) -> None:
    """A row above the page: each active filter as a button that removes it, then "Clear filters"
    (nothing on a page that does not use the filters)."""
    active = active_filters() if page_uses_filters else []
    if not active:
        return
    bar = st.container(horizontal=True, gap="small")
    for number, (key, value) in enumerate(active):
        bar.button(
            f"{LABELS[key]}: {escape_markdown(value)}",
            key=f"filterbar_remove_{number}",
            icon=":material/close:",
            help="Remove this filter",
            on_click=_remove,
            args=(key, value),
        )
    bar.button(
        "Clear filters", key="filterbar_clear", icon=":material/filter_alt_off:", type="tertiary", on_click=_clear_all
    )


def _picked(chart_key: str, field: str) -> str | None:
    """The value of ``field`` that a click selected in the chart drawn with ``chart_key``."""
    event = st.session_state.get(chart_key) or {}
    points = (event.get("selection") or {}).get(PICK) or []
    value = points[0].get(field) if points else None
    return value if isinstance(value, str) else None


def filter_to_picked_day(chart_key: str) -> None:
    """``on_select`` callback of a daily chart: the page shows the clicked day only."""
    picked = _picked(chart_key, "day_label")
    if picked:
        st.session_state[START] = st.session_state[END] = date.fromisoformat(picked).isoformat()


def filter_to_picked_category(chart_key: str) -> None:
    """``on_select`` callback of a category chart: the page shows that category only."""
    picked = _picked(chart_key, "category")
    if picked:
        st.session_state[CATEGORY] = [picked]
