"""Log analysis, as the original ``LogAnalyzer``: the same methods and keys, computed from the index.

Every section comes from one pass over the persistent index (``loaders``), not from re-reading
the files per section.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from loaders.analysis.metrics import window_of
from loaders.core.files import write_atomically
from loaders.ingest.sources import is_remote
from loaders.outputs.context import ai_context
from loaders.outputs.report import analysis_report
from loaders.store.index import LogIndex, open_index
from loaders.text.secrets import mask_secrets, mask_text


class LogAnalyzer:
    """Analyzes a log tree: ``analyze_all()`` for the report, ``generate_context_for_ai()`` for the model.

    Parameters: ``logs_dir`` (a directory, or an ``s3://bucket/prefix``: then the report is returned,
    not saved); ``as_of`` (end of the 7-day window, default at each call the window every surface uses:
    loaders.analysis.metrics.window_of);
    ``cache_dir`` for the index (default: ``$FIXTRAIL_CACHE_DIR`` or the user's cache directory).
    """

    def __init__(
        self,
        logs_dir: str | os.PathLike[str],
        as_of: datetime | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ):
        self.logs_dir = str(logs_dir) if is_remote(logs_dir) else Path(logs_dir)
        self._saves_report = isinstance(self.logs_dir, Path)
        # The original's attributes: the tree's folders (read through the index, never listed here).
        folders = Path(logs_dir) if self._saves_report else Path(".")
        self.failures_dir = folders / "failures"
        self.successes_dir = folders / "successes"
        self.sessions_dir = folders / "sessions"
        self.analysis_dir = folders / "analysis"
        self.as_of = as_of
        self._cache_dir = cache_dir
        self._index: LogIndex | None = None

    @property
    def index(self) -> LogIndex:
        """The up-to-date index of the tree (refreshed on every access: cheap when nothing changed)."""
        if self._index is None:
            self._index = open_index(self.logs_dir, self._cache_dir)
        else:
            self._index.refresh()
        return self._index

    def analyze_all(self) -> dict[str, Any]:
        """The full analysis (every key of the original, secrets masked); saved as analysis/latest_analysis.json too."""
        analysis = mask_secrets(analysis_report(self.index, as_of=self.as_of or window_of(self.index)))
        if not self._saves_report:  # nothing is written into object storage
            return analysis
        text = json.dumps(analysis, indent=2, ensure_ascii=False, default=str)
        write_atomically(self.analysis_dir / "latest_analysis.json", text.encode("utf-8", "backslashreplace"))
        return analysis

    def generate_context_for_ai(self, max_examples: int = 10) -> str:
        """The text block for the model's prompt ("" when nothing has failed; secrets masked)."""
        return mask_text(ai_context(self.index, max_examples=max_examples))

    def _generate_ai_summary(self) -> str:
        """The AI learning summary text (the report's ``ai_learning_summary``), as the original app calls it."""
        return mask_text(analysis_report(self.index, as_of=self.as_of or window_of(self.index))["ai_learning_summary"])
