"""Agent providers for frontend tests: real implementations of the AgentProvider protocol."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from engine.agent.events import AgentEvent, AgentFinishEvent, AgentStartEvent, StepEndEvent, StepStartEvent
from engine.agent.provider import AgentSession, RunRequest

END = object()


class _Stateless:
    """The provider lifecycle for providers that keep nothing per session."""

    def open_session(self, session: AgentSession) -> None:
        return None

    def close_session(self, session: AgentSession) -> None:
        return None

    def close(self) -> None:
        return None


class QueueProvider(_Stateless):
    """Each run emits ``agent_start``, then one ``step_start`` row per integer put on ``rows``,
    until ``END`` is put; then ``agent_finish``. Lets a test control exactly when rows exist."""

    name = "QUEUE"

    def __init__(self) -> None:
        self.rows: queue.Queue[object] = queue.Queue()
        self.started = threading.Event()

    def run(self, request: RunRequest) -> Iterator[AgentEvent]:
        yield AgentStartEvent()
        self.started.set()
        while True:
            request.cancel.raise_if_cancelled()
            try:
                item = self.rows.get(timeout=0.05)
            except queue.Empty:
                continue
            if item is END:
                break
            yield StepStartEvent(int(item))  # type: ignore[call-overload]
        yield AgentFinishEvent(steps=0)


class CountProvider(_Stateless):
    """Each run emits ``agent_start``, ``count`` ``step_start`` rows and ``agent_finish`` at once."""

    name = "COUNT"

    def __init__(self, count: int) -> None:
        self.count = count

    def run(self, request: RunRequest) -> Iterator[AgentEvent]:
        yield AgentStartEvent()
        for step in range(self.count):
            if step % 1024 == 0:
                request.cancel.raise_if_cancelled()
            yield StepStartEvent(step)
        yield StepEndEvent(self.count)
        yield AgentFinishEvent(steps=self.count)
