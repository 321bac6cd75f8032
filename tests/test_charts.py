"""Every chart of dashboard.charts is valid Vega-Lite, built from the frames the pages give it.

The dashboard draws charts without Altair's schema validation (dashboard.widgets.altair_chart):
this is where they are validated, on a generated tree's real frames.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from dashboard import charts
from loaders.analysis.errors import error_categories, error_categories_daily, error_groups, error_occurrences
from loaders.analysis.first_try import daily_first_try
from loaders.analysis.metrics import daily_success_rate
from loaders.analysis.sessions import session_detail, sessions
from loaders.analysis.timeline import attempt_waterfall
from loaders.store.index import open_index
from tests.conftest import AS_OF


@pytest.fixture(scope="module")
def index(demo_tree, tmp_path_factory):
    with open_index(demo_tree[0], cache_dir=tmp_path_factory.mktemp("cache")) as opened:
        yield opened


MARKERS = pd.DataFrame(
    {"label": ["system_context v12"], "at": [AS_OF - timedelta(days=5)], "created_at": [AS_OF - timedelta(days=5)]}
)


def chart_makers(index):
    """(name, chart) of every chart function, on the frames the pages pass it."""
    daily = daily_success_rate(index)
    longest = sessions(index).sort_values("attempts", ascending=False)["session_id"].iloc[0]
    fingerprint = error_groups(index)["fingerprint"].iloc[0]
    return [
        ("success_rate", charts.success_rate_chart(daily, MARKERS)),
        ("success_rate without markers", charts.success_rate_chart(daily)),
        ("first_try", charts.first_try_chart(daily_first_try(index), MARKERS)),
        ("first_try_by_model", charts.first_try_by_model_chart(daily_first_try(index, by_model=True), MARKERS)),
        ("attempts", charts.attempts_chart(daily)),
        ("category", charts.category_chart(error_categories(index))),
        ("categories_over_time", charts.categories_over_time_chart(error_categories_daily(index))),
        ("occurrences", charts.occurrences_chart(error_occurrences(index, fingerprint))),
        ("session_timeline", charts.session_timeline_chart(attempt_waterfall(session_detail(index, longest)))),
    ]


def test_every_chart_is_valid_vega_lite_with_its_data(index):
    made = chart_makers(index)
    assert len(made) == 9
    for name, chart in made:
        spec = chart.to_dict()  # validates against the Vega-Lite schema; raises when invalid
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/"), name
        rows = sum(len(values) for values in spec.get("datasets", {}).values())
        assert rows > 0, f"{name} has no data"


def test_failures_of_a_short_span_are_bucketed_by_the_hour(tmp_path, index_of):
    """Failures spanning a day or two draw one bar an hour, not one block for the day."""
    from loaders.analysis.errors import error_categories_over_time
    from tests.conftest import write_record

    root = tmp_path / "logs"
    for hours in (1, 1, 3, 7):
        write_record(root, when=AS_OF - timedelta(hours=hours))
    frame, unit = error_categories_over_time(index_of(root))
    assert unit == "hour"
    assert sorted(frame["count"].tolist()) == [1, 1, 2]  # three hours hold failures: 2, 1 and 1
    spec = charts.categories_over_time_chart(frame, unit).to_dict()
    assert spec["encoding"]["x"]["field"] == "day" and spec["encoding"]["x"]["timeUnit"] == "yearmonthdatehours"


def test_failures_over_many_days_stay_daily(index):
    from loaders.analysis.errors import error_categories_over_time

    frame, unit = error_categories_over_time(index)
    assert unit == "day"
    assert frame.equals(error_categories_daily(index))


def test_the_rolling_rate_carries_its_wilson_band(index):
    """The band is the 95 % Wilson interval of the 7 days' rate: around the rate, wider for fewer attempts."""
    daily = daily_success_rate(index)
    banded = charts.with_wilson_band(daily, "rolling_success_rate_7d", "attempts_7d")
    shown = banded.dropna(subset=["rolling_success_rate_7d"])
    assert not shown.empty
    assert (shown["band_low"] <= shown["rolling_success_rate_7d"] + 1e-9).all()
    assert (shown["band_high"] >= shown["rolling_success_rate_7d"] - 1e-9).all()
    width = shown["band_high"] - shown["band_low"]
    fewest, most = shown["attempts_7d"].idxmin(), shown["attempts_7d"].idxmax()
    if shown["attempts_7d"].min() < shown["attempts_7d"].max():
        assert width[fewest] > width[most]
    layers = charts.success_rate_chart(daily).to_dict()["layer"]
    assert any(layer.get("mark", {}).get("type") == "area" for layer in layers)
