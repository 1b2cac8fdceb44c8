"""Result modes: how an agent run's events become rows (``kyuubi.engine.data.agent.result.mode``).

- ``events`` (Kyuubi): one compact JSON row per event in a STRING ``reply`` column.
- ``answer``: one STRING row with the final answer text.
- ``table``: the rows of the run's last successful query as typed columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.agent.events import (
    AgentEvent,
    ContentDeltaEvent,
    ErrorEvent,
    StepStartEvent,
)
from engine.common.errors import EngineError
from engine.common.types import REPLY_SCHEMA, ColumnSpec, HiveType, TableSchema
from engine.operation.fetch_buffer import IncrementalFetchBuffer

ANSWER_SCHEMA = TableSchema.of(ColumnSpec("answer", HiveType.STRING, "the agent's final answer"))


class ResultSink:
    """Receives a run's events and writes rows. ``initial_schema`` None means "decided later"."""

    initial_schema: TableSchema | None = REPLY_SCHEMA

    def __init__(self, buffer: IncrementalFetchBuffer, set_schema: Callable[[TableSchema], None]) -> None:
        self.buffer = buffer
        self.set_schema = set_schema
        self.saw_error = False

    def on_event(self, event: AgentEvent) -> None:
        if isinstance(event, ErrorEvent):
            self.saw_error = True

    def on_finish(self) -> None:
        """The run ended normally; may raise EngineError (e.g. table mode without a table)."""

    def on_failure(self, error: EngineError) -> None:
        """The run failed or was cancelled; ``error`` is what the operation status will carry."""


class EventsSink(ResultSink):
    initial_schema = REPLY_SCHEMA

    def on_event(self, event: AgentEvent) -> None:
        super().on_event(event)
        self.buffer.append(event.to_row())

    def on_failure(self, error: EngineError) -> None:
        if not self.saw_error:
            self.saw_error = True
            self.buffer.append(ErrorEvent(error.message).to_row())


class AnswerSink(ResultSink):
    """The final answer is the content text of the last step that produced any."""

    initial_schema = ANSWER_SCHEMA

    def __init__(self, buffer: IncrementalFetchBuffer, set_schema: Callable[[TableSchema], None]) -> None:
        super().__init__(buffer, set_schema)
        self._step_parts: list[str] = []
        self._last_answer = ""

    def on_event(self, event: AgentEvent) -> None:
        super().on_event(event)
        if isinstance(event, StepStartEvent):
            self._close_step()
        elif isinstance(event, ContentDeltaEvent):
            self._step_parts.append(event.text)

    def _close_step(self) -> None:
        text = "".join(self._step_parts).strip()
        if text:
            self._last_answer = text
        self._step_parts = []

    def on_finish(self) -> None:
        self._close_step()
        self.buffer.append(self._last_answer)


SINKS: dict[str, Callable[..., ResultSink]] = {
    "events": EventsSink,
    "answer": AnswerSink,
}


def make_sink(
    mode: str, buffer: IncrementalFetchBuffer, set_schema: Callable[[TableSchema], None], **options: Any
) -> ResultSink:
    factory = SINKS.get(mode)
    if factory is None:
        raise EngineError(f"result mode {mode!r} is not available; accepted: {', '.join(sorted(SINKS))}")
    return factory(buffer, set_schema, **options)
