"""Server-sent events: the encoder, the ASGI response that notices a client leaving at once, and
the stream of one run's events read through the run service's feed (the one event path).

A stream holds no thread while it waits: a live run wakes it through :meth:`RunFeed.subscribe`
(the run's thread calls ``loop.call_soon_threadsafe``), a run read from the store is polled, and
the disconnect listener wakes it the moment the client goes away. Every wait is bounded by the
ping interval; a silent stream gets ``event: ping``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from engine.operation.run_service import STORE_POLL, RunFeed
from engine.rest.workers import Workers

log = logging.getLogger(__name__)

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # proxies must not buffer the stream
}


def sse_event(event: str, data: str, event_id: int | None = None) -> bytes:
    """One event. ``data`` is compact JSON (one line); any line break still gets its own field."""
    lines = [f"id: {event_id}"] if event_id is not None else []
    lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


PING = b": ping\nevent: ping\ndata: {}\n\n"


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Signal:
    """What a stream waits on: news (a run's event, the client leaving) and whether it left."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.news = asyncio.Event()
        self.gone = False

    def wake_threadsafe(self) -> None:
        """For other threads (a run appending an event): quick, never blocks."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens any more
            self.loop.call_soon_threadsafe(self.news.set)

    async def wait(self, timeout: float) -> None:
        if self.news.is_set() or self.gone:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.news.wait(), max(0.0, timeout))


Producer = Callable[[Signal], AsyncIterator[bytes]]


class EventStreamResponse(Response):
    """An ASGI ``text/event-stream`` response. ``on_end(finished)`` runs once when the stream
    stops: ``finished`` is True when the producer ran to its end, False when the client left.
    Unlike Starlette's StreamingResponse it listens for the client leaving while it waits, so a
    dropped stream is noticed at once, not at the next write."""

    media_type = "text/event-stream"

    def __init__(
        self,
        produce: Producer,
        on_end: Callable[[bool], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.produce = produce
        self.on_end = on_end
        self.status_code = 200
        self.background = None
        self.extra_headers = {**SSE_HEADERS, **(headers or {})}
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8")] + [
            (key.lower().encode("latin-1"), value.encode("latin-1"))
            for key, value in self.extra_headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        signal = Signal()

        async def listen() -> None:
            while True:
                message: Message = await receive()
                if message["type"] == "http.disconnect":
                    signal.gone = True
                    signal.news.set()
                    return

        listener = asyncio.create_task(listen(), name="sse-disconnect")
        finished = False
        chunks = self.produce(signal)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for chunk in chunks:
                if signal.gone:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            else:
                finished = not signal.gone
            if finished:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            finished = False  # the client went away while we wrote
        finally:
            listener.cancel()
            with contextlib.suppress(Exception):
                await chunks.aclose()  # type: ignore[attr-defined]
            if self.on_end is not None:
                try:
                    self.on_end(finished)
                except Exception:
                    log.warning("an SSE stream's end handler failed", exc_info=True)


async def follow_feed(
    feed: RunFeed, signal: Signal, workers: Workers, ping_interval: float
) -> AsyncIterator[bytes]:
    """Every event of ``feed`` (``id:`` its sequence number, ``event:`` its type, ``data:`` the reply
    row), replayed then live, then ``event: done``; pings while it is silent."""
    loop = asyncio.get_running_loop()
    unsubscribe = feed.subscribe(signal.wake_threadsafe)
    try:
        last_write = loop.time()
        while not signal.gone:
            signal.news.clear()
            events = feed.read() if feed.live is not None else await workers.run(feed.read)
            for event in events:
                yield sse_event(event.type, event.payload, event.seq)
            if feed.ended:
                yield sse_event("done", compact({"runId": feed.run_id, "lastSeq": feed.after}))
                return
            now = loop.time()
            if events:
                last_write = now
                continue
            quiet = ping_interval - (now - last_write)
            if quiet <= 0:
                yield PING
                last_write = now
                continue
            await signal.wait(quiet if feed.live is not None else min(quiet, STORE_POLL))
    finally:
        unsubscribe()
