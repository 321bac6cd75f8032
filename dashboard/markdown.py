"""Log-derived text inside Markdown: shown as written, never as a link, an image or a formula."""

from __future__ import annotations

import re

from loaders.text.patterns import log_pattern

# Every character that Streamlit's Markdown gives a meaning to: CommonMark's punctuation, ``$`` for
# KaTeX, ``:`` for emoji and colour directives, ``~`` for strike-through.
_MARKDOWN_SPECIALS = log_pattern("markdown._MARKDOWN_SPECIALS", r"([\\`*_{}\[\]()<>#+\-.!|$:~&=\"'])")
# GFM turns bare URLs, www. names and e-mail addresses into links after escapes are read: an invisible
# zero-width space breaks each pattern.
_AUTOLINK_STARTS = log_pattern("markdown._AUTOLINK_STARTS", r"(://|(?<![\w.])www\.|@)", re.IGNORECASE)
_ZERO_WIDTH_SPACE = "\u200b"


def escape_markdown(value: object) -> str:
    """``value`` as text that Markdown shows literally: for log-derived text in titles, labels,
    captions, warnings and expanders (links, images and formulas in logs must never render)."""
    text = "" if value is None else str(value).replace("\n", " ").replace("\r", " ")
    text = _AUTOLINK_STARTS.sub(lambda m: m.group(0)[:-1] + _ZERO_WIDTH_SPACE + m.group(0)[-1], text)
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)
