"""The team's decisions over the API: ``GET /api/logs/triage`` lists errors with their triage state (a
page at a time), ``POST /api/logs/triage`` records one action (a write token's name is who acts)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from api import schemas
from api.access import reader, writer
from api.dependencies import get_index
from api.paging import Page, page_of
from loaders.analysis.triage import AlreadyOneError, UnknownFingerprint, record_action, triage_items
from loaders.annotations.triage import TriageError
from loaders.store.index import LogIndex
from loaders.text.secrets import mask_secrets

router = APIRouter(
    prefix="/api/logs", tags=["triage"], responses=schemas.ERROR_RESPONSES, dependencies=[Depends(reader)]
)
IndexDep = Annotated[LogIndex, Depends(get_index)]
TriageState = Annotated[
    str,
    Query(
        max_length=200,
        pattern=r"^(unresolved|resolved|ignored|all|assigned:.+)$",
        description="unresolved (also regressed and escalating; the default), resolved, ignored, all, or assigned:NAME",
    ),
]


class TriageAction(BaseModel):
    """One action on an error (by fingerprint); the details its action takes."""

    action: Literal["resolve", "unresolve", "ignore", "assign", "note", "merge"]
    fingerprint: str = Field(max_length=120)
    by: str | None = Field(None, max_length=120, description="who acts, when no token names them")
    assignee: str | None = Field(None, max_length=120, description="assign: the name (empty unassigns)")
    text: str | None = Field(None, max_length=2000, description="note: the text")
    into: str | None = Field(None, max_length=120, description="merge: the fingerprint this error is the same as")
    until_count: int | None = Field(None, ge=1, le=1_000_000, description="ignore: until this many more failures")
    until: date | None = Field(None, description="ignore: until this day")
    in_next_marker: bool = Field(False, description="resolve: resolved by the next change marker")


@router.get("/triage", response_model=schemas.TriageResponse)
def get_triage(
    request: Request, index: IndexDep, page: Annotated[Page, Depends()], state: TriageState = "unresolved"
) -> dict:
    """The errors under a triage filter, each with its state, assignee, merged fingerprints and activity."""
    now = datetime.now()
    items, problems = triage_items(index, state, as_of=now, now=now)
    return mask_secrets({"success": True, "state": state, "problems": problems, **page_of(request, items, page)})


@router.post(
    "/triage",
    response_model=schemas.TriageEventResponse,
    status_code=201,
    responses={409: {"model": schemas.ErrorResponse, "description": "The two errors are one group already"}},
)
def post_triage(index: IndexDep, action: TriageAction, token_name: Annotated[str | None, Depends(writer)]) -> dict:
    """Record one action on an error. Needs a write token once tokens exist; without tokens, only a
    client on this machine may write. The token's name is who acts (else ``by``, else "api")."""
    try:
        event = record_action(
            index,
            action.action,
            action.fingerprint,
            token_name or action.by or "api",
            assignee=action.assignee,
            text=action.text,
            into=action.into,
            until_count=action.until_count,
            until=action.until,
            in_next_marker=action.in_next_marker,
        )
    except UnknownFingerprint as exc:
        raise HTTPException(404, str(exc)) from None
    except AlreadyOneError as exc:
        raise HTTPException(409, str(exc)) from None
    except TriageError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"success": True, "event": {**event.as_dict(), "what": event.describe()}}
