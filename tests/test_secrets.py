"""Secrets masked on every way out (issue 33): the rules on a corpus of real formats and near-misses,
then a tree with a secret of every kind planted in every text field of its records, read back through
every page (AppTest), every API route, the CSV and JSON exports, the eval set, the webhook, the AI
context and the CLI. No planted secret may appear anywhere; no near-miss may be masked; the files on
disk are never changed; Data health lists the attempts that hold one."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pandas as pd
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from api.routes import router
from api.server import create_app
from cli.main import main
from loaders.analysis.health import attempts_with_secrets
from loaders.outputs.exports import json_records, safe_csv
from loaders.store.index import LogIndex
from loaders.text.secrets import find_secrets, mask_secrets, mask_text
from tests.conftest import AS_OF, write_record
from tests.secret_corpus import NEAR_MISSES, SECRETS, needles
from tests.test_alerts import Receiver

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")
TEXT_FIELDS = ("user_prompt", "code", "error_message", "stderr", "stdout")


def test_the_corpus_holds_thirty_kinds_and_thirty_near_misses():
    assert len({kind for kind, _ in SECRETS}) >= 30 and len(NEAR_MISSES) >= 30


@pytest.mark.parametrize(("kind", "text", "secret"), [(*pair, secret) for pair, secret in zip(SECRETS, needles())])
def test_each_secret_is_found_with_its_kind_and_masked(kind, text, secret):
    assert [found.kind for found in find_secrets(text)] == [kind]
    masked = mask_text(text)
    assert secret not in masked and f"[secret: {kind}]" in masked
    # the text around it stays readable
    assert masked.replace(f"[secret: {kind}]", secret) == text


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_a_near_miss_stays_visible(text):
    assert find_secrets(text) == [] and mask_text(text) is text


def test_secrets_among_other_text_are_each_masked():
    text = "\n".join(f"line {n}: {planted}" for n, (_, planted) in enumerate(SECRETS))
    masked = mask_text(text)
    assert not any(secret in masked for secret in needles())
    assert masked.count("[secret: ") == len(SECRETS)
    assert all(f"line {n}: " in masked for n in range(len(SECRETS)))


def test_adversarial_text_is_scanned_in_linear_time():
    """RE2 has no backtracking: a megabyte of near-starts is one pass (the suite's timeout is the guard)."""
    for unit in ("password=", "-----BEGIN RSA PRIVATE KEY-----", "token = '", "https://a:", "sk-", "eyJaaaaaaaaaa."):
        text = unit * (1_000_000 // len(unit))
        assert isinstance(mask_text(text), str)


def test_values_are_masked_in_the_light_of_their_key():
    record = {"db_password": "hunter22", "api_token": "Zq8Lm2Vx9Rt4Kp7N", "notes": "password is hunter22", "n": 3}
    masked = mask_secrets(record)
    assert masked["db_password"] == "[secret: password]"
    assert masked["api_token"] == "[secret: secret value]"
    assert masked["notes"] == record["notes"] and masked["n"] == 3
    assert record["db_password"] == "hunter22"  # the given value is left as it was


def test_frames_are_masked_cell_by_cell_and_left_unchanged():
    frame = pd.DataFrame({"text": [SECRETS[0][1], "plain"], "tags": [[SECRETS[2][1]], []], "n": [1, 2]})
    masked = mask_secrets(frame)
    assert needles()[0] not in masked.loc[0, "text"] and masked.loc[1, "text"] == "plain"
    assert needles()[2] not in masked.loc[0, "tags"][0]
    assert list(masked["n"]) == [1, 2] and frame.loc[0, "text"] == SECRETS[0][1]
    for exported in (safe_csv(frame), json_records(frame)):
        assert needles()[0].encode() not in exported


# ---------------------------------------------------------------- every way out, on a planted tree


def plant(root: Path) -> dict[str, str]:
    """Every secret in every text field of one failed attempt each (fixed by the next attempt, which
    holds it too), and every near-miss in every field of an attempt of its own. Returns log_id -> text."""
    planted = {}
    for number, (_, text) in enumerate(SECRETS):
        when = AS_OF - timedelta(hours=2 + number)
        fields = {
            "user_prompt": f"Draw the chart. {text}",
            "code": f"import os\n{text}\nprint('done')\n",
            "error_message": f"Script exited with code 1. Error: User code error: ValueError: {text}",
            "stderr": f'Traceback (most recent call last):\n  File "s.py", line 2\nValueError: {text}\n',
            "stdout": f"connecting with {text}\n",
        }
        session = f"S{number}"
        write_record(root, log_id=f"secret-{number}", session_id=session, when=when, error_type="ValueError", **fields)
        write_record(
            root,
            log_id=f"fix-{number}",
            session_id=session,
            status="success",
            when=when + timedelta(minutes=1),
            previous_attempt_id=f"secret-{number}",
            **{**fields, "code": f"import os\n{text}\nprint('fixed')\n"},
        )
        planted[f"secret-{number}"] = text
    for number, text in enumerate(NEAR_MISSES):
        write_record(
            root,
            log_id=f"near-{number}",
            session_id=f"N{number}",
            when=AS_OF - timedelta(hours=1, minutes=number),
            error_type="ValueError",
            **{field: f"{text}\nValueError: near miss {number}" for field in TEXT_FIELDS},
        )
    return planted


@pytest.fixture(scope="module")
def planted_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("secrets") / "logs"
    plant(root)
    return root


def leaked(output: str | bytes) -> list[str]:
    """The planted secrets found in ``output`` (the whole secret or its first 16 characters)."""
    data = output if isinstance(output, str) else output.decode("utf-8", "replace")
    return [secret for secret in needles() if secret in data or secret[:16] in data]


def test_data_health_lists_every_attempt_holding_a_secret(planted_tree, tmp_path):
    with LogIndex(planted_tree, tmp_path / "cache") as index:
        holding = attempts_with_secrets(index)
    expected = {f"secret-{n}" for n in range(len(SECRETS))} | {f"fix-{n}" for n in range(len(SECRETS))}
    assert set(holding["log_id"]) == expected  # the near-misses are not listed
    kinds = dict(zip(holding["log_id"], holding["kinds"], strict=True))
    assert all(kinds[f"secret-{n}"] == kind for n, (kind, _) in enumerate(SECRETS))


def test_no_api_answer_holds_a_secret(planted_tree, tmp_path):
    client = TestClient(create_app(planted_tree, tmp_path / "cache", extra_hosts=("testserver",)))
    as_of = {"as_of": AS_OF.isoformat()}
    answers = []
    for route in router.routes:
        if isinstance(route, APIRoute) and "GET" in route.methods and "{" not in route.path:
            answers.append(client.get(route.path, params={**as_of, "limit": 1000}))
    for route in ("/api/logs/failures", "/api/logs/successes"):
        answers.append(client.get(route, params={"format": "csv", "limit": 1000}))
    for number in range(len(SECRETS)):
        answers += [client.get(f"/api/logs/session/S{number}"), client.get(f"/api/logs/log/secret-{number}")]
    answers.append(client.get("/api/logs/compare", params={"a": "model=model-a", "b": "status=failed"}))
    assert all(answer.status_code == 200 for answer in answers), [a.status_code for a in answers]
    for answer in answers:
        assert leaked(answer.content) == [], answer.url
    assert b"[secret: " in client.get("/api/logs/log/secret-0").content
    # a near-miss is shown as written, in every field
    for number, text in enumerate(NEAR_MISSES):
        record = client.get(f"/api/logs/log/near-{number}").json()["log"]
        assert all(record[field].startswith(text) for field in TEXT_FIELDS), number


def test_no_cli_output_or_file_holds_a_secret(planted_tree, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FIXTRAIL_CACHE_DIR", str(tmp_path / "cache"))
    base = ["--logs-dir", str(planted_tree), "--as-of", AS_OF.isoformat()]
    commands = [["summary"], ["errors"], ["recommendations"], ["unfixed"], ["all"], ["context"], ["session", "S3"]]
    for command in commands:
        for json_flag in ([], ["--json"]):
            assert main([*base, *json_flag, *command]) == 0, command
            assert leaked(capsys.readouterr().out) == [], command
    export, evals = tmp_path / "export.json", tmp_path / "evals.jsonl"
    assert main([*base, "export", str(export)]) == 0
    assert main([*base, "export-evals", str(evals)]) == 0
    capsys.readouterr()
    for written in (export, evals):
        assert leaked(written.read_bytes()) == [], written
    assert "[secret: " in evals.read_text()


def test_the_webhook_body_holds_no_secret(planted_tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FIXTRAIL_CACHE_DIR", str(tmp_path / "cache"))
    receiver = Receiver()
    try:
        command = ["--logs-dir", str(planted_tree), "--as-of", AS_OF.isoformat(), "check", "--window", "72"]
        status = main([*command, "--webhook", receiver.url])
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    assert status == 1 and len(receiver.posts) == 1
    assert leaked(json.dumps(receiver.posts[0]["body"])) == []
    assert "[secret: " in json.dumps(receiver.posts[0]["body"])
    assert leaked(capsys.readouterr().out) == []


def rendered(at: AppTest) -> bytes:
    """Every element the run sent, as its protocol bytes (tables' Arrow data included), followed by
    the same bytes URL-decoded: a table's link cells carry their text in their address."""
    parts: list[bytes] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(proto.SerializeToString())
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    sent = b"".join(parts)
    return sent + unquote_to_bytes(sent.replace(b"+", b" "))


@pytest.mark.parametrize(
    ("page", "params"),
    [
        ("overview", {}),
        ("errors", {}),
        ("unfixed", {}),
        ("sessions", {}),
        ("sessions", {"session": "S5"}),
        ("sessions", {"session": "S26"}),
        ("compare", {"a": "model=model-a", "b": "status=failed"}),
        ("recommendations", {}),
        ("health", {}),
    ],
)
def test_no_page_shows_a_secret(planted_tree, tmp_path, monkeypatch, page, params):
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(planted_tree))
    monkeypatch.setenv("FIXTRAIL_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    shown = rendered(at)
    assert len(shown) > 1000
    assert leaked(shown) == []
    if page in ("overview", "errors", "sessions", "compare"):  # pages that show the planted texts, masked
        assert b"[secret: " in shown


def test_the_files_on_disk_are_never_changed(planted_tree):
    for number, (_, text) in enumerate(SECRETS):
        path = next(planted_tree.rglob(f"secret-{number}.json"))
        assert json.loads(path.read_text())["code"] == f"import os\n{text}\nprint('done')\n"


def test_the_python_analyzer_answers_hold_no_secret(planted_tree, tmp_path):
    from backend.log_analyzer import LogAnalyzer

    analyzer = LogAnalyzer(str(planted_tree), cache_dir=tmp_path / "cache", as_of=AS_OF)
    assert leaked(json.dumps(analyzer.analyze_all(), default=str)) == []
    assert leaked(analyzer.generate_context_for_ai()) == []
    assert leaked(analyzer._generate_ai_summary()) == []
    saved = planted_tree / "analysis" / "latest_analysis.json"
    assert leaked(saved.read_bytes()) == []
    saved.unlink()  # the planted tree is shared by this module's tests


def test_a_secret_across_the_error_lines_cut_is_masked_before_the_cut(tmp_path, cache_dir, capsys):
    """The key error line is cut to 200 characters when records are loaded: a secret running across the
    cut is masked first, or its first half would be shown by every list of errors."""
    root = tmp_path / "logs"
    # the cut falls right after the password, before its "@": the half left would not look like a URL's
    pad = "x" * (200 - len("OperationalError: could not connect to ") - len(" postgres://admin:LEAKcutPw0rd9"))
    url_line = f"OperationalError: could not connect to {pad} postgres://admin:LEAKcutPw0rd9@db.internal:5432/prod"
    token = "ghp_LEAK7aB3dE5gH7jK9mN1pQ3rS5tU7vW9xY1zA"
    token_line = "ValueError: " + "y" * (200 - len("ValueError: ") - 10) + " " + token
    write_record(root, log_id="cut-1", when=AS_OF - timedelta(hours=1), error_message=url_line, stderr=url_line + "\n")
    write_record(root, log_id="cut-2", when=AS_OF - timedelta(hours=2), stderr=f"Traceback\n{token_line}\n")
    client = TestClient(create_app(root, cache_dir, extra_hosts=("testserver",)))
    for route in ("fingerprints", "error-patterns", "analysis", "triage?state=all", "ai-context"):
        shown = client.get(f"/api/logs/{route}").text
        assert "LEAKcutPw0rd9"[:8] not in shown and "ghp_LEAK7" not in shown, route
    assert main(["--logs-dir", str(root), "--json", "errors"]) == 0
    shown = capsys.readouterr().out
    assert "LEAKcut" not in shown and "ghp_LEAK7" not in shown and "[secret: " in shown
