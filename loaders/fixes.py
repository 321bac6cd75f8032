"""How failures were fixed: each failure paired with the success that fixed it, and what changed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loaders.filters import ALL, AttemptFilter
from loaders.index import LogIndex

if TYPE_CHECKING:  # pandas is imported by DuckDB's .df() only when a frame is asked for
    import pandas as pd

FIX_PAIRS_SQL = """
SELECT f.log_id AS failure_id, s.log_id AS success_id, f.session_id,
       f.category, coalesce(f.error_category, 'unknown') AS error_category, f.error_type,
       f.error_line, f.fingerprint, f.ai_model, f.timestamp AS failed_at, s.timestamp AS fixed_at,
       epoch(s.timestamp) - epoch(f.timestamp) AS seconds_to_fix,
       list_sort(list_filter(s.imports, lambda m: NOT list_contains(f.imports, m))) AS added_imports,
       list_sort(list_filter(f.imports, lambda m: NOT list_contains(s.imports, m))) AS removed_imports,
       f.code_lines AS failed_code_lines, s.code_lines AS fixed_code_lines,
       f.path AS failure_path, s.path AS success_path
FROM attempts f
JOIN attempts s ON s.log_id = f.fixed_by_effective
WHERE f.status = 'failed' AND {where}
ORDER BY s.timestamp DESC
"""


def fix_pairs(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Every fixed failure with its fixing success (linked by fixed_by, else the next success).

    Output columns: failure_id, success_id, session_id, category, error_category, error_type,
    error_line, fingerprint, ai_model, failed_at, fixed_at, seconds_to_fix, added_imports,
    removed_imports, failed_code_lines, fixed_code_lines, failure_path, success_path.
    """
    where, params = flt.where("f")
    return index.frame(FIX_PAIRS_SQL.format(where=where), params)


def change_summary(pair: Mapping[str, Any]) -> list[str]:
    """Describe one fix in words, as the original's change summary did."""
    words = []
    if len(pair["added_imports"]):
        words.append(f"Added imports: {', '.join(pair['added_imports'])}")
    if len(pair["removed_imports"]):
        words.append(f"Removed imports: {', '.join(pair['removed_imports'])}")
    before, after = pair["failed_code_lines"] or 0, pair["fixed_code_lines"] or 0
    if before and after > before * 1.5:
        words.append("Significant code expansion")
    elif before and after < before * 0.5:
        words.append("Significant code reduction")
    return words or ["code revision"]
