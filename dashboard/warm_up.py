"""Working out the other pages' results before their first visit, in a background thread.

A page's results are worked out on its first visit and kept per index version (dashboard.data).
Under ``dashboard.serve`` (``make run``), once a script run has drawn its page unfiltered, the
results every other page shows when opened unfiltered with its default tab (PAGE_DEFAULTS) are
worked out in one background thread, once per index version and window end: after a restart at
100,000 sessions the Errors page's first visit otherwise waited for 1.4 s of queries. A visitor
asking for a result being worked out waits for that computation (Streamlit computes a cached value
once) instead of starting another. ``streamlit run dashboard/streamlit_app.py`` does not warm up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from dashboard.data import query
from dashboard.widgets import TABLE_PAGE_SIZE
from loaders.analysis.attempts import unfixed_counts
from loaders.analysis.errors import error_categories, error_categories_over_time, library_issues
from loaders.analysis.filters import AttemptFilter
from loaders.analysis.health import attempts_with_secrets, duplicate_log_ids, flagged_records, index_health
from loaders.analysis.recipes import fix_rules
from loaders.analysis.sessions import session_counts, sessions
from loaders.analysis.states import fingerprint_states
from loaders.analysis.triage import current_triage, triaged_groups
from loaders.outputs.context import DEFAULT_EXAMPLES, DEFAULT_MAX_CHARS, ai_context
from loaders.outputs.report_sections import report_sections
from loaders.outputs.sections import prioritised_recommendations, skipped_files

if TYPE_CHECKING:
    from dashboard.sidebar import PageContext

logger = logging.getLogger("fixtrail.warm_up")
Query = tuple[Callable[..., Any], tuple, dict[str, Any]]  # (function, arguments after the index, keywords)

_enabled = threading.Event()
_lock = threading.Lock()  # guards the three below
_last_key: str | None = None  # the (index version, window end) last asked for
_pending: PageContext | None = None  # the latest run's context, while its warm-up waits for the one running
_worker: threading.Thread | None = None  # the one thread warming up, while it runs


def enable() -> None:
    """Warm the other pages up from now on (``dashboard.serve`` calls it once its server answers)."""
    _enabled.set()


def page_defaults(ctx: PageContext) -> list[Query]:
    """The queries (as ``dashboard.data.query`` takes them) the pages make when opened unfiltered with
    their default tab and controls, the costliest page first. The Overview is left out (the run that
    warms the others up has drawn it or comes from it), and so is Compare (its default cohorts
    depend on the change markers)."""
    flt, as_of, decided = ctx.flt, ctx.as_of, ctx.triage_version
    return [
        # Errors (the issue list under its default triage filter)
        (current_triage, (), {"cache_key": decided}),
        (
            triaged_groups,
            (flt,),
            {"as_of": as_of, "unfixed_only": False, "wanted": "unresolved", "cache_key": ctx.triage_version},
        ),
        (error_categories, (flt,), {}),
        (error_categories, (flt,), {"which": "stored"}),
        (error_categories_over_time, (flt,), {}),
        (fingerprint_states, (flt,), {"as_of": as_of, "by_model": True}),
        (library_issues, (flt,), {}),
        # Unfixed failures
        (unfixed_counts, (flt,), {}),
        (
            triaged_groups,
            (flt,),
            {"as_of": as_of, "unfixed_only": True, "wanted": "unresolved", "cache_key": ctx.triage_version},
        ),
        # Sessions
        (session_counts, (flt,), {}),
        (sessions, (flt,), {"limit": TABLE_PAGE_SIZE, "offset": 0}),
        # Recommendations
        (prioritised_recommendations, (flt,), {}),
        (fix_rules, (flt,), {"min_fixes": 1}),
        (
            ai_context,
            (),
            {
                "max_examples": DEFAULT_EXAMPLES,
                "max_chars": DEFAULT_MAX_CHARS,
                "flt": flt,
                "cache_key": ctx.triage_version,
            },
        ),
        (report_sections, (flt,), {}),
        # Data health
        (index_health, (), {}),
        (skipped_files, (), {}),
        (flagged_records, (), {}),
        (duplicate_log_ids, (), {}),
        (attempts_with_secrets, (), {}),
    ]


def warm_soon(ctx: PageContext) -> None:
    """Warm the other pages up for this run's index version and window end, unless asked already, not
    enabled, or the run is filtered (a filter's results are worked out when a page asks for them).

    One thread works at a time: a version that comes while one is warmed up waits for it, and only
    the latest waiting one is warmed (a writer adding files every second must not pile threads up).
    """
    global _last_key, _pending, _worker
    if not _enabled.is_set() or ctx.flt != AttemptFilter() or not ctx.has_data:
        return
    index = ctx.index
    key = f"{index.root}|{index.session_mode}|{index.state_token}|{ctx.as_of.isoformat()}|{ctx.triage_version}"
    with _lock:
        if key == _last_key:
            return
        _last_key, _pending = key, ctx
        if _worker is None:
            _worker = threading.Thread(target=_work, name="fixtrail-warm-up", daemon=True)
            # The run's context lets the cached functions run as they do in a script (no result is drawn).
            add_script_run_ctx(_worker, get_script_run_ctx())
            _worker.start()


def _work() -> None:
    """Warm up the pending contexts, the latest first, until none is left."""
    global _pending, _worker
    while True:
        with _lock:
            ctx, _pending = _pending, None
            if ctx is None:
                _worker = None
                return
        warm(ctx, page_defaults(ctx))


def warm(ctx: PageContext, queries: list[Query]) -> None:
    """Work each query out (or find it worked out already); one that fails is logged and left to its page."""
    for function, args, kwargs in queries:
        try:
            query(function, ctx.index, *args, **kwargs)
        except Exception:  # the page shows the error when visited; never worth stopping the others for
            logger.exception("warming up %s failed", function.__qualname__)


def wait(timeout: float | None = None) -> bool:
    """Wait for the warm-up under way (and those waiting for it) to end; False if still running after ``timeout`` s."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _lock:
            worker = _worker
        if worker is None:
            return True
        worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            return False
