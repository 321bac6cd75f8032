"""Rows of a query's frame (or an Arrow batch) as plain Python values, for the few loops that must go row by row.

DuckDB hands lists and text to pandas as Arrow-backed columns; reading them one cell at a time
(``itertuples``, ``zip`` over columns) converts each cell on its own and cost seconds for the fix
recipes at 20,000 sessions. ``Series.tolist()`` converts a whole column at once.
"""

from __future__ import annotations

import json
from collections import namedtuple
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def plain_rows(frame: pd.DataFrame, columns: list[str] | None = None) -> list[Any]:
    """The frame's rows as named tuples of plain Python values (lists, str, int, Timestamp)."""
    names = list(columns or frame.columns)
    if not len(frame):
        return []
    return _named_rows(names, [frame[name].tolist() for name in names])


def plain_batch_rows(batch: pa.RecordBatch, columns: list[str]) -> list[Any]:
    """An Arrow record batch's rows as named tuples of plain Python values (lists, str, bool, datetime)."""
    return _named_rows(columns, [batch.column(name).to_pylist() for name in columns])


def _named_rows(names: list[str], values: list[list[Any]]) -> list[Any]:
    """Rows of named tuples (fields ``names``) from one list of values per field."""
    row = namedtuple("Row", names)  # fields are the columns asked for, known only here
    return [row(*fields) for fields in zip(*values, strict=True)]


def text_or_empty(value: Any) -> str:
    """A text cell as text: a missing value (None, or pandas' NaN in a string column) is ``""``."""
    return value if isinstance(value, str) else ""


def text_or_none(value: Any) -> str | None:
    """A text cell as text or None (pandas gives NaN, not None, for a null in a string column)."""
    return value if isinstance(value, str) else None


def list_or_empty(value: Any) -> list[Any]:
    """A list cell as a list: a missing value (None, or NaN) is ``[]``; an Arrow or NumPy array becomes a list."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return list(value.tolist()) if hasattr(value, "tolist") and not isinstance(value, float) else []


def frame_records(frame: pd.DataFrame) -> list[dict]:
    """The frame as JSON-safe dicts (ISO dates, lists as lists), for JSON documents that embed it."""
    return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="us"))
