"""HTTP errors of the REST API: every domain error maps to one status in one table, and every
answer is JSON ``{"error": "..."}`` (with ``Retry-After`` for a rate limit).

Nothing a client sends may produce a 500: malformed JSON, a wrong field type and an unknown id
are answered 400, 422 and 404. A 500 means a bug, and is logged with its traceback.
"""

from __future__ import annotations

import logging
import math

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.common.errors import (
    AgentError,
    AuthenticationError,
    BusyError,
    ConfigError,
    DatasourceError,
    EngineError,
    InvalidHandleError,
    InvalidStateError,
    InvalidStatementError,
    MalformedRequestError,
    NotFoundError,
    OperationCanceledError,
    OperationTimeoutError,
    PermissionDeniedError,
    StoreError,
    UnsupportedError,
)

log = logging.getLogger(__name__)

# most specific first: the first class an error is an instance of decides
STATUS: tuple[tuple[type[EngineError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (InvalidHandleError, 404),
    (ConfigError, 400),
    (InvalidStatementError, 400),
    (MalformedRequestError, 400),
    (BusyError, 409),
    (InvalidStateError, 409),
    (OperationCanceledError, 409),
    (UnsupportedError, 501),
    (OperationTimeoutError, 504),
    (DatasourceError, 502),
    (AgentError, 502),
    (StoreError, 503),
)


class ApiError(Exception):
    """An HTTP answer decided by the REST layer itself (bad body, no credentials, ...)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def engine_error_response(error: EngineError) -> JSONResponse:
    """The one mapping of a domain error to HTTP. A rate limit (an error with
    ``retry_after_seconds``) is 429 with ``Retry-After``."""
    retry_after = getattr(error, "retry_after_seconds", None)
    if isinstance(retry_after, int | float):
        seconds = max(1, math.ceil(retry_after))
        return error_response(429, error.message, {"Retry-After": str(seconds)})
    for kind, status in STATUS:
        if isinstance(error, kind):
            return error_response(status, error.message)
    return error_response(500, error.message)


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def on_engine_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EngineError)
    return engine_error_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("REST %s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error: {type(exc).__name__}")
