"""Response models of the REST API: the original's shapes (``{"success": true, ...}``), Fixtrail's keys beside.

The original's keys are typed one by one, so /openapi.json documents them; the attempt records
themselves are passed on as written (readers accept odd values), so their fields are documented
but not narrowed.
"""

from __future__ import annotations

from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from loaders.analysis.metrics import Summary
from loaders.analysis.stats import Difference
from loaders.outputs.compat import ExecutionCounts


class Envelope(BaseModel):
    """Every answer carries ``success``."""

    model_config = ConfigDict(extra="allow")
    success: bool = True


def _fields_of(dataclass_type: type, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    return {name: (hint, ...) for name, hint in get_type_hints(dataclass_type).items() if name not in leave_out}


# The original's five numbers (executions = attempts).
ExecutionCountsBody = create_model("ExecutionCountsBody", **_fields_of(ExecutionCounts))


# The summary route's body: the original's five, then Fixtrail's numbers (loaders' Summary), except
# ``as_of``: local time without an offset, so plain text rather than an RFC 3339 date-time.
class RateBasis(BaseModel):
    """What a rate rests on: its n (attempts, or sessions for first-try rates), the successes, Wilson's
    95 % interval in percent, and whether n reaches ``min_n`` (below it, surfaces show no number)."""

    n: int
    successes: int
    ci_low: float | None
    ci_high: float | None
    enough: bool


# The summary's 7-day changes: the window (b) against the 7 days before (a), in points, with Newcombe's
# 95 % interval; ``significant`` when it excludes zero and both windows reach ``min_n``.
RateChange = create_model(
    "RateChange",
    __doc__="The 7-day window (b) against the 7 days before (a): each rate and n, b - a with its 95 % interval.",
    **_fields_of(Difference),
)


SummaryBody = create_model(
    "SummaryBody",
    **_fields_of(ExecutionCounts),
    **_fields_of(Summary, ("as_of",)),
    as_of=(str, ...),
    window_start=(str, Field(description="start of the 7-day window (exclusive), ISO 8601 local time")),
    window_end=(str, Field(description="end of the 7-day window (inclusive): as_of")),
    rates=(dict[str, RateBasis], Field(description="each rate key of the summary: what it rests on")),
    changes=(dict[str, RateChange], Field(description="success_rate_7d and first_try_success_rate_7d")),
    min_n=(int, Field(description="the fewest attempts (sessions) a rate is shown from ($FIXTRAIL_MIN_N)")),
)

# The analysis' summary: the original analyzer's seven numbers and the original API's five.
AnalysisSummary = create_model(
    "AnalysisSummary",
    __config__=ConfigDict(extra="allow"),
    **_fields_of(ExecutionCounts),
    **{
        name: (hint, ...)
        for name, hint in get_type_hints(Summary).items()
        if name
        in (
            "total_failures",
            "total_successes",
            "unfixed_failures",
            "fixed_failures",
            "overall_success_rate",
            "recent_success_rate_7d",
            "recent_attempts_7d",
        )
    },
)


class SummaryResponse(Envelope):
    summary: SummaryBody
    generated_at: str = Field(description="when this answer was computed, ISO 8601 local time")


class AttemptRecord(BaseModel):
    """An attempt record as the writer wrote it (LOG_FORMAT.md): values as read, odd ones included."""

    model_config = ConfigDict(extra="allow")
    log_id: Any = Field(None, description="UUID4 string; equals the file's stem")
    session_id: Any = Field(None, description="the session it was logged in")
    timestamp: Any = Field(None, description="ISO 8601 as written (local time, microseconds)")
    status: Any = Field(None, description="failed or success")
    code: Any = Field(None, description="the full script")
    code_hash: Any = Field(None, description="first 16 hex of md5 of the code, blank lines dropped")
    user_prompt: Any = Field(None, description="what the user asked for")
    ai_model: Any = Field(None, description="the model that generated the code")
    image_filename: Any = Field(None, description="the input file the script ran on")
    error_message: Any = Field(None, description="failures: the concise error")
    error_type: Any = Field(None, description="failures: the exception class found in stderr")
    stderr: Any = Field(None, description="the full stderr")
    stdout: Any = Field(None, description="the full stdout")
    return_code: Any = Field(None, description="failures: the exit code")
    output_files: Any = Field(None, description="successes: the files produced")
    execution_time_seconds: Any = Field(None, description="successes: wall time")
    previous_attempt_id: Any = Field(None, description="the attempt this one retried")
    fixed_by: Any = Field(None, description="failures: log_id of the success that fixed it, as the writer set it")
    error_category: Any = Field(None, description="failures: the writer's keyword category")
    tags: Any = Field(None, description="e.g. lib:numpy, request_type:tileset")


class ExecutionItem(AttemptRecord):
    """One attempt in a list: the original's item keys beside the record's own (big texts cut).

    Text fields longer than 10,000 characters end with ``... [cut: N characters in all]``;
    ``cut_fields`` names them with their full length. The full record: ``/api/logs/log/{id}``.
    """

    id: str = Field(description="the attempt's log_id")
    status: str | None = Field(
        description="the original's word: error, timeout or success (the record's in log_status)"
    )
    log_status: str | None = Field(None, description="the record's own status: failed or success")
    error_message: str | None = Field(description="the concise error (failures), cut when long")
    started_at: str | None = Field(description="the record's timestamp as written")
    completed_at: str | None = Field(description="started_at plus execution_time_seconds, when both are known")
    user_id: None = Field(description="always null: the logs do not record it")
    script_id: None = Field(description="always null: the logs do not record it")
    script_name: None = Field(description="always null: the logs do not record it")
    cut_fields: dict[str, int] = Field(description="the text fields that were cut, with their full length")


class AnalysisBody(BaseModel):
    """The original API's analysis keys (summary, recent_executions, generated_at) and the full analysis beside."""

    model_config = ConfigDict(extra="allow")
    summary: AnalysisSummary
    recent_executions: list[ExecutionItem] = Field(description="the 100 newest attempts")
    generated_at: str


class AnalysisResponse(Envelope):
    analysis: AnalysisBody


class Paged(Envelope):
    """A page of a list: ``count`` on this page, ``total`` in all, and the link to the ``next`` page."""

    count: int
    total: int = Field(description="how many the whole list holds")
    offset: int = Field(description="how many were skipped before this page")
    limit: int = Field(description="at most this many per page (1-1000)")
    next: str | None = Field(description="the next page's address, or null on the last page")


class FailuresResponse(Paged):
    failures: list[ExecutionItem]


class SuccessesResponse(Paged):
    successes: list[ExecutionItem]


class TriageEvent(BaseModel):
    """One decision on an error, as kept in the tree (analysis/triage.jsonl or analysis/triage/)."""

    model_config = ConfigDict(extra="allow")
    id: str
    at: str
    who: str
    action: str
    fingerprint: str
    what: str = Field(description="the event in words")


class TriageError(BaseModel):
    """An error group with the team's decisions."""

    fingerprint: str
    error: str
    category: str | None
    triage: str = Field(description="regressed, escalating, unresolved, resolving, resolved or ignored")
    assignee: str | None
    count: int
    first_seen: str
    last_seen: str
    members: list[str] = Field(description="fingerprints merged into this one")
    events: list[TriageEvent] = Field(description="the activity trail, oldest first")


class TriageResponse(Paged):
    state: str
    problems: list[str] = Field(description="events that could not be read, in words")
    errors: list[TriageError]


class TriageEventResponse(Envelope):
    event: TriageEvent


class SessionAttemptEntry(BaseModel):
    """One attempt as a session file lists it."""

    model_config = ConfigDict(extra="allow")
    log_id: Any = None
    timestamp: Any = None
    status: Any = None


class SessionFile(BaseModel):
    """The session file as written (or made in its shape when there is none)."""

    model_config = ConfigDict(extra="allow")
    session_id: Any = None
    created_at: Any = None
    attempts: Any = Field(None, description="[{log_id, timestamp, status}] as the writer lists them")
    status: Any = Field(None, description="the writer's words: in_progress or resolved")
    updated_at: Any = None


class SessionResponse(Envelope):
    session: SessionFile
    attempts: list[AttemptRecord] = Field(description="full attempt records in time order")
    attempt_count: int
    missing_attempt_ids: list[str] = Field(description="listed by the session file, with no record")
    sessions_inferred: bool
    inferred_session_ids: list[str] = Field(description="when sessions are inferred: the sessions of these attempts")
    inferred_attempt_ids: list[str] = Field(description="when sessions are inferred: every attempt of those sessions")


class LogResponse(Envelope):
    log: AttemptRecord


class ContextResponse(Envelope):
    context: str
    summary: str = Field(description="the AI learning summary text (the original's _generate_ai_summary())")


class PatternExample(BaseModel):
    log_id: str | None
    error_message: str
    timestamp: str | None
    fixed: bool
    stored_category: str | None = Field(None, description="the category the writer stored for this failure")


class ErrorPattern(BaseModel):
    category: str = Field(description="derived from the exception class (a NameError is name_error)")
    stored_category: str | None = Field(None, description="the category the writer stored most often in the group")
    stored_categories: dict[str, int] = Field(default_factory=dict, description="every stored category and its count")
    count: int
    fixed: int
    examples: list[PatternExample]


class CommonErrorExample(BaseModel):
    log_id: str | None
    session_id: str | None
    fixed: bool


class CommonError(BaseModel):
    model_config = ConfigDict(extra="allow")
    error: str
    count: int
    fixed_count: int
    examples: list[CommonErrorExample]
    fix_rate: float
    fix_rate_basis: RateBasis = Field(description="the fix rate's n (failures), fixed ones and 95 % interval")
    category: str | None
    first_seen: str | None
    last_seen: str | None


class LibraryError(BaseModel):
    log_id: str | None
    error: str
    fixed: bool


class LibraryIssue(BaseModel):
    """A library in the original's meaning (failures of attempts using it), and Fixtrail's blame beside."""

    model_config = ConfigDict(extra="allow")
    library: str
    count: int = Field(description="failures of attempts using the library (the original's meaning)")
    errors: list[LibraryError] = Field(description="the newest of those failures")
    blamed: int = Field(description="failures laid at the library: its import failed, the error names it, or a frame")
    blamed_errors: list[LibraryError] = Field(description="the newest failures laid at it")


class LibraryIssues(BaseModel):
    libraries_with_issues: list[LibraryIssue]


class BridgeExample(BaseModel):
    log_id: str | None
    category: str | None
    error: str
    fixed: bool


class BridgeIssues(BaseModel):
    model_config = ConfigDict(extra="allow")
    request_type_errors: int
    stdin_parsing_errors: int
    output_errors: int
    channel_errors: int
    other_errors: int
    examples: list[BridgeExample]


class ErrorPatternsResponse(Envelope):
    error_patterns: list[ErrorPattern]
    common_errors: list[CommonError]
    library_issues: LibraryIssues
    mapbridge_issues: BridgeIssues
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


class IndexResponse(BaseModel):
    """What ``/`` answers: where the documentation is, and the endpoints."""

    success: bool = True
    name: str
    docs: str
    openapi: str
    endpoints: list[str]


class ErrorResponse(BaseModel):
    """What every error answers: ``success`` false and a one-line ``error``."""

    success: bool = False
    error: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The Host header names a host this server does not answer to"},
    401: {"model": ErrorResponse, "description": "No valid token (when tokens are required): see the description"},
    403: {"model": ErrorResponse, "description": "A read token on a route that writes"},
    404: {"model": ErrorResponse, "description": "Not found"},
    422: {"model": ErrorResponse, "description": "Invalid parameter"},
    503: {"model": ErrorResponse, "description": "The index could not be loaded (the error says why); retry"},
}


# Compare: each metric's cohorts and difference (loaders.analysis.stats.Difference).
DifferenceBody = create_model(
    "DifferenceBody",
    __doc__="Cohort A's and B's value and size, B - A with its 95 % interval, whether it excludes 0.",
    **_fields_of(Difference),
)


class CompareMetrics(BaseModel):
    """Rates in percent and their differences in points; attempts to success in attempts."""

    success_rate: DifferenceBody = Field(description="successes / attempts of the cohort's sessions")
    first_try_success_rate: DifferenceBody = Field(description="sessions whose first attempt succeeded / sessions")
    fix_rate: DifferenceBody = Field(description="fixed failures / failures")
    mean_attempts_to_success: DifferenceBody = Field(description="over the sessions that succeeded (Welch)")


class CohortSize(BaseModel):
    sessions: int
    attempts: int
    failures: int


class FingerprintMove(BaseModel):
    fingerprint: str
    example_error: str | None
    failures_a: int
    failures_b: int
    per_100_a: float = Field(description="failures per 100 attempts in cohort A")
    per_100_b: float = Field(description="failures per 100 attempts in cohort B")
    change: float = Field(description="per_100_b - per_100_a")
    movement: str = Field(description="appeared (only in B), disappeared (only in A) or moved")


class CompareResponse(Envelope):
    a: str = Field(description="cohort A as asked (URL-filter syntax)")
    b: str = Field(description="cohort B as asked")
    cohorts: dict[str, CohortSize]
    metrics: CompareMetrics
    sentences: list[str] = Field(description="each metric's change in words")
    appeared: list[FingerprintMove]
    disappeared: list[FingerprintMove]
    moved: list[FingerprintMove]
