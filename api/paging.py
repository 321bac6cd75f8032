"""Paging of the API's lists: ``limit`` (the original's meaning: at most this many, clamped to 1-1000)
and ``offset`` (how many to skip); answers say ``total`` and link the ``next`` page (null on the last)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

LIST_LIMIT = (1, 1000)
MAX_OFFSET = 100_000_000
Limit = Annotated[int, Query(description="at most this many (clamped to 1-1000)")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="skip this many first (for the next page)")]


def clamp(value: int, bounds: tuple[int, int]) -> int:
    """``value`` moved into ``bounds`` (low, high)."""
    return max(bounds[0], min(bounds[1], value))


class Page:
    """The page a request asks for (a dependency): ``limit`` clamped as the original did, and ``offset``."""

    def __init__(self, limit: Limit = 50, offset: Offset = 0):
        self.limit = clamp(limit, LIST_LIMIT)
        self.offset = offset


def next_link(request: Request, page: Page, total: int) -> str | None:
    """The address of the page after this one (the same query, a later offset), or None on the last."""
    if page.offset + page.limit >= total:
        return None
    url = request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit)
    return f"{url.path}?{url.query}"


def paging_fields(request: Request, page: Page, total: int) -> dict[str, Any]:
    """What a paged answer says beside its items: total, offset, limit and next."""
    return {"total": total, "offset": page.offset, "limit": page.limit, "next": next_link(request, page, total)}


def page_of(request: Request, items: list[Any], page: Page, key: str = "errors") -> dict[str, Any]:
    """One page of ``items`` (all of them in hand) under ``key``, with count and the paging fields."""
    chosen = items[page.offset : page.offset + page.limit]
    return {key: chosen, "count": len(chosen), **paging_fields(request, page, len(items))}
