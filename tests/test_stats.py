"""loaders.analysis.stats against published values (Newcombe 1998, Statistics in Medicine 17:857-872 and 873-890)."""

from __future__ import annotations

import pytest

from loaders.analysis.stats import mean_difference, rate_difference, wilson_interval


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),  # Newcombe 1998a, Table I
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_published_values(successes, trials, low, high):
    got = wilson_interval(successes, trials)
    assert got == pytest.approx((low, high), abs=5e-5)


# Newcombe 1998b, Table II, method 10 (hybrid score): p1 = a/m, p2 = b/n, interval for p1 - p2.
# rate_difference takes A then B and gives B - A, so A is the second proportion.
@pytest.mark.parametrize(
    ("first", "second", "low", "high"),
    [
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((6, 7), (2, 7), 0.0582, 0.8062),
        ((5, 56), (0, 29), -0.0381, 0.1926),
        ((0, 10), (0, 20), -0.1611, 0.2775),
        ((0, 10), (0, 10), -0.2775, 0.2775),
        ((10, 10), (0, 20), 0.6791, 1.0000),
        ((10, 10), (0, 10), 0.6075, 1.0000),
    ],
)
def test_rate_difference_matches_newcombe_method_10(first, second, low, high):
    diff = rate_difference(second[0], second[1], first[0], first[1])
    assert diff.delta == pytest.approx((first[0] / first[1] - second[0] / second[1]) * 100)
    assert (diff.ci_low / 100, diff.ci_high / 100) == pytest.approx((low, high), abs=5e-5)
    assert diff.significant == (low > 0 or high < 0)


def test_rate_difference_json_shape_and_empty_cohort():
    diff = rate_difference(48, 80, 56, 70)
    assert diff.as_dict() == {
        "a": 60.0,
        "b": 80.0,
        "n_a": 80,
        "n_b": 70,
        "delta": pytest.approx(20.0),
        "ci_low": pytest.approx(5.24, abs=0.005),
        "ci_high": pytest.approx(33.39, abs=0.005),
        "significant": True,
    }
    empty = rate_difference(0, 0, 3, 4)
    assert (empty.a, empty.b, empty.delta, empty.significant) == (None, 75.0, None, False)


def test_mean_difference_is_welch():
    # means 2 and 4, variances 1 and 1, n = 3 each: se = sqrt(2/3), 95 % half width 1.96 * 0.8165
    diff = mean_difference([1.0, 2.0, 3.0], [3.0, 4.0, 5.0])
    assert (diff.a, diff.b, diff.delta) == (2.0, 4.0, 2.0)
    assert diff.ci_low == pytest.approx(2 - 1.959964 * (2 / 3) ** 0.5, abs=1e-5)
    assert diff.significant is True
    assert mean_difference([1.0], [2.0, 3.0]).significant is False
