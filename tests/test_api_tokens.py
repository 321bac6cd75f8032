"""API tokens (issue 33): made and revoked from the CLI, kept hashed in an owner-only file, and checked
on every /api route: no token, a wrong, revoked or read-only token get 401 or 403 and never data."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.access import NO_AUTH_HEADER
from api.routes import NEVER_DELETES, router
from api.server import create_app
from api.tokens import TokenError, create_token, read_tokens, revoke_token
from cli.main import main
from tests.conftest import AS_OF
from tests.ports import first_answer, free_port

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = f"/api/logs/summary?as_of={AS_OF.isoformat()}"


def app_client(logs: Path, cache_dir: Path, **options) -> TestClient:
    return TestClient(create_app(logs, cache_dir, extra_hosts=("testserver",), **options))


def data_of(answer) -> dict:
    """An answer's body without the moment it was made."""
    return {key: value for key, value in answer.json().items() if key != "generated_at"}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_the_cli_prints_a_token_once_and_keeps_only_its_hash(private_tokens_file, capsys):
    assert main(["token", "create", "ci-reader"]) == 0
    secret = capsys.readouterr().out.splitlines()[0]
    assert secret.startswith("ftk_") and len(secret) > 40
    stored = private_tokens_file.read_text()
    assert secret not in stored and "ci-reader" in stored
    assert stat.S_IMODE(private_tokens_file.stat().st_mode) == 0o600
    assert main(["token", "create", "ops", "--write"]) == 0
    capsys.readouterr()
    assert main(["token", "list"]) == 0
    listed = capsys.readouterr().out
    assert "ci-reader\tread" in listed and "ops\twrite" in listed and "ftk_" not in listed
    assert main(["token", "list", "--json"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)["tokens"]] == ["ci-reader", "ops"]
    assert main(["token", "revoke", "ci-reader"]) == 0
    assert list(read_tokens()) == ["ops"]


def test_token_commands_say_what_is_wrong(private_tokens_file, capsys):
    create_token("ops")
    assert main(["token", "create", "ops"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["token", "revoke", "nobody"]) == 1
    assert "no token called 'nobody'" in capsys.readouterr().err
    assert main(["token", "create", "../etc/passwd"]) == 1
    assert "name" in capsys.readouterr().err
    assert main(["token", "create"]) == 1
    assert "needs a NAME" in capsys.readouterr().err


def test_a_tokens_file_others_can_read_is_refused(private_tokens_file):
    create_token("ops")
    os.chmod(private_tokens_file, 0o644)
    with pytest.raises(TokenError, match="chmod 600"):
        read_tokens()


def test_every_route_needs_a_valid_token_once_one_exists(small_tree, cache_dir):
    client = app_client(small_tree, cache_dir)
    before = client.get(SUMMARY)
    assert before.status_code == 200  # on loopback without tokens: as before
    reader = create_token("reader")
    writer = create_token("writer", write=True)
    for headers in ({}, bearer("ftk_wrong"), bearer(reader + "x"), {"Authorization": f"Basic {reader}"}):
        answer = client.get(SUMMARY, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json()["success"] is False and "summary" not in answer.json()
        assert answer.headers["www-authenticate"] == "Bearer"
    assert data_of(client.get(SUMMARY, headers=bearer(reader))) == data_of(before)
    assert data_of(client.get(SUMMARY, headers=bearer(writer))) == data_of(before)
    for route in every_get_route():
        assert client.get(route).status_code == 401, route
        assert client.get(route, headers=bearer(reader)).status_code == 200, route


def every_get_route() -> list[str]:
    """Every GET route of the API, its path parameters filled with ids of the small tree."""
    paths = [route.path for route in router.routes if isinstance(route, APIRoute) and "GET" in route.methods]
    filled = [path.replace("{session_id:path}", "S1").replace("{log_id:path}", "s1-a1") for path in paths]
    assert len(filled) >= 13 and all("{" not in path for path in filled)
    return filled


def test_a_revoked_token_is_refused_from_the_next_request(small_tree, cache_dir):
    client = app_client(small_tree, cache_dir)
    secret = create_token("leaving")
    create_token("staying")
    assert client.get(SUMMARY, headers=bearer(secret)).status_code == 200
    revoke_token("leaving")
    answer = client.get(SUMMARY, headers=bearer(secret))
    assert answer.status_code == 401 and "revoked" in answer.json()["error"]


def test_a_read_token_cannot_write(small_tree, cache_dir):
    client = app_client(small_tree, cache_dir)
    reader, writer = create_token("reader"), create_token("ops-writer", write=True)
    fingerprint = client.get("/api/logs/triage", headers=bearer(reader)).json()["errors"][0]["fingerprint"]
    action = {"action": "note", "fingerprint": fingerprint, "text": "looking into it"}
    refused = client.post("/api/logs/triage", json=action, headers=bearer(reader))
    assert refused.status_code == 403 and "may read but not write" in refused.json()["error"]
    assert client.post("/api/logs/triage", json=action).status_code == 401
    written = client.post("/api/logs/triage", json=action, headers=bearer(writer))
    assert written.status_code == 201 and written.json()["event"]["who"] == "ops-writer"  # the token names who acts
    # The original's "clear" needs only reading: it never deletes anything.
    cleared = client.post("/api/logs/clear", headers=bearer(reader))
    assert cleared.status_code == 403 and cleared.json() == {"success": False, "error": NEVER_DELETES}


def test_without_tokens_only_this_machine_may_write(small_tree, cache_dir):
    app = create_app(small_tree, cache_dir, extra_hosts=("testserver",))
    fingerprint = TestClient(app).get("/api/logs/triage").json()["errors"][0]["fingerprint"]
    action = {"action": "assign", "fingerprint": fingerprint, "assignee": "ana", "by": "bruno"}
    remote = TestClient(app, client=("203.0.113.9", 50000)).post("/api/logs/triage", json=action)
    assert remote.status_code == 403 and "only a client on this machine" in remote.json()["error"]
    local = TestClient(app, client=("127.0.0.1", 50000)).post("/api/logs/triage", json=action)
    assert local.status_code == 201 and local.json()["event"]["who"] == "bruno"


def test_beyond_loopback_tokens_are_required_even_when_none_exist(small_tree, cache_dir):
    client = app_client(small_tree, cache_dir, bound_to="0.0.0.0")
    assert client.get(SUMMARY).status_code == 401
    open_client = app_client(small_tree, cache_dir, bound_to="0.0.0.0", no_auth=True)
    answer = open_client.get(SUMMARY)
    assert answer.status_code == 200 and answer.headers[NO_AUTH_HEADER[0]] == NO_AUTH_HEADER[1]


def test_an_unusable_tokens_file_refuses_instead_of_opening(small_tree, cache_dir, private_tokens_file):
    client = app_client(small_tree, cache_dir)
    private_tokens_file.write_text("{not json")
    os.chmod(private_tokens_file, 0o600)
    answer = client.get(SUMMARY)
    assert answer.status_code == 503 and "summary" not in answer.json()


def test_the_docs_say_how_to_authenticate(small_tree, cache_dir):
    client = app_client(small_tree, cache_dir)
    spec = client.get("/openapi.json").json()
    assert "Authorization: Bearer" in spec["info"]["description"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert client.get("/docs").status_code == 200  # documentation itself needs no token


def _serve(logs: Path, *options: str) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "analyze_logs.py"), "--logs-dir", str(logs), "serve", *options]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_serve_beyond_loopback_without_tokens_exits_with_one_line(small_tree, cache_dir):
    server = _serve(small_tree, "--host", "0.0.0.0", "--port", str(free_port()))
    _, err = server.communicate(timeout=60)
    assert server.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "refusing to serve" in lines[0] and "--no-auth" in lines[0]


def test_serve_with_no_auth_starts_and_warns(small_tree, cache_dir):
    port = free_port()
    server = _serve(small_tree, "--host", "0.0.0.0", "--port", str(port), "--no-auth")
    try:
        answer = first_answer(f"http://127.0.0.1:{port}{SUMMARY}", server)
        assert answer.status_code == 200
        assert answer.headers[NO_AUTH_HEADER[0]] == NO_AUTH_HEADER[1]
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "--no-auth" in err
