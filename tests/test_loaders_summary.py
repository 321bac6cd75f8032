"""Summary, trends and the meanings of LOG_FORMAT.md on trees with known numbers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from loaders.analysis import metrics
from loaders.analysis.filters import AttemptFilter
from tests.conftest import AS_OF


def test_summary_numbers_of_the_small_tree(small_tree, index_of):
    summary = metrics.summary(index_of(small_tree), as_of=AS_OF)
    assert (summary.total_failures, summary.total_successes) == (4, 3)
    assert (summary.fixed_failures, summary.unfixed_failures) == (3, 1)
    assert summary.overall_success_rate == pytest.approx(300 / 7)
    assert (summary.recent_attempts_7d, summary.recent_success_rate_7d) == (4, 50.0)
    assert (summary.previous_attempts_7d, summary.previous_success_rate_7d) == (3, pytest.approx(100 / 3))
    assert summary.sessions == 4
    assert summary.skipped_files == 0


def test_summary_matches_generated_counts(demo_tree, index_of):
    root, counts = demo_tree
    summary = metrics.summary(index_of(root), as_of=AS_OF)
    assert summary.total_failures == counts.failures
    assert summary.total_successes == counts.successes
    assert summary.fixed_failures == counts.fixed_failures
    assert summary.unfixed_failures == counts.unfixed_failures
    assert summary.sessions == counts.sessions
    recent_days = {(AS_OF.date() - timedelta(days=n)).isoformat() for n in range(7)}
    in_window_by_day = sum(v for day, v in counts.attempts_by_day.items() if day in recent_days)
    # The window is (as_of - 7 days, as_of]: whole days 1-6 back plus today's part and part of day 7.
    assert abs(summary.recent_attempts_7d - in_window_by_day) <= counts.attempts_by_day.get(
        (AS_OF.date() - timedelta(days=7)).isoformat(), 0
    ) + counts.attempts_by_day.get((AS_OF.date() - timedelta(days=6)).isoformat(), 0)


@pytest.mark.parametrize(
    ("flt", "failures", "successes"),
    [
        (AttemptFilter(models=("model-b",)), 0, 1),
        (AttemptFilter(statuses=("failed",)), 4, 0),
        (AttemptFilter(categories=("import_error",)), 1, 0),
        (AttemptFilter(tags=("lib:cv2",)), 1, 0),
        (AttemptFilter(text="CV2"), 1, 0),
        (AttemptFilter(start=AS_OF.date() - timedelta(days=3)), 2, 2),
        (AttemptFilter(end=AS_OF.date() - timedelta(days=5)), 2, 1),
    ],
)
def test_filters_change_the_totals(small_tree, index_of, flt, failures, successes):
    summary = metrics.summary(index_of(small_tree), flt, as_of=AS_OF)
    assert (summary.total_failures, summary.total_successes) == (failures, successes)


def test_window_ends_at_the_end_of_the_chosen_range(small_tree, index_of):
    flt = AttemptFilter(end=AS_OF.date() - timedelta(days=8))
    summary = metrics.summary(index_of(small_tree), flt)
    assert summary.as_of.date() == AS_OF.date() - timedelta(days=8)
    assert (summary.recent_attempts_7d, summary.recent_success_rate_7d) == (3, pytest.approx(100 / 3))


def test_daily_success_rate_fills_every_day_and_rolls_over_seven(small_tree, index_of):
    daily = metrics.daily_success_rate(index_of(small_tree))
    first, last = AS_OF.date() - timedelta(days=10), AS_OF.date() - timedelta(days=1)
    assert [d.date() if hasattr(d, "date") else d for d in (daily["day"].iloc[0], daily["day"].iloc[-1])] == [
        first,
        last,
    ]
    assert len(daily) == 10
    assert daily["attempts"].sum() == 7
    by_day = {(d.date() if hasattr(d, "date") else d): row for d, row in zip(daily["day"], daily.itertuples())}
    assert by_day[first].success_rate == pytest.approx(100 / 3)
    assert by_day[last].attempts_7d == 4  # days -7..-1 hold S4 (2), S2 (1), S3 (1)
    assert by_day[last].rolling_success_rate_7d == pytest.approx(50.0)
    empty_day = by_day[date.fromordinal(first.toordinal() + 1)]
    assert empty_day.attempts == 0


def test_filter_choices_list_the_values_present(small_tree, index_of):
    choices = metrics.filter_choices(index_of(small_tree))
    assert choices["models"] == ["model-a", "model-b"]
    assert "import_error" in choices["categories"] and "name_error" in choices["categories"]
    assert choices["tags"] == ["lib:cv2", "lib:numpy"]
