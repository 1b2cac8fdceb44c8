"""Streaming reads: a read-only statement whose rows come off the database cursor batch by batch,
as the caller asks for them, on one pooled connection held for the stream's life.

The cursor streams where the driver allows: SQLite steps its statement on each fetch, PostgreSQL
reads through a server-side cursor (``DECLARE ... CURSOR`` + ``FETCH FORWARD n``, for SELECT,
WITH and VALUES), MySQL/MariaDB through PyMySQL's unbuffered ``SSCursor``. The read-only boundary
is the same as :meth:`Datasource.execute_read`'s: the read form is checked, the statement runs
inside the dialect's read-only transaction, and the transaction is always rolled back.

``query.timeout`` bounds each database call (the statement, then each batch), not the time the
client takes to read: a stream waiting for its reader holds no running statement. Cancelling the
caller's token interrupts a running call at once (SQLite ``interrupt()``, PostgreSQL's cancel
request, ``KILL QUERY``); :meth:`ReadStream.close` ends the statement: the cursor is closed and
rolled back, or (MySQL with unread rows, whose ``SSCursor`` would otherwise drain them) the
connection is dropped, which ends the server's thread.

Column types come from the first batch (:func:`~engine.datasource.typemap.type_columns`); later
batches are made to fit them (:func:`~engine.datasource.typemap.fit_rows`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.pool import PoolProxiedConnection

from engine.common.cancel import CancelToken
from engine.common.deadline import DeadlineScheduler
from engine.common.errors import DatasourceError
from engine.common.types import ColumnSpec, Row
from engine.datasource.dialect import DialectOps, wait_threads
from engine.datasource.typemap import ColumnFitError, fit_rows, type_columns

log = logging.getLogger(__name__)

# (exception, the call's token, its deadline) -> the EngineError to raise
FailureMapper = Callable[[BaseException, CancelToken, float], BaseException]
# (pooled connection, discard) -> None: end the transaction and return (or drop) the connection
Releaser = Callable[[PoolProxiedConnection, bool], None]


@dataclass(frozen=True)
class StreamParts:
    """What a stream borrows from its datasource."""

    dialect: str
    ops: DialectOps
    scheduler: DeadlineScheduler
    release: Releaser
    failure: FailureMapper


class _Expired(Exception):
    """A call came back after its deadline or after an interrupt: its rows are not trustworthy."""


class ReadStream:
    """An open streaming read: typed ``columns``, then row batches by iteration; always close it.

    ``max_rows`` > 0 stops the stream after that many rows and sets ``truncated`` when more
    existed. Not thread-safe: one reader iterates and closes; only cancellation comes from
    elsewhere (through the caller's token).
    """

    def __init__(
        self,
        parts: StreamParts,
        pooled: PoolProxiedConnection,
        caller: CancelToken,
        *,
        timeout: float,
        batch_rows: int,
        max_rows: int = 0,
    ) -> None:
        self._parts = parts
        self._pooled = pooled
        dbapi = pooled.dbapi_connection
        if dbapi is None:
            raise DatasourceError("the datasource connection was closed")
        self._dbapi = dbapi
        self._caller = caller
        self._timeout = max(0.001, float(timeout))
        self._message = f"the query timed out after {self._timeout:g}s (query.timeout) and was stopped"
        self._batch_rows = max(1, int(batch_rows))
        self._max_rows = max(0, int(max_rows))
        self._lock = threading.Lock()
        self._call: CancelToken | None = None  # the running database call's token
        self._call_deadline = 0.0
        self._stopped = False  # an interrupt was sent: the connection may be mid-protocol
        self._threads: list[threading.Thread] = []
        self._cursor: Any = None
        self._description: Any = None
        self._first: list[Row] | None = None
        self._exhausted = False
        self._closed = False
        self.columns: tuple[ColumnSpec, ...] = ()
        self.rows_read = 0
        self.truncated = False

    # --- opening -----------------------------------------------------------------------------------
    def open(self, sql: str, first_keyword: str) -> None:
        """Begin the read-only transaction, run the statement, read the first batch (its values
        decide the column types)."""
        ops, dbapi = self._parts.ops, self._dbapi
        clock = self._parts.scheduler.clock
        ops.watch(
            dbapi, lambda: self._call is not None and (self._call.cancelled or clock() >= self._call_deadline)
        )

        def start() -> list[Row]:
            ops.begin(dbapi, read_only=True, timeout=self._limit())
            self._cursor = ops.stream_cursor(dbapi, first_keyword)
            self._cursor.execute(sql)
            if self._cursor.description is None and not ops.describes_after_fetch(self._cursor):
                return []
            rows = self._cursor.fetchmany(self._batch_rows)
            self._description = self._cursor.description
            return rows

        rows = self._guarded(start)
        if self._description is None:
            self._exhausted = True
            return
        columns, typed = type_columns(self._parts.dialect, self._description, _tuples(rows))
        self.columns = columns
        self._first = self._counted(typed, len(rows) < self._batch_rows)

    # --- reading -----------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[list[Row]]:
        first, self._first = self._first, None
        if first:
            yield first
        while not self._exhausted and not self._closed:
            rows = self._guarded(lambda: self._cursor.fetchmany(self._batch_rows))
            if not rows:
                self._exhausted = True
                return
            columns, typed = type_columns(self._parts.dialect, self._description, _tuples(rows))
            if columns != self.columns:
                try:
                    typed = fit_rows(self.columns, columns, typed, self.rows_read)
                except ColumnFitError as exc:
                    self._exhausted = True
                    raise DatasourceError(str(exc)) from None
            batch = self._counted(typed, len(rows) < self._batch_rows)
            if batch:
                yield batch

    def _counted(self, rows: list[Row], last: bool) -> list[Row]:
        """Apply ``max_rows``: cut the batch that passes it and end the stream there."""
        if self._max_rows and self.rows_read + len(rows) > self._max_rows:
            rows = rows[: self._max_rows - self.rows_read]
            self.truncated = True
            self._exhausted = True
        elif self._max_rows and self.rows_read + len(rows) == self._max_rows and not last:
            # exactly at the cap: one more row says whether the result was cut
            more = self._guarded(lambda: self._cursor.fetchmany(1))
            self.truncated = bool(more)
            self._exhausted = True
        if last:
            self._exhausted = True
        self.rows_read += len(rows)
        return rows

    def _limit(self) -> float:
        remaining = self._caller.remaining()
        return self._timeout if remaining is None else max(0.001, min(self._timeout, remaining))

    def _guarded(self, action: Callable[[], Any]) -> Any:
        """One database call under ``query.timeout`` (or the caller's earlier deadline), stopped
        at once when the caller is cancelled."""
        scheduler = self._parts.scheduler
        self._caller.raise_if_cancelled()
        limit = self._limit()
        with self._caller.child(limit, message=self._message, scheduler=scheduler) as call:
            deadline = call.deadline
            assert deadline is not None  # a child with a timeout always has one
            self._call_deadline = deadline
            self._call = call
            unregister = call.on_cancel(self._stop)
            try:
                result = action()
                if self._stopped or call.cancelled or scheduler.clock() >= deadline:
                    raise _Expired()  # an interrupted call may still return (MariaDB's SLEEP)
                return result
            except BaseException as exc:
                self._exhausted = True
                raise self._parts.failure(exc, call, deadline) from None
            finally:
                self._call = None
                unregister()

    def _stop(self) -> None:
        """The running call's cancel hook: quick (network interrupts run on their own thread)."""
        with self._lock:
            if self._stopped or self._closed:
                return
            self._stopped = True
        self._interrupt()

    def _interrupt(self) -> None:
        interrupt = self._parts.ops.interrupter(self._dbapi)
        if interrupt is not None:
            thread = interrupt()
            if isinstance(thread, threading.Thread):
                self._threads.append(thread)

    # --- closing -----------------------------------------------------------------------------------
    def close(self) -> None:
        """End the statement and return the connection (at once, whether or not rows remain)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            stopped = self._stopped
        ops, dbapi = self._parts.ops, self._dbapi
        early = not self._exhausted
        discard = stopped
        if early and self._parts.dialect == "mysql" and self._cursor is not None:
            # an unbuffered cursor would read every remaining row to close, and a dropped socket
            # leaves the server's thread writing until its net timeout: KILL QUERY ends the
            # statement (the cursor then closes on its error), and the connection is dropped
            if not stopped:
                self._interrupt()
            wait_threads(self._threads, 5.0)
            discard = True
        if self._cursor is not None and (not stopped or self._parts.dialect == "mysql"):
            try:
                self._cursor.close()
            except Exception:
                discard = discard or self._parts.dialect != "postgresql"  # PostgreSQL: the rollback ends it
                log.debug("could not close a streaming cursor", exc_info=True)
        try:
            ops.unwatch(dbapi)
        except Exception:
            log.debug("could not remove the statement watch", exc_info=True)
        wait_threads(self._threads, 5.0)
        self._parts.release(self._pooled, discard)

    def __enter__(self) -> ReadStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _tuples(rows: Any) -> list[tuple[Any, ...]]:
    rows = list(rows)
    if rows and type(rows[0]) is not tuple:
        return [tuple(row) for row in rows]
    return rows
