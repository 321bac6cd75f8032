"""The dashboard's only caching module: one index per log tree, query results per index version."""

from __future__ import annotations

import importlib
from typing import Any

import streamlit as st

from loaders.index import LogIndex

# Query functions the pages may call through ``query``: "module:function" under loaders/.
ALLOWED_QUERIES = frozenset(
    {
        "metrics:summary",
        "metrics:daily_success_rate",
        "metrics:date_range",
        "metrics:filter_choices",
        "errors:error_categories",
        "errors:error_categories_daily",
        "errors:top_errors",
        "errors:error_fingerprints",
        "errors:library_issues",
        "attempts:unfixed_failures",
        "attempts:recent_attempts",
        "sessions:sessions",
        "sessions:session_detail",
        "report:analysis_report",
        "report:skipped_files",
        "context:ai_context",
        "health:index_health",
        "health:flagged_records",
        "health:duplicate_log_ids",
        "states:fingerprint_states",
        "states:what_changed",
        "recipes:fix_rules",
        "sessions:abandoned_sessions",
        "sessions:silent_successes",
    }
)


@st.cache_resource(show_spinner=False)
def log_index(logs_dir: str, session_mode: str = "auto") -> LogIndex:
    """The process-wide index of one log tree in one session mode (its refresh decides what to re-read)."""
    return LogIndex(logs_dir, session_mode=session_mode)


@st.cache_data(ttl=3600, max_entries=256, show_spinner=False)
def _cached_query(name: str, logs_dir: str, mode: str, state: str, args: tuple, kwargs: tuple) -> Any:
    module_name, function_name = name.split(":")
    function = getattr(importlib.import_module(f"loaders.{module_name}"), function_name)
    return function(log_index(logs_dir, mode), *args, **dict(kwargs))


def query(name: str, index: LogIndex, *args: Any, **kwargs: Any) -> Any:
    """Run ``loaders.<module>.<function>`` on the index, cached until the index's version changes."""
    if name not in ALLOWED_QUERIES:
        raise KeyError(f"not a dashboard query: {name}")
    key = tuple(sorted(kwargs.items()))
    return _cached_query(name, str(index.root), index.session_mode, index.state_token, args, key)
