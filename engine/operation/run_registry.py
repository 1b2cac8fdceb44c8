"""What the operation layer needs from the run registry (the app wires in ``engine.store``).

The layers above the store never import it: they declare here the :class:`RunRegistry` and
:class:`RunJournal` they use, and :class:`engine.store.RunStore` satisfies both structurally.
Every write returns at once (the store queues it for its one writer thread); reads and changes
raise :class:`~engine.common.errors.StoreError` when the store cannot answer.

An engine built without a registry (some tests and benchmarks) journals with
:class:`MemoryJournal`: runs still get ids and sequence numbers and can be followed live, but
nothing outlives them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import date, datetime
from typing import Protocol

from engine.common.record import (
    ApprovalRecord,
    ApprovalStatus,
    ConversationRecord,
    EventRecord,
    MemoryRecord,
    RunRecord,
    RunStatus,
    TokenUsage,
)


class RunJournal(Protocol):
    """The write side of one run: numbered events, then its end, then the barrier."""

    run_id: str

    def append(self, event_type: str, payload: str) -> int:
        """Queue one event (its ``reply`` row); returns its sequence number (1, 2, 3...)."""
        ...

    def finish(
        self,
        status: RunStatus,
        *,
        error: str | None = None,
        steps: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None: ...

    def wait_committed(self, timeout: float) -> bool:
        """Wait until every event and the end queued so far are committed; False after timeout."""
        ...


class RunRegistry(Protocol):
    """Conversations, runs, their events, approvals, memory and token usage, kept durably."""

    # --- queued writes ---------------------------------------------------------------------------
    def create_conversation(
        self,
        owner: str,
        datasource: str,
        *,
        conversation_id: str | None = None,
        title: str = "",
        settings: Mapping[str, object] | None = None,
    ) -> ConversationRecord: ...

    def start_run(
        self,
        run_id: str,
        owner: str,
        question: str,
        *,
        conversation_id: str | None = None,
        model: str | None = None,
    ) -> RunJournal: ...

    def request_approval(
        self, run_id: str, request_id: str, tool: str, arguments: str, risk: str
    ) -> None: ...

    def decide_approval(
        self,
        request_id: str,
        status: ApprovalStatus,
        *,
        decided_by: str | None = None,
        reason: str | None = None,
    ) -> None: ...

    def save_memory(self, conversation_id: str, memory: MemoryRecord) -> None: ...

    def add_token_usage(
        self, user: str, prompt: int, completion: int, *, day: date | None = None
    ) -> None: ...

    # --- reads -----------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> RunRecord | None: ...

    def list_runs(
        self,
        owner: str | None = None,
        *,
        status: RunStatus | None = None,
        conversation_id: str | None = None,
        before: datetime | None = None,
        limit: int = 100,
    ) -> list[RunRecord]: ...

    def events_after(self, run_id: str, after: int = 0, limit: int = 1000) -> list[EventRecord]: ...

    def get_conversation(self, conversation_id: str) -> ConversationRecord | None: ...

    def list_conversations(
        self, owner: str, *, before: datetime | None = None, limit: int = 100
    ) -> list[ConversationRecord]: ...

    def load_memory(self, conversation_id: str) -> MemoryRecord | None: ...

    def list_approvals(self, run_id: str) -> list[ApprovalRecord]: ...

    def token_usage(self, user: str, day: date | None = None) -> TokenUsage:
        """A user's committed token count for ``day`` (default today, UTC)."""
        ...

    # --- changes made at once --------------------------------------------------------------------
    def rename_conversation(self, conversation_id: str, title: str) -> bool: ...

    def delete_conversation(self, conversation_id: str) -> bool: ...


class MemoryJournal:
    """The journal of a run in an engine without a registry: sequence numbers, nothing kept."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._seq = itertools.count(1)

    def append(self, event_type: str, payload: str) -> int:
        return next(self._seq)

    def finish(self, status: RunStatus, **totals: object) -> None:
        return None

    def wait_committed(self, timeout: float) -> bool:
        return True
