"""The /api/logs routes: the original's endpoints and shapes, each a few lines over loaders."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import Response

from api import schemas
from api.dependencies import get_as_of, get_filter, get_index
from loaders import attempts, errors, sessions
from loaders.context import ai_context
from loaders.exports import frame_records, safe_csv
from loaders.filters import AttemptFilter
from loaders.index import LogIndex
from loaders.metrics import summary
from loaders.recipes import fix_rules
from loaders.report import analysis_report, common_errors, error_patterns
from loaders.states import fingerprint_states

router = APIRouter(prefix="/api/logs", tags=["logs"], responses=schemas.ERROR_RESPONSES)

IndexDep = Annotated[LogIndex, Depends(get_index)]
FilterDep = Annotated[AttemptFilter, Depends(get_filter)]
AsOfDep = Annotated[datetime, Depends(get_as_of)]
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many (1-1000)")]
Format = Annotated[str, Query(pattern="^(json|csv)$", description="json (default) or csv")]
ID_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
SessionId = Annotated[str, Path(pattern=ID_REGEX, max_length=128)]
LogId = Annotated[str, Path(pattern=ID_REGEX, max_length=128)]
CSV_RESPONSE = {200: {"content": {"text/csv": {}}, "description": "the list as CSV when format=csv"}}


@router.get("/summary", response_model=schemas.SummaryResponse)
def get_summary(index: IndexDep, flt: FilterDep, as_of: AsOfDep) -> dict:
    """The seven numbers of the original, plus sessions and skipped files."""
    return {"success": True, "summary": summary(index, flt, as_of).as_dict()}


@router.get("/analysis", response_model=schemas.AnalysisResponse)
def get_analysis(index: IndexDep, flt: FilterDep, as_of: AsOfDep) -> dict:
    """The full analysis (every key of the original's analyze_all)."""
    return {"success": True, "analysis": analysis_report(index, flt, as_of)}


def _listing(index: LogIndex, flt: AttemptFilter, limit: int, unfixed_only: bool, fmt: str, key: str):
    frame = attempts.recent_attempts(index, flt, limit=limit, unfixed_only=unfixed_only)
    if fmt == "csv":
        return Response(safe_csv(frame.drop(columns=["path"])), media_type="text/csv")
    records = attempts.full_records(index, list(frame["path"]))
    return {"success": True, key: records, "count": len(records)}


@router.get("/failures", response_model=schemas.FailuresResponse, responses=CSV_RESPONSE)
def get_failures(
    index: IndexDep, flt: FilterDep, limit: Limit = 50, unfixed_only: bool = False, format: Format = "json"
):
    """The newest failures (full records), optionally only unfixed ones."""
    return _listing(index, replace(flt, statuses=("failed",)), limit, unfixed_only, format, "failures")


@router.get("/successes", response_model=schemas.SuccessesResponse, responses=CSV_RESPONSE)
def get_successes(index: IndexDep, flt: FilterDep, limit: Limit = 50, format: Format = "json"):
    """The newest successes (full records)."""
    return _listing(index, replace(flt, statuses=("success",)), limit, False, format, "successes")


@router.get("/session/{session_id}", response_model=schemas.SessionResponse)
def get_session(index: IndexDep, session_id: SessionId) -> dict:
    """A session and its attempts in time order (failure to fix)."""
    detail = sessions.session_detail(index, session_id)
    if detail is None:
        raise HTTPException(404, f"session not found: {session_id}")
    meta = dict(detail.session_file or {})
    meta.pop("path", None)
    meta.update(
        session_id=session_id,
        status=detail.status,
        attempt_count=len(detail.attempts),
        missing_attempt_ids=detail.missing_attempt_ids,
    )
    return {"success": True, "session": meta, "attempts": [r for r in detail.records if r is not None]}


@router.get("/log/{log_id}", response_model=schemas.LogResponse)
def get_log(index: IndexDep, log_id: LogId) -> dict:
    """One attempt record with its full texts."""
    record = attempts.attempt_record(index, log_id)
    if record is None:
        raise HTTPException(404, f"log not found: {log_id}")
    return {"success": True, "log": record}


@router.get("/ai-context", response_model=schemas.ContextResponse)
def get_ai_context(
    index: IndexDep,
    flt: FilterDep,
    max_examples: Annotated[int, Query(ge=0, le=100)] = 10,
    max_chars: Annotated[int, Query(ge=100, le=100_000)] = 6000,
) -> dict:
    """The AI context text for the model's prompt."""
    return {"success": True, "context": ai_context(index, max_examples, max_chars, flt)}


@router.get("/error-patterns", response_model=schemas.ErrorPatternsResponse)
def get_error_patterns(index: IndexDep, flt: FilterDep) -> dict:
    """Error categories with examples, the top error lines, and fingerprints."""
    marks = errors.error_fingerprints(index, flt, limit=50)
    return {
        "success": True,
        "error_patterns": error_patterns(index, flt),
        "common_errors": common_errors(index, flt),
        "fingerprints": frame_records(marks),
    }


@router.get("/recommendations", response_model=schemas.RecommendationsResponse)
def get_recommendations(index: IndexDep, flt: FilterDep, as_of: AsOfDep) -> dict:
    """Recommendations for the model's system context, and the AI learning summary."""
    report = analysis_report(index, flt, as_of)
    return {
        "success": True,
        "recommendations": report["recommendations"],
        "ai_learning_summary": report["ai_learning_summary"],
    }


@router.get("/fix-rules", response_model=schemas.FixRulesResponse)
def get_fix_rules(index: IndexDep, flt: FilterDep, min_fixes: Annotated[int, Query(ge=1, le=1000)] = 2) -> dict:
    """Fix recipes: the edits that turned failures into successes, with support and success rate."""
    rules = fix_rules(index, flt, min_fixes).drop(columns=["fingerprint_fixes"])
    return {"success": True, "rules": frame_records(rules), "sessions_inferred": index.sessions_inferred}


@router.get("/fingerprints", response_model=schemas.FingerprintsResponse)
def get_fingerprints(index: IndexDep, flt: FilterDep, as_of: AsOfDep, by_model: bool = False) -> dict:
    """Error fingerprints and their state in the 7 days to ``as_of`` (new, regressed, recurring, ...)."""
    states = fingerprint_states(index, flt, as_of, by_model)
    return {"success": True, "fingerprints": frame_records(states), "as_of": as_of.isoformat(timespec="seconds")}
