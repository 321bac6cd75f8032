"""Compare two cohorts: a real difference is called significant, a cohort against itself or a random
split is not; fingerprints that appeared and disappeared; cohort texts; CLI and API."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.server import create_app
from loaders.analysis.cohorts import parse_cohort
from loaders.analysis.compare import compare, describe
from loaders.analysis.filters import AttemptFilter
from loaders.analysis.stats import Difference, mean_difference
from loaders.annotations.markers import Marker
from loaders.store.index import LogIndex
from tests.conftest import AS_OF, write_sessions
from tests.test_cli import run_cli

START = AS_OF - timedelta(days=20)


@pytest.fixture(scope="module")
def cohort_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 sessions of model-a (160 succeed at first try, failures NameError, all fixed) and 200 of
    model-b (80 at first try, failures KeyError, all fixed), one an hour from START."""
    root = tmp_path_factory.mktemp("cohorts") / "logs"
    write_sessions(root, "model-a", 200, 160, START, error=("NameError", "name 'x' is not defined"), seed=1)
    write_sessions(root, "model-b", 200, 80, START, error=("KeyError", "'band'"), seed=2)
    return root


@pytest.fixture(scope="module")
def cohort_index(cohort_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> LogIndex:
    index = LogIndex(cohort_tree, tmp_path_factory.mktemp("cohort-cache"))
    index.refresh()
    return index


def test_a_real_difference_is_significant(cohort_index):
    result = compare(cohort_index, AttemptFilter(models=("model-a",)), AttemptFilter(models=("model-b",)))
    first = result.metrics["first_try_success_rate"]
    assert (first.a, first.b, first.n_a, first.n_b) == (80.0, 40.0, 200, 200)
    assert first.delta == pytest.approx(-40.0)
    assert first.significant is True and first.ci_high < -30 and first.ci_low > -50
    success = result.metrics["success_rate"]
    # A: 160 + 40 fixes = 200 successes of 240 attempts; B: 80 + 120 = 200 of 320
    assert (success.n_a, success.n_b) == (240, 320)
    assert success.a == pytest.approx(200 / 240 * 100) and success.b == pytest.approx(62.5)
    assert success.significant is True
    fix = result.metrics["fix_rate"]
    assert (fix.a, fix.b, fix.n_a, fix.n_b, fix.significant) == (100.0, 100.0, 40, 120, False)
    attempts = result.metrics["mean_attempts_to_success"]
    assert attempts.a == pytest.approx(1.2) and attempts.b == pytest.approx(1.6) and attempts.significant
    # The query's count, mean and variance give Welch's interval of the values themselves
    # (A: 160 sessions at 1 attempt and 40 at 2; B: 80 at 1 and 120 at 2).
    welch = mean_difference([1.0] * 160 + [2.0] * 40, [1.0] * 80 + [2.0] * 120)
    assert (attempts.n_a, attempts.n_b) == (welch.n_a, welch.n_b) == (200, 200)
    assert (attempts.ci_low, attempts.ci_high) == (pytest.approx(welch.ci_low), pytest.approx(welch.ci_high))
    assert describe("first_try_success_rate", first) == (
        f"First-try success fell from 80 % to 40 % (-40 points, 95 % interval {round(first.ci_low):+d} "
        f"to {round(first.ci_high):+d}): a real decline"
    )


def test_a_cohort_against_itself_is_not_significant(cohort_index):
    same = AttemptFilter(models=("model-a",))
    result = compare(cohort_index, same, same)
    for name in ("success_rate", "first_try_success_rate", "fix_rate", "mean_attempts_to_success"):
        diff = result.metrics[name]
        assert diff.delta == pytest.approx(0.0) and diff.significant is False, name
    assert "not distinguishable from noise" in describe(
        "first_try_success_rate", result.metrics["first_try_success_rate"]
    )
    assert result.fingerprints["movement"].tolist() == ["moved"] and result.fingerprints["change"].tolist() == [0.0]


def test_a_random_split_is_not_significant(cohort_index):
    # model-a's first-try successes are spread at random over its 200 hours: split them in time
    middle = START + timedelta(hours=100)
    a = AttemptFilter(models=("model-a",), until=middle)
    b = AttemptFilter(models=("model-a",), since=middle)
    result = compare(cohort_index, a, b)
    first = result.metrics["first_try_success_rate"]
    assert (first.n_a, first.n_b) == (100, 100)
    assert first.significant is False and first.ci_low < 0 < first.ci_high


def test_fingerprints_that_appeared_and_disappeared(cohort_index):
    result = compare(cohort_index, AttemptFilter(models=("model-a",)), AttemptFilter(models=("model-b",)))
    moves = result.fingerprints.set_index("movement")
    appeared, disappeared = moves.loc["appeared"], moves.loc["disappeared"]
    assert appeared["example_error"] == "KeyError: 'band'"
    assert (appeared["failures_a"], appeared["failures_b"]) == (0, 120)
    assert appeared["per_100_b"] == pytest.approx(120 / 320 * 100)
    assert disappeared["example_error"] == "NameError: name 'x' is not defined"
    assert disappeared["per_100_a"] == pytest.approx(40 / 240 * 100) and disappeared["per_100_b"] == 0
    data = result.as_dict()
    assert [row["fingerprint"] for row in data["appeared"]] == [appeared["fingerprint"]]
    assert data["moved"] == []


MARKERS = [Marker("system_context v12", datetime(2026, 11, 20, 9, 0))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", AttemptFilter()),
        ("model=gpt-5-mini", AttemptFilter(models=("gpt-5-mini",))),
        ("model=a,b", AttemptFilter(models=("a", "b"))),
        ("start=2026-11-01,end=2026-11-10", AttemptFilter(start=date(2026, 11, 1), end=date(2026, 11, 10))),
        ("tag=ctx:v12&q=No module", AttemptFilter(tags=("ctx:v12",), text="No module")),
        ("status=failed,category=import_error", AttemptFilter(statuses=("failed",), categories=("import_error",))),
        ("before=system_context v12", AttemptFilter(until=datetime(2026, 11, 20, 9, 0))),
        ("after=system_context v12,model=m", AttemptFilter(models=("m",), since=datetime(2026, 11, 20, 9, 0))),
    ],
)
def test_cohort_texts(text, expected):
    assert parse_cohort(text, MARKERS) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour=red", "unknown cohort key"),
        ("start=2026-13-01", "not a date"),
        ("status=broken", "status is one of"),
        ("after=v13", "no marker called 'v13'"),
        ("gpt-5-mini", "not a cohort filter"),
    ],
)
def test_bad_cohort_texts_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_cohort(text, MARKERS)


def test_describe_in_words():
    up = Difference(41.0, 78.0, 100, 100, 37.0, 28.2, 45.6, True)
    assert describe("first_try_success_rate", up) == (
        "First-try success rose from 41 % to 78 % (+37 points, 95 % interval +28 to +46): a real improvement"
    )
    noise = Difference(41.0, 45.0, 30, 30, 4.0, -20.0, 27.0, False)
    assert describe("first_try_success_rate", noise).endswith(": not distinguishable from noise")


def test_cli_compare_json_and_text(cohort_tree, cache_dir):
    base = ["--logs-dir", str(cohort_tree), "compare", "--a", "model=model-a", "--b", "model=model-b"]
    result = run_cli("--json", *base)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    first = data["metrics"]["first_try_success_rate"]
    assert set(first) == {"a", "b", "n_a", "n_b", "delta", "ci_low", "ci_high", "significant"}
    assert (first["a"], first["b"], first["significant"]) == (80.0, 40.0, True)
    assert data["cohorts"]["a"] == {"sessions": 200, "attempts": 240, "failures": 40}
    text = run_cli(*base).stdout
    assert "First-try success fell from 80 % to 40 % (-40 points" in text
    row = next(line for line in text.splitlines() if line.startswith("First-try success "))
    assert row.split()[2:] == ["80.0%", "(n=200)", "40.0%", "(n=200)", "-40.0", "-48.2", "to", "-30.8", "significant"]
    bad = run_cli(*base[:-1], "when=now")
    assert bad.returncode == 1 and bad.stderr.startswith("error: unknown cohort key 'when'")
    assert "Traceback" not in bad.stderr


def test_api_compare(cohort_tree, cache_dir):
    client = TestClient(create_app(cohort_tree, cache_dir, extra_hosts=("testserver",)))
    body = client.get("/api/logs/compare", params={"a": "model=model-a", "b": "model=model-b"}).json()
    assert body["success"] is True and (body["a"], body["b"]) == ("model=model-a", "model=model-b")
    first = body["metrics"]["first_try_success_rate"]
    assert (first["n_a"], first["n_b"], first["delta"], first["significant"]) == (200, 200, -40.0, True)
    assert body["appeared"][0]["failures_b"] == 120 and body["sentences"][1].startswith("First-try success fell")
    same = client.get("/api/logs/compare", params={"a": "model=model-a", "b": "model=model-a"}).json()
    assert same["metrics"]["first_try_success_rate"]["significant"] is False
    refused = client.get("/api/logs/compare", params={"a": "before=nothing"})
    assert refused.status_code == 422 and "no marker called 'nothing'" in refused.json()["error"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schema["DifferenceBody"]["properties"]) == {
        "a",
        "b",
        "n_a",
        "n_b",
        "delta",
        "ci_low",
        "ci_high",
        "significant",
    }


SEPARATOR_MARKERS = [
    Marker("A,B", datetime(2025, 12, 1)),
    Marker("A&B", datetime(2025, 12, 10)),
    Marker("v2,model=claude-sonnet-4", datetime(2025, 12, 5)),
    Marker("v2", datetime(2025, 12, 15)),
]


@pytest.mark.parametrize(
    ("text", "until"),
    [
        ('before="A&B"', datetime(2025, 12, 10)),
        ('before="A,B"', datetime(2025, 12, 1)),
        ('before="v2,model=claude-sonnet-4"', datetime(2025, 12, 5)),
        ("before=v2", datetime(2025, 12, 15)),
    ],
)
def test_a_quoted_label_names_its_own_marker(text, until):
    """Issue 29, item 8: separators inside quotes belong to the label."""
    assert parse_cohort(text, SEPARATOR_MARKERS).until == until


@pytest.mark.parametrize("text", ["before=A&B", "after=A,B", 'before="A&B'])
def test_an_unquoted_label_with_a_separator_is_an_error_not_another_marker(text):
    with pytest.raises(ValueError, match="quote"):
        parse_cohort(text, SEPARATOR_MARKERS)


def test_an_empty_cohort_is_an_error_on_every_surface(cohort_tree, cache_dir):
    done = run_cli("--logs-dir", str(cohort_tree), "compare", "--a", "model=nobody", "--b", "")
    assert done.returncode == 1 and "cohort A holds no session" in done.stderr
    client = TestClient(create_app(cohort_tree, cache_dir, extra_hosts=("testserver",)))
    response = client.get("/api/logs/compare", params={"a": "model=nobody", "b": ""})
    assert response.status_code == 422 and "cohort A holds no session" in response.text
