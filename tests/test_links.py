"""The addresses of the dashboard's link cells (dashboard.links): what the browser shows of them and
where they lead, for ids and texts with every character an address treats specially."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd
import pytest

from dashboard import links

ODD = ["plain", "a&b=c#d", "sp ace+plus%41", "ünï©ødé", "?x=1&session=evil", "100% done", " trail ", "//evil.example"]
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def shown_by_the_browser(address: str, display_text: str) -> str:
    """What Streamlit's LinkColumn shows: the regex's first group (flags "us"), "+" read as a space, then
    decodeURIComponent, which fails on a "%" that is not an escape (the cell would show the address)."""
    match = re.search(display_text, address, re.DOTALL)
    assert match, (address, display_text)
    group = match.group(1).replace("+", "%20")
    assert "%" not in _ESCAPE.sub("", group), f"decodeURIComponent would fail on {group!r}"
    return unquote(group, errors="strict")


def opened_by_the_browser(address: str) -> dict[str, list[str]]:
    """The parameters the page gets: a browser drops spaces and controls at the ends of an address."""
    return parse_qs(urlsplit(address.strip(" \t\n\r\x00")).query, keep_blank_values=True)


@pytest.mark.parametrize("value", ODD)
def test_an_odd_session_and_attempt_id_are_shown_and_opened_as_they_are(value):
    text = f"Error: {value}\tend\nline 2\u2028 "
    frame = pd.DataFrame({"session_id": [value], "log_id": [value], "error_line": [text]})
    linked, config = links.with_links(frame)
    for column, param in (("session_id", "session"), ("log_id", "attempt")):
        address = linked[column].iloc[0]
        assert shown_by_the_browser(address, config[column]["type_config"]["display_text"]) == value
        assert opened_by_the_browser(address)[param] == [value]  # the page gets the id back
    line = linked["error_line"].iloc[0]
    shown = shown_by_the_browser(line, config["error_line"]["type_config"]["display_text"])
    assert shown == text
    assert opened_by_the_browser(line) == {"attempt": [value], "session": [value]}


def test_an_error_text_stays_readable_in_its_address_so_the_grid_search_finds_it():
    frame = pd.DataFrame({"fingerprint": ["0123456789ab"], "error": ["ZeroDivisionError: integer division or modulo"]})
    linked, _ = links.with_links(frame)
    assert linked["error"].iloc[0] == "/errors?error=0123456789ab#ZeroDivisionError: integer division or modulo"
    assert linked["fingerprint"].iloc[0] == "/errors?error=0123456789ab"


def test_no_cell_is_left_blank_and_every_link_stays_in_the_app():
    long_id = "x" * 200  # longer than an id the writer makes: its page says "Session not found", as its row's
    frame = pd.DataFrame(
        {"session_id": ["ok", long_id, None], "log_id": ["a/b", "fine", "also"], "error_line": ["E1", "E2", "E3"]}
    )
    linked, config = links.with_links(frame)
    assert linked["session_id"].tolist() == ["/sessions?session=ok", f"/sessions?session={long_id}", None]
    shown = [shown_by_the_browser(a, config["log_id"]["type_config"]["display_text"]) for a in linked["log_id"]]
    assert shown == ["a/b", "fine", "also"]  # the last without its session: the Sessions page
    assert linked["log_id"].iloc[2] == "/sessions?attempt=also"
    errors = pd.DataFrame({"fingerprint": ["//evil.example", "javascript:alert(1)", None], "error": ["x", "y", "z"]})
    assert links.with_links(errors)[0]["error"].iloc[2] == "/errors?#z"  # no fingerprint: the list, text shown
    for address in [*linked.stack().tolist(), *links.with_links(errors)[0].stack().tolist()]:
        if address is None:
            continue
        assert address.startswith(("/sessions?", "/errors?")), address  # never another site or a scheme


def test_the_unfixed_list_keeps_its_own_odd_parameters_in_place(monkeypatch):
    monkeypatch.setattr(links, "filter_params", lambda: {})
    monkeypatch.setattr(links.st, "query_params", _Params({"q": ["a&b#c"], "error": ["old"]}))
    frame = pd.DataFrame({"fingerprint": ["0123456789ab"], "error": ["E: 100%"]})
    address = links.with_links(frame, errors_here="unfixed")[0]["error"].iloc[0]
    assert address == "/unfixed?error=0123456789ab&q=a%26b%23c#E: 100%25"
    assert opened_by_the_browser(address) == {"error": ["0123456789ab"], "q": ["a&b#c"]}


class _Params(dict):
    """The part of st.query_params the links read."""

    def get_all(self, key: str) -> list[str]:
        return list(self.get(key, []))
