"""Log trees with known contents, written into tmp_path, and an index over them in a private cache."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loaders.demo.trees import DemoCounts, generate_tree
from loaders.store.index import LogIndex

# The newest moment of the small tree; tests pass it as as_of so the 7-day window is fixed.
AS_OF = datetime(2025, 12, 21, 12, 0, 0)


def write_record(root: Path, **fields: Any) -> Path:
    """Write one attempt file the way the writer does; unspecified keys get plausible values."""
    status = fields.get("status", "failed")
    log_id = fields.get("log_id") or str(uuid.uuid4())
    when = fields.pop("when", AS_OF - timedelta(hours=1))
    record = {
        "log_id": log_id,
        "session_id": log_id,
        "timestamp": when.isoformat(timespec="microseconds"),
        "status": status,
        "code": "import numpy as np\nresult = np.zeros(3)\n",
        "code_hash": "0" * 16,
        "user_prompt": "Blur the tile",
        "ai_model": "model-a",
        "image_filename": "tile.png",
        "error_message": None,
        "error_type": None,
        "stderr": None,
        "stdout": "ok\n",
        "return_code": None,
        "output_files": None,
        "execution_time_seconds": None,
        "previous_attempt_id": None,
        "fixed_by": None,
        "error_category": None,
        "tags": ["lib:numpy"],
    }
    if status == "failed":
        record.update(
            error_message="Script exited with code 1. Error: User code error: name 'x' is not defined",
            error_type="NameError",
            stderr="Traceback (most recent call last):\n  File \"s.py\", line 2\nNameError: name 'x' is not defined\n",
            return_code=1,
            error_category="unknown",
        )
    else:
        record.update(output_files=["out.png"], execution_time_seconds=1.5)
    record.update(fields)
    folder = "failures" if status == "failed" else "successes"
    stamp = datetime.fromisoformat(record["timestamp"]) if isinstance(record["timestamp"], str) else when
    day_dir = root / folder / stamp.strftime("%Y-%m-%d")
    day_dir.mkdir(parents=True, exist_ok=True)
    path = day_dir / f"{log_id}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_session_file(root: Path, session_id: str, attempt_ids: list[str], status: str = "in_progress") -> Path:
    """Write a session file listing ``attempt_ids``."""
    sessions = root / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    path = sessions / f"{session_id}.json"
    data = {
        "session_id": session_id,
        "created_at": AS_OF.isoformat(),
        "attempts": [{"log_id": i, "timestamp": AS_OF.isoformat(), "status": "failed"} for i in attempt_ids],
        "status": status,
        "updated_at": AS_OF.isoformat(),
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def rates_from_one_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-made trees hold a few attempts each: their exact rates are shown from n = 1.

    The product's default minimum n (20, loaders.analysis.rates) is set back by the tests of that rule.
    """
    monkeypatch.setenv("FIXTRAIL_MIN_N", "1")


@pytest.fixture(autouse=True)
def private_tokens_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """API tokens in a file of the test's own (none at first), never the user's configuration."""
    path = tmp_path_factory.mktemp("config") / "tokens.json"
    monkeypatch.setenv("FIXTRAIL_TOKENS_FILE", str(path))
    return path


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private index directory, also set as $FIXTRAIL_CACHE_DIR for code that uses the default."""
    path = tmp_path / "cache"
    monkeypatch.setenv("FIXTRAIL_CACHE_DIR", str(path))
    return path


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    """A hand-made tree with exact numbers.

    Session S1: fail (10 days ago), fail, success (linked) -> 2 fixed failures.
    Session S2: one failure, unfixed, 2 days ago (import error, cv2).
    Session S3: one success, 1 day ago. Session S4: failure fixed by fixed_by only, 3 days ago.
    Totals: 4 failures (3 fixed, 1 unfixed), 3 successes, 4 sessions. In the 7 days to AS_OF:
    S2 failure, S3 success, S4 failure + success -> 4 attempts, 2 successes (50%).
    """
    root = tmp_path / "logs"
    t1 = AS_OF - timedelta(days=10)
    f1 = write_record(root, log_id="s1-a1", session_id="S1", when=t1)
    write_record(root, log_id="s1-a2", session_id="S1", when=t1 + timedelta(minutes=5), previous_attempt_id="s1-a1")
    write_record(
        root,
        log_id="s1-a3",
        session_id="S1",
        status="success",
        when=t1 + timedelta(minutes=9),
        previous_attempt_id="s1-a2",
        ai_model="model-b",
    )
    write_record(
        root,
        log_id="s2-a1",
        session_id="S2",
        when=AS_OF - timedelta(days=2),
        error_message="Script exited with code 1. Error: User code error: No module named 'cv2'",
        error_type="ModuleNotFoundError",
        stderr="Traceback (most recent call last):\nModuleNotFoundError: No module named 'cv2'\n",
        error_category="import_error",
        code="import cv2\nimport numpy as np\n",
        tags=["lib:cv2", "lib:numpy"],
    )
    write_record(root, log_id="s3-a1", session_id="S3", status="success", when=AS_OF - timedelta(days=1))
    write_record(
        root,
        log_id="s4-a1",
        session_id="S4",
        when=AS_OF - timedelta(days=3),
        fixed_by="s4-a2",
        error_message="KeyError: 0",
        error_type="KeyError",
        stderr="KeyError: 0\n",
        error_category="data_access_error",
    )
    write_record(root, log_id="s4-a2", session_id="S4", status="success", when=AS_OF - timedelta(days=3, hours=-1))
    write_session_file(root, "S1", ["s1-a1", "s1-a2", "s1-a3"], "resolved")
    write_session_file(root, "S9", ["gone-1"])
    assert f1.exists()
    return root


CV2_CODE = "import numpy as np\nimport cv2\nout = cv2.GaussianBlur(img, (5, 5), 0)\n"
SKIMAGE_CODE = "import numpy as np\nfrom skimage.filters import gaussian\nout = gaussian(img, sigma=1.5)\n"


@pytest.fixture
def cv2_fix_tree(tmp_path: Path) -> Path:
    """Three sessions two days before AS_OF: an import of cv2 fails, the retry with skimage works."""
    logs = tmp_path / "cv2-logs"
    for n in range(3):
        when = AS_OF - timedelta(days=2, hours=n)
        write_record(
            logs,
            log_id=f"cv{n}",
            session_id=f"CV{n}",
            when=when,
            code=CV2_CODE,
            error_type="ModuleNotFoundError",
            stderr="ModuleNotFoundError: No module named 'cv2'\n",
        )
        write_record(
            logs,
            log_id=f"ok{n}",
            session_id=f"CV{n}",
            status="success",
            code=SKIMAGE_CODE,
            when=when + timedelta(minutes=2),
            previous_attempt_id=f"cv{n}",
        )
    return logs


@pytest.fixture
def index_of(cache_dir: Path) -> Callable[[Path], LogIndex]:
    """Open (and refresh) the index of a tree in the private cache."""

    def open_it(root: Path) -> LogIndex:
        index = LogIndex(root, cache_dir)
        index.refresh()
        return index

    return open_it


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server (a process of its own on 127.0.0.1) for one test module; yields its URL."""
    from tests.s3_server import moto_server  # boto3 and moto only for the modules that use S3

    with moto_server() as url:
        yield url


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> str:
    """The AWS environment pointed at the server, and a fresh bucket ``logs``; yields the server's URL."""
    from tests.s3_server import new_bucket, use_endpoint

    use_endpoint(monkeypatch, s3_endpoint)
    new_bucket(s3_endpoint, "logs")
    return s3_endpoint


@pytest.fixture(scope="session")
def demo_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoCounts]:
    """A generated 120-session tree ending at AS_OF, with the counts written."""
    root = tmp_path_factory.mktemp("demo") / "logs"
    counts = generate_tree(root, sessions=120, days=20, seed=11, end=AS_OF)
    return root, counts


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--screenshots DIR``: the browser test saves a PNG of every page there."""
    parser.addoption("--screenshots", default=None, help="directory for the browser test's page screenshots")


def write_sessions(
    root: Path,
    model: str,
    sessions: int,
    first_try_successes: int,
    start: datetime,
    prefix: str | None = None,
    error: tuple[str, str] = ("NameError", "name 'x' is not defined"),
    fixed: bool = True,
    spacing: timedelta = timedelta(hours=1),
    tags: list[str] | None = None,
    seed: int = 0,
) -> list[str]:
    """Write ``sessions`` linked sessions of ``model``, one every ``spacing`` from ``start``:
    ``first_try_successes`` of them (picked at random with ``seed``) succeed at once, the others fail
    with ``error`` (type, message) and, when ``fixed``, succeed on the second attempt. Returns the
    session ids."""
    prefix = prefix or model
    succeeding = set(random.Random(seed).sample(range(sessions), first_try_successes))
    ids = []
    for n in range(sessions):
        session = f"{prefix}-{n}"
        when = start + n * spacing
        extra = {"tags": tags} if tags is not None else {}
        if n in succeeding:
            write_record(root, log_id=session, session_id=session, status="success", when=when, ai_model=model, **extra)
        else:
            kind, message = error
            write_record(
                root,
                log_id=session,
                session_id=session,
                when=when,
                ai_model=model,
                error_type=kind,
                error_message=f"Script exited with code 1. Error: User code error: {message}",
                stderr=f"Traceback (most recent call last):\n{kind}: {message}\n",
                **extra,
            )
            if fixed:
                write_record(
                    root,
                    log_id=f"{session}-fix",
                    session_id=session,
                    status="success",
                    when=when + timedelta(minutes=2),
                    previous_attempt_id=session,
                    ai_model=model,
                    code="import numpy as np\nresult = np.ones(3)\n",
                    **extra,
                )
        ids.append(session)
    return ids


def as_shown(frame: Any) -> Any:
    """A drawn table's frame with its link cells (dashboard.links) read back as what they show: the
    text after ``#``, else the id its column links by (session, attempt or error)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    param_of = {"session_id": "session", "log_id": "attempt", "fixed_by": "attempt", "fingerprint": "error"}

    def cell(name: str, value: Any) -> Any:
        if not (isinstance(value, str) and value.startswith("/") and "?" in value):
            return value
        address = urlsplit(value)
        if address.fragment:
            return unquote(address.fragment)
        return parse_qs(address.query).get(param_of.get(name, ""), [value])[0]

    return frame.assign(**{name: frame[name].map(lambda v, n=name: cell(n, v)) for name in frame.columns})
