"""Property-based tests: record coercion never fails or lets a wrong type through; ids never escape."""

from __future__ import annotations

import re
import string
import uuid
from datetime import datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from loaders.analysis.attempts import is_valid_id
from loaders.ingest.records import ATTEMPT_COLUMNS, SECRET_TEXT, FileStamp, attempt_row, rows_to_json
from loaders.text import error_text

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = [name for name, _ in ATTEMPT_COLUMNS] + ["code", "stderr", "stdout", "status", "timestamp"]
RECORDS = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), JSON_VALUES, max_size=14)
STAMP = FileStamp("/logs/failures/2025-12-20/abc.json", 10, 1_700_000_000_000_000_000)
INT64 = range(-(2**63), 2**63)


@settings(max_examples=200, deadline=None)
@given(record=RECORDS, folder=st.sampled_from(["failures", "successes"]))
def test_any_object_becomes_a_row_of_the_declared_types(record, folder):
    row = attempt_row(record, STAMP, folder)
    assert isinstance(row["log_id"], str) and row["log_id"]
    assert isinstance(row["session_id"], str) and row["session_id"]
    assert isinstance(row["timestamp"], datetime)
    assert row["status"] in ("failed", "success")
    assert row["return_code"] is None or row["return_code"] in INT64
    assert row["execution_time_seconds"] is None or isinstance(row["execution_time_seconds"], float)
    for name in ("tags", "output_files", "imports", "flags"):
        assert row[name] is None or all(isinstance(item, str) for item in row[name])
    for name, kind in ATTEMPT_COLUMNS:
        if kind == "VARCHAR":
            assert row[name] is None or isinstance(row[name], str), name
    # the texts the batch's secret scan reads, until rows_to_json settles secret_kinds and drops them
    assert set(row) == {name for name, _ in ATTEMPT_COLUMNS} | {SECRET_TEXT}
    written = orjson.loads(rows_to_json([row]))  # what the index ingests always serialises
    assert set(written[0]) == {name for name, _ in ATTEMPT_COLUMNS}


@settings(max_examples=500, deadline=None)
@given(value=st.text(max_size=200))
def test_a_valid_id_is_never_a_path(value):
    if is_valid_id(value):
        assert "/" not in value and "\\" not in value and "\x00" not in value
        assert value not in (".", "..") and not any(ord(char) < 32 for char in value)
        assert 0 < len(value.encode("utf-8")) <= 128


@given(value=st.uuids())
def test_writer_ids_are_valid(value: uuid.UUID):
    assert is_valid_id(str(value))


@given(value=st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=64))
def test_plain_tokens_are_valid(value):
    assert is_valid_id(value)


ERROR_LINE_TEXT = st.text(alphabet=string.printable + "éß\u00a0\u2003", max_size=80) | st.from_regex(
    r"[A-Z]\w+Error: .{0,20}('[\w./]{0,8}'|0x[0-9a-f]{1,6}|line \d{1,4}|/[a-z]{1,5}/[a-z.]{1,8}| \d+\.\d+).{0,20}",
    fullmatch=True,
)


@settings(max_examples=300, deadline=None)
@given(line=ERROR_LINE_TEXT)
def test_signature_shortcuts_never_change_a_signature(line):
    """error_signature skips masks that cannot match; the result equals applying every mask in turn."""
    expected = line.strip()
    for _, pattern, replacement in error_text._SIGNATURE_MASKS:
        expected = pattern.sub(replacement, expected)
    expected = re.sub(r"\s+", " ", expected).strip()
    assert error_text.error_signature(line) == (expected if line else None)
