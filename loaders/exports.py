"""Tables as downloads: CSV with formula-looking cells neutralised, and JSON records."""

from __future__ import annotations

import json

import pandas as pd

# OWASP's CSV injection advice: a cell that a spreadsheet could read as a formula starts with one of these.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise_cell(value: object) -> object:
    """Prefix a text cell that starts like a formula with a single quote; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _text_cells(value: object) -> object:
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        return "; ".join(str(item) for item in items)
    return value


def safe_csv(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV; list cells joined with '; ', text cells neutralised, numbers kept."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(lambda v: neutralise_cell(_text_cells(v)))
    return safe.to_csv(index=False).encode("utf-8")


def frame_records(frame: pd.DataFrame) -> list[dict]:
    """The frame as JSON-safe dicts (ISO dates, lists as lists), for JSON documents that embed it."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def json_records(frame: pd.DataFrame) -> bytes:
    """The frame as a JSON array of objects (ISO dates), UTF-8."""
    return frame.to_json(orient="records", date_format="iso", force_ascii=False, indent=1).encode("utf-8")
