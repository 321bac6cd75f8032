"""Tables as downloads: CSV with formula-looking cells neutralised, and JSON records."""

from __future__ import annotations

import csv

import pandas as pd

from loaders.text.patterns import log_pattern
from loaders.text.secrets import mask_secrets

# OWASP's CSV injection advice: a spreadsheet may read a cell, or a line of a cell that a CSV reader
# splits into a row of its own (after a bare \r), as a formula when it starts with one of these.
_FORMULA_START = r"=+\-@\t\0|%"
_RISKY_STARTS = log_pattern(
    "exports._RISKY_STARTS",
    rf"^(?=[{_FORMULA_START}\r\n])"  # the cell's first character (a leading line break too)
    rf"|(?:(?<=\n)|(?<=\r)(?!\n))(?=[{_FORMULA_START}])",  # the first character of every later line
)
# The fraction is optional as a whole: ``\d+\.?\d*`` splits a run of digits every way before failing.
_PLAIN_NUMBER = log_pattern("exports._PLAIN_NUMBER", r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise_cell(value: object) -> object:
    """Prefix each line of a text cell that starts like a formula with a single quote.

    Plain numbers written as text (``-1``, ``+3.5``) and values that are not text are unchanged.
    """
    if not isinstance(value, str) or _PLAIN_NUMBER.fullmatch(value):
        return value
    return _RISKY_STARTS.sub("'", value)


def _text_cells(value: object) -> object:
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        return "; ".join(str(item) for item in items)
    return value


def safe_csv(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV: every text field quoted, secrets masked and formulas neutralised, list cells
    joined with '; ', numbers kept."""
    safe = mask_secrets(frame).copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(lambda v: neutralise_cell(_text_cells(v)))
    return safe.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")


def json_records(frame: pd.DataFrame) -> bytes:
    """The frame as a JSON array of objects (ISO dates, secrets masked), UTF-8."""
    return (
        mask_secrets(frame)
        .to_json(orient="records", date_format="iso", date_unit="us", force_ascii=False, indent=1)
        .encode("utf-8")
    )
