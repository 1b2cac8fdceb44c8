"""The ECHO provider: answers without an LLM, emitting Kyuubi's event sequence."""

from __future__ import annotations

import re
from collections.abc import Generator

from engine.agent.events import (
    AgentEvent,
    AgentFinishEvent,
    AgentStartEvent,
    ContentDeltaEvent,
    DeltaCoalescer,
    StepEndEvent,
    StepStartEvent,
)
from engine.agent.provider import AgentSession, RunRequest


class EchoProvider:
    name = "ECHO"

    def open_session(self, session: AgentSession) -> None:
        return None

    def close_session(self, session: AgentSession) -> None:
        return None

    def run(self, request: RunRequest) -> Generator[AgentEvent, None, None]:
        coalescer = DeltaCoalescer()
        yield AgentStartEvent()
        yield StepStartEvent(1)
        reply = (
            f"[DataAgent Echo] I received your question: {request.question}\n"
            "This is the Data Agent engine in echo mode. Please configure an LLM provider "
            "(e.g., OPENAI_COMPATIBLE) for actual data analysis."
        )
        for token in re.findall(r"\S*\s*", reply):
            if not token:
                continue
            request.cancel.raise_if_cancelled()
            yield from coalescer.feed(ContentDeltaEvent(token))
        yield from coalescer.flush()
        yield StepEndEvent(1)
        yield AgentFinishEvent(steps=1)

    def close(self) -> None:
        return None
