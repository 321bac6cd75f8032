"""Turning one JSON file of the log tree into one slim index row, or a reason to skip it.

The schema is explicit (ATTEMPT_COLUMNS): nothing is sniffed. Odd values are coerced and the
coercion is written into the row's ``flags`` so that nothing changes silently.

About 500 lines on purpose: one row's columns, their coercions and the flags that say so are read
together (a reader checking what happens to a ``"return_code": "2"`` finds it here, not in a
neighbour), and the parse workers import this one module.
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from loaders.core.files import UnreadableFile, open_for_reading, read_descriptor
from loaders.text import code_text, error_text, secrets
from loaders.text.domain import bridge_issue_kind

# (name, DuckDB type) of every column stored per attempt file, in table order.
ATTEMPT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("log_id", "VARCHAR"),
    ("session_id", "VARCHAR"),
    ("timestamp", "TIMESTAMP"),
    ("status", "VARCHAR"),
    ("code_hash", "VARCHAR"),
    ("user_prompt", "VARCHAR"),
    ("ai_model", "VARCHAR"),
    ("image_filename", "VARCHAR"),
    ("error_message", "VARCHAR"),
    ("error_type", "VARCHAR"),
    ("return_code", "BIGINT"),
    ("output_files", "VARCHAR[]"),
    ("execution_time_seconds", "DOUBLE"),
    ("previous_attempt_id", "VARCHAR"),
    ("fixed_by", "VARCHAR"),
    ("error_category", "VARCHAR"),
    ("tags", "VARCHAR[]"),
    ("error_line", "VARCHAR"),
    ("error_signature", "VARCHAR"),
    ("fingerprint", "VARCHAR"),
    ("category", "VARCHAR"),
    ("imports", "VARCHAR[]"),
    ("code_sketch", "UINTEGER[]"),
    ("blamed_libraries", "VARCHAR[]"),
    ("bridge_issue", "VARCHAR"),
    ("code_lines", "INTEGER"),
    ("stdout_chars", "BIGINT"),
    ("stderr_chars", "BIGINT"),
    ("secret_kinds", "VARCHAR[]"),
    ("flags", "VARCHAR[]"),
    ("path", "VARCHAR"),
    ("dir", "VARCHAR"),
    ("folder", "VARCHAR"),
    ("size", "BIGINT"),
    ("mtime_ns", "BIGINT"),
)

SESSION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("session_id", "VARCHAR"),
    ("created_at", "TIMESTAMP"),
    ("status", "VARCHAR"),
    ("updated_at", "TIMESTAMP"),
    ("resolved_at", "TIMESTAMP"),
    ("attempt_ids", "VARCHAR[]"),
    ("path", "VARCHAR"),
    ("dir", "VARCHAR"),
    ("size", "BIGINT"),
    ("mtime_ns", "BIGINT"),
)

SKIPPED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("path", "VARCHAR"),
    ("dir", "VARCHAR"),
    ("folder", "VARCHAR"),
    ("size", "BIGINT"),
    ("mtime_ns", "BIGINT"),
    ("reason", "VARCHAR"),
)

# Timestamps outside this range are flagged and replaced by the file's time: a record dated 9999 or
# 0001 would stretch every daily chart over millennia, and date arithmetic near the ends overflows.
TIMESTAMP_RANGE = (datetime(1900, 1, 1), datetime(2200, 1, 1))
MAX_FILE_MB_ENV = "FIXTRAIL_MAX_FILE_MB"
DEFAULT_MAX_FILE_MB = 64.0

STATUS_BY_FOLDER = {"failures": "failed", "successes": "success"}
_STRING_FIELDS = (
    "code_hash",
    "user_prompt",
    "ai_model",
    "image_filename",
    "error_message",
    "error_type",
    "previous_attempt_id",
    "fixed_by",
    "error_category",
)


@dataclass(frozen=True)
class FileStamp:
    """Where a file is and the size and mtime it had when it was read (-1: not stat-ed yet)."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ParseResult:
    """A parsed file: ``row`` (a dict of the table's columns) or ``reason`` it was skipped."""

    stamp: FileStamp
    row: dict[str, Any] | None = None
    reason: str | None = None


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a file as one UTF-8 JSON object (a byte-order mark allowed), or raise UnreadableFile."""
    return parse_json_object(_read_bytes(path)[0])


def max_record_bytes() -> int:
    """The largest file read as a record, in bytes: ``$FIXTRAIL_MAX_FILE_MB`` (default 64) MiB.

    A bigger file is skipped with its reason: one 1 GB record would otherwise cost gigabytes of
    memory in every load and every response that shows it.
    """
    return _limit_of(os.environ.get(MAX_FILE_MB_ENV, ""))


@functools.lru_cache(maxsize=8)
def _limit_of(setting: str) -> int:
    text = setting.strip()
    try:
        megabytes = float(text) if text else DEFAULT_MAX_FILE_MB
    except ValueError:
        megabytes = DEFAULT_MAX_FILE_MB
    return int(megabytes * (1 << 20)) if megabytes > 0 else int(DEFAULT_MAX_FILE_MB * (1 << 20))


def _read_bytes(path: str | os.PathLike[str], limit: int | None = None) -> tuple[bytes, os.stat_result]:
    """The file's bytes and its stat taken on the open file (so the stamp belongs to what was read).

    Opened non-blocking and checked on the open descriptor: a FIFO or device put where a record
    was (or behind a link) is refused at once instead of blocking the reader for good. Plain
    os.open/os.read: for the many small files of a tree, the io module's buffered file object
    costs more than the read itself.
    """
    try:
        fd = open_for_reading(path)
    except FileNotFoundError as exc:  # gone since it was listed: a record that cannot be read
        raise UnreadableFile(f"cannot be read: {exc.strerror or exc}") from exc
    return read_descriptor(fd, limit or max_record_bytes(), MAX_FILE_MB_ENV)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse bytes as one UTF-8 JSON object (a byte-order mark allowed), or raise UnreadableFile."""
    try:  # the common case first: orjson refuses what is not UTF-8, so a success needs no other check
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = _parse_refused(raw)
    if not isinstance(value, dict):
        kind = "null" if value is None else type(value).__name__
        raise UnreadableFile(f"JSON value is {kind}, not an object")
    return value


def _parse_refused(raw: bytes) -> Any:
    """Parse what orjson refused, or raise UnreadableFile saying why: a byte-order mark, an empty
    file, bytes that are not UTF-8, JSON that only Python's json accepts, or no JSON at all."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        raise UnreadableFile("empty file")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8 text (byte {exc.start})") from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _parse_with_json_module(raw, exc)


def _parse_with_json_module(raw: bytes, orjson_error: orjson.JSONDecodeError) -> Any:
    """Parse JSON that orjson refuses but Python's json accepts (a lone surrogate escape, ``1e400``).

    Lone surrogates are kept as visible ``\\udc80`` text: the index stores UTF-8 only.
    """
    try:
        return _without_surrogates(json.loads(raw.decode("utf-8")))
    except RecursionError as exc:
        raise UnreadableFile("invalid JSON: nested too deeply") from exc
    except ValueError as exc:
        raise UnreadableFile(f"invalid JSON: {str(orjson_error)[:120]}") from exc


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8") if _has_surrogate(value) else value
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(key): _without_surrogates(item) for key, item in value.items()}
    return value


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_timestamp(value: Any) -> tuple[datetime | None, str | None]:
    """Return (naive local datetime, flag) for a timestamp value of any type.

    ISO 8601 text with or without an offset is accepted (an offset is converted to local time);
    a number is taken as Unix seconds and flagged; anything else, or a moment outside
    TIMESTAMP_RANGE (year 0001 and 9999 included), gives (None, flag).
    """
    if isinstance(value, bool) or value is None:
        return None, "timestamp missing"
    if isinstance(value, (int, float)):
        try:
            parsed = datetime.fromtimestamp(float(value))
        except (OverflowError, OSError, ValueError):
            return None, "timestamp out of range"
        return (
            (parsed, "timestamp was a number (Unix seconds)") if _in_range(parsed) else (None, "timestamp out of range")
        )
    if not isinstance(value, str):
        return None, "timestamp unparseable"
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None, "timestamp unparseable"
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone().replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            return None, "timestamp out of range"
    return (parsed, None) if _in_range(parsed) else (None, "timestamp out of range")


def _in_range(moment: datetime) -> bool:
    return TIMESTAMP_RANGE[0] <= moment < TIMESTAMP_RANGE[1]


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


_future: list = [float("-inf"), datetime.max]  # (monotonic time it was worked out, the limit)
FUTURE_LIMIT_REFRESH_SECONDS = 10.0


def _directory_of(path: str) -> str:
    """``os.path.dirname`` of a path as the tree lists it (no trailing separator), at a third of its cost."""
    head, separator, _ = path.rpartition(os.sep)
    return head if head or not separator else separator


def _future_limit() -> datetime:
    """A timestamp later than this (a day ahead of now) is flagged as in the future.

    Worked out again every few seconds, not for each of the tens of thousands of records of a load.
    """
    now = time.monotonic()
    if now - _future[0] > FUTURE_LIMIT_REFRESH_SECONDS:
        _future[:] = [now, datetime.now() + timedelta(days=1)]
    return _future[1]


def _as_text(value: Any, name: str, flags: list[str]) -> str | None:
    if value is None or isinstance(value, str):
        return value
    flags.append(f"{name} was {type(value).__name__}")
    return _plain_text(value)


def _plain_text(value: Any) -> str:
    """A value that is not text, as text: JSON for lists and objects (guarded against deep nesting)."""
    return _json_text(value) if isinstance(value, (dict, list)) else str(value)


TOO_DEEP = "[a value nested too deeply to show]"


def _json_text(value: Any) -> str:
    """A nested value as JSON text (the standard library's encoder takes integers of any size), or
    TOO_DEEP for one nested beyond what the encoder follows (a hostile record: 1,000 lists deep)."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        return TOO_DEEP


def _as_text_list(value: Any, name: str, flags: list[str]) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        flags.append(f"{name} was a string")
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            return value
        flags.append(f"{name} held non-text items")
        return [item if isinstance(item, str) else _json_text(item) for item in value]
    flags.append(f"{name} was {type(value).__name__}")
    return [str(value)]


INT64_RANGE = range(-(2**63), 2**63)


def _as_int(value: Any, name: str, flags: list[str]) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value in INT64_RANGE):
        return value
    try:
        number = int(float(value)) if not isinstance(value, int) else value
    except (TypeError, ValueError, OverflowError):
        flags.append(f"{name} unreadable")
        return None
    if number not in INT64_RANGE:
        flags.append(f"{name} out of range")
        return None
    flags.append(f"{name} was {type(value).__name__}")
    return number


def _as_float(value: Any, name: str, flags: list[str]) -> float | None:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return None if value is None else float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        flags.append(f"{name} unreadable")
        return None
    flags.append(f"{name} was {type(value).__name__}")
    return number


def attempt_row(data: dict[str, Any], stamp: FileStamp, folder: str) -> dict[str, Any]:
    """Coerce one attempt object into a row of ATTEMPT_COLUMNS (derived columns included).

    Parameters: the parsed JSON object, the file's stamp, and its top folder (failures/successes).
    Written for speed (it runs once per attempt of every load): values of the expected type are
    taken as they are, and only the others go through the coercions that flag them.
    """
    flags: list[str] = []
    get = data.get
    log_id = get("log_id")
    if not isinstance(log_id, str) or not log_id.strip():
        flags.append("log_id missing; file name used")
        log_id = _stem(stamp.path)
    session_id = get("session_id")
    if not isinstance(session_id, str) or not session_id.strip():
        flags.append("session_id missing; attempt is its own session")
        session_id = log_id
    timestamp, timestamp_flag = parse_timestamp(get("timestamp"))
    if timestamp_flag:
        flags.append(timestamp_flag)
    if timestamp is None:
        timestamp = datetime.fromtimestamp(stamp.mtime_ns / 1e9)
        flags.append("file time used as timestamp")
    elif timestamp > _future_limit():
        flags.append("timestamp in the future")
    status = get("status")
    folder_status = STATUS_BY_FOLDER[folder]
    if status not in ("failed", "success"):
        flags.append(f"status {status!r} replaced by folder's {folder_status!r}")
        status = folder_status
    elif status != folder_status:
        flags.append(f"status {status!r} in folder {folder}/")

    row: dict[str, Any] = {}
    for name in _STRING_FIELDS:
        value = get(name)
        row[name] = value if value is None or type(value) is str else _as_text(value, name, flags)
    stderr = get("stderr")
    if stderr is not None and type(stderr) is not str:
        stderr = _as_text(stderr, "stderr", flags)
    code = get("code")
    if code is not None and type(code) is not str:
        code = _as_text(code, "code", flags)
    tags = _as_text_list(get("tags"), "tags", flags)
    imports = code_text.code_imports(code)
    failed = status == "failed"
    error_line = category = blamed = bridge_issue = None
    if failed:
        error_message = row["error_message"]
        error_line = error_text.key_error_line(error_message, stderr)
        if not row["error_type"]:
            row["error_type"] = error_text.error_type_of(stderr)
        category = error_text.derived_category(row["error_category"], row["error_type"], error_line)
        tagged = [tag[4:] for tag in tags if tag.startswith("lib:") and len(tag) > 4] if tags else ()
        used = sorted({*imports, *tagged}) if tagged else imports  # code_imports' list is sorted and distinct
        blamed = error_text.blamed_libraries(used, error_line, stderr)
        bridge_issue = bridge_issue_kind(code, error_message, stderr)
    signature = error_text.error_signature(error_line)
    return_code = get("return_code")
    if return_code is not None and (type(return_code) is not int or return_code not in INT64_RANGE):
        return_code = _as_int(return_code, "return_code", flags)
    output_files = _as_text_list(get("output_files"), "output_files", flags)  # flags in column order
    seconds = get("execution_time_seconds")
    if seconds is not None and type(seconds) is not float:
        seconds = _as_float(seconds, "execution_time_seconds", flags)
    stdout = get("stdout")
    row.update(
        log_id=log_id,
        session_id=session_id,
        timestamp=timestamp,
        status=status,
        return_code=return_code,
        output_files=output_files,
        execution_time_seconds=seconds,
        tags=tags,
        error_line=error_line,
        error_signature=signature,
        fingerprint=error_text.fingerprint(signature),
        category=category,
        imports=imports,
        blamed_libraries=blamed,
        # Only an attempt that may stand alone needs a sketch (loaders.store.facts infers its session).
        code_sketch=code_text.code_sketch(code) if _may_stand_alone(data, log_id, session_id) else None,
        bridge_issue=bridge_issue,
        code_lines=code.count("\n") + 1 if code else 0,
        stdout_chars=None if stdout is None else len(stdout if type(stdout) is str else _plain_text(stdout)),
        stderr_chars=None if stderr is None else len(stderr),
        secret_kinds=None,  # settled for the whole batch by rows_to_json (settle_secret_kinds)
        **{SECRET_TEXT: _secret_text(row["user_prompt"], code, row["error_message"], stderr, stdout)},
        flags=flags,
        path=stamp.path,
        dir=_directory_of(stamp.path),
        folder=folder,
        size=stamp.size,
        mtime_ns=stamp.mtime_ns,
    )
    return row


SECRET_SCAN_ROWS = 50  # rows scanned in one pass: longer joins cost more in copying than they save
SECRET_TEXT = "_secret_text"  # noqa: S105 (a key, not a secret). A row's texts, until settle_secret_kinds scans them


def _secret_text(*texts: Any) -> tuple[str, ...]:
    """An attempt's texts (prompt, code, error message, stderr, stdout), for the secret scan (kept as
    they are: the scan joins a batch's texts once)."""
    return tuple(text for text in texts if type(text) is str and text)


def settle_secret_kinds(rows: list[dict[str, Any]]) -> None:
    """Set each attempt row's ``secret_kinds`` (what Data health lists for purging at the source) from
    the texts attempt_row left under SECRET_TEXT, and drop those texts.

    One scan over each SECRET_SCAN_ROWS rows' texts joined first (loaders.text.secrets.holds_secret: one
    call instead of fifty): most hold no secret and cost nothing more; those that do are scanned
    record by record. Rows without the texts (not made by attempt_row) are left as they are.
    """
    texts = [row.pop(SECRET_TEXT, None) or () for row in rows]
    for start in range(0, len(rows), SECRET_SCAN_ROWS):
        chunk = texts[start : start + SECRET_SCAN_ROWS]
        if not secrets.holds_secret("\n".join(text for parts in chunk for text in parts)):
            continue
        for row, parts in zip(rows[start : start + SECRET_SCAN_ROWS], chunk, strict=True):
            if parts:
                row["secret_kinds"] = secrets.secret_kinds("\n".join(parts)) or None


def _may_stand_alone(data: dict[str, Any], log_id: str, session_id: str) -> bool:
    """False for an attempt whose record links it (a previous attempt, a fix, a session of its own id)."""
    return session_id == log_id and not data.get("previous_attempt_id") and not data.get("fixed_by")


def session_row(data: dict[str, Any], stamp: FileStamp) -> dict[str, Any]:
    """Coerce one session file's object into a row of SESSION_COLUMNS."""
    attempts = data.get("attempts")
    attempt_ids = []
    if isinstance(attempts, list):
        attempt_ids = [a["log_id"] for a in attempts if isinstance(a, dict) and isinstance(a.get("log_id"), str)]
    session_id = data.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        session_id = _stem(stamp.path)
    status = data.get("status")
    return {
        "session_id": session_id,
        "created_at": parse_timestamp(data.get("created_at"))[0],
        "status": status if isinstance(status, str) else None,
        "updated_at": parse_timestamp(data.get("updated_at"))[0],
        "resolved_at": parse_timestamp(data.get("resolved_at"))[0],
        "attempt_ids": attempt_ids,
        "path": stamp.path,
        "dir": os.path.dirname(stamp.path),
        "size": stamp.size,
        "mtime_ns": stamp.mtime_ns,
    }


def parse_file(stamp: FileStamp, folder: str, limit: int | None = None) -> ParseResult:
    """Read and coerce one file of ``folder`` (failures, successes or sessions) into a ParseResult.

    The result's stamp is taken from the opened file, whatever ``stamp`` said. ``limit``:
    max_record_bytes(), read once for many files by the caller (it reads the environment).
    """
    try:
        raw, info = _read_bytes(stamp.path, limit)
        stamp = FileStamp(stamp.path, info.st_size, info.st_mtime_ns)
        data = parse_json_object(raw)
    except UnreadableFile as exc:
        return ParseResult(stamp, reason=str(exc))
    if folder == "sessions":
        return ParseResult(stamp, row=session_row(data, stamp))
    return ParseResult(stamp, row=attempt_row(data, stamp, folder))


def skipped_row(stamp: FileStamp, folder: str, reason: str) -> dict[str, Any]:
    """A row of SKIPPED_COLUMNS: a file that is not a record, and why."""
    return {
        "path": stamp.path,
        "dir": os.path.dirname(stamp.path),
        "folder": folder,
        "size": stamp.size,
        "mtime_ns": stamp.mtime_ns,
        "reason": reason,
    }


def rows_to_json(rows: list[dict[str, Any]]) -> bytes:
    """Rows as one JSON array (datetimes as ISO text), the form the index ingests them in; attempt rows'
    ``secret_kinds`` are settled first (settle_secret_kinds).

    DuckDB reads it with the explicit column types of ATTEMPT_COLUMNS and the like: nothing is
    sniffed, and neither Arrow nor pandas is needed to load files.
    """
    settle_secret_kinds(rows)
    return orjson.dumps(rows)


def utc_now_iso() -> str:
    """Return the current UTC time as ISO 8601 text (for the index's bookkeeping)."""
    return datetime.now(UTC).isoformat()
