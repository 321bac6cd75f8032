"""One session's attempts as a waterfall (gaps and run times) and as a download with every text."""

from __future__ import annotations

import pandas as pd

from loaders.analysis.sessions import SessionDetail

WATERFALL_COLUMNS = [
    "attempt_no",
    "status",
    "timestamp",
    "offset_seconds",
    "gap_seconds",
    "run_seconds",
    "error_line",
    "log_id",
]
# What the export takes from each full record, besides the slim columns of the index.
RECORD_TEXTS = ("user_prompt", "error_message", "stderr", "stdout", "code")
EXPORT_SLIM_COLUMNS = [
    "attempt_no",
    "log_id",
    "timestamp",
    "status",
    "category",
    "error_type",
    "error_line",
    "ai_model",
    "image_filename",
    "return_code",
    "execution_time_seconds",
    "output_files",
    "previous_attempt_id",
    "fixed_by_effective",
    "code_hash",
    "tags",
]


def attempt_waterfall(detail: SessionDetail) -> pd.DataFrame:
    """The session's attempts in time order, each placed against the first and the previous one.

    Output columns: attempt_no, status, timestamp, offset_seconds (since the first attempt),
    gap_seconds (since the previous attempt; NaN for the first), run_seconds (the script's wall
    time when logged, successes only in writer trees), error_line, log_id.
    """
    attempts = detail.attempts
    if attempts.empty:
        return pd.DataFrame(columns=WATERFALL_COLUMNS)
    stamps = pd.to_datetime(attempts["timestamp"])
    frame = pd.DataFrame(
        {
            "attempt_no": attempts["attempt_no"].astype(int),
            "status": attempts["status"],
            "timestamp": stamps,
            "offset_seconds": (stamps - stamps.iloc[0]).dt.total_seconds(),
            "gap_seconds": stamps.diff().dt.total_seconds(),
            "run_seconds": pd.to_numeric(attempts["execution_time_seconds"], errors="coerce"),
            "error_line": attempts["error_line"],
            "log_id": attempts["log_id"],
        }
    )
    return frame.reset_index(drop=True)


def session_export(detail: SessionDetail) -> pd.DataFrame:
    """The session's attempts for download: the index's columns plus each record's full texts.

    Output columns: attempt_no, log_id, timestamp, status, category, error_type, error_line,
    ai_model, image_filename, return_code, execution_time_seconds, output_files,
    previous_attempt_id, fixed_by (the success that fixed it, linked or inferred), code_hash, tags,
    user_prompt, error_message, stderr, stdout, code (None where the record could not be read).
    """
    present = [column for column in EXPORT_SLIM_COLUMNS if column in detail.attempts.columns]
    frame = detail.attempts[present].rename(columns={"fixed_by_effective": "fixed_by"}).reset_index(drop=True)
    records = [record or {} for record in detail.records]
    for name in RECORD_TEXTS:
        frame[name] = [_text(record.get(name)) for record in records]
    return frame


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
