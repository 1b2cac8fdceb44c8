"""Kyuubi's ``/api/v1/sessions``: open (with ``configs``), show and close a session. A REST session
is a SessionManager session like any Thrift one: the same configuration rules (restrict and
ignore lists, validation, ``conversation.id`` to continue a conversation) and the same owner."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.common.config import CONVERSATION_ID
from engine.common.handle import SessionHandle
from engine.common.types import LATEST_PROTOCOL
from engine.rest.bodies import SessionBody, read_body
from engine.rest.context import RestContext, caller
from engine.rest.views import session_view


def client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else ""


async def session_of(ctx: RestContext, identifier: str, user: str) -> SessionHandle:
    """The caller's session ``identifier`` (404 unknown, 403 another user's)."""
    return await ctx.workers.run(ctx.backend.find_session, identifier, user)


async def open_session(request: Request) -> Response:
    ctx, who = await caller(request)
    body = await read_body(request, SessionBody)
    handle, _, configuration = await ctx.workers.run(
        ctx.backend.open_session, LATEST_PROTOCOL, who.user, None, client_ip(request), body.configs
    )
    conversation = configuration.get(CONVERSATION_ID.key)
    return JSONResponse({"identifier": handle.id, "conversationId": conversation})


async def get_session(request: Request) -> Response:
    ctx, who = await caller(request)
    handle = await session_of(ctx, request.path_params["identifier"], who.user)
    info = await ctx.workers.run(ctx.backend.session_info, handle, who.user)
    return JSONResponse(session_view(info))


async def close_session(request: Request) -> Response:
    ctx, who = await caller(request)
    handle = await session_of(ctx, request.path_params["identifier"], who.user)
    await ctx.workers.run(ctx.backend.close_session, handle, who.user)
    return JSONResponse({"identifier": handle.id, "closed": True})


ROUTES = [
    Route("/api/v1/sessions", open_session, methods=["POST"]),
    Route("/api/v1/sessions/{identifier}", get_session, methods=["GET"]),
    Route("/api/v1/sessions/{identifier}", close_session, methods=["DELETE"]),
]
