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
