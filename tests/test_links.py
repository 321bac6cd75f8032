"""The addresses of the dashboard's link cells (dashboard.links): what the browser shows of them and
where they lead, for ids and texts with every character an address treats specially."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd
import pytest

from dashboard import links

ODD = ["plain", "a&b=c#d", "sp ace+plus%41", "ünï©ødé", "?x=1&session=evil", "100% done"]


def shown_by_the_browser(address: str, display_text: str) -> str:
    """What Streamlit's LinkColumn shows: the regex's first group, "+" read as a space, URL-decoded."""
    match = re.search(display_text, address)
    return unquote(match.group(1).replace("+", "%20")) if match else address


@pytest.mark.parametrize("value", ODD)
def test_an_odd_session_and_attempt_id_are_shown_and_opened_as_they_are(value):
    frame = pd.DataFrame({"session_id": [value], "log_id": [value], "error_line": [f"Error: {value}\tend"]})
    linked, config = links.with_links(frame)
    for column, param in (("session_id", "session"), ("log_id", "attempt")):
        address = linked[column].iloc[0]
        assert shown_by_the_browser(address, config[column]["type_config"]["display_text"]) == value
        assert parse_qs(urlsplit(address).query)[param] == [value]  # the page gets the id back
    line = linked["error_line"].iloc[0]
    assert shown_by_the_browser(line, config["error_line"]["type_config"]["display_text"]) == f"Error: {value}\tend"
    assert parse_qs(urlsplit(line).query) == {"attempt": [value], "session": [value]}


def test_an_error_text_stays_readable_in_its_address_so_the_grid_search_finds_it():
    frame = pd.DataFrame({"fingerprint": ["0123456789ab"], "error": ["ZeroDivisionError: integer division or modulo"]})
    linked, _ = links.with_links(frame)
    assert linked["error"].iloc[0] == "/errors?error=0123456789ab#ZeroDivisionError: integer division or modulo"
    assert linked["fingerprint"].iloc[0] == "/errors?error=0123456789ab"


def test_ids_a_page_cannot_open_are_not_links():
    long_id = "x" * 200  # longer than an id the writer makes: "Session not found" if it were a link
    frame = pd.DataFrame({"session_id": ["ok", long_id, None], "log_id": ["a/b", "fine", "also"]})
    linked, _ = links.with_links(frame)
    assert linked["session_id"].tolist() == ["/sessions?session=ok", None, None]
    assert linked["log_id"].tolist() == [None, None, None]  # "a/b" is a path; the others lack a session
