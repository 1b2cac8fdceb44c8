"""The run service: runs and conversations for any frontend, without reaching into sessions.

The Thrift frontend reaches it through ``__attach:``, ``SHOW RUNS`` and ``SHOW CONVERSATIONS``
(:mod:`engine.operation.run_view`); the REST API calls it directly through
:attr:`engine.backend.BackendService.runs`. Every method takes the calling user and checks
ownership: a user sees and acts on their own runs and conversations; the administrators
(``kyuubi.server.administrators``) may also list, watch and cancel anyone's runs. Nobody approves
another user's tool calls through this service (approvals stay with their owner).

Following a run (:meth:`RunService.open_feed`) replays its events from a sequence number and then
follows it live: from the run's own list while it goes on in this engine, from the store for a
run that ended or that another engine sharing the store runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from engine.common.cancel import CancelReason, CancelToken
from engine.common.errors import BusyError, NotFoundError, PermissionDeniedError, UnsupportedError
from engine.common.record import ConversationRecord, EventRecord, RunRecord, RunStatus
from engine.operation.live_run import LiveRun, RunHub
from engine.operation.run_registry import RunRegistry

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
STORE_POLL = 0.5  # seconds between two looks at a run that another engine is running
PAGE = 1000


def _limit(limit: int | None) -> int:
    return DEFAULT_LIMIT if limit is None else max(1, min(int(limit), MAX_LIMIT))


class RunFeed:
    """One reader of one run's events, from a sequence number on: what happened, then what
    happens. Not thread-safe (one reader); :meth:`read` may query the store."""

    def __init__(
        self,
        run_id: str,
        after: int,
        *,
        live: LiveRun | None,
        registry: RunRegistry | None,
    ) -> None:
        self.run_id = run_id
        self.after = max(0, after)  # the sequence number of the last event read
        self.live = live  # None: the run is read from the store
        self._registry = registry
        self._ended = False

    @property
    def ended(self) -> bool:
        """True once every event has been read and the run has ended."""
        return self._ended

    def read(self, limit: int = PAGE) -> list[EventRecord]:
        """The next events available now (at most ``limit``); never waits for new ones."""
        if self._ended:
            return []
        if self.live is not None:
            events, self._ended = self.live.read(self.after, limit)
        else:
            events = self._read_stored(limit)
        if events:
            self.after = events[-1].seq
        return events

    def _read_stored(self, limit: int) -> list[EventRecord]:
        registry = self._registry
        if registry is None:
            self._ended = True
            return []
        # the status first: a terminal one was committed after every event of the run, so the
        # page read after it is complete
        record = registry.get_run(self.run_id)
        events = registry.events_after(self.run_id, self.after, limit)
        if not events and (record is None or record.status.terminal):
            self._ended = True
        return events

    def wait(self, timeout: float, cancel: CancelToken | None = None) -> bool:
        """Wait up to ``timeout`` for more events or the end (a cancel ends the wait at once);
        True when there may be something to read."""
        if self._ended:
            return True
        if self.live is not None:
            return self.live.wait(self.after, timeout, cancel)
        # another engine runs it (or it is about to be recovered): look again shortly
        pause = min(max(0.0, timeout), STORE_POLL)
        (cancel or CancelToken()).wait(pause)
        return True

    def subscribe(self, wake: Callable[[], None]) -> Callable[[], None]:
        """``wake`` is called when a live run has something new; a stored run must be polled."""
        if self.live is None:
            return lambda: None
        return self.live.subscribe(wake)


class RunService:
    """Runs and conversations of the engine for a calling user (see the module docstring)."""

    def __init__(
        self,
        hub: RunHub,
        registry: RunRegistry | None = None,
        *,
        administrators: Iterable[str] = (),
    ) -> None:
        self.hub = hub
        self.registry = registry
        self.administrators = frozenset(administrators)

    def is_admin(self, user: str) -> bool:
        return user in self.administrators

    def _store(self, what: str) -> RunRegistry:
        if self.registry is None:
            raise UnsupportedError(
                f"{what} needs the run registry, which this engine runs without "
                "(kyuubi.engine.data.agent.store.enabled=false)"
            )
        return self.registry

    def _check_owner(self, user: str, owner: str, what: str, *, admin_may: bool = True) -> None:
        if user != owner and not (admin_may and self.is_admin(user)):
            raise PermissionDeniedError(f"user {user} may not use {what}, which belongs to another user")

    # --- runs ----------------------------------------------------------------------------------
    def list_runs(
        self,
        user: str,
        *,
        all_users: bool = False,
        status: RunStatus | None = None,
        conversation_id: str | None = None,
        before: datetime | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Runs newest first: the caller's, or everyone's for an administrator (``all_users``).
        Runs going on here show their live state (steps, tokens so far)."""
        if all_users and not self.is_admin(user):
            raise PermissionDeniedError(
                f"user {user} may not list everyone's runs: that is for administrators "
                "(kyuubi.server.administrators)"
            )
        if limit is not None and limit <= 0:
            return []
        count = _limit(limit)
        owner = None if all_users else user
        stored = self._store("listing runs").list_runs(
            owner, status=status, conversation_id=conversation_id, before=before, limit=count
        )
        by_id = {record.id: record for record in stored}
        for run in self.hub.runs(owner):
            record = run.record()
            if (
                (status is None or record.status is status)
                and (conversation_id is None or record.conversation_id == conversation_id)
                and (before is None or record.started < before)
            ):
                by_id[record.id] = record
        ordered = sorted(by_id.values(), key=lambda record: (record.started, record.id), reverse=True)
        return ordered[:count]

    def get_run(self, user: str, run_id: str) -> RunRecord:
        live = self.hub.get(run_id)
        if live is not None:
            self._check_owner(user, live.owner, f"run {run_id}")
            return live.record()
        record = self.registry.get_run(run_id) if self.registry is not None else None
        if record is None:
            raise NotFoundError(f"there is no run {run_id}")
        self._check_owner(user, record.owner, f"run {run_id}")
        return record

    def cancel_run(self, user: str, run_id: str) -> bool:
        """Stop a run going on here (its owner or an administrator); False when it has ended."""
        live = self.hub.get(run_id)
        if live is None:
            self.get_run(user, run_id)  # unknown, another user's, or ended
            return False
        self._check_owner(user, live.owner, f"run {run_id}")
        if live.ended:
            return False
        log.info("run %s stopped by %s", run_id, user)
        live.stop(CancelReason.USER, f"the run was stopped by {user}")
        return True

    def open_feed(self, user: str, run_id: str, after: int = 0) -> RunFeed:
        """A reader of the run's events after sequence number ``after`` (0: from the first).
        Raises NotFoundError for an unknown run and PermissionDeniedError for another user's."""
        live = self.hub.get(run_id)
        if live is not None:
            self._check_owner(user, live.owner, f"run {run_id}")
            return RunFeed(run_id, after, live=live, registry=self.registry)
        self.get_run(user, run_id)
        return RunFeed(run_id, after, live=None, registry=self.registry)

    def follow(self, user: str, run_id: str, after: int, cancel: CancelToken) -> Iterator[EventRecord]:
        """Every event after ``after``, replayed and then live, until the run ends or ``cancel``."""
        feed = self.open_feed(user, run_id, after)
        while not cancel.cancelled:
            events = feed.read()
            yield from events
            if feed.ended:
                return
            if not events:
                feed.wait(STORE_POLL * 20, cancel)

    # --- conversations -------------------------------------------------------------------------
    def list_conversations(
        self, user: str, *, before: datetime | None = None, limit: int | None = None
    ) -> list[ConversationRecord]:
        """The caller's conversations, the most recently updated first."""
        if limit is not None and limit <= 0:
            return []
        return self._store("listing conversations").list_conversations(
            user, before=before, limit=_limit(limit)
        )

    def get_conversation(self, user: str, conversation_id: str) -> ConversationRecord:
        record = self._store("reading a conversation").get_conversation(conversation_id)
        if record is None:
            raise NotFoundError(f"there is no conversation {conversation_id}")
        self._check_owner(user, record.owner, f"conversation {conversation_id}", admin_may=False)
        return record

    def rename_conversation(self, user: str, conversation_id: str, title: str) -> ConversationRecord:
        self.get_conversation(user, conversation_id)
        self._store("renaming a conversation").rename_conversation(conversation_id, title)
        return self.get_conversation(user, conversation_id)

    def delete_conversation(self, user: str, conversation_id: str) -> None:
        """Delete one of the caller's conversations with its runs; refused while one of them runs."""
        self.get_conversation(user, conversation_id)
        if any(run.conversation_id == conversation_id and not run.ended for run in self.hub.runs(user)):
            raise BusyError(
                f"conversation {conversation_id} has a run going on; stop it before deleting the conversation"
            )
        self._store("deleting a conversation").delete_conversation(conversation_id)
