"""The loop a user could write in five minutes: json.loads over every attempt file into pandas, and
over every session file (what a load must read too: the session files link the attempts).

Usage: python -m bench.baseline LOGS_DIR  (prints the load loop's seconds on stdout)
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

SLIM = (
    "log_id",
    "session_id",
    "timestamp",
    "status",
    "code_hash",
    "user_prompt",
    "ai_model",
    "image_filename",
    "error_message",
    "error_type",
    "return_code",
    "output_files",
    "execution_time_seconds",
    "previous_attempt_id",
    "fixed_by",
    "error_category",
    "tags",
)


def _objects(paths: Iterable[Path]) -> Iterator[tuple[Path, dict]]:
    """Each file that parses as a JSON object, with its path."""
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            yield path, data


def load(root: Path) -> pd.DataFrame:
    """Every attempt file's slim columns in one frame, skipping files that do not parse; the session
    files are read and parsed too (their count kept in ``attrs``)."""
    sessions = {path.stem: data.get("attempts") for path, data in _objects(root.glob("sessions/*.json"))}
    attempts = _objects(path for folder in ("failures", "successes") for path in root.glob(f"{folder}/*/*.json"))
    frame = pd.DataFrame([{key: data.get(key) for key in SLIM} for _, data in attempts], columns=list(SLIM))
    frame.attrs["session_files"] = len(sessions)
    return frame


if __name__ == "__main__":
    started = time.perf_counter()
    frame = load(Path(sys.argv[1]))
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "rows": len(frame)}))
