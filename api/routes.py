"""The /api/logs routes: the original's endpoints and shapes, each a few lines over loaders."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response

from api import schemas
from api.access import reader
from api.dependencies import get_filter, get_index, get_window
from api.encoded import encode, encoded_answer, json_response, serialised
from api.paging import LIST_LIMIT, Limit, Page, clamp, paging_fields
from api.windows import Window, window_answer
from loaders.analysis import attempts, errors
from loaders.analysis.cohorts import parse_cohort
from loaders.analysis.compare import compare
from loaders.analysis.filters import AttemptFilter
from loaders.analysis.metrics import Window as WindowEnd
from loaders.analysis.metrics import summary
from loaders.analysis.recipes import fix_rules
from loaders.analysis.states import fingerprint_states
from loaders.annotations.markers import read_markers
from loaders.annotations.triage import triage_version
from loaders.core.rows import frame_records
from loaders.outputs import compat
from loaders.outputs.context import ai_context
from loaders.outputs.evals import eval_cases, evals_jsonl
from loaders.outputs.exports import safe_csv
from loaders.outputs.report import analysis_report
from loaders.outputs.report_sections import report_sections
from loaders.store.index import LogIndex
from loaders.store.stored_results import remembered
from loaders.text.secrets import mask_secrets

router = APIRouter(prefix="/api/logs", tags=["logs"], responses=schemas.ERROR_RESPONSES, dependencies=[Depends(reader)])

IndexDep = Annotated[LogIndex, Depends(get_index)]
FilterDep = Annotated[AttemptFilter, Depends(get_filter)]
PageDep = Annotated[Page, Depends()]
WindowDep = Annotated[Window, Depends(get_window)]
# Out-of-range numbers are clamped to these bounds, as the original did, not refused.
MAX_EXAMPLES = (0, 100)
MAX_CHARS = (100, 100_000)
Format = Annotated[str, Query(pattern="^(json|csv)$", description="json (default) or csv")]
# Ids are checked by the loaders (loaders.analysis.attempts.is_valid_id): a badly formed one is unknown, so 404
# with the original's error (routes take any text, a decoded "/" too, so that none falls through to a bare 404).
SessionId = Annotated[str, Path(description="a session id (as logged or inferred) or an attempt's log_id")]
LogId = Annotated[str, Path(description="an attempt's log_id")]
CSV_RESPONSE = {200: {"content": {"text/csv": {}}, "description": "the list as CSV when format=csv"}}
SESSION_NOT_FOUND = "Session not found"
LOG_NOT_FOUND = "Log not found"


def _now() -> str:
    return datetime.now().isoformat()


@router.get("/summary", response_model=schemas.SummaryResponse)
async def get_summary(index: IndexDep, flt: FilterDep, window: WindowDep) -> Response:
    """The original's five execution numbers, then Fixtrail's: the seven of the analyzer, sessions, skipped files."""

    def answer(as_of: datetime) -> dict:
        numbers = summary(index, flt, WindowEnd(as_of, window.rule)).as_dict()
        body = compat.execution_counts(index, flt).as_dict() | numbers
        return serialised(schemas.SummaryResponse, {"success": True, "summary": body, "generated_at": ""})

    body = await window_answer(index, "api.summary", (flt,), window, answer)
    return json_response({**body, "generated_at": _now()})


@router.get("/analysis", response_model=schemas.AnalysisResponse)
async def get_analysis(request: Request, index: IndexDep, flt: FilterDep, window: WindowDep) -> Response:
    """The full analysis (every key of the original's analyze_all), its summary also holding the original
    API's five numbers, and the 100 newest attempts as ``recent_executions`` (big texts cut)."""

    def answer(as_of: datetime):
        analysis = _analysis(index, flt, WindowEnd(as_of, window.rule))
        return encode(schemas.AnalysisResponse, {"success": True, "analysis": analysis})

    decided = triage_version(index.root)  # the report's fingerprints carry the team's decisions
    return (await window_answer(index, "api.analysis", (flt, decided), window, answer)).response(request)


def _analysis(index: LogIndex, flt: AttemptFilter, as_of: datetime | WindowEnd) -> dict:
    analysis = analysis_report(index, flt, as_of)
    analysis["summary"] = compat.execution_counts(index, flt).as_dict() | analysis["summary"]
    analysis["recent_executions"] = compat.recent_executions(index, flt)
    return analysis


def _listing(
    request: Request,
    index: LogIndex,
    flt: AttemptFilter,
    page: Page,
    unfixed_only: bool,
    fmt: str,
    key: str,
    model: type,
) -> Response:
    args = (flt, page.limit, page.offset, unfixed_only, fmt)
    if fmt == "csv":
        body = remembered(index, f"api.listing.{key}", args, lambda: _list_body(index, *args))
        return Response(body, media_type="text/csv")

    def answer() -> dict:
        items = _list_body(index, *args)
        total = attempts.count_attempts(index, flt, unfixed_only=unfixed_only)
        return {"success": True, key: items, "count": len(items), **paging_fields(request, page, total)}

    return encoded_answer(request, index, f"api.listing.{key}", args, model, answer)


def _list_body(
    index: LogIndex, flt: AttemptFilter, limit: int, offset: int, unfixed_only: bool, fmt: str
) -> bytes | list[dict]:
    """The listing as CSV bytes, or as the original's items (records with big texts cut)."""
    frame = attempts.recent_attempts(index, flt, limit=limit, unfixed_only=unfixed_only, offset=offset)
    if fmt == "csv":
        return safe_csv(compat.cut_frame_texts(frame.drop(columns=["path"])))
    return compat.execution_items(index, list(frame["log_id"]), list(frame["path"]))


@router.get("/failures", response_model=schemas.FailuresResponse, responses=CSV_RESPONSE)
def get_failures(
    request: Request,
    index: IndexDep,
    flt: FilterDep,
    page: PageDep,
    unfixed_only: bool = False,
    format: Format = "json",
):
    """The newest failures, optionally only unfixed ones, a page at a time (``offset``; ``next`` links
    the next page): records with big texts cut (full: /log/{id})."""
    failed = replace(flt, statuses=("failed",))
    return _listing(request, index, failed, page, unfixed_only, format, "failures", schemas.FailuresResponse)


@router.get("/successes", response_model=schemas.SuccessesResponse, responses=CSV_RESPONSE)
def get_successes(request: Request, index: IndexDep, flt: FilterDep, page: PageDep, format: Format = "json"):
    """The newest successes, a page at a time: records with big texts cut (full: /log/{id})."""
    succeeded = replace(flt, statuses=("success",))
    return _listing(request, index, succeeded, page, False, format, "successes", schemas.SuccessesResponse)


# Unset: the records' keys are passed on as written, none added as null.
@router.get("/session/{session_id:path}", response_model=schemas.SessionResponse, response_model_exclude_unset=True)
def get_session(index: IndexDep, session_id: SessionId) -> dict:
    """The session file as written and the session's attempts (full records, time order); Fixtrail's
    view beside: attempt count, attempts the file lists with no record, inferred sessions."""
    found = compat.original_session(index, session_id)
    if found is None:
        raise HTTPException(404, SESSION_NOT_FOUND)
    return mask_secrets({"success": True, **vars(found), "attempt_count": len(found.attempts)})


@router.get("/log/{log_id:path}", response_model=schemas.LogResponse, response_model_exclude_unset=True)
def get_log(index: IndexDep, log_id: LogId) -> dict:
    """One attempt record with its full texts."""
    record = attempts.attempt_record(index, log_id)
    if record is None:
        raise HTTPException(404, LOG_NOT_FOUND)
    return {"success": True, "log": mask_secrets(record)}


@router.get("/ai-context", response_model=schemas.ContextResponse)
def get_ai_context(
    request: Request,
    index: IndexDep,
    flt: FilterDep,
    max_examples: Annotated[int, Query(description="entries at most (clamped to 0-100)")] = 10,
    max_chars: Annotated[int, Query(description="characters at most (clamped to 100-100,000)")] = 6000,
) -> Response:
    """The AI context text for the model's prompt, and the AI learning summary as ``summary``."""
    sizes = (clamp(max_examples, MAX_EXAMPLES), clamp(max_chars, MAX_CHARS))

    def answer() -> dict:
        context = ai_context(index, *sizes, flt)
        return {"success": True, "context": context, "summary": report_sections(index, flt)["ai_learning_summary"]}

    decided = triage_version(index.root)  # the team's decisions shape the text too
    return encoded_answer(request, index, "api.ai_context", (flt, *sizes, decided), schemas.ContextResponse, answer)


@router.get("/error-patterns", response_model=schemas.ErrorPatternsResponse)
def get_error_patterns(request: Request, index: IndexDep, flt: FilterDep) -> Response:
    """Error categories with examples, the top error lines, library and MapsBridge issues, and fingerprints."""

    def answer() -> dict:
        marks = errors.error_fingerprints(index, flt, limit=50)
        sections = report_sections(index, flt)
        keys = ("error_patterns", "common_errors", "library_issues", "mapbridge_issues")
        return {"success": True, **{key: sections[key] for key in keys}, "fingerprints": frame_records(marks)}

    return encoded_answer(request, index, "api.error_patterns", (flt,), schemas.ErrorPatternsResponse, answer)


@router.get("/recommendations", response_model=schemas.RecommendationsResponse)
def get_recommendations(request: Request, index: IndexDep, flt: FilterDep) -> Response:
    """Recommendations for the model's system context, and the AI learning summary."""

    def answer() -> dict:
        sections = report_sections(index, flt)
        return {
            "success": True,
            "recommendations": sections["recommendations"],
            "ai_learning_summary": sections["ai_learning_summary"],
        }

    return encoded_answer(request, index, "api.recommendations", (flt,), schemas.RecommendationsResponse, answer)


@router.get("/fix-rules", response_model=schemas.FixRulesResponse)
def get_fix_rules(
    request: Request, index: IndexDep, flt: FilterDep, min_fixes: Annotated[int, Query(ge=1, le=1000)] = 2
) -> Response:
    """Fix recipes: the edits that turned failures into successes, with support and success rate."""

    def answer() -> dict:
        rules = fix_rules(index, flt, min_fixes).drop(columns=["fingerprint_fixes"])
        return {"success": True, "rules": frame_records(rules), "sessions_inferred": index.sessions_inferred}

    return encoded_answer(request, index, "api.fix_rules", (flt, min_fixes), schemas.FixRulesResponse, answer)


@router.get("/fingerprints", response_model=schemas.FingerprintsResponse)
async def get_fingerprints(
    request: Request, index: IndexDep, flt: FilterDep, window: WindowDep, by_model: bool = False
) -> Response:
    """Error fingerprints and their state in the 7 days to ``as_of`` (new, regressed, recurring, ...)."""

    def answer(as_of: datetime):
        states = frame_records(fingerprint_states(index, flt, as_of, by_model))
        body = {"success": True, "fingerprints": states, "as_of": as_of.isoformat(timespec="seconds")}
        return encode(schemas.FingerprintsResponse, body)

    answer_now = await window_answer(index, "api.fingerprints", (flt, by_model), window, answer)
    return answer_now.response(request)


Cohort = Annotated[
    str,
    Query(
        max_length=500,
        description="a cohort as URL filters, e.g. model=gpt-5-mini or start=2026-11-01,end=2026-11-10 "
        "or before=MARKER / after=MARKER (a change marker's label)",
    ),
]


def _cohort(index: LogIndex, name: str, text: str) -> AttemptFilter:
    try:
        return parse_cohort(text, read_markers(index.root))
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from exc


@router.get("/compare", response_model=schemas.CompareResponse)
def get_compare(index: IndexDep, a: Cohort = "", b: Cohort = "", top: Limit = 10) -> dict:
    """Did the change help? Cohort B against A (sessions by their first attempt): success, first-try and
    fix rates and attempts to success, each B - A with its 95 % interval, and the fingerprints that moved."""
    comparison = compare(index, _cohort(index, "a", a), _cohort(index, "b", b))
    empty = comparison.empty_cohorts()
    if empty:
        raise HTTPException(422, f"cohort {' and '.join(empty)} holds no session: nothing to compare")
    return mask_secrets({"success": True, "a": a, "b": b, **comparison.as_dict(top=clamp(top, LIST_LIMIT))})


EVALS_RESPONSE = {200: {"content": {"application/x-ndjson": {}}, "description": "one JSON object per line"}}


@router.get("/evals.jsonl", response_class=Response, responses=EVALS_RESPONSE)
def get_evals(index: IndexDep, flt: FilterDep) -> Response:
    """An eval set from real failures: one line per failed session (sessions by their first attempt's
    filter match) with prompt, input_file, model, failing_code, error_line, fingerprint, fixed, fixed_code,
    session_id."""
    return Response(evals_jsonl(eval_cases(index, flt)), media_type="application/x-ndjson")


NEVER_DELETES = (
    "Fixtrail never deletes logs: the tree is the record of every attempt and of the team's decisions. "
    "Remove files from the log tree itself if they must go; the index follows on its next refresh."
)


@router.post(
    "/clear",
    status_code=403,
    response_model=schemas.ErrorResponse,
    responses={403: {"model": schemas.ErrorResponse, "description": "Fixtrail never deletes logs"}},
)
def post_clear() -> None:
    """The original's "clear the logs" (its frontend calls it): answered in the original's error shape,
    saying that Fixtrail never deletes logs. Nothing is changed."""
    raise HTTPException(403, NEVER_DELETES)
