"""Reads of the run registry, for the wiring into operations and for the REST API.

Each read takes a connection from the store's bounded pool, so many threads may read at once;
a read that cannot reach the database raises :class:`~engine.common.errors.StoreError`. Every
query below is served by an index of :mod:`engine.store.schema`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engine.common.errors import StoreError
from engine.common.record import (
    ApprovalRecord,
    ConversationRecord,
    EventRecord,
    MemoryRecord,
    RunRecord,
    RunStatus,
    TokenUsage,
)
from engine.store import rows
from engine.store.problem import describe
from engine.store.schema import APPROVALS, CONVERSATIONS, EVENTS, RUNS, TOKEN_USAGE

T = TypeVar("T")
MAX_PAGE = 10_000


class StoreReader:
    """The read side of :class:`~engine.store.store.RunStore`."""

    def __init__(self, engine: Engine, secrets: tuple[str, ...]) -> None:
        self._engine = engine
        self._secrets = secrets
        self._closed = False

    @property
    def engine(self) -> Engine:
        """The store's SQLAlchemy engine, for diagnostics (query plans, events) and tests."""
        return self._engine

    def get_run(self, run_id: str) -> RunRecord | None:
        statement = sa.select(RUNS, self._last_seq()).where(RUNS.c.id == run_id)
        row = self._read(lambda c: c.execute(statement).first())
        return rows.run(row, row.last_seq) if row is not None else None

    def list_runs(
        self,
        owner: str | None = None,
        *,
        status: RunStatus | None = None,
        conversation_id: str | None = None,
        before: datetime | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Runs newest first: of ``owner``, or of everyone (``owner=None``, for an administrator),
        optionally of one status or conversation, started before ``before`` (to page)."""
        statement = sa.select(RUNS, self._last_seq())
        if owner is not None:
            statement = statement.where(RUNS.c.owner == owner)
        if status is not None:
            statement = statement.where(RUNS.c.status == status.value)
        if conversation_id is not None:
            statement = statement.where(RUNS.c.conversation_id == conversation_id)
        if before is not None:
            statement = statement.where(RUNS.c.started < before)
        statement = statement.order_by(RUNS.c.started.desc(), RUNS.c.id.desc()).limit(self._limit(limit))
        found = self._read(lambda c: c.execute(statement).all())
        return [rows.run(row, row.last_seq) for row in found]

    def events_after(self, run_id: str, after: int = 0, limit: int = 1000) -> list[EventRecord]:
        """A page of a run's events with a sequence number above ``after``, in order."""
        statement = (
            sa.select(EVENTS)
            .where(EVENTS.c.run_id == run_id, EVENTS.c.seq > after)
            .order_by(EVENTS.c.seq)
            .limit(self._limit(limit))
        )
        return [rows.event(row) for row in self._read(lambda c: c.execute(statement).all())]

    def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        statement = sa.select(CONVERSATIONS, self._run_count()).where(CONVERSATIONS.c.id == conversation_id)
        row = self._read(lambda c: c.execute(statement).first())
        return rows.conversation(row, row.runs) if row is not None else None

    def list_conversations(
        self, owner: str, *, before: datetime | None = None, limit: int = 100
    ) -> list[ConversationRecord]:
        """An owner's conversations, the most recently updated first, with their run counts."""
        statement = sa.select(CONVERSATIONS, self._run_count()).where(CONVERSATIONS.c.owner == owner)
        if before is not None:
            statement = statement.where(CONVERSATIONS.c.updated < before)
        statement = statement.order_by(CONVERSATIONS.c.updated.desc(), CONVERSATIONS.c.id.desc()).limit(
            self._limit(limit)
        )
        return [rows.conversation(row, row.runs) for row in self._read(lambda c: c.execute(statement).all())]

    def load_memory(self, conversation_id: str) -> MemoryRecord | None:
        """A conversation's memory as last saved; None when it has none (or does not exist)."""
        statement = sa.select(CONVERSATIONS.c.memory).where(CONVERSATIONS.c.id == conversation_id)
        return rows.memory(self._read(lambda c: c.execute(statement).scalar()))

    def get_approval(self, request_id: str) -> ApprovalRecord | None:
        statement = sa.select(APPROVALS).where(APPROVALS.c.request_id == request_id)
        row = self._read(lambda c: c.execute(statement).first())
        return rows.approval(row) if row is not None else None

    def list_approvals(self, run_id: str) -> list[ApprovalRecord]:
        statement = sa.select(APPROVALS).where(APPROVALS.c.run_id == run_id).order_by(APPROVALS.c.requested)
        return [rows.approval(row) for row in self._read(lambda c: c.execute(statement).all())]

    def token_usage(self, user: str, day: date | None = None) -> TokenUsage:
        """A user's committed token count for ``day`` (default today, UTC)."""
        when = day or datetime.now(UTC).date()
        statement = sa.select(TOKEN_USAGE).where(TOKEN_USAGE.c.username == user, TOKEN_USAGE.c.day == when)
        row = self._read(lambda c: c.execute(statement).first())
        if row is None:
            return TokenUsage(user, when)
        return TokenUsage(user, when, row.prompt_tokens, row.completion_tokens)

    @staticmethod
    def _limit(limit: int) -> int:
        return max(1, min(int(limit), MAX_PAGE))

    @staticmethod
    def _last_seq() -> sa.Label[int]:
        return (
            sa.select(sa.func.coalesce(sa.func.max(EVENTS.c.seq), 0))
            .where(EVENTS.c.run_id == RUNS.c.id)
            .scalar_subquery()
            .label("last_seq")
        )

    @staticmethod
    def _run_count() -> sa.Label[int]:
        return (
            sa.select(sa.func.count())
            .where(RUNS.c.conversation_id == CONVERSATIONS.c.id)
            .scalar_subquery()
            .label("runs")
        )

    def _read(self, query: Callable[[Connection], T], *, change: bool = False) -> T:
        """Run ``query`` on a pooled connection (in a committed transaction when it is a
        ``change``); any failure becomes a StoreError with a masked message."""
        if self._closed:
            raise StoreError("the run store is closed")
        try:
            with self._engine.begin() if change else self._engine.connect() as connection:
                return query(connection)
        except Exception as exc:
            what = "refused the change" if change else "cannot answer"
            raise StoreError(f"the run store {what}: {describe(exc, self._secrets)}") from None
