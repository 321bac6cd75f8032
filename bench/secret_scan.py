"""What finding secrets adds to a cold load: the ingest's own scan (``records._secret_kinds``) of every
attempt record's prompt, code, error message, stderr and stdout, timed alone in one process.

The texts are read first and not timed; the scan is what ingest adds per record (its parse workers
share it out, so this one-process figure overstates its share of a cold load's wall time).

Usage: python -m bench.secret_scan LOGS_DIR  (prints JSON: seconds, load, records, holding, megabytes)
"""

from __future__ import annotations

import json
import sys
import time

import orjson

from bench.floor import record_files
from loaders.ingest.records import _secret_kinds

TEXT_FIELDS = ("user_prompt", "code", "error_message", "stderr", "stdout")


def record_texts(root: str) -> list[tuple[object, ...]]:
    """The text fields of every attempt record under ``root`` (session files and unreadable files left out)."""
    texts = []
    for path in record_files(root):
        if "/sessions/" in path:
            continue
        try:
            with open(path, "rb") as handle:
                record = orjson.loads(handle.read())
        except (OSError, orjson.JSONDecodeError):
            continue
        if isinstance(record, dict):
            texts.append(tuple(record.get(field) for field in TEXT_FIELDS))
    return texts


if __name__ == "__main__":
    records = record_texts(sys.argv[1])
    size = sum(len(text) for fields in records for text in fields if isinstance(text, str))
    started = time.perf_counter()
    holding = sum(_secret_kinds(*fields) is not None for fields in records)
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "load": seconds, "records": len(records), "holding": holding, "megabytes": size / 1e6}
    print(json.dumps(result))
