"""Answers encoded once per index state: a repeated request skips validation and JSON encoding.

FastAPI validates every answer against its route's response model and encodes it again on each
request; for a big answer (``/analysis`` at 100,000 sessions) that costs more than reading the
result itself. Here the body is validated and serialised by the same model once, kept with the
index's other results (``loaders.store.stored_results.remembered``, so it is dropped when the logs
change), and sent as the bytes it became. The route keeps ``response_model`` for /openapi.json.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from loaders.store.index import LogIndex
from loaders.store.stored_results import remembered
from loaders.text.secrets import mask_secrets

JSON_MEDIA_TYPE = "application/json"
# Answers at least this big are sent gzipped to a client that accepts it (``/analysis`` at 20,000
# sessions is 1.4 MB of JSON, about a tenth of that gzipped); compressed once, like the encoding.
GZIP_FROM_BYTES = 4096
GZIP_LEVEL = 6


@dataclass(frozen=True)
class EncodedAnswer:
    """One answer's JSON bytes, and, when it is big, the same gzipped (compressed where it is encoded,
    in a worker thread, never on the event loop)."""

    body: bytes
    gzipped: bytes | None = field(default=None, repr=False)

    @classmethod
    def of(cls, body: bytes) -> EncodedAnswer:
        """The answer for these JSON bytes, gzipped too when they are big."""
        big = len(body) >= GZIP_FROM_BYTES
        return cls(body, gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0) if big else None)

    def response(self, request: Request) -> Response:
        """The answer for this request: gzipped when it is big and the client accepts gzip."""
        if self.gzipped is None or not accepts_gzip(request):
            return Response(self.body, media_type=JSON_MEDIA_TYPE, headers={"Vary": "Accept-Encoding"})
        headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return Response(self.gzipped, media_type=JSON_MEDIA_TYPE, headers=headers)


def accepts_gzip(request: Request) -> bool:
    """True when the request's ``Accept-Encoding`` names gzip (or ``*``) with a quality above 0."""
    for coding in request.headers.get("accept-encoding", "").lower().split(","):
        name, *params = (part.strip() for part in coding.split(";"))
        if name not in ("gzip", "*"):
            continue
        quality = next((param[2:] for param in params if param.startswith("q=")), "1")
        try:
            return float(quality) > 0
        except ValueError:
            return False
    return False


def serialised(model: type[BaseModel], body: dict[str, Any]) -> dict[str, Any]:
    """``body`` validated by ``model`` and dumped as JSON types, secrets masked: what FastAPI would send for it."""
    return mask_secrets(model.model_validate(body).model_dump(mode="json", by_alias=True))


def json_response(content: bytes | dict[str, Any]) -> Response:
    """A JSON answer from encoded bytes, or from a dict of JSON types."""
    payload = content if isinstance(content, bytes) else orjson.dumps(content)
    return Response(payload, media_type=JSON_MEDIA_TYPE)


def encode(model: type[BaseModel], body: dict[str, Any]) -> EncodedAnswer:
    """``body`` as ``model`` serialises it, encoded."""
    return EncodedAnswer.of(orjson.dumps(serialised(model, body)))


def encoded_answer(
    request: Request,
    index: LogIndex,
    name: str,
    args: tuple,
    model: type[BaseModel],
    build: Callable[[], dict[str, Any]],
) -> Response:
    """The answer ``build()`` gives, as ``model`` serialises it, encoded once per index state and ``args``."""
    return remembered(index, name, args, lambda: encode(model, build())).response(request)
