"""Compare: did the change help? Two cohorts side by side, each difference with its 95 % interval, in words."""

from __future__ import annotations

import itertools

import pandas as pd
import streamlit as st

from dashboard.data import query
from dashboard.issues import error_table
from dashboard.markdown import escape_markdown
from dashboard.sidebar import current
from dashboard.widgets import no_data_notice
from loaders.analysis.cohorts import parse_cohort
from loaders.analysis.compare import METRICS, MOVEMENTS, compare, describe
from loaders.analysis.metrics import filter_choices
from loaders.analysis.rates import change_text, min_n
from loaders.annotations.markers import read_markers

A_KEY, B_KEY = "compare_a", "compare_b"
MOVE_COLUMNS = {
    "example_error": "example_error",
    "per_100_a": "A per 100 attempts",
    "per_100_b": "B per 100 attempts",
    "change": "B − A per 100",
    "failures_a": "Failures in A",
    "failures_b": "Failures in B",
    "fingerprint": "fingerprint",
}
MOVE_TITLES = {
    "appeared": "Appeared (only in B)",
    "disappeared": "Disappeared (only in A)",
    "moved": "Moved most",
}


def _set_cohorts(a: str, b: str) -> None:
    """Put both cohorts in the text boxes and the URL (``?a=...&b=...``: a comparison can be shared)."""
    st.session_state[A_KEY], st.session_state[B_KEY] = a, b
    _to_url()


def _to_url() -> None:
    """The text boxes' cohorts into the URL (an empty one leaves it)."""
    for param, key in (("a", A_KEY), ("b", B_KEY)):
        value = st.session_state.get(key, "")
        if value:
            st.query_params[param] = value
        elif param in st.query_params:
            del st.query_params[param]


def _suggestions(labels: list[str], models: list[str]) -> list[tuple[str, str, str]]:
    """(button text, A, B) of one-click comparisons: before/after each recent marker, the model pairs."""
    found = [(f"Before/after {label}", f"before={label}", f"after={label}") for label in reversed(labels[-5:])]
    found += [(f"{a} vs {b}", f"model={a}", f"model={b}") for a, b in itertools.pairwise(models)][:3]
    return found


def _builder(side: str, key: str, labels: list[str], choices: dict[str, list[str]]) -> None:
    """A popover that builds a cohort with pickers (model, a marker's before/after, dates, tag)."""
    with st.popover(f"Build cohort {side}", icon=":material/tune:"):
        model = st.selectbox("Model", choices["models"], index=None, key=f"{key}_model")
        marker = st.selectbox("Change marker", labels, index=None, key=f"{key}_marker")
        side_of = st.radio("Of the marker", ["before", "after"], horizontal=True, key=f"{key}_side")
        days = st.date_input("Dates (first attempt of the session)", value=(), key=f"{key}_days")
        tag = st.selectbox("Tag", choices["tags"], index=None, key=f"{key}_tag")
        parts = [
            f"model={model}" if model else "",
            f"{side_of}={marker}" if marker else "",
            f"tag={tag}" if tag else "",
        ]
        if isinstance(days, tuple) and len(days) == 2:
            parts.append(f"start={days[0]:%Y-%m-%d},end={days[1]:%Y-%m-%d}")
        built = ",".join(part for part in parts if part)
        st.code(built or "(pick at least one)", language=None)

        def use() -> None:
            st.session_state[key] = built
            _to_url()

        st.button("Use", key=f"{key}_use", disabled=not built, on_click=use)


def _metric_table(comparison) -> pd.DataFrame:
    rows = []
    for name, diff in comparison.metrics.items():
        rows.append(
            {
                "metric": METRICS[name],
                "a": diff.a,
                "n_a": diff.n_a,
                "b": diff.b,
                "n_b": diff.n_b,
                "delta": diff.delta,
                "ci_low": diff.ci_low,
                "ci_high": diff.ci_high,
                "significant": diff.significant,
            }
        )
    return pd.DataFrame(rows)


ctx = current()
st.title("Compare")
if no_data_notice():
    st.stop()
markers = read_markers(ctx.index.root)
labels = [marker.label for marker in markers]
choices = query(filter_choices, ctx.index)
if A_KEY not in st.session_state or B_KEY not in st.session_state:  # the URL's cohorts, else none yet
    st.session_state[A_KEY], st.session_state[B_KEY] = st.query_params.get("a", ""), st.query_params.get("b", "")

st.caption(
    "A cohort is written as the URL filters: `model=NAME`, `start=YYYY-MM-DD,end=YYYY-MM-DD`, `tag=TAG`, "
    "`category=NAME`, `q=TEXT`, or `before=MARKER` / `after=MARKER`, or built with the pickers. A session "
    "belongs to a cohort when its first attempt matches; the sidebar's filters do not apply here. The "
    "page's address holds both cohorts: copy it to share the comparison."
)
quick = st.container(horizontal=True, gap="small")
for number, (text, a, b) in enumerate(_suggestions(labels, choices["models"])):
    quick.button(
        escape_markdown(text), key=f"compare_quick_{number}", icon=":material/bolt:", on_click=_set_cohorts, args=(a, b)
    )
if not markers:
    st.caption('No change marker yet: `analyze_logs.py mark "system_context v12"` records one.')
left, right = st.columns(2)
with left:
    _builder("A", A_KEY, labels, choices)
with right:
    _builder("B", B_KEY, labels, choices)
text_a = left.text_input("Cohort A", key=A_KEY, placeholder="model=gpt-5-mini", on_change=_to_url)
text_b = right.text_input("Cohort B", key=B_KEY, placeholder="after=system_context v12", on_change=_to_url)
if not text_a.strip() or not text_b.strip():
    st.info(
        "Pick two cohorts to compare: click a suggestion above, build one with the pickers, or type it "
        "(for example A `before=system_context v12` and B `after=system_context v12`).",
        icon=":material/compare_arrows:",
    )
    st.stop()
try:
    flt_a, flt_b = parse_cohort(text_a, markers), parse_cohort(text_b, markers)
except ValueError as exc:
    st.error(escape_markdown(exc))
    st.stop()

comparison = query(compare, ctx.index, flt_a, flt_b)
left.caption(f"{comparison.a.sessions:,} sessions, {comparison.a.attempts:,} attempts")
right.caption(f"{comparison.b.sessions:,} sessions, {comparison.b.attempts:,} attempts")
if comparison.empty_cohorts():
    st.warning(
        f"Cohort {' and '.join(comparison.empty_cohorts())} holds no session: nothing to compare. Check its filter.",
        icon=":material/warning:",
    )
    st.stop()

tiles = st.container(horizontal=True, wrap=True, gap="small")
for name in ("first_try_success_rate", "success_rate", "fix_rate"):
    diff = comparison.metrics[name]
    basis = f"n = {diff.n_a:,} and {diff.n_b:,}"
    if diff.a is None or diff.b is None or min(diff.n_a, diff.n_b) < min_n():  # too few to show as a rate
        tiles.metric(
            f"{METRICS[name]}: A → B", "-", f"too few to compare ({basis})", delta_color="off", delta_arrow="off"
        )
        continue
    tiles.metric(
        f"{METRICS[name]}: A → B",
        f"{diff.a:.0f}% → {diff.b:.0f}%",
        change_text(diff, "A") if diff.significant else f"{change_text(diff)}",
        delta_color="normal" if diff.significant else "off",
        delta_arrow="auto" if diff.significant else "off",
        help=f"{basis} ({'sessions' if name != 'fix_rate' else 'failures'})",
        width="stretch",
    )

for name, diff in comparison.metrics.items():
    sentence = escape_markdown(describe(name, diff))
    if not diff.significant:
        st.info(sentence, icon=":material/help:")
    elif (diff.delta or 0) * (-1 if name == "mean_attempts_to_success" else 1) > 0:  # fewer attempts is better
        st.success(sentence, icon=":material/check_circle:")
    else:
        st.warning(sentence, icon=":material/warning:")

st.dataframe(
    _metric_table(comparison),
    key="compare_metrics",
    hide_index=True,
    column_config={
        "metric": st.column_config.TextColumn("Metric"),
        "a": st.column_config.NumberColumn("A", format="%.2f"),
        "n_a": st.column_config.NumberColumn("n A", format="%d", help="attempts, sessions or failures counted"),
        "b": st.column_config.NumberColumn("B", format="%.2f"),
        "n_b": st.column_config.NumberColumn("n B", format="%d"),
        "delta": st.column_config.NumberColumn("B − A", format="%+.2f", help="points for rates"),
        "ci_low": st.column_config.NumberColumn("95% low", format="%+.2f"),
        "ci_high": st.column_config.NumberColumn("95% high", format="%+.2f"),
        "significant": st.column_config.CheckboxColumn("Significant", help="the interval excludes 0"),
    },
)
st.caption(
    "Rates: Newcombe's interval for the difference of two proportions (from Wilson intervals); "
    "attempts to success: Welch's interval. Success rate counts attempts, first-try success sessions, "
    "fix rate failures."
)

st.subheader("Errors between the cohorts (failures per 100 attempts)")
moves = comparison.fingerprints
for kind in MOVEMENTS:
    st.caption(MOVE_TITLES[kind])
    shown = moves[moves["movement"] == kind].head(10)[list(MOVE_COLUMNS)].round(2)
    error_table(
        shown.rename(columns=MOVE_COLUMNS).reset_index(drop=True),
        key=f"compare_{kind}",
        empty=f"No error {kind}.",
    )
