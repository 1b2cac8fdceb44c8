"""The Starlette application: the API routes, ``/openapi.json`` and ``/docs``, routes handed in
by others (``extra_routes``, e.g. ``/metrics``), and last the web UI's static files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from engine.common.errors import EngineError
from engine.rest import account, catalog, chat, docs, openapi, runs, sessions
from engine.rest.context import RestContext
from engine.rest.errors import (
    ApiError,
    error_response,
    on_api_error,
    on_engine_error,
    on_http_exception,
    on_unexpected,
)

UI_DIR = Path(__file__).resolve().parent / "ui"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Data Agent</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>Data Agent</h1>
<p>The web UI is not built: its files are not in <code>engine/rest/ui</code>.
Run <code>bin/setup</code> (it installs the UI's libraries from npm), then reload this page.</p>
<p>The REST API works without it: see <a href="/docs">/docs</a>.</p>
</body></html>
"""

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class UiFiles:
    """The UI's static files (``index.html`` for directories); while the UI is not built, ``/``
    answers a page that says how to build it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = StaticFiles(directory=directory, html=True, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (self.directory / "index.html").is_file():
            if scope.get("path", "/") in ("", "/", "/index.html"):
                await HTMLResponse(NOT_BUILT)(scope, receive, send)
            else:
                await error_response(404, "not found")(scope, receive, send)
            return
        await self.files(scope, receive, send)


class SecurityHeaders:
    """Headers every answer carries: no MIME sniffing, no framing, no referrer to other sites."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))  # type: ignore[call-overload]
                headers.extend(SECURITY_HEADERS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)  # type: ignore[arg-type]


async def unknown_api(request: Request) -> Response:
    return error_response(404, f"no such API endpoint: {request.url.path[:200]}")


def build_app(
    ctx: RestContext, *, extra_routes: Sequence[BaseRoute] = (), ui_dir: Path = UI_DIR
) -> SecurityHeaders:
    routes: list[BaseRoute] = [
        *account.ROUTES,
        *sessions.ROUTES,
        *chat.ROUTES,
        *runs.ROUTES,
        *catalog.ROUTES,
        *openapi.ROUTES,
        *docs.ROUTES,
        *extra_routes,
        Route("/api/{rest:path}", unknown_api, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Mount("/", app=UiFiles(ui_dir)),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiError: on_api_error,
            EngineError: on_engine_error,
            HTTPException: on_http_exception,
            Exception: on_unexpected,
        },
    )
    app.state.rest = ctx
    return SecurityHeaders(app)
