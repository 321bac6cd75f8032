"""The FastAPI application and the uvicorn server that serves it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from api.access import AUTH_HELP, NO_AUTH_HEADER, Access, NoAuthWarningMiddleware
from api.dependencies import IndexProvider
from api.hosts import (
    ALLOWED_HOSTS_ENV,
    ANY_ADDRESS,
    HostCheckMiddleware,
    allowed_hosts,
    is_loopback,
    names_beyond_loopback,
)
from api.routes import router
from api.schemas import ERROR_RESPONSES, IndexResponse
from api.tokens import read_tokens
from api.triage_routes import router as triage_router
from loaders.ingest.sources import source_location

logger = logging.getLogger("fixtrail.api")
# On SIGTERM or SIGINT, requests still running (a first load waiting on a busy index) get this long.
GRACEFUL_SHUTDOWN_SECONDS = 5


class ExposureRefused(ValueError):
    """``serve`` was asked to listen beyond loopback with nothing guarding the logs."""


def create_app(
    logs_dir: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    bound_to: str | None = None,
    extra_hosts: Iterable[str] = (),
    no_auth: bool = False,
) -> FastAPI:
    """The API over one log tree. Errors answer ``{"success": false, "error": ...}``, never a traceback.

    Requests must name in ``Host`` a local name, ``bound_to`` (the address served on), a name of
    ``$FIXTRAIL_ALLOWED_HOSTS`` or of ``extra_hosts``; others are answered 400 (see api.hosts).
    Every /api route takes a bearer token once one exists, and always when ``bound_to`` is not
    loopback, unless ``no_auth`` (then every answer says so in a header); see api.access.
    """
    logs_dir = source_location(logs_dir)  # a directory that exists, or an s3:// prefix
    # /docs (Swagger UI) and /redoc with their scripts and styles served from the package, not a CDN.
    app = FastAPIOffline(
        title="Fixtrail API", version="1.0", description=f"Script execution log analysis.\n\n{AUTH_HELP}"
    )
    app.state.index_provider = IndexProvider(logs_dir, cache_dir)
    exposed = bound_to is not None and (
        not is_loopback(bound_to) or bool(names_beyond_loopback(allowed_hosts(bound_to, extra_hosts)))
    )
    app.state.access = Access(always_required=exposed, no_auth=no_auth)
    if no_auth:
        app.add_middleware(NoAuthWarningMiddleware)
    app.include_router(router)
    app.include_router(triage_router)
    routes = [*router.routes, *triage_router.routes]
    endpoints = sorted({route.path_format for route in routes if isinstance(route, APIRoute)})

    @app.get("/", response_model=IndexResponse, responses=ERROR_RESPONSES, tags=["about"])
    def about() -> dict:
        """Where the documentation is (``/docs``, ``/openapi.json``) and the endpoints."""
        return {"success": True, "name": app.title, "docs": "/docs", "openapi": "/openapi.json", "endpoints": endpoints}

    app.add_middleware(HostCheckMiddleware, hosts=allowed_hosts(bound_to, extra_hosts))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"success": False, "error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse(
            {"success": False, "error": f"invalid {where}: {first.get('msg', 'bad value')}"}, status_code=422
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return JSONResponse({"success": False, "error": "internal error"}, status_code=500)

    return app


def serve(
    logs_dir: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    extra_hosts: Iterable[str] = (),
    no_auth: bool = False,
) -> int:
    """Serve the API with uvicorn until interrupted (SIGINT or SIGTERM); returns the exit status.

    Raises ExposureRefused for an address beyond loopback without tokens, unless ``no_auth``.
    """
    import uvicorn

    public = names_beyond_loopback(allowed_hosts(host, extra_hosts))
    if (not is_loopback(host) or public) and not no_auth and not read_tokens():
        where = host or "every interface"
        if is_loopback(host):
            where = f"{host}, answering to {', '.join(public)} (a proxy makes it reachable from elsewhere),"
        raise ExposureRefused(
            f"refusing to serve the logs on {where} without tokens: create one with "
            "`fixtrail token create NAME`, or pass --no-auth to let anyone who can reach it read every log"
        )
    app = create_app(logs_dir, bound_to=host, extra_hosts=extra_hosts, no_auth=no_auth)
    if no_auth:
        logger.warning("--no-auth: %s", NO_AUTH_HEADER[1])
    if host in ANY_ADDRESS:
        logger.warning(
            "serving on every interface, but answering only to the host names %s: add the names clients use "
            "with --allowed-host or $%s",
            ", ".join(allowed_hosts(host, extra_hosts)),
            ALLOWED_HOSTS_ENV,
        )
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
    return 0
