"""Kyuubi's data-agent resource: ``POST /api/v1/data-agent/{sessionHandle}/chat`` and ``/approve``.

The chat runs the text as a statement of the session (asynchronously, with the request's model and
approval mode as its confOverlay) and streams the run's events through the run service's feed:
``id:`` the run's sequence number, ``event:`` the row type, ``data:`` the reply row; the first is
``agent_start`` with ``runId`` and ``conversationId``; it ends with ``event: done``. A client that
drops the stream **detaches** the run (unlike Kyuubi): it goes on, under the detached timeout, and
``GET /api/v1/runs/{id}/events`` attaches again. A text that is no agent run (``SET``, a
``__sql:`` query, ...) answers its rows: reply rows as their own events, a table as ``result``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.backend import BackendService
from engine.common.config import APPROVAL_MODE, MODEL
from engine.common.errors import EngineError
from engine.common.handle import OperationHandle, SessionHandle
from engine.common.statement import Approval
from engine.common.types import REPLY_SCHEMA
from engine.operation.fetch_buffer import FetchOrientation
from engine.operation.run_service import RunFeed
from engine.rest.bodies import ApproveBody, ChatBody, read_body
from engine.rest.context import RestContext, caller
from engine.rest.errors import ApiError
from engine.rest.sessions import session_of
from engine.rest.sse import EventStreamResponse, Signal, compact, follow_feed, sse_event

log = logging.getLogger(__name__)

RESULT_ROWS = 1000  # rows of a non-agent statement sent in its ``result`` event
RESULT_WAIT = 600.0  # longest wait for a non-agent statement to end


def _json_cell(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _finished_rows(
    backend: BackendService, handle: OperationHandle, user: str, cancelled: Signal
) -> list[bytes]:
    """A statement that is no agent run: wait for its end, answer its rows as events, close it."""
    deadline = time.monotonic() + RESULT_WAIT
    try:
        status = backend.get_operation_status(handle, user)
        while not status.state.terminal and not cancelled.gone and time.monotonic() < deadline:
            status = backend.get_operation_status(handle, user)
        if not status.state.terminal:
            return [sse_event("error", compact({"message": "the statement did not end in time"}))]
        if status.error_message:
            return [sse_event("error", compact({"message": status.error_message}))]
        if not status.has_result_set:
            return [sse_event("result", compact({"columns": [], "rows": [], "truncated": False}))]
        schema = backend.get_result_set_metadata(handle, user)
        batch = backend.fetch_results(handle, user, FetchOrientation.FETCH_NEXT, RESULT_ROWS)
        rows = [tuple(column[i] for column in batch.columns) for i in range(batch.row_count)]
        if schema.columns == REPLY_SCHEMA.columns:
            return [sse_event(_row_type(str(row[0])), str(row[0])) for row in rows]
        table = {
            "columns": [column.name for column in schema.columns],
            "rows": [[_json_cell(value) for value in row] for row in rows],
            "truncated": batch.has_more_rows,
        }
        return [sse_event("result", compact(table))]
    finally:
        try:
            backend.close_operation(handle, user)
        except EngineError:
            pass


def _row_type(row: str) -> str:
    try:
        value = json.loads(row)
    except ValueError:
        return "message"
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) and kind.isidentifier() else "message"


async def chat(request: Request) -> Response:
    ctx, who = await caller(request)
    body = await read_body(request, ChatBody)
    overlay: dict[str, str] = {}
    mode = body.approval_mode()
    if mode is not None:
        overlay[APPROVAL_MODE.key] = mode
    if body.model:
        overlay[MODEL.key] = body.model
    handle = await session_of(ctx, request.path_params["sessionHandle"], who.user)
    backend = ctx.backend
    operation = await ctx.workers.run(backend.execute_statement, handle, who.user, body.text, overlay, True)
    log.info("REST chat in session %s: operation %s (%d characters)", handle.id, operation.id, len(body.text))
    run_id = backend.run_of(operation, who.user)
    if run_id is None:
        return EventStreamResponse(lambda signal: _plain(ctx, operation, who.user, signal))
    feed: RunFeed = await ctx.workers.run(backend.runs.open_feed, who.user, run_id, 0)

    def on_end(finished: bool) -> None:
        try:
            if finished:
                backend.close_operation(operation, who.user)
            elif backend.detach_operation(operation, who.user):
                log.info("REST chat client left; run %s goes on detached", run_id)
        except EngineError:
            pass  # its session was closed meanwhile

    return EventStreamResponse(
        lambda signal: follow_feed(feed, signal, ctx.workers, ctx.ping_interval),
        on_end,
        headers={"X-Run-Id": run_id},
    )


async def _plain(
    ctx: RestContext, operation: OperationHandle, user: str, signal: Signal
) -> AsyncIterator[bytes]:
    for chunk in await ctx.workers.run(_finished_rows, ctx.backend, operation, user, signal):
        yield chunk
    yield sse_event("done", "{}")


def _decide(
    backend: BackendService, handle: SessionHandle, user: str, body: ApproveBody
) -> dict[str, object]:
    backend.check_approval(body.requestId, user)
    reason = " ".join((body.reason or "").split())  # one line: it follows the id in the statement
    statement = Approval(body.requestId, body.approved, reason).render()
    operation = backend.execute_statement(handle, user, statement, {}, False)
    try:
        batch = backend.fetch_results(operation, user, FetchOrientation.FETCH_NEXT, 1)
    finally:
        backend.close_operation(operation, user)
    if batch.row_count == 0:
        return {"status": "error", "requestId": body.requestId, "message": "No result returned"}
    reply = json.loads(str(batch.columns[0][0]))
    if not isinstance(reply, dict):
        raise ApiError(502, "the approval answered an unexpected row")
    return reply


async def approve(request: Request) -> Response:
    ctx, who = await caller(request)
    body = await read_body(request, ApproveBody)
    handle = await session_of(ctx, request.path_params["sessionHandle"], who.user)
    reply = await ctx.workers.run(_decide, ctx.backend, handle, who.user, body)
    return JSONResponse(reply)


ROUTES = [
    Route("/api/v1/data-agent/{sessionHandle}/chat", chat, methods=["POST"]),
    Route("/api/v1/data-agent/{sessionHandle}/approve", approve, methods=["POST"]),
]
