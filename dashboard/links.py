"""Links in the dashboard's tables: every id, error and session is a link that opens it.

A table's ``session_id``, ``log_id`` and ``fixed_by`` cells open the session (at that attempt; so does
the error line of a row of one attempt), and its ``fingerprint`` and ``error`` cells open the error,
each as an address of the app with the sidebar's filters kept. A cell shows its id or its text
(Streamlit's LinkColumn reads it back out of the address); downloads keep the plain values. The page's
history listener (dashboard.history) opens such a link in the same tab, so that Back returns to the
list it came from; Ctrl, Cmd or Shift with the click opens a new tab as a browser does.

The grid sorts, searches and copies a link cell by its address, not by what it shows: an address is
escaped as little as a browser allows (the text and the id it links by stay readable in it, and the id
comes first, after the page), so that sorting by an id and searching for a word of an error still work;
an error column sorts by its fingerprint. The dashboard's own downloads hold the plain values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import streamlit as st
from streamlit import config

from dashboard import columns, url_filters
from loaders.text.patterns import log_pattern

ERRORS_PAGE_PATH = "errors"
SESSIONS_PAGE_PATH = "sessions"
ERROR_PARAM, SESSION_PARAM, ATTEMPT_PARAM = "error", "session", "attempt"
# What a link cell shows, read out of its address (the first group, URL-decoded, by the browser).
_SHOWN_PARAM = r"[?&]{}=([^&#]*)"
SHOWN_FRAGMENT = r"#(.+)$"


def app_path(page: str) -> str:
    """The address path of one of the app's pages (``errors``), under the server's base path."""
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/{page}" if base else f"/{page}"


def filter_params() -> dict[str, list[str]]:
    """The sidebar's filters in the current address, to carry over to a linked page."""
    return {key: st.query_params.get_all(key) for key in url_filters.DEFAULTS if key in st.query_params}


# Escaped in an address: "%" and "+" (read back as an escape and a space), control characters, and in
# a parameter's value what ends it and spaces (a browser drops them at the end of an address). Other
# punctuation and letters, and the spaces of a text after "#", stay as they are.
_IN_FRAGMENT = log_pattern("links._IN_FRAGMENT", r"[%+\x00-\x1f\x7f\u2028\u2029]|\s$")
_IN_VALUE = log_pattern("links._IN_VALUE", r"[%+&#=\s\x00-\x1f\x7f]")


def _escaped(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda match: "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8")), text)


def href(page: str, params: list[tuple[str, str]], shown: str | None = None) -> str:
    """The address of ``page`` with ``params`` in this order (and ``shown`` after a ``#``, for the cell
    to show)."""
    query = "&".join(f"{_escaped(key, _IN_VALUE)}={_escaped(value, _IN_VALUE)}" for key, value in params)
    fragment = f"#{_escaped(shown, _IN_FRAGMENT)}" if shown else ""
    return f"{app_path(page)}?{query}{fragment}"


def _pairs(params: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(key, value) for key, values in params.items() for value in values]


def _link_column(name: str, shown: str) -> dict:
    plain = columns.COLUMNS.get(name, {})
    return st.column_config.LinkColumn(
        plain.get("label") or name, width=plain.get("width"), help=plain.get("help"), display_text=shown
    )


def _texts(values: pd.Series) -> list[str | None]:
    """The column's non-empty strings, None for anything else (a missing or wrong value)."""
    return [value if isinstance(value, str) and value else None for value in values]


def _column(values: list[str | None], index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index, dtype=object)


@dataclass(frozen=True)
class _Addresses:
    """The addresses of one table's links, with what they carry read once from the current address."""

    filters: list[tuple[str, str]]  # the sidebar's filters: carried to every linked page
    errors_page: str  # where errors open
    error_params: list[tuple[str, str]]  # what an error's link carries: the page's own when it opens in place

    @classmethod
    def of_this_page(cls, errors_here: str | None) -> _Addresses:
        """Errors open on the Errors page, or in place on the page at the address path ``errors_here``."""
        filters = _pairs(filter_params())
        if not errors_here:
            return cls(filters, ERRORS_PAGE_PATH, filters)
        own = {key: st.query_params.get_all(key) for key in st.query_params if key != ERROR_PARAM}
        return cls(filters, errors_here, _pairs(own))

    def session(self, session_id: str, attempt: str | None = None, shown: str | None = None) -> str:
        """The Sessions page showing this session, opened at ``attempt`` when given (the attempt first: a
        column of attempt ids sorts by them)."""
        ids = [(ATTEMPT_PARAM, attempt), (SESSION_PARAM, session_id)] if attempt else [(SESSION_PARAM, session_id)]
        return href(SESSIONS_PAGE_PATH, ids + self.filters, shown)

    def attempt(self, session_id: str | None, attempt: str | None, text: str | None = None) -> str | None:
        """An attempt (shown by its id, or by ``text``): its session at the attempt; without its session,
        the Sessions page (the list)."""
        if not (text or attempt):
            return None
        if session_id and attempt:
            return self.session(session_id, attempt, text)
        return href(SESSIONS_PAGE_PATH, [(ATTEMPT_PARAM, attempt or ""), *self.filters], text)

    def error(self, fingerprint: str | None, text: str | None = None) -> str | None:
        """An error (shown by its fingerprint, or by ``text``); without a fingerprint, the list it is on."""
        if fingerprint:
            return href(self.errors_page, [(ERROR_PARAM, fingerprint), *self.error_params], text)
        return href(self.errors_page, self.filters, text) if text else None


def with_links(frame: pd.DataFrame, errors_here: str | None = None) -> tuple[pd.DataFrame, dict]:
    """The frame with its id, error and session cells as links, and the column configuration that shows
    them as their id or text. Errors open on the Errors page, or in place on the page whose address path
    is ``errors_here``. A cell is never left blank: an id a page cannot open links to the page saying so
    (as its row does), an attempt without its session links to the Sessions page, an error without
    its fingerprint to the list."""
    links: dict[str, pd.Series] = {}
    config_of: dict[str, dict] = {}
    addresses = _Addresses.of_this_page(errors_here)
    sessions = _texts(frame["session_id"]) if "session_id" in frame.columns else None
    if sessions is not None and any(sessions):
        links["session_id"] = _column([addresses.session(sid) if sid else None for sid in sessions], frame.index)
        config_of["session_id"] = _link_column("session_id", _SHOWN_PARAM.format(SESSION_PARAM))
        for name in ("log_id", "fixed_by"):
            if name in frame.columns:
                pairs = zip(sessions, _texts(frame[name]), strict=True)
                links[name] = _column([addresses.attempt(sid, aid) for sid, aid in pairs], frame.index)
                config_of[name] = _link_column(name, _SHOWN_PARAM.format(ATTEMPT_PARAM))
        if "log_id" in frame.columns and "fingerprint" not in frame.columns:  # a row of one attempt
            for name in ("error_line", "last_error"):
                if name in frame.columns:
                    rows = zip(sessions, _texts(frame["log_id"]), _texts(frame[name]), strict=True)
                    links[name] = _column([addresses.attempt(sid, aid, text) for sid, aid, text in rows], frame.index)
                    config_of[name] = _link_column(name, SHOWN_FRAGMENT)
    if "fingerprint" in frame.columns:
        prints = _texts(frame["fingerprint"])
        links["fingerprint"] = _column([addresses.error(fp) for fp in prints], frame.index)
        config_of["fingerprint"] = _link_column("fingerprint", _SHOWN_PARAM.format(ERROR_PARAM))
        for name in ("error", "example_error", "latest_error"):
            if name in frame.columns:
                pairs = zip(prints, _texts(frame[name]), strict=True)
                links[name] = _column([addresses.error(fp, text) if text else None for fp, text in pairs], frame.index)
                config_of[name] = _link_column(name, SHOWN_FRAGMENT)
    return (frame.assign(**links) if links else frame), config_of
