"""Agent events: small frozen dataclasses with one serializer.

The wire ``type`` strings and field names are Kyuubi's (``ExecuteStatement.scala``); we may add
fields but never rename or remove them. ``to_row`` renders the compact JSON object that becomes
one row of the ``reply`` column in ``events`` result mode.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.common.result import QueryResult


def _compact(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class AgentEvent:
    type: ClassVar[str] = ""

    def payload(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.payload()}

    def to_row(self) -> str:
        return _compact(self.to_dict())


@dataclass(frozen=True)
class AgentStartEvent(AgentEvent):
    """Kyuubi's ``agent_start``, plus (added fields) the run's and its conversation's ids, which
    the operation fills in (providers leave them empty)."""

    type: ClassVar[str] = "agent_start"
    run_id: str | None = None
    conversation_id: str | None = None

    def payload(self) -> dict[str, Any]:
        ids: dict[str, Any] = {}
        if self.run_id is not None:
            ids["runId"] = self.run_id
        if self.conversation_id is not None:
            ids["conversationId"] = self.conversation_id
        return ids


@dataclass(frozen=True)
class StepStartEvent(AgentEvent):
    type: ClassVar[str] = "step_start"
    step: int

    def payload(self) -> dict[str, Any]:
        return {"step": self.step}


@dataclass(frozen=True)
class ContentDeltaEvent(AgentEvent):
    type: ClassVar[str] = "content_delta"
    text: str

    def payload(self) -> dict[str, Any]:
        return {"text": self.text}


@dataclass(frozen=True)
class ReasoningDeltaEvent(AgentEvent):
    type: ClassVar[str] = "reasoning_delta"
    text: str

    def payload(self) -> dict[str, Any]:
        return {"text": self.text}


@dataclass(frozen=True)
class ApprovalRequestEvent(AgentEvent):
    type: ClassVar[str] = "approval_request"
    request_id: str
    tool_call_id: str
    name: str
    args: dict[str, Any]
    risk_level: str

    def payload(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "id": self.tool_call_id,
            "name": self.name,
            "args": self.args,
            "riskLevel": self.risk_level,
        }


@dataclass(frozen=True)
class ToolCallEvent(AgentEvent):
    type: ClassVar[str] = "tool_call"
    tool_call_id: str
    name: str
    args: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return {"id": self.tool_call_id, "name": self.name, "args": self.args}


@dataclass(frozen=True)
class ToolResultEvent(AgentEvent):
    type: ClassVar[str] = "tool_result"
    tool_call_id: str
    name: str
    output: str
    is_error: bool
    # Structured result of a query tool, kept for table mode. Never serialized into the events row.
    table: QueryResult | None = field(default=None, compare=False, repr=False)

    def payload(self) -> dict[str, Any]:
        return {"id": self.tool_call_id, "name": self.name, "output": self.output, "isError": self.is_error}


@dataclass(frozen=True)
class StepEndEvent(AgentEvent):
    type: ClassVar[str] = "step_end"
    step: int

    def payload(self) -> dict[str, Any]:
        return {"step": self.step}


@dataclass(frozen=True)
class CompactionEvent(AgentEvent):
    type: ClassVar[str] = "compaction"
    summarized: int
    kept: int
    trigger_tokens: int
    observed_tokens: int

    def payload(self) -> dict[str, Any]:
        return {
            "summarized": self.summarized,
            "kept": self.kept,
            "triggerTokens": self.trigger_tokens,
            "observedTokens": self.observed_tokens,
        }


@dataclass(frozen=True)
class ErrorEvent(AgentEvent):
    type: ClassVar[str] = "error"
    message: str

    def payload(self) -> dict[str, Any]:
        return {"message": self.message}


@dataclass(frozen=True)
class AgentFinishEvent(AgentEvent):
    type: ClassVar[str] = "agent_finish"
    steps: int
    accumulated_prompt_tokens: int = 0
    accumulated_completion_tokens: int = 0
    last_prompt_tokens: int = 0
    last_completion_tokens: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "accumulatedPromptTokens": self.accumulated_prompt_tokens,
            "accumulatedCompletionTokens": self.accumulated_completion_tokens,
            "lastPromptTokens": self.last_prompt_tokens,
            "lastCompletionTokens": self.last_completion_tokens,
        }


class DeltaCoalescer:
    """Merges consecutive text deltas of one kind so that each token is not its own row.

    Feed it every event; it yields what should be emitted now. Pending text is flushed when
    another event arrives, when it grows past ``max_chars``, or when ``max_delay`` seconds have
    passed since the pending text started (so a slow stream still reaches clients promptly).
    Call :meth:`flush` at the end.
    """

    def __init__(self, max_chars: int = 2048, max_delay: float = 0.05) -> None:
        self.max_chars = max_chars
        self.max_delay = max_delay
        self._kind: type[ContentDeltaEvent] | type[ReasoningDeltaEvent] | None = None
        self._parts: list[str] = []
        self._size = 0
        self._started = 0.0

    def feed(self, event: AgentEvent) -> Iterator[AgentEvent]:
        if isinstance(event, ContentDeltaEvent | ReasoningDeltaEvent):
            if self._kind is not None and self._kind is not type(event):
                yield from self.flush()
            if self._kind is None:
                self._kind = type(event)
                self._started = time.monotonic()
            self._parts.append(event.text)
            self._size += len(event.text)
            if self._size >= self.max_chars or time.monotonic() - self._started >= self.max_delay:
                yield from self.flush()
            return
        yield from self.flush()
        yield event

    def due(self) -> bool:
        """True when pending text has waited ``max_delay`` (callers polling on a timer flush then)."""
        return self._kind is not None and time.monotonic() - self._started >= self.max_delay

    def flush(self) -> Iterator[AgentEvent]:
        if self._kind is not None and self._parts:
            text = "".join(self._parts)
            kind = self._kind
            self._kind, self._parts, self._size = None, [], 0
            if text:
                yield kind(text)
        else:
            self._kind, self._parts, self._size = None, [], 0
