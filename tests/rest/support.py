"""Helpers of the REST tests: an httpx client per user, and a reader of SSE streams."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: int | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.data)


def sse_events(response: httpx.Response) -> Iterator[SseEvent]:
    """The events of a ``text/event-stream`` response as they arrive (comments skipped)."""
    event, data, event_id = "message", [], None
    for line in response.iter_lines():
        if not line:
            if data:
                yield SseEvent(event, "\n".join(data), event_id)
            event, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = int(value)


def read_until(response: httpx.Response, stop: str = "done") -> list[SseEvent]:
    """Events until (and with) the first named ``stop``; pings left out."""
    found = []
    for event in sse_events(response):
        if event.event == "ping":
            continue
        found.append(event)
        if event.event == stop:
            break
    return found


@dataclass
class Api:
    """The REST API of one engine, for one user (HTTP Basic)."""

    base: str
    user: str = "alice"
    password: str = "secret"
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, user: str | None = None, password: str | None = None, **kwargs: Any) -> httpx.Client:
        auth = (user or self.user, password if password is not None else self.password)
        client = httpx.Client(base_url=self.base, auth=auth, timeout=30.0, **kwargs)
        self.clients.append(client)
        return client

    def anonymous(self, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(base_url=self.base, timeout=30.0, **kwargs)
        self.clients.append(client)
        return client

    def session(self, client: httpx.Client, configs: dict[str, str] | None = None) -> str:
        answer = client.post("/api/v1/sessions", json={"configs": configs or {}})
        assert answer.status_code == 200, answer.text
        identifier: str = answer.json()["identifier"]
        return identifier

    def chat(self, client: httpx.Client, session: str, text: str, **extra: Any) -> list[SseEvent]:
        with client.stream(
            "POST", f"/api/v1/data-agent/{session}/chat", json={"text": text, **extra}
        ) as answer:
            assert answer.status_code == 200, answer.read()
            return read_until(answer)

    def close(self) -> None:
        for client in self.clients:
            client.close()
