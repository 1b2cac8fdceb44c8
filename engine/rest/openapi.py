"""``/openapi.json`` and a local ``/docs`` page (no CDN). Filled in below."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def openapi_json(request: Request) -> Response:
    return JSONResponse(
        {"openapi": "3.0.3", "info": {"title": "Data Agent Engine", "version": "1"}, "paths": {}}
    )


ROUTES = [Route("/openapi.json", openapi_json, methods=["GET"])]
