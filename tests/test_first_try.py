"""First-try success: per session, in the summary (CLI, API, report), per day and per model, inferred sessions too."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from loaders.analysis.filters import AttemptFilter
from loaders.analysis.first_try import daily_first_try, first_try_counts, session_outcomes
from loaders.analysis.metrics import summary
from loaders.outputs.report import analysis_report
from tests.conftest import AS_OF, CV2_CODE, SKIMAGE_CODE, write_record, write_sessions
from tests.test_cli import run_cli


def test_session_outcomes_of_the_small_tree(small_tree, index_of):
    outcomes = session_outcomes(index_of(small_tree)).set_index("session_id")
    # S1: fail, fail, success; S2: one failure; S3: one success; S4: fail then success (fixed_by)
    assert outcomes["first_try_success"].to_dict() == {"S1": False, "S2": False, "S3": True, "S4": False}
    assert outcomes["attempts_to_success"].fillna(0).astype(int).to_dict() == {"S1": 3, "S2": 0, "S3": 1, "S4": 2}
    assert outcomes.loc["S1", "seconds_to_success"] == 9 * 60
    assert outcomes.loc["S4", "seconds_to_success"] == 3600
    assert outcomes.loc["S3", "seconds_to_success"] == 0


def test_summary_first_try_numbers(small_tree, index_of):
    result = summary(index_of(small_tree), as_of=AS_OF)
    assert result.first_try_success_rate == 25.0  # 1 of 4 sessions
    assert result.mean_attempts_to_success == pytest.approx(2.0)  # (3 + 1 + 2) / 3
    # started in the 7 days to AS_OF: S2, S3, S4 (one first-try success); S1 ten days ago
    assert (result.recent_sessions_7d, result.recent_first_try_success_rate_7d) == (3, pytest.approx(100 / 3))
    assert (result.previous_sessions_7d, result.previous_first_try_success_rate_7d) == (1, 0.0)


def test_first_try_counts_in_a_window_and_by_filter(small_tree, index_of):
    index = index_of(small_tree)
    counts = first_try_counts(index, AttemptFilter(), AS_OF - timedelta(days=2, hours=1), AS_OF)
    assert (counts.sessions, counts.first_try_successes) == (2, 1)  # S2 and S3
    # the filter picks sessions by their first attempt: S1 started with model-a, so model-b has none
    assert first_try_counts(index, AttemptFilter(models=("model-b",))).sessions == 0
    assert first_try_counts(index, AttemptFilter(models=("model-a",))).sessions == 4


def test_daily_and_rolling_first_try_per_model(tmp_path, index_of):
    logs = tmp_path / "logs"
    start = AS_OF - timedelta(days=9)
    # one session a day for 9 days: model-a succeeds at first try on every day, model-b on none
    write_sessions(logs, "model-a", 9, 9, start, spacing=timedelta(days=1))
    write_sessions(logs, "model-b", 9, 0, start, spacing=timedelta(days=1))
    index = index_of(logs)
    daily = daily_first_try(index)
    assert len(daily) == 9 and set(daily["ai_model"]) == {"all models"}
    assert daily["sessions"].tolist() == [2] * 9 and daily["first_try_success_rate"].tolist() == [50.0] * 9
    assert daily["sessions_7d"].tolist() == [2, 4, 6, 8, 10, 12, 14, 14, 14]
    per_model = daily_first_try(index, by_model=True)
    last = per_model[per_model["day"] == per_model["day"].max()].set_index("ai_model")
    assert last["rolling_first_try_success_rate_7d"].to_dict() == {"model-a": 100.0, "model-b": 0.0}


def test_first_try_in_inferred_sessions(tmp_path, index_of):
    # an older writer: no session links; a retry of the same prompt, input and model minutes later
    logs = tmp_path / "logs"
    write_record(logs, log_id="f1", when=AS_OF - timedelta(hours=3), user_prompt="Blur", code=CV2_CODE)
    write_record(
        logs,
        log_id="s1",
        status="success",
        when=AS_OF - timedelta(hours=3) + timedelta(minutes=2),
        user_prompt="Blur",
        code=SKIMAGE_CODE,
    )
    for n in range(25):  # enough unlinked attempts for automatic inference
        write_record(
            logs, log_id=f"ok{n}", status="success", when=AS_OF - timedelta(days=1, hours=n), user_prompt=f"P{n}"
        )
    index = index_of(logs)
    assert index.sessions_inferred
    result = summary(index, as_of=AS_OF)
    assert result.sessions == 26 and result.first_try_success_rate == pytest.approx(25 / 26 * 100)
    assert result.mean_attempts_to_success == pytest.approx(27 / 26)


def test_first_try_in_cli_api_and_report(small_tree, cache_dir, index_of):
    result = run_cli("--logs-dir", str(small_tree), "--as-of", AS_OF.isoformat(), "--json", "summary")
    data = json.loads(result.stdout)
    assert (data["first_try_success_rate"], data["mean_attempts_to_success"]) == (25.0, 2.0)
    assert (data["recent_sessions_7d"], data["previous_first_try_success_rate_7d"]) == (3, 0.0)
    text = run_cli("--logs-dir", str(small_tree), "--as-of", AS_OF.isoformat(), "summary").stdout.splitlines()
    assert "First-Try Success:     25.0%" in text
    assert "First-Try (7d):        33.3%" in text and "                      (n = 3, 95% CI 6.1-79.2)" in text
    assert any(line.startswith("First-Try Change (7d): no clear change (+33.3 pts, 95% CI") for line in text)
    assert "Attempts to Success:    2.00" in text
    report = analysis_report(index_of(small_tree), as_of=AS_OF)
    assert report["first_try"]["first_try_success_rate"] == 25.0 and "first_try_success_rate" not in report["summary"]


def test_first_try_in_the_api(small_tree, cache_dir):
    from fastapi.testclient import TestClient

    from api.server import create_app

    client = TestClient(create_app(small_tree, cache_dir, extra_hosts=("testserver",)))
    body = client.get("/api/logs/summary", params={"as_of": AS_OF.isoformat()}).json()["summary"]
    assert (body["first_try_success_rate"], body["recent_sessions_7d"], body["mean_attempts_to_success"]) == (
        25.0,
        3,
        2.0,
    )
    schema = client.get("/openapi.json").json()["components"]["schemas"]["SummaryBody"]
    assert {"first_try_success_rate", "recent_first_try_success_rate_7d", "mean_attempts_to_success"} <= set(
        schema["required"]
    )


@pytest.mark.parametrize(
    "flt",
    [
        AttemptFilter(),
        AttemptFilter(start=date(2025, 12, 12), end=date(2025, 12, 21), models=("model-a",)),
        AttemptFilter(tags=("lib:cv2", "lib:numpy"), text="cv2"),
    ],
)
def test_the_summarys_one_pass_equals_three_counts(small_tree, index_of, flt):
    from loaders.analysis.first_try import first_try_windows

    index = index_of(small_tree)
    week = AS_OF - timedelta(days=7)
    expected = (
        first_try_counts(index, flt),
        first_try_counts(index, flt.without_dates(), week, AS_OF),
        first_try_counts(index, flt.without_dates(), week - timedelta(days=7), week),
    )
    assert first_try_windows(index, flt, AS_OF) == expected
