"""Eval sets from real failures: one case per session that failed, for a regression set of the generator.

Each case holds what the generator was asked (prompt, input file, model), the first code that
failed with its key error line and fingerprint, and, when the session was fixed, the code of the
first success after it. Code is read from the attempt records (the index keeps no code).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from loaders.analysis.attempts import read_record
from loaders.analysis.filters import ALL, AttemptFilter
from loaders.store.index import LogIndex
from loaders.text.secrets import mask_secrets

if TYPE_CHECKING:
    import pandas as pd

FAILED_SESSIONS_SQL = """
WITH cohort AS (
    SELECT * FROM attempts
    WHERE session_id IN (SELECT session_id FROM attempts WHERE attempt_no = 1 AND {where})
),
first_failure AS (
    SELECT session_id, min(attempt_no) AS failed_attempt_no,
           arg_min(log_id, attempt_no) AS failed_log_id, arg_min(path, attempt_no) AS failed_path,
           arg_min(timestamp, attempt_no) AS failed_at, arg_min(user_prompt, attempt_no) AS prompt,
           arg_min(image_filename, attempt_no) AS input_file, arg_min(ai_model, attempt_no) AS model,
           arg_min(error_line, attempt_no) AS error_line, arg_min(fingerprint, attempt_no) AS fingerprint,
           arg_min(category, attempt_no) AS category
    FROM cohort WHERE status = 'failed'
    GROUP BY session_id
),
first_fix AS (
    SELECT c.session_id, arg_min(c.log_id, c.attempt_no) AS fixed_log_id, arg_min(c.path, c.attempt_no) AS fixed_path
    FROM cohort c JOIN first_failure f USING (session_id)
    WHERE c.status = 'success' AND c.attempt_no > f.failed_attempt_no
    GROUP BY c.session_id
)
SELECT f.session_id, f.failed_at, f.prompt, f.input_file, f.model, f.error_line, f.fingerprint, f.category,
       f.failed_log_id, f.failed_path, x.fixed_log_id, x.fixed_path
FROM first_failure f LEFT JOIN first_fix x USING (session_id)
ORDER BY f.failed_at, f.session_id
"""


def failed_sessions(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Sessions (by their first attempt's filter match) with at least one failure, oldest failure first.

    Output columns: session_id, failed_at, prompt, input_file, model, error_line, fingerprint,
    category (all of the first failure), failed_log_id, failed_path, fixed_log_id, fixed_path (the
    first success after it; null when the session was never fixed).
    """
    where, params = flt.where()
    return index.frame(FAILED_SESSIONS_SQL.format(where=where), params)


def _code(index: LogIndex, path: Any) -> str | None:
    record = read_record(index, path) if isinstance(path, str) else None
    code = record.get("code") if record else None
    return code if isinstance(code, str) else None


def eval_cases(index: LogIndex, flt: AttemptFilter = ALL) -> list[dict[str, Any]]:
    """One eval case per failed session, oldest first.

    Keys: session_id, prompt, input_file, model, failing_code, error_line, fingerprint, category,
    fixed (bool), fixed_code (null when not fixed), failed_log_id, fixed_log_id, failed_at (ISO).
    """
    cases = []
    for row in failed_sessions(index, flt).itertuples(index=False):
        fixed = isinstance(row.fixed_log_id, str)
        cases.append(
            {
                "session_id": row.session_id,
                "prompt": _text(row.prompt),
                "input_file": _text(row.input_file),
                "model": _text(row.model),
                "failing_code": _code(index, row.failed_path),
                "error_line": _text(row.error_line),
                "fingerprint": _text(row.fingerprint),
                "category": _text(row.category),
                "fixed": fixed,
                "fixed_code": _code(index, row.fixed_path) if fixed else None,
                "failed_log_id": row.failed_log_id,
                "fixed_log_id": row.fixed_log_id if fixed else None,
                "failed_at": row.failed_at.isoformat(timespec="microseconds"),
            }
        )
    return cases


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def evals_jsonl(cases: list[dict[str, Any]]) -> bytes:
    """The cases as JSON Lines (one object per line, UTF-8)."""
    return "".join(json.dumps(mask_secrets(case), ensure_ascii=False) + "\n" for case in cases).encode("utf-8")
