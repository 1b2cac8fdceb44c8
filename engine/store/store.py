"""RunStore: the run registry. Conversations, runs, their events, approvals, memory and token
usage, in a SQLite file or PostgreSQL.

- Writes made while runs go on (a run's start, events and end, approvals, memory, token usage)
  are queued to the one writer thread (:mod:`engine.store.writer`) and never block; a run's
  :class:`~engine.store.journal.RunJournal` gives the barrier its operation waits on.
- Changes a person asks for (rename or delete a conversation) are made at once, and so are reads,
  on connections of a bounded pool. A read or change that cannot reach the database raises
  :class:`~engine.common.errors.StoreError` with a masked message.
- Ownership is the caller's business: every record carries its ``owner``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine

from engine.common.config import (
    STORE_QUEUE_CAPACITY,
    STORE_RETENTION,
    STORE_URL,
    EngineConf,
)
from engine.common.errors import StoreError
from engine.common.metrics import Metrics
from engine.common.record import (
    ApprovalStatus,
    ConversationRecord,
    JsonObject,
    MemoryRecord,
    RunStatus,
    StoreStats,
)
from engine.common.redaction import redact_text
from engine.store import rows
from engine.store.database import create_store_engine, secrets_of
from engine.store.journal import RunJournal
from engine.store.maintenance import Maintenance, Recovered
from engine.store.migration import upgrade
from engine.store.problem import describe
from engine.store.reader import StoreReader
from engine.store.schema import APPROVALS, CONVERSATIONS, EVENTS, RUNS
from engine.store.statements import SAVE_MEMORY, TOUCH_CONVERSATION, DialectStatements, bind
from engine.store.url import default_store_url, store_url
from engine.store.writer import StoreWriter

log = logging.getLogger(__name__)

TITLE_LENGTH = 120


@dataclass(frozen=True)
class StoreOptions:
    """Tuning of a store; the defaults are the product's, tests and benchmarks shorten them."""

    flush_interval: float = 0.05  # the writer commits at least this often...
    flush_events: int = 500  # ...or as soon as this many events wait
    heartbeat_interval: float = 5.0  # an instance silent for 6 heartbeats is gone
    retention_interval: float = 60.0  # between two retention passes
    retry_max: float = 5.0  # longest backoff between two attempts during an outage
    close_timeout: float = 10.0  # how long close() retries to write what is queued
    busy_timeout: float = 5.0  # SQLite: how long a statement waits for a lock


DEFAULT_OPTIONS = StoreOptions()


def _now() -> datetime:
    return datetime.now(UTC)


def _text(value: str) -> str:
    return value.replace("\x00", "\ufffd")


class RunStore(StoreReader):
    """The run registry of one engine process. Build it with :meth:`open`; close it once."""

    def __init__(
        self,
        engine: Engine,
        *,
        retention: float = 30 * 86400.0,
        capacity: int = 100_000,
        instance_id: str | None = None,
        options: StoreOptions = DEFAULT_OPTIONS,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(engine, secrets_of(engine.url))
        self.display_url = engine.url.render_as_string(hide_password=True)
        self.instance_id = instance_id or uuid.uuid4().hex
        self._close_timeout = options.close_timeout
        self.writer = StoreWriter(
            engine,
            capacity=capacity,
            flush_interval=options.flush_interval,
            flush_events=options.flush_events,
            retry_max=options.retry_max,
            secrets=self._secrets,
            metrics=metrics,
        )
        self.maintenance = Maintenance(
            engine,
            self.instance_id,
            retention=retention,
            heartbeat_interval=options.heartbeat_interval,
            retention_interval=options.retention_interval,
            secrets=self._secrets,
        )
        self.recovered = Recovered(0, 0)
        self._statements = DialectStatements.build(engine.dialect.name)

    # --- opening and closing -----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        url: str | URL,
        *,
        retention: float = 30 * 86400.0,
        capacity: int = 100_000,
        instance_id: str | None = None,
        options: StoreOptions = DEFAULT_OPTIONS,
        metrics: Metrics | None = None,
    ) -> RunStore:
        """Open (creating or migrating) the store at ``url``, recover what engines that are gone
        left running, and start the writer and maintenance threads. Raises StoreError, or
        ConfigError for a URL that is not a store."""
        sa_url = url if isinstance(url, URL) else store_url(url)
        engine = create_store_engine(sa_url, busy_timeout=options.busy_timeout)
        store = cls(
            engine,
            retention=retention,
            capacity=capacity,
            instance_id=instance_id,
            options=options,
            metrics=metrics,
        )
        try:
            upgrade(engine)
            store.maintenance.register()
            store.recovered = store.maintenance.recover()
        except Exception as exc:
            engine.dispose()
            problem = describe(exc, store._secrets)
            raise StoreError(f"cannot open the run store {store.display_url}: {problem}") from None
        store.writer.start()
        store.maintenance.start()
        log.info("run store open at %s (instance %s)", store.display_url, store.instance_id)
        return store

    @classmethod
    def from_conf(
        cls,
        conf: EngineConf,
        work_dir: Path,
        *,
        instance_id: str | None = None,
        options: StoreOptions = DEFAULT_OPTIONS,
        metrics: Metrics | None = None,
    ) -> RunStore:
        """The store ``store.url`` names, or ``<work_dir>/store.db``; ``metrics`` counts failed
        writes."""
        configured = conf.get(STORE_URL)
        return cls.open(
            store_url(configured) if configured else default_store_url(work_dir),
            retention=conf.get(STORE_RETENTION),
            capacity=conf.get(STORE_QUEUE_CAPACITY),
            instance_id=instance_id,
            options=options,
            metrics=metrics,
        )

    def close(self, timeout: float | None = None) -> bool:
        """Write everything queued (up to ``timeout``), interrupt what this process still runs,
        stop the threads. True when nothing was lost."""
        if self._closed:
            return True
        self._closed = True
        self.maintenance.close()
        complete = self.writer.close(self._close_timeout if timeout is None else timeout)
        try:
            self.maintenance.retire()
        except Exception as exc:
            log.warning(
                "run store: could not retire this instance at close: %s", describe(exc, self._secrets)
            )
        self._engine.dispose()
        log.info("run store closed")
        return complete

    # --- queued writes -----------------------------------------------------------------------------
    def create_conversation(
        self,
        owner: str,
        datasource: str,
        *,
        conversation_id: str | None = None,
        title: str = "",
        settings: JsonObject | None = None,
    ) -> ConversationRecord:
        """Queue a new conversation (``datasource``: a fingerprint, see
        :func:`engine.common.record.datasource_fingerprint`); returns it at once."""
        now = _now()
        record = ConversationRecord(
            id=conversation_id or uuid.uuid4().hex,
            owner=owner,
            datasource=datasource,
            title=_text(title[:TITLE_LENGTH]),
            created=now,
            updated=now,
            settings=dict(settings or {}),
        )
        values = {
            "id": record.id,
            "owner": owner,
            "datasource": datasource,
            "title": record.title,
            "created": now,
            "updated": now,
            "settings": rows.settings_text(settings),
            "memory": None,
        }
        self._submit(
            lambda c: c.execute(self._insert(CONVERSATIONS).values(**values).on_conflict_do_nothing()),
            f"conversation {record.id}",
        )
        return record

    def start_run(
        self,
        run_id: str,
        owner: str,
        question: str,
        *,
        conversation_id: str | None = None,
        model: str | None = None,
    ) -> RunJournal:
        """Queue a new ``running`` run (its question is redacted here) and bump its conversation;
        returns the journal its events and end go through."""
        now = _now()
        redacted = _text(redact_text(question))
        values = {
            "id": run_id,
            "conversation_id": conversation_id,
            "owner": owner,
            "question": redacted,
            "status": RunStatus.RUNNING.value,
            "started": now,
            "steps": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "model": model,
            "incomplete": False,
            "events_dropped": 0,
            "instance": self.instance_id,
        }
        title = " ".join(redacted.split())[:TITLE_LENGTH]
        insert = self._statements.start_run

        def apply(connection: Connection) -> None:
            connection.execute(insert, bind(values))
            if conversation_id is not None:
                connection.execute(
                    TOUCH_CONVERSATION, {"p_id": conversation_id, "p_updated": now, "p_title": title}
                )

        # committed at once, while the run's first LLM call is under way: the barrier at its end
        # then waits for a smaller batch
        ticket = self._submit(apply, f"start of run {run_id}", urgent=True)
        return RunJournal(self.writer, run_id, ticket)

    def request_approval(self, run_id: str, request_id: str, tool: str, arguments: str, risk: str) -> None:
        """Queue a parked tool call (``arguments``: the JSON text it is bound to)."""
        values = {
            "request_id": request_id,
            "run_id": run_id,
            "tool": tool,
            "arguments": _text(redact_text(arguments)),
            "risk": risk,
            "status": ApprovalStatus.PENDING.value,
            "requested": _now(),
        }
        self._submit(
            lambda c: c.execute(self._insert(APPROVALS).values(**values).on_conflict_do_nothing()),
            f"approval {request_id}",
        )

    def decide_approval(
        self,
        request_id: str,
        status: ApprovalStatus,
        *,
        decided_by: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Queue the decision on a pending approval (a decided one is left as it is)."""
        if not status.decided:
            raise ValueError("a decision is not pending")
        values = {
            "status": status.value,
            "decided_by": decided_by,
            "reason": _text(redact_text(reason)) if reason else None,
            "decided": _now(),
        }
        statement = (
            sa.update(APPROVALS)
            .where(APPROVALS.c.request_id == request_id, APPROVALS.c.status == ApprovalStatus.PENDING.value)
            .values(**values)
        )
        self._submit(lambda c: c.execute(statement), f"decision on approval {request_id}")

    def save_memory(self, conversation_id: str, memory: MemoryRecord) -> None:
        """Queue a conversation's memory. Call it before the run's ``finish`` so that the run's
        barrier covers it."""
        params = {"p_id": conversation_id, "p_memory": _text(rows.memory_text(memory)), "p_updated": _now()}
        self._submit(lambda c: c.execute(SAVE_MEMORY, params), f"memory of conversation {conversation_id}")

    def add_token_usage(self, user: str, prompt: int, completion: int, *, day: date | None = None) -> None:
        """Queue tokens a user spent (added to the user's count for ``day``, default today, UTC)."""
        values = {
            "username": user,
            "day": day or _now().date(),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
        }

        upsert, params = self._statements.add_token_usage, bind(values)
        self._submit(lambda c: c.execute(upsert, params), f"token usage of {user}")

    def flush(self, timeout: float) -> bool:
        """Wait until every write queued so far is committed."""
        return self.writer.flush(timeout)

    def stats(self) -> StoreStats:
        return self.writer.stats()

    # --- changes made at once ----------------------------------------------------------------------
    def rename_conversation(self, conversation_id: str, title: str) -> bool:
        """Set a conversation's title; False when there is no such conversation."""
        statement = (
            sa.update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == conversation_id)
            .values(title=_text(title[:TITLE_LENGTH]), updated=_now())
        )
        return self._read(lambda c: c.execute(statement).rowcount > 0, change=True)

    def delete_conversation(self, conversation_id: str) -> bool:
        """Delete a conversation with its runs, their events and approvals; False when unknown.
        Queued writes are flushed first so nothing of it is written back afterwards."""
        self.writer.flush(self._close_timeout)

        def apply(connection: Connection) -> bool:
            run_ids = sa.select(RUNS.c.id).where(RUNS.c.conversation_id == conversation_id)
            connection.execute(sa.delete(EVENTS).where(EVENTS.c.run_id.in_(run_ids)))
            connection.execute(sa.delete(APPROVALS).where(APPROVALS.c.run_id.in_(run_ids)))
            connection.execute(sa.delete(RUNS).where(RUNS.c.conversation_id == conversation_id))
            return (
                connection.execute(
                    sa.delete(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id)
                ).rowcount
                > 0
            )

        return self._read(apply, change=True)

    # --- helpers -----------------------------------------------------------------------------------
    def _insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT that can be told ``on_conflict_do_nothing`` (idempotent under retries)."""
        return postgresql.insert(table) if self._engine.dialect.name == "postgresql" else sqlite.insert(table)

    def _submit(self, apply: Callable[[Connection], object], label: str, *, urgent: bool = False) -> int:
        """Queue a write; never raises (after close it is ignored: see StoreWriter.submit)."""
        return self.writer.submit(apply, label=label, urgent=urgent)
