"""The full report's sections that do not depend on the 7-day window, kept per index version.

Light on imports on purpose: a command that prints only these sections (``analyze_logs.py
recommendations``) finds them stored in the index file without loading pandas; only working
them out imports loaders.outputs.sections.
"""

from __future__ import annotations

from typing import Any

from loaders.analysis.filters import ALL, AttemptFilter
from loaders.store.index import LogIndex
from loaders.store.stored_results import stored_result


def report_sections(index: LogIndex, flt: AttemptFilter = ALL) -> dict[str, Any]:
    """The report's sections that do not depend on the 7-day window, as JSON-safe values:
    the original's sections (loaders.outputs.report.ORIGINAL_SECTIONS), skipped_files, fix_rules and
    silent_successes. Worked out once per index version and stored in the index file.
    """

    def compute() -> dict[str, Any]:
        from loaders.outputs.sections import compute_sections

        return compute_sections(index, flt)

    return stored_result(index, "report.sections", (flt,), compute)
