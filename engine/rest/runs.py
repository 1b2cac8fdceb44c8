"""Runs and conversations of the run registry, through the backend's run service.

``GET /api/v1/runs/{id}/events`` follows a run: every event with ``id:`` its sequence number,
replayed then live, resumed after ``Last-Event-ID`` (or ``?after=``) with no duplicates and no
gaps, ending with ``event: done``. While a live run is followed it counts as watched (a detached
run is attached again); the follower leaving never stops it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.common.record import RunStatus
from engine.operation.run_service import MAX_LIMIT, RunFeed
from engine.rest.bodies import RenameBody, read_body
from engine.rest.context import caller
from engine.rest.errors import ApiError
from engine.rest.sse import EventStreamResponse, follow_feed
from engine.rest.views import conversation_view, run_view

MAX_ID = 128


def _id(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    if not value or len(value) > MAX_ID or not value.isprintable():
        raise ApiError(404, f"there is no {name.removesuffix('_id')} {value[:MAX_ID]!r}")
    return value


def _int_param(request: Request, name: str, minimum: int, maximum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, f"invalid {name}: {raw[:40]!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise ApiError(422, f"invalid {name}: must be between {minimum} and {maximum}")
    return value


def _after(request: Request) -> int:
    """Where a follower resumes: ``Last-Event-ID`` (set by EventSource on reconnect) wins over
    ``?after=``; 0 replays from the first event."""
    header = request.headers.get("Last-Event-ID")
    if header is not None and header.strip():
        try:
            value = int(header.strip())
        except ValueError:
            raise ApiError(
                400, f"invalid Last-Event-ID {header[:40]!r}: a sequence number is expected"
            ) from None
        if value < 0:
            raise ApiError(400, "invalid Last-Event-ID: it cannot be negative")
        return value
    return _int_param(request, "after", 0, 2**62) or 0


async def list_runs(request: Request) -> Response:
    ctx, who = await caller(request)
    status_text = request.query_params.get("status") or None
    status = None
    if status_text is not None:
        try:
            status = RunStatus(status_text.lower())
        except ValueError:
            choices = ", ".join(s.value for s in RunStatus)
            raise ApiError(422, f"invalid status {status_text[:40]!r}: choose from {choices}") from None
    conversation = request.query_params.get("conversation") or None
    limit = _int_param(request, "limit", 1, MAX_LIMIT)
    service = ctx.backend.runs
    runs = await ctx.workers.run(
        lambda: service.list_runs(
            who.user,
            all_users=service.is_admin(who.user),
            status=status,
            conversation_id=conversation,
            limit=limit,
        )
    )
    return JSONResponse([run_view(run) for run in runs])


async def get_run(request: Request) -> Response:
    ctx, who = await caller(request)
    run = await ctx.workers.run(ctx.backend.runs.get_run, who.user, _id(request, "run_id"))
    return JSONResponse(run_view(run))


async def cancel_run(request: Request) -> Response:
    ctx, who = await caller(request)
    run_id = _id(request, "run_id")
    service = ctx.backend.runs
    stopped = await ctx.workers.run(service.cancel_run, who.user, run_id)
    run = await ctx.workers.run(service.get_run, who.user, run_id)
    return JSONResponse({"runId": run_id, "cancelled": stopped, "status": run.status.value})


async def run_events(request: Request) -> Response:
    ctx, who = await caller(request)
    run_id = _id(request, "run_id")
    after = _after(request)
    service = ctx.backend.runs
    feed: RunFeed = await ctx.workers.run(service.open_feed, who.user, run_id, after)
    live = feed.live
    if live is not None:
        service.hub.watch(live)

    def on_end(finished: bool) -> None:
        if live is not None:
            service.hub.unwatch(live)

    return EventStreamResponse(
        lambda signal: follow_feed(feed, signal, ctx.workers, ctx.ping_interval), on_end
    )


async def list_conversations(request: Request) -> Response:
    ctx, who = await caller(request)
    limit = _int_param(request, "limit", 1, MAX_LIMIT)
    service = ctx.backend.runs
    found = await ctx.workers.run(lambda: service.list_conversations(who.user, limit=limit))
    return JSONResponse([conversation_view(conversation) for conversation in found])


async def get_conversation(request: Request) -> Response:
    ctx, who = await caller(request)
    conversation_id = _id(request, "conversation_id")
    service = ctx.backend.runs

    def read() -> dict[str, object]:
        conversation = service.get_conversation(who.user, conversation_id)
        runs = service.list_runs(who.user, conversation_id=conversation_id, limit=MAX_LIMIT)
        runs.sort(key=lambda run: (run.started, run.id))  # oldest first: the conversation's order
        return {**conversation_view(conversation), "runs": [run_view(run) for run in runs]}

    return JSONResponse(await ctx.workers.run(read))


async def rename_conversation(request: Request) -> Response:
    ctx, who = await caller(request)
    conversation_id = _id(request, "conversation_id")
    body = await read_body(request, RenameBody)
    title = " ".join(body.title.split())
    if not title:
        raise ApiError(422, "invalid request body: title: it cannot be blank")
    found = await ctx.workers.run(ctx.backend.runs.rename_conversation, who.user, conversation_id, title)
    return JSONResponse(conversation_view(found))


async def delete_conversation(request: Request) -> Response:
    ctx, who = await caller(request)
    conversation_id = _id(request, "conversation_id")
    await ctx.workers.run(ctx.backend.runs.delete_conversation, who.user, conversation_id)
    return JSONResponse({"conversationId": conversation_id, "deleted": True})


ROUTES = [
    Route("/api/v1/runs", list_runs, methods=["GET"]),
    Route("/api/v1/runs/{run_id}", get_run, methods=["GET"]),
    Route("/api/v1/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
    Route("/api/v1/runs/{run_id}/events", run_events, methods=["GET"]),
    Route("/api/v1/conversations", list_conversations, methods=["GET"]),
    Route("/api/v1/conversations/{conversation_id}", get_conversation, methods=["GET"]),
    Route("/api/v1/conversations/{conversation_id}", rename_conversation, methods=["PATCH"]),
    Route("/api/v1/conversations/{conversation_id}", delete_conversation, methods=["DELETE"]),
]
