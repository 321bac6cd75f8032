"""The FastAPI application and the uvicorn server that serves it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.dependencies import IndexProvider
from api.routes import router
from loaders.tree import check_logs_dir

logger = logging.getLogger("fixtrail.api")


def create_app(logs_dir: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> FastAPI:
    """The API over one log tree. Errors answer ``{"success": false, "error": ...}``, never a traceback."""
    check_logs_dir(logs_dir)
    app = FastAPI(title="Fixtrail API", version="1.0", description="Script execution log analysis.")
    app.state.index_provider = IndexProvider(logs_dir, cache_dir)
    app.include_router(router)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"success": False, "error": str(exc.detail)}, status_code=exc.status_code)

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


def serve(logs_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serve the API with uvicorn until interrupted; returns the exit status."""
    import uvicorn

    uvicorn.run(create_app(Path(logs_dir)), host=host, port=port, log_level="info")
    return 0
