"""Altair charts of the dashboard (frames in, charts out; no data access).

Every mark has a legend entry, daily data gets daily ticks (fewer when there are many days), counts
get integer ticks, and a categorical colour scale never has more than MAX_CATEGORY_COLORS colours
plus "other".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import altair as alt
import pandas as pd

from dashboard.formatting import duration_text, gap_text
from loaders.analysis.stats import wilson_interval

FAILED, SUCCESS = "#dc2626", "#16a34a"
STATUS_COLORS = alt.Scale(domain=["failed", "success"], range=[FAILED, SUCCESS])
FIXED_COLORS = alt.Scale(domain=["fixed", "unfixed"], range=[SUCCESS, FAILED])
MAX_CATEGORY_COLORS = 8
CATEGORY_PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16"]
OTHER, OTHER_COLOR = "other", "#9ca3af"
MAX_DAY_TICKS = 14
LEGEND = alt.Legend(orient="top", title=None)


def _day_axis(days: pd.Series) -> alt.X:
    """An x axis of calendar days: one tick a day, or every n-th day when there are many."""
    span = (days.max() - days.min()).days + 1 if len(days) else 1
    step = max(1, math.ceil(span / MAX_DAY_TICKS))
    return alt.X(
        "yearmonthdate(day):T",
        title=None,
        axis=alt.Axis(format="%b %d", tickCount={"interval": "day", "step": step}, labelAngle=0),
    )


def _count_axis(title: str, **kwargs: object) -> alt.Y:
    """A y axis of counts: whole numbers only."""
    return alt.Y(title=title, axis=alt.Axis(tickMinStep=1, format="d"), **kwargs)


MARKER_COLOR = "#7c3aed"


def marker_rules(markers: pd.DataFrame | None) -> list[alt.Chart]:
    """Change markers (columns ``label``, ``at``) as labelled vertical rules, for layering on a daily chart."""
    if markers is None or markers.empty:
        return []
    frame = markers[["label", "at"]].assign(at=pd.to_datetime(markers["at"]))
    base = alt.Chart(frame).encode(
        x="at:T",
        tooltip=[alt.Tooltip("label:N", title="Change"), alt.Tooltip("at:T", title="At", format="%Y-%m-%d %H:%M")],
    )
    rule = base.mark_rule(color=MARKER_COLOR, strokeDash=[4, 3], strokeWidth=2)
    text = base.mark_text(align="left", baseline="top", dx=4, dy=2, color=MARKER_COLOR, fontSize=11).encode(
        text="label:N", y=alt.value(0)
    )
    return [rule, text]


def _with_markers(
    chart: alt.LayerChart | alt.Chart, markers: pd.DataFrame | None, days: pd.Series
) -> alt.LayerChart | alt.Chart:
    """The chart with the markers that fall within its days layered on (others would stretch its axis)."""
    if markers is not None and not markers.empty and len(days):
        at = pd.to_datetime(markers["at"])
        first, last = pd.Timestamp(days.min()), pd.Timestamp(days.max()) + pd.Timedelta(days=1)
        markers = markers[(at >= first) & (at < last)]
    layers = marker_rules(markers)
    return alt.layer(chart, *layers) if layers else chart


def first_try_chart(daily: pd.DataFrame, markers: pd.DataFrame | None = None) -> alt.LayerChart:
    """First-try success of the sessions started each day (points) and its rolling 7-day rate (line),
    from loaders.analysis.first_try.daily_first_try; change markers as labelled rules."""
    chart = _daily_and_rolling(
        daily,
        RateSeries(
            "first_try_success_rate", "Daily first-try rate", "First-try success (%)", "sessions", "Sessions started"
        ),
        RateSeries(
            "rolling_first_try_success_rate_7d",
            "Rolling 7-day first-try rate",
            "7-day first-try (%)",
            "sessions_7d",
            "Sessions in 7 days",
        ),
        colours=("#64748b", "#0f766e"),
    )
    return _with_markers(chart, markers, daily["day"]).properties(height=260)


def first_try_by_model_chart(daily: pd.DataFrame, markers: pd.DataFrame | None = None) -> alt.LayerChart:
    """The rolling 7-day first-try success rate per model (daily_first_try(by_model=True)), one line each,
    with each day's sessions and 95 % Wilson interval in its tooltip."""
    models = sorted(daily["ai_model"].unique())
    palette = [CATEGORY_PALETTE[i % len(CATEGORY_PALETTE)] for i in range(len(models))]
    framed = with_wilson_band(daily, "rolling_first_try_success_rate_7d", "sessions_7d")
    lines = (
        alt.Chart(framed)
        .mark_line(strokeWidth=2, point=True)
        .encode(
            x=_day_axis(daily["day"]),
            y=alt.Y(
                "rolling_first_try_success_rate_7d:Q",
                title="7-day first-try success (%)",
                scale=alt.Scale(domain=[0, 100]),
            ),
            color=alt.Color("ai_model:N", scale=alt.Scale(domain=models, range=palette), legend=LEGEND),
            tooltip=[
                alt.Tooltip("yearmonthdate(day):T", title="Day"),
                alt.Tooltip("ai_model:N", title="Model"),
                alt.Tooltip("rolling_first_try_success_rate_7d:Q", title="7-day first-try (%)", format=".1f"),
                alt.Tooltip("sessions_7d:Q", title="Sessions in 7 days"),
                alt.Tooltip("band_low:Q", title="95% CI from (%)", format=".1f"),
                alt.Tooltip("band_high:Q", title="95% CI to (%)", format=".1f"),
            ],
        )
    )
    return _with_markers(lines, markers, daily["day"]).properties(height=260)


def success_rate_chart(daily: pd.DataFrame, markers: pd.DataFrame | None = None) -> alt.Chart:
    """Daily success rate as points and the rolling 7-day rate as a line over it, with a legend;
    change markers (``label``, ``at``) as labelled rules."""
    chart = _daily_and_rolling(
        daily,
        RateSeries("success_rate", "Daily rate", "Success rate (%)", "attempts", "Attempts"),
        RateSeries(
            "rolling_success_rate_7d", "Rolling 7-day rate", "7-day rate (%)", "attempts_7d", "Attempts in 7 days"
        ),
        colours=("#64748b", "#c2410c"),
    )
    return _with_markers(chart, markers, daily["day"]).properties(height=280)


@dataclass(frozen=True)
class RateSeries:
    """One series of a daily rate chart: its column, its legend name, its tooltip title and count."""

    column: str
    name: str
    title: str
    count_column: str
    count_title: str


def _daily_and_rolling(
    daily: pd.DataFrame, points: RateSeries, line: RateSeries, colours: tuple[str, str]
) -> alt.LayerChart:
    """A daily rate as points sized by the day's n and its rolling 7-day rate as a line over it, in percent,
    with a legend; the line breaks where the 7 days hold no attempt (Vega-Lite breaks paths at nulls)."""
    series = alt.Scale(domain=[points.name, line.name], range=list(colours))
    # The data goes on the layer, not on each part: Altair would hash each part's frame (through
    # its text form) to find that they share it, on every run.
    base = alt.Chart().encode(x=_day_axis(daily["day"]))

    def layer(rate: RateSeries, mark: alt.Chart, y: alt.Y | str) -> alt.Chart:
        return mark.encode(
            y=y,
            color=alt.Color("series:N", scale=series, legend=LEGEND),
            tooltip=[
                alt.Tooltip("yearmonthdate(day):T", title="Day"),
                alt.Tooltip(f"{rate.count_column}:Q", title=rate.count_title),
                alt.Tooltip(f"{rate.column}:Q", title=rate.title, format=".1f"),
            ],
        )

    # Each day's point is as big as its n: a day of one attempt is a dot, not a verdict.
    dots = (
        base.transform_calculate(series=f"'{points.name}'")
        .mark_circle(opacity=0.55)
        .encode(size=alt.Size(f"{points.count_column}:Q", legend=None, scale=alt.Scale(range=[12, 260])))
    )
    rolling = base.transform_calculate(series=f"'{line.name}'").mark_line(strokeWidth=3)
    # The rolling rate's 95 % Wilson band: wide where the 7 days hold few attempts.
    band = base.mark_area(opacity=0.15, color=colours[1]).encode(y="band_low:Q", y2="band_high:Q")
    y_axis = alt.Y(f"{points.column}:Q", title=points.title, scale=alt.Scale(domain=[0, 100]))
    return alt.layer(
        band,
        layer(points, dots, y_axis),
        layer(line, rolling, f"{line.column}:Q"),
        data=with_wilson_band(daily, line.column, line.count_column),
    )


def with_wilson_band(daily: pd.DataFrame, rate_column: str, count_column: str) -> pd.DataFrame:
    """The frame with ``band_low`` and ``band_high``: the 95 % Wilson interval (percent) of the rate in
    ``rate_column`` (percent) over ``count_column`` trials; empty (NaN) where there are none."""
    lows, highs = [], []
    for rate, count in zip(daily[rate_column], daily[count_column], strict=True):
        if pd.isna(rate) or pd.isna(count) or count <= 0:
            lows.append(math.nan)
            highs.append(math.nan)
            continue
        low, high = wilson_interval(round(rate * count / 100), int(count))
        lows.append(low * 100)
        highs.append(high * 100)
    return daily.assign(band_low=lows, band_high=highs)


# The name of the click selection of the charts whose marks filter the page (read by url_filters).
PICK = "pick"


def attempts_chart(daily: pd.DataFrame) -> alt.Chart:
    """Attempts per day stacked by status; a click on a day's bar selects its ``day_label``."""
    long = daily[["day", "failures", "successes"]].melt(id_vars="day", var_name="status", value_name="count")
    long["status"] = long["status"].map({"failures": "failed", "successes": "success"})
    long["day_label"] = long["day"].dt.strftime("%Y-%m-%d")  # what a click reports: no time zone to undo
    return (
        alt.Chart(long)
        .mark_bar(cursor="pointer")
        .add_params(alt.selection_point(name=PICK, fields=["day_label"], on="click"))
        .encode(
            x=_day_axis(long["day"]),
            y=_count_axis("Attempts", shorthand="count:Q", stack="zero"),
            color=alt.Color("status:N", scale=STATUS_COLORS, legend=LEGEND),
            tooltip=[
                alt.Tooltip("yearmonthdate(day):T", title="Day"),
                alt.Tooltip("status:N", title="Status"),
                alt.Tooltip("count:Q", title="Attempts"),
            ],
        )
        .properties(height=220)
    )


def category_chart(categories: pd.DataFrame) -> alt.Chart:
    """Failures per category, split into fixed and unfixed; a click on a bar selects its ``category``."""
    long = categories[["category", "fixed", "unfixed"]].melt(
        id_vars="category", var_name="state", value_name="failures"
    )
    return (
        alt.Chart(long)
        .mark_bar(cursor="pointer")
        .add_params(alt.selection_point(name=PICK, fields=["category"], on="click"))
        .encode(
            y=alt.Y("category:N", sort="-x", title=None),
            x=alt.X("failures:Q", title="Failures", stack="zero", axis=alt.Axis(tickMinStep=1, format="d")),
            color=alt.Color("state:N", scale=FIXED_COLORS, legend=LEGEND),
            tooltip=[
                alt.Tooltip("category:N", title="Category"),
                alt.Tooltip("state:N", title="State"),
                alt.Tooltip("failures:Q", title="Failures"),
            ],
        )
        .properties(height=alt.Step(24))
    )


def top_categories(daily: pd.DataFrame, limit: int = MAX_CATEGORY_COLORS) -> tuple[pd.DataFrame, list[str]]:
    """The frame with every category but the ``limit`` largest merged into "other", and the order of
    the categories kept (largest first, "other" last when present)."""
    totals = daily.groupby("category")["count"].sum().sort_values(ascending=False, kind="stable")
    if len(totals) <= limit:
        return daily, list(totals.index)
    kept = list(totals.index[:limit])
    merged = daily.assign(category=daily["category"].where(daily["category"].isin(kept), OTHER))
    return merged.groupby(["day", "category"], as_index=False)["count"].sum(), [*kept, OTHER]


def _hour_axis() -> alt.X:
    """An x axis of hours: each bar is one hour, labelled with its day and time."""
    return alt.X("yearmonthdatehours(day):T", title=None, axis=alt.Axis(format="%b %d %H:00", labelAngle=0))


def categories_over_time_chart(daily: pd.DataFrame, unit: str = "day") -> alt.Chart:
    """Failures per day (or per hour when ``unit`` is "hour") stacked by category (the 8 largest, the
    rest as "other"); from loaders.analysis.errors.error_categories_over_time."""
    frame, order = top_categories(daily)
    frame = frame.assign(category_rank=frame["category"].map({name: rank for rank, name in enumerate(order)}))
    palette = [
        OTHER_COLOR if name == OTHER else CATEGORY_PALETTE[i % len(CATEGORY_PALETTE)] for i, name in enumerate(order)
    ]
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=_hour_axis() if unit == "hour" else _day_axis(frame["day"]),
            y=_count_axis("Failures", shorthand="count:Q", stack="zero"),
            color=alt.Color(
                "category:N",
                scale=alt.Scale(domain=order, range=palette),
                sort=order,
                legend=alt.Legend(orient="top", title=None, columns=5),
            ),
            order=alt.Order("category_rank:Q"),
            tooltip=[
                alt.Tooltip("day:T", title="Hour", format="%Y-%m-%d %H:00")
                if unit == "hour"
                else alt.Tooltip("yearmonthdate(day):T", title="Day"),
                alt.Tooltip("category:N", title="Category"),
                alt.Tooltip("count:Q", title="Failures"),
            ],
        )
        .properties(height=260)
    )


def occurrences_chart(occurrences: pd.DataFrame) -> alt.Chart:
    """One error's failures per day, fixed and unfixed (from error_occurrences' rows)."""
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(occurrences["timestamp"]).dt.normalize(),
            "state": occurrences["is_fixed"].map({True: "fixed", False: "unfixed"}),
        }
    )
    counted = frame.groupby(["day", "state"], as_index=False).size().rename(columns={"size": "count"})
    return (
        alt.Chart(counted)
        .mark_bar()
        .encode(
            x=_day_axis(counted["day"]),
            y=_count_axis("Failures", shorthand="count:Q", stack="zero"),
            color=alt.Color("state:N", scale=FIXED_COLORS, legend=LEGEND),
            tooltip=[
                alt.Tooltip("yearmonthdate(day):T", title="Day"),
                alt.Tooltip("state:N", title="State"),
                alt.Tooltip("count:Q", title="Failures"),
            ],
        )
        .properties(height=180)
    )


def waterfall_label(row: pd.Series) -> str:
    """The waterfall's row label: "#2 failed · +46 s · ran 1.5 s"."""
    parts = [f"#{int(row['attempt_no'])} {row['status']}", gap_text(row["gap_seconds"])]
    run = duration_text(row["run_seconds"])
    if run:
        parts.append(f"ran {run}")
    return " · ".join(part for part in parts if part)


def session_timeline_chart(waterfall: pd.DataFrame) -> alt.Chart:
    """A session's attempts as a waterfall (from loaders.analysis.timeline.attempt_waterfall): one row per
    attempt, a bar from its start as long as it ran, coloured by status, labelled with the gap to the
    previous attempt and its run time."""
    frame = waterfall.copy()
    span = float(frame["offset_seconds"].max() or 0)
    # A bar at least 1% of the span wide, so that attempts with no logged run time still show.
    shortest = max(span * 0.01, 1.0)
    frame["end"] = frame["timestamp"] + pd.to_timedelta(frame["run_seconds"].fillna(0).clip(lower=shortest), unit="s")
    frame["label"] = frame.apply(waterfall_label, axis=1)
    frame["gap"] = frame["gap_seconds"].map(gap_text)
    frame["run"] = frame["run_seconds"].map(duration_text)
    order = list(frame["label"])
    return (
        alt.Chart(frame)
        .mark_bar(cornerRadius=3, height=16)
        .encode(
            x=alt.X("timestamp:T", title=None, axis=alt.Axis(format="%H:%M:%S", labelAngle=0)),
            x2="end:T",
            y=alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=320)),
            color=alt.Color("status:N", scale=STATUS_COLORS, legend=LEGEND),
            tooltip=[
                alt.Tooltip("attempt_no:Q", title="Attempt"),
                alt.Tooltip("status:N", title="Status"),
                alt.Tooltip("timestamp:T", title="Started", format="%Y-%m-%d %H:%M:%S"),
                alt.Tooltip("gap:N", title="After the previous"),
                alt.Tooltip("run:N", title="Run time"),
                alt.Tooltip("log_id:N", title="Attempt ID"),
            ],
        )
        # A step per row: Streamlit draws a band scale with a fixed height as a single row.
        .properties(height=alt.Step(28))
    )
