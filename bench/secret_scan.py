"""What finding secrets adds to a cold load: the ingest's own scan (``records.settle_secret_kinds``, over
batches of rows as the parse workers make them) of every attempt record's prompt, code, error message,
stderr and stdout, timed alone in one process.

The texts are read first and not timed; the scan is what ingest adds per record. Its parse workers
share it out: ``seconds`` (and ``load``) is the scan divided by their number, what it adds to a cold
load's wall time; ``one_process_seconds`` the whole scan in one process.

Usage: python -m bench.secret_scan LOGS_DIR  (prints JSON: seconds, one_process_seconds, load, workers,
records, holding, megabytes)
"""

from __future__ import annotations

import json
import sys
import time

import orjson

from bench.floor import record_files
from loaders.ingest.parsing import worker_count
from loaders.ingest.records import SECRET_TEXT, _secret_text, settle_secret_kinds

TEXT_FIELDS = ("user_prompt", "code", "error_message", "stderr", "stdout")
PASSES = 3
BATCH_ROWS = 500  # about what a parse worker's chunk holds on a 20,000-session tree


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
    passes = []
    for _ in range(PASSES):  # the fastest of a few passes: the scan's own cost, not the machine's moods
        rows = [{"secret_kinds": None, SECRET_TEXT: _secret_text(*fields)} for fields in records]
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH_ROWS):
            settle_secret_kinds(rows[start : start + BATCH_ROWS])
        passes.append(time.perf_counter() - started)
    seconds = min(passes)
    holding = sum(row["secret_kinds"] is not None for row in rows)
    workers = worker_count()
    result = {
        "seconds": seconds / workers,  # what the scan adds to a cold load's wall time (bench.run reads it)
        "one_process_seconds": seconds,
        "load": seconds / workers,
        "workers": workers,
        "records": len(records),
        "holding": holding,
        "megabytes": size / 1e6,
    }
    print(json.dumps(result))
