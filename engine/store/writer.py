"""The store's one writer thread (``store-writer``): every write of a run, batched off the fetch
path.

Callers enqueue and return at once; :meth:`StoreWriter.append_event` never blocks (one short lock,
no I/O). The writer commits what is queued every ``flush_interval`` (50 ms) or as soon as
``flush_events`` (500) events wait, whichever comes first, events of many runs in one
transaction. A write marked ``urgent`` (a run's final status) is flushed at once.

Every queued item gets a ticket number; the writer commits them in order, so "ticket N is
committed" means everything queued before it is too. :meth:`wait` is the barrier.

Outage: a transaction that fails with a connection-level error (database unreachable, locked,
read-only) is retried with exponential backoff until it succeeds, while callers go on queueing.
The error is logged once when the outage starts and once when it ends. When ``capacity`` events
are queued, further events are dropped and counted per run; the writer marks those runs
``incomplete`` (adding to their ``events_dropped``) in its next transaction. Writes other than
events (run start and end, approvals, memory) are never dropped: there are only a few per run.
Inserts are idempotent (a retried transaction that had in fact committed changes nothing), except
that dropped-event and token counters may count twice in that rare case.

A write the database rejects for its content (a constraint, a bad value) is not retried: the
batch is then written item by item, the rejected items are logged and counted, the rest kept.

On :meth:`close` the queue is drained (retrying up to the close timeout). After SIGKILL, what was
queued and not yet committed is lost: at most the last flush interval, plus any backlog of an
ongoing outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa
from psycopg2.extras import execute_values
from sqlalchemy.engine import Connection, Engine

from engine.common.metrics import Metrics, NoMetrics
from engine.common.record import StoreStats
from engine.store.problem import describe, is_transient
from engine.store.schema import EVENTS, RUNS

log = logging.getLogger(__name__)

Apply = Callable[[Connection], object]


# An event waits in the queue as a plain tuple, the cheapest thing to build on the fetch path:
# (run_id, seq, type, payload, epoch seconds of the event, monotonic time of the append, ticket)
_Event = tuple[str, int, str, str, float, float, int]
_RUN: Final = 0
_SEQ: Final = 1
_TYPE: Final = 2
_PAYLOAD: Final = 3
_AT: Final = 4
_QUEUED: Final = 5
_TICKET: Final = 6


@dataclass(slots=True)
class _Write:
    apply: Apply
    label: str
    urgent: bool
    queued: float
    ticket: int


_Item = _Event | _Write


def _queued(item: _Item) -> float:
    return item.queued if isinstance(item, _Write) else item[_QUEUED]


def _ticket(item: _Item) -> int:
    return item.ticket if isinstance(item, _Write) else item[_TICKET]


# what _retrying returns when the store stayed unreachable until the close deadline
_ABANDONED = ConnectionAbortedError("the store stayed unreachable until the close deadline")

_COLUMNS = "run_id, seq, type, payload, time"
_SQLITE_INSERT_EVENTS = (
    f"INSERT INTO {EVENTS.name} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, seq) DO NOTHING"
)
_PG_INSERT_EVENTS = f"INSERT INTO {EVENTS.name} ({_COLUMNS}) VALUES %s ON CONFLICT (run_id, seq) DO NOTHING"


def _clean(text: str) -> str:
    """PostgreSQL text cannot hold NUL characters."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


class StoreWriter:
    """One thread that owns every write of the run registry."""

    def __init__(
        self,
        engine: Engine,
        *,
        capacity: int = 100_000,
        flush_interval: float = 0.05,
        flush_events: int = 500,
        max_batch: int = 5000,
        retry_initial: float = 0.05,
        retry_max: float = 5.0,
        secrets: Iterable[str] = (),
        latency_samples: int = 100_000,
        metrics: Metrics | None = None,
    ) -> None:
        self._engine = engine
        self._metrics: Metrics = metrics or NoMetrics()  # every failed write attempt
        self._capacity = capacity
        self._flush_interval = flush_interval
        self._flush_events = flush_events
        self._max_batch = max(max_batch, flush_events)
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._secrets = tuple(secrets)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # the writer waits here for work
        # barrier waiters wait here for commits: with one condition, a notify() meant for the
        # writer could wake a waiter instead, and the writer slept to its flush deadline
        self._done = threading.Condition(self._lock)
        self._queue: deque[_Item] = deque()
        self._queued_events = 0
        self._ticket = 0  # last ticket handed out
        self._committed = 0  # every ticket up to this one is written (or given up)
        self._urgent = 0  # urgent writes queued (a run's end): flush at once
        self._flush_requested = False  # flush(): write what is queued at once
        self._dropped: dict[str, int] = {}  # run id -> events dropped, not yet marked
        self._closing = False
        self._stopped = False  # the thread has ended
        self._close_deadline = float("inf")
        self._wake = threading.Event()  # interrupts a retry backoff at close
        self._thread: threading.Thread | None = None
        self._connection: Connection | None = None
        # statistics (written by the writer thread; read under the lock)
        self._transactions = 0
        self._events_committed = 0
        self._events_dropped = 0
        self._write_errors = 0
        self._outages = 0
        self._outage_since: float | None = None
        self._latencies: deque[float] = deque(maxlen=latency_samples)
        self._batch_sizes: deque[int] = deque(maxlen=latency_samples)
        self._postgresql = engine.dialect.name == "postgresql"
        # the column type's own conversion (UTC; text on SQLite), applied without SQLAlchemy per row
        processor = EVENTS.c.time.type.bind_processor(engine.dialect)
        self._bind_time: Callable[[datetime], object] = processor or (lambda value: value)

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def close(self, timeout: float) -> bool:
        """Write what is queued (retrying up to ``timeout``), then stop. True if nothing was lost."""
        with self._cond:
            self._closing = True
            self._close_deadline = time.monotonic() + timeout
            self._cond.notify_all()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 5.0)
        with self._cond:
            lost = len(self._queue)
            self._queue.clear()
        self._disconnect()
        if lost:
            log.error("run store: %d queued writes were lost at close (the store stayed unreachable)", lost)
        return lost == 0 and self._committed == self._ticket

    # --- producers ---------------------------------------------------------------------------------
    def append_event(self, run_id: str, seq: int, event_type: str, payload: str, at: float) -> bool:
        """Queue one event (``at``: its time, epoch seconds); never blocks. False when the queue is
        full and the event was dropped."""
        with self._lock:  # the condition's lock, taken directly: cheaper than the Condition
            if self._queued_events >= self._capacity or self._closing:
                self._dropped[run_id] = self._dropped.get(run_id, 0) + 1
                self._events_dropped += 1
                return False
            self._ticket += 1
            self._queue.append((run_id, seq, event_type, payload, at, time.monotonic(), self._ticket))
            self._queued_events += 1
            if self._queued_events == 1 or self._queued_events == self._flush_events:
                self._cond.notify()
            return True

    def submit(self, apply: Apply, *, label: str, urgent: bool = False) -> int:
        """Queue a write (a function of the writer's connection, run in its transaction); returns
        its ticket for :meth:`wait`. Never blocks, and is never dropped while the writer runs;
        after :meth:`close` it is ignored (its ticket is never committed)."""
        with self._cond:
            if self._closing:
                log.debug("run store closed: %s not written", label)
                return self._ticket + 1
            self._ticket += 1
            self._queue.append(_Write(apply, label, urgent, time.monotonic(), self._ticket))
            self._urgent += urgent
            if urgent or len(self._queue) == 1:
                self._cond.notify()
            return self._ticket

    # --- barrier -----------------------------------------------------------------------------------
    def last_ticket(self) -> int:
        with self._cond:
            return self._ticket

    def wait(self, ticket: int, timeout: float) -> bool:
        """Wait until ``ticket`` (and so everything queued before it) is committed; False after
        ``timeout``, or at once when the writer has stopped short of it."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while self._committed < ticket and not self._stopped:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
            return self._committed >= ticket

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is committed."""
        with self._cond:
            ticket = self._ticket
            self._flush_requested = True
            self._cond.notify_all()
        return self.wait(ticket, timeout)

    # --- observation -------------------------------------------------------------------------------
    def stats(self) -> StoreStats:
        with self._cond:
            return StoreStats(
                transactions=self._transactions,
                events_committed=self._events_committed,
                events_dropped=self._events_dropped,
                write_errors=self._write_errors,
                outages=self._outages,
                queued=len(self._queue),
                reachable=self._outage_since is None,
            )

    def latencies(self) -> list[float]:
        """Recent append-to-commit latencies of events, in seconds."""
        with self._cond:
            return list(self._latencies)

    def batch_sizes(self) -> list[int]:
        """Events per transaction of recent transactions that wrote events."""
        with self._cond:
            return list(self._batch_sizes)

    # --- the thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        finally:
            with self._cond:
                self._stopped = True
                self._cond.notify_all()
                self._done.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait(1.0)
                if not self._queue:
                    return  # closing and drained
                deadline = _queued(self._queue[0]) + self._flush_interval
                while not (
                    self._closing
                    or self._urgent
                    or self._flush_requested
                    or self._queued_events >= self._flush_events
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
                writes = [item for item in batch if isinstance(item, _Write)]
                self._queued_events -= len(batch) - len(writes)
                self._urgent -= sum(write.urgent for write in writes)
                self._flush_requested = self._flush_requested and bool(self._queue)
                dropped, self._dropped = self._dropped, {}
            if not self._write(batch, dropped):
                return  # closing, and the store stayed unreachable until the close deadline

    def _write(self, batch: list[_Item], dropped: dict[str, int]) -> bool:
        """Commit ``batch``, retrying through an outage; when the database refuses its content,
        item by item. False only when given up at close (what is left goes back to the queue)."""
        refused = self._retrying(batch, dropped)
        if refused is _ABANDONED:
            self._requeue(batch)
            return False
        if refused is not None:
            log.error(
                "run store refused a write (%s); retrying its items one by one",
                describe(refused, self._secrets),
            )
            for index, item in enumerate(batch):
                problem = self._retrying([item], {})
                if problem is _ABANDONED:
                    self._requeue(batch[index:])
                    return False
                if problem is not None:
                    label = (
                        item.label if isinstance(item, _Write) else f"event {item[_SEQ]} of run {item[_RUN]}"
                    )
                    log.error("run store: dropped %s: %s", label, describe(problem, self._secrets))
                    with self._cond:
                        self._write_errors += 1
                    self._metrics.store_write_error()
            if dropped and self._retrying([], dropped) is not None:
                log.error("run store: could not mark %d runs incomplete", len(dropped))
        self._committed_batch(batch)
        return True

    def _retrying(self, items: list[_Item], dropped: dict[str, int]) -> BaseException | None:
        """Commit ``items`` (and the ``dropped`` marks), retrying connection-level errors with
        backoff. Returns None when committed, the error when the database refused the content,
        or ``_ABANDONED`` when the store stayed unreachable past the close deadline."""
        delay = self._retry_initial
        attempt = 0
        while True:
            attempt += 1
            try:
                self._commit(items, dropped)
                return None
            except Exception as exc:
                self._disconnect()
                if not is_transient(exc):
                    return exc
                if attempt == 1:
                    continue  # a connection that went stale while idle: one immediate retry
                self._note_outage(exc)
            with self._cond:
                if self._closing and time.monotonic() >= self._close_deadline:
                    return _ABANDONED
            self._wake.wait(delay)
            delay = min(delay * 2, self._retry_max)

    def _requeue(self, items: list[_Item]) -> None:
        with self._cond:
            self._queue.extendleft(reversed(items))

    def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = self._engine.connect()
        return self._connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.invalidate()
            connection.close()
        except Exception:
            log.debug("run store: closing a broken connection failed", exc_info=True)

    def _commit(self, batch: list[_Item], dropped: dict[str, int]) -> None:
        connection = self._connect()
        with connection.begin():
            bind_time = self._bind_time
            events: list[tuple[object, ...]] = []
            for item in batch:
                if not isinstance(item, _Write):
                    at = datetime.fromtimestamp(item[_AT], UTC)
                    events.append(
                        (item[_RUN], item[_SEQ], item[_TYPE], _clean(item[_PAYLOAD]), bind_time(at))
                    )
                    continue
                self._insert_events(connection, events)
                events = []
                item.apply(connection)
            self._insert_events(connection, events)
            self._mark_incomplete(connection, dropped)

    def _insert_events(self, connection: Connection, rows: list[tuple[object, ...]]) -> None:
        """The hot statement, on the driver's cursor (rows as tuples, no per-row SQLAlchemy
        work): one multi-row INSERT per page on PostgreSQL, executemany on SQLite."""
        if not rows:
            return
        cursor = connection.connection.cursor()
        try:
            if self._postgresql:
                execute_values(cursor, _PG_INSERT_EVENTS, rows, page_size=1000)
            else:
                cursor.executemany(_SQLITE_INSERT_EVENTS, rows)
        finally:
            cursor.close()

    @staticmethod
    def _mark_incomplete(connection: Connection, dropped: dict[str, int]) -> None:
        for run_id, count in dropped.items():
            connection.execute(
                sa.update(RUNS)
                .where(RUNS.c.id == run_id)
                .values(incomplete=True, events_dropped=RUNS.c.events_dropped + count)
            )

    def _committed_batch(self, batch: list[_Item]) -> None:
        now = time.monotonic()
        with self._cond:
            back_after = None if self._outage_since is None else now - self._outage_since
            self._outage_since = None
        if back_after is not None:  # logged before any waiter is released
            log.warning("run store reachable again after %.1f s; queued writes are being written", back_after)
        events = [item for item in batch if not isinstance(item, _Write)]
        with self._cond:
            self._transactions += 1
            self._events_committed += len(events)
            if events:
                self._batch_sizes.append(len(events))
                self._latencies.extend(now - item[_QUEUED] for item in events)
            self._committed = max(self._committed, _ticket(batch[-1]))
            self._done.notify_all()

    def _note_outage(self, exc: BaseException) -> None:
        self._metrics.store_write_error()
        with self._cond:
            self._write_errors += 1
            if self._outage_since is not None:
                return
            self._outage_since = time.monotonic()
            self._outages += 1
        log.error(
            "run store unreachable (%s); runs go on streaming, writes are retried with backoff and "
            "events beyond %d queued are dropped (their runs marked incomplete)",
            describe(exc, self._secrets),
            self._capacity,
        )
