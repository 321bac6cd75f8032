"""How failures were fixed: each failure paired with the success that fixed it, and what changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

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


def size_change(failed_lines: int | None, fixed_lines: int | None) -> str | None:
    """How much the fix grew or cut the code, as the original's change summary said it, or None."""
    before, after = failed_lines or 0, fixed_lines or 0
    if before and after > before * 1.5:
        return "Significant code expansion"
    if before and after < before * 0.5:
        return "Significant code reduction"
    return None


def change_summary(added_imports: Sequence[str], removed_imports: Sequence[str], size: str | None) -> list[str]:
    """Describe one fix in words, as the original's change summary did (``size``: see size_change)."""
    words = []
    if len(added_imports):
        words.append(f"Added imports: {', '.join(added_imports)}")
    if len(removed_imports):
        words.append(f"Removed imports: {', '.join(removed_imports)}")
    if size:
        words.append(size)
    return words or ["code revision"]
