"""Response models of the REST API (the original's shapes: ``{"success": true, ...}``)."""

from __future__ import annotations

from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, create_model

from loaders.metrics import Summary


class Envelope(BaseModel):
    """Every answer carries ``success``."""

    model_config = ConfigDict(extra="allow")
    success: bool = True


# The summary's fields are the loaders' Summary, except ``as_of``: local time without an offset, so
# plain text rather than an RFC 3339 date-time.
SummaryBody = create_model(
    "SummaryBody",
    **{name: (hint, ...) for name, hint in get_type_hints(Summary).items() if name != "as_of"},
    as_of=(str, ...),
)


class SummaryResponse(Envelope):
    summary: SummaryBody


class AnalysisResponse(Envelope):
    analysis: dict[str, Any]


class FailuresResponse(Envelope):
    failures: list[dict[str, Any]]
    count: int


class SuccessesResponse(Envelope):
    successes: list[dict[str, Any]]
    count: int


class SessionResponse(Envelope):
    session: dict[str, Any]
    attempts: list[dict[str, Any]]


class LogResponse(Envelope):
    log: dict[str, Any]


class ContextResponse(Envelope):
    context: str


class ErrorPatternsResponse(Envelope):
    error_patterns: list[dict[str, Any]]
    common_errors: list[dict[str, Any]]
    fingerprints: list[dict[str, Any]]


class RecommendationsResponse(Envelope):
    recommendations: list[str]
    ai_learning_summary: str


class FixRulesResponse(Envelope):
    rules: list[dict[str, Any]]
    sessions_inferred: bool


class FingerprintsResponse(Envelope):
    fingerprints: list[dict[str, Any]]
    as_of: str


class ErrorResponse(BaseModel):
    """What every error answers: ``success`` false and a one-line ``error``."""

    success: bool = False
    error: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The Host header names a host this server does not answer to"},
    404: {"model": ErrorResponse, "description": "Not found"},
    422: {"model": ErrorResponse, "description": "Invalid parameter"},
    503: {"model": ErrorResponse, "description": "The index could not be loaded (the error says why); retry"},
}
