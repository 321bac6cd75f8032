"""The dashboard's only caching module: one index per log tree, query results per index version."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from loaders.ingest.sources import is_remote
from loaders.store.index import LogIndex
from loaders.text.secrets import mask_secrets

Result = TypeVar("Result")
# How many times each loaders function was worked out in this process (a result not found cached).
computed: Counter[str] = Counter()


@st.cache_resource(show_spinner=False)
def _index_of(root: str, session_mode: str) -> LogIndex:
    return LogIndex(root, session_mode=session_mode)


def log_index(logs_dir: str | Path, session_mode: str = "auto") -> LogIndex:
    """The process-wide index of one log tree in one session mode (its refresh decides what to re-read).

    The path is resolved first, so ``logs`` and ``/abs/path/logs`` share one index: a relative
    ``--logs-dir`` (as ``make run`` passes it) must not give the pages an index nobody refreshes.
    """
    location = str(logs_dir)  # an s3:// prefix is a name already
    return _index_of(location if is_remote(location) else str(Path(location).expanduser().resolve()), session_mode)


@st.cache_data(ttl=3600, max_entries=256, show_spinner=False)
def _cached_query(
    _function: Callable[..., Any], _index: LogIndex, name: str, state: str, args: tuple, kwargs: tuple
) -> Any:
    # ``name`` and ``state`` (root, mode and loaded version) are the key; the function and the
    # index themselves are not hashed (leading underscore).
    computed[name] += 1
    return mask_secrets(_function(_index, *args, **dict(kwargs)))  # what a page shows never holds a secret


def query(function: Callable[..., Result], index: LogIndex, *args: Any, cache_key: str = "", **kwargs: Any) -> Result:
    """Run the loaders' ``function(index, *args, **kwargs)``, cached until the index's contents change
    (or ``cache_key``: what else the result depends on, such as the version of the team's decisions)."""
    name = f"{function.__module__}.{function.__qualname__}"
    state = f"{index.root}|{index.session_mode}|{index.state_token}|{cache_key}"
    return _cached_query(function, index, name, state, args, tuple(sorted(kwargs.items())))
