"""How failures were fixed: each failure paired with the success that fixed it, and what changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from loaders.analysis.filters import ALL, AttemptFilter
from loaders.store.index import LogIndex

if TYPE_CHECKING:  # pandas is imported by DuckDB's .df() only when a frame is asked for
    import pandas as pd

FIX_SHAPES_SQL = """
SELECT coalesce(f.error_category, 'unknown') AS error_category,
       list_sort(list_filter(s.imports, lambda m: NOT list_contains(f.imports, m))) AS added_imports,
       list_sort(list_filter(f.imports, lambda m: NOT list_contains(s.imports, m))) AS removed_imports,
       f.code_lines AS failed_code_lines, s.code_lines AS fixed_code_lines, count(*) AS fixes
FROM attempts f
JOIN attempts s ON s.log_id = f.fixed_by_effective
WHERE f.status = 'failed' AND {where}
GROUP BY ALL
"""


def fix_shapes(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Every fixed failure paired with the success that fixed it (linked by fixed_by, else the next
    success), counted by what the report tells of a fix: its stored category, the imports the fix
    added and removed, and the two versions' line counts.

    Output columns: error_category, added_imports, removed_imports (sorted lists), failed_code_lines,
    fixed_code_lines, fixes (how many fixes have that shape). In the bench's tree of 100,000
    sessions 111,298 fixes make 48 shapes: a frame of every pair took 290 MiB while the report was
    worked out.
    """
    where, params = flt.where("f")
    return index.frame(FIX_SHAPES_SQL.format(where=where), params)


def size_change(failed_lines: int | None, fixed_lines: int | None) -> str | None:
    """How much the fix grew or cut the code, as the original's change summary said it, or None."""
    before, after = failed_lines or 0, fixed_lines or 0
    if before and after > before * 1.5:
        return "Significant code expansion"
    if before and after < before * 0.5:
        return "Significant code reduction"
    return None


# The original's words for a fix with no import or size change (kept in its fix_strategies).
UNDESCRIBED_FIX = "code revision"


def change_summary(added_imports: Sequence[str], removed_imports: Sequence[str], size: str | None) -> list[str]:
    """Describe one fix in words, as the original's change summary did (``size``: see size_change)."""
    words = []
    if len(added_imports):
        words.append(f"Added imports: {', '.join(added_imports)}")
    if len(removed_imports):
        words.append(f"Removed imports: {', '.join(removed_imports)}")
    if size:
        words.append(size)
    return words or [UNDESCRIBED_FIX]
