"""Fixtrail dashboard entry point: page config, navigation and the shared sidebar.

Run: ``streamlit run dashboard/streamlit_app.py -- --logs-dir DIR`` (or ``$FIXTRAIL_LOGS_DIR``;
default: the repository's demo tree ``logs/``). Sign-in (dashboard.auth) comes first: nothing else is
drawn or read until the visitor may see the logs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard import auth, history, memory, sidebar, url_filters, warm_up
from dashboard.markdown import escape_markdown
from dashboard.settings import resolve_logs_dir
from loaders.ingest.sources import source_location
from loaders.ingest.tree import LogTreeError
from loaders.text.domain import DomainConfigError

st.set_page_config(page_title="Fixtrail", page_icon=":material/explore:", layout="wide")
auth.require_sign_in()  # before any log is read and before the sidebar: stops the run unless allowed

PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
    st.Page("app_pages/errors.py", title="Errors", icon=":material/bug_report:"),
    st.Page("app_pages/unfixed.py", title="Unfixed failures", icon=":material/healing:"),
    st.Page("app_pages/sessions.py", title="Sessions", icon=":material/timeline:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/recommendations.py", title="Recommendations", icon=":material/lightbulb:"),
    st.Page("app_pages/health.py", title="Data health", icon=":material/health_and_safety:"),
]

# The pages that do not apply the sidebar's filters: Compare has its own cohorts; Data health is of the
# whole tree.
PAGES_WITHOUT_FILTERS = ("compare", "health")

navigation = st.navigation(PAGES)
uses_filters = navigation.url_path not in PAGES_WITHOUT_FILTERS
with st.sidebar:
    history.install_navigation()  # first: whatever stops the run below leaves it in place
try:
    # Resolved once here: every part of the dashboard names the tree by this one absolute path (or URL).
    logs_dir = source_location(resolve_logs_dir(sys.argv[1:]))
except (LogTreeError, ValueError) as exc:
    st.title("Fixtrail")
    st.error(f"Cannot open the logs: {escape_markdown(exc)}. Start with `--logs-dir DIR` or set FIXTRAIL_LOGS_DIR.")
    st.stop()

try:
    sidebar.draw(logs_dir, uses_filters)
except DomainConfigError as exc:
    st.error(f"Cannot use the domain configuration: {escape_markdown(exc)}")
    st.stop()
except LogTreeError as exc:  # object storage unreachable: say so; the next rerun tries again
    st.error(f"Cannot read the logs: {escape_markdown(exc)}")
    st.stop()
url_filters.draw_filter_bar(uses_filters)
try:
    navigation.run()
    warm_up.warm_soon(sidebar.current())  # the other pages' results, in the background (dashboard.serve)
finally:
    memory.trim_soon()  # what the run freed goes back to the system, in a background thread
