"""Script execution logger: writes one JSON file per attempt of a generated script.

Standard library only, so that it can be copied into a script-runner image on its own (and so one
module of about 580 lines: the local and the S3 writer, their atomic writes and locks). The files
are those of the original logger (../shared/LOG_FORMAT.md), written safely:

- every file appears whole or not at all: a hidden temporary file in the same directory, fsync,
  ``os.replace``, fsync of the directory (the failure file rewritten for ``fixed_by`` too);
- session files are read-modified-written under an exclusive lock on ``sessions/.lock``, a file
  that is never replaced or deleted, so concurrent writers lose no attempt;
- files are created with mode 0666 less the umask (0644 under umask 022), as ``open()`` does, so a
  dashboard running as another user can read them;
- a session id is accepted when it is safe as one file name (spaces, braces, ``@``, non-ASCII too),
  and refused with ValueError before anything is written otherwise (see ``_name_problem``);
- lone surrogates (undecodable bytes of a script's output) are written as the text ``\\udc80``, so
  every file is UTF-8 JSON that strict parsers (orjson, the readers') accept too;
- a session file that cannot be parsed is never overwritten: it is renamed to
  ``<id>.json.corrupt-<timestamp>`` (readers list only ``*.json``) and a new one is started.

``ScriptLogger("s3://bucket/prefix")`` writes to S3-compatible storage instead (``_S3Sink``): each
attempt is one object, put once at ``PREFIX/failures/YYYY-MM-DD/<log_id>.json`` (the UTC date) and
never rewritten, so no session file and no ``fixed_by`` are written there (readers derive both);
timestamps carry their UTC offset, and log ids are time-ordered UUIDs (version 7) so that readers can
list a date prefix from the last key they saw. That sink uses boto3, imported only then; endpoint and
credentials come from the standard AWS environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...).

Once ``log_failure`` or ``log_success`` returns, the attempt survives a crash. Once its file is in
place, nothing raises: a session file that cannot be updated (a full disk, say) or a ``fixed_by``
that cannot be set is reported as a WARNING on this module's ``logging`` logger (printed to stderr
when logging is not configured) and the log_id is returned, so a caller never logs an attempt twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(handle: Any) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)

    def _unlock(handle: Any) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(handle: Any) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)

    def _unlock(handle: Any) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


TRACKED_LIBRARIES = ("MapsBridge", "numpy", "scipy", "matplotlib", "PIL", "skimage", "cv2", "pandas", "imageio")
CODE_TAGS = (
    ("TileSetRequest", "request_type:tileset"),
    ("ImageLayerRequest", "request_type:imagelayer"),
    ("SendSingleTileOutput", "output:tile"),
    ("CreateImageLayer", "output:imagelayer"),
    ("CreateChannel", "output:channel"),
)
CATEGORY_KEYWORDS = (
    (("import", "modulenotfounderror"), "import_error"),
    (("attributeerror",), "attribute_error"),
    (("keyerror", "indexerror"), "data_access_error"),
    (("typeerror",), "type_error"),
    (("valueerror",), "value_error"),
    (("filenotfounderror", "no such file"), "file_not_found"),
    (("permission", "access"), "permission_error"),
    (("timeout",), "timeout"),
    (("memory",), "memory_error"),
    (("syntax",), "syntax_error"),
)
# From a word boundary: a search would otherwise rescan a long word from each of its letters.
ERROR_TYPE_PATTERN = re.compile(r"\b(\w+Error|\w+Exception):")
MAX_ID_BYTES = 128
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")

_log = logging.getLogger(__name__)


def _name_problem(name: object) -> str | None:
    """Why ``name`` cannot be the stem of one file (``sessions/<name>.json``), or None when it can.

    Refused: anything but text, the empty name, ``.`` and ``..``, a name holding ``/``, ``\\`` or
    NUL, one of more than MAX_ID_BYTES bytes in UTF-8, one holding a lone surrogate (not text).
    """
    if not isinstance(name, str):
        return f"it is {type(name).__name__}, not text"
    if name in ("", ".", ".."):
        return "it is empty, '.' or '..'"
    if any(char in name for char in "/\\\x00"):
        return "it holds '/', '\\' or NUL"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "it holds a lone surrogate"
    if size > MAX_ID_BYTES:
        return f"it is {size} bytes in UTF-8, more than {MAX_ID_BYTES}"
    return None


def _check_session_id(session_id: object) -> None:
    """Raise ValueError unless ``session_id`` can name a session file."""
    problem = _name_problem(session_id)
    if problem:
        raise ValueError(f"session_id {session_id!r} cannot name a session file: {problem}")


@dataclass
class ScriptExecutionLog:
    """Record of a single script execution attempt (every key of the on-disk format)."""

    log_id: str
    session_id: str
    timestamp: str
    status: str
    code: str
    code_hash: str
    user_prompt: str | None = None
    ai_model: str | None = None
    image_filename: str | None = None
    error_message: str | None = None
    error_type: str | None = None
    stderr: str | None = None
    stdout: str | None = None
    return_code: int | None = None
    output_files: list[str] | None = None
    execution_time_seconds: float | None = None
    previous_attempt_id: str | None = None
    fixed_by: str | None = None
    error_category: str | None = None
    tags: list[str] | None = None


def _json_bytes(data: dict[str, Any]) -> bytes:
    """``data`` as UTF-8 JSON (``indent=2, ensure_ascii=False``), lone surrogates written as text."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-8 cannot hold a lone surrogate, and strict parsers (orjson) refuse its JSON escape.
        # JSON syntax is ASCII, so one can only be inside a string: write it as an escaped backslash
        # and "udc80", which every parser reads as the six characters \udc80.
        return LONE_SURROGATE.sub(lambda match: f"\\\\u{ord(match.group()):04x}", text).encode("utf-8")


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never part."""
    _write_atomically(path, _json_bytes(data))


def _write_atomically(path: Path, payload: bytes) -> None:
    temp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp")
    # os.open, not tempfile.mkstemp: mkstemp makes the file 0600, os.open applies the umask as open() does.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    if os.name == "nt":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_json_object(path: Path) -> dict[str, Any]:
    """Read a JSON object; raise OSError when the file cannot be read, ValueError when it is not one."""
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    if not isinstance(data, dict):
        raise ValueError(f"JSON value is {type(data).__name__}, not an object")
    return data


def _read_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON object, or None for a missing, unreadable or non-object file."""
    try:
        return _load_json_object(path)
    except (OSError, ValueError):
        return None


S3_SCHEME = "s3://"


def _uuid7(moment: datetime) -> str:
    """A version-7 UUID: the Unix time in milliseconds, then random bits; such ids sort by when they were made."""
    value = (int(moment.timestamp() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


class _S3Sink:
    """Puts attempt objects under ``s3://bucket/prefix``; each key is written once, never read back or rewritten."""

    def __init__(self, url: str):
        bucket, _, prefix = url[len(S3_SCHEME) :].partition("/")
        if not bucket or any(part in (".", "..") for part in prefix.split("/")):
            raise ValueError(f"not an s3://bucket/prefix location: {url!r}")
        import boto3  # only for an s3:// location: the local writer stays on the standard library

        self.url = url.rstrip("/")
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client = boto3.client("s3")

    def put(self, key: str, payload: bytes) -> None:
        """Write one object at ``prefix + key``; raises (botocore's errors) when it was not written."""
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=payload, ContentType="application/json")


class ScriptLogger:
    """Handles logging of script execution attempts into ``logs_dir`` (a directory, or ``s3://bucket/prefix``).

    With an ``s3://`` location only ``log_failure`` and ``log_success`` are available: the records
    are read back through Fixtrail's readers (``LogIndex("s3://...")``), which derive sessions and fixes.
    """

    def __init__(self, logs_dir: str | os.PathLike[str]):
        self._sink = _S3Sink(os.fspath(logs_dir)) if os.fspath(logs_dir).startswith(S3_SCHEME) else None
        if self._sink:
            self.logs_dir = self._sink.url
            return
        self.logs_dir = Path(logs_dir)
        self.failures_dir = self.logs_dir / "failures"
        self.successes_dir = self.logs_dir / "successes"
        self.sessions_dir = self.logs_dir / "sessions"
        self.analysis_dir = self.logs_dir / "analysis"
        for directory in (self.failures_dir, self.successes_dir, self.sessions_dir, self.analysis_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.sessions_dir / ".lock"

    @contextlib.contextmanager
    def _tree_lock(self) -> Iterator[None]:
        """Exclusive lock for read-modify-write of session and failure files, across processes."""
        with open(self._lock_path, "a+b") as handle:
            _lock(handle)
            try:
                yield
            finally:
                _unlock(handle)

    @staticmethod
    def _get_code_hash(code: str) -> str:
        normalized = "\n".join(line.strip() for line in code.split("\n") if line.strip())
        # A lone surrogate is hashed as the text it is written as (see _json_bytes).
        return hashlib.md5(normalized.encode("utf-8", "backslashreplace")).hexdigest()[:16]

    @staticmethod
    def _categorize_error(error_message: str, stderr: str) -> str:
        text = f"{error_message or ''} {stderr or ''}".lower()
        for keywords, category in CATEGORY_KEYWORDS:
            if any(word in text for word in keywords):
                return category
        return "unknown"

    @staticmethod
    def _extract_error_type(stderr: str | None) -> str | None:
        match = ERROR_TYPE_PATTERN.search(stderr or "")
        return match.group(1) if match else None

    @staticmethod
    def _extract_tags(code: str, error_message: str, stderr: str) -> list[str]:
        tags = [f"lib:{lib}" for lib in TRACKED_LIBRARIES if f"import {lib}" in code or f"from {lib}" in code]
        tags += [tag for marker, tag in CODE_TAGS if marker in code]
        if error_message or stderr:
            text = f"{error_message or ''} {stderr or ''}".lower()
            if "import" in text:
                tags.append("error:import")
            if "matplotlib" in text:
                tags.append("error:matplotlib")
            if "stdin" in text or "json" in text:
                tags.append("error:input_parsing")
        return tags

    def _date_dir(self, base: Path, now: datetime) -> Path:
        directory = base / now.strftime("%Y-%m-%d")
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _now(self) -> datetime:
        """Now: local time without offset in a local tree (the original format), with its offset in object storage."""
        return datetime.now().astimezone() if self._sink else datetime.now()

    def _new_log_id(self, now: datetime) -> str:
        return _uuid7(now) if self._sink else str(uuid.uuid4())

    def _write_attempt(self, entry: ScriptExecutionLog, folder: str, now: datetime) -> None:
        payload = _json_bytes(asdict(entry))  # a value JSON cannot hold raises here, before any write
        if self._sink:
            day = now.astimezone(UTC).strftime("%Y-%m-%d")
            self._sink.put(f"{folder}/{day}/{entry.log_id}.json", payload)
            return
        path = self._date_dir(self.logs_dir / folder, now) / f"{entry.log_id}.json"
        try:
            _write_atomically(path, payload)
        except OSError as exc:
            if not path.exists():
                raise
            # Only the directory fsync after the rename failed: raising would make the caller log the
            # attempt a second time.
            _log.warning(
                "attempt %s is written to %s, but its directory could not be fsynced: %s", entry.log_id, path, exc
            )

    def _record_in_session(self, session_id: str, log_id: str, status: str) -> None:
        """Add the attempt to its session file; a failure is reported, not raised (the attempt is logged).

        Not in object storage, where nothing is rewritten: readers derive sessions from the attempts.
        """
        if self._sink:
            return
        try:
            self._update_session(session_id, log_id, status)
        except Exception as exc:
            _log.warning(
                "attempt %s is logged, but its session file %r was not updated: %s: %s",
                log_id,
                f"{session_id}.json",
                type(exc).__name__,
                exc,
            )

    def log_failure(
        self,
        code: str,
        error_message: str,
        stderr: str,
        return_code: int,
        session_id: str | None = None,
        user_prompt: str | None = None,
        ai_model: str | None = None,
        image_filename: str | None = None,
        stdout: str | None = None,
        previous_attempt_id: str | None = None,
        error_category: str | None = None,
        tags: list[str] | None = None,
    ) -> str:
        """Log a failed script execution; return its log_id for linking the next attempt.

        ``error_message`` and ``stderr`` given as None are written as "" (the original always wrote text
        there, and its analyzer fails on null: teams run both while they migrate).
        """
        error_message = "" if error_message is None else error_message
        stderr = "" if stderr is None else stderr
        now = self._now()
        log_id = self._new_log_id(now)
        session_id = session_id or log_id
        _check_session_id(session_id)
        entry = ScriptExecutionLog(
            log_id=log_id,
            session_id=session_id,
            timestamp=now.isoformat(),
            status="failed",
            code=code,
            code_hash=self._get_code_hash(code),
            user_prompt=user_prompt,
            ai_model=ai_model,
            image_filename=image_filename,
            error_message=error_message,
            error_type=self._extract_error_type(stderr),
            stderr=stderr,
            stdout=stdout,
            return_code=return_code,
            previous_attempt_id=previous_attempt_id,
            error_category=error_category or self._categorize_error(error_message, stderr),
            tags=tags or self._extract_tags(code, error_message, stderr),
        )
        self._write_attempt(entry, "failures", now)
        self._record_in_session(session_id, log_id, "failed")
        return log_id

    def log_success(
        self,
        code: str,
        output_files: list[str],
        session_id: str | None = None,
        user_prompt: str | None = None,
        ai_model: str | None = None,
        image_filename: str | None = None,
        stdout: str | None = None,
        execution_time: float | None = None,
        previous_attempt_id: str | None = None,
        tags: list[str] | None = None,
    ) -> str:
        """Log a successful execution; with ``previous_attempt_id``, mark that failure fixed by it (local trees)."""
        now = self._now()
        log_id = self._new_log_id(now)
        session_id = session_id or log_id
        _check_session_id(session_id)
        entry = ScriptExecutionLog(
            log_id=log_id,
            session_id=session_id,
            timestamp=now.isoformat(),
            status="success",
            code=code,
            code_hash=self._get_code_hash(code),
            user_prompt=user_prompt,
            ai_model=ai_model,
            image_filename=image_filename,
            output_files=output_files,
            stdout=stdout,
            execution_time_seconds=execution_time,
            previous_attempt_id=previous_attempt_id,
            tags=tags or self._extract_tags(code, "", ""),
        )
        self._write_attempt(entry, "successes", now)
        self._record_in_session(session_id, log_id, "success")
        if previous_attempt_id and not self._sink:
            try:
                self._mark_failure_as_fixed(previous_attempt_id, log_id)
            except Exception as exc:
                _log.warning(
                    "success %s is logged, but fixed_by of failure %s was not set: %s: %s",
                    log_id,
                    previous_attempt_id,
                    type(exc).__name__,
                    exc,
                )
        return log_id

    def _update_session(self, session_id: str, log_id: str, status: str) -> None:
        """Append the attempt to the session file under the lock (no concurrent update is lost)."""
        session_file = self.sessions_dir / f"{session_id}.json"
        with self._tree_lock():
            now = datetime.now().isoformat()
            session = self._read_session(session_file) or {
                "session_id": session_id,
                "created_at": now,
                "attempts": [],
                "status": "in_progress",
            }
            session.setdefault("attempts", [])
            session["attempts"].append({"log_id": log_id, "timestamp": now, "status": status})
            if status == "success":
                session["status"] = "resolved"
                session["resolved_at"] = now
            session["updated_at"] = now
            write_json_atomically(session_file, session)

    @staticmethod
    def _read_session(session_file: Path) -> dict[str, Any] | None:
        """The session file's object, or None when there is none or it cannot be parsed.

        A file that cannot be parsed may hold the only list of its session's attempts (or be half
        written by an in-place writer): it is renamed aside, with a warning, never overwritten.
        """
        try:
            session = _load_json_object(session_file)
            if isinstance(session.get("attempts", []), list):
                return session
            problem = "its attempts are not a list"
        except FileNotFoundError:
            return None
        except ValueError as exc:
            problem = str(exc)
        aside = session_file.with_name(f"{session_file.name}.corrupt-{datetime.now():%Y%m%dT%H%M%S%f}")
        os.replace(session_file, aside)
        _log.warning(
            "session file %s cannot be parsed (%s): kept as %s, a new one is started", session_file, problem, aside.name
        )
        return None

    def _find_log_file(self, log_id: str, bases: tuple[Path, ...] | None = None) -> Path | None:
        if _name_problem(log_id):
            return None
        for base in bases or (self.failures_dir, self.successes_dir):
            if not base.is_dir():
                continue
            for date_dir in sorted(base.iterdir(), reverse=True):
                candidate = date_dir / f"{log_id}.json"
                if date_dir.is_dir() and candidate.is_file():
                    return candidate
        return None

    def _mark_failure_as_fixed(self, failure_log_id: str, success_log_id: str) -> None:
        """Set ``fixed_by`` in the failure's file, if there is one; raise when it cannot be read or written."""
        with self._tree_lock():
            failure_file = self._find_log_file(failure_log_id, (self.failures_dir,))
            if failure_file is None:
                return
            failure = _load_json_object(failure_file)
            failure["fixed_by"] = success_log_id
            write_json_atomically(failure_file, failure)

    def _refuse_reads_from_object_storage(self) -> None:
        if self._sink:
            raise NotImplementedError(
                f"a ScriptLogger on {self.logs_dir} only writes: read the records with LogIndex({self.logs_dir!r})"
            )

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        """The session file's content, or None if there is none (or the id cannot name a file)."""
        self._refuse_reads_from_object_storage()
        if _name_problem(session_id):
            return None
        return _read_json(self.sessions_dir / f"{session_id}.json")

    def get_log(self, log_id: str) -> dict[str, Any] | None:
        """One attempt record by log_id, or None."""
        self._refuse_reads_from_object_storage()
        path = self._find_log_file(log_id)
        return _read_json(path) if path else None

    def _iter_records(self, base: Path) -> Iterator[dict[str, Any]]:
        if not base.is_dir():
            return
        for date_dir in sorted(base.iterdir(), reverse=True):
            if not date_dir.is_dir():
                continue
            for path in date_dir.glob("*.json"):
                if path.name.startswith("."):
                    continue
                record = _read_json(path)
                if record is not None:
                    record.setdefault("log_id", path.stem)
                    yield record

    def _recent(self, base: Path, limit: int) -> list[dict[str, Any]]:
        records = sorted(self._iter_records(base), key=lambda r: str(r.get("timestamp") or ""), reverse=True)
        return records[: max(0, limit)]

    def get_recent_failures(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest failures (by timestamp), at most ``limit``."""
        self._refuse_reads_from_object_storage()
        return self._recent(self.failures_dir, limit)

    def get_recent_successes(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest successes (by timestamp), at most ``limit``."""
        self._refuse_reads_from_object_storage()
        return self._recent(self.successes_dir, limit)

    def get_unfixed_failures(self) -> list[dict[str, Any]]:
        """Failures that are not fixed: no ``fixed_by`` and no later success in the same session."""
        self._refuse_reads_from_object_storage()
        latest_success: dict[str, str] = {}
        for success in self._iter_records(self.successes_dir):
            session, stamp = str(success.get("session_id") or success["log_id"]), str(success.get("timestamp") or "")
            latest_success[session] = max(latest_success.get(session, ""), stamp)
        unfixed = []
        for failure in self._iter_records(self.failures_dir):
            if failure.get("fixed_by"):
                continue
            session = str(failure.get("session_id") or failure["log_id"])
            if latest_success.get(session, "") > str(failure.get("timestamp") or ""):
                continue
            unfixed.append(failure)
        return unfixed
