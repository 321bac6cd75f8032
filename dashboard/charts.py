"""Altair charts of the dashboard (frames in, charts out; no data access)."""

from __future__ import annotations

import altair as alt
import pandas as pd

STATUS_COLORS = alt.Scale(domain=["failed", "success"], range=["#dc2626", "#16a34a"])


def success_rate_chart(daily: pd.DataFrame) -> alt.Chart:
    """Daily success rate as points and the rolling 7-day rate as a line over it."""
    base = alt.Chart(daily).encode(x=alt.X("day:T", title=None))
    points = base.mark_circle(size=45, opacity=0.55, color="#64748b").encode(
        y=alt.Y("success_rate:Q", title="Success rate (%)", scale=alt.Scale(domain=[0, 100])),
        tooltip=["day:T", "attempts:Q", alt.Tooltip("success_rate:Q", format=".1f")],
    )
    rolling = base.mark_line(color="#c2410c", strokeWidth=3).encode(
        y="rolling_success_rate_7d:Q",
        tooltip=["day:T", alt.Tooltip("rolling_success_rate_7d:Q", title="7-day rate", format=".1f"), "attempts_7d:Q"],
    )
    return (points + rolling).properties(height=280)


def attempts_chart(daily: pd.DataFrame) -> alt.Chart:
    """Attempts per day stacked by status."""
    long = daily[["day", "failures", "successes"]].melt(id_vars="day", var_name="status", value_name="count")
    long["status"] = long["status"].map({"failures": "failed", "successes": "success"})
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("day:T", title=None),
            y=alt.Y("count:Q", title="Attempts", stack="zero"),
            color=alt.Color("status:N", scale=STATUS_COLORS),
            tooltip=["day:T", "status:N", "count:Q"],
        )
        .properties(height=220)
    )


def category_chart(categories: pd.DataFrame) -> alt.Chart:
    """Failures per category, split into fixed and unfixed."""
    long = categories[["category", "fixed", "unfixed"]].melt(
        id_vars="category", var_name="state", value_name="failures"
    )
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("category:N", sort="-x", title=None),
            x=alt.X("failures:Q", title="Failures", stack="zero"),
            color=alt.Color("state:N", scale=alt.Scale(domain=["fixed", "unfixed"], range=["#16a34a", "#dc2626"])),
            tooltip=["category:N", "state:N", "failures:Q"],
        )
        .properties(height=max(160, 26 * len(categories)))
    )


def categories_over_time_chart(daily: pd.DataFrame) -> alt.Chart:
    """Failures per day stacked by category."""
    return (
        alt.Chart(daily)
        .mark_bar()
        .encode(
            x=alt.X("day:T", title=None),
            y=alt.Y("count:Q", title="Failures"),
            color=alt.Color("category:N", legend=alt.Legend(columns=2)),
            tooltip=["day:T", "category:N", "count:Q"],
        )
        .properties(height=260)
    )


def session_timeline_chart(attempts: pd.DataFrame) -> alt.Chart:
    """A session's attempts on a time axis, coloured by status."""
    frame = attempts[["attempt_no", "timestamp", "status", "log_id"]].copy()
    frame["label"] = frame["attempt_no"].map(lambda n: f"#{n}")
    base = alt.Chart(frame).encode(x=alt.X("timestamp:T", title=None))
    line = base.mark_line(color="#94a3b8")
    dots = base.mark_circle(size=220).encode(
        color=alt.Color("status:N", scale=STATUS_COLORS), tooltip=["label:N", "status:N", "timestamp:T", "log_id:N"]
    )
    labels = base.mark_text(dy=-16).encode(text="label:N")
    return (line + dots + labels).encode(y=alt.value(40)).properties(height=90)
