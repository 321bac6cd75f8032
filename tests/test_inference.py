"""Sessions inferred on trees that never link attempts, the original service's shape: by code similarity."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loaders.analysis import metrics
from loaders.analysis.recipes import fix_rules
from loaders.demo.unlinked import generate_unlinked_tree, same_session_pairs
from loaders.outputs.context import ai_context
from loaders.store.index import LogIndex
from tests.conftest import AS_OF, write_record

SCRIPT = [f"value{n} = ndimage.gaussian_filter(image, sigma={n}.5)" for n in range(12)]
OTHER = [f"edge{n} = sobel(image[..., {n % 3}]) * {n}" for n in range(12)]


def _code(lines: list[str], stamp: str = "11:55:19") -> str:
    return f"# Last Code Update - {stamp}\nfrom MapsBridge import MapsBridge\n" + "\n".join(lines) + "\n"


def _unlinked(logs, log_id, when, lines, status="failed", **fields):
    """An attempt as the original writes it: alone in its session, no prompt, no model."""
    return write_record(
        logs,
        log_id=log_id,
        session_id=log_id,
        when=when,
        status=status,
        code=_code(lines, f"{when:%H:%M:%S}"),
        user_prompt=None,
        ai_model=None,
        image_filename="image.jpg",
        **fields,
    )


def _sessions(index: LogIndex) -> dict[str, str]:
    return dict(index.cursor().execute("SELECT log_id, session_id FROM attempts").fetchall())


def test_interleaved_retries_on_one_file_are_told_apart_by_their_code(tmp_path, index_of):
    logs = tmp_path / "logs"
    start = AS_OF - timedelta(hours=2)
    _unlinked(logs, "a1", start, SCRIPT)
    _unlinked(logs, "b1", start + timedelta(seconds=20), OTHER)
    _unlinked(logs, "a2", start + timedelta(seconds=50), [*SCRIPT[:5], "value5 = image * 2", *SCRIPT[6:]])
    _unlinked(logs, "b2", start + timedelta(seconds=70), OTHER[:-1], status="success")
    _unlinked(logs, "a3", start + timedelta(seconds=90), SCRIPT[:-1], status="success")
    for n in range(20):  # enough unlinked attempts elsewhere for automatic inference
        _unlinked(logs, f"t{n}", start - timedelta(days=1, minutes=40 * n), OTHER, status="success")
    index = index_of(logs)
    assert index.sessions_inferred
    found = _sessions(index)
    assert found["a2"] == found["a3"] == found["a1"] == "a1"
    assert found["b2"] == found["b1"] == "b1"
    similarity = dict(index.cursor().execute("SELECT log_id, inferred_similarity FROM attempts").fetchall())
    assert similarity["a1"] is None and 0.7 < similarity["a2"] < 1 and similarity["b2"] > 0.8


def test_a_rerun_after_a_success_starts_its_own_session(tmp_path, index_of):
    logs = tmp_path / "logs"
    start = AS_OF - timedelta(hours=2)
    _unlinked(logs, "f1", start, SCRIPT)
    _unlinked(logs, "s1", start + timedelta(seconds=30), SCRIPT[:-1], status="success")
    _unlinked(logs, "s2", start + timedelta(seconds=60), SCRIPT[:-1], status="success")  # the same script again
    _unlinked(logs, "s3", start + timedelta(seconds=90), SCRIPT, status="success")  # like f1, which was retried
    for n in range(20):
        _unlinked(logs, f"t{n}", start - timedelta(days=1, minutes=40 * n), OTHER, status="success")
    found = _sessions(index_of(logs))
    assert found["s1"] == "f1" and found["s2"] == "s2" and found["s3"] == "s3"


def test_unlike_code_is_not_a_retry(tmp_path, index_of):
    logs = tmp_path / "logs"
    start = AS_OF - timedelta(hours=2)
    _unlinked(logs, "f1", start, SCRIPT)
    _unlinked(logs, "g1", start + timedelta(seconds=30), OTHER, status="success")
    for n in range(20):
        _unlinked(logs, f"t{n}", start - timedelta(days=1, minutes=40 * n), OTHER, status="success")
    index = index_of(logs)
    assert _sessions(index)["g1"] == "g1"
    assert metrics.summary(index).unfixed_failures == 1


# Seeds 1-3 chose the threshold (bench/inference_quality.py); these are others.
@pytest.mark.parametrize(
    ("seed", "prompt_share", "per_burst"), [(4, 0.0, 8), (5, 0.0, 8), (6, 0.5, 8), (7, 0.0, 30), (10, 0.3, 20)]
)
def test_inference_recovers_the_sessions_of_the_original_shape(tmp_path, cache_dir, seed, prompt_share, per_burst):
    logs = tmp_path / "logs"
    counts, truth = generate_unlinked_tree(
        logs, sessions=300, seed=seed, end=AS_OF, prompt_share=prompt_share, sessions_per_burst=per_burst
    )
    index = LogIndex(logs, cache_dir)
    index.refresh()
    assert index.sessions_inferred
    found = _sessions(index)
    true_pairs, found_pairs = same_session_pairs(truth.session_of), same_session_pairs(found)
    assert len(true_pairs & found_pairs) / len(found_pairs) >= 0.95
    fixed = {row[0] for row in index.cursor().execute("SELECT log_id FROM attempts WHERE is_fixed").fetchall()}
    assert len(fixed & truth.fixed) / len(fixed) >= 0.95
    assert len(fixed & truth.fixed) / len(truth.fixed) >= 0.9
    summary = metrics.summary(index)
    assert abs(summary.sessions - counts.sessions) <= 0.05 * counts.sessions
    assert summary.fixed_failures == len(fixed)


def test_recipes_and_ai_context_say_what_fixed_failures_on_the_original_shape(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    generate_unlinked_tree(logs, sessions=400, seed=8, end=AS_OF)
    index = LogIndex(logs, cache_dir)
    index.refresh()
    rules = fix_rules(index)
    assert len(rules) >= 3
    assert "cv2 -> skimage" in set(rules["change"]) or "rgb_arr -> rgb_array" in set(rules["change"])
    context = ai_context(index, max_examples=20, max_chars=20_000, as_of=AS_OF)
    assert context.count("Instead: ") >= 3


@pytest.mark.parametrize(
    ("mode", "because"), [("inferred", "inferred sessions were chosen"), ("auto", "the logs do not link attempts")]
)
def test_the_note_says_why_sessions_are_inferred(tmp_path, cache_dir, mode, because):
    from cli.text import summary_text

    logs = tmp_path / "logs"
    generate_unlinked_tree(logs, sessions=40, seed=3, end=AS_OF)
    index = LogIndex(logs, cache_dir, session_mode=mode)
    summary = metrics.summary(index, as_of=AS_OF)
    assert summary.sessions_inferred and summary.sessions_inferred_because == because
    assert f"(sessions are inferred: {because};" in summary_text(summary.as_dict())


def test_the_timeline_says_a_link_was_inferred_and_how_alike_the_code_was(tmp_path, cache_dir, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    logs = tmp_path / "logs"
    start = AS_OF - timedelta(hours=2)
    _unlinked(logs, "a1", start, SCRIPT)
    _unlinked(logs, "a2", start + timedelta(seconds=50), [*SCRIPT[:5], "value5 = image * 2", *SCRIPT[6:]], "success")
    for n in range(20):
        _unlinked(logs, f"t{n}", start - timedelta(days=1, minutes=40 * n), OTHER, status="success")
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py"))
    at.query_params["session"] = "a1"
    at.switch_page("app_pages/sessions.py")
    at.run(timeout=60)
    assert not at.exception
    links = [element.proto.label for element in at.get("page_link")]
    assert any(label.startswith("Retries (inferred from code similarity 0.8") for label in links), links
