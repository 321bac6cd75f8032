"""Response models of the REST API (the original's shapes: ``{"success": true, ...}``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Envelope(BaseModel):
    """Every answer carries ``success``."""

    model_config = ConfigDict(extra="allow")
    success: bool = True


class SummaryBody(BaseModel):
    """The seven numbers of the original, plus sessions, skipped files and the window's end."""

    total_failures: int
    total_successes: int
    unfixed_failures: int
    fixed_failures: int
    overall_success_rate: float
    recent_success_rate_7d: float
    recent_attempts_7d: int
    sessions: int
    skipped_files: int
    previous_success_rate_7d: float
    previous_attempts_7d: int
    as_of: str


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


class ErrorResponse(BaseModel):
    """What every error answers: ``success`` false and a one-line ``error``."""

    success: bool = False
    error: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Not found"},
    422: {"model": ErrorResponse, "description": "Invalid parameter"},
}
