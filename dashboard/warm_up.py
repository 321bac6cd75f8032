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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from dashboard.data import query
from dashboard.widgets import SESSIONS_PAGE_SIZE
from loaders.attempts import unfixed_failures
from loaders.context import DEFAULT_EXAMPLES, DEFAULT_MAX_CHARS, ai_context
from loaders.errors import error_categories, error_categories_daily, error_groups, library_issues
from loaders.filters import AttemptFilter
from loaders.health import duplicate_log_ids, flagged_records, index_health
from loaders.recipes import fix_rules
from loaders.report import prioritised_recommendations, skipped_files
from loaders.report_sections import report_sections
from loaders.sessions import session_counts, sessions
from loaders.states import fingerprint_states

if TYPE_CHECKING:
    from dashboard.sidebar import PageContext

logger = logging.getLogger("fixtrail.warm_up")
Query = tuple[Callable[..., Any], tuple, dict[str, Any]]  # (function, arguments after the index, keywords)

_enabled = threading.Event()
_lock = threading.Lock()
_warmed: set[str] = set()  # the (index version, window end) keys warmed or being warmed
_threads: list[threading.Thread] = []


def enable() -> None:
    """Warm the other pages up from now on (``dashboard.serve`` calls it before the server starts)."""
    _enabled.set()


def page_defaults(ctx: PageContext) -> list[Query]:
    """The queries (as ``dashboard.data.query`` takes them) the pages make when opened unfiltered with
    their default tab and controls, the costliest page first. The Overview is left out (the run that
    warms the others up has drawn it or comes from it), and so is Compare (its default cohorts
    depend on the change markers)."""
    flt, as_of = ctx.flt, ctx.as_of
    return [
        # Errors
        (error_groups, (flt,), {"as_of": as_of}),
        (error_categories, (flt,), {}),
        (error_categories, (flt,), {"which": "stored"}),
        (error_categories_daily, (flt,), {}),
        (fingerprint_states, (flt,), {"as_of": as_of, "by_model": True}),
        (library_issues, (flt,), {}),
        # Unfixed failures
        (unfixed_failures, (flt,), {"as_of": as_of}),
        (error_groups, (flt,), {"as_of": as_of, "unfixed_only": True}),
        # Sessions
        (session_counts, (flt,), {}),
        (sessions, (flt,), {"limit": SESSIONS_PAGE_SIZE, "offset": 0}),
        # Recommendations
        (prioritised_recommendations, (flt,), {}),
        (fix_rules, (flt,), {}),
        (ai_context, (), {"max_examples": DEFAULT_EXAMPLES, "max_chars": DEFAULT_MAX_CHARS, "flt": flt}),
        (report_sections, (flt,), {}),
        # Data health
        (index_health, (), {}),
        (skipped_files, (), {}),
        (flagged_records, (), {}),
        (duplicate_log_ids, (), {}),
    ]


def warm_soon(ctx: PageContext) -> None:
    """Start warming the other pages up for this run's index version, unless done already, not
    enabled, or the run is filtered (a filter's results are worked out when a page asks for them)."""
    if not _enabled.is_set() or ctx.flt != AttemptFilter() or not ctx.has_data:
        return
    key = f"{ctx.index.root}|{ctx.index.session_mode}|{ctx.index.state_token}|{ctx.as_of.isoformat()}"
    with _lock:
        if key in _warmed:
            return
        _warmed.add(key)
        thread = threading.Thread(target=warm, args=(ctx, page_defaults(ctx)), name="fixtrail-warm-up", daemon=True)
        # The run's context lets the cached functions run as they do in a script (no result is drawn).
        add_script_run_ctx(thread, get_script_run_ctx())
        _threads[:] = [t for t in _threads if t.is_alive()] + [thread]
        thread.start()


def warm(ctx: PageContext, queries: list[Query]) -> None:
    """Work each query out (or find it worked out already); one that fails is logged and left to its page."""
    for function, args, kwargs in queries:
        try:
            query(function, ctx.index, *args, **kwargs)
        except Exception:  # the page shows the error when visited; never worth stopping the others for
            logger.exception("warming up %s failed", function.__qualname__)


def wait(timeout: float | None = None) -> bool:
    """Wait for the warm-ups started so far to end; False if one is still running after ``timeout`` s."""
    with _lock:
        running = list(_threads)
    for thread in running:
        thread.join(timeout)
    return not any(thread.is_alive() for thread in running)
